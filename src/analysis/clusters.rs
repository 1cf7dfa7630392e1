//! Task clusters (paper 000, §5.2 and App. C, Table 5): hierarchical
//! clustering of tasks on the distance `1 − cosine similarity`, cut into `K`
//! clusters per run; the co-occurrence matrix (fraction of runs in which two
//! tasks share a cluster); and the representative clusters obtained by
//! clustering `1 − co-occurrence` the same way.
//!
//! Linkage is computed by `kodama`; dendrograms use scipy's linkage-matrix
//! conventions so results can be checked against
//! `scipy.cluster.hierarchy.linkage`.

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;

use super::AnalysisError;
use super::similarity::{SimilarityMatrix, align_runs};

/// Agglomeration rule, with scipy's names and meanings.
///
/// kodama's `Weighted` (WPGMA) and `Ward` (Lance–Williams on squared
/// distances, square root taken at the end) follow the same conventions as
/// scipy's `weighted` and `ward`; the reference tests check each method
/// against scipy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Linkage {
    #[default]
    Average,
    Complete,
    Single,
    Ward,
    Weighted,
}

impl Linkage {
    pub const ALL: [Linkage; 5] = [
        Linkage::Average,
        Linkage::Complete,
        Linkage::Single,
        Linkage::Ward,
        Linkage::Weighted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Linkage::Average => "average",
            Linkage::Complete => "complete",
            Linkage::Single => "single",
            Linkage::Ward => "ward",
            Linkage::Weighted => "weighted",
        }
    }

    fn kodama(self) -> kodama::Method {
        match self {
            Linkage::Average => kodama::Method::Average,
            Linkage::Complete => kodama::Method::Complete,
            Linkage::Single => kodama::Method::Single,
            Linkage::Ward => kodama::Method::Ward,
            Linkage::Weighted => kodama::Method::Weighted,
        }
    }
}

impl fmt::Display for Linkage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Linkage {
    type Err = AnalysisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Linkage::ALL
            .into_iter()
            .find(|l| l.name() == lower)
            .ok_or_else(|| AnalysisError::Param {
                name: "linkage",
                value: s.to_string(),
                expected: "one of average, complete, single, ward, weighted".into(),
            })
    }
}

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

/// One merge, as a row of scipy's linkage matrix `Z`: clusters `a < b` (ids
/// `< n` are observations, id `n + s` is the cluster made at step `s`)
/// merged at `distance` into a cluster of `size` observations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergeStep {
    pub a: usize,
    pub b: usize,
    pub distance: f64,
    pub size: usize,
}

/// `n − 1` merge steps in order of increasing distance, and the leaf order
/// of `scipy.cluster.hierarchy.leaves_list` (left child = smaller id first).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dendrogram {
    pub steps: Vec<MergeStep>,
    pub leaves: Vec<usize>,
}

impl Dendrogram {
    /// Number of observations (leaves).
    pub fn n_leaves(&self) -> usize {
        self.leaves.len()
    }
}

/// Hierarchical clustering of `n` observations from a symmetric `n × n`
/// distance matrix (only the part above the diagonal is read).
///
/// Equal distances may be merged in a different order than scipy's (an
/// equally valid tree); without ties the steps equal scipy's `linkage`
/// (checked by the reference tests and `tests/analysis_crosscheck.rs`).
///
/// Inputs are cleaned rather than trusted, because kodama requires finite,
/// non-negative dissimilarities: negative entries become 0 and non-finite
/// ones the largest finite entry (1 if there is none). A non-square matrix
/// is read on its leading square block.
pub fn linkage(dist: &DMatrix<f64>, method: Linkage) -> Dendrogram {
    let n = dist.nrows().min(dist.ncols());
    if n < 2 {
        return Dendrogram {
            steps: vec![],
            leaves: (0..n).collect(),
        };
    }
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            condensed.push(dist[(i, j)]);
        }
    }
    let max_finite = condensed
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        .unwrap_or(1.0);
    for v in condensed.iter_mut() {
        if !v.is_finite() {
            *v = max_finite;
        }
        *v = v.max(0.0);
    }
    let dend = kodama::linkage(&mut condensed, n, method.kodama());
    let steps: Vec<MergeStep> = dend
        .steps()
        .iter()
        .map(|s| MergeStep {
            a: s.cluster1.min(s.cluster2),
            b: s.cluster1.max(s.cluster2),
            distance: s.dissimilarity,
            size: s.size,
        })
        .collect();
    let leaves = leaves_list(&steps, n);
    Dendrogram { steps, leaves }
}

