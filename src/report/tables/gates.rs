//! Gate-distribution tables: per-task and overall summaries of the gate
//! values ([`GateDistributionReport`]).

use crate::analysis::gate_stats::{Distribution, GateDistributionReport};
use crate::report::page::table::{Cell, Table};

/// Columns of one gate distribution, after its label column(s).
pub const DISTRIBUTION_COLUMNS: [&str; 12] = [
    "n",
    "mean",
    "std",
    "min",
    "q05",
    "q25",
    "median",
    "q75",
    "q95",
    "max",
    "below_0_1",
    "above_0_9",
];

/// The cells of [`DISTRIBUTION_COLUMNS`] for one distribution.
pub fn distribution_cells(d: &Distribution) -> Vec<Cell> {
    vec![
        d.n.into(),
        d.mean.into(),
        d.std.into(),
        d.min.into(),
        d.q05.into(),
        d.q25.into(),
        d.median.into(),
        d.q75.into(),
        d.q95.into(),
        d.max.into(),
        d.below_0_1.into(),
        d.above_0_9.into(),
    ]
}

/// Per-task and overall gate distributions, one row each.
pub fn gates(r: &GateDistributionReport) -> Table {
    let mut headers = vec!["task"];
    headers.extend(DISTRIBUTION_COLUMNS);
    let mut t = Table::new(&headers);
    for d in r.per_task.iter().chain(std::iter::once(&r.overall)) {
        let mut row: Vec<Cell> = vec![d.label.clone().into()];
        row.extend(distribution_cells(d));
        t.push(row);
    }
    t
}
