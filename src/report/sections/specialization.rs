//! The specialization section (paper §5.3, Fig. 4 left): the share of
//! each layer's filters one task dominates, per run and over runs, with
//! the depth curves beside it ([`super::depth`]).

use std::collections::HashMap;

use super::depth;
use super::inputs::ReportInputs;
use crate::report::charts::lines::{self, LineFigure, LineSeries};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::{Block, Section};
use crate::report::page::table::Table;
use crate::report::style;

pub(super) fn section(
    inp: &ReportInputs,
    slugs: &[String],
    b: &mut PageBuilder,
) -> Result<Section, ReportError> {
    let multi = inp.runs.len() > 1;
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
    sec.blocks.extend(depth::blocks(&inp.depth, slugs, b)?);
    sec.blocks.push(b.table(
        "specialization.csv",
        specialization_table(inp, slugs),
        "Specialized filters per layer and run.",
    ));
    Ok(sec)
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
