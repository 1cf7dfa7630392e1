//! The whole report on the committed CelebA-shaped fixtures: every file is
//! there, the page is self-contained and small, figures carry captions and
//! tooltips, and the bytes do not change from one build to the next.

mod report_data;

use mtl_inspect::report::build_report;
use report_data::{artifact_dir, celeba_runs, inputs, load, report, write_report};

fn html(files: &[(String, Vec<u8>)]) -> String {
    let (_, b) = files
        .iter()
        .find(|(n, _)| n == "index.html")
        .expect("index.html");
    String::from_utf8(b.clone()).expect("utf-8 page")
}

#[test]
fn seven_runs_give_every_figure_and_table_in_one_small_page() {
    let runs = celeba_runs(7);
    let files = report(&runs, 10, false);
    write_report(&artifact_dir("report-celeba40"), &files);
    let page = html(&files);
    assert!(page.len() < 5_000_000, "index.html is {} bytes", page.len());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "capacity.svg",
        "capacity.csv",
        "similarity-run0.svg",
        "similarity-run6.svg",
        "similarity-run3.csv",
        "cooccurrence.svg",
        "cooccurrence.csv",
        "clusters.csv",
        "stability.svg",
        "stability.csv",
        "specialization.svg",
        "specialization.csv",
        "gates-overall.svg",
        "gates-run0.svg",
        "gates-run6.svg",
        "gates.csv",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // Every SVG file is inline in the page with a caption.
    for (n, bytes) in &files {
        if let Some(stem) = n.strip_suffix(".svg") {
            let at = page
                .find(&format!("id=\"fig-{stem}\""))
                .unwrap_or_else(|| panic!("{n} not in the page"));
            let fig = &page[at..at + page[at..].find("</figure>").expect("figure closes")];
            assert!(
                fig.contains(std::str::from_utf8(bytes).unwrap().trim()),
                "{n} inline differs from the file"
            );
            let cap = &fig[fig.find("<figcaption>").expect("caption")..];
            assert!(cap.len() > 60, "{n} has no real caption");
        }
    }
    // Self-contained: no scripts, nothing fetched.
    assert!(!page.contains("<script"));
    assert!(!page.contains("src="));
    assert!(!page.contains("@import") && !page.contains("url("));
    assert!(page.contains("default-src 'none'"));
    // Heatmap cells carry tooltips with both task names and the value.
    let sim = std::str::from_utf8(
        &files
            .iter()
            .find(|(n, _)| n == "similarity-run0.svg")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(sim.matches("<title>").count(), 40 * 40);
    assert!(sim.contains("<title>Smiling × Mouth_Slightly_Open: cosine similarity 0."));
    // Provenance: every file with its hash, and the command line.
    for r in &runs {
        let (sha, size) = mtl_inspect::checkpoint::file_hash::sha256_file(&r.path).unwrap();
        assert!(
            page.contains(&sha) && page.contains(&format!(">{size}<")),
            "provenance of {} missing",
            r.name
        );
    }
    assert!(page.contains("mtl-inspect report fixtures/celeba40/run0.safetensors fixtures/celeba40/run1.safetensors --out reports/celeba40"));
    assert!(page.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn same_inputs_same_bytes() {
    let runs = celeba_runs(3);
    let inp = inputs(&runs, 10, false);
    let a = build_report(&inp).unwrap();
    let b = build_report(&inp).unwrap();
    assert_eq!(a.len(), b.len());
    for ((na, ba), (nb, bb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two builds");
    }
    // And from freshly computed inputs (analyses are seeded too).
    let c = report(&runs, 10, false);
    assert!(a == c, "a report computed twice differs");
}

#[test]
fn one_run_leaves_out_the_across_run_figures() {
    let files = report(&celeba_runs(1), 10, false);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"capacity.svg") && names.contains(&"clusters.csv"));
    assert!(!names.contains(&"stability.svg") && !names.contains(&"cooccurrence.svg"));
    let page = html(&files);
    assert!(page.contains("1 run ·"));
    assert!(!page.contains("whiskers span"));
}

/// A report of one small checkpoint with the given filter-group count.
fn small_report(groups: usize) -> Vec<(String, Vec<u8>)> {
    use mtl_inspect::analysis::filter_groups::{DEFAULT_DEAD_THRESHOLD, FilterGroupParams};
    use mtl_inspect::pipeline::{ReportParams, RunSource, collect};
    use mtl_inspect::report::provenance::ToolInfo;
    let run = load("layouts/stacked_f16.safetensors");
    let params = ReportParams::paper("small", 2)
        .unwrap()
        .with_filter_groups(Some(
            FilterGroupParams::new(groups, 0, DEFAULT_DEAD_THRESHOLD).unwrap(),
        ));
    let src = RunSource {
        name: &run.name,
        path: &run.path,
        gates: &run.gates,
        importance: &run.importance,
        gate_override: None,
    };
    let inp = collect(
        &[src],
        &params,
        ToolInfo::this_tool(vec!["mtl-inspect".into()]),
    )
    .unwrap();
    build_report(&inp).unwrap()
}

#[test]
fn a_small_checkpoint_draws_its_filter_groups() {
    // stacked_f16: 5 tasks, 18 filters in 3 layers (4 + 6 + 8), none dead
    // (every filter has an importance ≥ 0.1): 8 groups are drawn.
    let files = small_report(8);
    write_report(&artifact_dir("report-small"), &files);
    let page = html(&files);
    assert!(page.contains("Capacity"));
    assert!(
        page.contains("id=\"fig-filter-groups-stacked_f16\""),
        "no filter-group figure"
    );
    assert!(!page.contains("are not shown"));
    let csv = files
        .iter()
        .find(|(n, _)| n == "filter-groups-stacked_f16.csv")
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .expect("filter-group table");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 8, "{csv}");
    let filters: usize = rows.iter().map(|r| r[2].parse::<usize>().unwrap()).sum();
    assert_eq!(filters, 18, "every live filter in one group: {csv}");
    let svg = files
        .iter()
        .find(|(n, _)| n == "filter-groups-stacked_f16.svg")
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .unwrap();
    for g in 1..=8 {
        assert!(
            svg.contains(&format!("group {g} ·")),
            "legend lacks group {g}"
        );
    }
}

#[test]
fn filter_groups_that_cannot_be_made_are_explained_not_drawn() {
    // 30 groups of 18 live filters: the figure is left out and the page
    // says why, with the numbers.
    let files = small_report(30);
    let page = html(&files);
    assert!(!page.contains("fig-filter-groups-stacked_f16"));
    assert!(
        page.contains("filter groups of stacked_f16 are not shown")
            && page.contains("at most the 18 live filters"),
        "no explanation in the page"
    );
    assert!(!files.iter().any(|(n, _)| n.starts_with("filter-groups")));
}

/// The depth curves (capacity split and mean similarity per layer) are the
/// analysis of each run, summarized over runs by `analysis::across_runs`,
/// drawn in the specialization-by-depth section and written as CSV.
#[test]
fn depth_curves_are_each_runs_analysis_summarized_over_runs() {
    use mtl_inspect::analysis::depth::depth_curves;
    let runs = celeba_runs(3);
    let inp = inputs(&runs, 10, false);
    for (r, l) in runs.iter().enumerate() {
        assert_eq!(inp.depth.per_run[r], depth_curves(&l.importance));
    }
    let layers = runs[0].importance.layers().len();
    assert_eq!(inp.depth.layers.len(), layers);
    for (i, l) in inp.depth.layers.iter().enumerate() {
        let vals: Vec<f64> = inp
            .depth
            .per_run
            .iter()
            .map(|d| d.layers[i].mean_independent)
            .collect();
        let mean = vals.iter().sum::<f64>() / 3.0;
        assert!((l.independent.mean - mean).abs() < 1e-15);
        assert!(l.independent.min <= mean && mean <= l.independent.max);
        let s = l.similarity.as_ref().expect("40 tasks have pairs");
        assert!(s.min <= s.mean && s.mean <= s.max && s.max <= 1.0 + 1e-12);
    }
    let files = build_report(&inp).unwrap();
    let page = html(&files);
    let section = &page[page.find("<section id=\"specialization\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    let spec = section.find("id=\"fig-specialization\"").unwrap();
    let cap = section.find("id=\"fig-depth-capacity\"").unwrap();
    let sim = section.find("id=\"fig-depth-similarity\"").unwrap();
    assert!(spec < cap && cap < sim, "depth curves not beside Fig. 4");
    let csv = |name: &str| {
        let (_, b) = files.iter().find(|(n, _)| n == name).unwrap();
        String::from_utf8(b.clone()).unwrap()
    };
    let summary = csv("depth.csv");
    assert_eq!(summary.lines().count(), 1 + layers);
    assert!(summary.starts_with("layer,filters,capacity_mean,capacity_min,capacity_max"));
    // One row per run and layer, with the run's own values.
    let per_run = csv("depth-runs.csv");
    assert_eq!(per_run.lines().count(), 1 + 3 * layers);
    let first: Vec<&str> = per_run.lines().nth(1).unwrap().split(',').collect();
    let d0 = &inp.depth.per_run[0].layers[0];
    assert_eq!(first[1], d0.layer);
    assert_eq!(first[5].parse::<f64>().unwrap(), d0.mean_independent);
}
