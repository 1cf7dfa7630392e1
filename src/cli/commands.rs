//! The analysis commands: each checks its flags, reads its runs, calls
//! one analysis and renders the result as the bytes for stdout
//! ([`super::output`]).

use std::path::PathBuf;

use mtl_inspect::analysis::{
    across_runs, capacity, clusters, depth, diff, filter_groups, gate_stats, similarity,
    specialization, stability,
};
use mtl_inspect::checkpoint::discover::discover_gates;
use mtl_inspect::checkpoint::summary::CheckpointSummary;

use super::args::{LinkageArg, LoadArgs};
use super::diff_page;
use super::failure::Failure;
use super::load;
use super::output;

/// `inspect`: every reading decision and its evidence.
pub fn inspect(ckpt: PathBuf, load: LoadArgs) -> Result<Vec<u8>, Failure> {
    let s = load.check()?;
    let checkpoint = load::open(&ckpt, &s)?;
    let gates = discover_gates(&checkpoint, &s.read.discover).map_err(Failure::input)?;
    let summary = CheckpointSummary::new(&checkpoint, &gates, s.read.importance.gate);
    Ok(output::inspect(&summary, s.format))
}

/// `capacity`: one run, several (with the spread over runs), or per layer.
pub fn capacity(ckpts: Vec<PathBuf>, per_layer: bool, load: LoadArgs) -> Result<Vec<u8>, Failure> {
    let s = load.check()?;
    if per_layer {
        let [ckpt] = ckpts.as_slice() else {
            return Err(Failure::usage(anyhow::anyhow!(
                "--per-layer takes one checkpoint ({} given)",
                ckpts.len()
            )));
        };
        let run = load::load(ckpt, &s)?;
        let r = depth::capacity_by_layer(&run.importance);
        return Ok(output::capacity_by_layer(&run, &s, &r));
    }
    // One file is read as given (a sidecar alone is refused, naming
    // its checkpoint); several skip optimizer sidecars like globs.
    let ckpts = if ckpts.len() > 1 {
        load::without_sidecars(&ckpts)
    } else {
        ckpts
    };
    if let [ckpt] = ckpts.as_slice() {
        let mut run = load::load(ckpt, &s)?;
        run.gates.release_values();
        let r = capacity::capacity(&run.importance);
        return Ok(output::capacity(&run, &s, &r));
    }
    let (sources, results) = load::stream(&ckpts, &s, |_, run| {
        Ok((run.name.clone(), capacity::capacity(&run.importance)))
    })?;
    let named: Vec<(String, &capacity::CapacityReport)> =
        results.iter().map(|(n, r)| (n.clone(), r)).collect();
    let spread = across_runs::capacity_across_runs(&named).map_err(Failure::analysis)?;
    Ok(output::capacity_runs(&sources, &s, &named, &spread))
}

/// `similarity`, of the whole network or per layer.
pub fn similarity(ckpt: PathBuf, per_layer: bool, load: LoadArgs) -> Result<Vec<u8>, Failure> {
    let s = load.check()?;
    let run = load::load(&ckpt, &s)?;
    if per_layer {
        let r = depth::similarity_by_layer(&run.importance);
        Ok(output::similarity_by_layer(&run, &s, &r))
    } else {
        let r = similarity::cosine_similarity(&run.importance);
        Ok(output::similarity(&run, &s, &r))
    }
}

/// `diff`: the comparison as text, CSV or JSON, or with `--out` as a page
/// (then nothing for stdout).
pub fn diff(
    ckpt_a: PathBuf,
    ckpt_b: PathBuf,
    tau: f64,
    top: usize,
    out: Option<PathBuf>,
    title: Option<String>,
    load: LoadArgs,
) -> Result<Vec<u8>, Failure> {
    let p = diff::DiffParams::new(tau, top).map_err(|e| Failure::usage(anyhow::anyhow!("{e}")))?;
    let s = load.check()?;
    let dir = out
        .as_deref()
        .map(mtl_inspect::pipeline::ReportDir::prepare)
        .transpose()
        .map_err(Failure::input)?;
    let a = load::load(&ckpt_a, &s)?;
    let b = load::load(&ckpt_b, &s)?;
    let r = diff::diff(&a.importance, &b.importance, &p).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "comparing {} with {}: {e}; diff needs two runs of the same tasks and layers (select common layers with --layers)",
            a.name,
            b.name
        ))
    })?;
    if let Some(dir) = dir {
        diff_page::write(&dir, (&a, &b), (&ckpt_a, &ckpt_b), &s, &r, title)?;
        return Ok(Vec::new());
    }
    Ok(output::diff(
        &[output::source(&a, &s), output::source(&b, &s)],
        &s,
        &r,
    ))
}

