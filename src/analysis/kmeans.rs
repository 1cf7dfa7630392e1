//! k-means on the columns of a `d × n` matrix (each point contiguous, as a
//! filter's task profile is in the importance matrix), written as
//! scikit-learn's `KMeans(algorithm="lloyd")` is: greedy k-means++ seeding
//! (2 + ⌊ln k⌋ candidates per centre, the one that lowers the potential
//! most), then Lloyd iterations until the labels stop changing or the
//! centres move less than `tol` × the mean per-feature variance, empty
//! clusters given the points farthest from their centres, and the labels
//! made consistent with the final centres.
//!
//! A whole iteration computes every distance as `‖x‖² − 2 x·c + ‖c‖²`,
//! the cross term for all points and centres in one matrix product (faer,
//! all cores). Once the centres settle, Hamerly's bounds (see [`lloyd`])
//! leave most points without any distance: late iterations, when a few
//! hundred labels still move, cost a fraction of a product.
//! Given the same initial centres the iterations are scikit-learn's
//! (`tests/kmeans_reference.rs`); the seeding draws from our own
//! generator, so it is deterministic for a seed but not scikit-learn's draw.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::Rng;
use rayon::prelude::*;

/// Points as the columns of a column-major `d × n` matrix.
pub struct Points<'a> {
    d: usize,
    data: &'a [f64],
    sq_norms: Vec<f64>,
}

/// The outcome of one k-means run.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansFit {
    /// Centre of each cluster, `d` values each (a `d × k` column-major
    /// matrix).
    pub centers: Vec<f64>,
    /// The cluster of each point.
    pub labels: Vec<usize>,
    /// Sum of squared distances of the points to their centres.
    pub inertia: f64,
    /// Lloyd iterations run.
    pub iterations: usize,
}

/// Lloyd's stopping rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LloydParams {
    pub max_iter: usize,
    /// Relative tolerance on the centres' total squared shift, scaled by
    /// the mean per-feature variance of the points (scikit-learn's `tol`).
    pub tol: f64,
}

impl Default for LloydParams {
    /// scikit-learn's defaults: 300 iterations, `tol = 1e-4`.
    fn default() -> Self {
        LloydParams {
            max_iter: 300,
            tol: 1e-4,
        }
    }
}

/// Points per chunk of the parallel centre sums.
const CHUNK: usize = 4096;

