//! Specialization tables: filters owned by one task, per layer
//! ([`SpecializationReport`]).

use crate::analysis::specialization::SpecializationReport;
use crate::report::page::table::{Cell, Table};

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
