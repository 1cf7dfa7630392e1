//! Per-pair intervals of the stability Spearman by a grouped (delete-a-group)
//! jackknife over filters, computed from one run at a time.
//!
//! Each run's filters are dealt into [`GROUPS`] random groups of equal size
//! (±1), seeded by the run's position. Replicate `b` of a run leaves group
//! `b` out: its Gram matrix is `G − G_b`, so all replicates together cost
//! one extra pass over the filters (the block Grams `G_b`), not one pass per
//! replicate. A run is reduced to the ranks of its replicate similarity
//! triangles and dropped; a pair's replicates are all `GROUPS²`
//! combinations of a replicate of each run (filters of different runs do
//! not correspond, so each run is subsampled on its own), and its interval
//! is `ρ ± z₀.₉₇₅ · SE` with the delete-a-group variance
//! `SE² = (g − 1) · var(ρ_{b,b'})` (population variance, g = [`GROUPS`]),
//! clipped to [−1, 1].
//!
//! This is the delete-d jackknife with d = F/10 of earlier versions, with
//! the random 90 % subsamples replaced by the complements of a fixed random
//! partition (Kott's random-groups jackknife): the same `(F − d)/d = g − 1`
//! factor, the same expected variance, and the cost of two Gram products
//! per run instead of one per replicate.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::bootstrap::{FILTER_SALT, Interval, Z_975};
use super::ranks::average_ranks;
use crate::analysis::kernels;
use crate::analysis::similarity::cosine_from_gram;

/// Groups of the partition; a pair has `GROUPS²` replicates.
pub const GROUPS: usize = 10;

/// The replicate triangles of one run, as centred ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReplicates {
    /// `GROUPS` vectors (fewer when the run has fewer filters), each the
    /// ranks minus their mean of one replicate's upper triangle, in the
    /// run's own task order. Centred average ranks are multiples of ½
    /// below 2¹⁷ in magnitude at 500 tasks: exact in f32.
    ranks: Vec<Vec<f32>>,
}

impl RunReplicates {
    /// Reduces one run (`data`: its `T × F` importances) to its replicate
    /// ranks. `index` is the run's position, which seeds its partition.
    /// `full` is the run's Gram matrix `I Iᵀ` (already computed for its
    /// similarity matrix).
    pub fn new(data: &DMatrix<f64>, full: &DMatrix<f64>, index: usize, seed: u64) -> Option<Self> {
        let (t, f) = data.shape();
        let groups = GROUPS.min(f);
        if groups < 2 || t < 3 {
            return None;
        }
        let mut order: Vec<usize> = (0..f).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            seed ^ FILTER_SALT ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        order.shuffle(&mut rng);
        let partition: Vec<Vec<usize>> = (0..groups)
            .map(|b| order.iter().skip(b).step_by(groups).copied().collect())
            .collect();
        Some(Self::from_groups(data, full, &partition))
    }

    /// The replicates for a given partition of the filters: replicate `b`
    /// leaves out the filters of `groups[b]` (its Gram matrix is
    /// `full − G_b`). [`RunReplicates::new`] deals the random partition.
    pub fn from_groups(data: &DMatrix<f64>, full: &DMatrix<f64>, groups: &[Vec<usize>]) -> Self {
        let ranks = groups
            .iter()
            .map(|members| {
                let mut members = members.clone();
                members.sort_unstable();
                let block = kernels::gram_of_columns(data, &members);
                centred_ranks(&triangle(&cosine_from_gram(&(full - &block)).0))
            })
            .collect();
        RunReplicates { ranks }
    }

    /// The replicates with their triangles reordered: entry `k` of the
    /// result is entry `map[k]` of the run's own triangle. The identity
    /// map (the common case: every run lists its tasks alike) costs nothing.
    pub(super) fn aligned(self, map: &[usize]) -> Self {
        if map.iter().enumerate().all(|(k, &m)| k == m) {
            return self;
        }
        let ranks = self
            .ranks
            .iter()
            .map(|r| map.iter().map(|&k| r[k]).collect())
            .collect();
        RunReplicates { ranks }
    }
}

/// Upper triangle, row by row.
fn triangle(m: &[Vec<f64>]) -> Vec<f64> {
    let t = m.len();
    let mut out = Vec::with_capacity(t * t.saturating_sub(1) / 2);
    for (i, row) in m.iter().enumerate() {
        out.extend_from_slice(&row[i + 1..]);
    }
    out
}

