//! A labelled square heatmap with an optional dendrogram at its left: the
//! task-similarity matrix (paper §5.2, App. C), the co-occurrence matrix of
//! the representative clusters (Table 5) and the Spearman matrix between
//! runs. Every cell carries a `<title>` tooltip naming its row, column and
//! value — up to [`MAX_VECTOR_CELLS`] rows; larger matrices (hundreds of
//! tasks) draw their cells as one embedded PNG and leave the names and
//! values to the CSV beside the figure.

use std::collections::BTreeMap;

use super::raster;
use super::svg::{self, Anchor, TextSpec};
use crate::report::error::ReportError;
use crate::report::style::{self, RGBColor, Scale};

/// One agglomeration step in scipy's linkage convention: ids below `n` are
/// leaves (data indices), id `n + i` is the cluster made by step `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeStep {
    pub a: usize,
    pub b: usize,
    pub distance: f64,
}

/// What the heatmap shows. Rows and columns share `labels`; `values` is in
/// data order and `order` says in which order to display them.
#[derive(Debug, Clone)]
pub struct HeatmapFigure {
    /// File stem and id in the page, e.g. `similarity-run1`.
    pub name: String,
    pub title: String,
    pub labels: Vec<String>,
    /// `labels.len()` rows of `labels.len()` values; `None` is drawn grey.
    pub values: Vec<Vec<Option<f64>>>,
    /// Display order, a permutation of `0..labels.len()` (scipy's
    /// `leaves_list` when a dendrogram is given).
    pub order: Vec<usize>,
    /// Drawn at the left when present; must have `labels.len() - 1` steps.
    pub dendrogram: Option<Vec<MergeStep>>,
    /// The values mapped to the ends of the colour scale.
    pub range: (f64, f64),
    /// What a value is, for the colour bar and tooltips ("cosine similarity").
    pub value_name: String,
}

/// Above this many rows the cells are one raster image, without per-cell
/// tooltips or row labels (they would be a pixel tall).
pub const MAX_VECTOR_CELLS: usize = 120;

/// Where everything of one heatmap goes, in pixels.
struct Layout {
    n: usize,
    /// Cells are one raster image (more than [`MAX_VECTOR_CELLS`] rows).
    raster: bool,
    cell: i32,
    font: f64,
    dendro_w: i32,
    /// The matrix's corners.
    hx0: i32,
    hy0: i32,
    hx1: i32,
    hy1: i32,
    side: i32,
    /// The colour bar's left edge, height and width.
    bar_x: i32,
    bar_h: i32,
    bar_w: i32,
    width: i32,
    height: i32,
}

impl Layout {
    fn of(f: &HeatmapFigure, labels: &[String]) -> Layout {
        let n = f.labels.len();
        let raster = n > MAX_VECTOR_CELLS;
        let cell: i32 = if raster {
            (720 / n as i32).max(1)
        } else {
            (560 / n.max(1) as i32).clamp(12, 44)
        };
        let font = if cell >= 16 {
            style::NORMAL
        } else {
            style::SMALL
        };
        let label_w = if raster {
            // The two lines beside the image ("500 rows in dendrogram order",
            // "(names in the CSV)"); the longer one sets the gap to the colour bar.
            style::text_width(&format!("{n} rows in dendrogram order"), style::SMALL)
        } else {
            style::max_text_width(labels, font)
        };
        // A dendrogram of hundreds of leaves a pixel apart is a grey block: the
        // rows keep its order, the tree itself is left out.
        let dendro_w = if f.dendrogram.is_some() && n > 1 && !raster {
            150
        } else {
            0
        };
        let top = 44;
        let hx0 = 12 + dendro_w + if dendro_w > 0 { 4 } else { 0 };
        let hy0 = top;
        let side = cell * n as i32;
        let (hx1, hy1) = (hx0 + side, hy0 + side);
        let bar_x = hx1 + 8 + label_w + 28;
        let bar_h = side.clamp(120, 260);
        let bar_w = 14;
        let width = (bar_x + bar_w + 60).max(hx0 + style::text_width(&f.title, style::TITLE) + 24);
        // A raster has no column labels under it.
        let height = if raster {
            hy1.max(hy0 + bar_h) + 24
        } else {
            hy1 + 8 + label_w + 16
        };
        Layout {
            n,
            raster,
            cell,
            font,
            dendro_w,
            hx0,
            hy0,
            hx1,
            hy1,
            side,
            bar_x,
            bar_h,
            bar_w,
            width,
            height,
        }
    }
}

