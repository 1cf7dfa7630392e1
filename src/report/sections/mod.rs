//! The report page as a list of sections, one file each, in page order:
//! [`build_report`] hands each the report's inputs and the one
//! [`PageBuilder`], which keeps every file and applies the page's limits.
//! No statistics are computed here: every number comes in with
//! [`ReportInputs`].

mod capacity;
mod clusters;
mod depth;
mod diagnostics;
mod diagnostics_steps;
mod filter_groups;
mod gates;
pub mod inputs;
mod similarity;
mod specialization;
mod sweeps;

use inputs::ReportInputs;

use crate::report::error::ReportError;
use crate::report::page::builder::{PageBuilder, PageHead, ReportFile, unique_slugs};
use crate::report::page::html::{Block, Section};

/// A section drawn from the checkpoints' own results: the report's inputs,
/// the runs' file-safe names and the page it adds its files to.
type CheckpointSection =
    fn(&ReportInputs, &[String], &mut PageBuilder) -> Result<Section, ReportError>;

/// The checkpoints' sections every report has, in page order; then the
/// filter groups where a run has them, the diagnose files', the sweeps'
/// and the notes.
const CHECKPOINT_SECTIONS: [CheckpointSection; 5] = [
    capacity::section,
    similarity::section,
    clusters::section,
    specialization::section,
    gates::section,
];

/// Renders the whole report: `index.html`, one SVG per figure and one CSV
/// per table. Deterministic: the same inputs give the same bytes.
pub fn build_report(inp: &ReportInputs) -> Result<Vec<ReportFile>, ReportError> {
    let Some(first) = inp.runs.first().map(|r| &r.provenance) else {
        return Err(ReportError::Inputs(
            "a report needs at least one run".into(),
        ));
    };
    // File-name-safe, unique run names (`seed 3/ckpt.safetensors` → `ckpt`).
    let slugs = unique_slugs(inp.runs.iter().map(|r| r.provenance.run.as_str()));
    let mut b = PageBuilder::new(inp.runs.len());
    for section in CHECKPOINT_SECTIONS {
        let section = section(inp, &slugs, &mut b)?;
        b.push(section);
    }
    if let Some(section) = filter_groups::section(inp, &slugs, &mut b)? {
        b.push(section);
    }
    if !inp.extras.diagnostics.is_empty() {
        for section in diagnostics::sections(&inp.extras.diagnostics, &mut b)? {
            b.push(section);
        }
    }
    for (i, sweep) in inp.extras.sweeps.iter().enumerate() {
        let section = sweeps::section(sweep, i, &mut b)?;
        b.push(section);
    }
    if let Some(section) = notes(inp) {
        b.push(section);
    }
    let n_runs = inp.runs.len();
    Ok(b.finish(PageHead {
        title: inp.title.clone(),
        subtitle: format!(
            "{} run{} · {} tasks · {} layers · {} filters · gate {}",
            n_runs,
            if n_runs > 1 { "s" } else { "" },
            first.tasks.len(),
            first.layers.len(),
            first.filters,
            first.gate
        ),
        provenance: inp.runs.iter().map(|r| r.provenance.clone()).collect(),
        tool: inp.tool.clone(),
    }))
}

/// Why an analysis was left out of a run, when one was.
fn notes(inp: &ReportInputs) -> Option<Section> {
    let notes: Vec<Block> = inp
        .runs
        .iter()
        .flat_map(|r| r.notes.iter().map(|n| Block::Note(n.clone())))
        .collect();
    (!notes.is_empty()).then(|| Section {
        id: "notes".into(),
        heading: "Notes".into(),
        blocks: notes,
    })
}
