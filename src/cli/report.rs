//! `report` and `export`: load runs, hand them to `report::inputs` /
//! `report::export`, and write the bytes with `files`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::analysis::clusters::ClusterParams;
use mtl_inspect::analysis::filter_groups::{DEFAULT_DEAD_THRESHOLD, FilterGroupParams};
use mtl_inspect::analysis::specialization::SpecializationParams;
use mtl_inspect::analysis::stability::StabilityParams;
use mtl_inspect::report::ReportError;
use mtl_inspect::report::build::build_report;
use mtl_inspect::report::export::{self, ExportFormat, ExportRun};
use mtl_inspect::report::inputs::{self, ReportParams, RunSource};
use mtl_inspect::report::provenance::ToolInfo;

use super::Failure;
use super::args::{Format, LinkageArg, ReadArgs};
use super::files::{OutFile, ReportDir};
use super::load;
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
    inputs::display_names(&refs)
}

pub fn report(
    ckpts: &[PathBuf],
    out: &Path,
    a: &ReportArgs,
    read: &ReadArgs,
    extras: &super::report_extras::ReportExtraArgs,
) -> Result<(), Failure> {
    let specialization =
        SpecializationParams::new(a.tau).map_err(|e| Failure::usage(anyhow!("--tau: {e}")))?;
    let stability = StabilityParams::new(a.permutations, 0)
        .map_err(|e| Failure::usage(anyhow!("--permutations: {e}")))?
        .with_bootstrap(a.bootstrap)
        .map_err(|e| Failure::usage(anyhow!("--bootstrap: {e}")))?;
    let filter_groups = match a.groups {
        0 => None,
        g => Some(
            FilterGroupParams::new(g, 0, DEFAULT_DEAD_THRESHOLD)
                .map_err(|e| Failure::usage(anyhow!("--groups: {e}")))?,
        ),
    };
    if a.k == Some(0) {
        return Err(Failure::usage(anyhow!("--k must be at least 1")));
    }
    let s = read.check(Format::Table)?;
    let dir = ReportDir::prepare(out)?;

    let extra_inputs = super::report_extras::collect(extras, ckpts, &s)?;
    let names = run_names(ckpts);
    let title = a.title.clone().unwrap_or_else(|| {
        let first = names.first().cloned().unwrap_or_default();
        match names.len() {
            1 => format!("mtl-inspect report: {first}"),
            n => format!("mtl-inspect report: {first} and {} more run(s)", n - 1),
        }
    });
    let linkage = a.linkage.into();
    let user_k =
        |k| ClusterParams::new(k, linkage).map_err(|e| Failure::usage(anyhow!("--k: {e}")));
    let mut params = ReportParams {
        title,
        // The default k depends on the task count, known once a run is
        // read; per-run reductions do not use the clusters' parameters.
        clusters: user_k(a.k.unwrap_or(1))?,
        specialization,
        filter_groups,
        filter_groups_all_runs: false,
        stability,
        bins: 40,
    };
    // One run at a time: each is read, reduced to what the report shows of
    // it and dropped, so tens of large runs never sit in memory together.
    let n = ckpts.len();
    let (_, reduced) = load::stream(ckpts, &s, |i, run| {
        eprintln!("run {}/{n}: {}", i + 1, run.name);
        let src = RunSource {
            name: &names[i],
            path: &ckpts[i],
            gates: &run.gates,
            importance: &run.importance,
            gate_override: s.read.importance.gate,
        };
        inputs::reduce_run(i, n, &src, &params).map_err(report_failure)
    })?;
    let tasks = reduced.first().map_or(1, |r| r.tasks().len());
    params.clusters = user_k(a.k.unwrap_or_else(|| tasks.div_ceil(4).max(1)))?;
    eprintln!("combining the runs and rendering the figures…");
    let tool = ToolInfo::this_tool(std::env::args().collect());
    let mut inputs = inputs::combine(reduced, &params, tool).map_err(report_failure)?;
    inputs.extras = extra_inputs;
    let files = build_report(&inputs).map_err(report_failure)?;
    let bytes = dir.write_all(&files)?;
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
