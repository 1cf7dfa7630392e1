//! The similarity section (paper §5.2): each run's task × task cosine
//! similarity as a heatmap ordered by its dendrogram; and the heatmap
//! inputs the clusters section shares (merge steps, colour floor, matrix
//! tables).

use std::collections::HashMap;

use super::inputs::ReportInputs;
use crate::analysis::clusters::Dendrogram;
use crate::analysis::similarity::SimilarityMatrix;
use crate::report::charts::heatmap::{self, HeatmapFigure, MergeStep};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::{Block, Section};
use crate::report::page::table::{Cell, Table};

pub(super) fn section(
    inp: &ReportInputs,
    slugs: &[String],
    b: &mut PageBuilder,
) -> Result<Section, ReportError> {
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
            inp.linkage_name(),
            if inp.tasks().len() > heatmap::MAX_VECTOR_CELLS {
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
    Ok(sec)
}

pub(super) fn steps(d: &Dendrogram) -> Vec<MergeStep> {
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
    let tasks = inp.tasks();
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
pub(super) fn floor_tenth(values: impl Iterator<Item = f64>) -> f64 {
    let min = values.filter(|v| v.is_finite()).fold(1.0f64, f64::min);
    ((min * 10.0).floor() / 10.0).clamp(-1.0, 0.9)
}

pub(super) fn matrix_table(labels: &[String], m: &[Vec<f64>]) -> Table {
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
