//! Opening a checkpoint file: a read-only memory map, refusing folders and
//! empty files before any reader looks at the bytes.

use std::path::Path;

use memmap2::Mmap;

use super::error::{FormatError, ReadError};

pub(crate) fn map(path: &Path) -> Result<Mmap, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    if meta.is_dir() {
        return Err(ReadError::Io(
            path.to_path_buf(),
            std::io::Error::other("is a directory, not a checkpoint file"),
        ));
    }
    if meta.len() == 0 {
        return Err(ReadError::Format(FormatError::Empty));
    }
    // SAFETY: the map is read-only; a checkpoint rewritten underneath us
    // could change bytes we read, which at worst yields wrong numbers for
    // that run, the same as reading a file while it is rewritten.
    unsafe { Mmap::map(&file) }.map_err(|e| ReadError::Io(path.to_path_buf(), e))
}
