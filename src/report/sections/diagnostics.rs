//! The sections drawn from `mtl-train diagnose` files: task-gradient
//! conflict (paper 000 §3, Fig. 2 left: cosine distributions, TSσBN beside
//! HPS), gradient norms and AvgNorm weights (paper 003 eq. 6, Fig. 8, Tab.
//! VI–VII) and the pruning-impact matrix (paper 000 §5.3, Fig. 4). Numbers
//! come from the diagnose JSON or from [`crate::analysis::gradient_conflict`];
//! nothing is computed here beyond choosing what to say.

use super::inputs::{DiagnosticsInput, Found};
use crate::diagnostics::diagnose::{PerTask, Pruning, Ranking, Scope};
use crate::report::charts::bars::{self, BarFigure, BarSeries};
use crate::report::charts::heatmap::{self, HeatmapFigure};
use crate::report::charts::violins::{self, ViolinFigure, ViolinRow};
use crate::report::error::ReportError;
use crate::report::page::builder::{PageBuilder, slug};
use crate::report::page::html::{Block, Section};
use crate::report::page::provenance::file_name;
use crate::report::page::table::{Cell, Table};
use crate::report::style::fmt_value;

fn f(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), fmt_value)
}

fn label(d: &DiagnosticsInput) -> String {
    format!("{} ({})", d.diagnostics.checkpoint.norm_label(), d.name)
}

pub(super) fn sections(
    ds: &[DiagnosticsInput],
    files: &mut PageBuilder,
) -> Result<Vec<Section>, ReportError> {
    let mut gradients = Section {
        id: "gradients".into(),
        heading:
            "Task gradients: conflict, norms and AvgNorm weights (paper 000 §3, Fig. 2; paper 003)"
                .into(),
        blocks: vec![],
    };
    gradients.blocks.push(inputs_table(ds, files));
    gradients.blocks.push(runs_table(ds, files));
    conflict_blocks(ds, files, &mut gradients.blocks)?;
    norm_blocks(ds, files, &mut gradients.blocks)?;
    super::diagnostics_steps::step_blocks(ds, files, &mut gradients.blocks)?;
    let mut pruning = Section {
        id: "pruning".into(),
        heading: "Pruning impact (paper 000 §5.3, Fig. 4)".into(),
        blocks: vec![],
    };
    pruning_blocks(ds, files, &mut pruning.blocks)?;
    Ok(vec![gradients, pruning])
}

fn inputs_table(ds: &[DiagnosticsInput], files: &mut PageBuilder) -> Block {
    let mut t = Table::new(&["diagnostics", "file", "found", "SHA-256"]);
    for d in ds {
        t.push(vec![
            d.name.clone().into(),
            file_name(&d.diagnostics.path).into(),
            match &d.found {
                Found::Flag => "--diagnostics".to_string(),
                Found::BesideCheckpoint(c) => format!("auto: beside {}", file_name(c)),
            }
            .into(),
            d.sha256.clone().into(),
        ]);
    }
    files.table(
        "diagnostics-files.csv",
        t,
        "Diagnose files of mtl-train read for this section and the next (schema mtl-train/diagnose; paths in the command line under Provenance), and how each was found.",
    )
}

fn runs_table(ds: &[DiagnosticsInput], files: &mut PageBuilder) -> Block {
    let mut t = Table::new(&[
        "diagnostics",
        "checkpoint",
        "architecture",
        "gradients",
        "batches",
        "evaluation",
        "mean F1",
    ]);
    for d in ds {
        let g = &d.diagnostics.gradients;
        t.push(vec![
            d.name.clone().into(),
            d.diagnostics.checkpoint.path.clone().into(),
            d.diagnostics.checkpoint.norm_label().into(),
            format!("{}, {} split", g.method, g.split).into(),
            Cell::Int(g.batches as usize),
            match &d.diagnostics.evaluation {
                Some(e) => format!("{} split, {} samples", e.split, e.samples),
                None => "none (recorder)".into(),
            }
            .into(),
            d.diagnostics
                .evaluation
                .as_ref()
                .and_then(|e| e.mean.f1)
                .into(),
        ]);
    }
    files.table(
        "diagnostics-runs.csv",
        t,
        "What each diagnose file measured: the checkpoint, its architecture (HPS: shared BN), how the per-task gradients were taken and on how many training batches, and the evaluation behind the pruning matrices.",
    )
}

