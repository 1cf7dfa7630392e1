//! Per-task gradient geometry (paper 000 Fig. 2 left / Fig. 7; paper 003
//! §V-F and eq. 6), from the T × T Gram of one batch's task gradients.
//!
//! Everything follows from the T × T Gram ⟨g_i, g_j⟩ ([`Geometry::from_gram`]):
//! ⟨g_t, g⟩ is row t's sum and ‖g‖² the sum of all entries. This is the one
//! copy of the algebra: `mtl-train diagnose` (candle tensors) and the
//! PyTorch recorder (`mtl_inspect.torch`, through the Python bindings) both
//! hand their Grams here, and [`scope`] turns per-batch geometries into the
//! distributions the diagnose file reports.
//!
//! - [`geometry`]: one batch and scope: cosines, norms, AvgNorm weights,
//!   the norm identity;
//! - [`scope`]: distributions over batches, and per training step;
//! - [`summary`]: one distribution (numpy's quantiles).

pub mod geometry;
pub mod scope;
pub mod summary;

pub use geometry::{Geometry, GeometryError, ScopeValues, task_pairs};
pub use scope::{ScopeReport, StepSummary, over_steps, reports_from_grams, scope_report};
pub use summary::{QUANTILE_LEVELS, Summary};
