//! The gate distributions section (paper Fig. 5, Fig. 9): all importances
//! together, and each task's distribution per run.

use super::inputs::{ReportInputs, RunResults};
use crate::report::charts::violins::{
    self, HistogramFigure, HistogramSeries, ViolinFigure, ViolinRow,
};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::Section;
use crate::report::page::table::{Cell, Table};
use crate::report::tables;

pub(super) fn section(
    inp: &ReportInputs,
    slugs: &[String],
    b: &mut PageBuilder,
) -> Result<Section, ReportError> {
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
    b.csv("gates.csv", gates_table(inp, slugs));
    Ok(sec)
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
