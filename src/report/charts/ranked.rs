//! A [`BarFigure`] with too many categories for one labelled band each
//! (hundreds of tasks) drawn as ranked profiles instead: categories sorted
//! by the marker (else the first series), largest first, along x; each
//! series a line, its min–max across runs a light band; the marker a thick
//! black line. Names are not drawn (they are in the figure's table); the
//! figure stays one screen tall whatever the number of categories.

use plotters::style::RGBColor;

use super::bar_figure::{BarFigure, value_range};
use super::svg::{self, AxisSpec, Swatch};
use crate::report::error::ReportError;
use crate::report::style::{self, Scale};

/// The categories in drawing order: by the marker, else the first series,
/// descending (non-finite values last), ties by name.
pub fn rank_order(f: &BarFigure) -> Vec<usize> {
    let key: &[f64] = match &f.marker {
        Some((_, v)) => v,
        None => &f.series[0].values,
    };
    let mut order: Vec<usize> = (0..f.categories.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (key[a], key[b]);
        match (x.is_finite(), y.is_finite()) {
            (true, true) => y.total_cmp(&x),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => std::cmp::Ordering::Equal,
        }
        .then_with(|| f.categories[a].cmp(&f.categories[b]))
    });
    order
}

/// `c` mixed with white: `share` of the colour remains.
fn tint(c: RGBColor, share: f64) -> RGBColor {
    let mix = |v: u8| (255.0 - (255.0 - v as f64) * share).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

pub fn render(f: &BarFigure) -> Result<String, ReportError> {
    let n = f.categories.len();
    let order = rank_order(f);
    let ranked = |v: &[f64]| -> Vec<f64> { order.iter().map(|&i| v[i]).collect() };

    let x0 = 84;
    let x1 = x0 + 720;
    let width = x1 + 30;
    let legend_y = 42;
    let y0 = legend_y + 40;
    let y1 = y0 + 320;
    let height = y1 + 60;

    let (lo, hi) = value_range(f);
    let ys = Scale::new(lo, hi, y1, y0);
    let xs = Scale::new(1.0, n.max(2) as f64, x0, x1);
    let xpx = |rank: usize| xs.px((rank + 1) as f64);
    let by = match &f.marker {
        Some((name, _)) => name.as_str(),
        None => f.series[0].name.as_str(),
    };
    // Every per-category figure of the report is per task.
    let x_label = format!("{n} tasks ranked by {by}, largest first (names in the tables)");

    svg::render(&f.name, (width as u32, height as u32), |a| {
        svg::title(a, &f.title)?;
        let mut entries: Vec<(Swatch, String)> = f
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (Swatch::Line(style::categorical(i), 2), s.name.clone()))
            .collect();
        if let Some((name, _)) = &f.marker {
            entries.push((Swatch::Line(style::INK, 3), name.clone()));
        }
        if f.series.iter().any(|s| s.range.is_some()) {
            let label = f.whisker_label.as_deref().unwrap_or("min–max across runs");
            entries.push((Swatch::Box(tint(style::categorical(0), 0.25)), label.into()));
        }
        svg::legend(a, &entries, (x0, legend_y), width - 8)?;
        svg::y_axis(
            a,
            &AxisSpec {
                scale: ys,
                across: (x0, x1),
                label: &f.value_label,
                n_ticks: 5,
                percent: false,
            },
        )?;
        svg::x_axis(
            a,
            &AxisSpec {
                scale: xs,
                across: (y0, y1),
                label: &x_label,
                n_ticks: 8,
                percent: false,
            },
        )?;
        // Bands under every line, then the lines, the marker on top.
        for (i, s) in f.series.iter().enumerate() {
            if let Some(range) = &s.range {
                let r: Vec<(f64, f64)> = order.iter().map(|&c| range[c]).collect();
                for (k, pair) in r.windows(2).enumerate() {
                    let [(l0, h0), (l1, h1)] = [pair[0], pair[1]];
                    if [l0, h0, l1, h1].iter().all(|v| v.is_finite()) {
                        svg::polygon(
                            a,
                            vec![
                                (xpx(k), ys.px(h0)),
                                (xpx(k + 1), ys.px(h1)),
                                (xpx(k + 1), ys.px(l1)),
                                (xpx(k), ys.px(l0)),
                            ],
                            tint(style::categorical(i), 0.25),
                        )?;
                    }
                }
            }
        }
        let mut curves: Vec<(Vec<f64>, RGBColor, u32)> = f
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (ranked(&s.values), style::categorical(i), 2))
            .collect();
        if let Some((_, v)) = &f.marker {
            curves.push((ranked(v), style::INK, 3));
        }
        for (values, color, w) in curves {
            // Split at non-finite values so a gap is not bridged.
            let mut run: Vec<(i32, i32)> = Vec::new();
            for (k, v) in values.iter().enumerate() {
                if v.is_finite() {
                    run.push((xpx(k), ys.px(*v)));
                } else if !run.is_empty() {
                    svg::line(a, std::mem::take(&mut run), color, w)?;
                }
            }
            if !run.is_empty() {
                svg::line(a, run, color, w)?;
            }
        }
        svg::line(a, vec![(x0, y1), (x1, y1)], style::INK, 1)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::bar_figure::BarSeries;

    fn figure(marker: Option<Vec<f64>>) -> BarFigure {
        BarFigure {
            name: "t".into(),
            title: "t".into(),
            categories: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            series: vec![BarSeries {
                name: "s".into(),
                values: vec![0.1, f64::NAN, 0.3, 0.3],
                range: None,
            }],
            marker: marker.map(|v| ("C".into(), v)),
            value_label: "v".into(),
            whisker_label: None,
        }
    }

    #[test]
    fn ranks_by_the_marker_else_the_first_series_descending_non_finite_last() {
        assert_eq!(
            rank_order(&figure(Some(vec![0.5, 0.9, f64::NAN, 0.1]))),
            [1, 0, 3, 2]
        );
        // Ties by name: c before d.
        assert_eq!(rank_order(&figure(None)), [2, 3, 0, 1]);
    }

    #[test]
    fn tint_keeps_a_share_of_the_colour() {
        assert_eq!(tint(RGBColor(0, 100, 255), 1.0), RGBColor(0, 100, 255));
        assert_eq!(tint(RGBColor(0, 100, 255), 0.0), RGBColor(255, 255, 255));
        assert_eq!(tint(RGBColor(55, 155, 255), 0.5), RGBColor(155, 205, 255));
    }
}
