//! Report inputs that do not come from the checkpoints' gates: diagnose
//! files of `mtl-train` ([`crate::diagnostics`]) and sweeps of training runs.
//! [`ExtraInputs`] holds them with their analyses done (by
//! [`crate::pipeline`]); [`render`] turns them into the page's extra
//! sections (drawn by [`super::diagnostics_section`] and
//! [`super::sweep_section`]) and files.

use std::path::{Path, PathBuf};

use super::html::{Block, Section};
use super::table::Table;
use super::{ReportError, ReportFile};
use crate::analysis::gradient_conflict::RunConflict;
use crate::analysis::sweep::SweepReport;
use crate::diagnostics::Diagnostics;

/// How a diagnose file came into the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Named by `--diagnostics`.
    Flag,
    /// Picked up as `<stem>.json` beside this checkpoint.
    BesideCheckpoint(PathBuf),
}

/// One diagnose file with the distributions computed from it.
#[derive(Debug, Clone)]
pub struct DiagnosticsInput {
    /// Display name (file stem).
    pub name: String,
    pub diagnostics: Diagnostics,
    pub conflict: Option<RunConflict>,
    pub found: Found,
    pub sha256: String,
    pub size_bytes: u64,
}

/// One sweep, measured, with the files it was made from.
#[derive(Debug, Clone)]
pub struct SweepInput {
    pub report: SweepReport,
    /// `(run, path, sha256)` per run, in the order given.
    pub files: Vec<(String, PathBuf, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct ExtraInputs {
    pub diagnostics: Vec<DiagnosticsInput>,
    pub sweeps: Vec<SweepInput>,
}

impl ExtraInputs {
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty() && self.sweeps.is_empty()
    }
}

/// The extra sections, in page order, and their files.
pub fn render(x: &ExtraInputs) -> Result<(Vec<Section>, Vec<ReportFile>), ReportError> {
    let mut files = Files::default();
    let mut sections = Vec::new();
    if !x.diagnostics.is_empty() {
        sections.extend(super::diagnostics_section::sections(
            &x.diagnostics,
            &mut files,
        )?);
    }
    for (i, s) in x.sweeps.iter().enumerate() {
        sections.push(super::sweep_section::section(s, i, &mut files)?);
    }
    Ok((sections, files.files))
}

/// The files of the extra sections, collected as blocks are made.
#[derive(Default)]
pub(super) struct Files {
    pub(super) files: Vec<ReportFile>,
}

impl Files {
    pub(super) fn figure(
        &mut self,
        file: &str,
        svg: String,
        caption: String,
        collapsed: Option<String>,
    ) -> Block {
        self.files
            .push((file.to_string(), svg.clone().into_bytes()));
        Block::Figure {
            file: file.to_string(),
            svg,
            caption,
            collapsed,
        }
    }
    pub(super) fn table(&mut self, file: &str, t: Table, caption: String) -> Block {
        self.files.push((file.to_string(), t.to_csv().into_bytes()));
        Block::Table {
            file: file.to_string(),
            collapsed: t.rows.len() > 12,
            table: t,
            caption,
        }
    }
}

/// A file-name-safe form of a name.
pub(super) fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "x".into() } else { s }
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
