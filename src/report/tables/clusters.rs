//! Cluster tables (paper 000, App. C, Table 5): representative clusters,
//! each run's agreement, the merges and the ties ([`ClusterReport`]).

use crate::analysis::clusters::{ClusterReport, ClusterTie, MergeRule, cluster_mean_cooccurrence};
use crate::report::page::table::{Cell, Table};

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