/// The colour of a value on the figure's scale; grey where it is missing.
fn colour(range: (f64, f64), v: Option<f64>) -> RGBColor {
    let (lo, hi) = range;
    match v {
        Some(v) if v.is_finite() => style::viridis((v - lo) / (hi - lo)),
        _ => style::MISSING,
    }
}

/// Renders the heatmap as SVG text.
pub fn render(f: &HeatmapFigure) -> Result<String, ReportError> {
    check(f)?;
    let labels: Vec<String> = f.labels.iter().map(|l| style::shorten(l, 32)).collect();
    let l = Layout::of(f, &labels);
    let mut tips = BTreeMap::new();
    let svg_text = svg::render(&f.name, (l.width as u32, l.height as u32), |a| {
        // Cells first: attach_titles finds them by their top-left corner.
        if !l.raster {
            draw_cells(a, f, &l, &mut tips)?;
        }
        svg::title(a, &f.title)?;
        draw_labels(a, f, &l, &labels)?;
        if let (Some(steps), true) = (&f.dendrogram, l.dendro_w > 0) {
            draw_dendrogram(a, steps, &f.order, (12, l.hx0 - 4), l.hy0, l.cell)?;
        }
        draw_colour_bar(a, f, &l)
    })?;
    if l.raster {
        return Ok(embed_raster(f, &l, &svg_text));
    }
    svg::attach_titles(&f.name, svg_text, &tips)
}

/// Every cell with its tooltip (and its value, where cells are large).
fn draw_cells(
    a: &svg::Area<'_>,
    f: &HeatmapFigure,
    l: &Layout,
    tips: &mut BTreeMap<(i32, i32), String>,
) -> svg::Drawn {
    let cell = l.cell;
    for (di, &i) in f.order.iter().enumerate() {
        for (dj, &j) in f.order.iter().enumerate() {
            let (x, y) = (l.hx0 + dj as i32 * cell, l.hy0 + di as i32 * cell);
            let v = f.values[i][j];
            let c = colour(f.range, v);
            svg::rect(a, (x, y), (x + cell, y + cell), c)?;
            let shown = v
                .filter(|v| v.is_finite())
                .map(style::fmt_value)
                .unwrap_or_else(|| "n/a".into());
            tips.insert(
                (x, y),
                format!(
                    "{} × {}: {} {}",
                    f.labels[i], f.labels[j], f.value_name, shown
                ),
            );
            if cell >= 36 {
                let ink = if style::needs_light_text(c) {
                    style::BACKGROUND
                } else {
                    style::INK
                };
                let short = v
                    .filter(|v| v.is_finite())
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "–".into());
                svg::text(
                    a,
                    &short,
                    (x + cell / 2, y + cell / 2),
                    &TextSpec::new(style::SMALL, Anchor::Center).color(ink),
                )?;
            }
        }
    }
    Ok(())
}

/// Row and column names; beside a raster, where its names are instead.
fn draw_labels(a: &svg::Area<'_>, f: &HeatmapFigure, l: &Layout, labels: &[String]) -> svg::Drawn {
    let (n, cell) = (l.n, l.cell);
    if l.raster {
        svg::text(
            a,
            &format!(
                "{n} rows in {} order",
                if f.dendrogram.is_some() {
                    "dendrogram"
                } else {
                    "task"
                }
            ),
            (l.hx1 + 6, l.hy0 + 6),
            &TextSpec::new(style::SMALL, Anchor::Left),
        )?;
        svg::text(
            a,
            "(names in the CSV)",
            (l.hx1 + 6, l.hy0 + 22),
            &TextSpec::new(style::SMALL, Anchor::Left),
        )?;
        return Ok(());
    }
    for (d, &i) in f.order.iter().enumerate() {
        let mid = l.hy0 + d as i32 * cell + cell / 2;
        svg::text(
            a,
            &labels[i],
            (l.hx1 + 6, mid),
            &TextSpec::new(l.font, Anchor::Left),
        )?;
        let midx = l.hx0 + d as i32 * cell + cell / 2;
        svg::text(
            a,
            &labels[i],
            (midx, l.hy1 + 6),
            &TextSpec::new(l.font, Anchor::Right).vertical(),
        )?;
    }
    Ok(())
}

