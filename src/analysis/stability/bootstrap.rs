//! What the stability intervals share (paper 000, App. C): their level,
//! their type, numpy's percentile, and the salts of their random streams.

/// Confidence level of the bootstrap intervals.
pub const BOOTSTRAP_LEVEL: f64 = 0.95;

/// `z` of the two-sided [`BOOTSTRAP_LEVEL`] normal interval.
pub(super) const Z_975: f64 = 1.959_963_984_540_054;

/// Salts that keep the bootstrap streams apart from the Mantel streams.
pub(super) const FILTER_SALT: u64 = 0xB007_5742_F117_E125;
pub(super) const RUN_SALT: u64 = 0xB007_5742_0000_7255;

/// A percentile bootstrap interval at [`BOOTSTRAP_LEVEL`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// Mean of the replicates. Far from the observed value, it shows the
    /// bootstrap's bias (see [`stability_of_importance`](super::stability_of_importance)).
    pub mean: f64,
    /// Replicates the interval was made of: those whose statistic was
    /// defined (see [`resampled_mean`](super::resampled_mean) and [`resampled_spearman`]).
    pub replicates: usize,
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of sorted values with numpy's default
/// linear interpolation (`np.percentile(v, 100 q)`); `None` if empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let last = n.checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lo = (pos.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    let t = pos - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    // numpy's _lerp: exact at both ends
    Some(if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    })
}

/// The central [`BOOTSTRAP_LEVEL`] percentile interval of replicate values.
pub fn percentile_interval(mut values: Vec<f64>) -> Option<Interval> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - BOOTSTRAP_LEVEL) / 2.0;
    Some(Interval {
        low: percentile(&values, alpha)?,
        high: percentile(&values, 1.0 - alpha)?,
        mean: values.iter().sum::<f64>() / values.len() as f64,
        replicates: values.len(),
    })
}
