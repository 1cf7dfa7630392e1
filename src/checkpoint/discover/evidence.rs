//! Evidence for the reading decisions that could be wrong, so each is
//! explained and refused when the file does not settle it:
//!
//! - **Gate kind.** A `bias` beside a per-task norm is not proof of affine
//!   TSBN: σBN written as a `BatchNorm2d` subclass keeps a frozen bias (paper
//!   000, App. F.2). σBN stores logits γ (importance σ(γ), eq. 2–3), which
//!   training pushes below zero for closed gates; an affine scale starts at
//!   1 and stays clustered there, rarely negative. So a layer with a shift
//!   is read from its values: many negatives → σBN, clustered near 1 with
//!   (almost) no negatives → affine, anything else → undecided.
//! - **Task sets.** Sibling modules named for their role in a block
//!   (`norm1`/`norm2`, `bn1`/`bn2`, `layernorm_before`/`_after`) are not
//!   tasks.
//! - **Depth order.** Only a file that keeps the model's registration order
//!   (a pickled state_dict) gives depth order; otherwise it is inferred.

use std::path::PathBuf;

use super::values::{GateValues, Half};
use crate::importance::GateKind;

/// Share of negative weights at or above which a shifted layer is read as
/// σBN logits.
pub const SIGMOID_MIN_NEGATIVE: f64 = 0.05;
/// Share of negative weights below which, with most weights in
/// [0.5, 1.5], a shifted layer is read as an affine scale.
pub const AFFINE_MAX_NEGATIVE: f64 = 0.01;
pub const AFFINE_MIN_NEAR_ONE: f64 = 0.5;

/// Why a layer's importance is computed the way it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GateEvidence {
    /// The kind decided, or `None` when the evidence does not settle it.
    pub kind: Option<GateKind>,
    /// What decided it, in words.
    pub reason: String,
    /// Whether the norm has a shift (bias / beta) tensor.
    pub has_shift: bool,
    /// Number of weights the statistics below are over.
    pub values: usize,
    /// Share of weights below zero.
    pub negative: f64,
    /// Share of weights in [0.5, 1.5].
    pub near_one: f64,
    pub median: f64,
}

impl GateEvidence {
    /// A kind named by the file's metadata (`mtl.gate`).
    pub fn from_metadata(kind: GateKind, key: &str, raw: &GateValues, has_shift: bool) -> Self {
        let mut e = Self::stats_of(raw, has_shift);
        e.kind = Some(kind);
        e.reason = format!(
            "{key} metadata says {kind}: importance = {}",
            match kind {
                GateKind::Sigmoid => "sigmoid(weight)",
                GateKind::Abs => "|weight|",
                GateKind::Identity => "weight",
            }
        );
        e
    }

    /// The statistics of a layer's values: half precision from a
    /// histogram of the bit patterns when the layer is large, else as
    /// [`GateEvidence::stats`] of the decoded values (the same numbers).
    fn stats_of(values: &GateValues, has_shift: bool) -> Self {
        match values {
            GateValues::Half { kind, bits, .. } if bits.len() >= HISTOGRAM_MIN_VALUES => {
                Self::from_histogram(BitHistogram::of_bits(*kind, bits), has_shift)
            }
            _ => Self::stats(&values.to_f64(), has_shift),
        }
    }

    fn stats(raw: &[f64], has_shift: bool) -> Self {
        // Values decoded from F16 (a strided F16 view, or the shifted
        // layers pooled by `settle_shifted_layers`): everything from one
        // histogram of bit patterns. Otherwise one pass for the counts and
        // the median by selection.
        let histogram = (raw.len() >= HISTOGRAM_MIN_VALUES)
            .then(|| BitHistogram::of_f16_values(raw))
            .flatten();
        let (n, neg, near, median) = match histogram {
            Some(h) => return Self::from_histogram(Some(h), has_shift),
            None => {
                let (mut n, mut neg, mut near) = (0usize, 0usize, 0usize);
                for &x in raw {
                    if x.is_finite() {
                        n += 1;
                        neg += usize::from(x < 0.0);
                        near += usize::from((0.5..=1.5).contains(&x));
                    }
                }
                (n, neg, near, median(raw))
            }
        };
        Self::from_counts(n, neg, near, median, has_shift)
    }

