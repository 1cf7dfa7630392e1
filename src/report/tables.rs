//! Typed results → [`Table`]s: which columns each result has. The JSON
//! rendering is the results' own `Serialize` (see docs/JSON.md).

use crate::analysis::across_runs::CapacityAcrossRuns;
use crate::analysis::capacity::CapacityReport;
use crate::analysis::clusters::{ClusterReport, ClusterTie, MergeRule, cluster_mean_cooccurrence};
use crate::analysis::depth::{CapacityByLayer, SimilarityByLayer};
use crate::analysis::diff::DiffReport;
use crate::analysis::filter_groups::FilterGroupReport;
use crate::analysis::gate_stats::{Distribution, GateDistributionReport};
use crate::analysis::similarity::SimilarityMatrix;
use crate::analysis::specialization::SpecializationReport;
use crate::analysis::stability::StabilityReport;
use crate::checkpoint::summary::CheckpointSummary;

use super::page::table::{Cell, Table, tables_to_text};

/// The layers of a checkpoint (the CSV of `inspect`).
pub fn inspect_layers(s: &CheckpointSummary) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "dtype",
        "gate",
        "share_negative",
        "share_near_1",
    ]);
    for l in &s.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.dtype.clone().into(),
            l.gate.map_or("undecided", |g| g.name()).into(),
            Cell::Num(l.gate_evidence.negative),
            Cell::Num(l.gate_evidence.near_one),
        ]);
    }
    t
}

/// Everything `inspect` shows, as text.
pub fn inspect_text(s: &CheckpointSummary) -> String {
    let mut head = String::new();
    let line = |k: &str, v: String, head: &mut String| head.push_str(&format!("{k:<8} {v}\n"));
    line(
        "file",
        format!("{} ({} bytes, {} tensors)", s.file, s.bytes, s.tensors),
        &mut head,
    );
    line("layout", s.layout.to_string(), &mut head);
    line("dtype", s.dtype.clone(), &mut head);
    for (k, v) in s.decision_lines() {
        line(k, v, &mut head);
    }
    line("names", task_names_line(&s.tasks), &mut head);
    line(
        "layers",
        format!("{} with {} filters in all", s.layers.len(), s.filters),
        &mut head,
    );
    for (k, v) in &s.metadata {
        if k != "mtl.tasks" && k != "mtl.layers" {
            line("meta", format!("{k} = {v}"), &mut head);
        }
    }
    for n in &s.notes {
        line("note", n.clone(), &mut head);
    }
    let mut ignored = Table::new(&["ignored tensor", "shape", "reason"])
        .titled(format!("{} tensors ignored", s.ignored.len()));
    for i in &s.ignored {
        ignored.push(vec![
            i.tensor.clone().into(),
            Cell::Text(format!("{:?}", i.shape)),
            i.reason.clone().into(),
        ]);
    }
    let mut tables = vec![inspect_layers(s)];
    let distinct: std::collections::BTreeSet<&str> = s
        .layers
        .iter()
        .map(|l| l.gate_evidence.reason.as_str())
        .collect();
    if distinct.len() > 1 {
        let mut ev = Table::new(&["layer", "gate evidence"]).titled("gate kind per layer");
        for l in &s.layers {
            ev.push(vec![
                l.layer.clone().into(),
                l.gate_evidence.reason.clone().into(),
            ]);
        }
        tables.push(ev);
    }
    if !s.decisions.skipped.is_empty() {
        let mut sk = Table::new(&["entry", "why skipped"])
            .titled(format!("{} entries not read", s.decisions.skipped.len()));
        for e in &s.decisions.skipped {
            sk.push(vec![e.name.clone().into(), e.why.clone().into()]);
        }
        tables.push(sk);
    }
    tables.push(ignored);
    format!("{head}\n{}", tables_to_text(&tables))
}

pub fn capacity(r: &CapacityReport) -> Table {
    let mut t = Table::new(&["task", "capacity", "shared", "independent"]);
    for c in &r.tasks {
        t.push(vec![
            c.task.clone().into(),
            c.capacity.into(),
            c.shared.into(),
            c.independent.into(),
        ]);
    }
    t
}

