//! Colours, type sizes and the few layout rules every figure shares, so the
//! figures of one report look like one report. Nothing here looks at data
//! beyond mapping an already computed value to a colour or a pixel.

pub use plotters::style::RGBColor;

/// The one font family the SVGs name; the browser picks its own sans-serif,
/// so no font file is ever loaded or embedded.
pub const FONT: &str = "sans-serif";
/// Plotters divides sizes by 1.24 when writing SVG; these are the sizes we
/// pass so that the browser sees exactly 10.5, 12 and 14 px.
pub const SMALL: f64 = 13.02;
pub const NORMAL: f64 = 14.88;
pub const TITLE: f64 = 17.36;

pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
pub const GRID: RGBColor = RGBColor(0xe3, 0xe3, 0xe3);
/// Alternate rows of long category lists.
pub const BAND: RGBColor = RGBColor(0xf4, 0xf4, 0xf4);
pub const MISSING: RGBColor = RGBColor(0xd0, 0xd0, 0xd0);
pub const BACKGROUND: RGBColor = RGBColor(0xff, 0xff, 0xff);

/// Okabe–Ito, colour-blind safe; categorical series cycle through it.
pub const CATEGORICAL: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0xf0, 0xe4, 0x42),
    RGBColor(0x00, 0x00, 0x00),
];

/// A longer qualitative palette (Tableau 20 order, darker tones first) for
/// figures with many categories, such as filter groups.
pub const MANY: [RGBColor; 20] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xae, 0xc7, 0xe8),
    RGBColor(0xff, 0xbb, 0x78),
    RGBColor(0x98, 0xdf, 0x8a),
    RGBColor(0xff, 0x98, 0x96),
    RGBColor(0xc5, 0xb0, 0xd5),
    RGBColor(0xc4, 0x9c, 0x94),
    RGBColor(0xf7, 0xb6, 0xd2),
    RGBColor(0xc7, 0xc7, 0xc7),
    RGBColor(0xdb, 0xdb, 0x8d),
    RGBColor(0x9e, 0xda, 0xe5),
];

pub fn categorical(i: usize) -> RGBColor {
    CATEGORICAL[i % CATEGORICAL.len()]
}

pub fn many(i: usize) -> RGBColor {
    MANY[i % MANY.len()]
}

/// Viridis at 9 stops; values in between are interpolated linearly.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2c, 0x7a),
    (0x3b, 0x51, 0x8b),
    (0x2c, 0x71, 0x8e),
    (0x21, 0x90, 0x8d),
    (0x27, 0xad, 0x81),
    (0x5c, 0xc8, 0x63),
    (0xaa, 0xdc, 0x32),
    (0xfd, 0xe7, 0x25),
];

/// The colour of `t ∈ [0, 1]` on viridis (clamped; NaN maps to the
/// missing-value grey).
pub fn viridis(t: f64) -> RGBColor {
    if !t.is_finite() {
        return MISSING;
    }
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Whether text drawn on `c` should be white rather than dark.
pub fn needs_light_text(c: RGBColor) -> bool {
    let l = 0.2126 * c.0 as f64 + 0.7152 * c.1 as f64 + 0.0722 * c.2 as f64;
    l < 128.0
}

/// Width in pixels the browser will roughly need for `text` at plotters
/// size `size` (sans-serif averages ≈ 0.55 em per character; we err wide so
/// labels never collide).
pub fn text_width(text: &str, size: f64) -> i32 {
    (text.chars().count() as f64 * size / 1.24 * 0.58).ceil() as i32
}

/// The widest of `labels` at `size`, in pixels.
pub fn max_text_width<'a>(labels: impl IntoIterator<Item = &'a String>, size: f64) -> i32 {
    labels
        .into_iter()
        .map(|l| text_width(l, size))
        .max()
        .unwrap_or(0)
}

/// Shortens `label` to at most `max` characters with an ellipsis, so one
/// pathological name cannot push a figure off the page. The full name stays
/// in tooltips and CSV files.
pub fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let keep: String = label.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}…")
}

/// Round tick positions ("1, 2, 5 × 10^k") covering `[lo, hi]`, about `n`
/// of them. Degenerate ranges give one tick.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || n == 0 {
        return if lo.is_finite() { vec![lo] } else { vec![] };
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (hi - lo) / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    let mut out = Vec::new();
    let mut k = first;
    while k <= last + 1e-9 {
        // Snap to the step's decimal grid so labels print cleanly.
        let v = (k * step * 1e9).round() / 1e9;
        out.push(if v == 0.0 { 0.0 } else { v });
        k += 1.0;
    }
    out
}

/// A tick label with just enough decimals for `step`.
pub fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|d| {
            let x = step * 10f64.powi(*d);
            (x - x.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// Numbers in tooltips and tables: 3 significant decimals, no "-0.000".
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    let s = format!("{v:.3}");
    if s == "-0.000" {
        "0.000".to_string()
    } else {
        s
    }
}

/// Maps a value in the data range `[d0, d1]` to pixels `[r0, r1]`.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    pub fn new(d0: f64, d1: f64, r0: i32, r1: i32) -> Scale {
        // A zero-width domain would divide by zero; widen it symmetrically.
        let (d0, d1) = if (d1 - d0).abs() < 1e-12 {
            (d0 - 0.5, d1 + 0.5)
        } else {
            (d0, d1)
        };
        Scale {
            d0,
            d1,
            r0: r0 as f64,
            r1: r1 as f64,
        }
    }
    pub fn px(&self, v: f64) -> i32 {
        let t = (v - self.d0) / (self.d1 - self.d0);
        (self.r0 + t * (self.r1 - self.r0)).round() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(0.0, 0.35, 4), vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(nice_ticks(2.0, 2.0, 5), vec![2.0]);
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
    }

    #[test]
    fn tick_labels_have_enough_decimals() {
        assert_eq!(tick_label(0.2, 0.2), "0.2");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(10.0, 5.0), "10");
        assert_eq!(fmt_value(-0.0001), "0.000");
    }

    #[test]
    fn viridis_ends_and_nan() {
        assert_eq!(viridis(0.0), RGBColor(0x44, 0x01, 0x54));
        assert_eq!(viridis(1.0), RGBColor(0xfd, 0xe7, 0x25));
        assert_eq!(viridis(f64::NAN), MISSING);
        assert!(needs_light_text(viridis(0.0)));
        assert!(!needs_light_text(viridis(1.0)));
    }

    #[test]
    fn shorten_keeps_short_names() {
        assert_eq!(shorten("Smiling", 20), "Smiling");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
    }
}
