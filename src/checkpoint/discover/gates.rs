//! What discovery finds in a checkpoint: the task-specific [`Gates`] (one
//! [`GateLayer`] of raw `T × C` parameters per norm layer, in depth order),
//! where the task names came from, what was ignored and why, and the
//! settings that steer it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use regex::Regex;
use safetensors::tensor::Dtype;

use super::evidence::{GateEvidence, LayerOrder};
use super::values::GateValues;
use crate::checkpoint::error::CheckpointError;
use crate::checkpoint::tasks_file::TaskNames;
use crate::importance::GateKind;

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
}
