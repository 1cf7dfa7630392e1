//! `report`'s flags for its inputs beyond the checkpoints: mtl-train
//! diagnose files (`--diagnostics`, or `<stem>.json` /
//! `<stem>.diagnose.json` found beside a checkpoint) and sweeps of
//! training runs (`--sweep`). They are read by
//! [`mtl_inspect::pipeline`].

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ReportExtraArgs {
    /// Diagnose files of `mtl-train diagnose` (JSON, schema
    /// mtl-train/diagnose v1; its <stem>.conflict.csv is read from beside
    /// it): adds gradient-cosine distributions, gradient norms and AvgNorm
    /// weights, and the pruning-impact heatmaps. Without this flag, a
    /// `<stem>.json` or `<stem>.diagnose.json` of that schema beside a
    /// checkpoint `<stem>.safetensors` is picked up (and marked so in the
    /// page).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub diagnostics: Vec<PathBuf>,

    /// Do not look for diagnose files beside the checkpoints.
    #[arg(long)]
    pub no_auto_diagnostics: bool,

    /// Checkpoints of mtl-train sweeps, or folders of them (each run with
    /// mtl.sweep metadata, e.g. `fixtures/sweeps/noise`). Runs are grouped
    /// into one section per swept parameter (the mtl.sweep key) and by
    /// value within it: for `noise`, the capacity split of the noisy
    /// (regression) task against ξ (App. E); for other parameters (e.g.
    /// `alpha`), histograms of all gates per value (Fig. 5/9); for every
    /// sweep, the mean test F1 per value (mtl.test_mean_f1, at the epoch the
    /// checkpoint holds). The reading flags (--layers, --gate, …) apply to
    /// these runs too. Put it after the report's checkpoints (it takes every
    /// path that follows).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub sweep: Vec<PathBuf>,
}
