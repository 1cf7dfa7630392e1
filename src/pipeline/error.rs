//! Why a report could not be made: the pipeline's one error type, whose
//! variants keep the reading, hashing, diagnostics and rendering errors
//! typed, and which says whether the user should change a flag.

use std::path::PathBuf;

use crate::analysis::AnalysisError;
use crate::checkpoint::file_hash::HashError;
use crate::diagnostics::DiagnosticsError;
use crate::report::ReportError;
use crate::runs::LoadError;

/// A sweep that cannot be read or measured (named after `--sweep`). Causes
/// are part of the messages, not `source`s: `{:#}` would print them twice.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("--sweep: cannot list {}: {cause}", path.display())]
    List {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("--sweep: {} holds no .safetensors checkpoint", path.display())]
    Empty { path: PathBuf },
    #[error("--sweep: {0}")]
    Analysis(AnalysisError),
    #[error("--sweep: {0}")]
    Hash(HashError),
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("a report needs at least one checkpoint")]
    NoRuns,
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Diagnostics(#[from] DiagnosticsError),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl PipelineError {
    /// Whether the user should change a flag (exit code 2) rather than an
    /// input (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            PipelineError::NoRuns => true,
            PipelineError::Settings(e) => e.is_usage(),
            PipelineError::Load(e) => e.is_usage(),
            PipelineError::Report(ReportError::Analysis(AnalysisError::Param { .. })) => true,
            _ => false,
        }
    }
}

/// A report option out of range, naming its flag. Causes are part of the
/// messages, not `source`s: `{:#}` would print them twice.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("--tau: {0}")]
    Tau(AnalysisError),
    #[error("--permutations: {0}")]
    Permutations(AnalysisError),
    #[error("--bootstrap: {0}")]
    Bootstrap(AnalysisError),
    #[error("--groups: {0}")]
    Groups(AnalysisError),
    #[error("--k must be at least 1")]
    ZeroK,
    #[error("--k: {0}")]
    K(AnalysisError),
    /// The reading options (a malformed `--layers`, an unreadable tasks
    /// file, …).
    #[error(transparent)]
    Read(#[from] LoadError),
}

impl SettingsError {
    /// Whether the user should change a flag (exit code 2) rather than an
    /// input file (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            SettingsError::Read(e) => e.is_usage(),
            _ => true,
        }
    }
}
