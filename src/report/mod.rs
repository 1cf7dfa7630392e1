//! Rendering typed analysis results to bytes. No math here.
//!
//! Each figure of paper 000 (Fig. 3, 4 left, 5/9, 10, Table 5) has a plain
//! input struct and a renderer that turns it into deterministic SVG bytes
//! with plotters' SVG backend (no fonts are loaded: text is emitted as SVG
//! `<text>` and laid out with a fixed per-character width). Tables become
//! CSV and HTML; [`html`] assembles one self-contained page. [`table`]/[`tables`] hold
//! the text/CSV tables of the other commands.

pub mod bars;
pub mod build;
pub mod depth_curves;
mod diagnostics_section;
pub mod diff_page;
pub mod export;
pub mod extras;
pub mod heatmap;
pub mod html;
pub mod json;
pub mod lines;
pub mod provenance;
mod ranked;
mod raster;
pub mod stacked;
pub mod style;
mod svg;
mod sweep_section;
pub mod table;
pub mod tables;
pub mod violins;

pub use bars::{BarFigure, BarSeries};
pub use build::{ReportFile, ReportInputs, RunResults, build_report};
pub use heatmap::{HeatmapFigure, MergeStep};
pub use html::{Block, Page, Section};
pub use lines::{LineFigure, LineSeries};
pub use provenance::Provenance;
pub use stacked::{StackedBarFigure, StackedSegment};
pub use table::Table;
pub use violins::{HistogramFigure, HistogramSeries, ViolinFigure, ViolinRow};

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
