//! Every renderer on synthetic CelebA-shaped data: the SVG is well formed,
//! deterministic, carries what a reader needs (legends, tooltips), and is
//! saved under target/report-artifacts/figures for a person to look at.

mod report_data;

use mtl_inspect::report::{
    BarFigure, BarSeries, HeatmapFigure, HistogramFigure, HistogramSeries, LineFigure, LineSeries,
    MergeStep, StackedBarFigure, StackedSegment, ViolinFigure, ViolinRow, bars, heatmap, lines,
    stacked, violins,
};
use report_data::{Rng, artifact_dir, celeba};

/// Cosine similarities of 40 tasks drawn around 8 latent groups.
fn similarity(seed: u64) -> Vec<Vec<f64>> {
    let mut r = Rng(seed);
    let f = 200;
    let centres: Vec<Vec<f64>> = (0..8).map(|_| (0..f).map(|_| r.f()).collect()).collect();
    let v: Vec<Vec<f64>> = (0..40)
        .map(|t| {
            (0..f)
                .map(|i| (centres[t % 8][i] + 0.6 * r.f()).max(0.0))
                .collect()
        })
        .collect();
    let cos = |a: &[f64], b: &[f64]| {
        let d: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        d / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
            * b.iter().map(|x| x * x).sum::<f64>().sqrt())
    };
    v.iter()
        .map(|a| v.iter().map(|b| cos(a, b)).collect())
        .collect()
}

/// Average-linkage dendrogram with kodama, in scipy's convention, and its
/// leaf order.
fn dendrogram(sim: &[Vec<f64>]) -> (Vec<MergeStep>, Vec<usize>) {
    let n = sim.len();
    let mut condensed = Vec::new();
    for (i, row) in sim.iter().enumerate() {
        condensed.extend(row[i + 1..].iter().map(|s| 1.0 - s));
    }
    let d = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    let steps: Vec<MergeStep> = d
        .steps()
        .iter()
        .map(|s| MergeStep {
            a: s.cluster1,
            b: s.cluster2,
            distance: s.dissimilarity,
        })
        .collect();
    fn leaves(id: usize, n: usize, steps: &[MergeStep], out: &mut Vec<usize>) {
        if id < n {
            out.push(id);
        } else {
            leaves(steps[id - n].a, n, steps, out);
            leaves(steps[id - n].b, n, steps, out);
        }
    }
    let mut order = Vec::new();
    leaves(2 * n - 2, n, &steps, &mut order);
    (steps, order)
}

fn heatmap_figure() -> HeatmapFigure {
    let sim = similarity(7);
    let (steps, order) = dendrogram(&sim);
    HeatmapFigure {
        name: "similarity-40".into(),
        title: "Task similarity (cosine of importance vectors)".into(),
        labels: celeba(),
        values: sim
            .iter()
            .map(|r| r.iter().map(|v| Some(*v)).collect())
            .collect(),
        order,
        dendrogram: Some(steps),
        range: (0.0, 1.0),
        value_name: "cosine similarity".into(),
    }
}

