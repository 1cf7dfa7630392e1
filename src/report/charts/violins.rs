//! Distributions of gate values (paper Fig. 5 left, Fig. 9): one horizontal
//! violin per task drawn from its histogram, with the interquartile box,
//! the 5–95 % whisker and the median; and an overall histogram, one step
//! line per run.

use super::svg::{self, Anchor, AxisSpec, Swatch, TextSpec};
use crate::report::error::ReportError;
use crate::report::style::{self, RGBColor, Scale};

#[derive(Debug, Clone)]
pub struct ViolinRow {
    pub label: String,
    /// Histogram bin edges (`counts.len() + 1` of them) and counts.
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
    pub q05: f64,
    pub q25: f64,
    pub median: f64,
    pub q75: f64,
    pub q95: f64,
}

#[derive(Debug, Clone)]
pub struct ViolinFigure {
    pub name: String,
    pub title: String,
    pub value_label: String,
    /// The value axis.
    pub range: (f64, f64),
    pub rows: Vec<ViolinRow>,
}

#[derive(Debug, Clone)]
pub struct HistogramSeries {
    pub name: String,
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct HistogramFigure {
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<HistogramSeries>,
}

const VIOLIN: RGBColor = RGBColor(0x8f, 0xb8, 0xde);

pub fn render_violins(f: &ViolinFigure) -> Result<String, ReportError> {
    if f.rows.is_empty() {
        return Err(ReportError::figure(&f.name, "no distributions to draw"));
    }
    for r in &f.rows {
        if r.edges.len() != r.counts.len() + 1 {
            return Err(ReportError::figure(
                &f.name,
                format!(
                    "'{}': {} histogram edges for {} counts",
                    r.label,
                    r.edges.len(),
                    r.counts.len()
                ),
            ));
        }
    }
    let (lo, hi) = f.range;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(ReportError::figure(
            &f.name,
            format!("value range {:?} is empty or not finite", f.range),
        ));
    }
    let n = f.rows.len();
    let row_h: i32 = if n > 20 { 18 } else { 30 };
    let labels: Vec<String> = f
        .rows
        .iter()
        .map(|r| style::shorten(&r.label, 32))
        .collect();
    let label_w = style::max_text_width(&labels, style::SMALL);
    let x0 = 16 + label_w + 10;
    let x1 = x0 + 520;
    let legend_y = 42;
    let y0 = legend_y + 22;
    let y1 = y0 + row_h * n as i32;
    let width = x1 + 30;
    let height = y1 + 52;
    let xs = Scale::new(lo, hi, x0, x1);

    svg::render(&f.name, (width as u32, height as u32), |a| {
        svg::title(a, &f.title)?;
        let entries = [
            (
                Swatch::Box(VIOLIN),
                "histogram (width ∝ filters)".to_string(),
            ),
            (Swatch::Box(style::MUTED), "25–75 %".to_string()),
            (Swatch::Line(style::INK, 1), "5–95 %".to_string()),
        ];
        svg::legend(a, &entries, (x0, legend_y), width - 8)?;
        svg::text(
            a,
            "○ median",
            (width - 12, legend_y),
            &TextSpec::new(style::SMALL, Anchor::Right),
        )?;
        svg::x_axis(
            a,
            &AxisSpec {
                scale: xs,
                across: (y0, y1),
                label: &f.value_label,
                n_ticks: 5,
                percent: false,
            },
        )?;
        for (i, (r, label)) in f.rows.iter().zip(&labels).enumerate() {
            let top = y0 + row_h * i as i32;
            let cy = top + row_h / 2;
            if i % 2 == 1 {
                svg::rect(a, (x0, top), (x1, top + row_h), style::BAND)?;
            }
            svg::text(
                a,
                label,
                (x0 - 8, cy),
                &TextSpec::new(style::SMALL, Anchor::Right),
            )?;
            let max = r.counts.iter().copied().max().unwrap_or(0);
            if max > 0 {
                let half = (row_h / 2 - 1) as f64;
                let mut upper = Vec::with_capacity(r.counts.len() + 2);
                for (k, &c) in r.counts.iter().enumerate() {
                    let mid = (r.edges[k] + r.edges[k + 1]) / 2.0;
                    upper.push((
                        xs.px(mid),
                        cy - (half * c as f64 / max as f64).round() as i32,
                    ));
                }
                let mut pts = upper.clone();
                pts.extend(upper.iter().rev().map(|&(x, y)| (x, 2 * cy - y)));
                svg::polygon(a, pts, VIOLIN)?;
            }
            if [r.q05, r.q25, r.median, r.q75, r.q95]
                .iter()
                .all(|v| v.is_finite())
            {
                svg::line(
                    a,
                    vec![(xs.px(r.q05), cy), (xs.px(r.q95), cy)],
                    style::INK,
                    1,
                )?;
                svg::rect(
                    a,
                    (xs.px(r.q25), cy - 2),
                    (xs.px(r.q75).max(xs.px(r.q25) + 1), cy + 1),
                    style::MUTED,
                )?;
                svg::dot(a, (xs.px(r.median), cy), 3, style::BACKGROUND)?;
                svg::ring(a, (xs.px(r.median), cy), 3, style::INK)?;
            }
        }
        Ok(())
    })
}

