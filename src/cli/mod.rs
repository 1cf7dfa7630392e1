//! The command line: clap definitions, checked settings, and dispatch. Each
//! command loads runs, calls one analysis, renders with `report`, and hands
//! the bytes back to be written to stdout.

mod args;
mod load;
mod output;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use args::LoadArgs;
use mtl_inspect::checkpoint::discover::discover_gates;
use mtl_inspect::checkpoint::summary::CheckpointSummary;

/// An error with the exit code it deserves: 1 for bad input or analysis
/// errors, 2 for bad usage (flags).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: e.into(),
        }
    }
    pub fn input(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "mtl-inspect",
    version,
    about = "Inspect multi-task checkpoints with task-specific (σ)BN gates: capacity, task similarity, specialization, stability and clusters (Suteu & Serban, TSσBN).",
    after_help = "Checkpoints are .safetensors files in one of three layouts: nn.ModuleList of per-task norms (<layer>.<i>.weight), nn.ModuleDict keyed by task (<layer>.<task>.weight), or mtl-inspect's stacked format (<layer>.gamma [T, C]). Start with 'mtl-inspect inspect CKPT'.\n\nExit codes: 0 ok, 1 input or analysis error, 2 usage error."
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
}

pub fn run() -> Result<(), Failure> {
    let cli = Cli::parse();
    let bytes = match cli.command {
        Command::Inspect { ckpt, load } => {
            let s = load.check()?;
            let checkpoint = load::open(&ckpt)?;
            let gates = discover_gates(&checkpoint, &s.discover).map_err(Failure::input)?;
            let summary = CheckpointSummary::new(&checkpoint, &gates, s.importance.gate);
            output::inspect(&summary, s.format)
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
