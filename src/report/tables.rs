//! Typed results → [`Table`]s: which columns each result has. The JSON
//! rendering is the results' own `Serialize` (see README, "JSON output").

use crate::checkpoint::summary::CheckpointSummary;

use super::table::{Cell, Table, tables_to_text};

/// The layers of a checkpoint (the CSV of `inspect`).
pub fn inspect_layers(s: &CheckpointSummary) -> Table {
    let mut t = Table::new(&["layer", "filters", "dtype", "gate"]);
    for l in &s.layers {
        t.push(vec![
            l.layer.clone().into(),
            l.filters.into(),
            l.dtype.clone().into(),
            l.gate.name().into(),
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
    line("layout", s.layout_text(), &mut head);
    line("dtype", s.dtype.clone(), &mut head);
    line("gate", format!("{} — {}", s.gate, s.gate_note), &mut head);
    line(
        "tasks",
        format!(
            "{} ({}): {}",
            s.tasks.len(),
            s.task_source_text(),
            s.tasks.join(", ")
        ),
        &mut head,
    );
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
    format!("{head}\n{}", tables_to_text(&[inspect_layers(s), ignored]))
}