fn bar_figure(runs: usize) -> BarFigure {
    let mut r = Rng(3);
    let n = 40;
    let base: Vec<(f64, f64)> = (0..n)
        .map(|_| (0.3 + 0.2 * r.f(), 0.05 + 0.1 * r.f()))
        .collect();
    let per_run: Vec<Vec<(f64, f64)>> = (0..runs)
        .map(|_| {
            base.iter()
                .map(|(s, i)| (s + 0.03 * r.normal(), i + 0.01 * r.normal()))
                .collect()
        })
        .collect();
    let mean = |k: usize, sel: fn(&(f64, f64)) -> f64| {
        per_run.iter().map(|p| sel(&p[k])).sum::<f64>() / runs as f64
    };
    let range = |k: usize, sel: fn(&(f64, f64)) -> f64| {
        let v: Vec<f64> = per_run.iter().map(|p| sel(&p[k])).collect();
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let shared: Vec<f64> = (0..n).map(|k| mean(k, |p| p.0)).collect();
    let indep: Vec<f64> = (0..n).map(|k| mean(k, |p| p.1)).collect();
    BarFigure {
        name: format!("capacity-{runs}"),
        title: "Capacity per task: shared and independent".into(),
        categories: celeba(),
        series: vec![
            BarSeries {
                name: "shared".into(),
                values: shared.clone(),
                range: (runs > 1).then(|| (0..n).map(|k| range(k, |p| p.0)).collect()),
            },
            BarSeries {
                name: "independent".into(),
                values: indep.clone(),
                range: (runs > 1).then(|| (0..n).map(|k| range(k, |p| p.1)).collect()),
            },
        ],
        marker: Some((
            "total capacity C".into(),
            shared
                .iter()
                .zip(&indep)
                .map(|(s, i)| (s * s + i * i).sqrt())
                .collect(),
        )),
        value_label: "capacity".into(),
        whisker_label: None,
    }
}

fn line_figure() -> LineFigure {
    let mut r = Rng(5);
    let layers: Vec<String> = (0..13).map(|i| format!("encoder.block{}.bn", i)).collect();
    let mut series: Vec<LineSeries> = (0..7)
        .map(|k| LineSeries {
            name: format!("seed{k}"),
            values: (0..13)
                .map(|l| Some((0.02 + 0.04 * l as f64 + 0.05 * r.f()).min(1.0)))
                .collect(),
            emphasis: false,
        })
        .collect();
    let mean: Vec<Option<f64>> = (0..13)
        .map(|l| {
            Some(
                series
                    .iter()
                    .map(|s| s.values[l].unwrap_or(0.0))
                    .sum::<f64>()
                    / 7.0,
            )
        })
        .collect();
    series.push(LineSeries {
        name: "mean of 7 runs".into(),
        values: mean,
        emphasis: true,
    });
    LineFigure {
        name: "specialization".into(),
        title: "Specialized filters per layer (τ = 0.5)".into(),
        x_labels: layers,
        x_label: "layer (input → output)".into(),
        y_label: "specialized filters".into(),
        y_range: None,
        percent: true,
        series,
    }
}

fn histogram(r: &mut Rng, spread: f64, bins: usize, n: usize) -> (Vec<f64>, Vec<usize>) {
    let edges: Vec<f64> = (0..=bins).map(|i| i as f64 / bins as f64).collect();
    let mut counts = vec![0usize; bins];
    for _ in 0..n {
        let g = spread * r.normal();
        let s = 1.0 / (1.0 + (-g).exp());
        counts[((s * bins as f64) as usize).min(bins - 1)] += 1;
    }
    (edges, counts)
}

fn violin_figure() -> ViolinFigure {
    let mut r = Rng(11);
    let rows = celeba()
        .into_iter()
        .enumerate()
        .map(|(i, label)| {
            let (edges, counts) = histogram(&mut r, 1.0 + (i % 5) as f64, 40, 2880);
            ViolinRow {
                label,
                edges,
                counts,
                q05: 0.1,
                q25: 0.3,
                median: 0.5,
                q75: 0.7,
                q95: 0.9,
            }
        })
        .collect();
    ViolinFigure {
        name: "gates-run1".into(),
        title: "Gate values σ(γ) per task".into(),
        value_label: "σ(γ)".into(),
        range: (0.0, 1.0),
        rows,
    }
}

fn histogram_figure(runs: usize) -> HistogramFigure {
    let mut r = Rng(13);
    let series = (0..runs)
        .map(|k| {
            let (edges, counts) = histogram(&mut r, 2.0 + k as f64 * 0.3, 50, 40 * 2880);
            HistogramSeries {
                name: format!("seed{k}"),
                edges,
                counts,
            }
        })
        .collect();
    HistogramFigure {
        name: format!("gates-overall-{runs}"),
        title: "All gate values".into(),
        x_label: "σ(γ)".into(),
        y_label: "filters × tasks".into(),
        series,
    }
}

fn stacked_figure() -> StackedBarFigure {
    let mut r = Rng(17);
    let layers: Vec<String> = (0..13).map(|i| format!("encoder.block{}.bn", i)).collect();
    let mut segments: Vec<StackedSegment> = (0..8)
        .map(|g| StackedSegment {
            name: format!(
                "group {g} · {} filters · Smiling 0.41, Mouth_Slightly_Open 0.22",
                100 + g * 7
            ),
            values: (0..13).map(|_| (r.f() * 40.0).round()).collect(),
            muted: false,
        })
        .collect();
    segments.push(StackedSegment {
        name: "dead (all gates < 0.1)".into(),
        values: (0..13).map(|_| (r.f() * 10.0).round()).collect(),
        muted: true,
    });
    StackedBarFigure {
        name: "filter-groups".into(),
        title: "Filter groups by layer".into(),
        categories: layers,
        x_label: "layer (input → output)".into(),
        y_label: "filters".into(),
        segments,
    }
}

/// How many `<text>` elements say exactly `t` (plotters writes the text on
/// its own line).
fn texts(svg: &str, t: &str) -> usize {
    svg.matches(&format!("\n{t}\n</text>")).count()
}

fn check_svg(name: &str, svg: &str) {
    assert!(svg.starts_with("<svg "), "{name} does not start with <svg");
    assert!(
        svg.trim_end().ends_with("</svg>"),
        "{name} does not end with </svg>"
    );
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "{name} has a non-finite coordinate"
    );
    assert!(
        svg.matches("<text").count() > 3,
        "{name} has almost no text"
    );
    std::fs::write(artifact_dir("figures").join(format!("{name}.svg")), svg)
        .expect("write artifact");
}

type Render = Box<dyn Fn() -> String>;