    /// `None`: no finite value.
    fn from_histogram(h: Option<BitHistogram>, has_shift: bool) -> Self {
        match h {
            Some(h) => Self::from_counts(h.n, h.negative(), h.near_one(), h.median(), has_shift),
            None => Self::from_counts(0, 0, 0, f64::NAN, has_shift),
        }
    }

    fn from_counts(n: usize, neg: usize, near: usize, median: f64, has_shift: bool) -> Self {
        let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let (negative, near_one) = (share(neg), share(near));
        GateEvidence {
            kind: None,
            reason: String::new(),
            has_shift,
            values: n,
            negative,
            near_one,
            median,
        }
    }

    /// Decides from the structure and the values (module docs).
    pub fn from_values(raw: &[f64], has_shift: bool) -> Self {
        Self::decide(Self::stats(raw, has_shift))
    }

    /// [`GateEvidence::from_values`] of a layer's stored values.
    pub fn from_layer_values(values: &GateValues, has_shift: bool) -> Self {
        Self::decide(Self::stats_of(values, has_shift))
    }

    fn decide(mut e: Self) -> Self {
        let has_shift = e.has_shift;
        let pct = |x: f64| format!("{:.0}%", 100.0 * x);
        if !has_shift {
            e.kind = Some(GateKind::Sigmoid);
            e.reason = "no shift (bias) tensor: σBN, importance = sigmoid(weight)".into();
        } else if e.negative >= SIGMOID_MIN_NEGATIVE {
            e.kind = Some(GateKind::Sigmoid);
            e.reason = format!(
                "has a bias, but {} of the weights are negative (median {:.3}): σBN logits with a frozen shift, importance = sigmoid(weight); an affine scale is rarely negative",
                pct(e.negative),
                e.median
            );
        } else if e.negative < AFFINE_MAX_NEGATIVE && e.near_one >= AFFINE_MIN_NEAR_ONE {
            e.kind = Some(GateKind::Abs);
            e.reason = format!(
                "has a bias and the weights cluster near 1 ({} in [0.5, 1.5], {} negative, median {:.3}): an affine scale (TSBN), importance = |weight|",
                pct(e.near_one),
                pct(e.negative),
                e.median
            );
        } else {
            e.reason = format!(
                "has a bias, and the weights look neither like σBN logits ({} negative) nor like an affine scale clustered near 1 ({} in [0.5, 1.5], median {:.3})",
                pct(e.negative),
                pct(e.near_one),
                e.median
            );
        }
        e
    }
}

/// How the layers were put in depth order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerOrder {
    /// The `mtl.layers` metadata of a stacked checkpoint.
    Metadata,
    /// The model's registration order, kept by a pickled state_dict.
    Registration,
    /// Inferred: natural order of the layer names (the file keeps no order).
    Natural,
    /// Set by `--layer-order FILE`.
    File(PathBuf),
}

impl std::fmt::Display for LayerOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerOrder::Metadata => f.write_str("from mtl.layers metadata"),
            LayerOrder::Registration => {
                f.write_str("the model's registration order, as the state_dict keeps it")
            }
            LayerOrder::Natural => f.write_str(
                "inferred: natural order of the names (the file keeps no order); pass --layer-order FILE if that is not depth order",
            ),
            LayerOrder::File(p) => write!(f, "from {}", p.display()),
        }
    }
}

/// Words that name a module's role inside a block, never a task.
const ROLE_WORDS: &[&str] = &[
    "before", "after", "pre", "post", "attn", "mlp", "ffn", "input", "output", "q", "k", "v",
    "query", "key", "value", "self", "cross",
];

