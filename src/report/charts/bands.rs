//! Lines with bands over categorical x positions (layers, shallow to
//! deep): the depth curves beside the "specialized filters by depth"
//! figure (paper 000 Fig. 4 left; a line of the mean over runs, a band
//! over their min–max) and the diff page's change per layer.

use plotters::prelude::*;

use super::svg::{self, AxisSpec, Swatch};
use crate::report::error::ReportError;
use crate::report::style::{self, RGBColor, Scale};

/// The legend swatch of the bands: a light grey, as any series' band looks.
const BAND_SWATCH: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);

/// One curve: a value per x position and, optionally, a band around it.
#[derive(Debug, Clone)]
pub struct BandSeries {
    pub name: String,
    /// `None` leaves a gap.
    pub values: Vec<Option<f64>>,
    /// `(low, high)` per x position, drawn as a translucent band.
    pub band: Option<Vec<Option<(f64, f64)>>>,
    pub color: RGBColor,
}

/// Lines with bands over categorical x positions (layers, shallow to deep).
#[derive(Debug, Clone)]
pub struct BandFigure {
    pub name: String,
    pub title: String,
    pub x_labels: Vec<String>,
    pub x_label: String,
    pub y_label: String,
    /// What the bands show, for the legend (e.g. "min–max over 7 runs").
    pub band_label: Option<String>,
    pub series: Vec<BandSeries>,
}

pub fn render(f: &BandFigure) -> Result<String, ReportError> {
    let n = f.x_labels.len();
    if n == 0 || f.series.is_empty() {
        return Err(ReportError::figure(
            &f.name,
            "nothing to draw: no layers or no series",
        ));
    }
    for s in &f.series {
        let band_len = s.band.as_ref().map_or(n, Vec::len);
        if s.values.len() != n || band_len != n {
            return Err(ReportError::figure(
                &f.name,
                format!(
                    "series '{}' has {} values and {band_len} bands for {n} layers",
                    s.name,
                    s.values.len()
                ),
            ));
        }
    }
    let labels: Vec<String> = f.x_labels.iter().map(|l| style::shorten(l, 28)).collect();
    let label_h = style::max_text_width(&labels, style::SMALL);
    let step = (460 / n as i32).clamp(14, 150);
    let x0 = 80;
    let x1 = x0 + step * n as i32;
    let width = (x1 + 30).max(540);
    let mut entries: Vec<(Swatch, String)> = f
        .series
        .iter()
        .map(|s| (Swatch::Line(s.color, 3), s.name.clone()))
        .collect();
    if let Some(b) = &f.band_label {
        entries.push((Swatch::Box(BAND_SWATCH), b.clone()));
    }
    let legend_y = 42;
    let legend_w: i32 = entries
        .iter()
        .map(|(_, l)| 40 + style::text_width(l, style::SMALL))
        .sum();
    let legend_rows = 1 + legend_w / (width - x0 - 8).max(1);
    let y0 = legend_y + 18 * legend_rows + 12;
    let y1 = y0 + 280;
    let height = y1 + 10 + label_h + 30;

    let all = f.series.iter().flat_map(|s| {
        s.values
            .iter()
            .flatten()
            .copied()
            .chain(s.band.iter().flatten().flatten().flat_map(|&(l, h)| [l, h]))
    });
    let (lo, hi) = all
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi > lo {
        (
            lo - (hi - lo) * 0.04 * f64::from(lo < 0.0),
            hi + (hi - lo) * 0.06,
        )
    } else {
        (lo, lo + 1.0)
    };
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
                percent: false,
            },
        )?;
        if lo < 0.0 {
            svg::line(a, vec![(x0, ys.px(0.0)), (x1, ys.px(0.0))], style::MUTED, 1)?;
        }
        svg::category_x_axis(a, &labels, xpx, ((x0, x1), y1), &f.x_label, label_h)?;
        // Bands first (translucent, so overlapping bands stay visible),
        // then the lines on top.
        for s in &f.series {
            let Some(band) = &s.band else { continue };
            for seg in segments(
                band.iter()
                    .map(|b| b.filter(|(l, h)| l.is_finite() && h.is_finite())),
            ) {
                let mut pts: Vec<(i32, i32)> =
                    seg.iter().map(|&(j, (_, h))| (xpx(j), ys.px(h))).collect();
                pts.extend(seg.iter().rev().map(|&(j, (l, _))| (xpx(j), ys.px(l))));
                if seg.len() == 1 {
                    // A lone layer: a short bar instead of a zero-width band.
                    let (j, (l, h)) = seg[0];
                    svg::line(a, vec![(xpx(j), ys.px(l)), (xpx(j), ys.px(h))], s.color, 6)?;
                } else {
                    a.draw(&Polygon::new(pts, s.color.mix(0.18).filled()))
                        .map_err(svg::DrawError::from)?;
                }
            }
        }
        for s in &f.series {
            for seg in segments(s.values.iter().map(|v| v.filter(|v| v.is_finite()))) {
                let pts: Vec<(i32, i32)> = seg.iter().map(|&(j, v)| (xpx(j), ys.px(v))).collect();
                for &p in &pts {
                    svg::dot(a, p, 3, s.color)?;
                }
                if pts.len() > 1 {
                    svg::line(a, pts, s.color, 3)?;
                }
            }
        }
        Ok(())
    })
}

/// Runs of consecutive present values, with their x index, so a missing
/// layer is never bridged.
fn segments<T: Copy>(values: impl Iterator<Item = Option<T>>) -> Vec<Vec<(usize, T)>> {
    let mut out = vec![];
    let mut cur = vec![];
    for (j, v) in values.enumerate() {
        match v {
            Some(v) => cur.push((j, v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(values: Vec<Option<f64>>, band: Option<Vec<Option<(f64, f64)>>>) -> BandFigure {
        BandFigure {
            name: "t".into(),
            title: "t".into(),
            x_labels: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            x_label: "layer".into(),
            y_label: "v".into(),
            band_label: Some("min–max".into()),
            series: vec![BandSeries {
                name: "s".into(),
                values,
                band,
                color: style::INK,
            }],
        }
    }

    #[test]
    fn a_missing_layer_splits_the_line_and_the_band() {
        let v = vec![Some(0.2), Some(0.3), None, Some(0.1)];
        let b = vec![Some((0.1, 0.3)), Some((0.2, 0.4)), None, Some((0.0, 0.2))];
        let svg = render(&fig(v, Some(b))).unwrap();
        // One band polygon over a and b; d alone is a short bar.
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 3);
    }

    #[test]
    fn mismatched_lengths_are_an_error_naming_the_series() {
        let e = render(&fig(vec![Some(0.1)], None)).unwrap_err().to_string();
        assert!(e.contains("series 's'") && e.contains("4 layers"), "{e}");
        let e = render(&fig(vec![Some(0.1); 4], Some(vec![None; 3]))).unwrap_err();
        assert!(e.to_string().contains("3 bands"));
    }
}
