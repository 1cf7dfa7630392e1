//! Stability of task relationships across training runs (paper 000, §5.2
//! and App. C): the Spearman rank correlation between the upper triangles
//! (diagonal excluded) of two runs' task-similarity matrices, for every pair
//! of runs, with a Mantel permutation test for each pair.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::AnalysisError;
use super::similarity::{SimilarityMatrix, align_runs};

/// Two computed correlations closer than this count as equal when counting
/// permutations at least as extreme as the observed one, so that rounding
/// does not decide the p-value for permutations that are symmetries of the
/// data.
const TIE_TOL: f64 = 1e-12;

/// More permutations than this are refused: they would not change a p-value
/// that is already resolved to 1e-7.
const MAX_PERMUTATIONS: usize = 10_000_000;

/// Ranks starting at 1, ties get the average of the ranks they span
/// (scipy's `rankdata(method="average")`). Values are compared with
/// `total_cmp`, so equal values are exactly equal bit patterns (±0 aside).
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        // positions i..=j (0-based) share ranks i+1..=j+1
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    Some((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman's ρ with average ranks for ties (= `scipy.stats.spearmanr`).
/// `None` when the lengths differ, there are fewer than 2 values, either
/// side is constant (ρ is undefined; scipy returns NaN), or a value is not
/// finite.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Number of Mantel permutations per pair of runs and the RNG seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StabilityParams {
    permutations: usize,
    seed: u64,
}

impl StabilityParams {
    /// `permutations = 0` skips the test (p-values are `None`).
    pub fn new(permutations: usize, seed: u64) -> Result<Self, AnalysisError> {
        if permutations > MAX_PERMUTATIONS {
            return Err(AnalysisError::Param {
                name: "permutations",
                value: permutations.to_string(),
                expected: format!("at most {MAX_PERMUTATIONS}"),
            });
        }
        Ok(Self { permutations, seed })
    }
    pub fn permutations(&self) -> usize {
        self.permutations
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl Default for StabilityParams {
    /// 999 permutations, seed 0.
    fn default() -> Self {
        Self {
            permutations: 999,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StabilityPair {
    pub a: String,
    pub b: String,
    /// `None` when undefined (fewer than 3 tasks, or a constant triangle).
    pub spearman: Option<f64>,
    /// One-sided (greater) Mantel p-value; `None` without permutations or
    /// without a defined `spearman`.
    pub p_value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StabilityReport {
    pub runs: Vec<String>,
    /// Every pair `a < b` in run order.
    pub pairs: Vec<StabilityPair>,
    /// Over the pairs whose Spearman is defined; `None` if none is.
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub permutations: usize,
    /// `Some(T!)` when `T! ≤ permutations`, so every relabeling was
    /// enumerated and the p-values are exact; `None` for the random test.
    pub exact_permutations: Option<usize>,
    /// `R × R` Spearman matrix (diagonal: a run with itself, 1 unless its
    /// triangle is constant).
    pub matrix: Vec<Vec<Option<f64>>>,
}

/// Pairwise Spearman correlations between runs, with Mantel p-values.
///
/// Runs are aligned to the first run's task order by task name. The Mantel
/// test permutes the task labels (rows and columns together) of the second
/// matrix of a pair and recomputes ρ; `p = (1 + #{ρ_perm ≥ ρ_obs}) / (N + 1)`.
/// When `T! ≤ N` all `T!` permutations are enumerated instead and
/// `p = #{ρ_perm ≥ ρ_obs} / T!` (identity included), which is exact.
/// "≥" allows a difference of 1e-12 for rounding. Each pair uses its own
/// Xoshiro256++ stream seeded from `seed` and the pair's position, so a
/// pair's p-value does not depend on the other runs.
///
/// Errors: fewer than 2 runs; runs with different task sets
/// (`TaskMismatch`).
pub fn stability(
    runs: &[(String, SimilarityMatrix)],
    p: &StabilityParams,
) -> Result<StabilityReport, AnalysisError> {
    let aligned = align_runs(runs, 2)?;
    let names: Vec<String> = runs.iter().map(|(n, _)| n.clone()).collect();
    let r = aligned.len();
    let triangles: Vec<Vec<f64>> = aligned.iter().map(|s| s.upper_triangle()).collect();
    let mut matrix = vec![vec![None; r]; r];
    let mut pairs = Vec::new();
    for i in 0..r {
        matrix[i][i] = spearman(&triangles[i], &triangles[i]);
        for j in i + 1..r {
            let rho = spearman(&triangles[i], &triangles[j]);
            matrix[i][j] = rho;
            matrix[j][i] = rho;
            let pair_seed =
                p.seed ^ (((i as u64) << 32) | j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let p_value = match rho {
                Some(obs) if p.permutations > 0 => {
                    mantel(&aligned[i], &aligned[j], obs, p.permutations, pair_seed)
                }
                _ => None,
            };
            pairs.push(StabilityPair {
                a: names[i].clone(),
                b: names[j].clone(),
                spearman: rho,
                p_value,
            });
        }
    }
    let defined: Vec<f64> = pairs.iter().filter_map(|q| q.spearman).collect();
    let (mean, min, max) = if defined.is_empty() {
        (None, None, None)
    } else {
        (
            Some(defined.iter().sum::<f64>() / defined.len() as f64),
            defined.iter().copied().reduce(f64::min),
            defined.iter().copied().reduce(f64::max),
        )
    };
    Ok(StabilityReport {
        runs: names,
        pairs,
        mean,
        min,
        max,
        permutations: p.permutations,
        exact_permutations: aligned
            .first()
            .and_then(|s| factorial_up_to(s.n_tasks(), p.permutations))
            .filter(|_| p.permutations > 0),
        matrix,
    })
}

/// `T!` if it is at most `limit`.
fn factorial_up_to(t: usize, limit: usize) -> Option<usize> {
    (1..=t).try_fold(1usize, |acc, k| acc.checked_mul(k).filter(|&v| v <= limit))
}

/// Rearranges `perm` into the next permutation in lexicographic order;
/// false after the last one.
fn next_permutation(perm: &mut [usize]) -> bool {
    let n = perm.len();
    if n < 2 {
        return false;
    }
    let mut i = n - 1;
    while i > 0 && perm[i - 1] >= perm[i] {
        i -= 1;
    }
    if i == 0 {
        return false;
    }
    let mut j = n - 1;
    while perm[j] <= perm[i - 1] {
        j -= 1;
    }
    perm.swap(i - 1, j);
    perm[i..].reverse();
    true
}

/// Mantel p-value of `rho_obs` for the pair (`a`, `b`), permuting `b`.
///
/// The ranks of `b`'s upper triangle are computed once: permuting task
/// labels only moves entries around, so the permuted triangle's ranks are the
/// permuted ranks, and their mean and spread do not change. Each permutation
/// then costs `O(T²)`.
fn mantel(
    a: &SimilarityMatrix,
    b: &SimilarityMatrix,
    rho_obs: f64,
    permutations: usize,
    seed: u64,
) -> Option<f64> {
    let t = a.n_tasks();
    let ra = average_ranks(&a.upper_triangle());
    let rb_flat = average_ranks(&b.upper_triangle());
    // rank of b[i][j] for i != j, as a full symmetric matrix; entry (a, b)
    // with a < b sits at a·(2T − a − 1)/2 + (b − a − 1) of the triangle.
    let rb: Vec<Vec<f64>> = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| {
                    let (a, b) = (i.min(j), i.max(j));
                    if a == b {
                        return 0.0;
                    }
                    let k = a * (2 * t - a - 1) / 2 + (b - a - 1);
                    rb_flat.get(k).copied().unwrap_or(0.0)
                })
                .collect()
        })
        .collect();
    let rho_of = |perm: &[usize]| -> Option<f64> {
        let mut permuted = Vec::with_capacity(ra.len());
        for i in 0..t {
            for j in i + 1..t {
                permuted.push(rb[perm[i]][perm[j]]);
            }
        }
        pearson(&ra, &permuted)
    };
    let at_least = |r: Option<f64>| r.is_some_and(|r| r >= rho_obs - TIE_TOL);
    let mut perm: Vec<usize> = (0..t).collect();
    if let Some(total) = factorial_up_to(t, permutations) {
        let mut count = 0usize;
        loop {
            if at_least(rho_of(&perm)) {
                count += 1;
            }
            if !next_permutation(&mut perm) {
                break;
            }
        }
        return Some(count as f64 / total as f64);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut count = 0usize;
    for _ in 0..permutations {
        perm.shuffle(&mut rng);
        if at_least(rho_of(&perm)) {
            count += 1;
        }
    }
    Some((1 + count) as f64 / (permutations + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn spearman_degenerate_inputs() {
        assert_eq!(spearman(&[1.0], &[2.0]), None);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[5.0, 7.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn permutations_enumerate_all() {
        let mut p = vec![0, 1, 2, 3];
        let mut n = 1;
        while next_permutation(&mut p) {
            n += 1;
        }
        assert_eq!(n, 24);
        assert_eq!(factorial_up_to(4, 24), Some(24));
        assert_eq!(factorial_up_to(4, 23), None);
        assert_eq!(factorial_up_to(40, usize::MAX), None);
        assert!(!next_permutation(&mut [0]));
    }

    #[test]
    fn params() {
        assert!(StabilityParams::new(MAX_PERMUTATIONS + 1, 0).is_err());
        assert_eq!(StabilityParams::new(10, 3).unwrap().seed(), 3);
    }
}
