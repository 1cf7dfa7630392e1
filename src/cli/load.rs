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

pub fn open(path: &Path) -> Result<Checkpoint, Failure> {
    Checkpoint::open(path).map_err(Failure::input)
}

pub fn load(path: &Path, s: &LoadSettings) -> Result<Run, Failure> {
    let checkpoint = open(path)?;
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
