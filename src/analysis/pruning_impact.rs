//! Pruning impact, the math (paper 000, §5.3 and Fig. 4 right): which
//! filters a task ranks highest, the T × T matrix of metric drops (row r:
//! task r's top-k filters removed from the network; column c: task c
//! evaluated), how often the diagonal dominates, and a permutation p-value
//! for that share. Why the filters are removed for every task and not only
//! task r's gates switched off: see `mtl-train`'s `diagnose::gates`. Shared
//! by `mtl-train diagnose` and the PyTorch side (`mtl_inspect.torch.
//! pruning_impact`), which evaluate the pruned networks their own way.
//!
//! Diagonal dominance, two readings:
//! * by evaluated task (the primary one): task c is hurt most by its own
//!   pruning, i.e. row c holds the maximum of column c — compares drops of
//!   one task's metric, so tasks of different difficulty are not compared;
//! * by pruned task: pruning task r hurts r more than any other task, i.e.
//!   column r holds the maximum of row r (the paper's wording, "removing a
//!   task's specialized filters should degrade its performance more than
//!   others").
//!
//! Ties: when the diagonal entry is one of m equal maxima it counts 1/m
//! (the expected value of breaking the tie at random), so a matrix of
//! zeros scores 1/T, the null expectation, not 1.
//!
//! p-value: permute the column labels (M'[r][c] = M[r][π(c)]), recompute
//! the share; p = (1 + #{share' ≥ share}) / (1 + permutations), seeded.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

/// How a task's filters are ranked for pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// By the task's importance I_{t,i} (paper 000 §5.3, "the top 200 most
    /// important filters per task").
    Importance,
    /// By the task's share of the filter's importance,
    /// I_{t,i} / Σ_s I_{s,i} (the normalised importance whose > τ defines a
    /// specialised filter, §5.3; Fig. 4 right prunes "based on their primary
    /// specialization"). Filters every task uses rank low.
    Specialization,
}

impl Ranking {
    pub const ALL: [Ranking; 2] = [Ranking::Importance, Ranking::Specialization];

    pub fn name(self) -> &'static str {
        match self {
            Ranking::Importance => "importance",
            Ranking::Specialization => "specialization",
        }
    }

    /// The scores `[t][f]` the ranking sorts by.
    pub fn scores(self, importance: &[Vec<f64>]) -> Vec<Vec<f64>> {
        match self {
            Ranking::Importance => importance.to_vec(),
            Ranking::Specialization => specialization(importance),
        }
    }
}

/// I_{t,i} / Σ_s I_{s,i}; a filter no task uses (Σ = 0) scores 0.
pub fn specialization(importance: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let f = importance.first().map_or(0, Vec::len);
    let totals: Vec<f64> = (0..f)
        .map(|i| importance.iter().map(|row| row[i]).sum())
        .collect();
    importance
        .iter()
        .map(|row| {
            row.iter()
                .zip(&totals)
                .map(|(v, s)| if *s > 0.0 { v / s } else { 0.0 })
                .collect()
        })
        .collect()
}

/// For each task, the indices of its `k` most important filters
/// (`importance[t][f]`), highest first; ties go to the lower filter index
/// (depth order), so the choice is deterministic.
pub fn top_k_filters(importance: &[Vec<f64>], k: usize) -> Vec<Vec<usize>> {
    importance
        .iter()
        .map(|row| {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            idx.truncate(k);
            idx
        })
        .collect()
}

/// Default k: the paper's share, 200 of 2880 gates a task (≈ 6.9 %),
/// rounded, at least 1.
pub fn default_k(filters: usize) -> usize {
    ((filters as f64 * 200.0 / 2880.0).round() as usize).max(1)
}

/// Which way a metric hurts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher is better (F1): drop = base − pruned.
    HigherIsBetter,
    /// Lower is better (loss): drop = pruned − base.
    LowerIsBetter,
}

/// `drop[r][c]` from the unpruned per-task metric `base[c]` and
/// `pruned[r][c]`, the metric of task c with task r's filters off.
pub fn drop_matrix(base: &[f64], pruned: &[Vec<f64>], dir: Direction) -> Vec<Vec<f64>> {
    pruned
        .iter()
        .map(|row| {
            row.iter()
                .zip(base)
                .map(|(p, b)| match dir {
                    Direction::HigherIsBetter => b - p,
                    Direction::LowerIsBetter => p - b,
                })
                .collect()
        })
        .collect()
}

/// Permutations of the p-value, as `mtl-train diagnose`.
pub const PERMUTATIONS: usize = 9999;

/// One metric's pruning matrix and its diagonal dominance.
#[derive(Debug, Clone, PartialEq)]
pub struct DropReport {
    /// `[pruned task][evaluated task]`, positive = hurt.
    pub matrix: Vec<Vec<f64>>,
    pub share_by_evaluated: Option<f64>,
    pub p_by_evaluated: Option<f64>,
    pub share_by_pruned: Option<f64>,
    pub p_by_pruned: Option<f64>,
}

/// Shares and p-values of `matrix` (`None` with fewer than two tasks).
pub fn drop_report(matrix: Vec<Vec<f64>>, permutations: usize, seed: u64) -> DropReport {
    if matrix.len() < 2 {
        return DropReport {
            matrix,
            share_by_evaluated: None,
            p_by_evaluated: None,
            share_by_pruned: None,
            p_by_pruned: None,
        };
    }
    DropReport {
        share_by_evaluated: Some(share_by_evaluated(&matrix)),
        p_by_evaluated: Some(permutation_p_value(
            &matrix,
            share_by_evaluated,
            permutations,
            seed,
        )),
        share_by_pruned: Some(share_by_pruned(&matrix)),
        p_by_pruned: Some(permutation_p_value(
            &matrix,
            share_by_pruned,
            permutations,
            seed,
        )),
        matrix,
    }
}

