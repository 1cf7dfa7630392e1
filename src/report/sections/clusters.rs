//! The clusters section (paper App. C, Table 5): representative task
//! clusters, their co-occurrence across runs and each task's confidence,
//! and the stability of the task relationships across runs (§5.2).

use super::inputs::ReportInputs;
use super::similarity::{floor_tenth, matrix_table, steps};
use crate::analysis::cluster_trust::{ClusterTrust, TrustEvidence};
use crate::analysis::clusters::{ClusterReport, cluster_mean_confidence};
use crate::analysis::stability::StabilityReport;
use crate::report::charts::heatmap::{self, HeatmapFigure};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::{Block, Section};
use crate::report::page::table::Table;
use crate::report::style;
use crate::report::tables;

pub(super) fn section(
    inp: &ReportInputs,
    _slugs: &[String],
    b: &mut PageBuilder,
) -> Result<Section, ReportError> {
    let multi = inp.runs.len() > 1;
    let n_runs = inp.runs.len();
    let mut sec = Section {
        id: "clusters".into(),
        heading: if multi {
            "Task clusters across runs (paper App. C, Table 5)".into()
        } else {
            "Task clusters (paper App. C, Table 5)".into()
        },
        blocks: vec![trust_block(&inp.cluster_trust)],
    };
    if multi {
        let fig = cooccurrence_figure(inp)?;
        sec.blocks.push(b.figure(
            "cooccurrence.svg",
            heatmap::render(&fig)?,
            format!(
                "Share of the {n_runs} runs in which two tasks fall in the same of k = {} clusters (1 = always together); the dendrogram clusters this matrix into the representative clusters of the table below.",
                inp.clusters.k
            ),
            None,
        ));
        b.csv(
            "cooccurrence.csv",
            matrix_table(
                &inp.clusters.cooccurrence.tasks,
                &inp.clusters.cooccurrence.matrix,
            ),
        );
    }
    let cut = &inp.clusters.cut;
    let fmt_h = |h: Option<f64>| h.map_or_else(|| "none".to_string(), style::fmt_value);
    sec.blocks.push(b.table(
        "clusters.csv",
        clusters_table(&inp.clusters),
        format!(
            "Representative task clusters (k = {}, {} linkage{}). Confidence: a task's mean co-occurrence with its cluster mates (for a task alone, the share of runs that left it alone). The cut applies {} merges of the {}dendrogram, the last at height {}; the next would be at {}.",
            inp.clusters.k,
            inp.linkage_name(),
            if multi {
                ", on 1 − co-occurrence, ties broken by 1 − mean similarity"
            } else {
                ""
            },
            cut.merges,
            if multi { "consensus " } else { "" },
            fmt_h(cut.height),
            fmt_h(cut.next_height),
        ),
    ));
    if cut.clusters < inp.clusters.k {
        sec.blocks.push(Block::Note(format!(
            "Only {} clusters: merges tied in every key straddle the cut at k = {}, and no data orders them, so they are made together.",
            cut.clusters, inp.clusters.k
        )));
    }
    for t in &inp.clusters.ties {
        sec.blocks.push(Block::Note(tables::tie_sentence(t)));
    }
    sec.blocks.push(b.table(
        "cluster-confidence.csv",
        tables::cluster_tasks(&inp.clusters),
        "Every task's representative cluster and confidence.",
    ));
    if multi {
        sec.blocks.push(b.table(
            "cluster-runs.csv",
            tables::cluster_runs(&inp.clusters),
            "Agreement of each run's own clusters with the representative clusters: adjusted Rand index (1 = the same partition, about 0 = chance).",
        ));
    }
    b.csv("consensus-merges.csv", tables::merges(&inp.clusters));
    if let Some(st) = &inp.stability {
        stability_blocks(st, b, &mut sec.blocks)?;
    }
    Ok(sec)
}

/// The stability heatmap and its table (several runs).
fn stability_blocks(
    st: &StabilityReport,
    b: &mut PageBuilder,
    blocks: &mut Vec<Block>,
) -> Result<(), ReportError> {
    let fig = stability_figure(st)?;
    let mut mean = st
        .mean
        .map(style::fmt_value)
        .unwrap_or_else(|| "n/a".into());
    if let Some(ci) = &st.mean_ci {
        mean.push_str(&format!(
            ", 95 % bootstrap interval {}–{} over {} resamples of the runs",
            style::fmt_value(ci.low),
            style::fmt_value(ci.high),
            ci.replicates
        ));
    }
    blocks.push(b.figure(
        "stability.svg",
        heatmap::render(&fig)?,
        format!(
            "Spearman rank correlation between the runs' similarity matrices (mean {mean}; the paper reports 0.8 over seven runs): values near 1 mean every run orders task relationships the same way."
        ),
        None,
    ));
    let pairs = tables::stability_pairs(st);
    if st.bootstrap > 0 {
        let g = crate::analysis::stability::jackknife::GROUPS;
        blocks.push(b.table(
            "stability.csv",
            pairs,
            format!(
                "Spearman of every pair of runs with its Mantel p-value and its 95 % interval over filters (grouped jackknife: each run's filters dealt into {g} random groups, each left out once, so every replicate keeps 90 % of a run's filters; {} replicates per pair; ρ ± 1.96 · SE with SE² = {} · var).",
                g * g,
                g - 1,
            ),
        ));
        let outside = st.pairs_outside_their_interval();
        if outside > 0 {
            blocks.push(Block::Note(format!(
                "{outside} of {} pairs have their observed Spearman outside their interval over filters, which is centred on it: only clipping to [−1, 1] can cause that.",
                st.pairs.len()
            )));
        }
    } else {
        b.csv("stability.csv", pairs);
    }
    Ok(())
}

