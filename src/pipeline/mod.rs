//! The report, built once for every front end: checked [`ReportSettings`]
//! and the runs in; diagnose files and sweeps read ([`extras`]), each run
//! read and reduced one at a time ([`reduce`]), the analyses across runs
//! combined, and every file of the page returned as bytes by
//! [`make_report`]. The CLI and the Python package only parse their
//! arguments, call it and write the bytes ([`ReportDir`]). Nothing here
//! prints: what a user should hear goes through a [`Progress`] callback.

pub mod extras;
mod out_dir;
pub mod reduce;
mod settings;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::GateKind;
use crate::analysis::AnalysisError;
use crate::checkpoint::file_hash::HashError;
use crate::diagnostics::DiagnosticsError;
use crate::report::sections::build_report;
use crate::report::{ReportError, ReportFile};
use crate::runs::{self, LoadError, Run, display_names};

pub use out_dir::{OutDirError, ReportDir};
pub use reduce::{ReportParams, ReportRun, RunSource, collect, combine, provenance, reduce_run};
pub use settings::{ReportOptions, ReportSettings, SettingsError};

/// The runs of a report: paths, read one at a time with the settings'
/// reading options (so tens of large runs never sit in memory together),
/// or runs already read, each with the `gate` override it was read with.
#[derive(Clone, Copy)]
pub enum ReportRuns<'a> {
    Paths(&'a [PathBuf]),
    Loaded(&'a [(&'a Run, Option<GateKind>)]),
}

impl ReportRuns<'_> {
    fn paths(&self) -> Vec<PathBuf> {
        match self {
            ReportRuns::Paths(p) => p.to_vec(),
            ReportRuns::Loaded(runs) => runs.iter().map(|(r, _)| r.path.clone()).collect(),
        }
    }
}

/// What the report is doing, for a front end to show (the CLI prints each
/// on stderr as its `Display`).
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A `<stem>.json` beside a checkpoint is not a diagnose file.
    NotDiagnostics {
        file: &'a Path,
        checkpoint: &'a Path,
    },
    /// A diagnose file found beside a checkpoint is used.
    DiagnosticsBeside {
        file: &'a Path,
        checkpoint: &'a Path,
    },
    /// An optimizer-state sidecar among the sweeps' files is skipped.
    SkippedSidecar(&'a Path),
    /// The sweeps' checkpoints are being read.
    ReadingSweeps(usize),
    /// Run `index` (from 0) of `of` is being read and reduced.
    Run {
        index: usize,
        of: usize,
        name: &'a str,
    },
    /// Every run is reduced; the analyses across runs and the figures follow.
    Combining,
}

impl fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::NotDiagnostics { file, checkpoint } => write!(
                f,
                "note: {} is beside {} but is not an mtl-train diagnose file; not used",
                file.display(),
                checkpoint.display()
            ),
            Progress::DiagnosticsBeside { file, checkpoint } => write!(
                f,
                "note: using diagnostics {} found beside {}",
                file.display(),
                checkpoint.display()
            ),
            Progress::SkippedSidecar(p) => write!(
                f,
                "note: skipping {}: mtl-train's optimizer state, not a checkpoint",
                p.display()
            ),
            Progress::ReadingSweeps(n) => write!(f, "reading {n} sweep checkpoint(s)…"),
            Progress::Run { index, of, name } => write!(f, "run {}/{of}: {name}", index + 1),
            Progress::Combining => write!(f, "combining the runs and rendering the figures…"),
        }
    }
}

/// A sweep that cannot be read or measured (named after `--sweep`).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("--sweep: cannot list {}: {cause}", path.display())]
    List {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("--sweep: {} holds no .safetensors checkpoint", path.display())]
    Empty { path: PathBuf },
    #[error("--sweep: {0}")]
    Analysis(AnalysisError),
    #[error("--sweep: {0}")]
    Hash(HashError),
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("a report needs at least one checkpoint")]
    NoRuns,
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Diagnostics(#[from] DiagnosticsError),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl PipelineError {
    /// Whether the user should change a flag (exit code 2) rather than an
    /// input (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            PipelineError::NoRuns => true,
            PipelineError::Settings(e) => e.is_usage(),
            PipelineError::Load(e) => e.is_usage(),
            PipelineError::Report(ReportError::Analysis(AnalysisError::Param { .. })) => true,
            _ => false,
        }
    }
}

/// Every file of the report (`index.html`, SVGs, CSVs) as bytes: reads the
/// diagnose files and sweeps, then each run (one at a time), runs every
/// analysis and renders the page. Deterministic: the same inputs and
/// settings give the same bytes.
pub fn make_report(
    runs: ReportRuns<'_>,
    s: &ReportSettings,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<ReportFile>, PipelineError> {
    let paths = runs.paths();
    if paths.is_empty() {
        return Err(PipelineError::NoRuns);
    }
    let extras = extras::collect(
        s.diagnostics(),
        s.auto_diagnostics(),
        s.sweeps(),
        &paths,
        s.read(),
        progress,
    )?;
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let names = display_names(&refs);
    // The default k depends on the task count, known once a run is read;
    // per-run reductions do not use the clusters' parameters.
    let mut params = s.params(s.title(&names), 1)?;
    let n = paths.len();
    let reduced = match runs {
        ReportRuns::Paths(paths) => runs::stream(paths, s.read(), |i, run| {
            progress(Progress::Run {
                index: i,
                of: n,
                name: &run.name,
            });
            reduce_one(i, n, &names[i], run, s.read().importance.gate, &params)
        })?,
        ReportRuns::Loaded(loaded) => {
            runs::check_same_layers(loaded.iter().map(|(r, _)| *r))?;
            loaded
                .iter()
                .enumerate()
                .map(|(i, (run, gate))| reduce_one(i, n, &names[i], run, *gate, &params))
                .collect::<Result<_, _>>()?
        }
    };
    let tasks = reduced.first().map_or(1, |r: &ReportRun| r.tasks().len());
    params = params.with_clusters(s.clusters(tasks)?);
    progress(Progress::Combining);
    let mut inputs = combine(reduced, &params, s.tool())?;
    inputs.extras = extras;
    Ok(build_report(&inputs)?)
}

fn reduce_one(
    i: usize,
    n: usize,
    name: &str,
    run: &Run,
    gate_override: Option<GateKind>,
    params: &ReportParams,
) -> Result<ReportRun, PipelineError> {
    let src = RunSource {
        name,
        path: &run.path,
        gates: &run.gates,
        importance: &run.importance,
        gate_override,
    };
    reduce_run(i, n, &src, params)
}
