//! mtl-inspect: read multi-task checkpoints with task-specific (σ)BN gates
//! and compute the analyses of Suteu & Serban, *Simplifying Multi-Task
//! Architectures Through Task-Specific Normalization* (paper 000).
//!
//! The pipeline, one type per arrow, each arrow in the module it names:
//!
//! ```text
//! *.safetensors ─checkpoint::Checkpoint::open─▶ Checkpoint
//!   ─checkpoint::discover::discover_gates─▶ Gates
//!   ─importance::from_gates (Gates::importance)─▶ ImportanceMatrix
//!   ─analysis::*─▶ typed results
//!   ─report::*─▶ bytes (tables, CSV, JSON envelopes, SVG, HTML)
//! ```
//!
//! [`runs`] composes the first three arrows for a path and checked reading
//! options; the CLI and the Python package read every checkpoint through
//! it. [`pipeline`] composes all of them for the report: checked
//! `ReportSettings` and the runs in, every file of the page out as bytes,
//! for both front ends.

pub mod analysis;
pub mod checkpoint;
pub mod diagnostics;
pub mod importance;
pub mod pipeline;
pub mod report;
pub mod runs;

pub use importance::{GateKind, ImportanceMatrix, LayerSpan};