/// Pre-order traversal from the root, smaller child id first, like scipy.
fn leaves_list(steps: &[MergeStep], n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut stack = vec![n + steps.len().saturating_sub(1)];
    if steps.is_empty() {
        return (0..n).collect();
    }
    while let Some(id) = stack.pop() {
        if id < n {
            out.push(id);
        } else if let Some(s) = steps.get(id - n) {
            stack.push(s.b);
            stack.push(s.a);
        }
    }
    out
}

/// Cut a dendrogram into at most `k` clusters, like scipy's
/// `fcluster(Z, k, criterion="maxclust")`: the lowest height at which no
/// more than `k` clusters remain. Merges at equal heights are applied
/// together, so ties can give fewer than `k` clusters (as in scipy).
/// Heights are made monotone first (a cluster's height is at least its
/// children's), which changes nothing for the linkages offered here.
///
/// Labels are canonical: clusters are numbered `0..` in the order of their
/// first member (observation order). `k = 0` is treated as 1.
pub fn cut(d: &Dendrogram, k: usize) -> Vec<usize> {
    let n = d.n_leaves();
    let k = k.max(1);
    // monotone heights
    let mut md: Vec<f64> = Vec::with_capacity(d.steps.len());
    for s in &d.steps {
        let child = |id: usize| {
            if id >= n {
                md.get(id - n).copied()
            } else {
                None
            }
        };
        let h = [Some(s.distance), child(s.a), child(s.b)]
            .into_iter()
            .flatten()
            .fold(f64::NEG_INFINITY, f64::max);
        md.push(h);
    }
    let threshold = if n <= k {
        None
    } else {
        let mut sorted = md.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
            .iter()
            .copied()
            .find(|&t| n - md.iter().filter(|&&h| h <= t).count() <= k)
    };
    // union-find over observations; cluster id n+s is represented by a member
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut rep: Vec<usize> = Vec::with_capacity(d.steps.len());
    for s in &d.steps {
        let member = |id: usize, rep: &[usize]| {
            if id < n {
                Some(id)
            } else {
                rep.get(id - n).copied()
            }
        };
        let (Some(a), Some(b)) = (member(s.a, &rep), member(s.b, &rep)) else {
            break;
        };
        rep.push(a.min(b));
        let h = md.get(rep.len() - 1).copied().unwrap_or(f64::INFINITY);
        if threshold.is_some_and(|t| h <= t) {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let roots: Vec<usize> = (0..n).map(|i| find(&mut parent, i)).collect();
    canonical_labels(&roots)
}

/// Renumber arbitrary labels `0..` by first appearance.
fn canonical_labels(raw: &[usize]) -> Vec<usize> {
    let mut seen: Vec<usize> = Vec::new();
    raw.iter()
        .map(|r| match seen.iter().position(|s| s == r) {
            Some(i) => i,
            None => {
                seen.push(*r);
                seen.len() - 1
            }
        })
        .collect()
}

/// One run's labels (canonical) and dendrogram. Both index tasks in the
/// report's task order (the first run's), whatever order the run had.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunClustering {
    pub run: String,
    pub labels: Vec<usize>,
    pub dendrogram: Dendrogram,
}

/// Fraction of runs in which two tasks fall in the same cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoOccurrence {
    pub tasks: Vec<String>,
    pub matrix: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterReport {
    pub k: usize,
    pub linkage: Linkage,
    /// Representative clusters: ordered by their first member in task order,
    /// members in task order.
    pub clusters: Vec<Vec<String>>,
    pub cooccurrence: CoOccurrence,
    pub runs: Vec<RunClustering>,
    /// Dendrogram of the representative clustering (on `1 − co-occurrence`).
    pub dendrogram: Dendrogram,
}

/// `1 − S`, clamped at 0, with an exact zero diagonal.
fn distance_from_similarity(m: &[Vec<f64>]) -> DMatrix<f64> {
    let n = m.len();
    DMatrix::from_fn(n, n, |i, j| {
        if i == j {
            0.0
        } else {
            let s = m.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0);
            (1.0 - s).max(0.0)
        }
    })
}

