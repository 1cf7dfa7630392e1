//! The CLI's side of reading runs (the reading itself is
//! [`mtl_inspect::runs`]): loading errors as exit codes, skipped sidecars
//! named on stderr, and each streamed run's provenance kept for the output.

use std::path::{Path, PathBuf};

use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::runs;
use mtl_inspect::runs::Run;

use super::args::LoadSettings;
use super::failure::Failure;
use super::output::source;
use mtl_inspect::report::json::Source;

pub fn open(path: &Path, s: &LoadSettings) -> Result<Checkpoint, Failure> {
    Ok(runs::open(path, &s.read)?)
}

pub fn load(path: &Path, s: &LoadSettings) -> Result<Run, Failure> {
    Ok(runs::load(path, &s.read)?)
}

/// The paths of a multi-run command without mtl-train's optimizer-state
/// sidecars, so `runs/*.safetensors` just works; each skipped file is
/// named on stderr.
pub fn without_sidecars(paths: &[PathBuf]) -> Vec<PathBuf> {
    let (kept, skipped) = runs::split_sidecars(paths);
    for p in skipped {
        eprintln!(
            "note: skipping {}: mtl-train's optimizer state, not a checkpoint",
            p.display()
        );
    }
    kept
}

/// [`runs::stream`], keeping each run's provenance for the output.
pub fn stream<T>(
    paths: &[PathBuf],
    s: &LoadSettings,
    mut reduce: impl FnMut(usize, &Run) -> Result<T, Failure>,
) -> Result<(Vec<Source>, Vec<T>), Failure> {
    let pairs = runs::stream(paths, &s.read, |i, run| {
        Ok::<_, Failure>((source(run, s), reduce(i, run)?))
    })?;
    Ok(pairs.into_iter().unzip())
}
