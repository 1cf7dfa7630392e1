//! Where each analysed run came from, shown in the report so a figure can
//! be traced back to exact bytes: file name, size, SHA-256, layout, tasks,
//! layers, gate kind, and the tool version and command line that made it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::ReportError;

/// One checkpoint's provenance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Provenance {
    /// The run's display name in figures (usually the file stem).
    pub run: String,
    pub file_name: String,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// Which checkpoint layout discovery recognised (e.g. "stacked").
    pub layout: String,
    pub tasks: Vec<String>,
    /// Layer names in depth order.
    pub layers: Vec<String>,
    pub filters: usize,
    /// Gate kind(s) after any override, e.g. `sigmoid` or `mixed (abs, sigmoid)`.
    pub gate: String,
}

/// The tool and invocation that produced a report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// `std::env::args()` as given, so the report can be reproduced.
    pub command_line: Vec<String>,
}

impl ToolInfo {
    /// This crate's name and version with the given command line.
    pub fn this_tool(command_line: Vec<String>) -> ToolInfo {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            command_line,
        }
    }

    /// The command line as one shell-quoted string.
    pub fn command(&self) -> String {
        self.command_line
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of the file at `path`, read in chunks, and its
/// size. For the folder of a sharded model, that of its index file.
pub fn sha256_file(path: &Path) -> Result<(String, u64), ReportError> {
    let err = |cause| ReportError::Hash {
        path: path.to_path_buf(),
        cause,
    };
    let index;
    let path = if path.is_dir() {
        index = crate::checkpoint::format::sharded::find_index(path).map_err(|_| {
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

    #[test]
    fn command_line_is_quoted_for_the_shell() {
        let t = ToolInfo::this_tool(vec![
            "mtl-inspect".into(),
            "report".into(),
            "my run.safetensors".into(),
            "--title".into(),
            "it's".into(),
        ]);
        assert_eq!(
            t.command(),
            "mtl-inspect report 'my run.safetensors' --title 'it'\\''s'"
        );
    }
}
