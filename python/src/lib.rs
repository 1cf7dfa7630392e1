//! `mtl_inspect._native`: the Rust half of the `mtl_inspect` Python package
//! (PyO3). It reads checkpoints and runs the library's analyses exactly as
//! the CLI does, and returns each result as the JSON the CLI's
//! `--format json` prints for it (without the provenance keys); the Python
//! half (`python/mtl_inspect/`) turns that JSON into DataFrames and NumPy
//! arrays. Keeping the boundary at serde's JSON means a result type that
//! gains a field needs no change here.

mod diagnose;
mod errors;

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use serde::Serialize;

use mtl_inspect::analysis::across_runs::capacity_across_runs;
use mtl_inspect::analysis::capacity::{CapacityReport, capacity};
use mtl_inspect::analysis::clusters::{ClusterParams, Linkage, cluster_runs};
use mtl_inspect::analysis::depth::{capacity_by_layer, similarity_by_layer};
use mtl_inspect::analysis::diff::{DiffParams, diff};
use mtl_inspect::analysis::filter_groups::{
    DEFAULT_DEAD_THRESHOLD, FilterGroupParams, filter_groups,
};
use mtl_inspect::analysis::gate_stats::{GateStatsParams, gate_distribution};
use mtl_inspect::analysis::similarity::cosine_similarity;
use mtl_inspect::analysis::specialization::{SpecializationParams, specialization};
use mtl_inspect::analysis::stability::{ReducedRun, StabilityParams, stability_of_runs};
use mtl_inspect::pipeline::{PipelineError, ReportDir, ReportOptions, ReportRuns, make_report};
use mtl_inspect::report::json::CapacityRuns;
use mtl_inspect::report::tables;

use mtl_inspect::GateKind;
use mtl_inspect::runs::{self, ReadOptions, ReadSettings, Run, TaskNamesInput};

use errors::{Error, InputError, MtlInspectError, ParameterError, analysis, guard, input, param};

/// A checkpoint read into task × filter importances.
#[pyclass(frozen, module = "mtl_inspect._native", name = "Checkpoint")]
pub struct PyCheckpoint {
    run: Run,
    /// The `gate=` it was read with (the summary names an override).
    gate_override: Option<GateKind>,
}

/// Checked reading options, for the functions that read their runs one at
/// a time from paths.
#[pyclass(frozen, module = "mtl_inspect._native", name = "ReadSettings")]
pub struct PyReadSettings {
    /// As given (the report checks them again, with its own options).
    options: ReadOptions,
    settings: ReadSettings,
}

fn parse_gate(g: &str) -> Result<GateKind, Error> {
    match g {
        "sigmoid" => Ok(GateKind::Sigmoid),
        "abs" => Ok(GateKind::Abs),
        "identity" => Ok(GateKind::Identity),
        other => Err(Error::Param(format!(
            "invalid value '{other}' for gate; possible values: sigmoid, abs, identity"
        ))),
    }
}

/// Checks Python's reading keywords once (regex, tasks and layer-order
/// files) into the library's settings (`task_names` is used only when no
/// `tasks_file` is given).
#[pyfunction]
#[pyo3(signature = (tasks_file=None, task_names=None, layers=None, gate=None, key=None, layer_order=None, allow_nonfinite=false))]
#[allow(clippy::too_many_arguments)]
fn read_settings(
    tasks_file: Option<PathBuf>,
    task_names: Option<Vec<String>>,
    layers: Option<String>,
    gate: Option<String>,
    key: Option<String>,
    layer_order: Option<PathBuf>,
    allow_nonfinite: bool,
) -> PyResult<PyReadSettings> {
    guard(|| {
        let opts = ReadOptions {
            tasks: tasks_file
                .map(TaskNamesInput::File)
                .or(task_names.map(TaskNamesInput::Names)),
            layers,
            gate: gate.as_deref().map(parse_gate).transpose()?,
            key,
            layer_order,
            allow_nonfinite,
        };
        Ok(PyReadSettings {
            settings: opts.check().map_err(Error::from)?,
            options: opts,
        })
    })
}

