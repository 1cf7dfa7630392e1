//! Stability of task relationships across training runs (paper 000, §5.2
//! and App. C): the Spearman rank correlation between the upper triangles
//! (diagonal excluded) of two runs' task-similarity matrices, for every pair
//! of runs, with a Mantel permutation test for each pair and bootstrap
//! intervals: for the mean over pairs by resampling runs, for each pair by
//! resampling filters.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::AnalysisError;
use super::kernels;
use super::similarity::{SimilarityMatrix, align_runs, similarity_from_gram};
use crate::importance::ImportanceMatrix;

mod bootstrap;
pub mod jackknife;
mod ranks;

use bootstrap::RUN_SALT;
pub use bootstrap::{BOOTSTRAP_LEVEL, Interval, percentile, percentile_interval};
use jackknife::RunReplicates;
pub use ranks::{average_ranks, spearman};

/// Two computed correlations closer than this count as equal when counting
/// permutations at least as extreme as the observed one, so that rounding
/// does not decide the p-value for permutations that are symmetries of the
/// data.
const TIE_TOL: f64 = 1e-12;

/// More permutations than this are refused: they would not change a p-value
/// that is already resolved to 1e-7.
const MAX_PERMUTATIONS: usize = 10_000_000;

/// More bootstrap replicates than this are refused: percentile intervals
/// do not move at that precision, and each pair replicate recomputes two
/// similarity matrices.
const MAX_BOOTSTRAP: usize = 100_000;

/// Number of Mantel permutations per pair of runs, bootstrap replicates,
/// and the RNG seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StabilityParams {
    permutations: usize,
    seed: u64,
    bootstrap: usize,
}