/// Credit of `diag` among `values`: 1/m if it is one of m maxima, else 0.
fn credit(values: impl Iterator<Item = f64> + Clone, diag: f64) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if diag < max || diag.is_nan() {
        return 0.0;
    }
    let ties = values.filter(|v| *v == max).count().max(1);
    1.0 / ties as f64
}

/// Share of columns c whose maximum is at row c (task hurt most by its own
/// pruning), with tie credit.
pub fn share_by_evaluated(m: &[Vec<f64>]) -> f64 {
    let t = m.len();
    if t == 0 {
        return 0.0;
    }
    (0..t)
        .map(|c| credit(m.iter().map(move |row| row[c]), m[c][c]))
        .sum::<f64>()
        / t as f64
}

/// Share of rows r whose maximum is at column r (pruning r hurts r most).
pub fn share_by_pruned(m: &[Vec<f64>]) -> f64 {
    let t = m.len();
    if t == 0 {
        return 0.0;
    }
    (0..t)
        .map(|r| credit(m[r].iter().copied(), m[r][r]))
        .sum::<f64>()
        / t as f64
}

/// Permutation p-value of `share(m)` under random relabelling of the
/// columns.
pub fn permutation_p_value(
    m: &[Vec<f64>],
    share: fn(&[Vec<f64>]) -> f64,
    permutations: usize,
    seed: u64,
) -> f64 {
    let observed = share(m);
    let t = m.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..t).collect();
    let mut at_least = 0usize;
    // Compare with a little slack: shares are sums of 1/m credits whose
    // rounding differs between orders of summation.
    let eps = 1e-12;
    for _ in 0..permutations {
        perm.shuffle(&mut rng);
        let permuted: Vec<Vec<f64>> = m
            .iter()
            .map(|row| perm.iter().map(|&c| row[c]).collect())
            .collect();
        if share(&permuted) >= observed - eps {
            at_least += 1;
        }
    }
    (1 + at_least) as f64 / (1 + permutations) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specialization_is_the_share_of_a_filter() {
        // Filter 0 used by both tasks equally, filter 1 by task 1 only,
        // filter 2 by nobody.
        let imp = vec![vec![0.8, 0.0, 0.0], vec![0.8, 0.5, 0.0]];
        let s = specialization(&imp);
        assert_eq!(s, vec![vec![0.5, 0.0, 0.0], vec![0.5, 1.0, 0.0]]);
        assert_eq!(top_k_filters(&s, 1), vec![vec![0], vec![1]]);
        assert_eq!(top_k_filters(&imp, 1), vec![vec![0], vec![0]]);
    }

    #[test]
    fn top_k_ties_go_to_depth_order() {
        let imp = vec![vec![0.2, 0.9, 0.9, 0.1], vec![0.5, 0.5, 0.5, 0.5]];
        assert_eq!(top_k_filters(&imp, 2), vec![vec![1, 2], vec![0, 1]]);
        assert_eq!(default_k(2880), 200);
        assert_eq!(default_k(56), 4);
        assert_eq!(default_k(3), 1);
    }

    #[test]
    fn diagonal_matrix_dominates_and_is_significant() {
        let t = 6;
        let m: Vec<Vec<f64>> = (0..t)
            .map(|r| {
                (0..t)
                    .map(|c| if r == c { 0.3 } else { 0.01 * c as f64 })
                    .collect()
            })
            .collect();
        assert_eq!(share_by_evaluated(&m), 1.0);
        assert_eq!(share_by_pruned(&m), 1.0);
        // Only the identity (1 of 720 permutations) reaches share 1, and
        // p ≈ 1/720 plus Monte Carlo noise.
        let p = permutation_p_value(&m, share_by_evaluated, 9999, 0);
        assert!(p < 0.005, "{p}");
    }

    #[test]
    fn ties_get_fractional_credit() {
        let zeros = vec![vec![0.0; 4]; 4];
        assert_eq!(share_by_evaluated(&zeros), 0.25);
        assert_eq!(share_by_pruned(&zeros), 0.25);
        // A constant matrix is never unusual: p = 1.
        assert_eq!(permutation_p_value(&zeros, share_by_evaluated, 99, 1), 1.0);
    }

    #[test]
    fn the_two_readings_differ() {
        // Task 0 is fragile: every pruning hurts it most (column 0 large).
        let m = vec![
            vec![0.9, 0.1, 0.0],
            vec![0.5, 0.2, 0.0],
            vec![0.4, 0.0, 0.1],
        ];
        // Columns: col 0 max at row 0 ✓, col 1 max at row 1 ✓, col 2 max at row 2 ✓.
        assert_eq!(share_by_evaluated(&m), 1.0);
        // Rows: row 0 max at col 0 ✓, row 1 max at col 0 ✗, row 2 max at col 0 ✗.
        assert!((share_by_pruned(&m) - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn drops_point_the_same_way_for_both_metrics() {
        let f1 = drop_matrix(
            &[0.8, 0.6],
            &[vec![0.5, 0.6], vec![0.8, 0.1]],
            Direction::HigherIsBetter,
        );
        assert_eq!(f1, vec![vec![0.30000000000000004, 0.0], vec![0.0, 0.5]]);
        let loss = drop_matrix(
            &[0.2, 0.3],
            &[vec![0.5, 0.3], vec![0.2, 0.9]],
            Direction::LowerIsBetter,
        );
        assert_eq!(loss, vec![vec![0.3, 0.0], vec![0.0, 0.6000000000000001]]);
    }
}
