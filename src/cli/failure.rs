//! Errors as exit codes: 1 for bad input or analysis errors, 2 for bad
//! usage (change the flag); the library's errors say which they are.

use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::pipeline::{PipelineError, SettingsError};
use mtl_inspect::runs::LoadError;

/// An error with the exit code it deserves: 1 for bad input or analysis
/// errors, 2 for bad usage (flags).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: e.into(),
        }
    }
    pub fn input(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
    /// Analysis errors: parameter problems are usage errors (change the
    /// flag), the rest are input errors.
    pub fn analysis(e: AnalysisError) -> Self {
        match e {
            AnalysisError::Param { .. } => Failure::usage(e),
            _ => Failure::input(e),
        }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        if e.is_usage() {
            Failure::usage(e)
        } else {
            Failure::input(e)
        }
    }
}

impl From<PipelineError> for Failure {
    fn from(e: PipelineError) -> Self {
        if e.is_usage() {
            Failure::usage(e)
        } else {
            Failure::input(e)
        }
    }
}

impl From<SettingsError> for Failure {
    fn from(e: SettingsError) -> Self {
        PipelineError::from(e).into()
    }
}
