//! The report, built once for every front end: checked [`ReportSettings`]
//! and the runs in; diagnose files and sweeps read ([`extras`]), each run
//! read and reduced one at a time ([`reduce`]), the analyses across runs
//! combined, and every file of the page returned as bytes by
//! [`make_report`]. The CLI and the Python package only parse their
//! arguments, call it and write the bytes ([`ReportDir`]). Nothing here
//! prints: what a user should hear goes through a [`Progress`] callback.

mod error;
pub mod extras;
mod out_dir;
mod progress;
pub mod reduce;
mod settings;

use std::path::{Path, PathBuf};

use crate::GateKind;
use crate::report::ReportFile;
use crate::report::sections::build_report;
use crate::runs::{self, Run, display_names};

pub use error::{PipelineError, SettingsError, SweepError};
pub use out_dir::{OutDirError, ReportDir};
pub use progress::Progress;
pub use reduce::{ReportParams, ReportRun, RunSource, collect, combine, provenance, reduce_run};
pub use settings::{ReportOptions, ReportSettings};

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
