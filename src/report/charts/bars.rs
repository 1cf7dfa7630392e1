//! Horizontal grouped bars, one band per category, optionally with min–max
//! whiskers and a marker per category: the capacity split of paper Fig. 3
//! (shared and independent capacity per task, total capacity as a marker;
//! across runs the bars are means and the whiskers the runs' range).
//! Categories run down the page so 40 task names stay horizontal and legible;
//! above [`MAX_BAR_CATEGORIES`] the same figure is drawn as ranked
//! profiles ([`ranked`]), which stay one screen tall.

pub use super::bar_figure::{BarFigure, BarSeries, MAX_BAR_CATEGORIES, is_ranked};
use super::bar_figure::{check, value_range};
use super::ranked;
use super::svg::{self, Anchor, AxisSpec, Swatch, TextSpec};
use crate::report::error::ReportError;
use crate::report::style::{self, Scale};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(n: usize) -> BarFigure {
        let v: Vec<f64> = (0..n).map(|i| (i % 7) as f64 / 10.0).collect();
        BarFigure {
            name: "capacity".into(),
            title: "Capacity".into(),
            categories: (0..n).map(|i| format!("task_{i}")).collect(),
            series: vec![BarSeries {
                name: "shared".into(),
                values: v.clone(),
                range: Some(v.iter().map(|x| (x - 0.01, x + 0.01)).collect()),
            }],
            marker: Some(("capacity C".into(), v)),
            value_label: "capacity".into(),
            whisker_label: None,
        }
    }

    fn height(svg: &str) -> u32 {
        let h = svg
            .split("height=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        h.and_then(|h| h.parse().ok()).expect("an svg height")
    }

    #[test]
    fn many_tasks_are_drawn_one_screen_tall_without_names() {
        let few = render(&tasks(MAX_BAR_CATEGORIES)).unwrap();
        assert!(few.contains("\ntask_119\n"), "bars name every task");
        assert!(height(&few) > 1000);
        let many = render(&tasks(MAX_BAR_CATEGORIES + 1)).unwrap();
        assert!(!many.contains("\ntask_0\n"), "ranked profiles name no task");
        assert!(many.contains("121 tasks ranked by capacity C"));
        assert!(height(&many) < 600, "{}", height(&many));
        assert_eq!(height(&many), height(&render(&tasks(5000)).unwrap()));
    }
}
