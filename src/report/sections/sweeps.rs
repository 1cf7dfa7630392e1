//! One section per sweep of training runs: the noisy task's capacity split
//! against ξ (paper 000 App. E, Fig. 10), the gate distributions per value
//! (Fig. 5/9 for α) and the mean test F1 per value (Table 6 for α). The
//! numbers come from [`crate::analysis::sweep`].

use super::inputs::SweepInput;
use crate::analysis::sweep::{SweepReport, fmt_value as value_text};
use crate::report::charts::lines::{self, LineFigure, LineSeries};
use crate::report::charts::violins::{self, HistogramFigure, HistogramSeries};
use crate::report::error::ReportError;
use crate::report::page::builder::{PageBuilder, slug};
use crate::report::page::html::{Block, Section};
use crate::report::page::provenance::file_name;
use crate::report::page::table::{Cell, Table};
use crate::report::style::fmt_value;

fn symbol(parameter: &str) -> &str {
    match parameter {
        "noise" => "ξ",
        "alpha" => "α",
        other => other,
    }
}

fn paper_ref(parameter: &str) -> &'static str {
    match parameter {
        "noise" => " (paper 000 App. E)",
        "alpha" => " (paper 000 §7.1, App. D, Fig. 5/9)",
        _ => "",
    }
}

pub(super) fn section(
    s: &SweepInput,
    index: usize,
    files: &mut PageBuilder,
) -> Result<Section, ReportError> {
    let r = &s.report;
    let sym = symbol(&r.parameter);
    let stem = format!("sweep-{}", slug(&r.parameter));
    let stem = if index > 0 && files.has_file_starting(&format!("{stem}.")) {
        format!("{stem}-{}", index + 1)
    } else {
        stem
    };
    let mut blocks = Vec::new();
    let n_runs = r.runs.len();
    if let Some(task) = &r.noisy_task {
        blocks.push(capacity_block(r, task, &stem, files)?);
    }
    // Gate distributions as overlaid histograms (Fig. 5/9): violins of
    // near-binary gates are two spikes at 0 and 1 and hide the rest. Not
    // drawn for the noise sweep, where α and so the gates' spread is fixed.
    if r.parameter != "noise" {
        blocks.push(gates_block(r, &stem, files)?);
    }
    if r.parameter == "noise" && r.noisy_task.is_none() {
        blocks.push(Block::Note(
            "These runs name no single regression task (mtl.regression_tasks), so the noisy task's capacity is not drawn.".into(),
        ));
    }
    blocks.push(f1_block(r, &stem, files)?);
    blocks.push(files.table(
        &format!("{stem}.csv"),
        runs_table(r),
        format!(
            "Every run of the sweep (files given to --sweep, read like the checkpoints above): the swept {} from its mtl.sweep metadata, the test mean F1 at the checkpoint's epoch (mtl.test_mean_f1; mtl-train keeps the epoch of best validation F1){}, and the shares of all gates below 0.1 and above 0.9.",
            r.parameter,
            if r.noisy_task.is_some() {
                ", the noisy task's capacity split (eq. 4–5) and its most similar task"
            } else {
                ""
            }
        ),
    ));
    let mut t = Table::new(&["run", "file", "SHA-256"]);
    for (run, path, sha) in &s.files {
        t.push(vec![
            run.clone().into(),
            file_name(path).into(),
            sha.clone().into(),
        ]);
    }
    blocks.push(files.table(
        &format!("{stem}-files.csv"),
        t,
        "The checkpoints of this sweep (paths in the command line under Provenance).",
    ));
    if n_runs > r.points.len() {
        blocks.push(Block::Note(format!(
            "{n_runs} runs at {} values: figures show the mean of the runs at each value (gates pooled).",
            r.points.len()
        )));
    }
    Ok(Section {
        id: stem.clone(),
        heading: format!(
            "Sweep of {sym} ({} runs){}",
            n_runs,
            paper_ref(&r.parameter)
        ),
        blocks,
    })
}

/// The swept values as x labels.
fn x_labels(r: &SweepReport) -> Vec<String> {
    r.points.iter().map(|p| value_text(p.value)).collect()
}

/// The noisy task's capacity split against the swept value (App. E).
fn capacity_block(
    r: &SweepReport,
    task: &str,
    stem: &str,
    files: &mut PageBuilder,
) -> Result<Block, ReportError> {
    let sym = symbol(&r.parameter);
    let series = |name: &str,
                  get: fn(&crate::analysis::sweep::SweepPoint) -> Option<f64>,
                  emphasis| LineSeries {
        name: name.to_string(),
        values: r.points.iter().map(get).collect(),
        emphasis,
    };
    let all = [
        series("capacity C", |p| p.noisy_capacity, false),
        series("shared", |p| p.noisy_shared, false),
        series("independent", |p| p.noisy_independent, true),
    ];
    let max = all
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .fold(0.0, f64::max);
    let fig = LineFigure {
        name: format!("{stem}-capacity"),
        title: format!("Capacity of the noisy task {task} against {sym}"),
        x_labels: x_labels(r),
        x_label: format!("label noise {sym} (noise variance / target variance)"),
        y_label: "capacity (mean importance)".into(),
        y_range: Some((0.0, if max > 0.0 { max * 1.1 } else { 1.0 })),
        percent: false,
        series: all.to_vec(),
    };
    Ok(files.figure(
        &format!("{}.svg", fig.name),
        lines::render(&fig)?,
        capacity_caption(r, task, sym),
        None,
    ))
}