/// Cluster each run's tasks, aggregate by co-occurrence, and cluster the
/// co-occurrence into representative clusters (App. C).
///
/// Runs are aligned to the first run's task order by name. With one run the
/// co-occurrence is 0/1 and the representative clusters are that run's.
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
    let run_clusterings: Vec<RunClustering> = runs
        .iter()
        .zip(&aligned)
        .map(|((name, _), s)| {
            let dendrogram = linkage(&distance_from_similarity(&s.matrix), p.linkage);
            RunClustering {
                run: name.clone(),
                labels: cut(&dendrogram, p.k),
                dendrogram,
            }
        })
        .collect();
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
    let dendrogram = linkage(&distance_from_similarity(&matrix), p.linkage);
    let labels = cut(&dendrogram, p.k);
    let n_clusters = labels.iter().max().map_or(0, |m| m + 1);
    let mut clusters = vec![Vec::new(); n_clusters];
    for (task, &l) in tasks.iter().zip(&labels) {
        if let Some(c) = clusters.get_mut(l) {
            c.push(task.clone());
        }
    }
    Ok(ClusterReport {
        k: p.k,
        linkage: p.linkage,
        clusters,
        cooccurrence: CoOccurrence { tasks, matrix },
        runs: run_clusterings,
        dendrogram,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkage_parses_and_prints() {
        for l in Linkage::ALL {
            assert_eq!(l.to_string().parse::<Linkage>().unwrap(), l);
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{l}\""));
        }
        assert_eq!("Ward".parse::<Linkage>().unwrap(), Linkage::Ward);
        assert!(
            "centroid"
                .parse::<Linkage>()
                .unwrap_err()
                .to_string()
                .contains("centroid")
        );
        assert_eq!(Linkage::default(), Linkage::Average);
    }

    #[test]
    fn params_reject_zero_k() {
        assert!(ClusterParams::new(0, Linkage::Average).is_err());
    }

    #[test]
    fn tiny_inputs() {
        let d0 = linkage(&DMatrix::zeros(0, 0), Linkage::Average);
        assert!(d0.steps.is_empty() && d0.leaves.is_empty());
        assert!(cut(&d0, 3).is_empty());
        let d1 = linkage(&DMatrix::zeros(1, 1), Linkage::Ward);
        assert_eq!(d1.leaves, vec![0]);
        assert_eq!(cut(&d1, 1), vec![0]);
    }

    #[test]
    fn cut_with_ties_merges_equal_heights_together() {
        // four points, all at distance 1: one merge height, so k = 2 or 3
        // cannot be met exactly and everything ends in one cluster (scipy too)
        let d = DMatrix::from_fn(4, 4, |i, j| if i == j { 0.0 } else { 1.0 });
        let dend = linkage(&d, Linkage::Average);
        assert_eq!(cut(&dend, 2), vec![0, 0, 0, 0]);
        assert_eq!(cut(&dend, 4), vec![0, 1, 2, 3]);
    }

    #[test]
    fn bad_distances_are_cleaned() {
        let mut d = DMatrix::from_fn(3, 3, |i, j| (i as f64 - j as f64).abs());
        d[(0, 1)] = f64::NAN;
        d[(1, 2)] = -5.0;
        let dend = linkage(&d, Linkage::Complete);
        assert!(
            dend.steps
                .iter()
                .all(|s| s.distance.is_finite() && s.distance >= 0.0)
        );
    }

    #[test]
    fn ari_edge_cases() {
        assert_eq!(adjusted_rand_index(&[], &[]), 1.0);
        assert_eq!(adjusted_rand_index(&[0, 0, 0], &[5, 5, 5]), 1.0);
        assert_eq!(adjusted_rand_index(&[0, 1, 2], &[2, 0, 1]), 1.0);
        assert!(adjusted_rand_index(&[0, 1], &[0]).is_nan());
    }
}
