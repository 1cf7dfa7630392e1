//! mtl-train: trains multi-task CNNs whose only task-specific parts are
//! norm layers — TSσBN (Suteu & Serban, paper 000, eq. 3), TSBN, or a
//! shared BN baseline — with candle, and writes the stacked checkpoints
//! mtl-inspect reads.
//!
//! ```text
//! data::{shapes, celeba} ─▶ Dataset ─▶ train::train_seed(models::MultiTaskNet(layers::*), step, optim)
//!   ─▶ checkpoint::save (mtl_inspect::checkpoint::stacked) + metrics CSV
//! checkpoint ─▶ diagnose (per-task gradients, conflict, AvgNorm, pruning) ─▶ JSON + CSV
//! ```

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod diagnose;
pub mod epoch_log;
pub mod gpucheck;
pub mod layers;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod reload;
pub mod step;
pub mod sweep;
pub mod train;
pub mod usage;
pub mod vars;