fn conflict_blocks(
    ds: &[DiagnosticsInput],
    files: &mut PageBuilder,
    blocks: &mut Vec<Block>,
) -> Result<(), ReportError> {
    // Rows: every scope, the runs side by side within it.
    let mut scopes: Vec<String> = Vec::new();
    for d in ds {
        for s in d.conflict.iter().flat_map(|c| &c.scopes) {
            if !scopes.contains(&s.scope) {
                scopes.push(s.scope.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for scope in &scopes {
        for d in ds {
            // A scope whose cosines are all undefined has nothing to draw.
            let Some(s) = d
                .conflict
                .as_ref()
                .and_then(|c| c.scopes.iter().find(|s| &s.scope == scope))
                .filter(|s| s.distribution.n > 0)
            else {
                continue;
            };
            let h = &s.distribution.histogram;
            rows.push(ViolinRow {
                label: format!("{} · {}", scope, d.diagnostics.checkpoint.norm_label()),
                edges: h.edges.clone(),
                counts: h.counts.clone(),
                q05: s.distribution.q05,
                q25: s.distribution.q25,
                median: s.distribution.median,
                q75: s.distribution.q75,
                q95: s.distribution.q95,
            });
        }
    }
    if !rows.is_empty() {
        let fig = ViolinFigure {
            name: "gradient-cosines".into(),
            title: "Task-pair gradient cosines cos(g_i, g_j), per shared weight".into(),
            value_label: "cosine of two tasks' gradients (< 0: conflict)".into(),
            range: (-1.0, 1.0),
            rows,
        };
        blocks.push(files.figure(
            "gradient-cosines.svg",
            violins::render_violins(&fig)?,
            conflict_caption(ds),
            None,
        ));
    }
    for d in ds {
        if let Some(note) = &d.diagnostics.conflict_note {
            blocks.push(Block::Note(format!("{}: {note}.", d.name)));
        }
    }
    let mut t = Table::new(&[
        "diagnostics",
        "architecture",
        "scope",
        "params",
        "n",
        "undefined",
        "mean",
        "std",
        "q05",
        "q25",
        "median",
        "q75",
        "q95",
        "share negative",
    ]);
    for d in ds {
        for s in &d.diagnostics.gradients.scopes {
            let p = &s.conflict.pooled;
            t.push(vec![
                d.name.clone().into(),
                d.diagnostics.checkpoint.norm_label().into(),
                s.scope.clone().into(),
                Cell::Int(s.params as usize),
                p.n.into(),
                p.undefined.into(),
                p.mean.into(),
                p.std.into(),
                p.q05.into(),
                p.q25.into(),
                p.median.into(),
                p.q75.into(),
                p.q95.into(),
                p.share_negative.into(),
            ]);
        }
    }
    blocks.push(files.table(
        "gradient-cosines.csv",
        t,
        "Task-pair gradient cosines over all pairs and batches, per scope, as mtl-train diagnose summarised them (the violins above are drawn from its per-batch CSV).",
    ));
    Ok(())
}

/// States each run's spread and share in conflict, and whether the
/// TSσBN/HPS comparison goes the paper's way.
fn conflict_caption(ds: &[DiagnosticsInput]) -> String {
    let overall = |d: &DiagnosticsInput| d.diagnostics.overall().map(|s| s.conflict.pooled.clone());
    let mut parts = Vec::new();
    for d in ds {
        if let Some(p) = overall(d) {
            parts.push(format!(
                "{}: median {}, std {}, 5–95 % {} … {}, {} of pairs × batches negative",
                label(d),
                f(p.median),
                f(p.std),
                f(p.q05),
                f(p.q95),
                p.share_negative.map_or_else(|| "n/a".into(), pct)
            ));
        }
    }
    let mut s = format!(
        "Cosine between two tasks' gradients on the shared weights, every task pair and batch of the diagnosed training batches (violin: histogram; dark bar: middle half; line: 5–95 %; circle: median), first over all shared weights, then per weight tensor. All shared weights: {}.",
        parts.join("; ")
    );
    let std_of = |norm: &str| {
        ds.iter()
            .filter(|d| d.diagnostics.checkpoint.norm.as_deref() == Some(norm))
            .find_map(|d| overall(d).and_then(|p| p.std))
    };
    if let (Some(ts), Some(hps)) = (std_of("tssbn"), std_of("bn")) {
        if ts < hps {
            s.push_str(&format!(
                " As paper 000 reports, TSσBN's cosines are concentrated near 0 (std {} vs {} for HPS): its tasks' gradients interfere less. The paper measures early in training; these are the diagnosed checkpoints' weights.",
                fmt_value(ts),
                fmt_value(hps)
            ));
        } else {
            s.push_str(&format!(
                " Unlike paper 000, TSσBN's cosines are not more concentrated than HPS's (std {} vs {}).",
                fmt_value(ts),
                fmt_value(hps)
            ));
        }
    }
    s
}

/// p-values keep their order of magnitude (1e-4 is the smallest of 9 999
/// permutations), which three decimals would print as 0.000.
fn p_value(v: Option<f64>) -> String {
    match v {
        Some(p) if p > 0.0 && p < 0.001 => format!("{p:.0e}"),
        other => f(other),
    }
}

fn pct(v: f64) -> String {
    format!("{:.0} %", v * 100.0)
}

/// Whether the tasks' gradient norms differ more between tasks or between
/// batches, from the overall scope of each file.
fn imbalance_verdict(ds: &[DiagnosticsInput]) -> String {
    let mut mild = true;
    let mut batchy = true;
    let mut any = false;
    for d in ds {
        let Some(s) = d.diagnostics.overall() else {
            continue;
        };
        let (Some(tasks), Some(batch)) = (
            s.imbalance.max_over_min_of_mean_norms,
            s.imbalance.per_batch_max_over_min.median,
        ) else {
            continue;
        };
        any = true;
        mild &= tasks < 2.0;
        batchy &= batch > tasks;
    }
    if !any {
        return String::new();
    }
    let mut v = String::new();
    if mild {
        v.push_str(" Between tasks the imbalance is mild (max/min of the mean norms below 2 in every file); paper 003 motivates AvgNorm with tasks whose gradient norms differ by orders of magnitude.");
    }
    if batchy {
        v.push_str(" Within a batch the norms differ more than their means do (per-batch max/min above the ratio of the means): the imbalance is mostly from batch to batch.");
    }
    v
}

fn per_task_series(
    ds: &[DiagnosticsInput],
    tasks: &[String],
    stat: fn(&Scope) -> &PerTask,
) -> Vec<BarSeries> {
    ds.iter()
        .filter(|d| d.diagnostics.tasks == tasks)
        .filter_map(|d| {
            let s = d.diagnostics.overall()?;
            let p = stat(s);
            let idx: Vec<Option<usize>> = tasks
                .iter()
                .map(|t| d.diagnostics.tasks.iter().position(|x| x == t))
                .collect();
            let get = |v: &[Option<f64>], i: Option<usize>| {
                i.and_then(|i| v.get(i).copied().flatten())
                    .unwrap_or(f64::NAN)
            };
            Some(BarSeries {
                name: label(d),
                values: idx.iter().map(|&i| get(&p.mean, i)).collect(),
                range: Some(
                    idx.iter()
                        .map(|&i| (get(&p.q05, i), get(&p.q95, i)))
                        .collect(),
                ),
            })
        })
        .collect()
}

fn norm_blocks(
    ds: &[DiagnosticsInput],
    files: &mut PageBuilder,
    blocks: &mut Vec<Block>,
) -> Result<(), ReportError> {
    let Some(first) = ds.first() else {
        return Ok(());
    };
    let tasks = first.diagnostics.tasks.clone();
    // Bars share one task axis: files with other tasks are listed in the
    // tables only.
    for d in ds.iter().filter(|d| d.diagnostics.tasks != tasks) {
        blocks.push(Block::Note(format!(
            "{} has other tasks than {}; its gradient norms and AvgNorm weights are in the tables below, not in the figures.",
            label(d),
            label(first)
        )));
    }
    let weights = BarFigure {
        name: "avgnorm-weights".into(),
        title: "AvgNorm weight w_t = ‖Σ g_i‖ / ‖g_t‖ per task (all shared weights)".into(),
        categories: tasks.clone(),
        series: per_task_series(ds, &tasks, |s| &s.avgnorm_weight),
        marker: None,
        value_label: "AvgNorm weight (mean over batches)".into(),
        whisker_label: Some("5–95 % over batches".into()),
    };
    let mut imbalance = Vec::new();
    for d in ds {
        let Some(s) = d.diagnostics.overall() else {
            continue;
        };
        let w: Vec<f64> = s.avgnorm_weight.mean.iter().flatten().copied().collect();
        let (lo, hi) = w
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        imbalance.push(format!(
            "{}: mean weights {} … {}, max/min of the mean norms {} ({} largest, {} smallest), per-batch max/min median {}",
            label(d),
            fmt_value(lo),
            fmt_value(hi),
            f(s.imbalance.max_over_min_of_mean_norms),
            s.imbalance.largest_mean_norm_task.as_deref().unwrap_or("n/a"),
            s.imbalance.smallest_mean_norm_task.as_deref().unwrap_or("n/a"),
            f(s.imbalance.per_batch_max_over_min.median),
        ));
    }
    blocks.push(files.figure(
        "avgnorm-weights.svg",
        bars::render(&weights)?,
        format!(
            "The weight AvgNorm (paper 003 eq. 6) would give each task's loss so that every task's gradient has the norm of their sum, per batch; a task with a small gradient gets a large weight. {}.{}",
            imbalance.join("; "),
            imbalance_verdict(ds)
        ),
        None,
    ));
    let norms = BarFigure {
        name: "gradient-norms".into(),
        title: "Gradient norm ‖g_t‖ per task (all shared weights)".into(),
        categories: tasks.clone(),
        series: per_task_series(ds, &tasks, |s| &s.norm),
        marker: None,
        value_label: "‖g_t‖ (mean over batches)".into(),
        whisker_label: Some("5–95 % over batches".into()),
    };
    blocks.push(files.figure(
        "gradient-norms.svg",
        bars::render(&norms)?,
        format!(
            "Norm of each task's gradient on the shared weights (g_t = ∇(L_t / T)), mean over the diagnosed batches with 5–95 % {}: the quantity AvgNorm balances.",
            if bars::is_ranked(&norms) {
                "bands, tasks ranked by the first file's norm (names in the table)"
            } else {
                "whiskers"
            }
        ),
        None,
    ));
    blocks.push(files.table(
        "gradient-norms.csv",
        norms_table(ds),
        "Per task and run: gradient norm, AvgNorm weight and cosine with the summed gradient over batches (all shared weights), and the test F1 of the diagnose evaluation.",
    ));
    blocks.push(files.table(
        "gradient-imbalance.csv",
        imbalance_table(ds),
        "Imbalance of the task gradients' norms per scope: the ratio of the largest to the smallest mean norm (also the max/min ratio of AvgNorm weights built from mean norms) and the same ratio per batch.",
    ));
    Ok(())
}

/// Per task and run: gradient norm, AvgNorm weight, cosine with the
/// summed gradient, test F1.
fn norms_table(ds: &[DiagnosticsInput]) -> Table {
    let mut t = Table::new(&[
        "diagnostics",
        "architecture",
        "task",
        "norm mean",
        "norm q05",
        "norm q95",
        "avgnorm weight mean",
        "avgnorm weight q05",
        "avgnorm weight q95",
        "cos with aggregate mean",
        "test F1",
    ]);
    for d in ds {
        let Some(s) = d.diagnostics.overall() else {
            continue;
        };
        for (i, task) in d.diagnostics.tasks.iter().enumerate() {
            let g = |v: &[Option<f64>]| Cell::from(v.get(i).copied().flatten());
            t.push(vec![
                d.name.clone().into(),
                d.diagnostics.checkpoint.norm_label().into(),
                task.clone().into(),
                g(&s.norm.mean),
                g(&s.norm.q05),
                g(&s.norm.q95),
                g(&s.avgnorm_weight.mean),
                g(&s.avgnorm_weight.q05),
                g(&s.avgnorm_weight.q95),
                g(&s.cos_with_aggregate.mean),
                d.diagnostics
                    .evaluation
                    .as_ref()
                    .and_then(|e| e.tasks.get(i))
                    .and_then(|e| e.f1)
                    .into(),
            ]);
        }
    }
    t
}

/// Per run and scope: how unequal the task gradients' norms are.
fn imbalance_table(ds: &[DiagnosticsInput]) -> Table {
    let mut t = Table::new(&[
        "diagnostics",
        "architecture",
        "scope",
        "max/min of mean norms",
        "largest mean norm",
        "smallest mean norm",
        "per-batch max/min median",
        "per-batch max/min q95",
    ]);
    for d in ds {
        for s in &d.diagnostics.gradients.scopes {
            t.push(vec![
                d.name.clone().into(),
                d.diagnostics.checkpoint.norm_label().into(),
                s.scope.clone().into(),
                s.imbalance.max_over_min_of_mean_norms.into(),
                s.imbalance
                    .largest_mean_norm_task
                    .clone()
                    .unwrap_or_default()
                    .into(),
                s.imbalance
                    .smallest_mean_norm_task
                    .clone()
                    .unwrap_or_default()
                    .into(),
                s.imbalance.per_batch_max_over_min.median.into(),
                s.imbalance.per_batch_max_over_min.q95.into(),
            ]);
        }
    }
    t
}

fn pruning_blocks(
    ds: &[DiagnosticsInput],
    files: &mut PageBuilder,
    blocks: &mut Vec<Block>,
) -> Result<(), ReportError> {
    for d in ds {
        let tasks = &d.diagnostics.tasks;
        match &d.diagnostics.pruning {
            Pruning::Skipped { reason } => {
                blocks.push(Block::Note(format!(
                    "{}: pruning was not measured: {reason}.",
                    label(d)
                )));
            }
            Pruning::Done {
                k,
                filters_per_task,
                permutations,
                rankings,
                metric,
            } => {
                // Specialization first: paper 000 Fig. 4 prunes filters "based
                // on their primary specialization".
                let mut order: Vec<&Ranking> = rankings.iter().collect();
                order.sort_by_key(|r| r.ranking != "specialization");
                for (i, r) in order.into_iter().enumerate() {
                    let m = &r.f1_drop;
                    let vals = m.matrix.iter().flatten().flatten().copied();
                    let (lo, hi) = vals.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
                    let lo = (lo * 10.0).floor() / 10.0;
                    let hi = if hi > 0.0 {
                        (hi * 10.0).ceil() / 10.0
                    } else {
                        1.0
                    };
                    let name = format!("pruning-{}-{}", slug(&d.name), slug(&r.ranking));
                    let fig = HeatmapFigure {
                        name: name.clone(),
                        title: format!(
                            "{metric} drop after removing each task's top {k} filters by {} — {}",
                            r.ranking,
                            label(d)
                        ),
                        labels: tasks.clone(),
                        values: m.matrix.clone(),
                        order: (0..tasks.len()).collect(),
                        dendrogram: None,
                        range: (lo, hi),
                        value_name: format!(
                            "{metric} drop (row: pruned task, column: evaluated task)"
                        ),
                    };
                    let share = m.diagonal_share_by_evaluated;
                    let verdict = match share {
                        Some(s) if s >= 0.5 => "diagonal-dominant: most tasks are hurt most by removing their own filters, as in paper 000 Fig. 4".to_string(),
                        Some(s) if m.p_value_by_evaluated.is_some_and(|p| p <= 0.05) => format!(
                            "not diagonal-dominant (a task is hurt most by its own pruning in {} of columns), though above chance; paper 000 Fig. 4 shows a clear diagonal, here removing a task's filters often hurts some other tasks as much or more",
                            pct(s)
                        ),
                        Some(_) => "not diagonal-dominant and no better than chance, unlike paper 000 Fig. 4: removing a task's top filters by this ranking hurts other tasks as much as itself (filters important to one task are important to many)".to_string(),
                        None => "diagonal share undefined".to_string(),
                    };
                    let caption = format!(
                        "Row r: the top {k} of {filters_per_task} filters of task r by {} removed for every task, then every task evaluated; a cell is the {metric} drop of the column's task (rows and columns in task order). Diagonal share by evaluated task {} (p = {}, {permutations} permutations; chance 1/T = {}), by pruned task {} (p = {}): {verdict}.",
                        r.ranking,
                        f(share),
                        p_value(m.p_value_by_evaluated),
                        f(m.null_share),
                        f(m.diagonal_share_by_pruned),
                        p_value(m.p_value_by_pruned),
                    );
                    let collapsed =
                        (i > 0).then(|| format!("Pruning by {} — {}", r.ranking, label(d)));
                    blocks.push(files.figure(
                        &format!("{name}.svg"),
                        heatmap::render(&fig)?,
                        caption,
                        collapsed,
                    ));
                    files.csv(&format!("{name}.csv"), matrix_table(tasks, &m.matrix));
                }
                blocks.push(files.table(
                    &format!("pruning-{}.csv", slug(&d.name)),
                    pruning_summary_table(d, rankings, metric),
                    format!(
                        "Diagonal dominance of the pruning matrices of {}: the share of evaluated tasks (columns) hurt most by their own pruning, and of pruned tasks (rows) whose largest drop is their own, with permutation p-values (ties count 1/m, chance 1/T). The matrices are in pruning-{}-<ranking>.csv.",
                        label(d),
                        slug(&d.name)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One pruning matrix: rows the pruned task, columns the evaluated one.
fn matrix_table(tasks: &[String], matrix: &[Vec<Option<f64>>]) -> Table {
    let mut header = vec!["pruned \\ evaluated"];
    header.extend(tasks.iter().map(String::as_str));
    let mut t = Table::new(&header);
    for (task, row) in tasks.iter().zip(matrix) {
        let mut cells: Vec<Cell> = vec![task.clone().into()];
        cells.extend(row.iter().map(|v| Cell::from(*v)));
        t.push(cells);
    }
    t
}

/// The diagonal dominance of every pruning matrix of `d`.
fn pruning_summary_table(d: &DiagnosticsInput, rankings: &[Ranking], metric: &str) -> Table {
    let mut t = Table::new(&[
        "diagnostics",
        "ranking",
        "matrix",
        "diagonal share by evaluated",
        "p (by evaluated)",
        "diagonal share by pruned",
        "p (by pruned)",
        "chance",
    ]);
    for r in rankings {
        let drop = format!("{metric} drop");
        let matrices = std::iter::once((drop.as_str(), &r.f1_drop))
            .chain(r.loss_increase.as_ref().map(|m| ("loss increase", m)));
        for (what, m) in matrices {
            t.push(vec![
                d.name.clone().into(),
                r.ranking.clone().into(),
                what.into(),
                m.diagonal_share_by_evaluated.into(),
                Cell::Text(p_value(m.p_value_by_evaluated)),
                m.diagonal_share_by_pruned.into(),
                Cell::Text(p_value(m.p_value_by_pruned)),
                m.null_share.into(),
            ]);
        }
    }
    t
}