/// All gates per swept value, as overlaid histograms.
fn gates_block(r: &SweepReport, stem: &str, files: &mut PageBuilder) -> Result<Block, ReportError> {
    let sym = symbol(&r.parameter);
    let hist = HistogramFigure {
        name: format!("{stem}-gates"),
        title: format!("Histogram of all gates per {sym}"),
        x_label: "importance σ(γ)".into(),
        y_label: "filters × tasks".into(),
        series: r
            .points
            .iter()
            .map(|p| HistogramSeries {
                name: format!("{sym} = {}", value_text(p.value)),
                edges: p.gates.histogram.edges.clone(),
                counts: p.gates.histogram.counts.clone(),
            })
            .collect(),
    };
    Ok(files.figure(
        &format!("{}.svg", hist.name),
        violins::render_histogram(&hist)?,
        gates_caption(r, sym),
        None,
    ))
}

/// The mean test F1 per swept value, or a note that no run has it.
fn f1_block(r: &SweepReport, stem: &str, files: &mut PageBuilder) -> Result<Block, ReportError> {
    let sym = symbol(&r.parameter);
    if !r.points.iter().any(|p| p.test_mean_f1.is_some()) {
        return Ok(Block::Note(
            "No run has mtl.test_mean_f1 metadata, so F1 per value is not drawn.".into(),
        ));
    }
    let f1 = LineFigure {
        name: format!("{stem}-f1"),
        title: format!("Mean test F1 against {sym}"),
        x_labels: x_labels(r),
        x_label: sym.to_string(),
        y_label: "mean test F1 (binary tasks)".into(),
        y_range: {
            let v: Vec<f64> = r.points.iter().filter_map(|p| p.test_mean_f1).collect();
            let lo = v.iter().copied().fold(1.0f64, f64::min);
            let hi = v.iter().copied().fold(0.0f64, f64::max);
            Some((((lo - 0.05) * 10.0).floor() / 10.0).max(0.0))
                .map(|lo| (lo, (hi + 0.02).min(1.0).max(lo + 0.1)))
        },
        percent: false,
        series: vec![LineSeries {
            name: if r.runs.len() > r.points.len() {
                "mean over runs".into()
            } else {
                "test mean F1".into()
            },
            values: r.points.iter().map(|p| p.test_mean_f1).collect(),
            emphasis: true,
        }],
    };
    Ok(files.figure(
        &format!("{}.svg", f1.name),
        lines::render(&f1)?,
        f1_caption(r, sym),
        None,
    ))
}

/// Every run of the sweep, in order of the swept value; the noisy task's
/// columns only where there is one.
fn runs_table(r: &SweepReport) -> Table {
    let noisy = r.noisy_task.is_some();
    let mut headers = vec!["run", r.parameter.as_str(), "seed", "epoch", "test mean F1"];
    if noisy {
        headers.extend([
            "noisy task capacity",
            "shared",
            "independent",
            "most similar task",
            "its cosine similarity",
        ]);
    }
    headers.extend(["gates < 0.1", "gates > 0.9", "median gate"]);
    let mut t = Table::new(&headers);
    for run in r
        .points
        .iter()
        .flat_map(|p| p.runs.iter().filter_map(|&i| r.runs.get(i)))
    {
        let mut row: Vec<Cell> = vec![
            run.run.clone().into(),
            run.value.into(),
            run.seed.map_or(Cell::Missing, |v| Cell::Int(v as usize)),
            run.epoch.map_or(Cell::Missing, |v| Cell::Int(v as usize)),
            run.test_mean_f1.into(),
        ];
        if noisy {
            let n = run.noisy.as_ref();
            row.extend([
                n.map(|n| n.capacity.capacity).into(),
                n.map(|n| n.capacity.shared).into(),
                n.map(|n| n.capacity.independent).into(),
                n.map_or(Cell::Missing, |n| n.nearest_task.clone().into()),
                n.map(|n| n.nearest_similarity).into(),
            ]);
        }
        row.extend([
            run.gates.below_0_1.into(),
            run.gates.above_0_9.into(),
            run.gates.median.into(),
        ]);
        t.push(row);
    }
    t
}