/// The colour bar with its scale and the value's name.
fn draw_colour_bar(a: &svg::Area<'_>, f: &HeatmapFigure, l: &Layout) -> svg::Drawn {
    let (lo, hi) = f.range;
    let (bar_x, bar_w, bar_h, hy0) = (l.bar_x, l.bar_w, l.bar_h, l.hy0);
    let steps = 48;
    let scale = Scale::new(lo, hi, hy0 + bar_h, hy0);
    for s in 0..steps {
        let y0 = hy0 + bar_h - (s * bar_h) / steps;
        let y1 = hy0 + bar_h - ((s + 1) * bar_h) / steps;
        let v = lo + (hi - lo) * (s as f64 + 0.5) / steps as f64;
        svg::rect(
            a,
            (bar_x, y1),
            (bar_x + bar_w, y0),
            colour(f.range, Some(v)),
        )?;
    }
    let ticks = style::nice_ticks(lo, hi, 5);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    for t in ticks {
        let y = scale.px(t);
        svg::line(
            a,
            vec![(bar_x + bar_w, y), (bar_x + bar_w + 4, y)],
            style::INK,
            1,
        )?;
        svg::text(
            a,
            &style::tick_label(t, step),
            (bar_x + bar_w + 6, y),
            &TextSpec::new(style::SMALL, Anchor::Left),
        )?;
    }
    svg::text(
        a,
        &f.value_name,
        (bar_x - 8, hy0 + bar_h / 2),
        &TextSpec::new(style::SMALL, Anchor::Center).vertical(),
    )
}

/// The cells as one PNG, one pixel per cell scaled to the cell size
/// without smoothing, placed after the background rect and before
/// everything else.
fn embed_raster(f: &HeatmapFigure, l: &Layout, svg_text: &str) -> String {
    let px: Vec<[u8; 3]> = f
        .order
        .iter()
        .flat_map(|&i| {
            f.order.iter().map(move |&j| {
                let c = colour(f.range, f.values[i][j]);
                [c.0, c.1, c.2]
            })
        })
        .collect();
    let n = l.n as u32;
    let png = raster::png_rgb(n, n, &px);
    let image = raster::svg_image(&png, (l.hx0, l.hy0, l.side, l.side));
    let at = svg_text
        .find("/>\n")
        .map(|i| i + 3)
        .unwrap_or(svg_text.len());
    let mut out = String::with_capacity(svg_text.len() + image.len());
    out.push_str(&svg_text[..at]);
    out.push_str(&image);
    out.push_str(&svg_text[at..]);
    out
}

fn check(f: &HeatmapFigure) -> Result<(), ReportError> {
    let n = f.labels.len();
    let bad = |r: String| Err(ReportError::figure(&f.name, r));
    if n == 0 {
        return bad("no labels to draw".into());
    }
    if f.values.len() != n || f.values.iter().any(|r| r.len() != n) {
        return bad(format!("values are not {n} × {n} like the labels"));
    }
    let mut seen = vec![false; n];
    for &i in &f.order {
        if i >= n || std::mem::replace(&mut seen[i], true) {
            return bad(format!(
                "display order {:?} is not a permutation of 0..{n}",
                f.order
            ));
        }
    }
    if f.order.len() != n {
        return bad(format!(
            "display order has {} entries for {n} labels",
            f.order.len()
        ));
    }
    if !(f.range.0.is_finite() && f.range.1.is_finite() && f.range.1 > f.range.0) {
        return bad(format!("colour range {:?} is empty or not finite", f.range));
    }
    if let Some(steps) = &f.dendrogram {
        if steps.len() + 1 != n {
            return bad(format!(
                "dendrogram has {} merge steps for {n} leaves (expected {})",
                steps.len(),
                n - 1
            ));
        }
        for (s, m) in steps.iter().enumerate() {
            if m.a >= n + s || m.b >= n + s || !m.distance.is_finite() {
                return bad(format!(
                    "dendrogram step {s} merges {} and {} at {}, which are not earlier nodes",
                    m.a, m.b, m.distance
                ));
            }
        }
    }
    Ok(())
}

