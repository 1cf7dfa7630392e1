//! Discovery of task-specific norm layers: [`Checkpoint`] → [`Gates`].
//!
//! Three layouts are recognised without configuration (docs/FORMATS.md,
//! "Checkpoint layouts"): a `ModuleList` of per-task norms
//! (`<layer>.<i>.weight`), a `ModuleDict` keyed by task
//! (`<layer>.<task>.weight`), and the project's stacked format
//! (`<layer>.gamma` of shape `[T, C]`). A layer is named by the module path
//! that holds the per-task modules. Everything else (convolutions, heads,
//! running statistics, counters) is listed as ignored, with the reason.
//!
//! Gate kind (paper eq. 2–3): σBN modules have no shift, so a layer without
//! a `bias` sibling is read as `sigmoid(weight)`; with a bias it is affine
//! TSBN and read as `|weight|`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use nalgebra::DMatrix;
use regex::Regex;
use safetensors::tensor::Dtype;

mod evidence;
mod per_task;
mod stacked_layers;
mod values;

pub use evidence::{GateEvidence, LayerOrder};
pub use values::{GateValues, Half};

use super::Checkpoint;
use super::error::CheckpointError;
use super::stacked::{self, StackedParam};
use super::tasks_file::TaskNames;
use crate::importance::{GateKind, ImportanceMatrix, LayerSpan};

/// How the per-task norms are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `nn.ModuleList` of per-task norms: `<layer>.<i>.weight`.
    ModuleList,
    /// `nn.ModuleDict` keyed by task name: `<layer>.<task>.weight`.
    ModuleDict,
    /// The stacked format: `<layer>.gamma` of shape `[T, C]`.
    Stacked,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::ModuleList => "module_list (<layer>.<i>.weight)",
            Layout::ModuleDict => "module_dict (<layer>.<task>.weight)",
            Layout::Stacked => "stacked (<layer>.gamma [T, C])",
        })
    }
}

/// Where the task names came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSource {
    /// The `mtl.tasks` metadata of a stacked checkpoint.
    Metadata,
    /// A file passed with `--tasks`.
    TasksFile(PathBuf),
    /// The keys of the per-task `ModuleDict`.
    ModuleDictKeys,
    /// None available: `task_0 … task_{T-1}`.
    Default,
}