/// One row per task: for capacity, shared and independent capacity the
/// mean, sample standard deviation, min, max and 95 % t-interval over runs.
pub fn capacity_across_runs(r: &CapacityAcrossRuns) -> Table {
    let mut headers = vec!["task".to_string()];
    for part in ["capacity", "shared", "independent"] {
        for stat in ["mean", "sd", "min", "max", "ci_low", "ci_high"] {
            headers.push(format!("{part}_{stat}"));
        }
    }
    let mut t = Table {
        title: None,
        headers,
        rows: Vec::new(),
    };
    for task in &r.tasks {
        let mut row: Vec<Cell> = vec![task.task.clone().into()];
        for s in [&task.capacity, &task.shared, &task.independent] {
            row.extend([
                s.mean.into(),
                s.sd.into(),
                s.min.into(),
                s.max.into(),
                s.ci_low.into(),
                s.ci_high.into(),
            ]);
        }
        t.push(row);
    }
    t
}

/// Text of several runs' capacity: mean and interval per task.
pub fn capacity_across_runs_text(r: &CapacityAcrossRuns) -> String {
    let mut t = Table::new(&[
        "task",
        "capacity",
        "95% interval",
        "shared",
        "95% interval",
        "independent",
        "95% interval",
    ])
    .titled(format!(
        "capacity over {} runs: mean and 95 % Student-t interval of the mean (mean ± t·sd/√n); per-run values: --format json or csv",
        r.runs.len()
    ));
    let iv = |s: &crate::analysis::across_runs::Spread| match (s.ci_low, s.ci_high) {
        (Some(a), Some(b)) => Cell::Text(format!("{a:.4}–{b:.4}")),
        _ => Cell::Missing,
    };
    for task in &r.tasks {
        t.push(vec![
            task.task.clone().into(),
            task.capacity.mean.into(),
            iv(&task.capacity),
            task.shared.mean.into(),
            iv(&task.shared),
            task.independent.mean.into(),
            iv(&task.independent),
        ]);
    }
    t.to_text()
}

/// Task names for a one-line summary: all of them up to 40; beyond that
/// the first 30 and the last 5, with the count and where the full list is.
fn task_names_line(tasks: &[String]) -> String {
    const ALL_UP_TO: usize = 40;
    if tasks.len() <= ALL_UP_TO {
        return tasks.join(", ");
    }
    format!(
        "{}, …, {} ({} in all; --format json lists every name)",
        tasks[..30].join(", "),
        tasks[tasks.len() - 5..].join(", "),
        tasks.len()
    )
}

/// A square matrix with task names down the first column.
pub fn matrix(corner: &str, labels: &[String], m: &[Vec<f64>]) -> Table {
    let mut headers = vec![corner.to_string()];
    headers.extend(labels.iter().cloned());
    let mut t = Table {
        title: None,
        headers,
        rows: Vec::new(),
    };
    for (l, row) in labels.iter().zip(m) {
        let mut r: Vec<Cell> = vec![l.clone().into()];
        r.extend(row.iter().map(|v| Cell::Num(*v)));
        t.push(r);
    }
    t
}

pub fn similarity(r: &SimilarityMatrix) -> Table {
    matrix("task", &r.tasks, &r.matrix)
}

/// One row per layer plus `total`; one count column per task (wide, for CSV).
pub fn specialization_wide(r: &SpecializationReport) -> Table {
    let tasks: Vec<String> = r
        .total
        .per_task
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    let mut headers = vec!["layer", "filters", "specialized", "fraction"];
    headers.extend(tasks.iter().map(String::as_str));
    let mut t = Table::new(&headers);
    for l in r.layers.iter().chain(std::iter::once(&r.total)) {
        let mut row: Vec<Cell> = vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.specialized.into(),
            l.fraction.into(),
        ];
        row.extend(l.per_task.iter().map(|(_, c)| Cell::Int(c)));
        t.push(row);
    }
    t
}

