//! The page `diff A B --out DIR` writes: what changed between two
//! checkpoints of the same tasks and layers (paper 000 eq. 4–5, §5.2,
//! §5.3), drawn from a [`DiffReport`] of [`crate::analysis::diff`]. Like
//! the report, one self-contained `index.html` with every figure as SVG and
//! every table as CSV; nothing here computes a statistic.

use super::charts::bands::{self, BandFigure, BandSeries};
use super::charts::bars::{self, BarFigure, BarSeries};
use super::error::ReportError;
use super::page::builder::{PageBuilder, PageHead, ReportFile};
use super::page::html::{Block, Section};
use super::page::provenance::{Provenance, ToolInfo};
use super::style;
use super::tables;
use crate::analysis::diff::DiffReport;

/// Rows of the owner-change table shown in the page; all are in the CSV.
pub const OWNER_ROWS_SHOWN: usize = 500;

/// Everything the diff page shows.
#[derive(Debug, Clone)]
pub struct DiffPageInputs {
    pub title: String,
    /// Checkpoint A (the baseline) and B; every change is B − A.
    pub a: Provenance,
    pub b: Provenance,
    pub diff: DiffReport,
    pub tool: ToolInfo,
}

/// `index.html`, the figures as SVG and the tables as CSV.
pub fn build_diff_page(inp: &DiffPageInputs) -> Result<Vec<ReportFile>, ReportError> {
    let d = &inp.diff;
    let (a, b) = (&inp.a.run, &inp.b.run);
    let mut page = PageBuilder::new(1);
    summary_section(d, (a, b), &mut page)?;
    tasks_section(d, (a, b), &mut page)?;
    layers_section(d, (a, b), &mut page)?;
    pairs_section(d, &mut page)?;
    owners_section(d, &mut page)?;
    Ok(page.finish(PageHead {
        title: inp.title.clone(),
        subtitle: format!(
            "A = {a} · B = {b} · {} tasks · {} layers · {} filters · τ = {}",
            d.tasks.len(),
            d.layers.len(),
            d.layers.iter().map(|l| l.filters).sum::<usize>(),
            d.tau
        ),
        provenance: vec![inp.a.clone(), inp.b.clone()],
        tool: inp.tool.clone(),
    }))
}

/// The summary: what B − A means, the similarity's Spearman, the owner changes.
fn summary_section(
    d: &DiffReport,
    (a, b): (&str, &str),
    page: &mut PageBuilder,
) -> Result<(), ReportError> {
    let rho = match d.similarity_spearman {
        Some(v) => style::fmt_value(v),
        None => "undefined (a similarity matrix is constant)".into(),
    };
    page.push(Section {
        id: "summary".into(),
        heading: "Summary".into(),
        blocks: vec![
            Block::Note(format!(
                "Every change is B − A, with A = {a} and B = {b}; tasks and layers are matched by name."
            )),
            Block::Note(format!(
                "Spearman correlation of the two task-similarity matrices (upper triangles): {rho}. Near 1, B orders the task relationships as A does (the paper reports 0.8 between seeds)."
            )),
            Block::Note(format!(
                "{} of {} filters changed owner (the task holding more than τ = {} of a filter's total importance, or none).",
                d.owner_changes.len(),
                d.layers.iter().map(|l| l.filters).sum::<usize>(),
                style::fmt_value(d.tau).trim_end_matches('0')
            )),
        ],
    });
    Ok(())
}

