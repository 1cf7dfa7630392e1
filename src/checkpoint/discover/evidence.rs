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
    pub fn from_metadata(kind: GateKind, key: &str, raw: &[f64], has_shift: bool) -> Self {
        let mut e = Self::stats(raw, has_shift);
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

    fn stats(raw: &[f64], has_shift: bool) -> Self {
        // One pass for the counts; the median by selection on a scratch
        // copy kept per thread, so layers of millions of values neither
        // sort nor allocate afresh.
        let (mut n, mut neg, mut near) = (0usize, 0usize, 0usize);
        for &x in raw {
            if x.is_finite() {
                n += 1;
                neg += usize::from(x < 0.0);
                near += usize::from((0.5..=1.5).contains(&x));
            }
        }
        let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let (negative, near_one) = (share(neg), share(near));
        let median = median(raw);
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
        let mut e = Self::stats(raw, has_shift);
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

/// The median of the finite values (NaN if none), as numpy's `median`.
/// When every finite value is an F16 (gates stored in half precision, the
/// common case at scale) it is read off a histogram of the 65 536 bit
/// patterns: exact, one pass, no copy. Otherwise by selection on a scratch
/// copy kept per thread.
fn median(raw: &[f64]) -> f64 {
    if let Some(m) = median_of_f16(raw) {
        return m;
    }
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

/// [`median`] by a histogram of F16 bit patterns; `None` when a finite
/// value is not an F16 (or there are none).
fn median_of_f16(raw: &[f64]) -> Option<f64> {
    let mut hist = vec![0u32; 1 << 16];
    let mut n = 0usize;
    for &x in raw.iter().filter(|x| x.is_finite()) {
        let b = super::f16_bits(x);
        if half::f16::from_bits(b).to_f64() != x {
            return None;
        }
        hist[b as usize] += 1;
        n += 1;
    }
    if n == 0 || n > u32::MAX as usize {
        return None;
    }
    // Finite F16 patterns in increasing value: negatives from the most
    // negative (0xFBFF) to -0 (0x8000), then +0 (0x0000) to 0x7BFF.
    let ascending = (0x8000..=0xFBFFu32).rev().chain(0..=0x7BFF);
    let (lo_rank, hi_rank) = ((n - 1) / 2, n / 2);
    let (mut lo, mut seen) = (None, 0usize);
    for b in ascending {
        let c = hist[b as usize] as usize;
        if c == 0 {
            continue;
        }
        let v = half::f16::from_bits(b as u16).to_f64();
        if lo.is_none() && seen + c > lo_rank {
            lo = Some(v);
        }
        if seen + c > hi_rank {
            return lo.map(|l| if lo_rank == hi_rank { v } else { 0.5 * (l + v) });
        }
        seen += c;
    }
    None
}

#[cfg(test)]
mod median_tests {
    use super::*;

    #[test]
    fn histogram_median_matches_selection() {
        // numpy: np.median([-2.5, 0.5, 1.0, 3.0]) = 0.75; odd: [..., 7.0] -> 1.0
        assert_eq!(median_of_f16(&[3.0, -2.5, 1.0, 0.5]), Some(0.75));
        assert_eq!(median_of_f16(&[3.0, -2.5, 1.0, 0.5, 7.0]), Some(1.0));
        assert_eq!(median_of_f16(&[0.1]), None); // 0.1 is not an F16
        assert!(median(&[0.1, 0.3]).to_bits() == (0.5 * (0.1 + 0.3f64)).to_bits());
        assert!(median(&[f64::NAN]).is_nan());
        // many F16 values with ties, against selection
        let v: Vec<f64> = (0..1001)
            .map(|k| half::f16::from_f64(((k * 37) % 101) as f64 / 8.0 - 6.0).to_f64())
            .collect();
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        assert_eq!(median_of_f16(&v), Some(s[500]));
        assert_eq!(
            median_of_f16(&v[..1000]),
            Some({
                let mut t = v[..1000].to_vec();
                t.sort_by(f64::total_cmp);
                0.5 * (t[499] + t[500])
            })
        );
    }
}