/// All cores for products of at least `2²²` multiply-adds.
fn par(work: usize) -> Par {
    if work >= 1 << 22 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

impl<'a> Points<'a> {
    /// `data` holds `n = data.len() / d` points of `d` values each.
    pub fn new(d: usize, data: &'a [f64]) -> Self {
        assert!(
            d > 0 && data.len().is_multiple_of(d),
            "points: {} values in rows of {d}",
            data.len()
        );
        let sq_norms = data.par_chunks(d).map(|x| dot(x, x)).collect();
        Points { d, data, sq_norms }
    }

    pub fn len(&self) -> usize {
        self.sq_norms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sq_norms.is_empty()
    }

    pub fn point(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    fn view(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(self.data, self.d, self.len())
    }

    /// Squared distances of every point to every centre (`centers`: `m`
    /// centres of `d` values), point-major (`[i · m + j]`): one product
    /// `Cᵀ P` for the cross terms. The points are its right operand, read
    /// as they lie (column-major `d × n`); the small `Cᵀ` is the one packed.
    fn sq_distances(&self, centers: &[f64]) -> Vec<f64> {
        let (n, d) = (self.len(), self.d);
        let m = centers.len() / d;
        let mut out = vec![0.0; m * n];
        let c = MatRef::from_column_major_slice(centers, d, m);
        matmul(
            MatMut::from_column_major_slice_mut(&mut out, m, n),
            Accum::Replace,
            c.transpose(),
            self.view(),
            -2.0,
            par(n * d * m),
        );
        let cn: Vec<f64> = centers.chunks(d).map(|c| dot(c, c)).collect();
        out.par_chunks_mut(m)
            .zip(&self.sq_norms)
            .for_each(|(row, xn)| {
                row.iter_mut()
                    .zip(&cn)
                    .for_each(|(v, c)| *v = (*v + xn + c).max(0.0));
            });
        out
    }

    /// The mean per-feature variance (scikit-learn's tolerance scale).
    fn mean_variance(&self) -> f64 {
        let (n, d) = (self.len(), self.d);
        if n == 0 {
            return 0.0;
        }
        let mut mean = vec![0.0; d];
        for x in self.data.chunks(d) {
            mean.iter_mut().zip(x).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0; d];
        for x in self.data.chunks(d) {
            var.iter_mut()
                .zip(x.iter().zip(&mean))
                .for_each(|(s, (v, m))| *s += (v - m) * (v - m));
        }
        var.iter().sum::<f64>() / (n as f64 * d as f64)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The nearest centre of each point (the first on ties) and its squared
/// distance.
fn assign(points: &Points, centers: &[f64]) -> (Vec<usize>, Vec<f64>) {
    let dist = points.sq_distances(centers);
    let k = centers.len() / points.d;
    dist.par_chunks(k)
        .map(|row| {
            let mut best = (0, f64::INFINITY);
            for (j, &v) in row.iter().enumerate() {
                if v < best.1 {
                    best = (j, v);
                }
            }
            best
        })
        .unzip()
}

/// New centres: the means of their members. An empty cluster takes the
/// point farthest from its own centre (scikit-learn's relocation: that
/// point also leaves its old cluster's sum; labels are not changed).
fn update_centers(points: &Points, labels: &[usize], dist: &[f64], k: usize) -> Vec<f64> {
    let d = points.d;
    let (mut sums, counts) = cluster_sums(points, labels, k);
    let mut weight: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let empty: Vec<usize> = (0..k).filter(|&j| weight[j] == 0.0).collect();
    if !empty.is_empty() {
        let mut far: Vec<usize> = (0..labels.len()).collect();
        far.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]).then(a.cmp(&b)));
        for (&new, &i) in empty.iter().zip(&far) {
            let old = labels[i];
            let x = points.point(i);
            sums[old * d..(old + 1) * d]
                .iter_mut()
                .zip(x)
                .for_each(|(s, v)| *s -= v);
            sums[new * d..(new + 1) * d].copy_from_slice(x);
            weight[new] = 1.0;
            weight[old] -= 1.0;
        }
    }
    for (c, w) in sums.chunks_mut(d).zip(&weight) {
        if *w > 0.0 {
            c.iter_mut().for_each(|v| *v /= w);
        }
    }
    sums
}

/// Lloyd iterations from `init` (`k` centres of `d` values).
///
/// Each iteration gives every point its nearest centre and moves every
/// centre to the mean of its points, as scikit-learn's Lloyd does. The
/// work is cut with Hamerly's bounds (G. Hamerly, "Making k-means even
/// faster", SDM 2010), which decide which distances are computed, not the
/// assignment: a point keeps its centre without a distance when an upper
/// bound on its distance to that centre is below both a lower bound on its
/// distance to every other centre and half the distance from its centre to
/// the nearest other one (then that centre is strictly the nearest). The
/// bounds follow the centres' shifts; the points that fail the test get
/// exact distances, and the centres' sums are patched with the points that
/// changed cluster. The first iteration, and the one after a cluster
/// emptied (scikit-learn's relocation), are whole: every distance from one
/// matrix product.
pub fn lloyd(points: &Points, init: &[f64], p: &LloydParams) -> KMeansFit {
    let d = points.d;
    let k = init.len() / d;
    let tol = p.tol * points.mean_variance();
    let mut centers = init.to_vec();
    let mut st: Option<Bounds> = None;
    let mut whole = true;
    let mut strict = false;
    let mut iterations = 0;
    for it in 0..p.max_iter {
        iterations += 1;
        let bounded = st
            .as_mut()
            .filter(|_| !whole)
            .and_then(|b| b.reassign(points, &centers));
        let changed = match bounded {
            Some(changed) => changed,
            None => {
                let fresh = Bounds::exact(points, &centers, k);
                let changed = st.as_ref().map_or(usize::MAX, |old| {
                    old.labels
                        .iter()
                        .zip(&fresh.labels)
                        .filter(|(a, b)| a != b)
                        .count()
                });
                st = Some(fresh);
                changed
            }
        };
        let Some(b) = st.as_mut() else { break };
        let next = if b.counts.contains(&0) {
            // scikit-learn's relocation needs each point's distance to
            // its own centre; the next iteration starts afresh.
            whole = true;
            let dist = b.own_sq_distances(points, &centers);
            update_centers(points, &b.labels, &dist, k)
        } else {
            whole = false;
            b.centers(d)
        };
        let shifts: Vec<f64> = next
            .chunks(d)
            .zip(centers.chunks(d))
            .map(|(a, c)| a.iter().zip(c).map(|(x, y)| (x - y) * (x - y)).sum())
            .collect();
        let shift: f64 = shifts.iter().sum();
        centers = next;
        strict = it > 0 && changed == 0;
        if strict || shift <= tol {
            break;
        }
        if !whole {
            b.follow(&shifts);
        }
    }
    // Unchanged labels stand (scikit-learn keeps them, even when an empty
    // cluster was just relocated); otherwise the labels of the final
    // centres. The inertia is summed directly, as scikit-learn's is.
    let labels = match st {
        Some(b) if strict => b.labels,
        _ => assign(points, &centers).0,
    };
    // Per point in parallel, summed in point order: the same bits on any
    // number of threads.
    let per_point: Vec<f64> = labels
        .par_iter()
        .enumerate()
        .map(|(i, &j)| sq_dist(points.point(i), &centers[j * d..(j + 1) * d]))
        .collect();
    let inertia = per_point.iter().sum();
    KMeansFit {
        centers,
        labels,
        inertia,
        iterations,
    }
}

/// `‖a − b‖²`, in eight interleaved partial sums (so the compiler keeps
/// them in vector registers) added at the end.
fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let e = x[l] - y[l];
            acc[l] += e * e;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Rounding slack of the bound tests: a bound decides only when it wins
/// by more than this relative margin (distances are exact to about 1e-15
/// relative), so a near-tie always gets its distances computed.
const SLACK: f64 = 1e-9;

/// When more points than `n / PATCH_LIMIT` changed cluster, the centres'
/// sums are added up afresh instead of patched.
const PATCH_LIMIT: usize = 8;

/// When more points than `n / WHOLE_LIMIT` fail the bound test, the
/// iteration is done whole (one matrix product is then cheaper).
const WHOLE_LIMIT: usize = 4;

/// What a point that failed the bound test got: its index, its exact
/// distance to its nearest centre, and, when every distance was needed,
/// that centre and the distance to the second nearest.
type Found = (usize, f64, Option<(usize, f64)>);

/// Hamerly's per-point state, with the clusters' sums.
struct Bounds {
    labels: Vec<usize>,
    /// Upper bound on each point's distance to its centre.
    upper: Vec<f64>,
    /// Lower bound on each point's distance to every other centre.
    lower: Vec<f64>,
    sums: Vec<f64>,
    counts: Vec<usize>,
}

impl Bounds {
    /// Every distance from one product: labels (the first nearest on
    /// ties), exact bounds and the clusters' sums.
    fn exact(points: &Points, centers: &[f64], k: usize) -> Bounds {
        let dist = points.sq_distances(centers);
        let (mut labels, mut upper, mut lower) = (Vec::new(), Vec::new(), Vec::new());
        for row in dist.chunks(k) {
            let (mut best, mut first, mut second) = (0, f64::INFINITY, f64::INFINITY);
            for (j, &v) in row.iter().enumerate() {
                if v < first {
                    (best, second, first) = (j, first, v);
                } else if v < second {
                    second = v;
                }
            }
            labels.push(best);
            upper.push(first.sqrt());
            lower.push(second.sqrt());
        }
        let (sums, counts) = cluster_sums(points, &labels, k);
        Bounds {
            labels,
            upper,
            lower,
            sums,
            counts,
        }
    }

    /// Hamerly's assignment step; returns how many points changed cluster
    /// and patches the sums with them, or `None` (nothing changed) when so
    /// many points fail the bound test that a whole iteration is cheaper.
    fn reassign(&mut self, points: &Points, centers: &[f64]) -> Option<usize> {
        let d = points.d;
        let k = centers.len() / d;
        let n = self.labels.len();
        let half: Vec<f64> = (0..k)
            .map(|j| {
                (0..k)
                    .filter(|&o| o != j)
                    .map(|o| sq_dist(&centers[j * d..(j + 1) * d], &centers[o * d..(o + 1) * d]))
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
                    / 2.0
            })
            .collect();
        let bound = |i: usize| half[self.labels[i]].max(self.lower[i]);
        let need: Vec<usize> = (0..n)
            .into_par_iter()
            .filter(|&i| self.upper[i] * (1.0 + SLACK) >= bound(i))
            .collect();
        if need.len() > n / WHOLE_LIMIT {
            return None;
        }
        let found: Vec<Found> = need
            .par_iter()
            .map(|&i| {
                let (a, m) = (self.labels[i], bound(i));
                let x = points.point(i);
                let upper = sq_dist(x, &centers[a * d..(a + 1) * d]).sqrt();
                if upper * (1.0 + SLACK) < m {
                    return (i, upper, None);
                }
                let (mut best, mut first, mut second) = (0, f64::INFINITY, f64::INFINITY);
                for (j, c) in centers.chunks(d).enumerate() {
                    let v = sq_dist(x, c);
                    if v < first {
                        (best, second, first) = (j, first, v);
                    } else if v < second {
                        second = v;
                    }
                }
                (i, first.sqrt(), Some((best, second.sqrt())))
            })
            .collect();
        let mut moved = Vec::new();
        for (i, upper, all) in found {
            self.upper[i] = upper;
            if let Some((best, lower)) = all {
                self.lower[i] = lower;
                if best != self.labels[i] {
                    moved.push((i, self.labels[i], best));
                    self.labels[i] = best;
                }
            }
        }
        if moved.len() > self.labels.len() / PATCH_LIMIT {
            (self.sums, self.counts) = cluster_sums(points, &self.labels, k);
        } else {
            for &(i, old, new) in &moved {
                let x = points.point(i);
                self.sums[old * d..(old + 1) * d]
                    .iter_mut()
                    .zip(x)
                    .for_each(|(s, v)| *s -= v);
                self.sums[new * d..(new + 1) * d]
                    .iter_mut()
                    .zip(x)
                    .for_each(|(s, v)| *s += v);
                self.counts[old] -= 1;
                self.counts[new] += 1;
            }
        }
        Some(moved.len())
    }

    /// The clusters' means (every cluster has a point).
    fn centers(&self, d: usize) -> Vec<f64> {
        let mut c = self.sums.clone();
        for (c, &w) in c.chunks_mut(d).zip(&self.counts) {
            let w = w as f64;
            c.iter_mut().for_each(|v| *v /= w);
        }
        c
    }

    /// Each point's squared distance to its own centre.
    fn own_sq_distances(&self, points: &Points, centers: &[f64]) -> Vec<f64> {
        let d = points.d;
        self.labels
            .par_iter()
            .enumerate()
            .map(|(i, &j)| sq_dist(points.point(i), &centers[j * d..(j + 1) * d]))
            .collect()
    }

    /// The bounds after the centres moved by `sq_shifts` (squared).
    fn follow(&mut self, sq_shifts: &[f64]) {
        let shift: Vec<f64> = sq_shifts.iter().map(|s| s.sqrt()).collect();
        // The largest shift, and the largest of the others.
        let (mut top, mut first, mut second) = (0, 0.0_f64, 0.0_f64);
        for (j, &s) in shift.iter().enumerate() {
            if s > first {
                (top, second, first) = (j, first, s);
            } else if s > second {
                second = s;
            }
        }
        self.upper
            .par_iter_mut()
            .zip(self.lower.par_iter_mut())
            .zip(self.labels.par_iter())
            .for_each(|((u, l), &a)| {
                *u += shift[a];
                *l -= if a == top { second } else { first };
            });
    }
}

/// The clusters' sums and sizes, per fixed-size chunk of points in
/// parallel, added in chunk order: the same bits on any number of threads.
fn cluster_sums(points: &Points, labels: &[usize], k: usize) -> (Vec<f64>, Vec<usize>) {
    let d = points.d;
    let partial: Vec<(Vec<f64>, Vec<usize>)> = labels
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let mut sums = vec![0.0; d * k];
            let mut counts = vec![0usize; k];
            for (o, &l) in chunk.iter().enumerate() {
                sums[l * d..(l + 1) * d]
                    .iter_mut()
                    .zip(points.point(c * CHUNK + o))
                    .for_each(|(s, v)| *s += v);
                counts[l] += 1;
            }
            (sums, counts)
        })
        .collect();
    let mut sums = vec![0.0; d * k];
    let mut counts = vec![0usize; k];
    for (s, w) in &partial {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(w).for_each(|(a, b)| *a += b);
    }
    (sums, counts)
}