/// Capacity per task (eq. 4–5): the change of each part, figure and table.
fn tasks_section(
    d: &DiffReport,
    (a, b): (&str, &str),
    page: &mut PageBuilder,
) -> Result<(), ReportError> {
    let tasks_fig = BarFigure {
        name: "diff-tasks".into(),
        whisker_label: None,
        title: format!("Change in capacity per task, {b} − {a}"),
        categories: d.tasks.iter().map(|t| t.task.clone()).collect(),
        series: vec![
            BarSeries {
                name: "Δ shared".into(),
                values: d.tasks.iter().map(|t| t.delta_shared).collect(),
                range: None,
            },
            BarSeries {
                name: "Δ independent".into(),
                values: d.tasks.iter().map(|t| t.delta_independent).collect(),
                range: None,
            },
        ],
        marker: Some((
            "Δ capacity C".into(),
            d.tasks.iter().map(|t| t.delta_capacity).collect(),
        )),
        value_label: "change in capacity (B − A)".into(),
    };
    let mut task_table = tables::diff_tasks(d);
    task_table.title = None;
    let mut blocks = vec![page.figure("diff-tasks.svg",
        bars::render(&tasks_fig)?,
        if bars::is_ranked(&tasks_fig) {
            format!(
                "Per task, the change of its shared and independent capacity and of its capacity C (black line), eq. 4–5 on all filters, for the {} tasks ranked by the change of C (too many to name in a figure; see the table): where the orange line is high, tasks took filters of their own in B.",
                tasks_fig.categories.len()
            )
        } else {
            "Per task, the change of its shared and independent capacity (bars) and of its capacity C (black tick), eq. 4–5 on all filters: a task whose orange bar grows took filters of its own in B.".into()
        },
        None,
    )];
    blocks.push(page.table(
        "diff-tasks.csv",
        task_table,
        "Capacity of every task in A and B, and the change of each part.",
    ));
    page.push(Section {
        id: "tasks".into(),
        heading: "Capacity per task (paper §5.1, eq. 4–5)".into(),
        blocks,
    });
    Ok(())
}

/// Capacity by depth: the change of each layer's own capacity split.
fn layers_section(
    d: &DiffReport,
    (a, b): (&str, &str),
    page: &mut PageBuilder,
) -> Result<(), ReportError> {
    let layers_fig = BandFigure {
        name: "diff-layers".into(),
        title: format!("Change of each layer's capacity split, {b} − {a}"),
        x_labels: d.layers.iter().map(|l| l.layer.clone()).collect(),
        x_label: "layer (input → output)".into(),
        y_label: "change of the mean over tasks".into(),
        band_label: None,
        series: vec![
            BandSeries {
                name: "Δ capacity C".into(),
                values: d
                    .layers
                    .iter()
                    .map(|l| Some(l.delta_mean_capacity))
                    .collect(),
                band: None,
                color: style::INK,
            },
            BandSeries {
                name: "Δ shared".into(),
                values: d.layers.iter().map(|l| Some(l.delta_mean_shared)).collect(),
                band: None,
                color: style::categorical(0),
            },
            BandSeries {
                name: "Δ independent".into(),
                values: d
                    .layers
                    .iter()
                    .map(|l| Some(l.delta_mean_independent))
                    .collect(),
                band: None,
                color: style::categorical(1),
            },
        ],
    };
    let blocks = vec![
        page.figure("diff-layers.svg",
            bands::render(&layers_fig)?,
            "Per layer, the change of the layer's own capacity split (eq. 4–5 on its filters alone), averaged over tasks; the grey line is no change.".into(),
            None,
        ),
        page.table("diff-layers.csv",
            tables::diff_layers(d),
            format!(
                "Per layer: the change of the mean capacity split and the number of filters whose owner changed (τ = {}).",
                d.tau
            ),
        ),
    ];
    page.push(Section {
        id: "layers".into(),
        heading: "Capacity by depth".into(),
        blocks,
    });
    Ok(())
}

/// The task pairs whose similarity moved most (§5.2).
fn pairs_section(d: &DiffReport, page: &mut PageBuilder) -> Result<(), ReportError> {
    let pairs = page.table(
        "diff-pairs.csv",
        tables::diff_pairs(d),
        format!(
            "The {} task pairs with the largest change in cosine similarity of their importance vectors, largest first.",
            d.moved_pairs.len()
        ),
    );
    page.push(Section {
        id: "pairs".into(),
        heading: "Task pairs whose similarity moved most (paper §5.2)".into(),
        blocks: vec![pairs],
    });
    Ok(())
}

