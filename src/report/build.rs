//! Typed analysis results → figures, tables and the page, and
//! [`build_report`], which returns every file of a report as bytes.
//!
//! No statistics are computed here: summaries across runs come from
//! [`crate::analysis::across_runs`], uncertainty from the analyses.

use std::collections::{BTreeSet, HashMap};

use super::bars::{self, BarFigure, BarSeries};
use super::heatmap::{self, HeatmapFigure, MergeStep};
use super::html::{self, Block, Page, Section};
use super::lines::{self, LineFigure, LineSeries};
use super::provenance::{Provenance, ToolInfo};
use super::stacked::{self, StackedBarFigure, StackedSegment};
use super::table::{Cell, Table};
use super::tables;
use super::violins::{self, HistogramFigure, HistogramSeries, ViolinFigure, ViolinRow};
use super::{ReportError, style};
use crate::analysis::across_runs::{CapacityAcrossRuns, DepthAcrossRuns, Spread};
use crate::analysis::capacity::CapacityReport;
use crate::analysis::clusters::{ClusterReport, Dendrogram};
use crate::analysis::filter_groups::{FilterGroupReport, GroupKind};
use crate::analysis::gate_stats::GateDistributionReport;
use crate::analysis::similarity::SimilarityMatrix;
use crate::analysis::specialization::SpecializationReport;
use crate::analysis::stability::StabilityReport;

/// Everything computed for one run.
#[derive(Debug, Clone)]
pub struct RunResults {
    pub provenance: Provenance,
    pub capacity: CapacityReport,
    pub similarity: SimilarityMatrix,
    pub specialization: SpecializationReport,
    pub gates: GateDistributionReport,
    /// Filter groups are drawn for the runs that have them.
    pub filter_groups: Option<FilterGroupReport>,
    /// Shown in the page (e.g. why an analysis was left out).
    pub notes: Vec<String>,
}

/// Everything a report shows. `clusters` covers all runs (with one run its
/// clusters are that run's); `stability` needs two runs or more.
#[derive(Debug, Clone)]
pub struct ReportInputs {
    pub title: String,
    pub runs: Vec<RunResults>,
    /// Capacity of every task over the runs (mean, min–max, t-interval).
    pub capacity_across_runs: CapacityAcrossRuns,
    /// Share of specialized filters per layer over the runs.
    pub specialization_across_runs: Vec<(String, Option<Spread>)>,
    /// Capacity split and mean similarity per layer, per run and over runs.
    pub depth: DepthAcrossRuns,
    pub clusters: ClusterReport,
    pub stability: Option<StabilityReport>,
    pub tool: ToolInfo,
    /// Diagnose files and sweeps (sections after the checkpoints' own).
    pub extras: super::extras::ExtraInputs,
}

/// One output file: its name relative to the report directory, and bytes.
pub type ReportFile = (String, Vec<u8>);

