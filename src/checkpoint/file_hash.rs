//! The exact bytes behind a run: the SHA-256 and size of a checkpoint file
//! (for a sharded model's folder, of its index file), read in chunks. The
//! report shows them so a figure can be traced back to its input; hashing
//! is reading, so it lives with the readers.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A file could not be read to hash it.
/// (The I/O error is in the message, not a `source`: `{:#}` would print it
/// twice.)
#[derive(Debug, thiserror::Error)]
#[error("cannot read {} to compute its SHA-256: {cause}; check the file still exists and is readable", path.display())]
pub struct HashError {
    pub path: PathBuf,
    pub cause: std::io::Error,
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of the file at `path`, read in chunks, and its
/// size. For the folder of a sharded model, that of its index file.
pub fn sha256_file(path: &Path) -> Result<(String, u64), HashError> {
    let err = |cause| HashError {
        path: path.to_path_buf(),
        cause,
    };
    let index;
    let path = if path.is_dir() {
        index = super::format::sharded::find_index(path).map_err(|_| {
            err(std::io::Error::other(
                "a folder without one *.safetensors.index.json",
            ))
        })?;
        index.as_path()
    } else {
        path
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(err)?;
        if k == 0 {
            break;
        }
        size += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex(&h.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vectors() {
        // python3 -c "import hashlib; print(hashlib.sha256(b'abc').hexdigest())"
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), (sha256_hex(b"abc"), 3));
        let e = sha256_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing") && e.contains("SHA-256"), "{e}");
    }
}
