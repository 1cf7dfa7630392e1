//! Filter groups (an extension of paper 000, §5.3 "filter specialization"):
//! instead of one threshold `τ`, cluster the filters by their normalized task
//! profile `I[:,i] / Σ_t I[t,i]` (the quantity §5.3 thresholds) with k-means,
//! and describe each group as generic, task-specific or mixed.
//!
//! k-means is linfa's (k-means++ init, 4 seeded restarts); its result is
//! then polished with plain Lloyd iterations so that centroids are the means
//! of their members (linfa's "m_k-means" update biases them towards the
//! previous centroid), which makes partitions and inertia comparable with
//! scikit-learn's `KMeans`.

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use crate::importance::ImportanceMatrix;

use super::AnalysisError;

/// A filter is dead when no task gives it an importance of at least this
/// (σ(γ) < 0.1 for every task: the gate is nearly closed everywhere).
pub const DEFAULT_DEAD_THRESHOLD: f64 = 0.1;

/// A group is task-specific when one task holds more than this share of its
/// centroid (the paper's τ = 0.5).
pub const TASK_SPECIFIC_SHARE: f64 = 0.5;

/// A group is generic when its centroid's normalized entropy
/// `H(c) / ln T` exceeds this (close to uniform use by all tasks).
pub const GENERIC_ENTROPY: f64 = 0.9;

/// Restarts of k-means++ and the iteration caps. linfa's k-means is slow
/// (about 20 ms per Lloyd iteration for 1 000 filters × 40 tasks in a debug
/// build, and its "m_k-means" update converges slowly), so it gets few
/// restarts and a loose stop (`KMEANS_TOL`, linfa's default, on centroid
/// movement); the plain Lloyd polish afterwards runs to a fixed point, so
/// the loose stop costs no accuracy.
const N_RUNS: usize = 4;
const MAX_ITER: u64 = 30;
const KMEANS_TOL: f64 = 1e-4;
const POLISH_ITER: usize = 300;

/// Number of groups `k ≥ 1`, RNG seed, dead-filter threshold (finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterGroupParams {
    k: usize,
    seed: u64,
    dead_threshold: f64,
}

