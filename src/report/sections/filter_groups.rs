//! The filter groups section (paper §5.3): filters clustered by how they
//! share importance across tasks, by layer, for the runs that have them.

use std::collections::{BTreeSet, HashMap};

use super::inputs::ReportInputs;
use crate::analysis::filter_groups::{FilterGroup, FilterGroupReport, GroupKind};
use crate::report::charts::stacked::{self, StackedBarFigure, StackedSegment};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::Section;
use crate::report::page::table::{Cell, Table};

/// The section, when a run has filter groups.
pub(super) fn section(
    inp: &ReportInputs,
    slugs: &[String],
    b: &mut PageBuilder,
) -> Result<Option<Section>, ReportError> {
    let with_groups: Vec<usize> = (0..inp.runs.len())
        .filter(|&r| inp.runs[r].filter_groups.is_some())
        .collect();
    if with_groups.is_empty() {
        return Ok(None);
    }
    let mut sec = Section {
        id: "filter-groups".into(),
        heading: "Filter groups (paper §5.3)".into(),
        blocks: vec![],
    };
    for (i, &r) in with_groups.iter().enumerate() {
        let run = &inp.runs[r];
        let Some(fg) = &run.filter_groups else {
            continue;
        };
        let fig = groups_figure(fg, &run.provenance.run, &slugs[r])?;
        let collapsed = (i > 0).then(|| format!("Filter groups of {}", run.provenance.run));
        sec.blocks.push(b.figure(
            &format!("{}.svg", fig.name),
            stacked::render(&fig)?,
            format!(
                "Filters of {} clustered by how they share importance across tasks (k = {}): each bar is a layer, each colour a group named by its size and dominant tasks, grey the dead filters.",
                run.provenance.run, fg.k
            ),
            collapsed,
        ));
        let t = groups_table(fg);
        if i == 0 {
            sec.blocks.push(b.table(
                &format!("{}.csv", fig.name),
                t,
                format!("Filter groups of {}.", run.provenance.run),
            ));
        } else {
            b.csv(&format!("{}.csv", fig.name), t);
        }
    }
    Ok(Some(sec))
}

fn kind_name(k: GroupKind) -> &'static str {
    match k {
        GroupKind::Generic => "generic",
        GroupKind::TaskSpecific => "task-specific",
        GroupKind::Mixed => "mixed",
    }
}

fn dominant(fg: &FilterGroup, n: usize) -> String {
    let mut s: Vec<String> = fg
        .dominant_tasks
        .iter()
        .take(n)
        .map(|(t, w)| format!("{t} {w:.2}"))
        .collect();
    if fg.dominant_tasks.len() > n {
        s.push(format!("+{}", fg.dominant_tasks.len() - n));
    }
    s.join(", ")
}

fn groups_figure(
    fg: &FilterGroupReport,
    run: &str,
    slug: &str,
) -> Result<StackedBarFigure, ReportError> {
    let mut layers: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for (l, _) in fg
        .groups
        .iter()
        .flat_map(|g| g.per_layer.iter())
        .chain(fg.dead_per_layer.iter())
    {
        if seen.insert(l.clone()) {
            layers.push(l.clone());
        }
    }
    let values = |per_layer: &[(String, usize)]| -> Vec<f64> {
        let m: HashMap<&str, usize> = per_layer.iter().map(|(l, c)| (l.as_str(), *c)).collect();
        layers
            .iter()
            .map(|l| m.get(l.as_str()).copied().unwrap_or(0) as f64)
            .collect()
    };
    let mut segments: Vec<StackedSegment> = fg
        .groups
        .iter()
        .map(|g| StackedSegment {
            name: format!(
                "group {} · {} · {} filters{}",
                g.id + 1,
                kind_name(g.kind),
                g.size,
                if g.dominant_tasks.is_empty() || g.kind == GroupKind::Generic {
                    String::new()
                } else {
                    format!(" · {}", dominant(g, 3))
                }
            ),
            values: values(&g.per_layer),
            muted: false,
        })
        .collect();
    if fg.dead > 0 {
        segments.push(StackedSegment {
            name: format!("dead · {} filters", fg.dead),
            values: values(&fg.dead_per_layer),
            muted: true,
        });
    }
    Ok(StackedBarFigure {
        name: format!("filter-groups-{slug}"),
        title: format!("Filter groups by layer — {run}"),
        categories: layers,
        x_label: "layer (input → output)".into(),
        y_label: "filters".into(),
        segments,
    })
}

fn groups_table(fg: &FilterGroupReport) -> Table {
    let mut t = Table::new(&["group", "kind", "filters", "dominant tasks (share)"]);
    for g in &fg.groups {
        t.push(vec![
            (g.id + 1).into(),
            kind_name(g.kind).into(),
            g.size.into(),
            dominant(g, 6).into(),
        ]);
    }
    if fg.dead > 0 {
        t.push(vec![
            "dead".into(),
            "dead".into(),
            fg.dead.into(),
            Cell::Text(String::new()),
        ]);
    }
    t
}
