//! `inspect`'s tables: a checkpoint's layers and everything the reading
//! decided ([`CheckpointSummary`]).

use crate::checkpoint::summary::CheckpointSummary;
use crate::report::page::table::{Cell, Table, tables_to_text};

/// The layers of a checkpoint (the CSV of `inspect`).
pub fn inspect_layers(s: &CheckpointSummary) -> Table {
    let mut t = Table::new(&[
        "layer",
        "filters",
        "dtype",
        "gate",
        "share_negative",
        "share_near_1",
    ]);
    for l in &s.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.dtype.clone().into(),
            l.gate.map_or("undecided", |g| g.name()).into(),
            Cell::Num(l.gate_evidence.negative),
            Cell::Num(l.gate_evidence.near_one),
        ]);
    }
    t
}

/// Everything `inspect` shows, as text.
pub fn inspect_text(s: &CheckpointSummary) -> String {
    let mut head = String::new();
    let line = |k: &str, v: String, head: &mut String| head.push_str(&format!("{k:<8} {v}\n"));
    line(
        "file",
        format!("{} ({} bytes, {} tensors)", s.file, s.bytes, s.tensors),
        &mut head,
    );
    line("layout", s.layout.to_string(), &mut head);
    line("dtype", s.dtype.clone(), &mut head);
    for (k, v) in s.decision_lines() {
        line(k, v, &mut head);
    }
    line("names", task_names_line(&s.tasks), &mut head);
    line(
        "layers",
        format!("{} with {} filters in all", s.layers.len(), s.filters),
        &mut head,
    );
    for (k, v) in &s.metadata {
        if k != "mtl.tasks" && k != "mtl.layers" {
            line("meta", format!("{k} = {v}"), &mut head);
        }
    }
    for n in &s.notes {
        line("note", n.clone(), &mut head);
    }
    let mut ignored = Table::new(&["ignored tensor", "shape", "reason"])
        .titled(format!("{} tensors ignored", s.ignored.len()));
    for i in &s.ignored {
        ignored.push(vec![
            i.tensor.clone().into(),
            Cell::Text(format!("{:?}", i.shape)),
            i.reason.clone().into(),
        ]);
    }
    let mut tables = vec![inspect_layers(s)];
    let distinct: std::collections::BTreeSet<&str> = s
        .layers
        .iter()
        .map(|l| l.gate_evidence.reason.as_str())
        .collect();
    if distinct.len() > 1 {
        let mut ev = Table::new(&["layer", "gate evidence"]).titled("gate kind per layer");
        for l in &s.layers {
            ev.push(vec![
                l.layer.clone().into(),
                l.gate_evidence.reason.clone().into(),
            ]);
        }
        tables.push(ev);
    }
    if !s.decisions.skipped.is_empty() {
        let mut sk = Table::new(&["entry", "why skipped"])
            .titled(format!("{} entries not read", s.decisions.skipped.len()));
        for e in &s.decisions.skipped {
            sk.push(vec![e.name.clone().into(), e.why.clone().into()]);
        }
        tables.push(sk);
    }
    tables.push(ignored);
    format!("{head}\n{}", tables_to_text(&tables))
}

/// Task names for a one-line summary: all of them up to 40; beyond that
/// the first 30 and the last 5, with the count and where the full list is.
fn task_names_line(tasks: &[String]) -> String {
    const ALL_UP_TO: usize = 40;
    if tasks.len() <= ALL_UP_TO {
        return tasks.join(", ");
    }
    format!(
        "{}, …, {} ({} in all; --format json lists every name)",
        tasks[..30].join(", "),
        tasks[tasks.len() - 5..].join(", "),
        tasks.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_task_lists_are_shortened_with_their_count() {
        let few: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(task_names_line(&few), few.join(", "));
        let many: Vec<String> = (0..500).map(|i| format!("t{i}")).collect();
        let line = task_names_line(&many);
        assert!(
            line.starts_with("t0, t1,") && line.contains("t29, …, t495"),
            "{line}"
        );
        assert!(line.ends_with("t499 (500 in all; --format json lists every name)"));
        assert!(!line.contains("t30,") && !line.contains("t494"));
    }
}