/// Whether a set of sibling module names reads as module roles
/// (`norm1`/`norm2`, `bn1`/`bn2`, `ln_1`/`ln_2`, `layernorm_before`/`_after`,
/// `q_norm`/`k_norm`) rather than tasks.
pub fn role_like(keys: &[&str]) -> bool {
    let normish = |k: &str| {
        let l = k.to_ascii_lowercase();
        let stem = l.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
        l.contains("norm")
            || matches!(stem, "bn" | "ln" | "gn" | "in" | "norm")
            || l.starts_with("bn_")
            || l.starts_with("ln_")
    };
    if keys.iter().all(|k| normish(k)) {
        return true;
    }
    keys.iter().all(|k| {
        k.to_ascii_lowercase()
            .split('_')
            .any(|w| ROLE_WORDS.contains(&w))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_not_tasks() {
        assert!(role_like(&["norm1", "norm2"]));
        assert!(role_like(&["bn1", "bn2", "bn3"]));
        assert!(role_like(&["ln_1", "ln_2"]));
        assert!(role_like(&["layernorm_before", "layernorm_after"]));
        assert!(role_like(&["q_norm", "k_norm"]));
        assert!(!role_like(&["segmentation", "depth", "normal"]));
        assert!(!role_like(&["Smiling", "Male"]));
        assert!(!role_like(&["task1", "task2"]));
    }

    #[test]
    fn gate_kind_from_values() {
        let logits = [-2.0, -0.5, 0.3, 1.7, -3.1, 0.9];
        let e = GateEvidence::from_values(&logits, true);
        assert_eq!(e.kind, Some(GateKind::Sigmoid));
        let affine = [0.9, 1.1, 1.05, 0.7, 1.3, 0.95];
        assert_eq!(
            GateEvidence::from_values(&affine, true).kind,
            Some(GateKind::Abs)
        );
        // All positive but far from 1: undecided.
        let unclear = [2.5, 3.0, 2.2, 4.1, 2.8, 3.3];
        assert_eq!(GateEvidence::from_values(&unclear, true).kind, None);
        // No shift: σBN by structure, whatever the values.
        assert_eq!(
            GateEvidence::from_values(&affine, false).kind,
            Some(GateKind::Sigmoid)
        );
    }
}

/// The median of the finite values (NaN if none), as numpy's `median`, by
/// selection on a scratch copy kept per thread (layers of millions of
/// values neither sort nor allocate afresh).
fn median(raw: &[f64]) -> f64 {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| {
        let mut values = cell.borrow_mut();
        values.clear();
        values.extend(raw.iter().copied().filter(|x| x.is_finite()));
        match values.len() {
            0 => f64::NAN,
            m => {
                let (below, &mut mid, _) = values.select_nth_unstable_by(m / 2, f64::total_cmp);
                if m % 2 == 1 {
                    mid
                } else {
                    // The largest value below the middle one.
                    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(mid);
                    0.5 * (lower + mid)
                }
            }
        }
    })
}

/// Below this many values a layer's evidence is computed directly: the
/// histogram's 65 536 counters would cost more than the values.
const HISTOGRAM_MIN_VALUES: usize = 1 << 18;

/// Counts of the finite values by 16-bit pattern (F16 or BF16), when
/// every finite value is one (gates stored in half precision): the
/// evidence's counts and exact median in one pass, without a copy.
struct BitHistogram {
    kind: Half,
    counts: Vec<u32>,
    n: usize,
}

impl BitHistogram {
    /// From f64 values that are all F16 (else `None`).
    fn of_f16_values(raw: &[f64]) -> Option<Self> {
        if raw.len() > u32::MAX as usize {
            return None;
        }
        let mut counts = vec![0u32; 1 << 16];
        let mut n = 0usize;
        for &x in raw.iter().filter(|x| x.is_finite()) {
            counts[f16_exact(x)? as usize] += 1;
            n += 1;
        }
        (n > 0).then_some(BitHistogram {
            kind: Half::F16,
            counts,
            n,
        })
    }

    /// From the stored bit patterns; non-finite ones are not counted.
    /// `None` when no value is finite.
    fn of_bits(kind: Half, bits: &[u16]) -> Option<Self> {
        use rayon::prelude::*;
        let counts = bits
            .par_chunks(1 << 20)
            .map(|chunk| {
                let mut c = vec![0u64; 1 << 16];
                for &b in chunk {
                    c[b as usize] += 1;
                }
                c
            })
            .reduce(
                || vec![0u64; 1 << 16],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let mut n = 0usize;
        let counts: Vec<u32> = (0..=u16::MAX)
            .map(|b| {
                let c = if kind.is_nonfinite(b) {
                    0
                } else {
                    counts[b as usize]
                };
                n += c as usize;
                // A layer has fewer than 2³² values per pattern unless it
                // has more than 2³² values; saturate rather than wrap.
                c.min(u32::MAX as u64) as u32
            })
            .collect();
        (n > 0).then_some(BitHistogram { kind, counts, n })
    }

    /// The patterns with a count, with their values.
    fn present(&self) -> impl Iterator<Item = (f64, usize)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, &c)| (self.kind.to_f64(b as u16), c as usize))
    }

    /// Values below zero (-0 is not).
    fn negative(&self) -> usize {
        self.present()
            .filter(|(v, _)| *v < 0.0)
            .map(|(_, c)| c)
            .sum()
    }

    /// Values in [0.5, 1.5].
    fn near_one(&self) -> usize {
        self.present()
            .filter(|(v, _)| (0.5..=1.5).contains(v))
            .map(|(_, c)| c)
            .sum()
    }

    fn median(&self) -> f64 {
        // Both formats are sign-magnitude: patterns in increasing value are
        // the negatives from the largest magnitude (0xFFFF) down to -0
        // (0x8000), then +0 (0x0000) up; non-finite patterns count zero.
        let ascending = (0x8000..=0xFFFFu32).rev().chain(0..=0x7FFF);
        let (lo_rank, hi_rank) = ((self.n - 1) / 2, self.n / 2);
        let (mut lo, mut seen) = (None, 0usize);
        for b in ascending {
            let c = self.counts[b as usize] as usize;
            if c == 0 {
                continue;
            }
            let v = self.kind.to_f64(b as u16);
            if lo.is_none() && seen + c > lo_rank {
                lo = Some(v);
            }
            if seen + c > hi_rank {
                return lo.map_or(v, |l| if lo_rank == hi_rank { v } else { 0.5 * (l + v) });
            }
            seen += c;
        }
        f64::NAN
    }
}