/// Greedy k-means++ seeding: the first centre uniformly, then each next
/// one the best of `2 + ⌊ln k⌋` candidates drawn with probability
/// proportional to the squared distance to the nearest centre so far.
/// Returns the chosen points' indices.
pub fn kmeans_plus_plus<R: Rng>(points: &Points, k: usize, rng: &mut R) -> Vec<usize> {
    let n = points.len();
    let trials = 2 + (k as f64).ln() as usize;
    let mut chosen = vec![rng.gen_range(0..n)];
    let mut closest = points.sq_distances(points.point(chosen[0]));
    let mut potential: f64 = closest.iter().sum();
    while chosen.len() < k {
        let mut cumsum = Vec::with_capacity(n);
        let mut acc = 0.0;
        for v in &closest {
            acc += v;
            cumsum.push(acc);
        }
        let candidates: Vec<usize> = (0..trials)
            .map(|_| {
                let r = rng.r#gen::<f64>() * potential;
                cumsum.partition_point(|&c| c < r).min(n - 1)
            })
            .collect();
        let centers: Vec<f64> = candidates
            .iter()
            .flat_map(|&i| points.point(i).iter().copied())
            .collect();
        let dist = points.sq_distances(&centers);
        let m = candidates.len();
        let mut best: Option<(usize, f64, Vec<f64>)> = None;
        for j in 0..m {
            let merged: Vec<f64> = (0..n).map(|i| dist[i * m + j].min(closest[i])).collect();
            let pot: f64 = merged.iter().sum();
            if best.as_ref().is_none_or(|b| pot < b.1) {
                best = Some((j, pot, merged));
            }
        }
        let Some((j, pot, merged)) = best else { break };
        chosen.push(candidates[j]);
        potential = pot;
        closest = merged;
    }
    chosen
}

