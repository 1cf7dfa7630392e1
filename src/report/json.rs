//! The JSON envelopes of the commands' results, for every front end: a
//! result beside the provenance of its checkpoint(s) (the CLI's
//! `--format json`), and the several-runs capacity result. Python prints
//! the result alone ([`WithCheckpoint::result`]'s value), the CLI the
//! whole envelope.

use serde::Serialize;

use crate::GateKind;
use crate::analysis::across_runs::CapacityAcrossRuns;
use crate::analysis::capacity::CapacityReport;
use crate::checkpoint::summary::Decisions;
use crate::importance::from_gates::DroppedFilters;
use crate::runs::Run;

/// Where a result came from and how it was read.
#[derive(Debug, Serialize)]
pub struct Source {
    pub file: String,
    pub layout: String,
    pub dtype: String,
    pub gate: String,
    pub gate_note: String,
    /// Per layer: the gate kind used and the evidence it was decided from.
    pub gate_evidence: Vec<LayerGate>,
    /// Format, wrapper key, prefix and layer order, with evidence.
    pub decisions: Decisions,
    pub tasks: usize,
    pub layers: usize,
    pub filters: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_nonfinite: Vec<DroppedFilters>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One layer's gate kind and why.
#[derive(Debug, Serialize)]
pub struct LayerGate {
    pub layer: String,
    pub gate: Option<GateKind>,
    pub reason: String,
}

impl Source {
    /// The provenance of `run`, read with this `--gate` override.
    pub fn of(run: &Run, gate_override: Option<GateKind>) -> Source {
        let sum = run.summary(gate_override);
        Source {
            gate_evidence: sum
                .layers
                .iter()
                .map(|l| LayerGate {
                    layer: l.layer.clone(),
                    gate: l.gate,
                    reason: l.gate_evidence.reason.clone(),
                })
                .collect(),
            decisions: sum.decisions.clone(),
            file: run.name.clone(),
            layout: format!("{:?}", sum.layout).to_lowercase(),
            dtype: sum.dtype,
            gate: sum.gate,
            gate_note: sum.gate_note,
            tasks: run.importance.n_tasks(),
            layers: run.importance.layers().len(),
            filters: run.importance.n_filters(),
            dropped_nonfinite: run.dropped.clone(),
            notes: sum.notes,
        }
    }
}

/// A result of one checkpoint: its keys and `checkpoint`.
#[derive(Serialize)]
pub struct WithCheckpoint<'a, T: Serialize> {
    #[serde(flatten)]
    pub result: &'a T,
    pub checkpoint: Source,
}

/// A result of several checkpoints: its keys and `checkpoints`.
#[derive(Serialize)]
pub struct WithCheckpoints<'a, T: Serialize> {
    #[serde(flatten)]
    pub result: &'a T,
    pub checkpoints: &'a [Source],
}

/// One run's capacity, named.
#[derive(Serialize)]
pub struct RunCapacity<'a> {
    pub run: &'a str,
    #[serde(flatten)]
    pub result: &'a CapacityReport,
}

/// Several runs' capacity: `{"runs":[{"run","tasks","rank"}],
/// "across_runs":{...}}`.
#[derive(Serialize)]
pub struct CapacityRuns<'a> {
    pub runs: Vec<RunCapacity<'a>>,
    pub across_runs: &'a CapacityAcrossRuns,
}

impl<'a> CapacityRuns<'a> {
    pub fn new(
        results: &'a [(String, &'a CapacityReport)],
        spread: &'a CapacityAcrossRuns,
    ) -> Self {
        CapacityRuns {
            runs: results
                .iter()
                .map(|(run, result)| RunCapacity { run, result })
                .collect(),
            across_runs: spread,
        }
    }
}