/// The F16 bit pattern of `x` if `x` is exactly an F16 (finite), from the
/// f32's fields with integer operations only; `None` otherwise.
fn f16_exact(x: f64) -> Option<u16> {
    let f = x as f32;
    if f as f64 != x {
        return None;
    }
    let b = f.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if (1..31).contains(&exp) && b & 0x1fff == 0 {
        return Some(sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16);
    }
    if x == 0.0 {
        return Some(sign);
    }
    // Subnormal F16s and values out of its range.
    let h = half::f16::from_f64(x);
    (h.to_f64() == x).then(|| h.to_bits())
}

#[cfg(test)]
mod median_tests {
    use super::*;

    fn hist_median(v: &[f64]) -> Option<f64> {
        BitHistogram::of_f16_values(v).map(|h| h.median())
    }

    #[test]
    fn histogram_statistics_match_the_direct_ones() {
        // numpy: np.median([-2.5, 0.5, 1.0, 3.0]) = 0.75; odd: [..., 7.0] -> 1.0
        assert_eq!(hist_median(&[3.0, -2.5, 1.0, 0.5]), Some(0.75));
        assert_eq!(hist_median(&[3.0, -2.5, 1.0, 0.5, 7.0]), Some(1.0));
        assert!(BitHistogram::of_f16_values(&[0.1]).is_none()); // 0.1 is not an F16
        assert!(median(&[0.1, 0.3]).to_bits() == (0.5 * (0.1 + 0.3f64)).to_bits());
        assert!(median(&[f64::NAN]).is_nan());
        // many F16 values with ties, zeros of both signs, a subnormal
        let mut v: Vec<f64> = (0..1001)
            .map(|k| half::f16::from_f64(((k * 37) % 101) as f64 / 8.0 - 6.0).to_f64())
            .collect();
        v.extend([0.0, -0.0, half::f16::from_bits(1).to_f64(), 1.5, 0.5, -0.0]);
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        let m = s.len();
        let want = if m % 2 == 1 {
            s[m / 2]
        } else {
            0.5 * (s[m / 2 - 1] + s[m / 2])
        };
        let h = BitHistogram::of_f16_values(&v).unwrap();
        assert_eq!(h.median(), want);
        assert_eq!(median(&v), want);
        assert_eq!(h.negative(), v.iter().filter(|&&x| x < 0.0).count());
        assert_eq!(
            h.near_one(),
            v.iter().filter(|&&x| (0.5..=1.5).contains(&x)).count()
        );
    }

    #[test]
    fn f16_exact_round_trips_every_finite_f16() {
        for b in 0..=u16::MAX {
            let x = half::f16::from_bits(b);
            if x.is_finite() {
                assert_eq!(f16_exact(x.to_f64()), Some(b), "{b:#06x}");
            }
        }
        assert_eq!(f16_exact(0.1), None);
        assert_eq!(f16_exact(1e6), None);
    }
}
