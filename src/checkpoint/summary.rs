//! What `inspect` shows about a checkpoint: a serializable summary of
//! [`Gates`] (layout, dtypes, gate kind, tasks, layers, ignored tensors).

use std::collections::BTreeMap;

use super::Checkpoint;
use super::discover::{Gates, IgnoreReason, Layout, TaskSource};
use crate::importance::GateKind;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerSummary {
    pub layer: String,
    pub filters: usize,
    pub dtype: String,
    pub gate: GateKind,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IgnoredSummary {
    pub tensor: String,
    pub shape: Vec<usize>,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointSummary {
    pub file: String,
    pub bytes: usize,
    pub tensors: usize,
    pub layout: Layout,
    pub dtype: String,
    pub gate: String,
    /// How the gate kind was chosen, in words.
    pub gate_note: String,
    pub tasks: Vec<String>,
    pub task_source: TaskSource,
    pub filters: usize,
    pub layers: Vec<LayerSummary>,
    pub ignored: Vec<IgnoredSummary>,
    pub metadata: BTreeMap<String, String>,
    pub notes: Vec<String>,
}

impl CheckpointSummary {
    pub fn new(ckpt: &Checkpoint, gates: &Gates, gate_override: Option<GateKind>) -> Self {
        let summary = gates.gate_summary(gate_override);
        let gate_note = match (gate_override, &summary) {
            (Some(g), _) => format!("importance = {} (set by --gate)", formula(g)),
            (None, super::discover::GateSummary::Uniform(GateKind::Abs)) => {
                "affine TSBN detected (bias present): importance = |weight|".to_string()
            }
            (None, super::discover::GateSummary::Uniform(g)) => {
                format!("σBN detected (no bias): importance = {}", formula(*g))
            }
            (None, super::discover::GateSummary::Mixed(_)) => {
                "layers differ: sigmoid(weight) where there is no bias, |weight| where there is"
                    .to_string()
            }
        };
        let reason = |r: &IgnoreReason| r.to_string();
        CheckpointSummary {
            file: ckpt.path().display().to_string(),
            bytes: ckpt.file_len(),
            tensors: ckpt.len(),
            layout: gates.layout,
            dtype: gates.dtypes(),
            gate: summary.to_string(),
            gate_note,
            tasks: gates.tasks.clone(),
            task_source: gates.task_source.clone(),
            filters: gates.n_filters(),
            layers: gates
                .layers
                .iter()
                .map(|l| LayerSummary {
                    layer: l.name.clone(),
                    filters: l.filters(),
                    dtype: format!("{:?}", l.dtype),
                    gate: gate_override.unwrap_or(l.gate),
                })
                .collect(),
            ignored: gates
                .ignored
                .iter()
                .map(|i| IgnoredSummary {
                    tensor: i.name.clone(),
                    shape: i.shape.clone(),
                    reason: reason(&i.reason),
                })
                .collect(),
            metadata: gates.metadata.clone(),
            notes: gates.notes.clone(),
        }
    }
}

fn formula(g: GateKind) -> &'static str {
    match g {
        GateKind::Sigmoid => "sigmoid(weight)",
        GateKind::Abs => "|weight|",
        GateKind::Identity => "weight",
    }
}

impl CheckpointSummary {
    /// Where the task names came from, in words.
    pub fn task_source_text(&self) -> String {
        match &self.task_source {
            TaskSource::Metadata => "from metadata mtl.tasks".into(),
            TaskSource::TasksFile(p) => format!("from {}", p.display()),
            TaskSource::ModuleDictKeys => "from ModuleDict keys".into(),
            TaskSource::Default => "unnamed: pass --tasks FILE to name them".into(),
        }
    }
}