impl StabilityParams {
    /// `permutations = 0` skips the test (p-values are `None`); no
    /// bootstrap (see [`StabilityParams::with_bootstrap`]).
    pub fn new(permutations: usize, seed: u64) -> Result<Self, AnalysisError> {
        if permutations > MAX_PERMUTATIONS {
            return Err(AnalysisError::Param {
                name: "permutations",
                value: permutations.to_string(),
                expected: format!("at most {MAX_PERMUTATIONS}"),
            });
        }
        Ok(Self {
            permutations,
            seed,
            bootstrap: 0,
        })
    }
    /// `replicates` bootstrap replicates for the intervals (0: none).
    pub fn with_bootstrap(self, replicates: usize) -> Result<Self, AnalysisError> {
        if replicates > MAX_BOOTSTRAP {
            return Err(AnalysisError::Param {
                name: "bootstrap",
                value: replicates.to_string(),
                expected: format!("at most {MAX_BOOTSTRAP} replicates"),
            });
        }
        Ok(Self {
            bootstrap: replicates,
            ..self
        })
    }
    pub fn permutations(&self) -> usize {
        self.permutations
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn bootstrap(&self) -> usize {
        self.bootstrap
    }
}

impl Default for StabilityParams {
    /// 999 permutations, no bootstrap, seed 0.
    fn default() -> Self {
        Self {
            permutations: 999,
            seed: 0,
            bootstrap: 0,
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
    /// Bootstrap interval of `spearman` over resampled filters; `None`
    /// without bootstrap or without importance matrices.
    pub ci: Option<Interval>,
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
    /// Bootstrap replicates asked for (0: no intervals).
    pub bootstrap: usize,
    /// Bootstrap interval of `mean` over resampled runs; `None` without
    /// bootstrap or when no replicate had a defined mean.
    pub mean_ci: Option<Interval>,
    /// `Some(T!)` when `T! ≤ permutations`, so every relabeling was
    /// enumerated and the p-values are exact; `None` for the random test.
    pub exact_permutations: Option<usize>,
    /// `R × R` Spearman matrix (diagonal: a run with itself, 1 unless its
    /// triangle is constant).
    pub matrix: Vec<Vec<Option<f64>>>,
}

impl StabilityReport {
    /// Pairs whose observed Spearman lies outside their own interval over
    /// filters (which is centred on it: only clipping to [−1, 1] can cause
    /// that).
    pub fn pairs_outside_their_interval(&self) -> usize {
        self.pairs
            .iter()
            .filter(|p| match (p.spearman, &p.ci) {
                (Some(v), Some(c)) => v < c.low || v > c.high,
                _ => false,
            })
            .count()
    }
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
    // Each run's triangle is ranked once (not once per pair): Spearman is
    // then the Pearson correlation of the centred rank vectors.
    let ranks: Vec<Option<Vec<f64>>> = aligned
        .par_iter()
        .map(|s| centred_ranks(&s.upper_triangle()))
        .collect();
    let rho = |i: usize, j: usize| match (&ranks[i], &ranks[j]) {
        (Some(a), Some(b)) => centred_correlation(a, b),
        _ => None,
    };
    let mut matrix = vec![vec![None; r]; r];
    let index: Vec<(usize, usize)> = (0..r)
        .flat_map(|i| (i + 1..r).map(move |j| (i, j)))
        .collect();
    let pairs: Vec<StabilityPair> = index
        .par_iter()
        .map(|&(i, j)| {
            let rho = rho(i, j);
            let pair_seed =
                p.seed ^ (((i as u64) << 32) | j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let p_value = match (rho, &ranks[i], &ranks[j]) {
                (Some(obs), Some(ra), Some(rb)) if p.permutations > 0 => {
                    mantel(ra, rb, aligned[i].n_tasks(), obs, p.permutations, pair_seed)
                }
                _ => None,
            };
            StabilityPair {
                a: names[i].clone(),
                b: names[j].clone(),
                spearman: rho,
                p_value,
                ci: None,
            }
        })
        .collect();
    for (i, row) in matrix.iter_mut().enumerate() {
        row[i] = rho(i, i);
    }
    for (&(i, j), q) in index.iter().zip(&pairs) {
        matrix[i][j] = q.spearman;
        matrix[j][i] = q.spearman;
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
    let mean_ci = (p.bootstrap > 0)
        .then(|| mean_interval(&matrix, p.bootstrap, p.seed))
        .flatten();
    Ok(StabilityReport {
        runs: names,
        pairs,
        mean,
        min,
        max,
        permutations: p.permutations,
        bootstrap: p.bootstrap,
        mean_ci,
        exact_permutations: aligned
            .first()
            .and_then(|s| factorial_up_to(s.n_tasks(), p.permutations))
            .filter(|_| p.permutations > 0),
        matrix,
    })
}

/// One run reduced to what [`stability_of_runs`] needs: its similarity
/// matrix and, when intervals are asked for, its jackknife replicates
/// ([`jackknife`]). Built from one importance matrix, which the caller can
/// then drop: a command over 20 runs holds one run's matrix at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedRun {
    pub name: String,
    pub similarity: SimilarityMatrix,
    replicates: Option<RunReplicates>,
}

impl ReducedRun {
    /// `index` is the run's position among the runs: it seeds the run's
    /// filter partition, so a pair's interval depends only on its two runs
    /// and their positions.
    pub fn new(name: String, im: &ImportanceMatrix, index: usize, p: &StabilityParams) -> Self {
        Self::with_gram(name, im, &kernels::gram(im.data()), index, p)
    }

    /// [`ReducedRun::new`] with the run's Gram matrix `I Iᵀ` already
    /// computed (the report computes it once per run for the similarity
    /// and the stability section).
    pub fn with_gram(
        name: String,
        im: &ImportanceMatrix,
        gram: &DMatrix<f64>,
        index: usize,
        p: &StabilityParams,
    ) -> Self {
        let similarity = similarity_from_gram(im.tasks(), gram);
        let replicates = (p.bootstrap > 0)
            .then(|| RunReplicates::new(im.data(), gram, index, p.seed))
            .flatten();
        ReducedRun {
            name,
            similarity,
            replicates,
        }
    }
}

/// [`stability`] of runs given by their importance matrices, with an
/// interval for each pair's Spearman over resampled filters when `p` asks
/// for one (a grouped jackknife, see [`jackknife`]).
///
/// Errors: as [`stability`].
pub fn stability_of_importance(
    runs: &[(String, &ImportanceMatrix)],
    p: &StabilityParams,
) -> Result<StabilityReport, AnalysisError> {
    let reduced = runs
        .iter()
        .enumerate()
        .map(|(i, (n, im))| ReducedRun::new(n.clone(), im, i, p))
        .collect();
    stability_of_runs(reduced, p)
}

/// [`stability`] of reduced runs, with the per-pair jackknife intervals
/// when the runs carry replicates.
///
/// Errors: as [`stability`].
pub fn stability_of_runs(
    runs: Vec<ReducedRun>,
    p: &StabilityParams,
) -> Result<StabilityReport, AnalysisError> {
    let sims: Vec<(String, SimilarityMatrix)> = runs
        .iter()
        .map(|r| (r.name.clone(), r.similarity.clone()))
        .collect();
    let mut report = stability(&sims, p)?;
    if p.bootstrap == 0 {
        return Ok(report);
    }
    let order: &[String] = &sims[0].1.tasks;
    // Every run's replicates in the first run's task order, once.
    let replicates: Vec<Option<RunReplicates>> = runs
        .into_iter()
        .map(|r| {
            let map = triangle_map(order, &r.similarity.tasks)?;
            r.replicates.map(|x| x.aligned(&map))
        })
        .collect();
    let n = replicates.len();
    let index: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    let intervals: Vec<Option<Interval>> = index
        .par_iter()
        .zip(report.pairs.par_iter())
        .map(
            |(&(i, j), pair)| match (pair.spearman, &replicates[i], &replicates[j]) {
                (Some(rho), Some(a), Some(b)) => jackknife::pair_interval(rho, a, b),
                _ => None,
            },
        )
        .collect();
    for (pair, ci) in report.pairs.iter_mut().zip(intervals) {
        pair.ci = ci;
    }
    Ok(report)
}

/// For each entry of the upper triangle in `order`, its position in the
/// upper triangle of a run whose tasks are `tasks` (`None` if the task sets
/// differ; [`stability`] reports that).
fn triangle_map(order: &[String], tasks: &[String]) -> Option<Vec<usize>> {
    let t = tasks.len();
    if order.len() != t {
        return None;
    }
    let pos: Vec<usize> = order
        .iter()
        .map(|name| tasks.iter().position(|x| x == name))
        .collect::<Option<_>>()?;
    let mut map = Vec::with_capacity(t * t.saturating_sub(1) / 2);
    for a in 0..t {
        for b in a + 1..t {
            let (lo, hi) = (pos[a].min(pos[b]), pos[a].max(pos[b]));
            map.push(lo * (2 * t - lo - 1) / 2 + (hi - lo - 1));
        }
    }
    Some(map)
}

/// Average ranks minus their mean; `None` when a value is not finite
/// (Spearman is then undefined, as in [`spearman`]) or there are fewer
/// than 2 values.
fn centred_ranks(x: &[f64]) -> Option<Vec<f64>> {
    if x.len() < 2 || x.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = (x.len() as f64 + 1.0) / 2.0;
    Some(average_ranks(x).into_iter().map(|r| r - mean).collect())
}

/// Pearson correlation of two centred vectors; `None` if either is
/// constant (all zero).
fn centred_correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (aa > 0.0 && bb > 0.0).then(|| (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0))
}

/// One bootstrap replicate of the mean: the mean Spearman over the pairs of
/// positions of `draw` (run indices into the `R × R` Spearman `matrix`,
/// drawn with replacement). Pairs whose two positions drew the same run are
/// left out: a run against itself says nothing about stability and would
/// pull the mean towards 1. `None` when no pair with a defined Spearman is
/// left (e.g. every draw the same run).
pub fn resampled_mean(matrix: &[Vec<Option<f64>>], draw: &[usize]) -> Option<f64> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for (x, &i) in draw.iter().enumerate() {
        for &j in &draw[x + 1..] {
            if i == j {
                continue;
            }
            if let Some(v) = matrix.get(i).and_then(|row| row.get(j)).copied().flatten() {
                sum += v;
                n += 1;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// Percentile interval of the mean over `replicates` resamples of the runs
/// (as many draws as runs, with replacement).
fn mean_interval(matrix: &[Vec<Option<f64>>], replicates: usize, seed: u64) -> Option<Interval> {
    let r = matrix.len();
    if r == 0 {
        return None;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ RUN_SALT);
    let mut values = Vec::with_capacity(replicates);
    let mut draw = vec![0usize; r];
    for _ in 0..replicates {
        for d in draw.iter_mut() {
            *d = rng.gen_range(0..r);
        }
        if let Some(m) = resampled_mean(matrix, &draw) {
            values.push(m);
        }
    }
    percentile_interval(values)
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

/// `Σ_{i<j} ra[(i, j)] · rb[perm[i], perm[j]]` with `ra` the upper triangle
/// in row order and `rb` the full symmetric `t × t` matrix: the gather and
/// the sum in one pass, in four lanes so the sum is not one chain of
/// dependent additions. `None` when `ra` is shorter than the triangle.
fn permuted_cross(ra: &[f64], rb: &[f64], t: usize, perm: &[usize]) -> Option<f64> {
    let mut lanes = [0.0f64; 4];
    let mut k = 0;
    for i in 0..t {
        let row = rb.get(perm[i] * t..(perm[i] + 1) * t)?;
        let rest = &perm[i + 1..];
        let a = ra.get(k..k + rest.len())?;
        k += rest.len();
        let mut cols = rest.chunks_exact(4);
        let mut vals = a.chunks_exact(4);
        for (pj, av) in cols.by_ref().zip(vals.by_ref()) {
            lanes[0] += av[0] * row[pj[0]];
            lanes[1] += av[1] * row[pj[1]];
            lanes[2] += av[2] * row[pj[2]];
            lanes[3] += av[3] * row[pj[3]];
        }
        for (&pj, &av) in cols.remainder().iter().zip(vals.remainder()) {
            lanes[0] += av * row[pj];
        }
    }
    Some((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
}

/// Mantel p-value of `rho_obs` for a pair of runs given by the centred
/// ranks of their upper triangles (`t` tasks), permuting the second run.
///
/// The ranks of `b`'s upper triangle are computed once: permuting task
/// labels only moves entries around, so the permuted triangle's ranks are the
/// permuted ranks, and their mean and spread do not change. Each permutation
/// then costs `O(T²)`.
fn mantel(
    ra: &[f64],
    rb_flat: &[f64],
    t: usize,
    rho_obs: f64,
    permutations: usize,
    seed: u64,
) -> Option<f64> {
    // rank of b[i][j] for i != j, as a full symmetric T × T matrix (row
    // major, one allocation); entry (a, b) with a < b sits at
    // a·(2T − a − 1)/2 + (b − a − 1) of the triangle.
    let mut rb = vec![0.0; t * t];
    for i in 0..t {
        for j in i + 1..t {
            let v = rb_flat
                .get(i * (2 * t - i - 1) / 2 + (j - i - 1))
                .copied()
                .unwrap_or(0.0);
            rb[i * t + j] = v;
            rb[j * t + i] = v;
        }
    }
    // Permuting moves the centred ranks around: their sum stays 0 and their
    // spread stays the same, so only the cross product depends on the
    // permutation. It is gathered and summed in one pass, in four lanes so
    // the sum is not one chain of dependent additions.
    let aa: f64 = ra.iter().map(|x| x * x).sum();
    let bb: f64 = rb_flat.iter().map(|x| x * x).sum();
    if ra.len() != rb_flat.len() || !(aa > 0.0 && bb > 0.0) {
        return None;
    }
    let norm = (aa * bb).sqrt();
    let rho_of =
        |perm: &[usize]| permuted_cross(ra, &rb, t, perm).map(|ab| (ab / norm).clamp(-1.0, 1.0));
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
    fn permuted_cross_is_the_gathered_dot_product() {
        // The reference: gather the permuted triangle, then one plain sum.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        for t in 2..14 {
            let full: Vec<f64> = (0..t * t).map(|_| rng.r#gen::<f64>() - 0.5).collect();
            let mut rb = vec![0.0; t * t];
            for i in 0..t {
                for j in 0..t {
                    rb[i * t + j] = if i < j {
                        full[i * t + j]
                    } else {
                        full[j * t + i]
                    };
                }
            }
            let ra: Vec<f64> = (0..t * (t - 1) / 2).map(|_| rng.r#gen::<f64>()).collect();
            let mut perm: Vec<usize> = (0..t).collect();
            for _ in 0..5 {
                perm.shuffle(&mut rng);
                let mut gathered = Vec::new();
                for i in 0..t {
                    for j in i + 1..t {
                        gathered.push(rb[perm[i] * t + perm[j]]);
                    }
                }
                let want: f64 = ra.iter().zip(&gathered).map(|(a, b)| a * b).sum();
                let got = permuted_cross(&ra, &rb, t, &perm).unwrap();
                assert!(
                    (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "t {t}: {got} vs {want}"
                );
            }
        }
        assert_eq!(permuted_cross(&[1.0], &[0.0; 9], 3, &[0, 1, 2]), None);
    }

    #[test]
    fn params() {
        assert!(StabilityParams::new(MAX_PERMUTATIONS + 1, 0).is_err());
        assert_eq!(StabilityParams::new(10, 3).unwrap().seed(), 3);
    }
}
