//! The report's inputs beyond the checkpoints: mtl-train diagnose files
//! (named, or `<stem>.json` / `<stem>.diagnose.json` found beside a
//! checkpoint) and sweeps of training runs (checkpoints or folders of
//! them). Files read → analyses done → [`ExtraInputs`] for the page.

use std::path::{Path, PathBuf};

use super::error::{PipelineError, SweepError};
use super::progress::Progress;
use crate::analysis::gradient_conflict::conflict_distributions;
use crate::analysis::sweep::{SweepRunInput, sweep};
use crate::checkpoint::file_hash::sha256_file;
use crate::diagnostics::diagnose::is_diagnose_file;
use crate::diagnostics::{Diagnostics, RunMeta, read_diagnostics};
use crate::report::sections::inputs::{DiagnosticsInput, ExtraInputs, Found, SweepInput};
use crate::runs::{self, ReadSettings, Run, display_names};

/// Reads the diagnose files (`named`, else, with `auto`, those found
/// beside `ckpts`) and the sweeps' checkpoints, and runs their analyses.
pub fn collect(
    named: &[PathBuf],
    auto: bool,
    sweeps: &[PathBuf],
    ckpts: &[PathBuf],
    read: &ReadSettings,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ExtraInputs, PipelineError> {
    let mut files: Vec<(PathBuf, Found)> = named.iter().map(|p| (p.clone(), Found::Flag)).collect();
    if named.is_empty() && auto {
        for (p, c) in beside(ckpts, progress) {
            progress(Progress::DiagnosticsBeside {
                file: &p,
                checkpoint: &c,
            });
            files.push((p, Found::BesideCheckpoint(c)));
        }
    }
    let paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    let names = display_names(&paths);
    let mut extras = ExtraInputs::default();
    for ((path, found), name) in files.into_iter().zip(names) {
        let d = read_diagnostics(&path)?;
        extras.diagnostics.push(diagnostics_input(&name, d, found)?);
    }
    let paths = sweep_files(sweeps, progress)?;
    if !paths.is_empty() {
        progress(Progress::ReadingSweeps(paths.len()));
        extras.sweeps = read_sweeps(&paths, read)?;
    }
    Ok(extras)
}

/// Diagnose files named `<stem>.json` or `<stem>.diagnose.json` beside a
/// checkpoint, that declare the diagnose schema.
fn beside(ckpts: &[PathBuf], progress: &mut dyn FnMut(Progress<'_>)) -> Vec<(PathBuf, PathBuf)> {
    let mut found = Vec::new();
    for c in ckpts {
        let Some(stem) = c.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        for name in [format!("{stem}.json"), format!("{stem}.diagnose.json")] {
            let p = c.with_file_name(name);
            if p.is_file() {
                if is_diagnose_file(&p) {
                    found.push((p, c.clone()));
                } else {
                    progress(Progress::NotDiagnostics {
                        file: &p,
                        checkpoint: c,
                    });
                }
            }
        }
    }
    found
}

/// Hashes the file and computes the cosine distributions of `d`.
pub fn diagnostics_input(
    name: &str,
    d: Diagnostics,
    found: Found,
) -> Result<DiagnosticsInput, PipelineError> {
    let (sha256, size_bytes) = sha256_file(&d.path)?;
    Ok(DiagnosticsInput {
        name: name.to_string(),
        conflict: conflict_distributions(&d, name),
        diagnostics: d,
        found,
        sha256,
        size_bytes,
    })
}

/// Reads the sweeps' checkpoints and measures one sweep per swept
/// parameter (the `mtl.sweep` key), in order of first appearance; a run
/// without `mtl.sweep` is a group of its own, which the analysis refuses
/// naming the file.
fn read_sweeps(paths: &[PathBuf], read: &ReadSettings) -> Result<Vec<SweepInput>, PipelineError> {
    let runs: Vec<Run> = paths
        .iter()
        .map(|p| runs::load(p, read))
        .collect::<Result<_, _>>()?;
    let metas: Vec<RunMeta> = runs
        .iter()
        .zip(paths)
        .map(|(r, p)| RunMeta::from_metadata(p, &r.gates.metadata))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let names = display_names(&refs);
    let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        let key = m.sweep.first().map(|(k, _)| k.clone());
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, v)) => v.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups
        .into_iter()
        .map(|(_, idx)| {
            let inputs: Vec<SweepRunInput> = idx
                .iter()
                .map(|&i| SweepRunInput {
                    name: &names[i],
                    meta: &metas[i],
                    importance: &runs[i].importance,
                })
                .collect();
            sweep_input(&inputs)
        })
        .collect()
}

/// Measures one sweep (the report's histogram bins) and hashes its files.
fn sweep_input(runs: &[SweepRunInput<'_>]) -> Result<SweepInput, PipelineError> {
    let report = sweep(runs, &super::reduce::REPORT_BINS).map_err(SweepError::Analysis)?;
    let files = runs
        .iter()
        .map(|r| {
            sha256_file(&r.meta.path).map(|(h, _)| (r.name.to_string(), r.meta.path.clone(), h))
        })
        .collect::<Result<_, _>>()
        .map_err(SweepError::Hash)?;
    Ok(SweepInput { report, files })
}

/// The sweeps' checkpoints: files as given, folders expanded to their
/// `*.safetensors` (sorted by name), optimizer-state sidecars left out
/// (each named through `progress`).
fn sweep_files(
    paths: &[PathBuf],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<PathBuf>, PipelineError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|cause| SweepError::List {
                path: p.clone(),
                cause,
            })?;
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            if v.is_empty() {
                return Err(SweepError::Empty { path: p.clone() }.into());
            }
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    let (kept, skipped) = runs::split_sidecars(&out);
    for p in &skipped {
        progress(Progress::SkippedSidecar(p));
    }
    Ok(kept)
}
