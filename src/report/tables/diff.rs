//! `diff`'s tables: per task, per layer, the task pairs and the filters
//! whose owner changed between two checkpoints ([`DiffReport`]).

use crate::analysis::diff::DiffReport;
use crate::report::page::table::{Cell, Table, tables_to_text};

/// Per task: capacity in A and B and the change of each part (B − A).
pub fn diff_tasks(r: &DiffReport) -> Table {
    let mut t = Table::new(&[
        "task",
        "capacity_a",
        "capacity_b",
        "delta_capacity",
        "delta_shared",
        "delta_independent",
    ]);
    for d in &r.tasks {
        t.push(vec![
            d.task.clone().into(),
            d.capacity_a.into(),
            d.capacity_b.into(),
            d.delta_capacity.into(),
            d.delta_shared.into(),
            d.delta_independent.into(),
        ]);
    }
    t
}

/// Everything `diff` shows, as text.
pub fn diff_text(r: &DiffReport) -> String {
    let mut tasks = diff_tasks(r);
    tasks.title = Some("per task: capacity of A and B, and B − A of each part (eq. 4–5)".into());
    let layers = diff_layers(r).titled(format!(
        "per layer: B − A of the layer's own mean capacity split; filters whose owner (share > τ = {}) changed",
        r.tau
    ));
    let pairs = diff_pairs(r).titled("task pairs whose similarity moved most");
    let rho = match r.similarity_spearman {
        Some(v) => format!("{v:.4}"),
        None => "undefined (a similarity matrix is constant)".into(),
    };
    format!(
        "Spearman correlation of the two task-similarity matrices: {rho}\nfilters whose owner changed: {} (all listed in --format json)\n\n{}",
        r.owner_changes.len(),
        tables_to_text(&[tasks, layers, pairs])
    )
}

/// Per layer: B − A of the layer's own mean capacity split and the filters
/// whose owner changed.
pub fn diff_layers(r: &DiffReport) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "delta_mean_capacity",
        "delta_mean_shared",
        "delta_mean_independent",
        "owner_changes",
    ]);
    for l in &r.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.delta_mean_capacity.into(),
            l.delta_mean_shared.into(),
            l.delta_mean_independent.into(),
            l.owner_changes.into(),
        ]);
    }
    t
}

/// The task pairs whose similarity moved most, largest first.
pub fn diff_pairs(r: &DiffReport) -> Table {
    let mut t = Table::new(&["task_a", "task_b", "similarity_a", "similarity_b", "delta"]);
    for p in &r.moved_pairs {
        t.push(vec![
            p.task_a.clone().into(),
            p.task_b.clone().into(),
            p.similarity_a.into(),
            p.similarity_b.into(),
            p.delta.into(),
        ]);
    }
    t
}

/// Every filter whose owner changed (`Missing`: no owner).
pub fn diff_owner_changes(r: &DiffReport) -> Table {
    let mut t = Table::new(&["layer", "filter", "owner_a", "owner_b"]);
    let owner = |o: &Option<String>| o.clone().map_or(Cell::Missing, Cell::Text);
    for c in &r.owner_changes {
        t.push(vec![
            c.layer.clone().into(),
            c.filter.into(),
            owner(&c.owner_a),
            owner(&c.owner_b),
        ]);
    }
    t
}
