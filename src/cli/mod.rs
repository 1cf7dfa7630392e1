//! The command line: clap definitions and dispatch. The analysis commands
//! ([`commands`]) load runs, call one analysis, render with `report` and
//! hand the bytes back to be written to stdout; `report` and `export`
//! ([`report`]) hand checked settings to the library's pipeline and write
//! its files. Errors become exit codes in [`failure`].

mod args;
mod commands;
mod diff_page;
mod failure;
mod files;
mod load;
mod output;
mod report;
mod report_extras;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use args::{LinkageArg, LoadArgs, ReadArgs};
pub use failure::Failure;

#[derive(Debug, Parser)]
#[command(
    name = "mtl-inspect",
    version,
    about = "Inspect multi-task checkpoints with task-specific (σ)BN gates: capacity, task similarity, specialization, stability and clusters (Suteu & Serban, TSσBN).",
    after_help = "Checkpoints: .safetensors, a sharded model.safetensors.index.json (or its folder), or a torch.save archive (.pt, .pth, .bin, Lightning .ckpt; read without running any code in it). Layouts: nn.ModuleList of per-task norms (<layer>.<i>.weight), nn.ModuleDict keyed by task (<layer>.<task>.weight), or mtl-inspect's stacked format (<layer>.gamma [T, C]). Start with 'mtl-inspect inspect CKPT': it shows every reading decision and its evidence.\n\nExit codes: 0 ok, 1 input or analysis error, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what was found: layout, dtype, gate kind, tasks, layers with
    /// filter counts, and the tensors ignored and why.
    Inspect {
        ckpt: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Per-task capacity C_t = mean importance, split into shared and
    /// independent parts by projection onto the other tasks (paper eq. 4–5;
    /// C² = shared² + independent²). With several runs: every run's values
    /// and, per task, the mean, sd, min–max and 95 % t-interval over runs.
    Capacity {
        #[arg(required = true)]
        ckpts: Vec<PathBuf>,
        /// The split of each layer on its own filters (depth curve), instead
        /// of the whole network; one checkpoint.
        #[arg(long)]
        per_layer: bool,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Task × task cosine similarity of the tasks' importance vectors
    /// (paper §5.2).
    Similarity {
        ckpt: PathBuf,
        /// Per layer, the similarity on that layer's filters and its mean /
        /// min / max off the diagonal (depth curve).
        #[arg(long)]
        per_layer: bool,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Compare two checkpoints of the same tasks and layers (aligned by
    /// name): per task and layer the change (B − A) in capacity and its
    /// shared / independent parts, the Spearman correlation of the two
    /// similarity matrices, the task pairs whose similarity moved most, and
    /// the filters whose owner (the task holding more than τ of the filter's
    /// importance) changed. With --out DIR, the same as a page:
    /// DIR/index.html with figures per task and per layer, and every table
    /// as CSV.
    Diff {
        ckpt_a: PathBuf,
        ckpt_b: PathBuf,
        /// Share of a filter's total importance above which a task owns it;
        /// 0 < τ < 1.
        #[arg(long, default_value_t = 0.5)]
        tau: f64,
        /// Task pairs to list, by the largest change in similarity.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Write the comparison as a page into this directory instead
        /// (index.html with the figures inline, each figure as SVG and each
        /// table as CSV; --format does not apply).
        #[arg(long, value_name = "DIR", conflicts_with = "format")]
        out: Option<PathBuf>,
        /// Title of the page written with --out.
        #[arg(long, requires = "out")]
        title: Option<String>,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Filters specialized for one task, per layer: a filter is specialized
    /// for t when I[t,i] / Σ_t I[t,i] > τ (paper §5.3, Fig. 4).
    Specialization {
        ckpt: PathBuf,
        /// Share of a filter's total importance above which it is
        /// specialized; 0 < τ < 1.
        #[arg(long, default_value_t = 0.5)]
        tau: f64,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Stability of task relationships across runs: Spearman rank
    /// correlation between the upper triangles of every pair of runs'
    /// similarity matrices, with Mantel permutation p-values (paper §5.2).
    Stability {
        /// Two or more checkpoints of the same tasks (runs are aligned by
        /// task name).
        #[arg(required = true, num_args = 2..)]
        ckpts: Vec<PathBuf>,
        /// Permutations for the one-sided Mantel p-value (0: none). With
        /// T! ≤ N all permutations are enumerated exactly.
        #[arg(long, default_value_t = 999)]
        permutations: usize,
        /// Replicates for the 95 % interval of the mean Spearman (bootstrap
        /// over runs, percentile); any value > 0 also gives each pair's
        /// interval (grouped jackknife over each run's filters: 10 random
        /// groups, each left out once, 10 × 10 replicates per pair; costs
        /// one more pass over each run's filters); 0: no intervals.
        #[arg(long, default_value_t = 200)]
        bootstrap: usize,
        /// Seed of the permutation and bootstrap RNGs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Hierarchical task clusters on 1 − cosine similarity, cut into K; with
    /// several runs, the co-occurrence matrix and representative clusters
    /// (paper App. C, Table 5), each task's confidence and each run's
    /// adjusted Rand index to them. Ties in the co-occurrence are broken by
    /// the mean similarity across runs, so the clusters are the same for
    /// every task order; a tie no data can break is reported.
    Cluster {
        #[arg(required = true)]
        ckpts: Vec<PathBuf>,
        /// Number of clusters (1 ≤ K ≤ number of tasks).
        #[arg(long)]
        k: usize,
        /// Linkage method (scipy's names). Default: average.
        #[arg(long, value_enum, default_value_t = LinkageArg::Average)]
        linkage: LinkageArg,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Groups of filters with similar task profiles (k-means on each
    /// filter's importances normalized to sum 1): generic, task-specific and
    /// dead filters and where they sit.
    FilterGroups {
        ckpt: PathBuf,
        /// Number of groups.
        #[arg(long)]
        k: usize,
        /// Seed of k-means initialisation.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Filters whose largest importance is below this are "dead" and left
        /// out of the clustering.
        #[arg(long, default_value_t = 0.1)]
        dead_threshold: f64,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Distribution of gate values (importances) per task and overall:
    /// quantiles and the shares below 0.1 and above 0.9 (paper Fig. 5/9).
    Gates {
        ckpt: PathBuf,
        /// Histogram bins (JSON output).
        #[arg(long, default_value_t = 20)]
        bins: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Write the paper's figures (SVG) and one self-contained HTML page for
    /// one or several runs, with every table behind a figure as CSV.
    Report {
        #[arg(required = true)]
        ckpts: Vec<PathBuf>,
        /// Directory for index.html, *.svg and *.csv (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Task clusters to cut. Default: ⌈T/4⌉ (10 for CelebA's 40
        /// attributes, as in the paper's Table 5).
        #[arg(long)]
        k: Option<usize>,
        /// Linkage method of the task clusters.
        #[arg(long, value_enum, default_value_t = LinkageArg::Average)]
        linkage: LinkageArg,
        /// Specialization threshold, 0 < τ < 1.
        #[arg(long, default_value_t = 0.5)]
        tau: f64,
        /// Filter groups (k-means) drawn for the first run; 0 leaves them out.
        #[arg(long, default_value_t = 8)]
        groups: usize,
        /// Mantel permutations for the stability p-values (0: none).
        #[arg(long, default_value_t = 999)]
        permutations: usize,
        /// Bootstrap replicates for the stability intervals (0: none).
        #[arg(long, default_value_t = 200)]
        bootstrap: usize,
        /// Page title. Default: "mtl-inspect report: <first checkpoint>".
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        extras: report_extras::ReportExtraArgs,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Write the tidy long table (run, layer, filter, task, gate,
    /// importance) for pandas/polars: .csv, or .parquet with the `parquet`
    /// cargo feature.
    Export {
        #[arg(required = true)]
        ckpts: Vec<PathBuf>,
        /// Output file; the extension (.csv or .parquet) picks the format.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
}

pub fn run() -> Result<(), Failure> {
    let cli = Cli::parse();
    let bytes = match cli.command {
        Command::Inspect { ckpt, load } => commands::inspect(ckpt, load)?,
        Command::Capacity {
            ckpts,
            per_layer,
            load,
        } => commands::capacity(ckpts, per_layer, load)?,
        Command::Similarity {
            ckpt,
            per_layer,
            load,
        } => commands::similarity(ckpt, per_layer, load)?,
        Command::Diff {
            ckpt_a,
            ckpt_b,
            tau,
            top,
            out,
            title,
            load,
        } => commands::diff(ckpt_a, ckpt_b, tau, top, out, title, load)?,
        Command::Specialization { ckpt, tau, load } => commands::specialization(ckpt, tau, load)?,
        Command::Stability {
            ckpts,
            permutations,
            bootstrap,
            seed,
            load,
        } => commands::stability(ckpts, permutations, bootstrap, seed, load)?,
        Command::Cluster {
            ckpts,
            k,
            linkage,
            load,
        } => commands::cluster(ckpts, k, linkage, load)?,
        Command::FilterGroups {
            ckpt,
            k,
            seed,
            dead_threshold,
            load,
        } => commands::filter_groups(ckpt, k, seed, dead_threshold, load)?,
        Command::Gates { ckpt, bins, load } => commands::gates(ckpt, bins, load)?,
        Command::Report {
            ckpts,
            out,
            k,
            linkage,
            tau,
            groups,
            permutations,
            bootstrap,
            title,
            extras,
            read,
        } => {
            let params = report::ReportArgs {
                k,
                linkage,
                tau,
                groups,
                permutations,
                bootstrap,
                title,
            };
            return report::report(
                &load::without_sidecars(&ckpts),
                &out,
                &params,
                &read,
                &extras,
            );
        }
        Command::Export { ckpts, out, read } => {
            return report::export(&load::without_sidecars(&ckpts), &out, &read);
        }
    };
    write_stdout(&bytes)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // `mtl-inspect … | head` closing the pipe is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::input(anyhow::anyhow!("writing to stdout: {e}"))),
    }
}
