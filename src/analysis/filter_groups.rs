//! Filter groups (an extension of paper 000, §5.3 "filter specialization"):
//! instead of one threshold `τ`, cluster the filters by their normalized task
//! profile `I[:,i] / Σ_t I[t,i]` (the quantity §5.3 thresholds) with k-means,
//! and describe each group as generic, task-specific or mixed.
//!
//! k-means is [`super::kmeans`]: scikit-learn's Lloyd iterations, each one
//! matrix product of the profiles with the centres, from greedy k-means++
//! seeds, with scikit-learn's defaults ([`N_INIT`]); each group's centroid
//! is then the mean of its members.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::AnalysisError;
use super::kmeans::{self, LloydParams, Points};
use crate::importance::ImportanceMatrix;

/// A filter is dead when no task gives it an importance of at least this
/// (σ(γ) < 0.1 for every task: the gate is nearly closed everywhere).
pub const DEFAULT_DEAD_THRESHOLD: f64 = 0.1;

/// A group is task-specific when one task holds more than this share of its
/// centroid (the paper's τ = 0.5).
pub const TASK_SPECIFIC_SHARE: f64 = 0.5;

/// A group is generic when its centroid's normalized entropy
/// `H(c) / ln T` exceeds this (close to uniform use by all tasks).
pub const GENERIC_ENTROPY: f64 = 0.9;

/// Restarts of k-means++ and Lloyd's settings: scikit-learn's defaults
/// (`n_init="auto"`, which is one run from k-means++ seeds; at most 300
/// iterations, stopping when the centres' total squared shift is below
/// 1e-4 × the mean per-feature variance, or when the labels stop
/// changing). Each restart costs as much as the first: at 500 tasks ×
/// 100 800 filters and k = 8 a run can take the 300 iterations.
pub const N_INIT: usize = 1;
const LLOYD: LloydParams = LloydParams {
    max_iter: 300,
    tol: 1e-4,
};

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
/// a positive total) and their importances normalized to sum 1, one
/// profile of `T` values after another; refused when k exceeds the live
/// filters or their distinct profiles.
fn live_profiles(
    im: &ImportanceMatrix,
    p: &FilterGroupParams,
) -> Result<(Vec<usize>, Vec<f64>), AnalysisError> {
    let t = im.n_tasks();
    let f = im.n_filters();
    let columns = im.data().as_slice();
    let mut live: Vec<usize> = Vec::new();
    let mut profiles: Vec<f64> = Vec::new();
    for (c, col) in columns.chunks(t).enumerate() {
        let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = col.iter().sum();
        if max >= p.dead_threshold && sum > 0.0 {
            live.push(c);
            profiles.extend(col.iter().map(|v| v / sum));
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
    let distinct = count_distinct(&profiles, t, p.k);
    if p.k > distinct {
        return Err(AnalysisError::Param {
            name: "k",
            value: p.k.to_string(),
            expected: format!(
                "at most the {distinct} distinct task profiles among the {} live filters; pass a smaller k",
                live.len()
            ),
        });
    }
    Ok((live, profiles))
}

/// The number of distinct profiles, counted up to `enough`: the scan
/// stops as soon as that many are found.
fn count_distinct(profiles: &[f64], t: usize, enough: usize) -> usize {
    let rows: Vec<&[f64]> = profiles.chunks(t).collect();
    let mut seen: Vec<&[f64]> = Vec::new();
    for r in &rows {
        if !seen.contains(r) {
            seen.push(r);
            if seen.len() >= enough {
                return seen.len();
            }
        }
    }
    seen.len()
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
    let points = Points::new(t, &profiles);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed);
    let fit = kmeans::kmeans(&points, p.k, N_INIT, &LLOYD, &mut rng).ok_or_else(|| {
        AnalysisError::Degenerate(format!("k-means with k = {} found no fit", p.k))
    })?;
    let labels = fit.labels;

    // Groups (empty ones dropped), each centroid the mean of its members
    // (so also when Lloyd stopped at its cap).
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); p.k];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(m) = members.get_mut(l) {
            m.push(i);
        }
    }
    let centroids: Vec<Vec<f64>> = members
        .iter()
        .map(|m| {
            let mut c = vec![0.0; t];
            for &i in m {
                c.iter_mut().zip(points.point(i)).for_each(|(a, b)| *a += b);
            }
            c.iter_mut().for_each(|v| *v /= m.len().max(1) as f64);
            c
        })
        .collect();
    let inertia: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| sq_dist(points.point(i), &centroids[l]))
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