/// k-means++ then Lloyd, `n_init` times from one generator; the fit with
/// the lowest inertia (the first on ties).
pub fn kmeans<R: Rng>(
    points: &Points,
    k: usize,
    n_init: usize,
    p: &LloydParams,
    rng: &mut R,
) -> Option<KMeansFit> {
    let mut best: Option<KMeansFit> = None;
    for _ in 0..n_init.max(1) {
        let seeds = kmeans_plus_plus(points, k, rng);
        let init: Vec<f64> = seeds
            .iter()
            .flat_map(|&i| points.point(i).iter().copied())
            .collect();
        let fit = lloyd(points, &init, p);
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn blobs() -> Vec<f64> {
        // Three well-separated groups of 2-D points.
        let mut v = Vec::new();
        for (cx, cy) in [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)] {
            for i in 0..5 {
                v.push(cx + 0.1 * i as f64);
                v.push(cy - 0.1 * i as f64);
            }
        }
        v
    }

    #[test]
    fn finds_separated_groups_whatever_the_seed() {
        let data = blobs();
        let pts = Points::new(2, &data);
        for seed in 0..5 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let fit = kmeans(&pts, 3, 1, &LloydParams::default(), &mut rng).unwrap();
            for g in 0..3 {
                let l = &fit.labels[g * 5..g * 5 + 5];
                assert!(
                    l.iter().all(|&x| x == l[0]),
                    "seed {seed}: {:?}",
                    fit.labels
                );
            }
            // Within-group spread only: 3 groups × Σ (0.1 i − 0.2)² · 2.
            assert!(
                (fit.inertia - 3.0 * 2.0 * 0.1).abs() < 1e-9,
                "{}",
                fit.inertia
            );
        }
    }

    #[test]
    fn same_seed_same_fit() {
        let data = blobs();
        let pts = Points::new(2, &data);
        let run = |s| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(s);
            kmeans(&pts, 3, 2, &LloydParams::default(), &mut rng).unwrap()
        };
        assert_eq!(run(7), run(7));
    }

    /// Lloyd without bounds: every iteration whole, as scikit-learn's.
    fn plain_lloyd(points: &Points, init: &[f64], p: &LloydParams) -> (Vec<usize>, usize) {
        let k = init.len() / points.d;
        let tol = p.tol * points.mean_variance();
        let mut centers = init.to_vec();
        let mut last: Option<Vec<usize>> = None;
        for it in 0..p.max_iter {
            let (labels, dist) = assign(points, &centers);
            let next = update_centers(points, &labels, &dist, k);
            let shift: f64 = next
                .iter()
                .zip(&centers)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            centers = next;
            if last.as_ref() == Some(&labels) {
                return (labels, it + 1);
            }
            last = Some(labels);
            if shift <= tol {
                return (assign(points, &centers).0, it + 1);
            }
        }
        (assign(points, &centers).0, p.max_iter)
    }

    #[test]
    fn bounds_change_the_work_not_the_iterations() {
        // Overlapping groups in 24 dimensions: many iterations, with most
        // of them taken by the bounds.
        let (d, n) = (24, 3000);
        let mut x: u64 = 7;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let data: Vec<f64> = (0..n * d)
            .map(|i| ((i / d) % 5) as f64 * 0.15 * ((i % d) % 3) as f64 + next())
            .collect();
        let pts = Points::new(d, &data);
        for (k, tol) in [(4, 0.0), (7, 1e-4), (12, 1e-6)] {
            let init: Vec<f64> = (0..k).flat_map(|j| pts.point(j * 97).to_vec()).collect();
            let p = LloydParams { max_iter: 300, tol };
            let fit = lloyd(&pts, &init, &p);
            let (labels, iterations) = plain_lloyd(&pts, &init, &p);
            assert!(fit.iterations > 5, "k = {k}: {} iterations", fit.iterations);
            assert_eq!(fit.iterations, iterations, "k = {k}");
            assert_eq!(fit.labels, labels, "k = {k}");
        }
    }

    #[test]
    fn an_empty_cluster_takes_the_farthest_point() {
        // Two centres start on the same spot: the second gets no points on
        // the first assignment and is moved to the point farthest from its
        // centre, as scikit-learn does.
        let data = [0.0, 0.0, 1.0, 0.0, 10.0, 0.0];
        let pts = Points::new(2, &data);
        let fit = lloyd(&pts, &[0.5, 0.0, 0.5, 0.0], &LloydParams::default());
        assert_eq!(fit.labels, [0, 0, 1]);
        assert!((fit.inertia - 0.5).abs() < 1e-12);
    }
}
