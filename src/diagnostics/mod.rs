//! Inputs that are not checkpoints: what `mtl-train` writes about a run
//! besides its weights.
//!
//! - [`diagnose`]: the JSON of `mtl-train diagnose` (schema
//!   `mtl-train/diagnose`, version 1; training/README.md, "diagnose") and the
//!   per-batch gradient cosines of its `<stem>.conflict.csv`: gradient
//!   conflict (paper 000 §3, Fig. 2 left), gradient norms and AvgNorm
//!   weights (paper 003 eq. 6), the pruning-impact matrix (paper 000 §5.3,
//!   Fig. 4).
//! - [`run_meta`]: the training metadata of a checkpoint (`mtl.sweep`,
//!   `mtl.test_mean_f1`, `mtl.regression_tasks`, …) that sweeps are grouped
//!   and scored by.
//!
//! - [`write`]: the other direction for the gradient part of a diagnose
//!   file, shared by `mtl-train diagnose` and the PyTorch recorder.
//!
//! Both inputs are untrusted: every problem is a [`DiagnosticsError`] naming
//! the file, what is wrong and what to do; nothing here panics on a file.

pub mod diagnose;
mod error;
pub mod run_meta;
pub mod write;

pub use diagnose::{Diagnostics, read_diagnostics};
pub use error::DiagnosticsError;
pub use run_meta::RunMeta;
