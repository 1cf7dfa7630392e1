//! What the report is doing, told to a front end through a callback
//! (library code never prints): the CLI prints each event's `Display` on
//! stderr, Python turns the notes among them into warnings.

use std::fmt;
use std::path::Path;

/// What the report is doing, for a front end to show (the CLI prints each
/// on stderr as its `Display`).
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A `<stem>.json` beside a checkpoint is not a diagnose file.
    NotDiagnostics {
        file: &'a Path,
        checkpoint: &'a Path,
    },
    /// A diagnose file found beside a checkpoint is used.
    DiagnosticsBeside {
        file: &'a Path,
        checkpoint: &'a Path,
    },
    /// An optimizer-state sidecar among the sweeps' files is skipped.
    SkippedSidecar(&'a Path),
    /// The sweeps' checkpoints are being read.
    ReadingSweeps(usize),
    /// Run `index` (from 0) of `of` is being read and reduced.
    Run {
        index: usize,
        of: usize,
        name: &'a str,
    },
    /// Every run is reduced; the analyses across runs and the figures follow.
    Combining,
}

impl Progress<'_> {
    /// What a user should be told even when not following the progress
    /// (a file used or left out without being named), without the
    /// `note: ` the CLI puts before it; `None` for progress alone.
    pub fn note(&self) -> Option<String> {
        match self {
            Progress::NotDiagnostics { file, checkpoint } => Some(format!(
                "{} is beside {} but is not an mtl-train diagnose file; not used",
                file.display(),
                checkpoint.display()
            )),
            Progress::DiagnosticsBeside { file, checkpoint } => Some(format!(
                "using diagnostics {} found beside {}",
                file.display(),
                checkpoint.display()
            )),
            Progress::SkippedSidecar(p) => Some(format!(
                "skipping {}: mtl-train's optimizer state, not a checkpoint",
                p.display()
            )),
            Progress::ReadingSweeps(_) | Progress::Run { .. } | Progress::Combining => None,
        }
    }
}

impl fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = self.note() {
            return write!(f, "note: {note}");
        }
        match self {
            Progress::ReadingSweeps(n) => write!(f, "reading {n} sweep checkpoint(s)…"),
            Progress::Run { index, of, name } => write!(f, "run {}/{of}: {name}", index + 1),
            Progress::Combining => write!(f, "combining the runs and rendering the figures…"),
            // Told above, as notes.
            Progress::NotDiagnostics { .. }
            | Progress::DiagnosticsBeside { .. }
            | Progress::SkippedSidecar(_) => Ok(()),
        }
    }
}
