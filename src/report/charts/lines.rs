//! Lines over network depth: the share of specialized filters per layer
//! (paper Fig. 4 left). Each run is a thin line; an emphasised series (the
//! mean across runs) is drawn thick and black on top.

use super::svg::{self, AxisSpec, Swatch};
use crate::report::error::ReportError;
use crate::report::style::{self, Scale};

#[derive(Debug, Clone)]
pub struct LineSeries {
    pub name: String,
    /// One value per x position; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
    /// Drawn thick and black (the mean across runs).
    pub emphasis: bool,
}

#[derive(Debug, Clone)]
pub struct LineFigure {
    pub name: String,
    pub title: String,
    /// Categorical x positions in order (layer names, shallow to deep).
    pub x_labels: Vec<String>,
    pub x_label: String,
    pub y_label: String,
    /// Fixed y range; `None` uses `[0, max]`.
    pub y_range: Option<(f64, f64)>,
    /// Values are fractions shown as percentages.
    pub percent: bool,
    pub series: Vec<LineSeries>,
}

pub fn render(f: &LineFigure) -> Result<String, ReportError> {
    let n = f.x_labels.len();
    if n == 0 || f.series.is_empty() {
        return Err(ReportError::figure(
            &f.name,
            "nothing to draw: no x positions or no series",
        ));
    }
    if let Some(s) = f.series.iter().find(|s| s.values.len() != n) {
        return Err(ReportError::figure(
            &f.name,
            format!(
                "series '{}' has {} values for {n} x positions",
                s.name,
                s.values.len()
            ),
        ));
    }
    let labels: Vec<String> = f.x_labels.iter().map(|l| style::shorten(l, 28)).collect();
    let label_h = style::max_text_width(&labels, style::SMALL);
    let step = (620 / n as i32).clamp(14, 60);
    let x0 = 80;
    let x1 = x0 + step * n as i32;
    let legend_y = 42;
    // Legend rows: estimate how many lines the legend wraps into.
    let entries: Vec<(Swatch, String)> = f
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                if s.emphasis {
                    Swatch::Line(style::INK, 3)
                } else {
                    Swatch::Line(style::categorical(i), 2)
                },
                s.name.clone(),
            )
        })
        .collect();
    let width = (x1 + 30).max(560);
    let legend_w: i32 = entries
        .iter()
        .map(|(_, l)| 58 + style::text_width(l, style::SMALL))
        .sum();
    let legend_rows = 1 + legend_w / (width - x0 - 8).max(1);
    let y0 = legend_y + 18 * legend_rows + 12;
    let plot_h = 300;
    let y1 = y0 + plot_h;
    let height = y1 + 10 + label_h + 30;

    let (lo, hi) = f.y_range.unwrap_or_else(|| {
        let max = f
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        (0.0, if max > 0.0 { max * 1.08 } else { 1.0 })
    });
    let ys = Scale::new(lo, hi, y1, y0);
    let xpx = |i: usize| x0 + step * i as i32 + step / 2;

    svg::render(&f.name, (width as u32, height as u32), |a| {
        svg::title(a, &f.title)?;
        svg::legend(a, &entries, (x0, legend_y), width - 8)?;
        svg::y_axis(
            a,
            &AxisSpec {
                scale: ys,
                across: (x0, x1),
                label: &f.y_label,
                n_ticks: 5,
                percent: f.percent,
            },
        )?;
        svg::category_x_axis(a, &labels, xpx, ((x0, x1), y1), &f.x_label, label_h)?;
        // Thin lines first, the emphasised series on top.
        let mut order: Vec<usize> = (0..f.series.len()).collect();
        order.sort_by_key(|&i| f.series[i].emphasis);
        for i in order {
            let s = &f.series[i];
            let (c, w, r) = if s.emphasis {
                (style::INK, 3, 4)
            } else {
                (style::categorical(i), 2, 3)
            };
            // Split at gaps so a missing layer is not bridged.
            let mut run: Vec<(i32, i32)> = Vec::new();
            for (j, v) in s.values.iter().enumerate() {
                match v.filter(|v| v.is_finite()) {
                    Some(v) => {
                        run.push((xpx(j), ys.px(v)));
                        svg::dot(a, (xpx(j), ys.px(v)), r, c)?;
                    }
                    None => {
                        if run.len() > 1 {
                            svg::line(a, std::mem::take(&mut run), c, w)?;
                        }
                        run.clear();
                    }
                }
            }
            if run.len() > 1 {
                svg::line(a, run, c, w)?;
            }
        }
        Ok(())
    })
}