impl FilterGroupParams {
    pub fn new(k: usize, seed: u64, dead_threshold: f64) -> Result<Self, AnalysisError> {
        if k == 0 {
            return Err(AnalysisError::Param {
                name: "k",
                value: "0".into(),
                expected: "at least 1 group".into(),
            });
        }
        if !dead_threshold.is_finite() {
            return Err(AnalysisError::Param {
                name: "dead_threshold",
                value: dead_threshold.to_string(),
                expected: format!("a finite importance (default {DEFAULT_DEAD_THRESHOLD})"),
            });
        }
        Ok(Self {
            k,
            seed,
            dead_threshold,
        })
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn dead_threshold(&self) -> f64 {
        self.dead_threshold
    }
}

/// What a group's centroid says about its filters. Checked in this order:
/// `Generic` if the centroid's normalized entropy exceeds
/// [`GENERIC_ENTROPY`]; else `TaskSpecific` if one task's share exceeds
/// [`TASK_SPECIFIC_SHARE`]; else `Mixed` (used by a few tasks). With one
/// task every group is task-specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Generic,
    TaskSpecific,
    Mixed,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FilterGroup {
    /// Position in [`FilterGroupReport::groups`].
    pub id: usize,
    pub size: usize,
    pub kind: GroupKind,
    /// Mean normalized profile of the members (one share per task, sums to 1).
    pub centroid: Vec<f64>,
    /// Tasks whose share exceeds the uniform share `1/T`, largest first
    /// (ties in task order).
    pub dominant_tasks: Vec<(String, f64)>,
    /// Members per layer, every layer in layer order.
    pub per_layer: Vec<(String, usize)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FilterGroupReport {
    pub k: usize,
    pub tasks: Vec<String>,
    /// Ordered by size (largest first), then by the index of the task with
    /// the largest share, then by centroid.
    pub groups: Vec<FilterGroup>,
    /// Filters left out: no importance reaches the threshold, or a column
    /// sum `≤ 0` (possible with `identity` gates) that cannot be normalized.
    pub dead: usize,
    pub dead_per_layer: Vec<(String, usize)>,
    /// Group id of every filter (column order), `None` for dead filters.
    pub assignments: Vec<Option<usize>>,
    /// Sum of squared distances of live profiles to their centroid
    /// (scikit-learn's `inertia_`).
    pub inertia: f64,
}

/// The live filters (largest importance at least the dead threshold, and
/// a positive total) and their importances normalized to sum 1; refused
/// when k exceeds the live filters or their distinct profiles.
fn live_profiles(
    im: &ImportanceMatrix,
    p: &FilterGroupParams,
) -> Result<(Vec<usize>, Vec<Vec<f64>>), AnalysisError> {
    let data = im.data();
    let f = im.n_filters();
    let mut live: Vec<usize> = Vec::new();
    let mut profiles: Vec<Vec<f64>> = Vec::new();
    for c in 0..f {
        let col = data.column(c);
        let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum = col.sum();
        if max >= p.dead_threshold && sum > 0.0 {
            live.push(c);
            profiles.push(col.iter().map(|v| v / sum).collect());
        }
    }
    if p.k > live.len() {
        return Err(AnalysisError::Param {
            name: "k",
            value: p.k.to_string(),
            expected: format!(
                "at most the {} live filters of {f} (dead: max importance < {}); pass a smaller k or a lower dead threshold",
                live.len(),
                p.dead_threshold
            ),
        });
    }
    let mut distinct = profiles.clone();
    distinct.sort_by(|a, b| cmp_vec(a, b));
    distinct.dedup();
    if p.k > distinct.len() {
        return Err(AnalysisError::Param {
            name: "k",
            value: p.k.to_string(),
            expected: format!(
                "at most the {} distinct task profiles among the {} live filters; pass a smaller k",
                distinct.len(),
                live.len()
            ),
        });
    }
    Ok((live, profiles))
}

/// Cluster the live filters' normalized task profiles into `k` groups.
///
/// Errors (`Param`): `k` larger than the number of live filters or than the
/// number of distinct live profiles (k-means cannot make more groups than
/// there are different points).
pub fn filter_groups(
    im: &ImportanceMatrix,
    p: &FilterGroupParams,
) -> Result<FilterGroupReport, AnalysisError> {
    let t = im.n_tasks();
    let f = im.n_filters();
    let (live, profiles) = live_profiles(im, p)?;

    let records = Array2::from_shape_fn((live.len(), t), |(i, j)| profiles[i][j]);
    let dataset = DatasetBase::from(records.clone());
    let rng = Xoshiro256Plus::seed_from_u64(p.seed);
    let model = KMeans::params_with_rng(p.k, rng)
        .n_runs(N_RUNS)
        .max_n_iterations(MAX_ITER)
        .tolerance(KMEANS_TOL)
        .fit(&dataset)
        .map_err(|e| AnalysisError::Degenerate(format!("k-means with k = {} failed: {e}", p.k)))?;
    let first: Vec<usize> = model.predict(&records).to_vec();
    let mut centroids: Vec<Vec<f64>> = model
        .centroids()
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    let labels = lloyd_polish(&profiles, &mut centroids, first);

    // build groups (empty ones dropped)
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); centroids.len()];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(m) = members.get_mut(l) {
            m.push(i);
        }
    }
    let inertia: f64 = labels
        .iter()
        .zip(&profiles)
        .map(|(&l, x)| centroids.get(l).map_or(0.0, |c| sq_dist(x, c)))
        .sum();
    let layer_of = |col: usize| im.layers().iter().position(|l| l.range().contains(&col));
    let count_per_layer = |cols: &mut dyn Iterator<Item = usize>| {
        let mut counts: Vec<(String, usize)> =
            im.layers().iter().map(|l| (l.name.clone(), 0)).collect();
        for c in cols {
            if let Some(entry) = layer_of(c).and_then(|li| counts.get_mut(li)) {
                entry.1 += 1;
            }
        }
        counts
    };
    let mut groups: Vec<(Vec<usize>, FilterGroup)> = members
        .into_iter()
        .zip(centroids)
        .filter(|(m, _)| !m.is_empty())
        .map(|(m, centroid)| {
            let cols: Vec<usize> = m.iter().filter_map(|&i| live.get(i).copied()).collect();
            let group = FilterGroup {
                id: 0,
                size: m.len(),
                kind: kind_of(&centroid),
                dominant_tasks: dominant(im.tasks(), &centroid),
                per_layer: count_per_layer(&mut cols.iter().copied()),
                centroid,
            };
            (cols, group)
        })
        .collect();
    groups.sort_by(|(_, a), (_, b)| {
        b.size
            .cmp(&a.size)
            .then(argmax(&a.centroid).cmp(&argmax(&b.centroid)))
            .then(cmp_vec(&b.centroid, &a.centroid))
    });
    let mut assignments = vec![None; f];
    for (id, (cols, g)) in groups.iter_mut().enumerate() {
        g.id = id;
        for &c in cols.iter() {
            if let Some(a) = assignments.get_mut(c) {
                *a = Some(id);
            }
        }
    }
    let dead_cols: Vec<usize> = (0..f).filter(|c| assignments[*c].is_none()).collect();
    Ok(FilterGroupReport {
        k: p.k,
        tasks: im.tasks().to_vec(),
        groups: groups.into_iter().map(|(_, g)| g).collect(),
        dead: dead_cols.len(),
        dead_per_layer: count_per_layer(&mut dead_cols.into_iter()),
        assignments,
        inertia,
    })
}