/// `specialization`.
pub fn specialization(ckpt: PathBuf, tau: f64, load: LoadArgs) -> Result<Vec<u8>, Failure> {
    let p = specialization::SpecializationParams::new(tau)
        .map_err(|e| Failure::usage(anyhow::anyhow!("--tau: {e}")))?;
    let s = load.check()?;
    let run = load::load(&ckpt, &s)?;
    let r = specialization::specialization(&run.importance, &p);
    Ok(output::specialization(&run, &s, &r))
}

/// `stability` of several runs, read one at a time.
pub fn stability(
    ckpts: Vec<PathBuf>,
    permutations: usize,
    bootstrap: usize,
    seed: u64,
    load: LoadArgs,
) -> Result<Vec<u8>, Failure> {
    let p = stability::StabilityParams::new(permutations, seed)
        .map_err(|e| Failure::usage(anyhow::anyhow!("--permutations: {e}")))?
        .with_bootstrap(bootstrap)
        .map_err(|e| Failure::usage(anyhow::anyhow!("--bootstrap: {e}")))?;
    let s = load.check()?;
    let ckpts = load::without_sidecars(&ckpts);
    let (sources, reduced) = load::stream(&ckpts, &s, |i, run| {
        Ok(stability::ReducedRun::new(
            run.name.clone(),
            &run.importance,
            i,
            &p,
        ))
    })?;
    let r = stability::stability_of_runs(reduced, &p).map_err(Failure::analysis)?;
    Ok(output::stability(&sources, &s, &r))
}

/// `cluster` of one or several runs, read one at a time.
pub fn cluster(
    ckpts: Vec<PathBuf>,
    k: usize,
    linkage: LinkageArg,
    load: LoadArgs,
) -> Result<Vec<u8>, Failure> {
    let p = clusters::ClusterParams::new(k, linkage.into())
        .map_err(|e| Failure::usage(anyhow::anyhow!("--k: {e}")))?;
    let s = load.check()?;
    let ckpts = load::without_sidecars(&ckpts);
    let (sources, sims) = load::stream(&ckpts, &s, |_, run| {
        Ok((
            run.name.clone(),
            similarity::cosine_similarity(&run.importance),
        ))
    })?;
    let r = clusters::cluster_runs(&sims, &p).map_err(Failure::analysis)?;
    Ok(output::cluster(&sources, &s, &r))
}

/// `filter-groups`.
pub fn filter_groups(
    ckpt: PathBuf,
    k: usize,
    seed: u64,
    dead_threshold: f64,
    load: LoadArgs,
) -> Result<Vec<u8>, Failure> {
    let p = filter_groups::FilterGroupParams::new(k, seed, dead_threshold)
        .map_err(|e| Failure::usage(anyhow::anyhow!("{e}")))?;
    let s = load.check()?;
    let mut run = load::load(&ckpt, &s)?;
    run.gates.release_values();
    let r = filter_groups::filter_groups(&run.importance, &p).map_err(Failure::analysis)?;
    Ok(output::filter_groups(&run, &s, &r))
}

/// `gates`: the distribution of gate values.
pub fn gates(ckpt: PathBuf, bins: usize, load: LoadArgs) -> Result<Vec<u8>, Failure> {
    let p = gate_stats::GateStatsParams::new(bins).map_err(Failure::usage)?;
    let s = load.check()?;
    let mut run = load::load(&ckpt, &s)?;
    run.gates.release_values();
    let r = gate_stats::gate_distribution(&run.importance, &p);
    Ok(output::gates(&run, &s, &r))
}
