//! Capacity tables (paper 000, eq. 4–5): one run's split per task
//! ([`CapacityReport`]) and its spread over runs ([`CapacityAcrossRuns`]).

use crate::analysis::across_runs::CapacityAcrossRuns;
use crate::analysis::capacity::CapacityReport;
use crate::report::page::table::{Cell, Table};

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