/// Draws the dendrogram between x = `x0` (largest distance) and `x1`
/// (leaves), leaves at the row centres of the display order.
fn draw_dendrogram(
    a: &svg::Area<'_>,
    steps: &[MergeStep],
    order: &[usize],
    (x0, x1): (i32, i32),
    y0: i32,
    cell: i32,
) -> svg::Drawn {
    let n = order.len();
    let mut pos = vec![0.0f64; n + steps.len()];
    let mut height = vec![0.0f64; n + steps.len()];
    for (d, &i) in order.iter().enumerate() {
        pos[i] = d as f64;
    }
    let max_d = steps.iter().map(|s| s.distance).fold(0.0f64, f64::max);
    let xs = Scale::new(0.0, if max_d > 0.0 { max_d } else { 1.0 }, x1, x0);
    let ys = |p: f64| y0 + (p * cell as f64 + cell as f64 / 2.0).round() as i32;
    for (s, m) in steps.iter().enumerate() {
        let id = n + s;
        pos[id] = (pos[m.a] + pos[m.b]) / 2.0;
        height[id] = m.distance;
        let xm = xs.px(m.distance);
        let pts = vec![
            (xs.px(height[m.a]), ys(pos[m.a])),
            (xm, ys(pos[m.a])),
            (xm, ys(pos[m.b])),
            (xs.px(height[m.b]), ys(pos[m.b])),
        ];
        svg::line(a, pts, style::INK, 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig() -> HeatmapFigure {
        HeatmapFigure {
            name: "t".into(),
            title: "Test".into(),
            labels: vec!["a".into(), "b".into(), "c<&>".into()],
            values: vec![
                vec![Some(1.0), Some(0.2), Some(0.9)],
                vec![Some(0.2), Some(1.0), None],
                vec![Some(0.9), None, Some(1.0)],
            ],
            order: vec![0, 2, 1],
            dendrogram: Some(vec![
                MergeStep {
                    a: 0,
                    b: 2,
                    distance: 0.1,
                },
                MergeStep {
                    a: 1,
                    b: 3,
                    distance: 0.8,
                },
            ]),
            range: (0.0, 1.0),
            value_name: "cosine similarity".into(),
        }
    }

    #[test]
    fn every_cell_has_a_tooltip_and_text_is_escaped() {
        let s = render(&fig()).unwrap();
        assert_eq!(s.matches("<title>").count(), 9);
        assert!(s.contains("<title>a × c&lt;&amp;&gt;: cosine similarity 0.900</title>"));
        assert!(s.contains("<title>b × c&lt;&amp;&gt;: cosine similarity n/a</title>"));
        assert!(!s.contains("c<&>"));
    }

    #[test]
    fn rejects_bad_order_and_dendrogram() {
        let mut f = fig();
        f.order = vec![0, 0, 1];
        assert!(
            render(&f)
                .unwrap_err()
                .to_string()
                .contains("not a permutation")
        );
        let mut f = fig();
        f.dendrogram = Some(vec![MergeStep {
            a: 0,
            b: 7,
            distance: 0.1,
        }]);
        assert!(render(&f).is_err());
        let mut f = fig();
        f.range = (1.0, 1.0);
        assert!(render(&f).is_err());
    }

    #[test]
    fn one_label_renders() {
        let f = HeatmapFigure {
            labels: vec!["only".into()],
            values: vec![vec![Some(1.0)]],
            order: vec![0],
            dendrogram: Some(vec![]),
            ..fig()
        };
        assert_eq!(render(&f).unwrap().matches("<title>").count(), 1);
    }
}

#[cfg(test)]
mod large_tests {
    use super::*;

    #[test]
    fn hundreds_of_rows_are_one_image_not_a_rect_each() {
        let n = MAX_VECTOR_CELLS + 30;
        let values: Vec<Vec<Option<f64>>> = (0..n)
            .map(|i| (0..n).map(|j| Some(((i * j) % 7) as f64 / 6.0)).collect())
            .collect();
        let f = HeatmapFigure {
            name: "big".into(),
            title: "Big".into(),
            labels: (0..n).map(|i| format!("task_{i}")).collect(),
            values,
            order: (0..n).rev().collect(),
            dendrogram: None,
            range: (0.0, 1.0),
            value_name: "v".into(),
        };
        let s = render(&f).unwrap();
        assert_eq!(s.matches("<image ").count(), 1);
        assert!(s.contains("href=\"data:image/png;base64,iVBORw0KGgo"));
        // Background and colour-bar rects only: no cell is a rect.
        assert!(
            s.matches("<rect").count() < 60,
            "{}",
            s.matches("<rect").count()
        );
        assert!(!s.contains("task_3<") && s.contains(&format!("{n} rows in task order")));
        assert!(s.len() < 200_000, "{} bytes", s.len());
    }
}
