//! The report's one error type: what can go wrong turning typed results
//! into bytes.

/// What can go wrong turning results into bytes. Every variant names the
/// figure or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The input of a figure is inconsistent (lengths differ, an order is
    /// not a permutation, …): a bug in the caller, reported instead of a
    /// panic.
    #[error("figure '{figure}': {reason}")]
    Figure { figure: String, reason: String },
    /// plotters failed while drawing.
    #[error("figure '{figure}': drawing failed: {reason}")]
    Draw { figure: String, reason: String },
    /// The runs given to the report do not fit together.
    #[error("{0}")]
    Inputs(String),
    /// An analysis the report needs could not be done on these inputs.
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    /// The tidy export failed.
    #[error("export to {format}: {reason}")]
    Export { format: String, reason: String },
}

impl ReportError {
    pub(crate) fn figure(figure: &str, reason: impl Into<String>) -> Self {
        ReportError::Figure {
            figure: figure.to_string(),
            reason: reason.into(),
        }
    }
}