/// One row per layer plus `total`, with the tasks owning most specialized
/// filters named (readable with 40 tasks).
pub fn specialization_text(r: &SpecializationReport) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "specialized",
        "fraction",
        "most specialized tasks",
    ])
    .titled(format!(
        "filters whose share of the filter's total importance exceeds τ = {}",
        r.tau
    ));
    for l in r.layers.iter().chain(std::iter::once(&r.total)) {
        let mut counts: Vec<(&str, usize)> = l.per_task.iter().filter(|(_, c)| *c > 0).collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut top: Vec<String> = counts
            .iter()
            .take(4)
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        if counts.len() > 4 {
            top.push(format!("+{} more", counts.len() - 4));
        }
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.specialized.into(),
            l.fraction.into(),
            top.join(", ").into(),
        ]);
    }
    t
}

/// One row per pair of runs; `ci_low`/`ci_high`: the bootstrap interval
/// (empty without bootstrap).
pub fn stability_pairs(r: &StabilityReport) -> Table {
    let mut t = Table::new(&[
        "run_a",
        "run_b",
        "spearman",
        "p_value",
        "ci_low",
        "ci_high",
        "replicate_mean",
    ]);
    for p in &r.pairs {
        t.push(vec![
            p.a.clone().into(),
            p.b.clone().into(),
            p.spearman.into(),
            p.p_value.into(),
            p.ci.as_ref().map(|c| c.low).into(),
            p.ci.as_ref().map(|c| c.high).into(),
            p.ci.as_ref().map(|c| c.mean).into(),
        ]);
    }
    t
}

pub fn stability_text(r: &StabilityReport) -> String {
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
    let mut t = stability_pairs(r);
    let g = crate::analysis::stability::jackknife::GROUPS;
    t.title = Some(format!(
        "Spearman rank correlation between runs' task-similarity matrices (upper triangles); p-values: one-sided Mantel test, {} permutations; ci: 95 % interval over filters (grouped jackknife: {g} filter groups per run, each left out once, {} replicates per pair); mean interval: {} resamples of the runs",
        r.permutations,
        g * g,
        r.bootstrap,
    ));
    let mean_ci = r.mean_ci.as_ref().map_or(String::new(), |c| {
        format!(
            " (95 % interval {:.4}–{:.4} over {} resamples of the runs)",
            c.low, c.high, c.replicates
        )
    });
    let outside = r.pairs_outside_their_interval();
    let note = if outside > 0 {
        format!(
            "note: {outside} of {} pairs have their observed Spearman outside their interval over filters (only clipping to [−1, 1] can cause that)\n",
            r.pairs.len()
        )
    } else {
        String::new()
    };
    format!(
        "{}\nmean {}{mean_ci}  min {}  max {}  over {} pairs of {} runs\n{note}",
        t.to_text(),
        fmt(r.mean),
        fmt(r.min),
        fmt(r.max),
        r.pairs.len(),
        r.runs.len()
    )
}

/// Long table: one row per task with its representative cluster (1-based)
/// and confidence, clusters in order.
pub fn cluster_long(r: &ClusterReport) -> Table {
    let mut t = Table::new(&["task", "cluster", "confidence"]);
    for (i, c) in r.clusters.iter().enumerate() {
        for task in c {
            let conf = r
                .confidence
                .iter()
                .find(|x| &x.task == task)
                .map(|x| x.confidence);
            t.push(vec![task.clone().into(), (i + 1).into(), conf.into()]);
        }
    }
    t
}

/// One row per task in task order: cluster (1-based) and confidence.
pub fn cluster_tasks(r: &ClusterReport) -> Table {
    let mut t = Table::new(&["task", "cluster", "confidence"]);
    for c in &r.confidence {
        t.push(vec![
            c.task.clone().into(),
            (c.cluster + 1).into(),
            c.confidence.into(),
        ]);
    }
    t
}

/// One row per run: its adjusted Rand index to the representative clusters
/// and how many clusters it had.
pub fn cluster_runs(r: &ClusterReport) -> Table {
    let mut t = Table::new(&["run", "ari", "clusters"]);
    for rc in &r.runs {
        let k = rc.labels.iter().max().map_or(0, |m| m + 1);
        t.push(vec![rc.run.clone().into(), rc.ari.into(), k.into()]);
    }
    t
}

fn rule_name(m: MergeRule) -> &'static str {
    match m {
        MergeRule::Distance => "distance",
        MergeRule::Secondary => "secondary",
        MergeRule::Profile => "profile",
        MergeRule::Simultaneous => "simultaneous",
        MergeRule::InputOrder => "input_order",
    }
}

