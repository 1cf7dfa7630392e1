//! From loaded runs to [`ReportInputs`]: runs every analysis the report
//! shows with the report's parameters and records each checkpoint's
//! provenance (its file hashed by [`crate::checkpoint::file_hash`]).
//! Orchestration only; the math is in [`crate::analysis`].

use std::path::Path;

use super::error::PipelineError;
use crate::analysis::across_runs::{
    capacity_across_runs, depth_across_runs, specialization_across_runs,
};
use crate::analysis::capacity::capacity;
use crate::analysis::cluster_trust::{TrustParams, judge_clusters};
use crate::analysis::clusters::{ClusterParams, Linkage, cluster_runs};
use crate::analysis::depth::{DepthCurves, depth_curves};
use crate::analysis::filter_groups::{FilterGroupParams, filter_groups};
use crate::analysis::gate_stats::{GateStatsParams, gate_distribution};
use crate::analysis::kernels::gram;
use crate::analysis::similarity::{SimilarityMatrix, similarity_from_gram};
use crate::analysis::specialization::{SpecializationParams, specialization};
use crate::analysis::stability::{ReducedRun, StabilityParams, stability_of_runs};
use crate::checkpoint::discover::Gates;
use crate::checkpoint::file_hash::sha256_file;
use crate::importance::{GateKind, ImportanceMatrix};
use crate::report::ReportError;
use crate::report::page::provenance::{Provenance, ToolInfo};
use crate::report::sections::inputs::{ReportInputs, RunResults};

/// One loaded checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct RunSource<'a> {
    /// Display name of the run (e.g. the file stem).
    pub name: &'a str,
    pub path: &'a Path,
    pub gates: &'a Gates,
    pub importance: &'a ImportanceMatrix,
    /// The `--gate` override the importances were made with, if any.
    pub gate_override: Option<GateKind>,
}

/// The report's analysis parameters, each already checked by its
/// analysis' constructor.
#[derive(Debug, Clone)]
pub struct ReportParams {
    title: String,
    /// Task clusters (Table 5).
    clusters: ClusterParams,
    specialization: SpecializationParams,
    /// Filter groups; `None` leaves the section out.
    filter_groups: Option<FilterGroupParams>,
    /// Filter groups for every run rather than the first only (k-means on
    /// every filter is the slowest analysis; one run is usually enough).
    filter_groups_all_runs: bool,
    /// Mantel permutations for the stability p-values (0 skips them) and
    /// bootstrap replicates for its intervals (0 skips them).
    stability: StabilityParams,
    /// Histogram bins of the gate distributions.
    gates: GateStatsParams,
}

/// Histogram bins of the report's gate distributions (and its sweeps').
pub const REPORT_BINS: GateStatsParams = GateStatsParams::fixed(40);

impl ReportParams {
    /// The report's parameters: `filter_groups` for the first run only, 40
    /// histogram bins.
    pub fn new(
        title: String,
        clusters: ClusterParams,
        specialization: SpecializationParams,
        filter_groups: Option<FilterGroupParams>,
        stability: StabilityParams,
    ) -> ReportParams {
        ReportParams {
            title,
            clusters,
            specialization,
            filter_groups,
            filter_groups_all_runs: false,
            stability,
            gates: REPORT_BINS,
        }
    }

    /// The paper's settings: k clusters with average linkage, τ = 0.5,
    /// 8 filter groups (seed 0) of the first run, no permutation test, no
    /// bootstrap, 40 bins.
    pub fn paper(title: &str, k: usize) -> Result<ReportParams, ReportError> {
        Ok(ReportParams::new(
            title.to_string(),
            ClusterParams::new(k, Linkage::Average)?,
            SpecializationParams::default(),
            Some(FilterGroupParams::new(
                8,
                0,
                crate::analysis::filter_groups::DEFAULT_DEAD_THRESHOLD,
            )?),
            StabilityParams::new(0, 0)?,
        ))
    }

    /// The same parameters with these filter groups (`None`: no section).
    pub fn with_filter_groups(mut self, p: Option<FilterGroupParams>) -> ReportParams {
        self.filter_groups = p;
        self
    }

    /// The same parameters with filter groups for every run.
    pub fn with_filter_groups_for_all_runs(mut self) -> ReportParams {
        self.filter_groups_all_runs = true;
        self
    }

    /// The same parameters with these task clusters.
    pub fn with_clusters(mut self, p: ClusterParams) -> ReportParams {
        self.clusters = p;
        self
    }

    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn clusters(&self) -> &ClusterParams {
        &self.clusters
    }
}

