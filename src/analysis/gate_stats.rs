//! Gate-value distributions (paper 000, §7.1 "Discriminative learning
//! rates", Fig. 5, and App. D, Fig. 9): summary statistics and histograms of
//! the importances `σ(γ_{t,i})`, per task and over all tasks.

use rayon::prelude::*;

use crate::importance::ImportanceMatrix;

/// Equal-width histogram with `numpy.histogram` semantics: `counts.len()`
/// bins, `edges.len() = counts.len() + 1`, every bin half-open `[a, b)`
/// except the last, which is closed `[a, b]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
}

/// Summary of one set of gate values.
///
/// `std` is the population standard deviation (`ddof = 0`, numpy's default);
/// quantiles use linear interpolation between order statistics (numpy's
/// default `method="linear"`). `below_0_1` and `above_0_9` are the fractions
/// of values strictly below 0.1 and strictly above 0.9 ("closed" and "open"
/// gates in the paper's figures).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Distribution {
    pub label: String,
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub q05: f64,
    pub q25: f64,
    pub median: f64,
    pub q75: f64,
    pub q95: f64,
    pub max: f64,
    pub below_0_1: f64,
    pub above_0_9: f64,
    pub histogram: Histogram,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GateDistributionReport {
    pub per_task: Vec<Distribution>,
    /// All `T × F` values together, labelled `"all"`.
    pub overall: Distribution,
}

/// The histogram bins of [`gate_distribution`]: at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateStatsParams {
    bins: usize,
}

/// `bins = 0`: a histogram needs a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("--bins must be at least 1")]
pub struct ZeroBins;

impl GateStatsParams {
    /// `gates`' default (`--bins 20`).
    pub const DEFAULT_BINS: usize = 20;

    pub const fn new(bins: usize) -> Result<Self, ZeroBins> {
        if bins == 0 {
            return Err(ZeroBins);
        }
        Ok(GateStatsParams { bins })
    }

    /// `bins` checked when the program is compiled, for the bins a module
    /// fixes itself (a zero is a compile error, not a panic at run time).
    pub const fn fixed(bins: usize) -> Self {
        match GateStatsParams::new(bins) {
            Ok(p) => p,
            Err(_) => panic!("a histogram needs at least one bin"),
        }
    }

    pub fn bins(&self) -> usize {
        self.bins
    }
}

