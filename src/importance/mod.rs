//! The task × filter importance matrix `I ∈ R^{T×F}` of paper 000, §5
//! (`matrix.rs`), and the arrow that makes it from a run's gates,
//! [`Gates::importance`](crate::checkpoint::discover::Gates::importance)
//! with its settings and error ([`from_gates`]).
//!
//! `from_gates` is reached by its own path, not re-exported here: it reads
//! the discovery stage's types, which read [`GateKind`] from here, and a
//! re-export would close that loop.

pub mod from_gates;
mod matrix;

pub(crate) use matrix::transpose_tiled;
pub use matrix::{GateKind, ImportanceError, ImportanceMatrix, LayerSpan, span_difference};
