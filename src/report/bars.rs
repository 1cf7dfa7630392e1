//! Horizontal grouped bars, one band per category, optionally with min–max
//! whiskers and a marker per category: the capacity split of paper Fig. 3
//! (shared and independent capacity per task, total capacity as a marker;
//! across runs the bars are means and the whiskers the runs' range).
//! Categories run down the page so 40 task names stay horizontal and legible;
//! above [`ranked::MAX_BAR_CATEGORIES`] the same figure is drawn as ranked
//! profiles ([`ranked`]), which stay one screen tall.

use super::ReportError;
use super::ranked;
use super::style::{self, Scale};
use super::svg::{self, Anchor, AxisSpec, Swatch, TextSpec};

#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
    /// Optional `(min, max)` per category, drawn as a whisker.
    pub range: Option<Vec<(f64, f64)>>,
}

#[derive(Debug, Clone)]
pub struct BarFigure {
    pub name: String,
    pub title: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    /// A tick across each band (e.g. the total capacity), with its legend name.
    pub marker: Option<(String, Vec<f64>)>,
    pub value_label: String,
    /// What the whiskers span, for the legend; `None`: "min–max across runs".
    pub whisker_label: Option<String>,
}

/// Whether [`render`] draws `f` as ranked profiles rather than bars.
pub fn is_ranked(f: &BarFigure) -> bool {
    f.categories.len() > ranked::MAX_BAR_CATEGORIES
}

pub fn render(f: &BarFigure) -> Result<String, ReportError> {
    check(f)?;
    if is_ranked(f) {
        return ranked::render(f);
    }
    let n = f.categories.len();
    let m = f.series.len().max(1);
    let bar = if n > 20 { 7 } else { 12 };
    let band = (bar * m as i32 + 8).max(18);
    let labels: Vec<String> = f.categories.iter().map(|l| style::shorten(l, 32)).collect();
    let label_w = style::max_text_width(&labels, style::SMALL);

    let x0 = 16 + label_w + 8;
    let plot_w = 520;
    let x1 = x0 + plot_w;
    let width = x1 + 40;
    let legend_y = 42;
    let y0 = legend_y + 24;
    let y1 = y0 + band * n as i32;
    let height = y1 + 52;

    let (lo, hi) = value_range(f);
    let xs = Scale::new(lo, hi, x0, x1);

    svg::render(&f.name, (width as u32, height as u32), |a| {
        svg::title(a, &f.title)?;
        let mut entries: Vec<(Swatch, String)> = f
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (Swatch::Box(style::categorical(i)), s.name.clone()))
            .collect();
        if let Some((name, _)) = &f.marker {
            entries.push((Swatch::Line(style::INK, 2), name.clone()));
        }
        if f.series.iter().any(|s| s.range.is_some()) {
            let label = f.whisker_label.as_deref().unwrap_or("min–max across runs");
            entries.push((Swatch::Line(style::INK, 1), label.into()));
        }
        svg::legend(a, &entries, (x0, legend_y), width - 8)?;
        svg::x_axis(
            a,
            &AxisSpec {
                scale: xs,
                across: (y0, y1),
                label: &f.value_label,
                n_ticks: 6,
                percent: false,
            },
        )?;
        for (c, label) in labels.iter().enumerate() {
            let by = y0 + band * c as i32;
            if c % 2 == 1 {
                // Light banding guides the eye from a long name to its bars.
                svg::rect(a, (x0, by), (x1, by + band), style::BAND)?;
            }
            svg::text(
                a,
                label,
                (x0 - 8, by + band / 2),
                &TextSpec::new(style::SMALL, Anchor::Right),
            )?;
            let inner = by + (band - bar * m as i32) / 2;
            for (s, series) in f.series.iter().enumerate() {
                let top = inner + bar * s as i32;
                let v = series.values[c];
                if v.is_finite() {
                    svg::rect(
                        a,
                        (xs.px(0.0_f64.max(lo)), top + 1),
                        (xs.px(v), top + bar - 1),
                        style::categorical(s),
                    )?;
                }
                if let Some((l, h)) = series.range.as_ref().map(|r| r[c])
                    && l.is_finite()
                    && h.is_finite()
                {
                    let y = top + bar / 2;
                    svg::line(a, vec![(xs.px(l), y), (xs.px(h), y)], style::INK, 1)?;
                    svg::line(a, vec![(xs.px(l), y - 3), (xs.px(l), y + 3)], style::INK, 1)?;
                    svg::line(a, vec![(xs.px(h), y - 3), (xs.px(h), y + 3)], style::INK, 1)?;
                }
            }
            if let Some((_, v)) = &f.marker
                && v[c].is_finite()
            {
                let x = xs.px(v[c]);
                svg::line(a, vec![(x, by + 2), (x, by + band - 2)], style::INK, 2)?;
            }
        }
        svg::line(
            a,
            vec![(xs.px(0.0_f64.max(lo)), y0), (xs.px(0.0_f64.max(lo)), y1)],
            style::INK,
            1,
        )?;
        Ok(())
    })
}

/// The value axis's range: 0 and every finite value, range and marker,
/// with 5 % headroom above.
pub(crate) fn value_range(f: &BarFigure) -> (f64, f64) {
    let all = f
        .series
        .iter()
        .flat_map(|s| {
            s.values
                .iter()
                .copied()
                .chain(s.range.iter().flatten().flat_map(|r| [r.0, r.1]))
        })
        .chain(f.marker.iter().flat_map(|(_, v)| v.iter().copied()))
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo, if hi <= lo { lo + 1.0 } else { hi * 1.05 })
}

fn check(f: &BarFigure) -> Result<(), ReportError> {
    let n = f.categories.len();
    if n == 0 || f.series.is_empty() {
        return Err(ReportError::figure(
            &f.name,
            "nothing to draw: no categories or no series",
        ));
    }
    for s in &f.series {
        if s.values.len() != n || s.range.as_ref().is_some_and(|r| r.len() != n) {
            return Err(ReportError::figure(
                &f.name,
                format!(
                    "series '{}' does not have one value per category ({n})",
                    s.name
                ),
            ));
        }
    }
    if f.marker.as_ref().is_some_and(|(_, v)| v.len() != n) {
        return Err(ReportError::figure(
            &f.name,
            format!("marker does not have one value per category ({n})"),
        ));
    }
    Ok(())
}