/// The representative dendrogram's merges (scipy's linkage matrix plus the
/// secondary distance and the key that decided each merge), with a column
/// saying which merges the cut applied.
pub fn merges(r: &ClusterReport) -> Table {
    let mut t = Table::new(&[
        "step",
        "a",
        "b",
        "height",
        "secondary",
        "size",
        "decided_by",
        "in_cut",
    ]);
    for (i, s) in r.dendrogram.steps.iter().enumerate() {
        t.push(vec![
            i.into(),
            s.a.into(),
            s.b.into(),
            s.distance.into(),
            s.secondary.into(),
            s.size.into(),
            rule_name(s.decided_by).into(),
            (if i < r.cut.merges { "yes" } else { "no" }).into(),
        ]);
    }
    t
}

/// A sentence naming a tie that input order decided.
pub fn tie_sentence(t: &ClusterTie) -> String {
    let pair = |c: &[Vec<String>; 2]| format!("{{{}}} + {{{}}}", c[0].join(", "), c[1].join(", "));
    let options: Vec<String> = t.candidates.iter().map(pair).collect();
    format!(
        "Exact tie in {} at merge {} (height {:.4}): the data do not order the merges {}; the first was made (input order), and another task order can give other clusters.",
        t.run
            .as_ref()
            .map_or("the representative clustering".to_string(), |r| format!(
                "run {r}"
            )),
        t.step + 1,
        t.height,
        options.join(" and ")
    )
}

pub fn cluster_text(r: &ClusterReport) -> String {
    let multi = r.runs.len() > 1;
    let mut t = Table::new(&["#", "size", "within co-occurrence", "tasks (confidence)"]).titled(format!(
        "{} clusters, {} linkage on 1 − cosine similarity{}",
        r.k,
        r.linkage,
        if multi {
            format!(
                "; representative clusters of {} runs (linkage on 1 − co-occurrence, ties broken by 1 − mean similarity)",
                r.runs.len()
            )
        } else {
            String::new()
        }
    ));
    let conf = |name: &str| {
        r.confidence
            .iter()
            .find(|c| c.task == name)
            .map(|c| c.confidence)
    };
    let within = cluster_mean_cooccurrence(r);
    for (i, c) in r.clusters.iter().enumerate() {
        // Mean co-occurrence of the cluster's pairs: how consistently runs agree.
        let within = within
            .get(i)
            .copied()
            .flatten()
            .map_or(Cell::Missing, Cell::Num);
        let names: Vec<String> = c
            .iter()
            .map(|name| match conf(name) {
                Some(v) => format!("{name} ({v:.2})"),
                None => name.clone(),
            })
            .collect();
        t.push(vec![
            (i + 1).into(),
            c.len().into(),
            within,
            names.join(", ").into(),
        ]);
    }
    let mut out = t.to_text();
    out.push_str("confidence: mean co-occurrence with the cluster mates (alone: share of runs that left the task alone)\n");
    let heights: Vec<String> = r
        .dendrogram
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let h = format!("{:.3}", s.distance);
            if i + 1 == r.cut.merges && i + 1 < r.dendrogram.steps.len() {
                format!("{h} |")
            } else {
                h
            }
        })
        .collect();
    out.push_str(&format!(
        "\n{} merge heights ({}; '|' marks the cut: {} merges, {} clusters): {}\n",
        if multi {
            "consensus dendrogram"
        } else {
            "dendrogram"
        },
        if multi {
            "1 − co-occurrence"
        } else {
            "1 − cosine"
        },
        r.cut.merges,
        r.cut.clusters,
        heights.join(" ")
    ));
    if r.cut.clusters < r.k {
        out.push_str(&format!(
            "only {} clusters: merges tied in every key straddle the cut at k = {}, so they are made together\n",
            r.cut.clusters, r.k
        ));
    }
    if multi {
        let mut runs = cluster_runs(r);
        runs.title =
            Some("each run against the representative clusters (adjusted Rand index)".into());
        out.push('\n');
        out.push_str(&runs.to_text());
    }
    for tie in &r.ties {
        out.push_str(&format!("\nwarning: {}\n", tie_sentence(tie)));
    }
    out
}

