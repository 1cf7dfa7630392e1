//! Filter-group tables: k-means groups of filters by task profile
//! ([`FilterGroupReport`]).

use crate::analysis::filter_groups::FilterGroupReport;
use crate::report::page::table::{Cell, Table};

pub fn filter_groups(r: &FilterGroupReport) -> Table {
    let mut t = Table::new(&["group", "size", "kind", "dominant tasks (centroid share)", "% of the group per layer, by depth"]).titled(format!(
        "{} k-means groups of filters by normalized task profile; {} dead filters (max importance below threshold) left out",
        r.k, r.dead
    ));
    for g in &r.groups {
        let mut dom: Vec<String> = g
            .dominant_tasks
            .iter()
            .take(3)
            .map(|(n, s)| format!("{n} {s:.2}"))
            .collect();
        if g.dominant_tasks.len() > 3 {
            dom.push(format!("+{} more", g.dominant_tasks.len() - 3));
        }
        // Where the group sits, by depth: the share of its filters per layer.
        let layers: Vec<String> = g
            .per_layer
            .iter()
            .map(|(_, c)| format!("{:.0}", 100.0 * *c as f64 / g.size.max(1) as f64))
            .collect();
        t.push(vec![
            g.id.into(),
            g.size.into(),
            format!("{:?}", g.kind).to_lowercase().into(),
            dom.join(", ").into(),
            layers.join(" ").into(),
        ]);
    }
    t
}

/// One row per group; dominant tasks `task:share` joined by `;`, then one
/// filter-count column per layer.
pub fn filter_groups_wide(r: &FilterGroupReport) -> Table {
    let layer_names: Vec<&str> = r
        .groups
        .first()
        .map(|g| g.per_layer.iter().map(|(l, _)| l.as_str()).collect())
        .unwrap_or_default();
    let mut headers = vec!["group", "size", "kind", "dominant_tasks"];
    headers.extend(layer_names.iter());
    let mut t = Table::new(&headers);
    for g in &r.groups {
        let dom: Vec<String> = g
            .dominant_tasks
            .iter()
            .map(|(n, s)| format!("{n}:{s}"))
            .collect();
        let mut row: Vec<Cell> = vec![
            g.id.into(),
            g.size.into(),
            format!("{:?}", g.kind).to_lowercase().into(),
            dom.join(";").into(),
        ];
        row.extend(g.per_layer.iter().map(|(_, c)| Cell::Int(*c)));
        t.push(row);
    }
    t
}
