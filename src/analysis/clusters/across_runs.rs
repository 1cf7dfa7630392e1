//! Task clusters across runs (paper 000, §5.2 and App. C, Table 5): each
//! run's tasks clustered on `1 − cosine similarity` and cut into `K`
//! clusters; the co-occurrence matrix (fraction of runs in which two tasks
//! share a cluster); and the representative clusters obtained by
//! clustering `1 − co-occurrence` the same way, with how far each run and
//! each task agree with them.

use nalgebra::DMatrix;

use super::linkage::{
    Dendrogram, Linkage, OrderTie, canonical_labels, cut, decisive_ties, linkage,
    linkage_with_secondary, merges_applied,
};
use crate::analysis::AnalysisError;
use crate::analysis::similarity::{SimilarityMatrix, align_runs};

/// Number of clusters `K ≥ 1` and the linkage rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterParams {
    k: usize,
    linkage: Linkage,
}

impl ClusterParams {
    pub fn new(k: usize, linkage: Linkage) -> Result<Self, AnalysisError> {
        if k == 0 {
            return Err(AnalysisError::Param {
                name: "k",
                value: "0".into(),
                expected: "at least 1 cluster".into(),
            });
        }
        Ok(Self { k, linkage })
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn linkage(&self) -> Linkage {
        self.linkage
    }
}

/// One run's labels (canonical) and dendrogram, both indexing tasks in the
/// report's task order (the first run's), whatever order the run had; and
/// its agreement with the representative clusters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunClustering {
    pub run: String,
    pub labels: Vec<usize>,
    /// Adjusted Rand index of `labels` to the representative clusters
    /// (sklearn's `adjusted_rand_score`): 1 = the same partition, about 0 =
    /// no more agreement than chance.
    pub ari: f64,
    pub dendrogram: Dendrogram,
}

/// Fraction of runs in which two tasks fall in the same cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoOccurrence {
    pub tasks: Vec<String>,
    pub matrix: Vec<Vec<f64>>,
}

/// How consistently the runs put one task with its representative cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskConfidence {
    pub task: String,
    /// Index into [`ClusterReport::clusters`].
    pub cluster: usize,
    /// With cluster mates: the mean co-occurrence of the task with them (the
    /// share of (run, mate) pairs in which the run put the two together).
    /// Alone in its cluster: the share of runs in which it was alone too.
    pub confidence: f64,
}

/// Where the representative dendrogram was cut.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CutSummary {
    /// Number of clusters formed (below `k` only when merges tied in every
    /// key straddle the cut).
    pub clusters: usize,
    /// Merges applied.
    pub merges: usize,
    /// Height of the last merge applied (in `dendrogram`), if any.
    pub height: Option<f64>,
    /// Height of the first merge not applied, if any: the gap to `height`
    /// says how clear the cut is.
    pub next_height: Option<f64>,
}

/// A merge at or below the cut that input order decided and that changes
/// the partition: the data could not order the tied merges, and another
/// task order could give other clusters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterTie {
    /// The run whose clustering it is; `None` for the representative one.
    pub run: Option<String>,
    pub step: usize,
    pub height: f64,
    /// The tied merges as the task names of the two clusters; the first
    /// was made.
    pub candidates: Vec<[Vec<String>; 2]>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterReport {
    pub k: usize,
    pub linkage: Linkage,
    /// Representative clusters: ordered by their first member in task order,
    /// members in task order.
    pub clusters: Vec<Vec<String>>,
    /// One entry per task, in task order.
    pub confidence: Vec<TaskConfidence>,
    pub cut: CutSummary,
    /// Input-order decisions that changed a partition (empty when the result
    /// is the same for every task order).
    pub ties: Vec<ClusterTie>,
    pub cooccurrence: CoOccurrence,
    pub runs: Vec<RunClustering>,
    /// Dendrogram of the representative clustering (on `1 − co-occurrence`,
    /// ties broken by `1 − mean similarity`; with one run, that run's on
    /// `1 − cosine`); its merge heights are `steps[i].distance`.
    pub dendrogram: Dendrogram,
}

