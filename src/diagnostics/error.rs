//! What can go wrong reading what `mtl-train` writes about a run: each
//! variant names the file, what is wrong and what to do.

use std::path::PathBuf;

/// What can go wrong reading a diagnostics file or a run's metadata.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    // Causes are part of the messages, not `source`s: `{:#}` would print
    // them twice.
    #[error("cannot read {}: {cause}; check the path", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} is not valid JSON ({cause}); a truncated or damaged file? Re-run `mtl-train diagnose CKPT --out {}`", path.display(), path.display())]
    Json {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{} is not an mtl-train diagnose file: {found}; pass the JSON written by `mtl-train diagnose CKPT --out FILE.json`", path.display())]
    WrongSchema { path: PathBuf, found: String },
    #[error("{} has schema_version {found}, this mtl-inspect reads versions 1–2 of mtl-train/diagnose; upgrade mtl-inspect or re-run the diagnose of this version", path.display())]
    Version { path: PathBuf, found: String },
    #[error("{}: {what}; the file does not follow mtl-train/diagnose (training/README.md), re-run `mtl-train diagnose`", path.display())]
    Invalid { path: PathBuf, what: String },
    #[error("{}, line {line}: {what}; re-run `mtl-train diagnose` to rewrite it", path.display())]
    Csv {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{}: metadata '{key}': {what}", path.display())]
    Meta {
        path: PathBuf,
        key: String,
        what: String,
    },
}