/// Distributions per task and overall, with `p.bins()` histogram bins.
///
/// Every histogram uses the same edges so tasks can be compared: `[0, 1]`
/// when all values lie in `[0, 1]` (sigmoid gates), else `[min, max]` of
/// all values; if `min = max`, numpy's `[min − 0.5, max + 0.5]`.
pub fn gate_distribution(im: &ImportanceMatrix, p: &GateStatsParams) -> GateDistributionReport {
    let (t, f) = (im.n_tasks(), im.n_filters());
    let data = im.data().as_slice();
    // Edges, counts and ranks do not depend on the order of the values,
    // and sums run in fixed chunks: the pooled values are read where they
    // lie (column-major).
    let edges = histogram_edges(data, p.bins);
    // Per task, a block of tasks at a time: their rows transposed out of
    // the matrix (at most BLOCK_VALUES values per block), blocks in
    // parallel. A full transposed copy would double the memory.
    let block = (BLOCK_VALUES / f.max(1)).clamp(1, t.max(1));
    let starts: Vec<usize> = (0..t).step_by(block).collect();
    let per_task = starts
        .par_iter()
        .map(|&r0| {
            let r1 = (r0 + block).min(t);
            let rows = rows_of(data, t, f, r0..r1);
            im.tasks()[r0..r1]
                .iter()
                .zip(rows.chunks(f.max(1)))
                .map(|(name, row)| describe(name, row, &edges))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect();
    GateDistributionReport {
        per_task,
        overall: describe("all", data, &edges),
    }
}

/// Values per block of tasks in [`gate_distribution`] (16 MB of f64).
const BLOCK_VALUES: usize = 1 << 21;

/// Rows `rows` of the column-major `t × f` matrix `data`, row-major (each
/// row contiguous), copied in tiles of 64 columns so that reads reuse
/// their cache lines.
fn rows_of(data: &[f64], t: usize, f: usize, rows: std::ops::Range<usize>) -> Vec<f64> {
    const TILE: usize = 64;
    let n = rows.len();
    let mut out = vec![0.0; n * f];
    for c0 in (0..f).step_by(TILE) {
        let c1 = (c0 + TILE).min(f);
        for (k, r) in rows.clone().enumerate() {
            let dst = &mut out[k * f + c0..k * f + c1];
            for (c, v) in (c0..c1).zip(dst) {
                *v = data[c * t + r];
            }
        }
    }
    out
}

/// The distribution of any set of values (pooled gates of several runs,
/// gradient cosines) with `p.bins()` equal-width bins, by the same rules as
/// [`gate_distribution`]: `[0, 1]` when every value lies there, else
/// `[min, max]`. `range` fixes the edges instead (values outside are not
/// counted in the histogram but are in the statistics).
pub fn distribution_of(
    label: &str,
    values: &[f64],
    p: &GateStatsParams,
    range: Option<(f64, f64)>,
) -> Distribution {
    let bins = p.bins;
    let edges = match range {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && hi > lo => {
            let step = (hi - lo) / bins as f64;
            (0..=bins)
                .map(|k| if k == bins { hi } else { lo + k as f64 * step })
                .collect()
        }
        _ => histogram_edges(values, bins),
    };
    describe(label, values, &edges)
}

fn histogram_edges(values: &[f64], bins: usize) -> Vec<f64> {
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if values.is_empty() || (lo >= 0.0 && hi <= 1.0) {
        (lo, hi) = (0.0, 1.0);
    } else if lo == hi {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    // numpy: np.linspace(lo, hi, bins + 1)
    let step = (hi - lo) / bins as f64;
    (0..=bins)
        .map(|k| if k == bins { hi } else { lo + k as f64 * step })
        .collect()
}

/// numpy.histogram's bin search: a first guess from the bin width, then
/// corrected against the actual edges so values on an edge go right, except
/// at the last edge.
fn histogram(values: &[f64], edges: &[f64]) -> Histogram {
    let bins = edges.len().saturating_sub(1);
    let counts = match (edges.first(), edges.last()) {
        (Some(&lo), Some(&hi)) if bins > 0 => values
            .par_chunks(CHUNK)
            .map(|c| {
                let mut counts = vec![0usize; bins];
                count_into(&mut counts, c, edges, lo, hi);
                counts
            })
            .reduce(
                || vec![0usize; bins],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            ),
        _ => vec![0usize; bins],
    };
    Histogram {
        edges: edges.to_vec(),
        counts,
    }
}

fn count_into(counts: &mut [usize], values: &[f64], edges: &[f64], lo: f64, hi: f64) {
    let bins = counts.len();
    let norm = bins as f64 / (hi - lo);
    for &x in values {
        if !(lo..=hi).contains(&x) {
            continue;
        }
        // x ≥ lo, so truncation is numpy's floor (and needs no libm call).
        let mut i = (((x - lo) * norm) as usize).min(bins - 1);
        if i > 0 && x < edges[i] {
            i -= 1;
        } else if i + 1 < bins && x >= edges[i + 1] {
            i += 1;
        }
        counts[i] += 1;
    }
}

/// Values are summed, counted and ranked in chunks of this many, the
/// chunks in parallel; partial results are combined in chunk order, so a
/// result does not depend on the number of threads, and a set no longer
/// than one chunk is summed strictly left to right.
const CHUNK: usize = 1 << 16;

/// Buckets of the first pass of [`order_statistics`], and the size from
/// which that pass pays off (below it, selection in a copy is faster).
const BUCKETS: usize = 1 << 12;
const BUCKETED_FROM: usize = 1 << 13;

/// The order statistics `ranks` (ascending, each `< values.len()`) of
/// `values`, exactly as a sort by `f64::total_cmp` would give them.
///
/// Sets of [`BUCKETED_FROM`] values or more are ranked in two passes: a count of the
/// values in [`BUCKETS`] equal-width buckets over `[min, max]`, then the
/// few buckets that hold a wanted rank are gathered and selected in. The
/// bucket of `x` is `⌊(x − min) · scale⌋`, which never decreases as `x`
/// grows (each rounded step is monotone), so bucket order is value order
/// and the result is exact. Sets with a NaN or an infinity, or a single
/// value, are selected in directly.
fn order_statistics(values: &[f64], ranks: &[usize]) -> Vec<f64> {
    if values.len() >= BUCKETED_FROM
        && let Some(v) = order_statistics_bucketed(values, ranks)
    {
        return v;
    }
    order_statistics_by_selection(values, ranks)
}

fn order_statistics_bucketed(values: &[f64], ranks: &[usize]) -> Option<Vec<f64>> {
    let (lo, hi, finite) = values
        .par_chunks(CHUNK)
        .map(|c| {
            c.iter().fold(
                (f64::INFINITY, f64::NEG_INFINITY, true),
                |(a, b, ok), &x| (a.min(x), b.max(x), ok && x.is_finite()),
            )
        })
        .reduce(
            || (f64::INFINITY, f64::NEG_INFINITY, true),
            |(a, b, p), (c, d, q)| (a.min(c), b.max(d), p && q),
        );
    if !finite || lo >= hi {
        return None;
    }
    let scale = BUCKETS as f64 / (hi - lo);
    if !scale.is_finite() {
        return None;
    }
    let bucket = |x: f64| (((x - lo) * scale) as usize).min(BUCKETS - 1);
    let counts = values
        .par_chunks(CHUNK)
        .map(|c| {
            let mut h = vec![0usize; BUCKETS];
            c.iter().for_each(|&x| h[bucket(x)] += 1);
            h
        })
        .reduce(
            || vec![0usize; BUCKETS],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    // starts[b]: how many values lie in the buckets before b.
    let mut starts = Vec::with_capacity(BUCKETS + 1);
    starts.push(0usize);
    for c in &counts {
        starts.push(starts.last().copied().unwrap_or(0) + c);
    }
    let bucket_of_rank = |k: usize| starts.partition_point(|&s| s <= k) - 1;
    let mut wanted: Vec<usize> = ranks.iter().map(|&k| bucket_of_rank(k)).collect();
    wanted.dedup();
    let mut slot = vec![usize::MAX; BUCKETS];
    for (i, &b) in wanted.iter().enumerate() {
        slot[b] = i;
    }
    let gathered = values
        .par_chunks(CHUNK)
        .map(|c| {
            let mut out = vec![Vec::new(); wanted.len()];
            for &x in c {
                let s = slot[bucket(x)];
                if s != usize::MAX {
                    out[s].push(x);
                }
            }
            out
        })
        .reduce(
            || vec![Vec::new(); wanted.len()],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| x.extend(y));
                a
            },
        );
    let mut out = Vec::with_capacity(ranks.len());
    for (i, &b) in wanted.iter().enumerate() {
        let local: Vec<usize> = ranks
            .iter()
            .filter(|&&k| bucket_of_rank(k) == b)
            .map(|&k| k - starts[b])
            .collect();
        out.extend(order_statistics_by_selection(&gathered[i], &local));
    }
    Some(out)
}

/// [`order_statistics`] by successive selections on what is left to the
/// right of the previous one: a few passes over the values instead of a
/// sort.
fn order_statistics_by_selection(values: &[f64], ranks: &[usize]) -> Vec<f64> {
    let mut v = values.to_vec();
    let mut out = Vec::with_capacity(ranks.len());
    let mut start = 0;
    let mut last: Option<(usize, f64)> = None;
    for &k in ranks {
        if let Some((r, x)) = last
            && r == k
        {
            out.push(x);
            continue;
        }
        let (_, nth, _) = v[start..].select_nth_unstable_by(k - start, f64::total_cmp);
        let x = *nth;
        out.push(x);
        last = Some((k, x));
        start = k + 1;
    }
    out
}

/// numpy's `quantile(x, q)` with `method="linear"` from the two order
/// statistics around `(n − 1) q`.
fn lerp_quantile(a: f64, b: f64, frac: f64) -> f64 {
    // numpy's _lerp: symmetric form for accuracy near both ends.
    if frac >= 0.5 {
        b - (b - a) * (1.0 - frac)
    } else {
        a + (b - a) * frac
    }
}

const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// Sums and counts of one set of values, each chunk of [`CHUNK`] values
/// added left to right and the chunks' parts added in chunk order.
struct Pass {
    sum: f64,
    below: usize,
    above: usize,
}

fn first_pass(values: &[f64]) -> Pass {
    let parts: Vec<Pass> = values
        .par_chunks(CHUNK)
        .map(|c| Pass {
            sum: c.iter().sum(),
            below: c.iter().filter(|&&v| v < 0.1).count(),
            above: c.iter().filter(|&&v| v > 0.9).count(),
        })
        .collect();
    parts.iter().fold(
        Pass {
            sum: 0.0,
            below: 0,
            above: 0,
        },
        |a, p| Pass {
            sum: a.sum + p.sum,
            below: a.below + p.below,
            above: a.above + p.above,
        },
    )
}

fn sum_of_squares(values: &[f64], mean: f64) -> f64 {
    let parts: Vec<f64> = values
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(|v| (v - mean).powi(2)).sum::<f64>())
        .collect();
    parts.iter().sum()
}

fn describe(label: &str, values: &[f64], edges: &[f64]) -> Distribution {
    let n = values.len();
    let nf = n.max(1) as f64;
    let pass = first_pass(values);
    let mean = pass.sum / nf;
    let var = sum_of_squares(values, mean) / nf;
    // min, max and the two order statistics around each quantile.
    let (q, min, max) = if n == 0 {
        ([f64::NAN; 5], f64::NAN, f64::NAN)
    } else {
        let mut ranks = vec![0, n - 1];
        for p in QUANTILES {
            let lo = ((n - 1) as f64 * p).floor() as usize;
            ranks.push(lo);
            ranks.push((lo + 1).min(n - 1));
        }
        ranks.sort_unstable();
        ranks.dedup();
        let stats = order_statistics(values, &ranks);
        let at = |r: usize| stats[ranks.binary_search(&r).unwrap_or(0)];
        let q = QUANTILES.map(|p| {
            let h = (n - 1) as f64 * p;
            let lo = h.floor() as usize;
            if lo + 1 < n {
                lerp_quantile(at(lo), at(lo + 1), h - lo as f64)
            } else {
                at(lo)
            }
        });
        (q, at(0), at(n - 1))
    };
    Distribution {
        label: label.to_string(),
        n,
        mean,
        std: var.sqrt(),
        min,
        q05: q[0],
        q25: q[1],
        median: q[2],
        q75: q[3],
        q95: q[4],
        max,
        below_0_1: pass.below as f64 / nf,
        above_0_9: pass.above as f64 / nf,
        histogram: histogram(values, edges),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn im(rows: usize, cols: usize, v: &[f64]) -> ImportanceMatrix {
        let names = (0..rows).map(|i| format!("t{i}")).collect();
        ImportanceMatrix::single_layer(names, "l", DMatrix::from_row_slice(rows, cols, v)).unwrap()
    }

    fn bins(n: usize) -> GateStatsParams {
        GateStatsParams::new(n).unwrap()
    }

    #[test]
    fn edges_and_last_bin_closed() {
        let r = gate_distribution(&im(1, 4, &[0.0, 0.5, 0.75, 1.0]), &bins(4));
        assert_eq!(r.overall.histogram.edges, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(r.overall.histogram.counts, vec![1, 0, 1, 2]);
    }

    #[test]
    fn constant_values_outside_unit_range() {
        let r = gate_distribution(&im(2, 2, &[3.0; 4]), &bins(2));
        assert_eq!(r.overall.histogram.edges, vec![2.5, 3.0, 3.5]);
        assert_eq!(r.overall.histogram.counts, vec![0, 4]);
        assert_eq!(r.overall.std, 0.0);
        assert_eq!(r.overall.median, 3.0);
    }

    #[test]
    fn shared_edges_and_zero_bins() {
        // Zero bins is refused (it used to be read as one bin).
        assert_eq!(GateStatsParams::new(0), Err(ZeroBins));
        let r = gate_distribution(&im(2, 2, &[-1.0, 0.0, 2.0, 3.0]), &bins(1));
        assert_eq!(r.per_task[0].histogram.edges, vec![-1.0, 3.0]);
        assert_eq!(r.per_task[1].histogram.edges, r.per_task[0].histogram.edges);
        assert_eq!(r.overall.histogram.counts, vec![4]);
        assert_eq!(r.overall.below_0_1, 0.5);
    }

    #[test]
    fn single_value_quantiles() {
        let r = gate_distribution(&im(1, 1, &[0.3]), &bins(10));
        let d = &r.per_task[0];
        assert_eq!((d.q05, d.q95, d.min, d.max, d.n), (0.3, 0.3, 0.3, 0.3, 1));
    }

    /// Deterministic values with many ties, negatives and both zeros.
    fn awkward(n: usize) -> Vec<f64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match i % 7 {
                    0 => 0.25,
                    1 => -0.0,
                    2 => 0.0,
                    3 => (x % 1000) as f64 / 1000.0 - 0.5,
                    _ => (x >> 11) as f64 / (1u64 << 53) as f64 * 3.0 - 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn bucketed_order_statistics_equal_a_sort() {
        for n in [BUCKETED_FROM, 3 * CHUNK + 17] {
            let v = awkward(n);
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let ranks = [0, 1, n / 20, n / 4, n / 4 + 1, n / 2, n - 2, n - 1];
            let got = order_statistics_bucketed(&v, &ranks).expect("finite, not constant");
            for (k, g) in ranks.iter().zip(&got) {
                assert_eq!(g.to_bits(), sorted[*k].to_bits(), "rank {k} of {n}");
            }
        }
    }

    #[test]
    fn sets_the_buckets_cannot_order_are_selected_in() {
        let mut v = awkward(BUCKETED_FROM);
        v[5] = f64::INFINITY;
        assert!(order_statistics_bucketed(&v, &[0]).is_none());
        v[5] = f64::NAN;
        assert!(order_statistics_bucketed(&v, &[0]).is_none());
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let got = order_statistics(&v, &[0, v.len() - 1]);
        assert_eq!(got[0].to_bits(), sorted[0].to_bits());
        assert!(got[1].is_nan(), "total_cmp puts NaN last");
        assert!(order_statistics_bucketed(&vec![0.5; BUCKETED_FROM], &[0]).is_none());
    }

    #[test]
    fn sums_do_not_depend_on_the_threads() {
        // Chunked sums are fixed by CHUNK alone: the same bits on one
        // thread as on the global pool.
        let v = awkward(5 * CHUNK + 3);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| describe("a", &v, &[0.0, 1.0]));
        let b = describe("a", &v, &[0.0, 1.0]);
        assert_eq!(a.mean.to_bits(), b.mean.to_bits());
        assert_eq!(a.std.to_bits(), b.std.to_bits());
        assert_eq!(a, b);
    }

    #[test]
    fn rows_of_a_column_major_block() {
        let (t, f) = (5, 130);
        let data: Vec<f64> = (0..t * f).map(|k| k as f64).collect();
        let rows = rows_of(&data, t, f, 1..4);
        for (k, r) in (1..4).enumerate() {
            for c in 0..f {
                assert_eq!(rows[k * f + c], data[c * t + r]);
            }
        }
    }

    #[test]
    fn blocks_of_tasks_give_every_task_in_order() {
        // More tasks than one block holds at this width.
        let (t, f) = (7, BLOCK_VALUES / 3 + 1);
        let v: Vec<f64> = (0..t * f)
            .map(|k| ((k * 7919) % 1000) as f64 / 1000.0)
            .collect();
        let r = gate_distribution(&im(t, f, &v), &bins(10));
        for (row, d) in r.per_task.iter().enumerate() {
            assert_eq!(d.label, format!("t{row}"));
            let want: f64 = v[row * f..(row + 1) * f]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            assert_eq!(d.min, want);
            assert_eq!(d.n, f);
        }
        assert_eq!(r.overall.n, t * f);
    }
}