pub fn render_histogram(f: &HistogramFigure) -> Result<String, ReportError> {
    if f.series.is_empty() {
        return Err(ReportError::figure(&f.name, "no histogram to draw"));
    }
    for s in &f.series {
        if s.edges.len() != s.counts.len() + 1 || s.counts.is_empty() {
            return Err(ReportError::figure(
                &f.name,
                format!(
                    "'{}': {} histogram edges for {} counts",
                    s.name,
                    s.edges.len(),
                    s.counts.len()
                ),
            ));
        }
    }
    let lo = f
        .series
        .iter()
        .filter_map(|s| s.edges.first())
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = f
        .series
        .iter()
        .filter_map(|s| s.edges.last())
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let top = f
        .series
        .iter()
        .flat_map(|s| s.counts.iter())
        .copied()
        .max()
        .unwrap_or(0) as f64;
    let (x0, x1, y0, y1) = (90, 650, 86, 386);
    let (width, height) = (680, 440);
    let xs = Scale::new(lo, hi, x0, x1);
    let ys = Scale::new(0.0, if top > 0.0 { top * 1.08 } else { 1.0 }, y1, y0);
    let single = f.series.len() == 1;

    svg::render(&f.name, (width, height), |a| {
        svg::title(a, &f.title)?;
        let entries: Vec<(Swatch, String)> = f
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    if single {
                        Swatch::Box(VIOLIN)
                    } else {
                        Swatch::Line(style::categorical(i), 2)
                    },
                    s.name.clone(),
                )
            })
            .collect();
        svg::legend(a, &entries, (x0, 42), width as i32 - 8)?;
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
        svg::x_axis(
            a,
            &AxisSpec {
                scale: xs,
                across: (y0, y1),
                label: &f.x_label,
                n_ticks: 5,
                percent: false,
            },
        )?;
        for (i, s) in f.series.iter().enumerate() {
            if single {
                for (k, &c) in s.counts.iter().enumerate() {
                    if c > 0 {
                        svg::rect(
                            a,
                            (xs.px(s.edges[k]), ys.px(c as f64)),
                            (xs.px(s.edges[k + 1]), y1),
                            VIOLIN,
                        )?;
                    }
                }
            } else {
                let mut pts = vec![(xs.px(s.edges[0]), y1)];
                for (k, &c) in s.counts.iter().enumerate() {
                    pts.push((xs.px(s.edges[k]), ys.px(c as f64)));
                    pts.push((xs.px(s.edges[k + 1]), ys.px(c as f64)));
                }
                pts.push((xs.px(s.edges[s.counts.len()]), y1));
                svg::line(a, pts, style::categorical(i), 2)?;
            }
        }
        svg::line(a, vec![(x0, y1), (x1, y1)], style::INK, 1)?;
        Ok(())
    })
}