/// `1 − S` (S symmetrized as `(S + Sᵀ)/2`), clamped at 0, with an exact
/// zero diagonal.
fn distance_from_similarity(m: &[Vec<f64>]) -> DMatrix<f64> {
    let n = m.len();
    let at = |i: usize, j: usize| m.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0);
    DMatrix::from_fn(n, n, |i, j| {
        if i == j {
            0.0
        } else {
            (1.0 - 0.5 * (at(i, j) + at(j, i))).max(0.0)
        }
    })
}

/// Mean of the runs' similarities, entry by entry, summed in sorted order
/// so that the result does not depend on the order of the runs.
fn mean_similarity(aligned: &[SimilarityMatrix]) -> Vec<Vec<f64>> {
    let t = aligned.first().map_or(0, |s| s.n_tasks());
    let r = aligned.len().max(1) as f64;
    (0..t)
        .map(|i| {
            (0..t)
                .map(|j| {
                    let mut v: Vec<f64> =
                        aligned.iter().map(|s| s.get(i, j).unwrap_or(0.0)).collect();
                    v.sort_by(f64::total_cmp);
                    v.iter().sum::<f64>() / r
                })
                .collect()
        })
        .collect()
}

/// The ties of one dendrogram as task names.
fn named_ties(
    run: Option<&str>,
    d: &Dendrogram,
    ties: &[OrderTie],
    tasks: &[String],
) -> Vec<ClusterTie> {
    let names = |id: usize| -> Vec<String> {
        d.members(id)
            .into_iter()
            .filter_map(|i| tasks.get(i).cloned())
            .collect()
    };
    ties.iter()
        .map(|t| ClusterTie {
            run: run.map(str::to_string),
            step: t.step,
            height: d.steps.get(t.step).map_or(f64::NAN, |s| s.distance),
            candidates: t
                .candidates
                .iter()
                .map(|&(a, b)| [names(a), names(b)])
                .collect(),
        })
        .collect()
}