fn cmp_vec(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(a.len().cmp(&b.len()))
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(x: &[f64], centroids: &[Vec<f64>]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (k, c) in centroids.iter().enumerate() {
        let d = sq_dist(x, c);
        if d < best.1 {
            best = (k, d);
        }
    }
    best.0
}

/// Lloyd iterations from a given assignment until it stops changing:
/// centroids become member means (an empty cluster keeps its centroid).
fn lloyd_polish(
    points: &[Vec<f64>],
    centroids: &mut [Vec<f64>],
    mut labels: Vec<usize>,
) -> Vec<usize> {
    let dim = points.first().map_or(0, Vec::len);
    for _ in 0..POLISH_ITER {
        let mut sums = vec![vec![0.0; dim]; centroids.len()];
        let mut counts = vec![0usize; centroids.len()];
        for (x, &l) in points.iter().zip(&labels) {
            if let (Some(s), Some(n)) = (sums.get_mut(l), counts.get_mut(l)) {
                s.iter_mut().zip(x).for_each(|(a, b)| *a += b);
                *n += 1;
            }
        }
        for ((c, s), &n) in centroids.iter_mut().zip(sums).zip(&counts) {
            if n > 0 {
                *c = s.into_iter().map(|v| v / n as f64).collect();
            }
        }
        let next: Vec<usize> = points.iter().map(|x| nearest(x, centroids)).collect();
        if next == labels {
            break;
        }
        labels = next;
    }
    labels
}

fn argmax(c: &[f64]) -> usize {
    c.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

fn kind_of(centroid: &[f64]) -> GroupKind {
    let t = centroid.len();
    if t <= 1 {
        return GroupKind::TaskSpecific;
    }
    let entropy: f64 = centroid
        .iter()
        .filter(|&&s| s > 0.0)
        .map(|&s| -s * s.ln())
        .sum();
    let max = centroid.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if entropy / (t as f64).ln() > GENERIC_ENTROPY {
        GroupKind::Generic
    } else if max > TASK_SPECIFIC_SHARE {
        GroupKind::TaskSpecific
    } else {
        GroupKind::Mixed
    }
}

fn dominant(tasks: &[String], centroid: &[f64]) -> Vec<(String, f64)> {
    let uniform = 1.0 / centroid.len().max(1) as f64;
    let mut out: Vec<(usize, f64)> = centroid
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, s)| s > uniform || centroid.len() == 1)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.into_iter()
        .filter_map(|(i, s)| tasks.get(i).map(|n| (n.clone(), s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_validated() {
        assert!(FilterGroupParams::new(0, 0, 0.1).is_err());
        let e = FilterGroupParams::new(2, 0, f64::NAN).unwrap_err();
        assert!(e.to_string().contains("dead_threshold"));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(&[0.25, 0.25, 0.25, 0.25]), GroupKind::Generic);
        assert_eq!(kind_of(&[0.8, 0.1, 0.05, 0.05]), GroupKind::TaskSpecific);
        assert_eq!(kind_of(&[0.45, 0.45, 0.05, 0.05]), GroupKind::Mixed);
        assert_eq!(kind_of(&[1.0]), GroupKind::TaskSpecific);
        assert_eq!(
            serde_json::to_string(&GroupKind::TaskSpecific).unwrap(),
            "\"task_specific\""
        );
    }

    #[test]
    fn dominant_tasks_above_uniform() {
        let t: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let d = dominant(&t, &[0.2, 0.5, 0.3]);
        assert_eq!(
            d.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            vec!["b"]
        );
    }
}