fn capacity_caption(r: &SweepReport, task: &str, sym: &str) -> String {
    let pts: Vec<String> = r
        .points
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{} at {sym} = {}",
                fmt_value(p.noisy_independent?),
                value_text(p.value)
            ))
        })
        .collect();
    let mut s = format!(
        "Capacity of {task}, the task whose training targets carry noise of variance {sym} times their own, split into shared and independent capacity (eq. 4–5) in each run. Independent capacity: {}.",
        pts.join(", ")
    );
    if let Some(tr) = &r.independent_trend {
        if tr.monotone_rising() {
            s.push_str(&format!(
                " It rises at every step ({} → {}), as paper 000 App. E reports: the noisier task takes filters of its own.",
                fmt_value(tr.first),
                fmt_value(tr.last)
            ));
        } else if tr.last > tr.first {
            s.push_str(&format!(
                " It rises overall ({} → {}) as App. E reports, but not at every step: it rises in {} of {} steps and falls in {}{}.",
                fmt_value(tr.first),
                fmt_value(tr.last),
                tr.rising,
                tr.steps,
                tr.falling,
                if r.points.iter().all(|p| p.runs.len() == 1) {
                    " (one run per value: neighbouring values can differ by seed alone)"
                } else {
                    ""
                }
            ));
        } else {
            s.push_str(&format!(
                " It does not rise with {sym} ({} → {}), unlike paper 000 App. E.",
                fmt_value(tr.first),
                fmt_value(tr.last)
            ));
        }
    }
    let shared: Vec<f64> = r.points.iter().filter_map(|p| p.noisy_shared).collect();
    if let (Some(a), Some(b)) = (shared.first(), shared.last()) {
        if b >= a {
            s.push_str(&format!(
                " Unlike Fig. 10, shared capacity does not fall ({} → {}): the task's total capacity grows instead.",
                fmt_value(*a),
                fmt_value(*b)
            ));
        } else {
            s.push_str(&format!(
                " Shared capacity falls ({} → {}), as in Fig. 10.",
                fmt_value(*a),
                fmt_value(*b)
            ));
        }
    }
    s
}

fn gates_caption(r: &SweepReport, sym: &str) -> String {
    let per: Vec<String> = r
        .points
        .iter()
        .map(|p| {
            format!(
                "{sym} = {}: {:.0} % below 0.1, {:.0} % above 0.9, median {}",
                value_text(p.value),
                p.gates.below_0_1 * 100.0,
                p.gates.above_0_9 * 100.0,
                fmt_value(p.gates.median)
            )
        })
        .collect();
    let mut s = format!(
        "Distribution of all gates (every task and filter; 40 bins on [0, 1], counts over all runs of a value) at each {sym}: {}.",
        per.join("; ")
    );
    if r.parameter == "alpha" {
        let (Some(a), Some(b)) = (r.points.first(), r.points.last()) else {
            return s;
        };
        let binary = |p: &crate::analysis::sweep::SweepPoint| p.gates.below_0_1 + p.gates.above_0_9;
        if binary(b) > binary(a) {
            s.push_str(&format!(
                " As in Fig. 5/9, a larger α pushes the gates from their start at 0.5 towards 0 and 1 ({:.0} % → {:.0} % near-binary): small α leaves every filter shared, large α turns the gates into a mask.",
                binary(a) * 100.0,
                binary(b) * 100.0
            ));
        } else {
            s.push_str(" Unlike Fig. 5/9, the gates do not become more binary as α grows.");
        }
    }
    s
}

fn f1_caption(r: &SweepReport, sym: &str) -> String {
    let per: Vec<String> = r
        .points
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{} at {sym} = {}",
                fmt_value(p.test_mean_f1?),
                value_text(p.value)
            ))
        })
        .collect();
    let mut s = format!(
        "Mean F1 of the binary tasks on the test split, at the epoch each checkpoint holds (the epoch of best validation F1): {}.",
        per.join(", ")
    );
    match (r.parameter.as_str(), r.best_f1_value) {
        ("alpha", Some(best)) => {
            let interior = r.points.first().is_some_and(|p| p.value < best)
                && r.points.last().is_some_and(|p| p.value > best);
            if interior {
                s.push_str(&format!(
                    " F1 peaks at α = {} and drops on both sides, the shape of paper 000 Table 6 (TSσBN on NYUv2 best at α = 100).",
                    value_text(best)
                ));
            } else {
                s.push_str(&format!(
                    " F1 is best at the end of the range (α = {}), unlike paper 000 Table 6, whose gains peak at α = 100.",
                    value_text(best)
                ));
            }
        }
        ("noise", _) => {
            let v: Vec<f64> = r.points.iter().filter_map(|p| p.test_mean_f1).collect();
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            if hi.is_finite() {
                s.push_str(&format!(
                    " Across {sym} the binary tasks' F1 stays within {} … {}.",
                    fmt_value(lo),
                    fmt_value(hi)
                ));
            }
        }
        _ => {}
    }
    s
}
