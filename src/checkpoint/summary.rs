//! What `inspect` shows about a checkpoint: a serializable summary of
//! [`Gates`] (layout, dtypes, gate kind, tasks, layers, ignored tensors)
//! and of every reading decision with its evidence (format, wrapper key,
//! prefix, gate kind, task set, layer order).

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use super::Checkpoint;
use super::discover::{
    GateEvidence, GateSummary, Gates, IgnoreReason, LayerOrder, Layout, TaskSource,
};
use super::format::{FileFormat, Skipped, WrapperChoice};
use crate::importance::GateKind;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerSummary {
    pub layer: String,
    pub filters: usize,
    pub dtype: String,
    /// The gate kind used (`null`: undecided, pass --gate).
    pub gate: Option<GateKind>,
    /// The evidence the kind was decided from.
    pub gate_evidence: GateEvidence,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IgnoredSummary {
    pub tensor: String,
    pub shape: Vec<usize>,
    pub reason: String,
}

/// Every reading decision that could be wrong, with its evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decisions {
    pub format: FileFormat,
    /// Where the state_dict was found in a pickled checkpoint.
    pub wrapper: WrapperChoice,
    /// Prefix stripped from every tensor name, if any.
    pub prefix: Option<String>,
    pub layer_order: LayerOrder,
    /// Entries of the file that are not readable tensors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
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
    pub decisions: Decisions,
    pub ignored: Vec<IgnoredSummary>,
    pub metadata: BTreeMap<String, String>,
    pub notes: Vec<String>,
}

impl CheckpointSummary {
    pub fn new(ckpt: &Checkpoint, gates: &Gates, gate_override: Option<GateKind>) -> Self {
        let summary = gates.gate_summary(gate_override);
        let gate_note = match (gate_override, &summary) {
            (Some(g), _) => format!("importance = {} (set by --gate)", formula(g)),
            (None, GateSummary::Uniform(g)) => {
                let reasons: BTreeSet<&str> = gates
                    .layers
                    .iter()
                    .map(|l| l.evidence.reason.as_str())
                    .collect();
                if reasons.len() == 1 {
                    reasons.into_iter().next().unwrap_or_default().to_string()
                } else {
                    format!(
                        "importance = {} in every layer (per-layer evidence below)",
                        formula(*g)
                    )
                }
            }
            (None, GateSummary::Mixed(_)) => {
                "layers differ in gate kind (per-layer evidence below); analyses refuse to mix them: pass --gate sigmoid|abs or --layers REGEX".to_string()
            }
            (None, GateSummary::Undecided(l)) => format!(
                "not settled by the file for {} layer(s) (evidence below); analyses refuse until you pass --gate sigmoid (σBN logits) or --gate abs (affine scale)",
                l.len()
            ),
        };
        let reason = |r: &IgnoreReason| r.to_string();
        let reading = ckpt.reading();
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
                    gate: gate_override.or(l.gate()),
                    gate_evidence: l.evidence.clone(),
                })
                .collect(),
            decisions: Decisions {
                format: reading.format.clone(),
                wrapper: reading.wrapper.clone(),
                prefix: reading.prefix.clone(),
                layer_order: gates.order.clone(),
                skipped: reading.skipped.clone(),
                detail: reading.detail.clone(),
            },
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

    /// The reading decisions as (what, decision and evidence) lines.
    pub fn decision_lines(&self) -> Vec<(&'static str, String)> {
        let d = &self.decisions;
        let mut v = vec![(
            "format",
            if d.detail.is_empty() {
                d.format.to_string()
            } else {
                format!("{} ({})", d.format, d.detail)
            },
        )];
        v.push((
            "wrapper",
            match &d.wrapper {
                WrapperChoice::Bare { why } => format!("none: {why}"),
                WrapperChoice::Key { key, why } => format!("'{key}': {why}"),
            },
        ));
        v.push((
            "prefix",
            match &d.prefix {
                Some(p) => format!(
                    "'{p}' stripped: every tensor name starts with it (DataParallel 'module.', torch.compile '_orig_mod.', Lightning 'model.')"
                ),
                None => "none stripped".into(),
            },
        ));
        v.push(("gate", format!("{} — {}", self.gate, self.gate_note)));
        v.push((
            "tasks",
            format!(
                "{} ({}, layout {})",
                self.tasks.len(),
                self.task_source_text(),
                self.layout
            ),
        ));
        v.push(("order", d.layer_order.to_string()));
        v
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