fn all() -> Vec<(&'static str, Render)> {
    vec![
        (
            "heatmap-40",
            Box::new(|| heatmap::render(&heatmap_figure()).unwrap()),
        ),
        ("bars-1", Box::new(|| bars::render(&bar_figure(1)).unwrap())),
        ("bars-7", Box::new(|| bars::render(&bar_figure(7)).unwrap())),
        (
            "lines-7",
            Box::new(|| lines::render(&line_figure()).unwrap()),
        ),
        (
            "violins-40",
            Box::new(|| violins::render_violins(&violin_figure()).unwrap()),
        ),
        (
            "histogram-1",
            Box::new(|| violins::render_histogram(&histogram_figure(1)).unwrap()),
        ),
        (
            "histogram-7",
            Box::new(|| violins::render_histogram(&histogram_figure(7)).unwrap()),
        ),
        (
            "stacked",
            Box::new(|| stacked::render(&stacked_figure()).unwrap()),
        ),
    ]
}

#[test]
fn figures_are_well_formed_and_deterministic() {
    for (name, f) in all() {
        let a = f();
        check_svg(name, &a);
        assert_eq!(a, f(), "{name}: same input gave different bytes");
    }
}

#[test]
fn heatmap_of_40_tasks_has_1600_tooltips_and_every_name() {
    let svg = heatmap::render(&heatmap_figure()).unwrap();
    assert_eq!(svg.matches("<title>").count(), 1600);
    for t in celeba() {
        // Row label and column label.
        assert!(texts(&svg, &t) >= 2, "{t} not labelled twice");
    }
    assert!(svg.contains("<title>Smiling × Mouth_Slightly_Open: cosine similarity "));
}

#[test]
fn legends_name_every_series() {
    let svg = bars::render(&bar_figure(7)).unwrap();
    for l in [
        "shared",
        "independent",
        "total capacity C",
        "min–max across runs",
    ] {
        assert_eq!(texts(&svg, l), 1, "legend lacks {l}");
    }
    let svg = lines::render(&line_figure()).unwrap();
    assert!(texts(&svg, "mean of 7 runs") == 1 && texts(&svg, "seed6") == 1);
}

#[test]
fn inconsistent_inputs_are_errors_not_panics() {
    let mut b = bar_figure(1);
    b.series[0].values.pop();
    assert!(
        bars::render(&b)
            .unwrap_err()
            .to_string()
            .contains("one value per category")
    );
    let mut l = line_figure();
    l.series[0].values.push(None);
    assert!(lines::render(&l).is_err());
    let mut v = violin_figure();
    v.rows[0].counts.pop();
    assert!(violins::render_violins(&v).is_err());
    let mut s = stacked_figure();
    s.categories.clear();
    assert!(stacked::render(&s).is_err());
}

/// Small figures compared byte for byte with committed SVGs, so a change
/// in the drawing code shows up as a reviewable diff. Regenerate with
/// `UPDATE_SNAPSHOTS=1 cargo test --test report_figures`.
#[test]
fn small_figures_match_their_snapshots() {
    let tasks: Vec<String> = ["Smiling", "Mouth_Slightly_Open", "High_Cheekbones"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let heat = HeatmapFigure {
        name: "snapshot-heatmap".into(),
        title: "Task similarity".into(),
        labels: tasks.clone(),
        values: vec![
            vec![Some(1.0), Some(0.9), Some(0.4)],
            vec![Some(0.9), Some(1.0), Some(0.5)],
            vec![Some(0.4), Some(0.5), Some(1.0)],
        ],
        order: vec![2, 0, 1],
        dendrogram: Some(vec![
            MergeStep {
                a: 0,
                b: 1,
                distance: 0.1,
            },
            MergeStep {
                a: 2,
                b: 3,
                distance: 0.55,
            },
        ]),
        range: (0.0, 1.0),
        value_name: "cosine similarity".into(),
    };
    let bars = BarFigure {
        name: "snapshot-bars".into(),
        title: "Capacity per task".into(),
        categories: tasks,
        series: vec![
            BarSeries {
                name: "shared".into(),
                values: vec![0.4, 0.35, 0.3],
                range: Some(vec![(0.38, 0.42), (0.3, 0.37), (0.29, 0.33)]),
            },
            BarSeries {
                name: "independent".into(),
                values: vec![0.1, 0.2, 0.05],
                range: Some(vec![(0.09, 0.12), (0.18, 0.21), (0.04, 0.06)]),
            },
        ],
        marker: Some(("capacity C".into(), vec![0.412, 0.403, 0.304])),
        value_label: "capacity".into(),
        whisker_label: None,
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("snapshots");
    for (name, svg) in [
        ("heatmap.svg", heatmap::render(&heat).unwrap()),
        ("bars.svg", bars::render(&bars).unwrap()),
    ] {
        let path = dir.join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &svg).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it",
                path.display()
            )
        });
        assert!(
            svg == want,
            "{name} differs from {}; review the diff and rerun with UPDATE_SNAPSHOTS=1 if intended",
            path.display()
        );
    }
}
