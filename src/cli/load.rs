//! Loading checkpoints into runs: path → Checkpoint → Gates → ImportanceMatrix.

use std::path::{Path, PathBuf};

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::analysis::similarity::{SimilarityMatrix, cosine_similarity};
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DroppedFilters, Gates, discover_gates};
use mtl_inspect::checkpoint::summary::CheckpointSummary;

use super::Failure;
use super::args::LoadSettings;

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
    let checkpoint = open(path, s)?;
    let gates = discover_gates(&checkpoint, &s.discover).map_err(Failure::input)?;
    let (importance, dropped) = gates.importance(&s.importance).map_err(Failure::input)?;
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
            if let Some(d) = first.importance.layer_difference(&r.importance) {
                return Err(Failure::input(AnalysisError::LayerMismatch(format!(
                    "{} and {} differ: {d}; compare runs of the same architecture, or select common layers with --layers",
                    first.name, r.name
                ))));
            }
        }
    }
    Ok(runs)
}

/// Each run's task-similarity matrix, named by the run.
pub fn similarities(runs: &[Run]) -> Vec<(String, SimilarityMatrix)> {
    runs.iter()
        .map(|r| (r.name.clone(), cosine_similarity(&r.importance)))
        .collect()
}
