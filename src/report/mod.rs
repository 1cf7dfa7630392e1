//! Rendering typed analysis results to bytes. No math here: every number
//! drawn comes in from [`crate::analysis`] or the reading stage.
//!
//! In layers, each importing only those below it:
//!
//! - [`sections`]: the report page as a list of sections, one file each
//!   ([`build_report`]), from [`ReportInputs`];
//! - [`diff_page`]: the page of `diff --out`;
//! - [`page`]: the page itself: one builder that keeps every figure and
//!   table as a file and applies the page's limits, the HTML, tables,
//!   provenance;
//! - [`charts`]: one file per figure kind of paper 000 (Fig. 3, 4 left,
//!   5/9, 10, Table 5): a plain input struct and a renderer to
//!   deterministic SVG bytes through one shared axis and label preamble
//!   ([`charts::svg`]; plotters' SVG backend, no fonts loaded);
//! - [`style`] and [`error`], which every layer uses.
//!
//! Beside them, the other commands' renderers: [`tables`] (text and CSV
//! tables), [`json`] (JSON envelopes), [`export`] (the tidy long table).

pub mod charts;
pub mod diff_page;
pub mod error;
pub mod export;
pub mod json;
pub mod page;
pub mod sections;
pub mod style;
pub mod tables;

pub use charts::bars::{BarFigure, BarSeries};
pub use charts::heatmap::{HeatmapFigure, MergeStep};
pub use charts::lines::{LineFigure, LineSeries};
pub use charts::stacked::{StackedBarFigure, StackedSegment};
pub use charts::violins::{HistogramFigure, HistogramSeries, ViolinFigure, ViolinRow};
pub use charts::{bars, heatmap, lines, stacked, violins};
pub use error::ReportError;
pub use page::builder::ReportFile;
pub use page::html::{Block, Page, Section};
pub use page::provenance::{self, Provenance};
pub use page::table::{self, Table};
pub use sections::build_report;
pub use sections::inputs::{ReportInputs, RunResults};