/// Why discovery left a tensor out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    RunningStatistic,
    Counter,
    /// The shift β of an affine per-task norm (TSBN).
    Shift,
    /// A tensor of a gate layer that is not used for importance.
    LayerTensor,
    /// Not part of any per-task norm layer (convolutions, heads, shared norms).
    NotPerTaskNorm,
    /// Part of a per-task layer that `--layers` excluded.
    ExcludedByFilter,
    /// A ModuleDict-like group whose keys are not the checkpoint's task set.
    OtherKeys(String),
    /// Siblings named for their role in a block (`norm1`/`norm2`).
    ModuleRoles(String),
    /// Sibling norms that do not form the task set (a neck's levels).
    NotTasks,
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::RunningStatistic => f.write_str("running statistic"),
            IgnoreReason::Counter => f.write_str("batch counter"),
            IgnoreReason::Shift => f.write_str("shift (bias) of a per-task norm"),
            IgnoreReason::LayerTensor => f.write_str("per-task tensor other than the gate"),
            IgnoreReason::NotPerTaskNorm => f.write_str("not a per-task norm parameter"),
            IgnoreReason::ExcludedByFilter => f.write_str("layer excluded by --layers"),
            IgnoreReason::OtherKeys(k) => write!(f, "per-module group keyed by {k}, not the tasks"),
            IgnoreReason::ModuleRoles(k) => {
                write!(f, "sibling modules {k} named for their role, not tasks")
            }
            IgnoreReason::NotTasks => {
                f.write_str("sibling norms that are not the task set (found in one layer only)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IgnoredTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub reason: IgnoreReason,
}

/// One task-specific norm layer: raw gate parameters, `T × C`.
#[derive(Debug, Clone, PartialEq)]
pub struct GateLayer {
    pub name: String,
    /// The gate kind and the evidence it was decided from.
    pub evidence: GateEvidence,
    pub dtype: Dtype,
    /// Raw parameters (γ), row `t` = task `t`, in the file's precision.
    pub raw: GateValues,
}

impl GateLayer {
    /// A layer whose gate kind is decided from its structure and values.
    pub fn new(name: String, dtype: Dtype, raw: GateValues, has_shift: bool) -> Self {
        let evidence = GateEvidence::from_layer_values(&raw, has_shift);
        GateLayer {
            name,
            evidence,
            dtype,
            raw,
        }
    }
    pub fn filters(&self) -> usize {
        self.raw.ncols()
    }
    /// The decided gate kind (`None`: the evidence does not settle it).
    pub fn gate(&self) -> Option<GateKind> {
        self.evidence.kind
    }
}

/// The task-specific gates of one checkpoint, in depth order.
#[derive(Debug, Clone)]
pub struct Gates {
    pub path: PathBuf,
    pub layout: Layout,
    pub tasks: Vec<String>,
    pub task_source: TaskSource,
    pub layers: Vec<GateLayer>,
    pub ignored: Vec<IgnoredTensor>,
    /// The checkpoint's `mtl.*` metadata (provenance written by mtl-train).
    pub metadata: BTreeMap<String, String>,
    /// Things a user should know about how the checkpoint was read.
    pub notes: Vec<String>,
    /// How the layers were put in depth order.
    pub order: LayerOrder,
}

/// Settings for discovery, checked at the edge (CLI).
#[derive(Debug, Clone, Default)]
pub struct DiscoverParams {
    /// Keep only layers whose name matches.
    pub layers: Option<Regex>,
    /// Task names from `--tasks`.
    pub tasks: Option<TaskNames>,
    /// Depth order of the layers from `--layer-order`.
    pub layer_order: Option<LayerOrderFile>,
}

/// Layer names in depth order, one per line (`#` comments allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOrderFile {
    pub path: PathBuf,
    pub names: Vec<String>,
}

impl LayerOrderFile {
    pub fn read(path: &std::path::Path) -> Result<Self, CheckpointError> {
        let err = |reason: String| CheckpointError::LayerOrder {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let names: Vec<String> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            return Err(err("names no layers; write one layer name per line".into()));
        }
        let set: BTreeSet<&String> = names.iter().collect();
        if set.len() != names.len() {
            return Err(err("names a layer twice".into()));
        }
        Ok(LayerOrderFile {
            path: path.to_path_buf(),
            names,
        })
    }
}

/// Settings for turning raw gates into importances.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportanceParams {
    /// Override of the detected gate kind (`--gate`).
    pub gate: Option<GateKind>,
    /// Drop filters with NaN/Inf gates instead of failing.
    pub allow_nonfinite: bool,
}

/// Filters removed by `--allow-nonfinite`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DroppedFilters {
    pub layer: String,
    pub filters: Vec<usize>,
}

/// Summary of the gate kinds of all layers after any override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateSummary {
    Uniform(GateKind),
    Mixed(Vec<(String, GateKind)>),
    /// Some layer's kind is not settled by the file.
    Undecided(Vec<String>),
}

impl std::fmt::Display for GateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateSummary::Uniform(g) => write!(f, "{g}"),
            GateSummary::Mixed(v) => {
                let s: BTreeSet<String> = v.iter().map(|(_, g)| g.to_string()).collect();
                write!(
                    f,
                    "mixed ({})",
                    s.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
            GateSummary::Undecided(_) => f.write_str("undecided"),
        }
    }
}

impl Gates {
    pub fn n_filters(&self) -> usize {
        self.layers.iter().map(GateLayer::filters).sum()
    }