pub fn filter_groups(r: &FilterGroupReport) -> Table {
    let mut t = Table::new(&["group", "size", "kind", "dominant tasks (centroid share)", "% of the group per layer, by depth"]).titled(format!(
        "{} k-means groups of filters by normalized task profile; {} dead filters (max importance below threshold) left out",
        r.k, r.dead
    ));
    for g in &r.groups {
        let mut dom: Vec<String> = g
            .dominant_tasks
            .iter()
            .take(3)
            .map(|(n, s)| format!("{n} {s:.2}"))
            .collect();
        if g.dominant_tasks.len() > 3 {
            dom.push(format!("+{} more", g.dominant_tasks.len() - 3));
        }
        // Where the group sits, by depth: the share of its filters per layer.
        let layers: Vec<String> = g
            .per_layer
            .iter()
            .map(|(_, c)| format!("{:.0}", 100.0 * *c as f64 / g.size.max(1) as f64))
            .collect();
        t.push(vec![
            g.id.into(),
            g.size.into(),
            format!("{:?}", g.kind).to_lowercase().into(),
            dom.join(", ").into(),
            layers.join(" ").into(),
        ]);
    }
    t
}

/// Columns of one gate distribution, after its label column(s).
pub const DISTRIBUTION_COLUMNS: [&str; 12] = [
    "n",
    "mean",
    "std",
    "min",
    "q05",
    "q25",
    "median",
    "q75",
    "q95",
    "max",
    "below_0_1",
    "above_0_9",
];

/// The cells of [`DISTRIBUTION_COLUMNS`] for one distribution.
pub fn distribution_cells(d: &Distribution) -> Vec<Cell> {
    vec![
        d.n.into(),
        d.mean.into(),
        d.std.into(),
        d.min.into(),
        d.q05.into(),
        d.q25.into(),
        d.median.into(),
        d.q75.into(),
        d.q95.into(),
        d.max.into(),
        d.below_0_1.into(),
        d.above_0_9.into(),
    ]
}

/// Per-task and overall gate distributions, one row each.
pub fn gates(r: &GateDistributionReport) -> Table {
    let mut headers = vec!["task"];
    headers.extend(DISTRIBUTION_COLUMNS);
    let mut t = Table::new(&headers);
    for d in r.per_task.iter().chain(std::iter::once(&r.overall)) {
        let mut row: Vec<Cell> = vec![d.label.clone().into()];
        row.extend(distribution_cells(d));
        t.push(row);
    }
    t
}

/// One row per group; dominant tasks `task:share` joined by `;`, then one
/// filter-count column per layer.
pub fn filter_groups_wide(r: &FilterGroupReport) -> Table {
    let layer_names: Vec<&str> = r
        .groups
        .first()
        .map(|g| g.per_layer.iter().map(|(l, _)| l.as_str()).collect())
        .unwrap_or_default();
    let mut headers = vec!["group", "size", "kind", "dominant_tasks"];
    headers.extend(layer_names.iter());
    let mut t = Table::new(&headers);
    for g in &r.groups {
        let dom: Vec<String> = g
            .dominant_tasks
            .iter()
            .map(|(n, s)| format!("{n}:{s}"))
            .collect();
        let mut row: Vec<Cell> = vec![
            g.id.into(),
            g.size.into(),
            format!("{:?}", g.kind).to_lowercase().into(),
            dom.join(";").into(),
        ];
        row.extend(g.per_layer.iter().map(|(_, c)| Cell::Int(*c)));
        t.push(row);
    }
    t
}

/// Capacity split per layer: one row per (layer, task), long form.
pub fn capacity_by_layer(r: &CapacityByLayer) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "task",
        "capacity",
        "shared",
        "independent",
    ]);
    for l in &r.layers {
        for c in &l.report.tasks {
            t.push(vec![
                l.layer.clone().into(),
                l.filters.into(),
                c.task.clone().into(),
                c.capacity.into(),
                c.shared.into(),
                c.independent.into(),
            ]);
        }
    }
    t
}

