//! The reading stage's error type: what can go wrong between a path and a
//! set of gates, each variant naming the file.

use std::path::PathBuf;

use super::format::FormatError;

/// Everything that can go wrong between a path and a set of gates. Each
/// variant names the file, and where it applies the tensor or layer.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    // The I/O error is part of the message, not a `source`: `{:#}` would
    // print it twice.
    #[error("cannot read {}: {cause}", path.display())]
    Open {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{} is truncated or damaged: tensor data needs {expected} bytes but the file holds {found}; re-copy or re-save the checkpoint",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    /// The file's format is refused or damaged; `error` says which, typed.
    /// (In the message rather than a `source`: `{:#}` would print it twice.)
    #[error("{}: {error}", path.display())]
    Format { path: PathBuf, error: FormatError },
    #[error("{} is invalid: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("tensor '{tensor}' in {} has dtype {dtype}; only F32, F16, BF16 and F64 gates can be read", path.display())]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },
    #[error("tensor '{tensor}' not found in {}", path.display())]
    MissingTensor { path: PathBuf, tensor: String },
    #[error(
        "no task-specific norm layers found in {} ({n_tensors} tensors){hint}; run 'mtl-inspect inspect {}' to see its tensor names, or pass --layers",
        path.display(), path.display()
    )]
    NoNormLayers {
        path: PathBuf,
        n_tensors: usize,
        hint: String,
    },
    #[error(
        "layers in {} have different task counts: {details}; pass --layers REGEX to select the task-specific layers",
        path.display()
    )]
    InconsistentTasks { path: PathBuf, details: String },
    #[error(
        "{}: two readings of its per-task norms are plausible: {}; pass --layers REGEX to keep the layers of one",
        path.display(), readings.join("; or ")
    )]
    AmbiguousTasks {
        path: PathBuf,
        readings: Vec<String>,
    },
    #[error(
        "{}: the only per-task-looking norms are {reading}; a task set must recur across layers with the same members, so this looks like shared structure (e.g. a neck's levels). If it really is a task-specific layer, pass --layers '{}'",
        path.display(), regex::escape(layer)
    )]
    SingleLayerTasks {
        path: PathBuf,
        reading: String,
        layer: String,
    },
    #[error("layer order file {}: {reason}", path.display())]
    LayerOrder { path: PathBuf, reason: String },
    #[error("{}: layer '{layer}': {reason}", path.display())]
    BadLayer {
        path: PathBuf,
        layer: String,
        reason: String,
    },
    #[error("{}: metadata key '{key}': {reason}", path.display())]
    BadMetadata {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("tasks file {}: {reason}", path.display())]
    TasksFile { path: PathBuf, reason: String },
}
