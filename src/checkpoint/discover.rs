//! Discovery of task-specific norm layers: [`Checkpoint`] → [`Gates`].
//!
//! Three layouts are recognised without configuration (README,
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

use super::names::{NormParam, TaskKey, natural_cmp, parse_per_task};
use super::stacked::{self, StackedParam};
use super::tasks_file::TaskNames;
use super::{Checkpoint, CheckpointError};
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
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::RunningStatistic => f.write_str("running statistic"),
            IgnoreReason::Counter => f.write_str("batch counter"),
            IgnoreReason::Shift => f.write_str("shift (bias) of an affine per-task norm"),
            IgnoreReason::LayerTensor => f.write_str("per-task tensor other than the gate"),
            IgnoreReason::NotPerTaskNorm => f.write_str("not a per-task norm parameter"),
            IgnoreReason::ExcludedByFilter => f.write_str("layer excluded by --layers"),
            IgnoreReason::OtherKeys(k) => write!(f, "per-module group keyed by {k}, not the tasks"),
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
    /// Gate kind implied by the layer's parameters (bias present → abs).
    pub gate: GateKind,
    pub dtype: Dtype,
    /// Raw parameters (γ), row `t` = task `t`.
    pub raw: DMatrix<f64>,
}

impl GateLayer {
    pub fn filters(&self) -> usize {
        self.raw.ncols()
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
}

/// Settings for discovery, checked at the edge (CLI).
#[derive(Debug, Clone, Default)]
pub struct DiscoverParams {
    /// Keep only layers whose name matches.
    pub layers: Option<Regex>,
    /// Task names from `--tasks`.
    pub tasks: Option<TaskNames>,
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
        let kinds: BTreeSet<&str> = self.layers.iter().map(|l| l.gate.name()).collect();
        match (kinds.len(), self.layers.first()) {
            (1, Some(l)) => GateSummary::Uniform(l.gate),
            _ => GateSummary::Mixed(
                self.layers
                    .iter()
                    .map(|l| (l.name.clone(), l.gate))
                    .collect(),
            ),
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
        let t = self.tasks.len();
        let mut columns: Vec<f64> = Vec::new();
        let mut spans = Vec::new();
        let mut dropped = Vec::new();
        let mut start = 0;
        for layer in &self.layers {
            let gate = p.gate.unwrap_or(layer.gate);
            let mut kept = 0;
            let mut bad = Vec::new();
            for c in 0..layer.filters() {
                let col: Vec<f64> = (0..t).map(|r| gate.apply(layer.raw[(r, c)])).collect();
                if let Some(r) =
                    (0..t).find(|&r| !col[r].is_finite() || !layer.raw[(r, c)].is_finite())
                {
                    if !p.allow_nonfinite {
                        return Err(CheckpointError::NonFinite {
                            path: self.path.clone(),
                            layer: layer.name.clone(),
                            task: self.tasks[r].clone(),
                            filter: c,
                            value: layer.raw[(r, c)],
                        });
                    }
                    bad.push(c);
                    continue;
                }
                columns.extend(col);
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
        let data = DMatrix::from_column_slice(t, start, &columns);
        let im = ImportanceMatrix::new(self.tasks.clone(), spans, data).map_err(|e| {
            CheckpointError::Importance {
                path: self.path.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok((im, dropped))
    }
}

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
        discover_stacked_with_metadata(ckpt, p)?
    } else if let Some(g) = discover_stacked_without_metadata(ckpt, p)? {
        g
    } else {
        discover_per_task(ckpt, p)?
    };
    Ok(Gates {
        metadata: mtl_meta,
        ..gates
    })
}

fn bad_meta(ckpt: &Checkpoint, key: &str, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::BadMetadata {
        path: ckpt.path().to_path_buf(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn json_list(ckpt: &Checkpoint, key: &str) -> Result<Option<Vec<String>>, CheckpointError> {
    match ckpt.metadata().get(key) {
        None => Ok(None),
        Some(v) => serde_json::from_str::<Vec<String>>(v)
            .map(Some)
            .map_err(|e| bad_meta(ckpt, key, format!("expected a JSON list of strings ({e})"))),
    }
}

fn read_matrix(
    ckpt: &Checkpoint,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<DMatrix<f64>, CheckpointError> {
    let v = ckpt.read_f64(name)?;
    // Stored row-major [rows, cols].
    Ok(DMatrix::from_row_slice(rows, cols, &v))
}

fn check_float(ckpt: &Checkpoint, name: &str, dtype: Dtype) -> Result<(), CheckpointError> {
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

fn layer_kept(p: &DiscoverParams, layer: &str) -> bool {
    p.layers.as_ref().is_none_or(|r| r.is_match(layer))
}

/// Every tensor of a stacked checkpoint that is not a used gate, with why.
fn stacked_ignored(
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

fn stacked_reason(param: StackedParam) -> IgnoreReason {
    match param {
        StackedParam::Gamma => IgnoreReason::LayerTensor,
        StackedParam::Beta => IgnoreReason::Shift,
        StackedParam::RunningMean | StackedParam::RunningVar => IgnoreReason::RunningStatistic,
    }
}

/// Task names for `t` rows when the checkpoint itself names none.
fn names_from_file_or_default(
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

fn discover_stacked_with_metadata(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
) -> Result<Gates, CheckpointError> {
    let md = ckpt.metadata();
    if let Some(f) = md.get(stacked::KEY_FORMAT)
        && f != stacked::FORMAT_NAME
    {
        return Err(bad_meta(
            ckpt,
            stacked::KEY_FORMAT,
            format!("unknown format '{f}', expected '{}'", stacked::FORMAT_NAME),
        ));
    }
    if let Some(v) = md.get(stacked::KEY_VERSION) {
        match v.parse::<u32>() {
            Ok(n) if n <= stacked::FORMAT_VERSION => {}
            Ok(n) => {
                return Err(bad_meta(
                    ckpt,
                    stacked::KEY_VERSION,
                    format!(
                        "format version {n} is newer than this mtl-inspect reads ({}); upgrade mtl-inspect",
                        stacked::FORMAT_VERSION
                    ),
                ));
            }
            Err(_) => {
                return Err(bad_meta(
                    ckpt,
                    stacked::KEY_VERSION,
                    format!("'{v}' is not a version number"),
                ));
            }
        }
    }
    let layers = json_list(ckpt, stacked::KEY_LAYERS)?.ok_or_else(|| {
        bad_meta(
            ckpt,
            stacked::KEY_LAYERS,
            "missing: the stacked format needs the layer list",
        )
    })?;
    let meta_tasks = json_list(ckpt, stacked::KEY_TASKS)?;
    let gate_override = match md.get(stacked::KEY_GATE) {
        None => None,
        Some(g) => Some(parse_gate(g).ok_or_else(|| {
            bad_meta(
                ckpt,
                stacked::KEY_GATE,
                format!("'{g}' is not one of sigmoid, abs, identity"),
            )
        })?),
    };
    let mut notes = Vec::new();
    let mut out_layers = Vec::new();
    let mut t_found: Option<usize> = meta_tasks.as_ref().map(Vec::len);
    let mut used: BTreeSet<String> = BTreeSet::new();
    for layer in &layers {
        let gname = StackedParam::Gamma.tensor_name(layer);
        let meta = ckpt
            .tensor(&gname)
            .ok_or_else(|| CheckpointError::BadLayer {
                path: ckpt.path().to_path_buf(),
                layer: layer.clone(),
                reason: format!(
                    "listed in {} but tensor '{gname}' is missing",
                    stacked::KEY_LAYERS
                ),
            })?;
        if !layer_kept(p, layer) {
            continue;
        }
        check_float(ckpt, &gname, meta.dtype)?;
        let [t, c] = meta.shape[..] else {
            return Err(CheckpointError::BadLayer {
                path: ckpt.path().to_path_buf(),
                layer: layer.clone(),
                reason: format!(
                    "'{gname}' has shape {:?}; the stacked format needs [tasks, filters]",
                    meta.shape
                ),
            });
        };
        match t_found {
            Some(tf) if tf != t => {
                return Err(CheckpointError::InconsistentTasks {
                    path: ckpt.path().to_path_buf(),
                    details: format!(
                        "'{gname}' has {t} rows but {} names {tf} tasks",
                        if meta_tasks.is_some() {
                            stacked::KEY_TASKS
                        } else {
                            "an earlier layer"
                        }
                    ),
                });
            }
            _ => t_found = Some(t),
        }
        let has_beta = ckpt
            .tensor(&StackedParam::Beta.tensor_name(layer))
            .is_some();
        let gate = gate_override.unwrap_or(if has_beta {
            GateKind::Abs
        } else {
            GateKind::Sigmoid
        });
        let raw = read_matrix(ckpt, &gname, t, c)?;
        used.insert(layer.clone());
        out_layers.push(GateLayer {
            name: layer.clone(),
            gate,
            dtype: meta.dtype,
            raw,
        });
    }
    if out_layers.is_empty() {
        return Err(no_layers(ckpt, p, &layers));
    }
    let t = t_found.unwrap_or(0);
    let (tasks, task_source) = match meta_tasks {
        Some(names) => {
            if p.tasks.is_some() {
                notes.push(format!(
                    "--tasks ignored: {} names the tasks",
                    stacked::KEY_TASKS
                ));
            }
            (names, TaskSource::Metadata)
        }
        None => names_from_file_or_default(ckpt, p, t)?,
    };
    let ignored = stacked_ignored(ckpt, &layers, &used);
    Ok(Gates {
        path: ckpt.path().to_path_buf(),
        layout: Layout::Stacked,
        tasks,
        task_source,
        layers: out_layers,
        ignored,
        metadata: BTreeMap::new(),
        notes,
    })
}

/// `<layer>.gamma` tensors of shape `[T, C]` with one `T`, without metadata.
fn discover_stacked_without_metadata(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
) -> Result<Option<Gates>, CheckpointError> {
    let mut layers: Vec<(String, usize, usize, Dtype)> = Vec::new();
    for n in ckpt.tensor_names() {
        if let (Some((l, StackedParam::Gamma)), Some(m)) = (StackedParam::parse(n), ckpt.tensor(n))
            && let [t, c] = m.shape[..]
            && super::dtype::is_float(m.dtype)
        {
            layers.push((l.to_string(), t, c, m.dtype));
        }
    }
    if layers.is_empty() {
        return Ok(None);
    }
    let ts: BTreeSet<usize> = layers.iter().map(|x| x.1).collect();
    if ts.len() != 1 {
        return Ok(None);
    }
    let all_names: Vec<String> = layers.iter().map(|x| x.0.clone()).collect();
    layers.retain(|x| layer_kept(p, &x.0));
    if layers.is_empty() {
        return Err(no_layers(ckpt, p, &all_names));
    }
    let t = layers[0].1;
    let (tasks, task_source) = names_from_file_or_default(ckpt, p, t)?;
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for (l, t, c, dtype) in &layers {
        let has_beta = ckpt.tensor(&StackedParam::Beta.tensor_name(l)).is_some();
        let raw = read_matrix(ckpt, &StackedParam::Gamma.tensor_name(l), *t, *c)?;
        used.insert(l.clone());
        out.push(GateLayer {
            name: l.clone(),
            gate: if has_beta {
                GateKind::Abs
            } else {
                GateKind::Sigmoid
            },
            dtype: *dtype,
            raw,
        });
    }
    let ignored = stacked_ignored(ckpt, &all_names, &used);
    Ok(Some(Gates {
        path: ckpt.path().to_path_buf(),
        layout: Layout::Stacked,
        tasks,
        task_source,
        layers: out,
        ignored,
        metadata: BTreeMap::new(),
        notes: vec![format!(
            "no {} metadata: layers in natural order of their names",
            stacked::KEY_LAYERS
        )],
    }))
}

/// The chosen layout, its layers `(name, filters)`, and the ModuleDict keys.
type Selection<'a> = (Layout, Vec<(&'a str, usize)>, Option<Vec<&'a str>>);

/// Parameters of one module `<layer>.<key>`.
#[derive(Debug, Default)]
struct Module<'a> {
    params: BTreeMap<NormParam, &'a str>,
}

fn discover_per_task(ckpt: &Checkpoint, p: &DiscoverParams) -> Result<Gates, CheckpointError> {
    // layer -> key -> module
    let mut groups: BTreeMap<&str, BTreeMap<TaskKey<'_>, Module<'_>>> = BTreeMap::new();
    let names = ckpt.tensor_names();
    for &n in &names {
        if let Some(pt) = parse_per_task(n) {
            groups
                .entry(pt.layer)
                .or_default()
                .entry(pt.key)
                .or_default()
                .params
                .insert(pt.param, n);
        }
    }
    // A group is a candidate per-task layer when every module is norm-like:
    // a 1-D weight, all vectors of one length C, the same parameters in each.
    let mut list_layers: Vec<(&str, usize, usize)> = Vec::new(); // (layer, T, C)
    let mut dict_layers: Vec<(&str, Vec<&str>, usize)> = Vec::new();
    for (layer, modules) in &groups {
        let Some(c) = norm_like(ckpt, modules) else {
            continue;
        };
        let keys: Vec<TaskKey> = modules.keys().copied().collect();
        if keys.iter().all(|k| matches!(k, TaskKey::Index(_))) {
            let idx: Vec<usize> = keys
                .iter()
                .filter_map(|k| match k {
                    TaskKey::Index(i) => Some(*i),
                    _ => None,
                })
                .collect();
            // A Sequential with norms at scattered indices is not a per-task list.
            if idx.len() >= 2 && idx.iter().enumerate().all(|(i, &k)| i == k) {
                list_layers.push((layer, idx.len(), c));
            }
        } else if keys.iter().all(|k| matches!(k, TaskKey::Name(_))) && keys.len() >= 2 {
            let mut k: Vec<&str> = keys
                .iter()
                .filter_map(|k| match k {
                    TaskKey::Name(n) => Some(*n),
                    _ => None,
                })
                .collect();
            k.sort_by(|a, b| natural_cmp(a, b));
            dict_layers.push((layer, k, c));
        }
    }
    let candidates: Vec<String> = list_layers
        .iter()
        .map(|x| x.0.to_string())
        .chain(dict_layers.iter().map(|x| x.0.to_string()))
        .collect();
    let mut notes = Vec::new();
    let mut other_keys: BTreeMap<&str, String> = BTreeMap::new();
    let (layout, chosen, dict_keys): Selection<'_> = if !list_layers.is_empty() {
        for (l, k, _) in &dict_layers {
            other_keys.insert(l, format!("{{{}}}", k.join(", ")));
        }
        let kept: Vec<_> = list_layers.iter().filter(|x| layer_kept(p, x.0)).collect();
        let ts: BTreeSet<usize> = kept.iter().map(|x| x.1).collect();
        if ts.len() > 1 {
            let details = kept
                .iter()
                .map(|x| format!("{} has {}", x.0, x.1))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CheckpointError::InconsistentTasks {
                path: ckpt.path().to_path_buf(),
                details,
            });
        }
        (
            Layout::ModuleList,
            kept.iter().map(|x| (x.0, x.2)).collect(),
            None,
        )
    } else if !dict_layers.is_empty() {
        let kept: Vec<_> = dict_layers.iter().filter(|x| layer_kept(p, x.0)).collect();
        // The task set is the key set shared by most layers; other groups
        // (e.g. `block.norm1`/`block.norm2`) are not task-keyed.
        let mut counts: BTreeMap<&Vec<&str>, usize> = BTreeMap::new();
        for x in &kept {
            *counts.entry(&x.1).or_default() += 1;
        }
        let best = counts
            .iter()
            .max_by(|a, b| {
                a.1.cmp(b.1)
                    .then(a.0.len().cmp(&b.0.len()))
                    .then(b.0.cmp(a.0))
            })
            .map(|(k, _)| (*k).clone());
        match best {
            None => (Layout::ModuleDict, Vec::new(), None),
            Some(keys) => {
                let mut chosen = Vec::new();
                for x in &kept {
                    if x.1 == keys {
                        chosen.push((x.0, x.2));
                    } else {
                        other_keys.insert(x.0, format!("{{{}}}", x.1.join(", ")));
                    }
                }
                if !other_keys.is_empty() {
                    notes.push(format!(
                        "{} module group(s) keyed differently from the tasks were left out (see ignored tensors)",
                        other_keys.len()
                    ));
                }
                (Layout::ModuleDict, chosen, Some(keys))
            }
        }
    } else {
        (Layout::ModuleList, Vec::new(), None)
    };
    if chosen.is_empty() {
        return Err(no_layers(ckpt, p, &candidates));
    }
    let t = match &dict_keys {
        Some(k) => k.len(),
        None => groups.get(chosen[0].0).map_or(0, BTreeMap::len),
    };
    // Task names and the row order they imply.
    let (tasks, task_source, row_keys): (Vec<String>, TaskSource, Vec<TaskKey>) = match &dict_keys {
        Some(keys) => match &p.tasks {
            Some(f) => {
                let file: BTreeSet<&str> = f.names.iter().map(String::as_str).collect();
                let have: BTreeSet<&str> = keys.iter().copied().collect();
                if file != have {
                    let missing: Vec<&str> = have.difference(&file).copied().collect();
                    let extra: Vec<&str> = file.difference(&have).copied().collect();
                    return Err(CheckpointError::TasksFile {
                        path: f.path.clone(),
                        reason: format!(
                            "names do not match the ModuleDict keys of {}: missing {:?}, unknown {:?}; the file can only reorder a ModuleDict's tasks",
                            ckpt.path().display(),
                            missing,
                            extra
                        ),
                    });
                }
                (
                    f.names.clone(),
                    TaskSource::TasksFile(f.path.clone()),
                    f.names.iter().map(|n| TaskKey::Name(n.as_str())).collect(),
                )
            }
            None => (
                keys.iter().map(|k| k.to_string()).collect(),
                TaskSource::ModuleDictKeys,
                keys.iter().map(|k| TaskKey::Name(k)).collect(),
            ),
        },
        None => {
            let (n, s) = names_from_file_or_default(ckpt, p, t)?;
            (n, s, (0..t).map(TaskKey::Index).collect())
        }
    };
    let mut layers = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut chosen = chosen;
    chosen.sort_by(|a, b| natural_cmp(a.0, b.0));
    for (layer, c) in &chosen {
        let modules = &groups[layer];
        let mut raw = DMatrix::zeros(t, *c);
        let mut dtype = Dtype::F32;
        let mut all_bias = true;
        let mut any_bias = false;
        for (r, key) in row_keys.iter().enumerate() {
            let m = modules.get(key).ok_or_else(|| CheckpointError::BadLayer {
                path: ckpt.path().to_path_buf(),
                layer: layer.to_string(),
                reason: format!("no module for task key '{}'", key.to_string_key()),
            })?;
            let w = m.params.get(&NormParam::Weight).copied().ok_or_else(|| {
                CheckpointError::BadLayer {
                    path: ckpt.path().to_path_buf(),
                    layer: layer.to_string(),
                    reason: format!("module '{}' has no weight", key.to_string_key()),
                }
            })?;
            if let Some(meta) = ckpt.tensor(w) {
                check_float(ckpt, w, meta.dtype)?;
                dtype = meta.dtype;
            }
            let v = ckpt.read_f64(w)?;
            for (cidx, x) in v.iter().enumerate().take(*c) {
                raw[(r, cidx)] = *x;
            }
            let b = m.params.contains_key(&NormParam::Bias);
            all_bias &= b;
            any_bias |= b;
        }
        if any_bias && !all_bias {
            notes.push(format!(
                "layer '{layer}': only some tasks have a bias; read as affine (|weight|)"
            ));
        }
        used.insert(layer);
        layers.push(GateLayer {
            name: layer.to_string(),
            gate: if any_bias {
                GateKind::Abs
            } else {
                GateKind::Sigmoid
            },
            dtype,
            raw,
        });
    }
    let candidate_set: BTreeSet<&str> = candidates.iter().map(String::as_str).collect();
    let ignored = names
        .iter()
        .filter_map(|&n| {
            let meta = ckpt.tensor(n)?;
            let reason = match parse_per_task(n) {
                Some(pt) if used.contains(pt.layer) => match pt.param {
                    NormParam::Weight => return None,
                    NormParam::Bias => IgnoreReason::Shift,
                    NormParam::RunningMean | NormParam::RunningVar => {
                        IgnoreReason::RunningStatistic
                    }
                    NormParam::NumBatchesTracked => IgnoreReason::Counter,
                },
                Some(pt) if other_keys.contains_key(pt.layer) => {
                    IgnoreReason::OtherKeys(other_keys[pt.layer].clone())
                }
                Some(pt) if candidate_set.contains(pt.layer) => IgnoreReason::ExcludedByFilter,
                _ => IgnoreReason::NotPerTaskNorm,
            };
            Some(IgnoredTensor {
                name: n.to_string(),
                shape: meta.shape.clone(),
                reason,
            })
        })
        .collect();
    Ok(Gates {
        path: ckpt.path().to_path_buf(),
        layout,
        tasks,
        task_source,
        layers,
        ignored,
        metadata: BTreeMap::new(),
        notes,
    })
}

/// `Some(C)` if every module of the group is a norm with `C` filters.
fn norm_like(ckpt: &Checkpoint, modules: &BTreeMap<TaskKey<'_>, Module<'_>>) -> Option<usize> {
    let mut c: Option<usize> = None;
    let mut param_set: Option<Vec<NormParam>> = None;
    for m in modules.values() {
        m.params.get(&NormParam::Weight)?;
        let ps: Vec<NormParam> = m.params.keys().copied().collect();
        if param_set.as_ref().is_some_and(|s| *s != ps) {
            return None;
        }
        param_set = Some(ps);
        for (param, name) in &m.params {
            let meta = ckpt.tensor(name)?;
            if *param == NormParam::NumBatchesTracked {
                continue;
            }
            let [n] = meta.shape[..] else { return None };
            if c.is_some_and(|c| c != n) || !super::dtype::is_float(meta.dtype) {
                return None;
            }
            c = Some(n);
        }
    }
    c.filter(|&c| c > 0)
}

fn parse_gate(s: &str) -> Option<GateKind> {
    match s {
        "sigmoid" => Some(GateKind::Sigmoid),
        "abs" => Some(GateKind::Abs),
        "identity" => Some(GateKind::Identity),
        _ => None,
    }
}

fn no_layers(ckpt: &Checkpoint, p: &DiscoverParams, candidates: &[String]) -> CheckpointError {
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
