//! The paper's analyses (paper 000, §5 and App. C) as pure functions from
//! [`ImportanceMatrix`](crate::importance::ImportanceMatrix) (or similarity
//! matrices of several runs) to typed results. Nothing here formats or prints.

pub mod across_runs;
pub mod capacity;
pub mod cluster_trust;
pub mod clusters;
pub mod depth;
pub mod diff;
pub mod filter_groups;
pub mod gate_stats;
pub mod gradient_conflict;
pub mod gradient_geometry;
pub mod kernels;
pub mod kmeans;
pub mod pruning_impact;
pub mod similarity;
pub mod specialization;
pub mod stability;
pub mod sweep;

/// Invalid parameters or inputs the analyses cannot work with.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnalysisError {
    #[error("{name} = {value} is out of range: {expected}")]
    Param {
        name: &'static str,
        value: String,
        expected: String,
    },
    #[error("runs do not have the same tasks: {0}")]
    TaskMismatch(String),
    #[error("runs do not have the same layers: {0}")]
    LayerMismatch(String),
    #[error("{0}")]
    Degenerate(String),
}
