//! mtl-inspect: read multi-task checkpoints with task-specific (σ)BN gates
//! and compute the analyses of Suteu & Serban, *Simplifying Multi-Task
//! Architectures Through Task-Specific Normalization* (paper 000).
//!
//! The pipeline, one type per arrow:
//!
//! ```text
//! *.safetensors ─Checkpoint::open─▶ Checkpoint ─discover_gates─▶ Gates
//!   ─Gates::importance─▶ ImportanceMatrix ─analysis::*─▶ typed results
//!   ─report::*─▶ bytes (table, CSV, JSON)
//! ```
//!
//! [`runs`] composes the first three arrows for a path and checked reading
//! options; the CLI and the Python package read every checkpoint through it.

pub mod analysis;
pub mod checkpoint;
pub mod diagnostics;
pub mod importance;
pub mod report;
pub mod runs;

pub use importance::{GateKind, ImportanceMatrix, LayerSpan};