fn to_json<T: Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| MtlInspectError::new_err(format!("serializing: {e}")))
}

#[pymethods]
impl PyCheckpoint {
    /// The path as given.
    #[getter]
    fn path(&self) -> String {
        self.run.name.clone()
    }
    /// Task names, in the matrix's row order.
    #[getter]
    fn tasks(&self) -> Vec<String> {
        self.run.importance.tasks().to_vec()
    }
    /// (layer name, filters) in depth order.
    #[getter]
    fn layers(&self) -> Vec<(String, usize)> {
        self.run
            .importance
            .layers()
            .iter()
            .map(|l| (l.name.clone(), l.len))
            .collect()
    }
    /// How gates became importances (`inspect`'s "gate" line).
    #[getter]
    fn gate(&self) -> String {
        self.run.summary(self.gate_override).gate
    }
    /// (the T × F matrix's f64 values in native byte order, column-major:
    /// filter by filter, as the library stores them; T, F). One copy, into
    /// a mutable bytearray that NumPy then views without copying.
    fn importance_bytes<'py>(&self, py: Python<'py>) -> (Bound<'py, PyByteArray>, usize, usize) {
        let m = self.run.importance.data();
        let bytes: &[u8] = bytemuck::cast_slice(m.as_slice());
        (PyByteArray::new(py, bytes), m.nrows(), m.ncols())
    }
    /// `inspect --format json` of this checkpoint.
    fn summary_json(&self) -> PyResult<String> {
        guard(|| to_json(&self.run.summary(self.gate_override)))
    }
    /// `inspect`'s text.
    fn summary_text(&self) -> String {
        tables::inspect_text(&self.run.summary(self.gate_override))
    }
    /// Filters dropped for non-finite gates (allow_nonfinite=True), as JSON.
    fn dropped_json(&self) -> PyResult<String> {
        to_json(&self.run.dropped)
    }
    fn __repr__(&self) -> String {
        format!(
            "<mtl_inspect.Checkpoint {}: {} tasks, {} layers, {} filters>",
            self.run.name,
            self.run.importance.n_tasks(),
            self.run.importance.layers().len(),
            self.run.importance.n_filters()
        )
    }
}

/// Opens and reads a checkpoint (any format the CLI reads) with settings
/// from [`read_settings`] (default: the CLI's defaults).
#[pyfunction]
#[pyo3(signature = (path, read=None))]
fn open(
    py: Python<'_>,
    path: PathBuf,
    read: Option<Bound<'_, PyReadSettings>>,
) -> PyResult<PyCheckpoint> {
    guard(|| {
        let default = ReadSettings::default();
        let s = read.as_ref().map_or(&default, |r| &r.get().settings);
        let run = py.detach(|| runs::load(&path, s)).map_err(Error::from)?;
        Ok(PyCheckpoint {
            run,
            gate_override: s.importance.gate,
        })
    })
}

/// Whether `path` is mtl-train's optimizer-state sidecar (multi-run
/// functions skip those, as the CLI does).
#[pyfunction]
fn is_sidecar(path: PathBuf) -> bool {
    runs::is_sidecar(&path)
}

