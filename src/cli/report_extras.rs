//! `report`'s inputs beyond the checkpoints: mtl-train diagnose files
//! (`--diagnostics`, or `<stem>.json` / `<stem>.diagnose.json` found beside
//! a checkpoint) and sweeps of training runs (`--sweep`, once per sweep).
//! Flags → files read → [`ExtraInputs`] with their analyses done.

use std::path::{Path, PathBuf};

use clap::Args;

use mtl_inspect::analysis::sweep::SweepRunInput;
use mtl_inspect::diagnostics::diagnose::is_diagnose_file;
use mtl_inspect::diagnostics::{RunMeta, read_diagnostics};
use mtl_inspect::report::extras::{ExtraInputs, Found, diagnostics_input, sweep_input};
use mtl_inspect::report::inputs::display_names;

use super::Failure;
use super::args::LoadSettings;
use super::load;

#[derive(Debug, Clone, Args)]
pub struct ReportExtraArgs {
    /// Diagnose files of `mtl-train diagnose` (JSON, schema
    /// mtl-train/diagnose v1; its <stem>.conflict.csv is read from beside
    /// it): adds gradient-cosine distributions, gradient norms and AvgNorm
    /// weights, and the pruning-impact heatmaps. Without this flag, a
    /// `<stem>.json` or `<stem>.diagnose.json` of that schema beside a
    /// checkpoint `<stem>.safetensors` is picked up (and marked so in the
    /// page).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub diagnostics: Vec<PathBuf>,

    /// Do not look for diagnose files beside the checkpoints.
    #[arg(long)]
    pub no_auto_diagnostics: bool,

    /// Checkpoints of mtl-train sweeps, or folders of them (each run with
    /// mtl.sweep metadata, e.g. `fixtures/sweeps/noise`). Runs are grouped
    /// into one section per swept parameter (the mtl.sweep key) and by
    /// value within it: for `noise`, the capacity split of the noisy
    /// (regression) task against ξ (App. E); for other parameters (e.g.
    /// `alpha`), histograms of all gates per value (Fig. 5/9); for every
    /// sweep, the mean test F1 per value (mtl.test_mean_f1, at the epoch the
    /// checkpoint holds). The reading flags (--layers, --gate, …) apply to
    /// these runs too. Put it after the report's checkpoints (it takes every
    /// path that follows).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub sweep: Vec<PathBuf>,
}

/// Diagnose files named `<stem>.json` or `<stem>.diagnose.json` beside a
/// checkpoint, that declare the diagnose schema.
fn beside(ckpts: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
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
                    eprintln!(
                        "note: {} is beside {} but is not an mtl-train diagnose file; not used",
                        p.display(),
                        c.display()
                    );
                }
            }
        }
    }
    found
}

pub fn collect(
    a: &ReportExtraArgs,
    ckpts: &[PathBuf],
    s: &LoadSettings,
) -> Result<ExtraInputs, Failure> {
    let mut files: Vec<(PathBuf, Found)> = a
        .diagnostics
        .iter()
        .map(|p| (p.clone(), Found::Flag))
        .collect();
    if a.diagnostics.is_empty() && !a.no_auto_diagnostics {
        for (p, c) in beside(ckpts) {
            eprintln!(
                "note: using diagnostics {} found beside {}",
                p.display(),
                c.display()
            );
            files.push((p, Found::BesideCheckpoint(c)));
        }
    }
    let paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    let names = display_names(&paths);
    let mut extras = ExtraInputs::default();
    for ((path, found), name) in files.into_iter().zip(names) {
        let d = read_diagnostics(&path).map_err(Failure::input)?;
        extras
            .diagnostics
            .push(diagnostics_input(&name, d, found).map_err(Failure::input)?);
    }
    let paths = sweep_files(&a.sweep)?;
    if paths.is_empty() {
        return Ok(extras);
    }
    eprintln!("reading {} sweep checkpoint(s)…", paths.len());
    let runs: Vec<mtl_inspect::runs::Run> = paths
        .iter()
        .map(|p| load::load(p, s))
        .collect::<Result<_, _>>()?;
    let metas: Vec<RunMeta> = runs
        .iter()
        .zip(&paths)
        .map(|(r, p)| RunMeta::from_metadata(p, &r.gates.metadata))
        .collect::<Result<_, _>>()
        .map_err(Failure::input)?;
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let names = display_names(&refs);
    // One group per swept parameter, in order of first appearance; a run
    // without mtl.sweep is a group of its own, which the analysis refuses
    // naming the file.
    let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        let key = m.sweep.first().map(|(k, _)| k.clone());
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, v)) => v.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    for (_, idx) in groups {
        let inputs: Vec<SweepRunInput> = idx
            .iter()
            .map(|&i| SweepRunInput {
                name: &names[i],
                meta: &metas[i],
                importance: &runs[i].importance,
            })
            .collect();
        extras.sweeps.push(
            sweep_input(&inputs, 40)
                .map_err(|e| Failure::input(anyhow::anyhow!("--sweep: {e}")))?,
        );
    }
    Ok(extras)
}

/// The checkpoints named by `--sweep`: files as given, folders expanded to
/// their `*.safetensors` (sorted by name), optimizer-state sidecars left out.
fn sweep_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| {
                Failure::input(anyhow::anyhow!("--sweep: cannot list {}: {e}", p.display()))
            })?;
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            if v.is_empty() {
                return Err(Failure::input(anyhow::anyhow!(
                    "--sweep: {} holds no .safetensors checkpoint",
                    p.display()
                )));
            }
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(load::without_sidecars(&out))
}