/// The filters whose owner changed (§5.3), the first few hundred shown.
fn owners_section(d: &DiffReport, page: &mut PageBuilder) -> Result<(), ReportError> {
    let owners = tables::diff_owner_changes(d);
    let mut blocks = vec![];
    if owners.rows.is_empty() {
        page.csv("diff-owners.csv", owners);
        blocks.push(Block::Note("No filter changed owner.".into()));
    } else {
        let total = owners.rows.len();
        let caption = if total > OWNER_ROWS_SHOWN {
            format!(
                "The first {OWNER_ROWS_SHOWN} of {total} filters whose owner changed, in depth order (all in the CSV); '–' is no owner."
            )
        } else {
            "Filters whose owner changed, in depth order; '–' is no owner.".into()
        };
        blocks.push(page.table_first("diff-owners.csv", owners, OWNER_ROWS_SHOWN, caption));
    }
    page.push(Section {
        id: "owners".into(),
        heading: "Filters that changed owner (paper §5.3)".into(),
        blocks,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::diff::{LayerDelta, OwnerChange, PairMove, TaskDelta};

    fn prov(run: &str) -> Provenance {
        Provenance {
            run: run.into(),
            file_name: format!("{run}.safetensors"),
            size_bytes: 1,
            sha256: "0".repeat(64),
            layout: "stacked".into(),
            tasks: vec!["x".into(), "y".into()],
            layers: vec!["l".into()],
            filters: 600,
            gate: "sigmoid".into(),
        }
    }

    fn inputs(owner_changes: usize) -> DiffPageInputs {
        let task = |t: &str, d: f64| TaskDelta {
            task: t.into(),
            capacity_a: 0.5,
            capacity_b: 0.5 + d,
            delta_capacity: d,
            delta_shared: -d,
            delta_independent: 2.0 * d,
        };
        DiffPageInputs {
            title: "t".into(),
            a: prov("a"),
            b: prov("b"),
            diff: DiffReport {
                tau: 0.5,
                tasks: vec![task("x", 0.1), task("y", -0.2)],
                layers: vec![LayerDelta {
                    layer: "l".into(),
                    filters: 600,
                    delta_mean_capacity: -0.05,
                    delta_mean_shared: 0.01,
                    delta_mean_independent: -0.02,
                    owner_changes,
                }],
                similarity_spearman: None,
                moved_pairs: vec![PairMove {
                    task_a: "x".into(),
                    task_b: "y".into(),
                    similarity_a: 0.9,
                    similarity_b: 0.7,
                    delta: -0.2,
                }],
                owner_changes: (0..owner_changes)
                    .map(|f| OwnerChange {
                        layer: "l".into(),
                        filter: f,
                        owner_a: Some("x".into()),
                        owner_b: None,
                    })
                    .collect(),
            },
            tool: ToolInfo::this_tool(vec!["mtl-inspect".into(), "diff".into()]),
        }
    }

    fn file<'a>(files: &'a [ReportFile], name: &str) -> &'a str {
        let (_, b) = files.iter().find(|(n, _)| n == name).expect(name);
        std::str::from_utf8(b).expect("utf-8")
    }

    #[test]
    fn long_owner_lists_are_cut_in_the_page_and_whole_in_the_csv() {
        let files = build_diff_page(&inputs(600)).unwrap();
        let page = file(&files, "index.html");
        assert!(page.contains(&format!("The first {OWNER_ROWS_SHOWN} of 600 filters")));
        assert_eq!(file(&files, "diff-owners.csv").lines().count(), 601);
        // A constant similarity matrix has no Spearman: said, not NaN.
        assert!(page.contains("undefined (a similarity matrix is constant)"));
        assert!(!page.contains("NaN"));
    }

    #[test]
    fn no_owner_change_is_said_and_every_file_is_written() {
        let files = build_diff_page(&inputs(0)).unwrap();
        let page = file(&files, "index.html");
        assert!(page.contains("No filter changed owner."));
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "index.html",
                "diff-tasks.svg",
                "diff-tasks.csv",
                "diff-layers.svg",
                "diff-layers.csv",
                "diff-pairs.csv",
                "diff-owners.csv"
            ]
        );
        // One layer: each of the three series is one dot.
        assert_eq!(
            file(&files, "diff-layers.svg").matches("<circle").count(),
            3
        );
    }
}
