//! Tables by depth: the capacity split and the off-diagonal similarity
//! per layer ([`CapacityByLayer`], [`SimilarityByLayer`]).

use crate::analysis::depth::{CapacityByLayer, SimilarityByLayer};
use crate::report::page::table::{Cell, Table};

/// Capacity split per layer: one row per (layer, task), long form.
pub fn capacity_by_layer(r: &CapacityByLayer) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "task",
        "capacity",
        "shared",
        "independent",
    ]);
    for l in &r.layers {
        for c in &l.report.tasks {
            t.push(vec![
                l.layer.clone().into(),
                l.filters.into(),
                c.task.clone().into(),
                c.capacity.into(),
                c.shared.into(),
                c.independent.into(),
            ]);
        }
    }
    t
}

/// Per layer: the means over tasks of the capacity split.
pub fn capacity_by_layer_means(r: &CapacityByLayer) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "mean_capacity",
        "mean_shared",
        "mean_independent",
    ]);
    for l in &r.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.mean_capacity.into(),
            l.mean_shared.into(),
            l.mean_independent.into(),
        ]);
    }
    t
}

/// Per layer: off-diagonal similarity summary.
pub fn similarity_by_layer(r: &SimilarityByLayer) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "mean_off_diagonal",
        "min_off_diagonal",
        "max_off_diagonal",
    ]);
    let num = |v: Option<f64>| v.map_or(Cell::Missing, Cell::Num);
    for l in &r.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            num(l.mean_off_diagonal),
            num(l.min_off_diagonal),
            num(l.max_off_diagonal),
        ]);
    }
    t
}