fn centred_ranks(x: &[f64]) -> Vec<f32> {
    let mean = (x.len() as f64 + 1.0) / 2.0;
    average_ranks(x)
        .into_iter()
        .map(|r| (r - mean) as f32)
        .collect()
}

/// Pearson correlation of two centred rank vectors (`None` if either is
/// constant). The products of half-integers are exact in f64 and so are
/// their sums at these sizes: the result does not depend on summation order.
fn correlation(a: &[f32], b: &[f32]) -> Option<f64> {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (aa > 0.0 && bb > 0.0).then(|| (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0))
}

/// The interval of the pair (`a`, `b`) around its observed `rho`, both
/// runs' replicates in the same task order.
pub fn pair_interval(rho: f64, a: &RunReplicates, b: &RunReplicates) -> Option<Interval> {
    let values: Vec<f64> = a
        .ranks
        .iter()
        .flat_map(|x| b.ranks.iter().filter_map(move |y| correlation(x, y)))
        .collect();
    interval(rho, &values, a.ranks.len().min(b.ranks.len()))
}

/// `ρ ± z · √((g − 1) · var(ρ_s))`, clipped to [−1, 1]; `None` without
/// finite replicates or with fewer than 2 groups.
pub fn interval(rho: f64, replicates: &[f64], groups: usize) -> Option<Interval> {
    let v: Vec<f64> = replicates
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() || groups < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let se = ((groups as f64 - 1.0) * var).sqrt();
    Some(Interval {
        low: (rho - Z_975 * se).max(-1.0),
        high: (rho + Z_975 * se).min(1.0),
        mean,
        replicates: v.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_matches_numpy() {
        // numpy: v = np.array([0.60, 0.62, 0.64, 0.66]); g = 10
        // se = np.sqrt((10 - 1) * v.var()) = 0.06708203932499375
        // 0.63 ± 1.959963984540054 * se = (0.49852161891351265, 0.7614783810864874)
        let ci = interval(0.63, &[0.60, 0.62, 0.64, 0.66], 10).unwrap();
        assert!(
            (ci.low - 0.498_521_618_913_512_65).abs() < 1e-12,
            "{}",
            ci.low
        );
        assert!(
            (ci.high - 0.761_478_381_086_487_4).abs() < 1e-12,
            "{}",
            ci.high
        );
        assert!((ci.mean - 0.63).abs() < 1e-15 && ci.replicates == 4);
        assert_eq!(interval(0.5, &[f64::NAN], 10), None);
        assert_eq!(interval(0.5, &[0.5], 1), None);
    }

    #[test]
    fn replicate_grams_leave_out_one_group_each() {
        // Replicate b's similarity equals the cosine matrix computed
        // directly on the filters outside group b (checked through ranks).
        let data = DMatrix::from_fn(5, 37, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 + 0.01);
        let r = RunReplicates::new(&data, &(&data * data.transpose()), 2, 9).unwrap();
        assert_eq!(r.ranks.len(), GROUPS);
        let mut order: Vec<usize> = (0..37).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            9 ^ FILTER_SALT ^ 3u64.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        order.shuffle(&mut rng);
        for b in 0..GROUPS {
            let out: Vec<usize> = order.iter().skip(b).step_by(GROUPS).copied().collect();
            let keep: Vec<usize> = (0..37).filter(|c| !out.contains(c)).collect();
            let sub = DMatrix::from_fn(5, keep.len(), |i, j| data[(i, keep[j])]);
            let direct = centred_ranks(&triangle(&cosine_from_gram(&(&sub * sub.transpose())).0));
            assert_eq!(direct, r.ranks[b], "replicate {b}");
        }
        // every filter is left out exactly once
        let mut all: Vec<usize> = (0..GROUPS)
            .flat_map(|b| order.iter().skip(b).step_by(GROUPS).copied())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..37).collect::<Vec<_>>());
    }

    #[test]
    fn correlation_of_ranks_is_spearman() {
        // scipy.stats.spearmanr([1, 2, 2, 5], [3, 1, 4, 4]).statistic = 0.5000000000000001
        let a = centred_ranks(&[1.0, 2.0, 2.0, 5.0]);
        let b = centred_ranks(&[3.0, 1.0, 4.0, 4.0]);
        assert!((correlation(&a, &b).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(correlation(&a, &[0.0; 4]), None);
    }
}
