//! The only place that writes files: report directories and export files.
//! Destinations are prepared *before* the long work, so a bad path fails
//! at once (hyperfine's `ExportManager` does the same).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::Failure;

/// A report directory that exists and is writable.
pub struct ReportDir {
    dir: PathBuf,
}

impl ReportDir {
    pub fn prepare(dir: &Path) -> Result<Self, Failure> {
        if dir.is_file() {
            return Err(Failure::input(anyhow!(
                "--out {} is a file; give a directory for the report",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::input(anyhow!(
                "cannot create the report directory {}: {e}",
                dir.display()
            ))
        })?;
        // Prove it is writable now rather than after the analyses.
        let probe = dir.join(".mtl-inspect-write-test");
        File::create(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| Failure::input(anyhow!("cannot write into {}: {e}", dir.display())))?;
        Ok(ReportDir {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes every file; returns the total bytes written.
    pub fn write_all(&self, files: &[(String, Vec<u8>)]) -> Result<usize, Failure> {
        let mut total = 0;
        for (name, bytes) in files {
            let path = self.dir.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| Failure::input(anyhow!("writing {}: {e}", path.display())))?;
            total += bytes.len();
        }
        Ok(total)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

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
