//! From loaded runs to [`ReportInputs`]: runs every analysis the report
//! shows with the report's parameters and records each checkpoint's
//! provenance. Orchestration only; the math is in [`crate::analysis`].

use std::path::Path;

use super::ReportError;
use super::build::{ReportInputs, RunResults};
use super::provenance::{Provenance, ToolInfo, sha256_file};
use crate::analysis::across_runs::{
    capacity_across_runs, depth_across_runs, specialization_across_runs,
};
use crate::analysis::capacity::capacity;
use crate::analysis::cluster_trust::{TrustParams, judge_clusters};
use crate::analysis::clusters::{ClusterParams, Linkage, cluster_runs};
use crate::analysis::depth::{DepthCurves, depth_curves};
use crate::analysis::filter_groups::{FilterGroupParams, filter_groups};
use crate::analysis::gate_stats::gate_distribution;
use crate::analysis::similarity::{SimilarityMatrix, cosine_similarity};
use crate::analysis::specialization::{SpecializationParams, specialization};
use crate::analysis::stability::{ReducedRun, StabilityParams, stability_of_runs};
use crate::checkpoint::discover::Gates;
use crate::importance::{GateKind, ImportanceMatrix};

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

/// The report's parameters, already checked by the analysis constructors.
#[derive(Debug, Clone)]
pub struct ReportParams {
    pub title: String,
    /// Task clusters (Table 5).
    pub clusters: ClusterParams,
    pub specialization: SpecializationParams,
    /// Filter groups; `None` leaves the section out.
    pub filter_groups: Option<FilterGroupParams>,
    /// Filter groups for every run rather than the first only (k-means on
    /// every filter is the slowest analysis; one run is usually enough).
    pub filter_groups_all_runs: bool,
    /// Mantel permutations for the stability p-values (0 skips them) and
    /// bootstrap replicates for its intervals (0 skips them).
    pub stability: StabilityParams,
    /// Histogram bins of the gate distributions.
    pub bins: usize,
}

impl ReportParams {
    /// The paper's settings: k clusters with average linkage, τ = 0.5,
    /// 8 filter groups (seed 0) of the first run, no permutation test, no
    /// bootstrap, 40 bins.
    pub fn paper(title: &str, k: usize) -> Result<ReportParams, ReportError> {
        Ok(ReportParams {
            title: title.to_string(),
            clusters: ClusterParams::new(k, Linkage::Average)?,
            specialization: SpecializationParams::default(),
            filter_groups: Some(FilterGroupParams::new(
                8,
                0,
                crate::analysis::filter_groups::DEFAULT_DEAD_THRESHOLD,
            )?),
            filter_groups_all_runs: false,
            stability: StabilityParams::new(0, 0)?,
            bins: 40,
        })
    }
}

/// Provenance of one run: hashes the file (streamed).
pub fn provenance(src: &RunSource<'_>) -> Result<Provenance, ReportError> {
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
) -> Result<ReportRun, ReportError> {
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
    Ok(ReportRun {
        results: RunResults {
            provenance: provenance(src)?,
            capacity: capacity(im),
            similarity: cosine_similarity(im),
            specialization: specialization(im, &p.specialization),
            gates: gate_distribution(im, p.bins),
            filter_groups: fg,
            notes,
        },
        depth: depth_curves(im),
        stability: (n_runs > 1)
            .then(|| ReducedRun::new(src.name.to_string(), im, index, &p.stability)),
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
) -> Result<ReportInputs, ReportError> {
    let reduced = runs
        .iter()
        .enumerate()
        .map(|(i, src)| reduce_run(i, runs.len(), src, p))
        .collect::<Result<Vec<_>, _>>()?;
    combine(reduced, p, tool)
}

/// Short, unique run names for figures: each file's stem (`run3`), with
/// parent folders prepended only where stems collide (`a/ckpt`, `b/ckpt`).
pub fn display_names(paths: &[&Path]) -> Vec<String> {
    let parts: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            let mut v: Vec<String> = p
                .parent()
                .map(|d| {
                    d.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.push(
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            v
        })
        .collect();
    let name = |p: &[String], depth: usize| p[p.len().saturating_sub(depth)..].join("/");
    let mut depth = vec![1usize; paths.len()];
    // Deepen colliding names until they differ or run out of folders.
    for _ in 0..64 {
        let names: Vec<String> = parts.iter().zip(&depth).map(|(p, &d)| name(p, d)).collect();
        let mut changed = false;
        for i in 0..names.len() {
            let clash = names
                .iter()
                .enumerate()
                .any(|(j, n)| j != i && *n == names[i]);
            if clash && depth[i] < parts[i].len() {
                depth[i] += 1;
                changed = true;
            }
        }
        if !changed {
            return names;
        }
    }
    parts.iter().zip(&depth).map(|(p, &d)| name(p, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_stems_unless_they_collide() {
        let p = |s: &'static str| Path::new(s);
        assert_eq!(
            display_names(&[p("runs/run0.safetensors"), p("runs/run1.safetensors")]),
            ["run0", "run1"]
        );
        assert_eq!(
            display_names(&[p("a/x/ckpt.safetensors"), p("b/x/ckpt.safetensors")]),
            ["a/x/ckpt", "b/x/ckpt"]
        );
        assert_eq!(
            display_names(&[p("ckpt.safetensors"), p("ckpt.safetensors")]),
            ["ckpt", "ckpt"]
        );
    }
}