/// Renders the whole report: `index.html`, one SVG per figure and one CSV
/// per table. Deterministic: the same inputs give the same bytes.
pub fn build_report(inp: &ReportInputs) -> Result<Vec<ReportFile>, ReportError> {
    if inp.runs.is_empty() {
        return Err(ReportError::Inputs(
            "a report needs at least one run".into(),
        ));
    }
    let slugs = slugs(&inp.runs);
    let mut b = Builder {
        secondary_runs: inp.runs.len() - 1,
        ..Builder::default()
    };
    let multi = inp.runs.len() > 1;
    let n_runs = inp.runs.len();

    // 1. Capacity (Fig. 3).
    let mut sec = Section {
        id: "capacity".into(),
        heading: "Capacity: shared and independent (paper §5.1, Fig. 3)".into(),
        blocks: vec![],
    };
    let cap = capacity_figure(inp)?;
    sec.blocks.push(b.figure(
        "capacity.svg",
        bars::render(&cap)?,
        if bars::is_ranked(&cap) {
            let over = if multi {
                format!(" (means over the {n_runs} runs; bands span their min–max)")
            } else {
                String::new()
            };
            format!("Each task's capacity C (black line) and its shared and independent parts{over}, with C² = shared² + independent², for the {} tasks ranked by C: too many to name in a figure, so each task's values are in the tables below. Where the orange line rises, tasks use filters no other task relies on.", cap.categories.len())
        } else if multi {
            format!("Each task's capacity C (black tick) splits into the part shared with other tasks and its independent part, with C² = shared² + independent²; bars are means over the {n_runs} runs and whiskers span their min–max.")
        } else {
            "Each task's capacity C (black tick) splits into the part shared with other tasks and its independent part, with C² = shared² + independent²: a long orange bar marks a task that uses filters no other task relies on.".into()
        },
        None,
    ));
    sec.blocks.push(b.table(
        "capacity.csv",
        capacity_table(inp, &slugs),
        "Capacity of every task in every run.",
    ));
    if multi {
        sec.blocks.push(b.table(
            "capacity-summary.csv",
            tables::capacity_across_runs(&inp.capacity_across_runs),
            &format!(
                "Capacity of every task over the {n_runs} runs: mean, sample standard deviation, min–max, and the 95 % Student-t interval of the mean (mean ± t·sd/√{n_runs})."
            ),
        ));
    }
    b.sections.push(sec);

    // 2. Similarity with dendrograms (§5.2).
    let mut sec = Section {
        id: "similarity".into(),
        heading: "Task similarity (paper §5.2)".into(),
        blocks: vec![],
    };
    for (r, run) in inp.runs.iter().enumerate() {
        let fig = similarity_figure(inp, r, &slugs[r])?;
        let file = format!("{}.svg", fig.name);
        let caption = format!(
            "Cosine similarity of the tasks' importance vectors in {} (1 = the same filters used equally); rows and columns follow the {}-linkage dendrogram on 1 − similarity, so bright blocks on the diagonal are task groups — {}.",
            run.provenance.run,
            linkage_name(inp),
            if tasks(inp).len() > heatmap::MAX_VECTOR_CELLS {
                "drawn as one image at this many tasks; the values are in the CSV"
            } else {
                "hover a cell for its pair and value"
            }
        );
        let collapsed = (r > 0).then(|| format!("Similarity of {}", run.provenance.run));
        sec.blocks
            .push(b.figure(&file, heatmap::render(&fig)?, caption, collapsed));
        b.csv(
            &format!("{}.csv", fig.name),
            similarity_table(&run.similarity),
        );
        if !run.similarity.zero_norm_tasks.is_empty() {
            sec.blocks.push(Block::Note(format!(
                "{}: tasks with an all-zero importance vector (similarity set to 0 with every other task): {}.",
                run.provenance.run,
                run.similarity.zero_norm_tasks.join(", ")
            )));
        }
    }
    b.sections.push(sec);

    // 3. Clusters, co-occurrence and stability across runs (App. C, Table 5).
    let mut sec = Section {
        id: "clusters".into(),
        heading: if multi {
            "Task clusters across runs (paper App. C, Table 5)".into()
        } else {
            "Task clusters (paper App. C, Table 5)".into()
        },
        blocks: vec![],
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
        &format!(
            "Representative task clusters (k = {}, {} linkage{}). Confidence: a task's mean co-occurrence with its cluster mates (for a task alone, the share of runs that left it alone). The cut applies {} merges of the {}dendrogram, the last at height {}; the next would be at {}.",
            inp.clusters.k,
            linkage_name(inp),
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
        sec.blocks.push(b.figure(
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
            sec.blocks.push(b.table(
                "stability.csv",
                pairs,
                &format!(
                    "Spearman of every pair of runs with its Mantel p-value and its 95 % interval over filters (grouped jackknife: each run's filters dealt into {g} random groups, each left out once, so every replicate keeps 90 % of a run's filters; {} replicates per pair; ρ ± 1.96 · SE with SE² = {} · var).",
                    g * g,
                    g - 1,
                ),
            ));
            let outside = tables::outside_interval(st);
            if outside > 0 {
                sec.blocks.push(Block::Note(format!(
                    "{outside} of {} pairs have their observed Spearman outside their interval over filters, which is centred on it: only clipping to [−1, 1] can cause that.",
                    st.pairs.len()
                )));
            }
        } else {
            b.csv("stability.csv", pairs);
        }
    }
    b.sections.push(sec);

    // 4. Specialization by depth (Fig. 4 left).
    let spec = specialization_figure(inp)?;
    let tau = inp.runs[0].specialization.tau;
    let mut sec = Section {
        id: "specialization".into(),
        heading: "Specialization and sharing by depth (paper §5.3, Fig. 4 left)".into(),
        blocks: vec![],
    };
    sec.blocks.push(b.figure(
        "specialization.svg",
        lines::render(&spec)?,
        format!(
            "Share of each layer's filters that one task dominates (its importance is more than τ = {} of the filter's total){}; a rising line means deeper layers are more task-specific.",
            style::fmt_value(tau).trim_end_matches('0'),
            if multi { ", one thin line per run and their mean in black" } else { "" }
        ),
        None,
    ));
    if inp
        .runs
        .iter()
        .all(|r| r.specialization.total.specialized == 0)
    {
        sec.blocks.push(Block::Note(format!(
            "No filter is specialized at τ = {tau} in any run: with {} tasks one task would need more than {tau} of a filter's total importance. A lower --tau shows where specialization starts.",
            inp.runs[0].provenance.tasks.len()
        )));
    }
    let (depth_blocks, mut depth_files) = super::depth_curves::blocks(&inp.depth, &slugs)?;
    sec.blocks.extend(depth_blocks);
    b.files.append(&mut depth_files);
    sec.blocks.push(b.table(
        "specialization.csv",
        specialization_table(inp, &slugs),
        "Specialized filters per layer and run.",
    ));
    b.sections.push(sec);

    // 5. Gate distributions (Fig. 5/9).
    let mut sec = Section {
        id: "gates".into(),
        heading: "Gate value distributions (paper Fig. 5, Fig. 9)".into(),
        blocks: vec![],
    };
    sec.blocks.push(b.figure(
        "gates-overall.svg",
        violins::render_histogram(&overall_histogram(inp))?,
        "All importances of all tasks and filters together: mass near 0 and 1 means tasks switch filters off or on, a peak at 0.5 means gates barely moved from their initialisation.".into(),
        None,
    ));
    for (r, run) in inp.runs.iter().enumerate() {
        let fig = violin_figure(run, &slugs[r])?;
        let collapsed = (r > 0).then(|| format!("Gate values per task in {}", run.provenance.run));
        sec.blocks.push(b.figure(
            &format!("{}.svg", fig.name),
            violins::render_violins(&fig)?,
            format!(
                "Distribution of each task's importances over all filters in {}: the shape is the histogram, the dark bar the middle half, the line 5–95 % and the circle the median.",
                run.provenance.run
            ),
            collapsed,
        ));
    }
    b.csv("gates.csv", gates_table(inp, &slugs));
    b.sections.push(sec);

    // 6. Filter groups.
    let with_groups: Vec<usize> = (0..inp.runs.len())
        .filter(|&r| inp.runs[r].filter_groups.is_some())
        .collect();
    if !with_groups.is_empty() {
        let mut sec = Section {
            id: "filter-groups".into(),
            heading: "Filter groups (paper §5.3)".into(),
            blocks: vec![],
        };
        for (i, &r) in with_groups.iter().enumerate() {
            let run = &inp.runs[r];
            let Some(fg) = &run.filter_groups else {
                continue;
            };
            let fig = groups_figure(fg, &run.provenance.run, &slugs[r])?;
            let collapsed = (i > 0).then(|| format!("Filter groups of {}", run.provenance.run));
            sec.blocks.push(b.figure(
                &format!("{}.svg", fig.name),
                stacked::render(&fig)?,
                format!(
                    "Filters of {} clustered by how they share importance across tasks (k = {}): each bar is a layer, each colour a group named by its size and dominant tasks, grey the dead filters.",
                    run.provenance.run, fg.k
                ),
                collapsed,
            ));
            let t = groups_table(fg);
            if i == 0 {
                sec.blocks.push(b.table(
                    &format!("{}.csv", fig.name),
                    t,
                    &format!("Filter groups of {}.", run.provenance.run),
                ));
            } else {
                b.csv(&format!("{}.csv", fig.name), t);
            }
        }
        b.sections.push(sec);
    }
    let (mut extra_sections, mut extra_files) = super::extras::render(&inp.extras)?;
    b.sections.append(&mut extra_sections);
    b.files.append(&mut extra_files);
    let notes: Vec<Block> = inp
        .runs
        .iter()
        .flat_map(|r| r.notes.iter().map(|n| Block::Note(n.clone())))
        .collect();
    if !notes.is_empty() {
        b.sections.push(Section {
            id: "notes".into(),
            heading: "Notes".into(),
            blocks: notes,
        });
    }

    let first = &inp.runs[0].provenance;
    let page = Page {
        title: inp.title.clone(),
        subtitle: format!(
            "{} run{} · {} tasks · {} layers · {} filters · gate {}",
            n_runs,
            if multi { "s" } else { "" },
            first.tasks.len(),
            first.layers.len(),
            first.filters,
            first.gate
        ),
        sections: std::mem::take(&mut b.sections),
        provenance: inp.runs.iter().map(|r| r.provenance.clone()).collect(),
        tool: inp.tool.clone(),
    };
    let mut files = vec![("index.html".to_string(), html::render(&page))];
    files.append(&mut b.files);
    Ok(files)
}

/// The secondary runs' copies of one figure (those shown collapsed) are
/// linked rather than inlined when together they would add more than this
/// to the page: at 500 tasks one run's gate violins are about 0.7 MB, at
/// 100 tasks one vector heatmap 1.7 MB, and twenty runs of either would
/// make the page too heavy to open. Seven runs of 40 tasks stay inline.
pub const SECONDARY_INLINE_BUDGET: usize = 6_000_000;

/// Rows of a table shown in the page; longer tables are cut there (the
/// CSV keeps every row).
pub const MAX_PAGE_ROWS: usize = 1000;

#[derive(Default)]
struct Builder {
    files: Vec<ReportFile>,
    sections: Vec<Section>,
    /// Runs after the first, whose figures are shown collapsed.
    secondary_runs: usize,
}

impl Builder {
    fn figure(
        &mut self,
        file: &str,
        svg: String,
        caption: String,
        collapsed: Option<String>,
    ) -> Block {
        self.files
            .push((file.to_string(), svg.clone().into_bytes()));
        let heavy = svg.len().saturating_mul(self.secondary_runs) > SECONDARY_INLINE_BUDGET;
        if let Some(summary) = collapsed.as_ref().filter(|_| heavy) {
            return Block::Linked {
                file: file.to_string(),
                caption,
                summary: summary.clone(),
                bytes: svg.len(),
            };
        }
        Block::Figure {
            file: file.to_string(),
            svg,
            caption,
            collapsed,
        }
    }
    fn csv(&mut self, file: &str, t: Table) {
        self.files.push((file.to_string(), t.to_csv().into_bytes()));
    }
    fn table(&mut self, file: &str, mut t: Table, caption: &str) -> Block {
        self.files.push((file.to_string(), t.to_csv().into_bytes()));
        let mut caption = caption.to_string();
        if t.rows.len() > MAX_PAGE_ROWS {
            caption.push_str(&format!(
                " The page shows the first {MAX_PAGE_ROWS} of {} rows; the CSV has them all.",
                t.rows.len()
            ));
            t.rows.truncate(MAX_PAGE_ROWS);
        }
        Block::Table {
            file: file.to_string(),
            collapsed: t.rows.len() > 12,
            table: t,
            caption,
        }
    }
}

/// File-name-safe, unique run names (`seed 3/ckpt.safetensors` → `ckpt`).
fn slugs(runs: &[RunResults]) -> Vec<String> {
    let mut seen = HashMap::new();
    runs.iter()
        .map(|r| {
            let mut s: String = r
                .provenance
                .run
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if s.is_empty() {
                s = "run".into();
            }
            let n = seen.entry(s.clone()).or_insert(0usize);
            *n += 1;
            if *n > 1 { format!("{s}-{n}") } else { s }
        })
        .collect()
}

fn linkage_name(inp: &ReportInputs) -> String {
    serde_json::to_value(inp.clusters.linkage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", inp.clusters.linkage).to_lowercase())
}

/// The canonical task order: the clustering's (the first run's).
fn tasks(inp: &ReportInputs) -> &[String] {
    &inp.clusters.cooccurrence.tasks
}

fn capacity_figure(inp: &ReportInputs) -> Result<BarFigure, ReportError> {
    let tasks = tasks(inp);
    let by_name: HashMap<&str, &crate::analysis::across_runs::TaskCapacitySpread> = inp
        .capacity_across_runs
        .tasks
        .iter()
        .map(|t| (t.task.as_str(), t))
        .collect();
    let rows: Vec<&crate::analysis::across_runs::TaskCapacitySpread> = tasks
        .iter()
        .map(|t| {
            by_name.get(t.as_str()).copied().ok_or_else(|| {
                ReportError::Inputs(format!(
                    "task '{t}' has no capacity in every run; runs must share their tasks"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let multi = inp.runs.len() > 1;
    let series =
        |name: &str, sel: fn(&crate::analysis::across_runs::TaskCapacitySpread) -> &Spread| {
            BarSeries {
                name: name.into(),
                values: rows.iter().map(|r| sel(r).mean).collect(),
                range: multi.then(|| rows.iter().map(|r| (sel(r).min, sel(r).max)).collect()),
            }
        };
    Ok(BarFigure {
        name: "capacity".into(),
        title: if multi {
            format!("Capacity per task, mean of {} runs", inp.runs.len())
        } else {
            "Capacity per task".into()
        },
        categories: tasks.to_vec(),
        series: vec![
            series("shared", |r| &r.shared),
            series("independent", |r| &r.independent),
        ],
        marker: Some((
            "capacity C".into(),
            rows.iter().map(|r| r.capacity.mean).collect(),
        )),
        value_label: "capacity (mean importance)".into(),
        whisker_label: None,
    })
}

fn capacity_table(inp: &ReportInputs, slugs: &[String]) -> Table {
    let mut t = Table::new(&["run", "task", "capacity", "shared", "independent"]);
    for (r, run) in inp.runs.iter().enumerate() {
        for c in &run.capacity.tasks {
            t.push(vec![
                slugs[r].clone().into(),
                c.task.clone().into(),
                c.capacity.into(),
                c.shared.into(),
                c.independent.into(),
            ]);
        }
    }
    t
}

fn steps(d: &Dendrogram) -> Vec<MergeStep> {
    d.steps
        .iter()
        .map(|s| MergeStep {
            a: s.a,
            b: s.b,
            distance: s.distance,
        })
        .collect()
}

/// Run `r`'s similarity in the canonical task order, drawn in the order of
/// that run's dendrogram.
fn similarity_figure(
    inp: &ReportInputs,
    r: usize,
    slug: &str,
) -> Result<HeatmapFigure, ReportError> {
    let run = &inp.runs[r];
    let tasks = tasks(inp);
    let sim = &run.similarity;
    let pos: HashMap<&str, usize> = sim
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let idx: Vec<usize> = tasks
        .iter()
        .map(|t| {
            pos.get(t.as_str()).copied().ok_or_else(|| {
                ReportError::Inputs(format!("{} has no task '{t}'", run.provenance.run))
            })
        })
        .collect::<Result<_, _>>()?;
    let values = idx
        .iter()
        .map(|&i| {
            idx.iter()
                .map(|&j| sim.matrix.get(i).and_then(|row| row.get(j)).copied())
                .collect()
        })
        .collect();
    let rc = inp.clusters.runs.get(r);
    let (order, dendrogram) = match rc {
        Some(rc) if rc.dendrogram.leaves.len() == tasks.len() => {
            (rc.dendrogram.leaves.clone(), Some(steps(&rc.dendrogram)))
        }
        _ => ((0..tasks.len()).collect(), None),
    };
    let lo = floor_tenth(sim.matrix.iter().flatten().copied());
    Ok(HeatmapFigure {
        name: format!("similarity-{slug}"),
        title: format!("Task similarity — {}", run.provenance.run),
        labels: tasks.to_vec(),
        values,
        order,
        dendrogram,
        range: (lo, 1.0),
        value_name: "cosine similarity".into(),
    })
}

/// The colour scale's lower end: the smallest value rounded down to a
/// tenth, in `[-1, 0.9]`, so near-identical tasks still differ in colour
/// and the colour bar says where the scale starts.
fn floor_tenth(values: impl Iterator<Item = f64>) -> f64 {
    let min = values.filter(|v| v.is_finite()).fold(1.0f64, f64::min);
    ((min * 10.0).floor() / 10.0).clamp(-1.0, 0.9)
}

fn matrix_table(labels: &[String], m: &[Vec<f64>]) -> Table {
    let mut header = vec!["task"];
    header.extend(labels.iter().map(String::as_str));
    let mut t = Table::new(&header);
    for (l, row) in labels.iter().zip(m) {
        let mut cells: Vec<Cell> = vec![l.clone().into()];
        cells.extend(row.iter().map(|v| Cell::Num(*v)));
        t.push(cells);
    }
    t
}

fn similarity_table(s: &SimilarityMatrix) -> Table {
    matrix_table(&s.tasks, &s.matrix)
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
    let means = crate::analysis::clusters::cluster_mean_confidence(c);
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

fn specialization_figure(inp: &ReportInputs) -> Result<LineFigure, ReportError> {
    let layers: Vec<String> = inp.runs[0]
        .specialization
        .layers
        .iter()
        .map(|l| l.layer.clone())
        .collect();
    let mut series: Vec<LineSeries> = inp
        .runs
        .iter()
        .map(|run| {
            let by: HashMap<&str, f64> = run
                .specialization
                .layers
                .iter()
                .map(|l| (l.layer.as_str(), l.fraction))
                .collect();
            LineSeries {
                name: run.provenance.run.clone(),
                values: layers.iter().map(|l| by.get(l.as_str()).copied()).collect(),
                emphasis: false,
            }
        })
        .collect();
    if series.len() > 1 {
        let by: HashMap<&str, Option<f64>> = inp
            .specialization_across_runs
            .iter()
            .map(|(l, s)| (l.as_str(), s.as_ref().map(|s| s.mean)))
            .collect();
        let mean = layers
            .iter()
            .map(|l| by.get(l.as_str()).copied().flatten())
            .collect();
        series.push(LineSeries {
            name: format!("mean of {} runs", series.len()),
            values: mean,
            emphasis: true,
        });
    }
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .fold(0.0, f64::max);
    Ok(LineFigure {
        name: "specialization".into(),
        title: format!(
            "Specialized filters per layer (τ = {})",
            inp.runs[0].specialization.tau
        ),
        x_labels: layers,
        x_label: "layer (input → output)".into(),
        y_label: "specialized filters".into(),
        y_range: Some((0.0, if max > 0.0 { (max * 1.1).min(1.0) } else { 1.0 })),
        percent: true,
        series,
    })
}

fn specialization_table(inp: &ReportInputs, slugs: &[String]) -> Table {
    let mut t = Table::new(&["run", "layer", "filters", "specialized", "fraction"]);
    for (r, run) in inp.runs.iter().enumerate() {
        for l in run
            .specialization
            .layers
            .iter()
            .chain(std::iter::once(&run.specialization.total))
        {
            t.push(vec![
                slugs[r].clone().into(),
                l.layer.clone().into(),
                l.filters.into(),
                l.specialized.into(),
                l.fraction.into(),
            ]);
        }
    }
    t
}

fn overall_histogram(inp: &ReportInputs) -> HistogramFigure {
    HistogramFigure {
        name: "gates-overall".into(),
        title: "All importances".into(),
        x_label: "importance".into(),
        y_label: "filters × tasks".into(),
        series: inp
            .runs
            .iter()
            .map(|r| HistogramSeries {
                name: r.provenance.run.clone(),
                edges: r.gates.overall.histogram.edges.clone(),
                counts: r.gates.overall.histogram.counts.clone(),
            })
            .collect(),
    }
}

fn violin_figure(run: &RunResults, slug: &str) -> Result<ViolinFigure, ReportError> {
    let e = &run.gates.overall.histogram.edges;
    let range = match (e.first(), e.last()) {
        (Some(a), Some(b)) if b > a => (*a, *b),
        _ => (run.gates.overall.min - 0.5, run.gates.overall.max + 0.5),
    };
    Ok(ViolinFigure {
        name: format!("gates-{slug}"),
        title: format!("Importance per task — {}", run.provenance.run),
        value_label: "importance".into(),
        range,
        rows: run
            .gates
            .per_task
            .iter()
            .map(|d| ViolinRow {
                label: d.label.clone(),
                edges: d.histogram.edges.clone(),
                counts: d.histogram.counts.clone(),
                q05: d.q05,
                q25: d.q25,
                median: d.median,
                q75: d.q75,
                q95: d.q95,
            })
            .collect(),
    })
}

fn gates_table(inp: &ReportInputs, slugs: &[String]) -> Table {
    let mut headers = vec!["run", "task"];
    headers.extend(tables::DISTRIBUTION_COLUMNS);
    let mut t = Table::new(&headers);
    for (r, run) in inp.runs.iter().enumerate() {
        for d in run
            .gates
            .per_task
            .iter()
            .chain(std::iter::once(&run.gates.overall))
        {
            let mut row: Vec<Cell> = vec![slugs[r].clone().into(), d.label.clone().into()];
            row.extend(tables::distribution_cells(d));
            t.push(row);
        }
    }
    t
}

fn kind_name(k: GroupKind) -> &'static str {
    match k {
        GroupKind::Generic => "generic",
        GroupKind::TaskSpecific => "task-specific",
        GroupKind::Mixed => "mixed",
    }
}

fn dominant(fg: &crate::analysis::filter_groups::FilterGroup, n: usize) -> String {
    let mut s: Vec<String> = fg
        .dominant_tasks
        .iter()
        .take(n)
        .map(|(t, w)| format!("{t} {w:.2}"))
        .collect();
    if fg.dominant_tasks.len() > n {
        s.push(format!("+{}", fg.dominant_tasks.len() - n));
    }
    s.join(", ")
}

fn groups_figure(
    fg: &FilterGroupReport,
    run: &str,
    slug: &str,
) -> Result<StackedBarFigure, ReportError> {
    let mut layers: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for (l, _) in fg
        .groups
        .iter()
        .flat_map(|g| g.per_layer.iter())
        .chain(fg.dead_per_layer.iter())
    {
        if seen.insert(l.clone()) {
            layers.push(l.clone());
        }
    }
    let values = |per_layer: &[(String, usize)]| -> Vec<f64> {
        let m: HashMap<&str, usize> = per_layer.iter().map(|(l, c)| (l.as_str(), *c)).collect();
        layers
            .iter()
            .map(|l| m.get(l.as_str()).copied().unwrap_or(0) as f64)
            .collect()
    };
    let mut segments: Vec<StackedSegment> = fg
        .groups
        .iter()
        .map(|g| StackedSegment {
            name: format!(
                "group {} · {} · {} filters{}",
                g.id + 1,
                kind_name(g.kind),
                g.size,
                if g.dominant_tasks.is_empty() || g.kind == GroupKind::Generic {
                    String::new()
                } else {
                    format!(" · {}", dominant(g, 3))
                }
            ),
            values: values(&g.per_layer),
            muted: false,
        })
        .collect();
    if fg.dead > 0 {
        segments.push(StackedSegment {
            name: format!("dead · {} filters", fg.dead),
            values: values(&fg.dead_per_layer),
            muted: true,
        });
    }
    Ok(StackedBarFigure {
        name: format!("filter-groups-{slug}"),
        title: format!("Filter groups by layer — {run}"),
        categories: layers,
        x_label: "layer (input → output)".into(),
        y_label: "filters".into(),
        segments,
    })
}

fn groups_table(fg: &FilterGroupReport) -> Table {
    let mut t = Table::new(&["group", "kind", "filters", "dominant tasks (share)"]);
    for g in &fg.groups {
        t.push(vec![
            (g.id + 1).into(),
            kind_name(g.kind).into(),
            g.size.into(),
            dominant(g, 6).into(),
        ]);
    }
    if fg.dead > 0 {
        t.push(vec![
            "dead".into(),
            "dead".into(),
            fg.dead.into(),
            Cell::Text(String::new()),
        ]);
    }
    t
}
