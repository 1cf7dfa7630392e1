//! Loading checkpoints into runs: path → Checkpoint → Gates → ImportanceMatrix.

use std::path::{Path, PathBuf};

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DroppedFilters, Gates, discover_gates};
use mtl_inspect::checkpoint::summary::CheckpointSummary;
use mtl_inspect::importance::{LayerSpan, span_difference};

use super::Failure;
use super::args::LoadSettings;
use super::output::{Source, source};

/// One checkpoint, read and turned into importances.
pub struct Run {
    /// The path as the user gave it; names the run in every output.
    pub name: String,
    pub checkpoint: Checkpoint,
    pub gates: Gates,
    pub importance: ImportanceMatrix,
    pub dropped: Vec<DroppedFilters>,
}

impl Run {
    pub fn summary(&self, s: &LoadSettings) -> CheckpointSummary {
        CheckpointSummary::new(&self.checkpoint, &self.gates, s.importance.gate)
    }
}

/// Opens a checkpoint; mtl-train's optimizer-state sidecar is refused with
/// the checkpoint it belongs to.
pub fn open(path: &Path, s: &LoadSettings) -> Result<Checkpoint, Failure> {
    let c = Checkpoint::open_with(path, &s.open).map_err(Failure::input)?;
    if c.is_optimizer_state() {
        return Err(Failure::input(anyhow::anyhow!(
            "{} is mtl-train's optimizer state (for --resume), not a checkpoint; pass the checkpoint beside it, {}",
            path.display(),
            checkpoint_of_sidecar(path)
        )));
    }
    Ok(c)
}

fn checkpoint_of_sidecar(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.strip_suffix(".optim.safetensors") {
        Some(stem) => path
            .with_file_name(format!("{stem}.safetensors"))
            .display()
            .to_string(),
        None => "the model checkpoint".into(),
    }
}

/// The paths of a multi-run command without mtl-train's optimizer-state
/// sidecars, so `runs/*.safetensors` just works; each skipped file is
/// named on stderr.
pub fn without_sidecars(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| {
            let sidecar = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".optim.safetensors"))
                && Checkpoint::open(p).is_ok_and(|c| c.is_optimizer_state());
            if sidecar {
                eprintln!(
                    "note: skipping {}: mtl-train's optimizer state, not a checkpoint",
                    p.display()
                );
            }
            !sidecar
        })
        .cloned()
        .collect()
}

pub fn load(path: &Path, s: &LoadSettings) -> Result<Run, Failure> {
    load_reusing(path, s, Vec::new())
}

/// [`load`], the importance matrix written into `storage` (see
/// [`Gates::importance_reusing`]).
fn load_reusing(path: &Path, s: &LoadSettings, storage: Vec<f64>) -> Result<Run, Failure> {
    let checkpoint = open(path, s)?;
    let gates = discover_gates(&checkpoint, &s.discover).map_err(Failure::input)?;
    let (importance, dropped) = gates
        .importance_reusing(&s.importance, storage)
        .map_err(Failure::input)?;
    Ok(Run {
        name: path.display().to_string(),
        checkpoint,
        gates,
        importance,
        dropped,
    })
}

/// Loads several runs of one architecture: their layers must agree (task
/// sets are checked, and aligned by name, by the analyses).
pub fn load_all(paths: &[PathBuf], s: &LoadSettings) -> Result<Vec<Run>, Failure> {
    let runs: Vec<Run> = paths.iter().map(|p| load(p, s)).collect::<Result<_, _>>()?;
    if let Some(first) = runs.first() {
        for r in &runs[1..] {
            check_layers(&first.name, first.importance.layers(), r)?;
        }
    }
    Ok(runs)
}

fn check_layers(first: &str, spans: &[LayerSpan], r: &Run) -> Result<(), Failure> {
    match span_difference(spans, r.importance.layers()) {
        None => Ok(()),
        Some(d) => Err(Failure::input(AnalysisError::LayerMismatch(format!(
            "{first} and {} differ: {d}; compare runs of the same architecture, or select common layers with --layers",
            r.name
        )))),
    }
}

/// Reads the runs one at a time, reduces each with `reduce` (given the
/// run's position) and drops it, so a command over many runs holds one
/// run's importance matrix at a time. Layers must agree as in
/// [`load_all`]. Returns each run's provenance and reduction.
pub fn stream<T>(
    paths: &[PathBuf],
    s: &LoadSettings,
    mut reduce: impl FnMut(usize, &Run) -> Result<T, Failure>,
) -> Result<(Vec<Source>, Vec<T>), Failure> {
    let mut first: Option<(String, Vec<LayerSpan>)> = None;
    let mut sources = Vec::with_capacity(paths.len());
    let mut out = Vec::with_capacity(paths.len());
    // One run's matrix storage serves the next (runs of one architecture
    // have one shape).
    let mut storage = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let mut run = load_reusing(p, s, std::mem::take(&mut storage))?;
        // Only the importance matrix is reduced: free the raw gates first.
        run.gates.release_values();
        match &first {
            None => first = Some((run.name.clone(), run.importance.layers().to_vec())),
            Some((name, spans)) => check_layers(name, spans, &run)?,
        }
        out.push(reduce(i, &run)?);
        sources.push(source(&run, s));
        storage = run.importance.into_storage();
    }
    Ok((sources, out))
}
