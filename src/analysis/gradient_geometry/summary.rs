//! A distribution of values over batches (or batches × pairs) reduced to
//! what the JSON reports: count, mean, standard deviation, quantiles and
//! the share below zero. Undefined values (`None`, e.g. the cosine of a
//! zero gradient) are counted, not averaged.

/// Quantile levels of [`Summary`], in its field order.
pub const QUANTILE_LEVELS: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Defined values.
    pub n: usize,
    /// Undefined values left out.
    pub undefined: usize,
    /// All `None` when `n = 0`.
    pub mean: Option<f64>,
    /// Population standard deviation (ddof = 0).
    pub std: Option<f64>,
    pub min: Option<f64>,
    /// At [`QUANTILE_LEVELS`], numpy's default (linear) interpolation.
    pub quantiles: Option<[f64; 5]>,
    pub max: Option<f64>,
    /// Share of the defined values that are < 0.
    pub share_negative: Option<f64>,
}

/// `q`-quantile of sorted `v` (non-empty), linear interpolation between
/// closest ranks (numpy `method="linear"`).
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

impl Summary {
    pub fn of(values: &[Option<f64>]) -> Summary {
        let mut v: Vec<f64> = values.iter().flatten().copied().collect();
        let undefined = values.len() - v.len();
        if v.is_empty() {
            return Summary {
                n: 0,
                undefined,
                mean: None,
                std: None,
                min: None,
                quantiles: None,
                max: None,
                share_negative: None,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        Summary {
            n,
            undefined,
            mean: Some(mean),
            std: Some(var.sqrt()),
            min: v.first().copied(),
            quantiles: Some(QUANTILE_LEVELS.map(|q| quantile_sorted(&v, q))),
            max: v.last().copied(),
            share_negative: Some(v.iter().filter(|x| **x < 0.0).count() as f64 / n as f64),
        }
    }

    pub fn of_values(values: &[f64]) -> Summary {
        Summary::of(&values.iter().map(|v| Some(*v)).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy() {
        // import numpy as np; v = np.array([0.3, -0.1, 0.7, 0.2, -0.5, 0.9, 0.0])
        // np.quantile(v, [.05, .25, .5, .75, .95]) ->
        //   [-0.38, -0.05, 0.2, 0.5, 0.84]; v.mean() = 0.21428571428571427;
        // v.std() = 0.44216535830120457, (v < 0).mean() = 2/7
        let v = [0.3, -0.1, 0.7, 0.2, -0.5, 0.9, 0.0];
        let mut opts: Vec<Option<f64>> = v.iter().map(|x| Some(*x)).collect();
        opts.push(None);
        let s = Summary::of(&opts);
        assert_eq!((s.n, s.undefined), (7, 1));
        let q = s.quantiles.unwrap();
        for (got, want) in q.iter().zip([-0.38, -0.05, 0.2, 0.5, 0.84]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((s.mean.unwrap() - 0.21428571428571427).abs() < 1e-15);
        assert!((s.std.unwrap() - 0.44216535830120457).abs() < 1e-14);
        assert_eq!(s.share_negative, Some(2.0 / 7.0));
        assert_eq!((s.min, s.max), (Some(-0.5), Some(0.9)));
    }

    #[test]
    fn empty_and_single() {
        let e = Summary::of(&[None, None]);
        assert_eq!((e.n, e.undefined, e.mean), (0, 2, None));
        let one = Summary::of_values(&[1.5]);
        assert_eq!(one.quantiles, Some([1.5; 5]));
        assert_eq!(one.std, Some(0.0));
    }
}