/// Cluster each run's tasks, aggregate by co-occurrence, and cluster the
/// co-occurrence into representative clusters (App. C), ties broken by the
/// mean similarity across runs ([`linkage_with_secondary`]).
///
/// Runs are aligned to the first run's task order by name. With one run the
/// co-occurrence is 0/1 and the representative clusters and dendrogram are
/// that run's.
/// Nothing depends on the order of the tasks or the runs or on task names
/// except where `ties` says so.
///
/// Errors: no runs, `k > T`, or runs with different task sets.
pub fn cluster_runs(
    runs: &[(String, SimilarityMatrix)],
    p: &ClusterParams,
) -> Result<ClusterReport, AnalysisError> {
    let aligned = align_runs(runs, 1)?;
    let tasks = aligned.first().map(|s| s.tasks.clone()).unwrap_or_default();
    let t = tasks.len();
    if p.k > t {
        return Err(AnalysisError::Param {
            name: "k",
            value: p.k.to_string(),
            expected: format!("at most the number of tasks T = {t}; pass a smaller k"),
        });
    }
    let mut ties = Vec::new();
    let mut run_clusterings: Vec<RunClustering> = Vec::with_capacity(runs.len());
    for ((name, _), s) in runs.iter().zip(&aligned) {
        let dist = distance_from_similarity(&s.matrix);
        let dendrogram = linkage(&dist, p.linkage);
        let decisive = decisive_ties(&dist, None, p.linkage, &dendrogram, p.k);
        ties.extend(named_ties(Some(name), &dendrogram, &decisive, &tasks));
        run_clusterings.push(RunClustering {
            run: name.clone(),
            labels: cut(&dendrogram, p.k),
            ari: f64::NAN,
            dendrogram,
        });
    }
    let r = run_clusterings.len() as f64;
    let matrix: Vec<Vec<f64>> = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| {
                    let together = run_clusterings
                        .iter()
                        .filter(|rc| rc.labels.get(i) == rc.labels.get(j))
                        .count();
                    together as f64 / r
                })
                .collect()
        })
        .collect();
    // One run: its own clustering is the representative one (the 0/1
    // co-occurrence would only repeat it, with uninformative heights).
    let dendrogram = match run_clusterings.as_slice() {
        [only] => only.dendrogram.clone(),
        _ => {
            let primary = distance_from_similarity(&matrix);
            let secondary = distance_from_similarity(&mean_similarity(&aligned));
            let d = linkage_with_secondary(&primary, &secondary, p.linkage);
            let decisive = decisive_ties(&primary, Some(&secondary), p.linkage, &d, p.k);
            ties.splice(0..0, named_ties(None, &d, &decisive, &tasks));
            d
        }
    };
    let labels = cut(&dendrogram, p.k);
    for rc in run_clusterings.iter_mut() {
        rc.ari = adjusted_rand_index(&rc.labels, &labels);
    }
    let n_clusters = labels.iter().max().map_or(0, |m| m + 1);
    let mut clusters = vec![Vec::new(); n_clusters];
    for (task, &l) in tasks.iter().zip(&labels) {
        if let Some(c) = clusters.get_mut(l) {
            c.push(task.clone());
        }
    }
    let confidence = task_confidence(&tasks, &labels, &matrix, &run_clusterings);
    let merges = merges_applied(&dendrogram, p.k);
    let cut = CutSummary {
        clusters: n_clusters,
        merges,
        height: merges
            .checked_sub(1)
            .and_then(|m| dendrogram.steps.get(m))
            .map(|s| s.distance),
        next_height: dendrogram.steps.get(merges).map(|s| s.distance),
    };
    Ok(ClusterReport {
        k: p.k,
        linkage: p.linkage,
        clusters,
        confidence,
        cut,
        ties,
        cooccurrence: CoOccurrence { tasks, matrix },
        runs: run_clusterings,
        dendrogram,
    })
}

/// [`TaskConfidence`] of every task.
fn task_confidence(
    tasks: &[String],
    labels: &[usize],
    co: &[Vec<f64>],
    runs: &[RunClustering],
) -> Vec<TaskConfidence> {
    let r = runs.len().max(1) as f64;
    tasks
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (task, &c))| {
            let mates: Vec<usize> = (0..labels.len())
                .filter(|&j| j != i && labels[j] == c)
                .collect();
            let confidence = if mates.is_empty() {
                let alone = runs
                    .iter()
                    .filter(|rc| {
                        let own = rc.labels.get(i);
                        rc.labels
                            .iter()
                            .enumerate()
                            .all(|(j, l)| j == i || Some(l) != own)
                    })
                    .count();
                alone as f64 / r
            } else {
                let sum: f64 = mates
                    .iter()
                    .map(|&j| co.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0.0))
                    .sum();
                sum / mates.len() as f64
            };
            TaskConfidence {
                task: task.clone(),
                cluster: c,
                confidence,
            }
        })
        .collect()
}

/// Adjusted Rand index of two labelings, computed from the pair confusion
/// matrix exactly as `sklearn.metrics.adjusted_rand_score` does (including
/// its 1.0 for identical trivial partitions and for empty input).
/// Labelings of different lengths have no ARI: the result is NaN.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    let n = a.len() as f64;
    let ca = canonical_labels(a);
    let cb = canonical_labels(b);
    let ka = ca.iter().max().map_or(0, |m| m + 1);
    let kb = cb.iter().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0.0f64; kb]; ka];
    for (&x, &y) in ca.iter().zip(&cb) {
        table[x][y] += 1.0;
    }
    let n_c: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let n_k: Vec<f64> = (0..kb).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    let sum_squares: f64 = table.iter().flatten().map(|v| v * v).sum();
    let tp = sum_squares - n;
    let fp = table
        .iter()
        .map(|r| r.iter().zip(&n_k).map(|(c, k)| c * k).sum::<f64>())
        .sum::<f64>()
        - sum_squares;
    let fn_ = (0..kb)
        .map(|j| table.iter().zip(&n_c).map(|(r, c)| r[j] * c).sum::<f64>())
        .sum::<f64>()
        - sum_squares;
    let tn = n * n - fp - fn_ - sum_squares;
    if fn_ == 0.0 && fp == 0.0 {
        return 1.0;
    }
    2.0 * (tp * tn - fn_ * fp) / ((tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn))
}

