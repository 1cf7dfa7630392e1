//! The report's directory: made and proved writable *before* the long work,
//! so a bad path fails at once (hyperfine's `ExportManager` does the
//! same), and the only writer of a report's bytes, for every front end.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::report::ReportFile;

/// The report directory cannot be made or written.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    #[error("--out {} is a file; give a directory for the report", path.display())]
    IsFile { path: PathBuf },
    #[error("cannot create the report directory {}: {cause}", path.display())]
    Create {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write into {}: {cause}", path.display())]
    NotWritable {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("writing {}: {cause}", path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// A report directory that exists and is writable.
pub struct ReportDir {
    dir: PathBuf,
}

impl ReportDir {
    pub fn prepare(dir: &Path) -> Result<Self, OutDirError> {
        if dir.is_file() {
            return Err(OutDirError::IsFile {
                path: dir.to_path_buf(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|cause| OutDirError::Create {
            path: dir.to_path_buf(),
            cause,
        })?;
        // Prove it is writable now rather than after the analyses.
        let probe = dir.join(".mtl-inspect-write-test");
        File::create(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|cause| OutDirError::NotWritable {
                path: dir.to_path_buf(),
                cause,
            })?;
        Ok(ReportDir {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes every file; returns the total bytes written.
    pub fn write_all(&self, files: &[ReportFile]) -> Result<usize, OutDirError> {
        let mut total = 0;
        for (name, bytes) in files {
            let path = self.dir.join(name);
            std::fs::write(&path, bytes).map_err(|cause| OutDirError::Write {
                path: path.clone(),
                cause,
            })?;
            total += bytes.len();
        }
        Ok(total)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}