fn cooccurrence_figure(inp: &ReportInputs) -> Result<HeatmapFigure, ReportError> {
    let co = &inp.clusters.cooccurrence;
    Ok(HeatmapFigure {
        name: "cooccurrence".into(),
        title: format!(
            "Co-occurrence in the same cluster across {} runs",
            inp.runs.len()
        ),
        labels: co.tasks.clone(),
        values: co
            .matrix
            .iter()
            .map(|r| r.iter().map(|v| Some(*v)).collect())
            .collect(),
        order: inp.clusters.dendrogram.leaves.clone(),
        dendrogram: Some(steps(&inp.clusters.dendrogram)),
        range: (0.0, 1.0),
        value_name: "co-occurrence".into(),
    })
}

fn clusters_table(c: &ClusterReport) -> Table {
    let mut t = Table::new(&["cluster", "size", "mean confidence", "tasks"]);
    let means = cluster_mean_confidence(c);
    for (i, members) in c.clusters.iter().enumerate() {
        let mean = means.get(i).copied().flatten();
        t.push(vec![
            (i + 1).into(),
            members.len().into(),
            mean.into(),
            members.join(", ").into(),
        ]);
    }
    t
}

fn stability_figure(st: &StabilityReport) -> Result<HeatmapFigure, ReportError> {
    let lo = floor_tenth(st.matrix.iter().flatten().flatten().copied());
    Ok(HeatmapFigure {
        name: "stability".into(),
        title: "Stability: Spearman correlation between runs".into(),
        labels: st.runs.clone(),
        values: st.matrix.clone(),
        order: (0..st.runs.len()).collect(),
        dendrogram: None,
        range: (lo, 1.0),
        value_name: "Spearman ρ".into(),
    })
}

/// The block that opens the section: a boxed warning when the runs put
/// different tasks together, a note saying what was checked otherwise.
/// Thresholds and where they come from: [`crate::analysis::cluster_trust`].
fn trust_block(t: &ClusterTrust) -> Block {
    const STUDY: &str =
        "the shapes study (training/README.md, \"Do the groups survive a standard start?\")";
    match t {
        ClusterTrust::SingleRun => Block::Note(
            "One run: whether these clusters are structure or an accident of this run's initialisation cannot be judged. Train several seeds and pass them all (the paper used seven); the report then checks that they agree.".into(),
        ),
        ClusterTrust::Agree(e) => Block::Note(format!(
            "The {} runs agree: mean cluster confidence {} ≥ {:.2} and mean Spearman {}{} ≥ {:.2}. Agreement is needed for clusters to mean anything but does not prove them: in {STUDY}, runs with tied heads agreed at 0.84 after one epoch, before they had found the known groups.",
            e.runs,
            style::fmt_value(e.mean_confidence),
            e.min_confidence,
            spearman_words(e),
            interval_words(e),
            e.min_spearman,
        )),
        ClusterTrust::ClustersOnly(e) => Block::Note(format!(
            "The {} runs put the same tasks together (mean cluster confidence {} ≥ {:.2}), but order the task pairs differently (mean Spearman {}{} < {:.2}, the paper's value): read the clusters, not the finer order of similarities between them. In {STUDY}, runs like these recovered the known groups in every seed.",
            e.runs,
            style::fmt_value(e.mean_confidence),
            e.min_confidence,
            spearman_words(e),
            interval_words(e),
            e.min_spearman,
        )),
        ClusterTrust::Disagree(e) => Block::Warning(format!(
            "Read these clusters with caution: the {} runs put different tasks together (mean cluster confidence {} < {:.2}; mean Spearman {}{}). In {STUDY}, runs below this confidence did not recover the known task groups in most seeds (mean adjusted Rand index per seed at most 0.76, against at least 0.93 above it), although each run was trained well: the clusters below are drawn the same way, and much of their structure may be seed noise. The representative clusters of more seeds are steadier than any one run's; `mtl-inspect stability --layers REGEX` shows which layers the runs agree on.",
            e.runs,
            style::fmt_value(e.mean_confidence),
            e.min_confidence,
            spearman_words(e),
            interval_words(e),
        )),
    }
}

fn spearman_words(e: &TrustEvidence) -> String {
    e.mean_spearman
        .map_or_else(|| "undefined".into(), style::fmt_value)
}

fn interval_words(e: &TrustEvidence) -> String {
    e.spearman_interval.as_ref().map_or_else(String::new, |ci| {
        format!(
            " (95 % interval {}–{} over resampled runs)",
            style::fmt_value(ci.low),
            style::fmt_value(ci.high)
        )
    })
}
