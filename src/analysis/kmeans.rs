//! k-means on the columns of a `d × n` matrix (each point contiguous, as a
//! filter's task profile is in the importance matrix), written as
//! scikit-learn's `KMeans(algorithm="lloyd")` is: greedy k-means++ seeding
//! (2 + ⌊ln k⌋ candidates per centre, the one that lowers the potential
//! most), then Lloyd iterations until the labels stop changing or the
//! centres move less than `tol` × the mean per-feature variance, empty
//! clusters given the points farthest from their centres, and the labels
//! made consistent with the final centres.
//!
//! Every distance is `‖x‖² − 2 x·c + ‖c‖²`, the cross term for all points
//! and centres in one matrix product per iteration (faer, all cores), so an
//! iteration costs one `n × d × k` product and one pass over the points.
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
    // Sums per fixed-size chunk of points in parallel, then added in chunk
    // order: the same bits on any number of threads.
    let partial: Vec<(Vec<f64>, Vec<f64>)> = labels
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let mut sums = vec![0.0; d * k];
            let mut weight = vec![0.0f64; k];
            for (o, &l) in chunk.iter().enumerate() {
                sums[l * d..(l + 1) * d]
                    .iter_mut()
                    .zip(points.point(c * CHUNK + o))
                    .for_each(|(s, v)| *s += v);
                weight[l] += 1.0;
            }
            (sums, weight)
        })
        .collect();
    let mut sums = vec![0.0; d * k];
    let mut weight = vec![0.0f64; k];
    for (s, w) in &partial {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        weight.iter_mut().zip(w).for_each(|(a, b)| *a += b);
    }
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
pub fn lloyd(points: &Points, init: &[f64], p: &LloydParams) -> KMeansFit {
    let d = points.d;
    let k = init.len() / d;
    let tol = p.tol * points.mean_variance();
    let mut centers = init.to_vec();
    let mut last: Option<(Vec<usize>, Vec<f64>)> = None;
    let mut strict = false;
    let mut iterations = 0;
    for _ in 0..p.max_iter {
        iterations += 1;
        let (labels, dist) = assign(points, &centers);
        let next = update_centers(points, &labels, &dist, k);
        let shift: f64 = next
            .iter()
            .zip(&centers)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        centers = next;
        strict = last.as_ref().is_some_and(|(l, _)| *l == labels);
        last = Some((labels, dist));
        if strict || shift <= tol {
            break;
        }
    }
    // Unchanged labels stand (scikit-learn keeps them, even when an empty
    // cluster was just relocated); otherwise the labels of the final
    // centres. The inertia is summed directly, as scikit-learn's is.
    let labels = match last {
        Some((l, _)) if strict => l,
        _ => assign(points, &centers).0,
    };
    let d = points.d;
    // Per point in parallel, summed in point order: the same bits on any
    // number of threads.
    let per_point: Vec<f64> = labels
        .par_iter()
        .enumerate()
        .map(|(i, &j)| {
            let c = &centers[j * d..(j + 1) * d];
            points
                .point(i)
                .iter()
                .zip(c)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
        })
        .collect();
    let inertia = per_point.iter().sum();
    KMeansFit {
        centers,
        labels,
        inertia,
        iterations,
    }
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
