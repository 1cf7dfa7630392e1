//! Depth curves beside the "specialized filters by depth" figure (paper 000
//! Fig. 4 left): per layer, the mean capacity split of eq. 4–5 and the
//! mean off-diagonal task similarity of §5.2, each a line of the mean over
//! runs with a band over the runs' min–max. The values come from
//! [`crate::analysis::across_runs::depth_across_runs`]; this module only
//! draws them and lays out their tables.

use plotters::prelude::*;

use super::ReportError;
use super::build::ReportFile;
use super::html::Block;
use super::style::{self, RGBColor, Scale};
use super::svg::{self, AxisSpec, Swatch};
use super::table::{Cell, Table};
use crate::analysis::across_runs::{DepthAcrossRuns, Spread};

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

/// The depth-curve figures and tables of a report: blocks for the page and
/// the files behind them (SVGs, `depth.csv`, `depth-runs.csv`).
pub fn blocks(
    d: &DepthAcrossRuns,
    slugs: &[String],
) -> Result<(Vec<Block>, Vec<ReportFile>), ReportError> {
    let n_runs = d.runs.len();
    let multi = n_runs > 1;
    let x_labels: Vec<String> = d.layers.iter().map(|l| l.layer.clone()).collect();
    let band_label = multi.then(|| format!("min–max over {n_runs} runs"));
    let mean = |s: &Spread| Some(s.mean);
    let range = |s: &Spread| Some((s.min, s.max));
    type Pick = fn(&crate::analysis::across_runs::LayerDepthSpread) -> Option<&Spread>;
    let series = |name: &str, color: RGBColor, pick: Pick| BandSeries {
        name: name.into(),
        values: d.layers.iter().map(|l| pick(l).and_then(mean)).collect(),
        band: multi.then(|| d.layers.iter().map(|l| pick(l).and_then(range)).collect()),
        color,
    };
    let of_runs = if multi {
        format!(", mean of {n_runs} runs")
    } else {
        String::new()
    };
    let capacity = BandFigure {
        name: "depth-capacity".into(),
        title: format!("Capacity split per layer{of_runs}"),
        x_labels: x_labels.clone(),
        x_label: "layer (input → output)".into(),
        y_label: "mean over tasks".into(),
        band_label: band_label.clone(),
        series: vec![
            series("capacity C", style::INK, |l| Some(&l.capacity)),
            series("shared", style::categorical(0), |l| Some(&l.shared)),
            series("independent", style::categorical(1), |l| {
                Some(&l.independent)
            }),
        ],
    };
    let similarity = BandFigure {
        name: "depth-similarity".into(),
        title: format!("Task similarity per layer{of_runs}"),
        x_labels,
        x_label: "layer (input → output)".into(),
        y_label: "mean off-diagonal cosine".into(),
        band_label,
        series: vec![series(
            "mean similarity of task pairs",
            style::categorical(2),
            |l| l.similarity.as_ref(),
        )],
    };
    let spread_note = if multi {
        format!("; lines are means over the {n_runs} runs and bands their min–max")
    } else {
        String::new()
    };
    let mut files = vec![];
    let mut blocks = vec![];
    let cap_svg = render(&capacity)?;
    files.push((
        "depth-capacity.svg".to_string(),
        cap_svg.clone().into_bytes(),
    ));
    blocks.push(Block::Figure {
        file: "depth-capacity.svg".into(),
        svg: cap_svg,
        caption: format!(
            "Each layer's own capacity split (eq. 4–5 on that layer's filters alone), averaged over tasks{spread_note}: shared falling and independent rising with depth means deeper layers give tasks filters of their own."
        ),
        collapsed: None,
    });
    if d.layers.iter().any(|l| l.similarity.is_some()) {
        let sim_svg = render(&similarity)?;
        files.push((
            "depth-similarity.svg".to_string(),
            sim_svg.clone().into_bytes(),
        ));
        blocks.push(Block::Figure {
            file: "depth-similarity.svg".into(),
            svg: sim_svg,
            caption: format!(
                "Mean cosine similarity of all task pairs on each layer's filters alone (§5.2 per layer){spread_note}: a falling line means tasks use increasingly different filters deeper in the network."
            ),
            collapsed: None,
        });
    }
    let summary = summary_table(d);
    files.push(("depth.csv".to_string(), summary.to_csv().into_bytes()));
    blocks.push(Block::Table {
        file: "depth.csv".into(),
        collapsed: summary.rows.len() > 12 || multi,
        table: summary,
        caption: if multi {
            format!(
                "Depth curves per layer over the {n_runs} runs: mean, min–max and the 95 % Student-t interval of the mean of capacity, shared, independent and off-diagonal similarity."
            )
        } else {
            "Depth curves per layer: mean over tasks of capacity, shared and independent parts, and the mean off-diagonal similarity.".into()
        },
    });
    files.push((
        "depth-runs.csv".to_string(),
        runs_table(d, slugs).to_csv().into_bytes(),
    ));
    Ok((blocks, files))
}

fn spread_cells(s: Option<&Spread>) -> Vec<Cell> {
    match s {
        Some(s) => vec![
            s.mean.into(),
            s.min.into(),
            s.max.into(),
            s.ci_low.into(),
            s.ci_high.into(),
        ],
        None => vec![Cell::Missing; 5],
    }
}

/// Per layer, each quantity's summary over runs.
pub fn summary_table(d: &DepthAcrossRuns) -> Table {
    let mut headers = vec!["layer".to_string(), "filters".to_string()];
    for q in ["capacity", "shared", "independent", "similarity"] {
        for s in ["mean", "min", "max", "ci_low", "ci_high"] {
            headers.push(format!("{q}_{s}"));
        }
    }
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&refs);
    for l in &d.layers {
        let mut row: Vec<Cell> = vec![l.layer.clone().into(), l.filters.into()];
        row.extend(spread_cells(Some(&l.capacity)));
        row.extend(spread_cells(Some(&l.shared)));
        row.extend(spread_cells(Some(&l.independent)));
        row.extend(spread_cells(l.similarity.as_ref()));
        t.push(row);
    }
    t
}

/// Every run's own depth curves, one row per run and layer.
pub fn runs_table(d: &DepthAcrossRuns, slugs: &[String]) -> Table {
    let mut t = Table::new(&[
        "run",
        "layer",
        "filters",
        "mean_capacity",
        "mean_shared",
        "mean_independent",
        "mean_off_diagonal_similarity",
    ]);
    for (r, run) in d.per_run.iter().enumerate() {
        let name = slugs
            .get(r)
            .or_else(|| d.runs.get(r))
            .cloned()
            .unwrap_or_default();
        for l in &run.layers {
            t.push(vec![
                name.clone().into(),
                l.layer.clone().into(),
                l.filters.into(),
                l.mean_capacity.into(),
                l.mean_shared.into(),
                l.mean_independent.into(),
                l.mean_off_diagonal.into(),
            ]);
        }
    }
    t
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
