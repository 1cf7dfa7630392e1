//! Export files: created *before* the long work, so a bad path fails at
//! once (hyperfine's `ExportManager` does the same). Report directories
//! are [`mtl_inspect::pipeline::ReportDir`].

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::failure::Failure;

/// An export file, created (empty) up front.
pub struct OutFile {
    path: PathBuf,
    file: File,
}

impl OutFile {
    pub fn create(path: &Path) -> Result<Self, Failure> {
        let file = File::create(path)
            .map_err(|e| Failure::input(anyhow!("cannot create {}: {e}", path.display())))?;
        Ok(OutFile {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn write(mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.file
            .write_all(bytes)
            .and_then(|_| self.file.sync_all())
            .map_err(|e| Failure::input(anyhow!("writing {}: {e}", self.path.display())))
    }
}

impl OutFile {
    /// Removes the file after a failure, so no empty output is left behind.
    pub fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }
}