    pub fn gate_summary(&self, override_gate: Option<GateKind>) -> GateSummary {
        if let Some(g) = override_gate {
            return GateSummary::Uniform(g);
        }
        let undecided: Vec<String> = self
            .layers
            .iter()
            .filter(|l| l.gate().is_none())
            .map(|l| l.name.clone())
            .collect();
        if !undecided.is_empty() {
            return GateSummary::Undecided(undecided);
        }
        let decided: Vec<(String, GateKind)> = self
            .layers
            .iter()
            .filter_map(|l| Some((l.name.clone(), l.gate()?)))
            .collect();
        let kinds: BTreeSet<&str> = decided.iter().map(|x| x.1.name()).collect();
        match (kinds.len(), decided.first()) {
            (1, Some((_, g))) => GateSummary::Uniform(*g),
            _ => GateSummary::Mixed(decided),
        }
    }

    /// Layers with a shift decide their gate kind together: one model uses
    /// one norm class, so a layer whose own values are unclear takes the
    /// kind the shifted layers' pooled values show. A layer whose own values
    /// decide keeps its kind (a contradiction then shows as mixed kinds).
    pub(crate) fn settle_shifted_layers(&mut self) {
        let pooled: Vec<f64> = self
            .layers
            .iter()
            .filter(|l| l.evidence.has_shift)
            .flat_map(|l| l.raw.to_f64().into_owned())
            .collect();
        if pooled.is_empty() {
            return;
        }
        let model = GateEvidence::from_values(&pooled, true);
        let Some(kind) = model.kind else { return };
        for l in self.layers.iter_mut() {
            if l.evidence.has_shift && l.evidence.kind.is_none() {
                l.evidence.kind = Some(kind);
                l.evidence.reason = format!(
                    "this layer's values alone do not decide; all shifted layers together: {}",
                    model.reason
                );
            }
        }
    }