fn opened<'a>(ckpts: &'a [Bound<'_, PyCheckpoint>]) -> Result<Vec<&'a Run>, Error> {
    let runs: Vec<&Run> = ckpts.iter().map(|c| &c.get().run).collect();
    runs::check_same_layers(runs.iter().copied()).map_err(Error::from)?;
    Ok(runs)
}

/// Reduces each run of a multi-run function: the opened checkpoints, or,
/// given paths and settings instead, the files read one at a time (as the
/// CLI streams them, so tens of large runs never sit in memory at once).
/// Returns each run's name beside its reduction.
fn reduce_runs<T: Send>(
    py: Python<'_>,
    ckpts: &[Bound<'_, PyCheckpoint>],
    paths: &[PathBuf],
    read: Option<&Bound<'_, PyReadSettings>>,
    reduce: impl Fn(usize, &Run) -> Result<T, Error> + Sync,
) -> Result<Vec<(String, T)>, Error> {
    match (ckpts.is_empty(), paths.is_empty()) {
        (_, true) => {
            let runs = opened(ckpts)?;
            py.detach(|| {
                runs.iter()
                    .enumerate()
                    .map(|(i, r)| Ok((r.name.clone(), reduce(i, r)?)))
                    .collect()
            })
        }
        (true, false) => {
            let default = ReadSettings::default();
            let s = read.map_or(&default, |r| &r.get().settings);
            py.detach(|| runs::stream(paths, s, |i, r| Ok((r.name.clone(), reduce(i, r)?))))
        }
        (false, false) => Err(Error::Param(
            "give opened checkpoints or paths, not both".into(),
        )),
    }
}

/// Capacity split of one run, several runs, or per layer (one run). Runs
/// are the opened `ckpts`, or `paths` read one at a time with `read`.
#[pyfunction]
#[pyo3(signature = (ckpts, per_layer=false, paths=Vec::new(), read=None))]
fn capacity_json(
    py: Python<'_>,
    ckpts: Vec<Bound<'_, PyCheckpoint>>,
    per_layer: bool,
    paths: Vec<PathBuf>,
    read: Option<Bound<'_, PyReadSettings>>,
) -> PyResult<String> {
    guard(|| {
        if per_layer {
            let n = ckpts.len() + paths.len();
            if n != 1 {
                return Err(
                    Error::Param(format!("--per-layer takes one checkpoint ({n} given)")).into(),
                );
            }
            let mut by_layer = reduce_runs(py, &ckpts, &paths, read.as_ref(), |_, r| {
                Ok(capacity_by_layer(&r.importance))
            })?;
            return match by_layer.pop() {
                Some((_, r)) => to_json(&r),
                None => {
                    Err(Error::Param("--per-layer takes one checkpoint (0 given)".into()).into())
                }
            };
        }
        let results = reduce_runs(py, &ckpts, &paths, read.as_ref(), |_, r| {
            Ok(capacity(&r.importance))
        })?;
        match results.as_slice() {
            [] => Err(Error::Param("capacity needs at least one checkpoint".into()).into()),
            [(_, r)] => to_json(r),
            _ => {
                let named: Vec<(String, &CapacityReport)> =
                    results.iter().map(|(n, r)| (n.clone(), r)).collect();
                let spread = capacity_across_runs(&named).map_err(analysis)?;
                to_json(&CapacityRuns::new(&named, &spread))
            }
        }
    })
}

/// Task × task cosine similarity (or per layer).
#[pyfunction]
#[pyo3(signature = (ckpt, per_layer=false))]
fn similarity_json(
    py: Python<'_>,
    ckpt: Bound<'_, PyCheckpoint>,
    per_layer: bool,
) -> PyResult<String> {
    let im = &ckpt.get().run.importance;
    guard(|| {
        if per_layer {
            to_json(&py.detach(|| similarity_by_layer(im)))
        } else {
            to_json(&py.detach(|| cosine_similarity(im)))
        }
    })
}

#[pyfunction]
#[pyo3(signature = (ckpt, tau=0.5))]
fn specialization_json(
    py: Python<'_>,
    ckpt: Bound<'_, PyCheckpoint>,
    tau: f64,
) -> PyResult<String> {
    let im = &ckpt.get().run.importance;
    guard(|| {
        let p = SpecializationParams::new(tau).map_err(|e| param("--tau", e))?;
        to_json(&py.detach(|| specialization(im, &p)))
    })
}

#[pyfunction]
#[pyo3(signature = (ckpts, permutations=999, bootstrap=200, seed=0, paths=Vec::new(), read=None))]
fn stability_json(
    py: Python<'_>,
    ckpts: Vec<Bound<'_, PyCheckpoint>>,
    permutations: usize,
    bootstrap: usize,
    seed: u64,
    paths: Vec<PathBuf>,
    read: Option<Bound<'_, PyReadSettings>>,
) -> PyResult<String> {
    guard(|| {
        let p = StabilityParams::new(permutations, seed)
            .map_err(|e| param("--permutations", e))?
            .with_bootstrap(bootstrap)
            .map_err(|e| param("--bootstrap", e))?;
        let reduced = reduce_runs(py, &ckpts, &paths, read.as_ref(), |i, r| {
            Ok(ReducedRun::new(r.name.clone(), &r.importance, i, &p))
        })?;
        let reduced = reduced.into_iter().map(|(_, r)| r).collect();
        let r = py
            .detach(|| stability_of_runs(reduced, &p))
            .map_err(analysis)?;
        to_json(&r)
    })
}

fn parse_linkage(l: &str) -> Result<Linkage, Error> {
    Linkage::ALL
        .into_iter()
        .find(|x| x.name() == l)
        .ok_or_else(|| {
            Error::Param(format!(
                "invalid value '{l}' for linkage; possible values: average, complete, single, ward, weighted"
            ))
        })
}

#[pyfunction]
#[pyo3(signature = (ckpts, k, linkage="average", paths=Vec::new(), read=None))]
fn cluster_json(
    py: Python<'_>,
    ckpts: Vec<Bound<'_, PyCheckpoint>>,
    k: usize,
    linkage: &str,
    paths: Vec<PathBuf>,
    read: Option<Bound<'_, PyReadSettings>>,
) -> PyResult<String> {
    guard(|| {
        let p = ClusterParams::new(k, parse_linkage(linkage)?).map_err(|e| param("--k", e))?;
        let sims = reduce_runs(py, &ckpts, &paths, read.as_ref(), |_, r| {
            Ok(cosine_similarity(&r.importance))
        })?;
        let r = py.detach(|| cluster_runs(&sims, &p)).map_err(analysis)?;
        to_json(&r)
    })
}

#[pyfunction]
#[pyo3(signature = (ckpt, k, seed=0, dead_threshold=DEFAULT_DEAD_THRESHOLD))]
fn filter_groups_json(
    py: Python<'_>,
    ckpt: Bound<'_, PyCheckpoint>,
    k: usize,
    seed: u64,
    dead_threshold: f64,
) -> PyResult<String> {
    let im = &ckpt.get().run.importance;
    guard(|| {
        let p = FilterGroupParams::new(k, seed, dead_threshold).map_err(|e| param("", e))?;
        let r = py.detach(|| filter_groups(im, &p)).map_err(analysis)?;
        to_json(&r)
    })
}

#[pyfunction]
#[pyo3(signature = (ckpt, bins=20))]
fn gate_stats_json(py: Python<'_>, ckpt: Bound<'_, PyCheckpoint>, bins: usize) -> PyResult<String> {
    let im = &ckpt.get().run.importance;
    guard(|| {
        let p = GateStatsParams::new(bins).map_err(|e| Error::Param(e.to_string()))?;
        to_json(&py.detach(|| gate_distribution(im, &p)))
    })
}

#[pyfunction]
#[pyo3(signature = (a, b, tau=0.5, top=10))]
fn diff_json(
    py: Python<'_>,
    a: Bound<'_, PyCheckpoint>,
    b: Bound<'_, PyCheckpoint>,
    tau: f64,
    top: usize,
) -> PyResult<String> {
    let (a, b) = (&a.get().run, &b.get().run);
    guard(|| {
        let p = DiffParams::new(tau, top).map_err(|e| param("", e))?;
        let r = py
            .detach(|| diff(&a.importance, &b.importance, &p))
            .map_err(|e| {
                Error::Input(format!(
                    "comparing {} with {}: {e}; diff needs two runs of the same tasks and layers (select common layers with --layers)",
                    a.name, b.name
                ))
            })?;
        to_json(&r)
    })
}

fn pipeline_error(e: PipelineError) -> Error {
    if e.is_usage() {
        Error::Param(e.to_string())
    } else {
        input(e)
    }
}

/// Writes the HTML report (index.html, SVGs, CSVs) into `out`; returns the
/// file names written and the notes the CLI prints (files used or left out
/// without being named). The CLI's `report`: the same settings, checked the
/// same way, and the same pipeline ([`make_report`]).
#[pyfunction]
#[pyo3(signature = (ckpts, out, k=None, linkage="average", tau=0.5, groups=8, permutations=999, bootstrap=200, title=None, diagnostics=Vec::new(), sweep=Vec::new(), auto_diagnostics=true, command_line=None, paths=Vec::new(), read=None))]
#[allow(clippy::too_many_arguments)]
fn report(
    py: Python<'_>,
    ckpts: Vec<Bound<'_, PyCheckpoint>>,
    out: PathBuf,
    k: Option<usize>,
    linkage: &str,
    tau: f64,
    groups: usize,
    permutations: usize,
    bootstrap: usize,
    title: Option<String>,
    diagnostics: Vec<PathBuf>,
    sweep: Vec<PathBuf>,
    auto_diagnostics: bool,
    command_line: Option<Vec<String>>,
    paths: Vec<PathBuf>,
    read: Option<Bound<'_, PyReadSettings>>,
) -> PyResult<(Vec<String>, Vec<String>)> {
    guard(|| {
        let linkage = parse_linkage(linkage)?;
        let settings = ReportOptions {
            k,
            linkage,
            tau,
            groups,
            permutations,
            bootstrap,
            title,
            diagnostics,
            auto_diagnostics,
            sweeps: sweep,
            read: read
                .as_ref()
                .map(|r| r.get().options.clone())
                .unwrap_or_default(),
            command_line: command_line.unwrap_or_else(|| vec!["mtl_inspect.report".to_string()]),
        }
        .check()
        .map_err(|e| pipeline_error(e.into()))?;
        let dir = ReportDir::prepare(&out).map_err(input)?;
        let loaded: Vec<(&Run, Option<GateKind>)> = ckpts
            .iter()
            .map(|c| (&c.get().run, c.get().gate_override))
            .collect();
        let runs = match (loaded.is_empty(), paths.is_empty()) {
            (_, true) => ReportRuns::Loaded(&loaded),
            (true, false) => ReportRuns::Paths(&paths),
            (false, false) => {
                return Err(
                    Error::Param("give opened checkpoints or paths, not both".into()).into(),
                );
            }
        };
        let mut notes = Vec::new();
        let files = py
            .detach(|| make_report(runs, &settings, &mut |p| notes.extend(p.note())))
            .map_err(pipeline_error)?;
        dir.write_all(&files).map_err(input)?;
        Ok((files.into_iter().map(|(name, _)| name).collect(), notes))
    })
}

/// Panics inside [`guard`]: lets the test suite prove that a panic arrives
/// as `MtlInspectError`, not as an abort or a `PanicException`.
#[pyfunction]
fn _panic_for_tests() -> PyResult<()> {
    guard(|| panic!("deliberate panic (test of the FFI guard)"))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MtlInspectError", py.get_type::<MtlInspectError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyCheckpoint>()?;
    m.add_class::<PyReadSettings>()?;
    m.add_function(wrap_pyfunction!(read_settings, m)?)?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(is_sidecar, m)?)?;
    m.add_function(wrap_pyfunction!(capacity_json, m)?)?;
    m.add_function(wrap_pyfunction!(similarity_json, m)?)?;
    m.add_function(wrap_pyfunction!(specialization_json, m)?)?;
    m.add_function(wrap_pyfunction!(stability_json, m)?)?;
    m.add_function(wrap_pyfunction!(cluster_json, m)?)?;
    m.add_function(wrap_pyfunction!(filter_groups_json, m)?)?;
    m.add_function(wrap_pyfunction!(gate_stats_json, m)?)?;
    m.add_function(wrap_pyfunction!(diff_json, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(diagnose::diagnose_document, m)?)?;
    m.add_function(wrap_pyfunction!(diagnose::pruning_rankings, m)?)?;
    m.add_function(wrap_pyfunction!(diagnose::pruning_drops, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
