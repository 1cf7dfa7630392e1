//! The capacity section (paper §5.1, Fig. 3): each task's capacity split
//! into shared and independent parts, per run and over runs.

use std::collections::HashMap;

use super::inputs::ReportInputs;
use crate::analysis::across_runs::{Spread, TaskCapacitySpread};
use crate::report::charts::bars::{self, BarFigure, BarSeries};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::Section;
use crate::report::page::table::Table;
use crate::report::tables;

pub(super) fn section(
    inp: &ReportInputs,
    slugs: &[String],
    b: &mut PageBuilder,
) -> Result<Section, ReportError> {
    let multi = inp.runs.len() > 1;
    let n_runs = inp.runs.len();
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
        capacity_table(inp, slugs),
        "Capacity of every task in every run.",
    ));
    if multi {
        sec.blocks.push(b.table(
            "capacity-summary.csv",
            tables::capacity_across_runs(&inp.capacity_across_runs),
            format!(
                "Capacity of every task over the {n_runs} runs: mean, sample standard deviation, min–max, and the 95 % Student-t interval of the mean (mean ± t·sd/√{n_runs})."
            ),
        ));
    }
    Ok(sec)
}

fn capacity_figure(inp: &ReportInputs) -> Result<BarFigure, ReportError> {
    let tasks = inp.tasks();
    let by_name: HashMap<&str, &TaskCapacitySpread> = inp
        .capacity_across_runs
        .tasks
        .iter()
        .map(|t| (t.task.as_str(), t))
        .collect();
    let rows: Vec<&TaskCapacitySpread> = tasks
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
    let series = |name: &str, sel: fn(&TaskCapacitySpread) -> &Spread| BarSeries {
        name: name.into(),
        values: rows.iter().map(|r| sel(r).mean).collect(),
        range: multi.then(|| rows.iter().map(|r| (sel(r).min, sel(r).max)).collect()),
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
