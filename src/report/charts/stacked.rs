//! Vertical stacked bars: how the filters of each layer split into filter
//! groups (paper §5.3), one colour per group, dead filters in grey. The
//! legend names each group by its size and dominant tasks.

use super::svg::{self, Anchor, AxisSpec, Swatch, TextSpec};
use crate::report::error::ReportError;
use crate::report::style::{self, RGBColor, Scale};

#[derive(Debug, Clone)]
pub struct StackedSegment {
    /// Legend text.
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
    /// Drawn grey (e.g. dead filters) instead of taking a palette colour.
    pub muted: bool,
}

#[derive(Debug, Clone)]
pub struct StackedBarFigure {
    pub name: String,
    pub title: String,
    pub categories: Vec<String>,
    pub x_label: String,
    pub y_label: String,
    pub segments: Vec<StackedSegment>,
}

const DEAD: RGBColor = RGBColor(0xb0, 0xb0, 0xb0);

pub fn render(f: &StackedBarFigure) -> Result<String, ReportError> {
    let n = f.categories.len();
    if n == 0 || f.segments.is_empty() {
        return Err(ReportError::figure(
            &f.name,
            "nothing to draw: no categories or no segments",
        ));
    }
    if let Some(s) = f.segments.iter().find(|s| s.values.len() != n) {
        return Err(ReportError::figure(
            &f.name,
            format!(
                "segment '{}' has {} values for {n} categories",
                s.name,
                s.values.len()
            ),
        ));
    }
    let labels: Vec<String> = f.categories.iter().map(|l| style::shorten(l, 28)).collect();
    let label_h = style::max_text_width(&labels, style::SMALL);
    let legend: Vec<String> = f
        .segments
        .iter()
        .map(|s| style::shorten(&s.name, 90))
        .collect();
    let legend_w = style::max_text_width(&legend, style::SMALL) + 30;
    let step = (600 / n as i32).clamp(14, 56);
    let x0 = 84;
    let x1 = x0 + step * n as i32;
    let (y0, y1) = (50, 370);
    let width = x1 + 24 + legend_w + 12;
    let height = (y1 + 12 + label_h + 30).max(y0 + 18 * f.segments.len() as i32 + 20);
    let totals: Vec<f64> = (0..n)
        .map(|c| f.segments.iter().map(|s| s.values[c].max(0.0)).sum())
        .collect();
    let top = totals.iter().copied().fold(0.0, f64::max);
    let ys = Scale::new(0.0, if top > 0.0 { top * 1.05 } else { 1.0 }, y1, y0);
    let colour = |i: usize, s: &StackedSegment| if s.muted { DEAD } else { style::many(i) };

    svg::render(&f.name, (width as u32, height as u32), |a| {
        svg::title(a, &f.title)?;
        svg::y_axis(
            a,
            &AxisSpec {
                scale: ys,
                across: (x0, x1),
                label: &f.y_label,
                n_ticks: 5,
                percent: false,
            },
        )?;
        for (c, label) in labels.iter().enumerate() {
            let bx = x0 + step * c as i32;
            let mut acc = 0.0;
            for (i, s) in f.segments.iter().enumerate() {
                let v = s.values[c].max(0.0);
                if v > 0.0 {
                    svg::rect(
                        a,
                        (bx + 2, ys.px(acc + v)),
                        (bx + step - 2, ys.px(acc)),
                        colour(i, s),
                    )?;
                }
                acc += v;
            }
            svg::text(
                a,
                label,
                (bx + step / 2, y1 + 6),
                &TextSpec::new(style::SMALL, Anchor::Right).vertical(),
            )?;
        }
        svg::line(a, vec![(x0, y1), (x1, y1)], style::INK, 1)?;
        svg::text(
            a,
            &f.x_label,
            ((x0 + x1) / 2, y1 + 12 + label_h),
            &TextSpec::new(style::NORMAL, Anchor::Top),
        )?;
        let entries: Vec<(Swatch, String)> = f
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (Swatch::Box(colour(i, s)), legend[i].clone()))
            .collect();
        svg::legend_column(a, &entries, (x1 + 24, y0 + 6))
    })
}