    /// Refuses a matrix whose gate kinds are undecided or mixed, unless
    /// `--gate` names one.
    fn check_gate_kinds(&self, p: &ImportanceParams) -> Result<(), CheckpointError> {
        if p.gate.is_some() {
            return Ok(());
        }
        match self.gate_summary(None) {
            GateSummary::Uniform(_) => Ok(()),
            GateSummary::Undecided(layers) => Err(CheckpointError::GateUndecided {
                path: self.path.clone(),
                details: self
                    .layers
                    .iter()
                    .filter(|l| layers.contains(&l.name))
                    .take(3)
                    .map(|l| format!("'{}' {}", l.name, l.evidence.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            GateSummary::Mixed(v) => Err(CheckpointError::MixedGates {
                path: self.path.clone(),
                details: v
                    .iter()
                    .map(|(l, g)| format!("{l}: {g}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Frees the raw parameter values once the importance matrix is built
    /// (each layer keeps its shape, name, dtype and evidence), so a run
    /// holds one `T × F` matrix, not two. [`Gates::importance`] needs them:
    /// call it first.
    pub fn release_values(&mut self) {
        for l in &mut self.layers {
            l.raw.release();
        }
    }

    /// Dtypes of the gate tensors, e.g. `"F32"` or `"BF16, F32"`.
    pub fn dtypes(&self) -> String {
        let s: BTreeSet<String> = self
            .layers
            .iter()
            .map(|l| format!("{:?}", l.dtype))
            .collect();
        s.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// Applies the gate function and concatenates the layers into the
    /// `T × F` importance matrix. Non-finite gates are an error naming the
    /// layer, task and filter, or with `allow_nonfinite` their filters are
    /// dropped (a layer left without filters is dropped too).
    pub fn importance(
        &self,
        p: &ImportanceParams,
    ) -> Result<(ImportanceMatrix, Vec<DroppedFilters>), CheckpointError> {
        self.importance_reusing(p, Vec::new())
    }

    /// [`Gates::importance`] written into `storage` (a previous matrix's,
    /// from [`ImportanceMatrix::into_storage`]): a command that streams
    /// many runs of one shape then maps and zeroes the `T × F` values once,
    /// not once per run (at 500 × 100 800 that is 400 MB of fresh pages a
    /// run).
    pub fn importance_reusing(
        &self,
        p: &ImportanceParams,
        storage: Vec<f64>,
    ) -> Result<(ImportanceMatrix, Vec<DroppedFilters>), CheckpointError> {
        self.check_gate_kinds(p)?;
        let t = self.tasks.len();
        let total: usize = self.layers.iter().map(GateLayer::filters).sum();
        // Every column is computed in place (in parallel, in chunks of
        // columns); the rare columns with a non-finite value are found
        // afterwards and removed. The tables cost 65 536 sigmoids to build
        // (once per process): worth it from a CelebA-sized run (115 200
        // values) up, not for a handful of filters.
        let table = t * total >= TABLE_MIN_VALUES;
        // Every value is overwritten below: storage of the right length is
        // used as it is.
        let mut columns = storage;
        if columns.len() != t * total {
            columns.clear();
            columns.resize(t * total, 0.0);
        }
        {
            let mut rest = columns.as_mut_slice();
            for layer in &self.layers {
                let (mine, tail) = rest.split_at_mut(t * layer.filters());
                rest = tail;
                let gate = p.gate.or(layer.gate()).unwrap_or(GateKind::Sigmoid);
                layer.raw.apply_gate(gate, table, mine);
            }
        }
        let mut spans = Vec::new();
        let mut dropped = Vec::new();
        let mut start = 0;
        let mut read = 0;
        let mut write = 0;
        for layer in &self.layers {
            // Every gate function maps finite values to finite ones, so
            // only the raw values are checked, and a layer without a
            // non-finite value (one parallel scan) is kept whole.
            if !layer.raw.any_nonfinite() {
                let c = layer.filters();
                if write != read {
                    columns.copy_within(read..read + t * c, write);
                }
                read += t * c;
                write += t * c;
                if c > 0 {
                    spans.push(LayerSpan {
                        name: layer.name.clone(),
                        start,
                        len: c,
                    });
                    start += c;
                }
                continue;
            }
            let mut kept = 0;
            let mut bad = Vec::new();
            for c in 0..layer.filters() {
                read += t;
                if let Some((r, value)) = layer.raw.nonfinite_in_column(c) {
                    if !p.allow_nonfinite {
                        return Err(CheckpointError::NonFinite {
                            path: self.path.clone(),
                            layer: layer.name.clone(),
                            task: self.tasks[r].clone(),
                            filter: c,
                            value,
                        });
                    }
                    bad.push(c);
                    continue;
                }
                if write != read - t {
                    columns.copy_within(read - t..read, write);
                }
                write += t;
                kept += 1;
            }
            if !bad.is_empty() {
                dropped.push(DroppedFilters {
                    layer: layer.name.clone(),
                    filters: bad,
                });
            }
            if kept > 0 {
                spans.push(LayerSpan {
                    name: layer.name.clone(),
                    start,
                    len: kept,
                });
                start += kept;
            }
        }
        if start == 0 {
            return Err(CheckpointError::Importance {
                path: self.path.clone(),
                reason: "every filter has a non-finite gate; nothing is left to analyse".into(),
            });
        }
        columns.truncate(write);
        let data = DMatrix::from_vec(t, start, columns);
        let im = ImportanceMatrix::new(self.tasks.clone(), spans, data).map_err(|e| {
            CheckpointError::Importance {
                path: self.path.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok((im, dropped))
    }
}

/// The `t × c` column-major matrix of `rows` (row-major, `t` rows of `c`).
pub(crate) fn transpose_rows(rows: &[f64], t: usize, c: usize) -> DMatrix<f64> {
    DMatrix::from_vec(t, c, crate::importance::transpose_tiled(rows, t, c))
}

/// Importance matrices of at least this many values use the
/// half-precision tables.
const TABLE_MIN_VALUES: usize = 1 << 16;

/// Finds the task-specific norm layers of `ckpt`.
pub fn discover_gates(ckpt: &Checkpoint, p: &DiscoverParams) -> Result<Gates, CheckpointError> {
    let md = ckpt.metadata();
    let mtl_meta: BTreeMap<String, String> = md
        .iter()
        .filter(|(k, _)| k.starts_with("mtl."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stacked_by_meta =
        md.contains_key(stacked::KEY_LAYERS) || md.contains_key(stacked::KEY_FORMAT);
    let gates = if stacked_by_meta {
        stacked_layers::with_metadata(ckpt, p)?
    } else if let Some(g) = stacked_layers::without_metadata(ckpt, p)? {
        g
    } else {
        per_task::discover(ckpt, p)?
    };
    let mut gates = Gates {
        metadata: mtl_meta,
        ..gates
    };
    if let Some(f) = &p.layer_order {
        apply_layer_order(&mut gates, f)?;
    }
    Ok(gates)
}

/// Puts the layers in the order `--layer-order` gives; it must name each
/// discovered layer exactly once.
fn apply_layer_order(gates: &mut Gates, f: &LayerOrderFile) -> Result<(), CheckpointError> {
    let have: BTreeSet<&str> = gates.layers.iter().map(|l| l.name.as_str()).collect();
    let want: BTreeSet<&str> = f.names.iter().map(String::as_str).collect();
    if have != want {
        let missing: Vec<&str> = have.difference(&want).copied().collect();
        let unknown: Vec<&str> = want.difference(&have).copied().collect();
        return Err(CheckpointError::LayerOrder {
            path: f.path.clone(),
            reason: format!(
                "must name each gate layer of {} once: missing {missing:?}, unknown {unknown:?}",
                gates.path.display()
            ),
        });
    }
    let pos: BTreeMap<&str, usize> = f
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    gates
        .layers
        .sort_by_key(|l| pos.get(l.name.as_str()).copied());
    gates.order = LayerOrder::File(f.path.clone());
    Ok(())
}

pub(super) fn bad_meta(ckpt: &Checkpoint, key: &str, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::BadMetadata {
        path: ckpt.path().to_path_buf(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn json_list(
    ckpt: &Checkpoint,
    key: &str,
) -> Result<Option<Vec<String>>, CheckpointError> {
    match ckpt.metadata().get(key) {
        None => Ok(None),
        Some(v) => serde_json::from_str::<Vec<String>>(v)
            .map(Some)
            .map_err(|e| bad_meta(ckpt, key, format!("expected a JSON list of strings ({e})"))),
    }
}

/// A stacked `[rows, cols]` tensor (row-major) as a layer's values: half
/// precision kept as bit patterns, anything else decoded to f64.
pub(super) fn read_matrix(
    ckpt: &Checkpoint,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<GateValues, CheckpointError> {
    if let Some((dtype, bytes)) = ckpt.contiguous_bytes(name)?
        && let Some(kind) = Half::of(dtype)
        && cols > 0
        && bytes.len() == 2 * rows * cols
    {
        let rows: Vec<&[u8]> = bytes.chunks_exact(2 * cols.max(1)).take(rows).collect();
        return Ok(GateValues::from_half_rows(kind, &rows, cols));
    }
    let v = ckpt.read_f64(name)?;
    Ok(GateValues::Wide(DMatrix::from_row_slice(rows, cols, &v)))
}

pub(super) fn check_float(
    ckpt: &Checkpoint,
    name: &str,
    dtype: Dtype,
) -> Result<(), CheckpointError> {
    if super::dtype::is_float(dtype) {
        Ok(())
    } else {
        Err(CheckpointError::UnsupportedDtype {
            path: ckpt.path().to_path_buf(),
            tensor: name.to_string(),
            dtype: format!("{dtype:?}"),
        })
    }
}

pub(super) fn layer_kept(p: &DiscoverParams, layer: &str) -> bool {
    p.layers.as_ref().is_none_or(|r| r.is_match(layer))
}

/// Every tensor of a stacked checkpoint that is not a used gate, with why.
pub(super) fn stacked_ignored(
    ckpt: &Checkpoint,
    layers: &[String],
    used: &BTreeSet<String>,
) -> Vec<IgnoredTensor> {
    ckpt.tensor_names()
        .into_iter()
        .filter_map(|n| {
            let meta = ckpt.tensor(n)?;
            let reason = match StackedParam::parse(n) {
                Some((l, StackedParam::Gamma)) if used.contains(l) => return None,
                Some((l, param)) if used.contains(l) => stacked_reason(param),
                Some((l, _)) if layers.iter().any(|x| x == l) => IgnoreReason::ExcludedByFilter,
                _ => IgnoreReason::NotPerTaskNorm,
            };
            Some(IgnoredTensor {
                name: n.to_string(),
                shape: meta.shape.clone(),
                reason,
            })
        })
        .collect()
}

pub(super) fn stacked_reason(param: StackedParam) -> IgnoreReason {
    match param {
        StackedParam::Gamma => IgnoreReason::LayerTensor,
        StackedParam::Beta => IgnoreReason::Shift,
        StackedParam::RunningMean | StackedParam::RunningVar => IgnoreReason::RunningStatistic,
    }
}

/// Task names for `t` rows when the checkpoint itself names none.
pub(super) fn names_from_file_or_default(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
    t: usize,
) -> Result<(Vec<String>, TaskSource), CheckpointError> {
    match &p.tasks {
        Some(f) if f.names.len() != t => Err(CheckpointError::TasksFile {
            path: f.path.clone(),
            reason: format!(
                "has {} task names but {} has {t} tasks per layer; give one name per task, in the checkpoint's task order",
                f.names.len(),
                ckpt.path().display()
            ),
        }),
        Some(f) => Ok((f.names.clone(), TaskSource::TasksFile(f.path.clone()))),
        None => Ok((
            (0..t).map(|i| format!("task_{i}")).collect(),
            TaskSource::Default,
        )),
    }
}

pub(super) fn parse_gate(s: &str) -> Option<GateKind> {
    match s {
        "sigmoid" => Some(GateKind::Sigmoid),
        "abs" => Some(GateKind::Abs),
        "identity" => Some(GateKind::Identity),
        _ => None,
    }
}

pub(super) fn no_layers(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
    candidates: &[String],
) -> CheckpointError {
    let hint = match (&p.layers, candidates.is_empty()) {
        (Some(r), false) => format!(
            "; --layers '{}' matched none of the {} candidate layers ({})",
            r.as_str(),
            candidates.len(),
            candidates
                .iter()
                .take(6)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let shared: Vec<&str> = ckpt
                .tensor_names()
                .into_iter()
                .filter(|n| {
                    n.ends_with(".weight") && ckpt.tensor(n).is_some_and(|m| m.shape.len() == 1)
                })
                .collect();
            if shared.is_empty() {
                String::new()
            } else {
                format!(
                    "; it has {} shared 1-D norm weights (e.g. '{}') but no per-task ones, as a hard-parameter-sharing model would",
                    shared.len(),
                    shared[0]
                )
            }
        }
    };
    CheckpointError::NoNormLayers {
        path: ckpt.path().to_path_buf(),
        n_tensors: ckpt.len(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_transpose() {
        let (t, c) = (70, 131);
        let rows: Vec<f64> = (0..t * c).map(|k| k as f64).collect();
        let m = transpose_rows(&rows, t, c);
        for r in 0..t {
            for col in 0..c {
                assert_eq!(m[(r, col)], rows[r * c + col]);
            }
        }
    }
}
