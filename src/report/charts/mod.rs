//! One file per figure kind: a plain input struct and a renderer that
//! turns it into deterministic SVG bytes. Every chart draws through
//! [`svg`], the one shared canvas, axis, label and legend preamble;
//! [`raster`] embeds images too large for vector cells.

pub mod bands;
pub mod bar_figure;
pub mod bars;
pub mod heatmap;
pub mod lines;
pub mod ranked;
pub mod raster;
pub mod stacked;
pub mod svg;
pub mod violins;