/// The mean confidence of each representative cluster's tasks (the share
/// of runs and mates agreeing with the cluster, App. C), in the order of
/// [`ClusterReport::clusters`]; `None` for a cluster no task points to.
pub fn cluster_mean_confidence(c: &ClusterReport) -> Vec<Option<f64>> {
    let mut sums = vec![(0.0, 0usize); c.clusters.len()];
    for x in &c.confidence {
        if let Some((s, n)) = sums.get_mut(x.cluster) {
            *s += x.confidence;
            *n += 1;
        }
    }
    sums.into_iter()
        .map(|(s, n)| (n > 0).then(|| s / n as f64))
        .collect()
}

/// The mean co-occurrence of each representative cluster's task pairs
/// (how consistently the runs put them together), in the order of
/// [`ClusterReport::clusters`]; `None` for a cluster of one task.
pub fn cluster_mean_cooccurrence(c: &ClusterReport) -> Vec<Option<f64>> {
    let idx = |name: &str| c.cooccurrence.tasks.iter().position(|t| t == name);
    c.clusters
        .iter()
        .map(|members| {
            let ids: Vec<usize> = members.iter().filter_map(|n| idx(n)).collect();
            let mut sum = 0.0;
            let mut n = 0usize;
            for (a, &x) in ids.iter().enumerate() {
                for &y in &ids[a + 1..] {
                    if let Some(v) = c.cooccurrence.matrix.get(x).and_then(|row| row.get(y)) {
                        sum += v;
                        n += 1;
                    }
                }
            }
            (n > 0).then(|| sum / n as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_reject_zero_k() {
        assert!(ClusterParams::new(0, Linkage::Average).is_err());
    }

    #[test]
    fn ari_edge_cases() {
        assert_eq!(adjusted_rand_index(&[], &[]), 1.0);
        assert_eq!(adjusted_rand_index(&[0, 0, 0], &[5, 5, 5]), 1.0);
        assert_eq!(adjusted_rand_index(&[0, 1, 2], &[2, 0, 1]), 1.0);
        assert!(adjusted_rand_index(&[0, 1], &[0]).is_nan());
    }

    #[test]
    fn cluster_mean_confidence_averages_each_clusters_tasks() {
        use crate::analysis::similarity::SimilarityMatrix;
        let sim = |m: [[f64; 3]; 3]| SimilarityMatrix {
            tasks: vec!["a".into(), "b".into(), "c".into()],
            matrix: m.iter().map(|r| r.to_vec()).collect(),
            zero_norm_tasks: vec![],
        };
        // Run 1 groups a with b, run 2 groups b with c.
        let runs = vec![
            (
                "r1".to_string(),
                sim([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]]),
            ),
            (
                "r2".to_string(),
                sim([[1.0, 0.2, 0.1], [0.2, 1.0, 0.9], [0.1, 0.9, 1.0]]),
            ),
        ];
        let c = cluster_runs(&runs, &ClusterParams::new(2, Linkage::Average).unwrap()).unwrap();
        let means = cluster_mean_confidence(&c);
        assert_eq!(means.len(), c.clusters.len());
        for (i, m) in means.iter().enumerate() {
            let conf: Vec<f64> = c
                .confidence
                .iter()
                .filter(|x| x.cluster == i)
                .map(|x| x.confidence)
                .collect();
            let want = conf.iter().sum::<f64>() / conf.len() as f64;
            assert!((m.unwrap() - want).abs() < 1e-15);
        }
    }
}
