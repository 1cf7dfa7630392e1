//! `report` and `export`: check the flags, hand the runs to
//! [`mtl_inspect::pipeline::make_report`] / `report::export`, and write
//! the bytes.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::pipeline::{PipelineError, ReportDir, ReportOptions, ReportRuns, make_report};
use mtl_inspect::report::ReportError;
use mtl_inspect::report::export::{self, ExportFormat, ExportRun};
use mtl_inspect::runs::display_names;

use super::args::{Format, LinkageArg, ReadArgs};
use super::failure::Failure;
use super::files::OutFile;
use super::load;
use super::report_extras::ReportExtraArgs;
use mtl_inspect::runs::Run;

pub struct ReportArgs {
    pub k: Option<usize>,
    pub linkage: LinkageArg,
    pub tau: f64,
    pub groups: usize,
    pub permutations: usize,
    pub bootstrap: usize,
    pub title: Option<String>,
}

fn report_failure(e: ReportError) -> Failure {
    match e {
        ReportError::Analysis(a @ AnalysisError::Param { .. }) => Failure::usage(a),
        other => Failure::input(other),
    }
}

/// Short, unique names for runs (file stems, with parent folders where
/// stems collide).
fn run_names(paths: &[PathBuf]) -> Vec<String> {
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    display_names(&refs)
}

pub fn report(
    ckpts: &[PathBuf],
    out: &Path,
    a: &ReportArgs,
    read: &ReadArgs,
    extras: &ReportExtraArgs,
) -> Result<(), Failure> {
    let settings = ReportOptions {
        k: a.k,
        linkage: a.linkage.into(),
        tau: a.tau,
        groups: a.groups,
        permutations: a.permutations,
        bootstrap: a.bootstrap,
        title: a.title.clone(),
        diagnostics: extras.diagnostics.clone(),
        auto_diagnostics: !extras.no_auto_diagnostics,
        sweeps: extras.sweep.clone(),
        read: read.options(),
        command_line: std::env::args().collect(),
    }
    .check()?;
    let dir = ReportDir::prepare(out).map_err(Failure::input)?;
    let files = make_report(ReportRuns::Paths(ckpts), &settings, &mut |p| {
        eprintln!("{p}")
    })
    .map_err(|e| match e {
        // clap asks for a checkpoint: none left means every one given was
        // an optimizer sidecar, an input to change rather than a flag.
        PipelineError::NoRuns => Failure::input(e),
        e => e.into(),
    })?;
    let bytes = dir.write_all(&files).map_err(Failure::input)?;
    eprintln!(
        "wrote {} files ({:.1} MB) to {}; open {}",
        files.len(),
        bytes as f64 / 1e6,
        dir.path().display(),
        dir.path().join("index.html").display()
    );
    Ok(())
}

pub fn export(ckpts: &[PathBuf], out: &Path, read: &ReadArgs) -> Result<(), Failure> {
    let format = ExportFormat::from_path(out).map_err(|e| Failure::usage(anyhow!("--out: {e}")))?;
    if !format.available() {
        return Err(Failure::usage(anyhow!(
            "--out {}: this build cannot write Parquet; rebuild with `cargo build --release --features parquet`, or export to a .csv file",
            out.display()
        )));
    }
    let s = read.check(Format::Table)?;
    let file = OutFile::create(out)?;
    let result = (|| {
        let runs: Vec<Run> = ckpts
            .iter()
            .map(|p| load::load(p, &s))
            .collect::<Result<_, _>>()?;
        let names = run_names(ckpts);
        let er: Vec<ExportRun> = runs
            .iter()
            .zip(&names)
            .map(|(r, name)| ExportRun {
                run: name,
                gates: &r.gates,
                importance: &r.importance,
                dropped: &r.dropped,
            })
            .collect();
        export::export(&er, format).map_err(report_failure)
    })();
    match result {
        Ok(bytes) => {
            file.write(&bytes)?;
            eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
            Ok(())
        }
        Err(e) => {
            file.discard();
            Err(e)
        }
    }
}
