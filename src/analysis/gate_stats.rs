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
    // Row-major, task after task (the order every sum runs in); task t's
    // values are one slice of it.
    let (t, f) = (im.n_tasks(), im.n_filters());
    let all = crate::importance::transpose_tiled(im.data().as_slice(), f, t);
    let edges = histogram_edges(&all, p.bins);
    let per_task = im
        .tasks()
        .par_iter()
        .zip(all.par_chunks(f.max(1)))
        .map(|(name, row)| describe(name, row, &edges))
        .collect();
    GateDistributionReport {
        per_task,
        overall: describe("all", &all, &edges),
    }
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
    let mut counts = vec![0usize; bins];
    if let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) {
        let norm = bins as f64 / (hi - lo);
        for &x in values {
            if !(lo..=hi).contains(&x) {
                continue;
            }
            let mut i = (((x - lo) * norm).floor() as usize).min(bins - 1);
            if i > 0 && x < edges[i] {
                i -= 1;
            } else if i + 1 < bins && x >= edges[i + 1] {
                i += 1;
            }
            counts[i] += 1;
        }
    }
    Histogram {
        edges: edges.to_vec(),
        counts,
    }
}

/// The order statistics `ranks` (ascending, each `< values.len()`) of
/// `values`, by successive selections on what is left to the right of the
/// previous one: a few passes over the values instead of a sort. The
/// values are those of a sort by `f64::total_cmp`.
fn order_statistics(values: &[f64], ranks: &[usize]) -> Vec<f64> {
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

fn describe(label: &str, values: &[f64], edges: &[f64]) -> Distribution {
    let n = values.len();
    let nf = n.max(1) as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf;
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
        below_0_1: values.iter().filter(|&&v| v < 0.1).count() as f64 / nf,
        above_0_9: values.iter().filter(|&&v| v > 0.9).count() as f64 / nf,
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
}
