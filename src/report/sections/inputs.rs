//! What the report shows, as typed results with every number computed
//! (by [`crate::pipeline`] and [`crate::analysis`]): [`ReportInputs`] for
//! the checkpoints' own sections, [`ExtraInputs`] for the diagnose files
//! of `mtl-train` ([`crate::diagnostics`]) and sweeps of training runs.

use std::path::PathBuf;

use crate::analysis::across_runs::{CapacityAcrossRuns, DepthAcrossRuns, Spread};
use crate::analysis::capacity::CapacityReport;
use crate::analysis::cluster_trust::ClusterTrust;
use crate::analysis::clusters::ClusterReport;
use crate::analysis::filter_groups::FilterGroupReport;
use crate::analysis::gate_stats::GateDistributionReport;
use crate::analysis::gradient_conflict::RunConflict;
use crate::analysis::similarity::SimilarityMatrix;
use crate::analysis::specialization::SpecializationReport;
use crate::analysis::stability::StabilityReport;
use crate::analysis::sweep::SweepReport;
use crate::diagnostics::Diagnostics;
use crate::report::page::provenance::{Provenance, ToolInfo};

/// How a diagnose file came into the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Named by `--diagnostics`.
    Flag,
    /// Picked up as `<stem>.json` beside this checkpoint.
    BesideCheckpoint(PathBuf),
}

/// One diagnose file with the distributions computed from it.
#[derive(Debug, Clone)]
pub struct DiagnosticsInput {
    /// Display name (file stem).
    pub name: String,
    pub diagnostics: Diagnostics,
    pub conflict: Option<RunConflict>,
    pub found: Found,
    pub sha256: String,
    pub size_bytes: u64,
}

/// One sweep, measured, with the files it was made from.
#[derive(Debug, Clone)]
pub struct SweepInput {
    pub report: SweepReport,
    /// `(run, path, sha256)` per run, in the order given.
    pub files: Vec<(String, PathBuf, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct ExtraInputs {
    pub diagnostics: Vec<DiagnosticsInput>,
    pub sweeps: Vec<SweepInput>,
}

impl ExtraInputs {
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty() && self.sweeps.is_empty()
    }
}

/// Everything computed for one run.
#[derive(Debug, Clone)]
pub struct RunResults {
    pub provenance: Provenance,
    pub capacity: CapacityReport,
    pub similarity: SimilarityMatrix,
    pub specialization: SpecializationReport,
    pub gates: GateDistributionReport,
    /// Filter groups are drawn for the runs that have them.
    pub filter_groups: Option<FilterGroupReport>,
    /// Shown in the page (e.g. why an analysis was left out).
    pub notes: Vec<String>,
}

/// Everything a report shows. `clusters` covers all runs (with one run its
/// clusters are that run's); `stability` needs two runs or more.
#[derive(Debug, Clone)]
pub struct ReportInputs {
    pub title: String,
    pub runs: Vec<RunResults>,
    /// Capacity of every task over the runs (mean, min–max, t-interval).
    pub capacity_across_runs: CapacityAcrossRuns,
    /// Share of specialized filters per layer over the runs.
    pub specialization_across_runs: Vec<(String, Option<Spread>)>,
    /// Capacity split and mean similarity per layer, per run and over runs.
    pub depth: DepthAcrossRuns,
    pub clusters: ClusterReport,
    /// Whether the runs agree enough for their clusters to be read.
    pub cluster_trust: ClusterTrust,
    pub stability: Option<StabilityReport>,
    pub tool: ToolInfo,
    /// Diagnose files and sweeps (sections after the checkpoints' own).
    pub extras: ExtraInputs,
}

impl ReportInputs {
    /// The canonical task order: the clustering's (the first run's).
    pub fn tasks(&self) -> &[String] {
        &self.clusters.cooccurrence.tasks
    }

    /// The clusters' linkage, by its scipy name.
    pub fn linkage_name(&self) -> String {
        serde_json::to_value(self.clusters.linkage)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{:?}", self.clusters.linkage).to_lowercase())
    }
}