/// Provenance of one run: hashes the file (streamed).
pub fn provenance(src: &RunSource<'_>) -> Result<Provenance, PipelineError> {
    let (sha256, size_bytes) = sha256_file(src.path)?;
    Ok(Provenance {
        run: src.name.to_string(),
        file_name: src
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| src.path.display().to_string()),
        size_bytes,
        sha256,
        layout: src.gates.layout.to_string(),
        tasks: src.importance.tasks().to_vec(),
        layers: src
            .importance
            .layers()
            .iter()
            .map(|l| l.name.clone())
            .collect(),
        filters: src.importance.n_filters(),
        gate: src.gates.gate_summary(src.gate_override).to_string(),
    })
}

/// One run's share of the report: its own results, and what the sections
/// across runs need from it. Made from one loaded run by [`reduce_run`], so
/// a report over many runs can read them one at a time.
pub struct ReportRun {
    results: RunResults,
    depth: DepthCurves,
    /// For the stability section, when the report has several runs.
    stability: Option<ReducedRun>,
}

impl ReportRun {
    /// The run's tasks, in row order.
    pub fn tasks(&self) -> &[String] {
        &self.results.provenance.tasks
    }
}

/// Runs every per-run analysis of the report on run `index` of `n_runs`.
/// Filter groups that cannot be made (k larger than the live filters)
/// leave that run's figure out rather than failing the report.
pub fn reduce_run(
    index: usize,
    n_runs: usize,
    src: &RunSource<'_>,
    p: &ReportParams,
) -> Result<ReportRun, PipelineError> {
    let im = src.importance;
    let mut notes = Vec::new();
    let wanted = p
        .filter_groups
        .as_ref()
        .filter(|_| index == 0 || p.filter_groups_all_runs);
    let fg = match wanted.map(|fp| filter_groups(im, fp)) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            notes.push(format!("filter groups of {} are not shown: {e}", src.name));
            None
        }
        None => None,
    };
    // One Gram matrix I Iᵀ for the similarity and the stability section.
    let gram = gram(im.data());
    Ok(ReportRun {
        results: RunResults {
            provenance: provenance(src)?,
            capacity: capacity(im),
            similarity: similarity_from_gram(im.tasks(), &gram),
            specialization: specialization(im, &p.specialization),
            gates: gate_distribution(im, &p.gates),
            filter_groups: fg,
            notes,
        },
        depth: depth_curves(im),
        stability: (n_runs > 1)
            .then(|| ReducedRun::with_gram(src.name.to_string(), im, &gram, index, &p.stability)),
    })
}

/// The report's inputs from every run's reduction, in run order: the
/// sections across runs (depth curves, clusters, stability, spreads).
pub fn combine(
    runs: Vec<ReportRun>,
    p: &ReportParams,
    tool: ToolInfo,
) -> Result<ReportInputs, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::Inputs(
            "a report needs at least one checkpoint".into(),
        ));
    }
    let mut results = Vec::with_capacity(runs.len());
    let mut depths = Vec::with_capacity(runs.len());
    let mut reduced = Vec::with_capacity(runs.len());
    for r in runs {
        let name = r.results.provenance.run.clone();
        depths.push((name, r.depth));
        reduced.extend(r.stability);
        results.push(r.results);
    }
    let depth = depth_across_runs(&depths)?;
    let sims: Vec<(String, SimilarityMatrix)> = results
        .iter()
        .map(|r| (r.provenance.run.clone(), r.similarity.clone()))
        .collect();
    let clusters = cluster_runs(&sims, &p.clusters)?;
    let stability = if results.len() > 1 {
        if reduced.len() != results.len() {
            return Err(ReportError::Inputs(format!(
                "{} runs but {} stability reductions: reduce_run must be told the number of runs",
                results.len(),
                reduced.len()
            )));
        }
        Some(stability_of_runs(reduced, &p.stability)?)
    } else {
        None
    };
    let cluster_trust = judge_clusters(&clusters, stability.as_ref(), &TrustParams::default());
    let capacities: Vec<(String, &crate::analysis::capacity::CapacityReport)> = results
        .iter()
        .map(|r| (r.provenance.run.clone(), &r.capacity))
        .collect();
    let capacity_spread = capacity_across_runs(&capacities)?;
    let specialization_spread = specialization_across_runs(
        &results
            .iter()
            .map(|r| &r.specialization)
            .collect::<Vec<_>>(),
    );
    Ok(ReportInputs {
        title: p.title.clone(),
        runs: results,
        capacity_across_runs: capacity_spread,
        specialization_across_runs: specialization_spread,
        depth,
        clusters,
        cluster_trust,
        stability,
        tool,
        extras: Default::default(),
    })
}

/// Runs the analyses of every figure on runs already loaded
/// ([`reduce_run`] on each, then [`combine`]).
pub fn collect(
    runs: &[RunSource<'_>],
    p: &ReportParams,
    tool: ToolInfo,
) -> Result<ReportInputs, PipelineError> {
    let reduced = runs
        .iter()
        .enumerate()
        .map(|(i, src)| reduce_run(i, runs.len(), src, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(combine(reduced, p, tool)?)
}