/// Per layer: the means over tasks of the capacity split.
pub fn capacity_by_layer_means(r: &CapacityByLayer) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "mean_capacity",
        "mean_shared",
        "mean_independent",
    ]);
    for l in &r.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.mean_capacity.into(),
            l.mean_shared.into(),
            l.mean_independent.into(),
        ]);
    }
    t
}

/// Per layer: off-diagonal similarity summary.
pub fn similarity_by_layer(r: &SimilarityByLayer) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "mean_off_diagonal",
        "min_off_diagonal",
        "max_off_diagonal",
    ]);
    let num = |v: Option<f64>| v.map_or(Cell::Missing, Cell::Num);
    for l in &r.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            num(l.mean_off_diagonal),
            num(l.min_off_diagonal),
            num(l.max_off_diagonal),
        ]);
    }
    t
}

/// Per task: capacity in A and B and the change of each part (B − A).
pub fn diff_tasks(r: &DiffReport) -> Table {
    let mut t = Table::new(&[
        "task",
        "capacity_a",
        "capacity_b",
        "delta_capacity",
        "delta_shared",
        "delta_independent",
    ]);
    for d in &r.tasks {
        t.push(vec![
            d.task.clone().into(),
            d.capacity_a.into(),
            d.capacity_b.into(),
            d.delta_capacity.into(),
            d.delta_shared.into(),
            d.delta_independent.into(),
        ]);
    }
    t
}

/// Everything `diff` shows, as text.
pub fn diff_text(r: &DiffReport) -> String {
    let mut tasks = diff_tasks(r);
    tasks.title = Some("per task: capacity of A and B, and B − A of each part (eq. 4–5)".into());
    let layers = diff_layers(r).titled(format!(
        "per layer: B − A of the layer's own mean capacity split; filters whose owner (share > τ = {}) changed",
        r.tau
    ));
    let pairs = diff_pairs(r).titled("task pairs whose similarity moved most");
    let rho = match r.similarity_spearman {
        Some(v) => format!("{v:.4}"),
        None => "undefined (a similarity matrix is constant)".into(),
    };
    format!(
        "Spearman correlation of the two task-similarity matrices: {rho}\nfilters whose owner changed: {} (all listed in --format json)\n\n{}",
        r.owner_changes.len(),
        tables_to_text(&[tasks, layers, pairs])
    )
}

/// Per layer: B − A of the layer's own mean capacity split and the filters
/// whose owner changed.
pub fn diff_layers(r: &DiffReport) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "delta_mean_capacity",
        "delta_mean_shared",
        "delta_mean_independent",
        "owner_changes",
    ]);
    for l in &r.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.delta_mean_capacity.into(),
            l.delta_mean_shared.into(),
            l.delta_mean_independent.into(),
            l.owner_changes.into(),
        ]);
    }
    t
}

/// The task pairs whose similarity moved most, largest first.
pub fn diff_pairs(r: &DiffReport) -> Table {
    let mut t = Table::new(&["task_a", "task_b", "similarity_a", "similarity_b", "delta"]);
    for p in &r.moved_pairs {
        t.push(vec![
            p.task_a.clone().into(),
            p.task_b.clone().into(),
            p.similarity_a.into(),
            p.similarity_b.into(),
            p.delta.into(),
        ]);
    }
    t
}

/// Every filter whose owner changed (`Missing`: no owner).
pub fn diff_owner_changes(r: &DiffReport) -> Table {
    let mut t = Table::new(&["layer", "filter", "owner_a", "owner_b"]);
    let owner = |o: &Option<String>| o.clone().map_or(Cell::Missing, Cell::Text);
    for c in &r.owner_changes {
        t.push(vec![
            c.layer.clone().into(),
            c.filter.into(),
            owner(&c.owner_a),
            owner(&c.owner_b),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_task_lists_are_shortened_with_their_count() {
        let few: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(task_names_line(&few), few.join(", "));
        let many: Vec<String> = (0..500).map(|i| format!("t{i}")).collect();
        let line = task_names_line(&many);
        assert!(
            line.starts_with("t0, t1,") && line.contains("t29, …, t495"),
            "{line}"
        );
        assert!(line.ends_with("t499 (500 in all; --format json lists every name)"));
        assert!(!line.contains("t30,") && !line.contains("t494"));
    }
}
