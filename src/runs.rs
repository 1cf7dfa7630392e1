//! Runs: one checkpoint carried through the pipeline up to its importance
//! matrix (path → [`Checkpoint`] → [`Gates`] → [`ImportanceMatrix`]), with
//! the reading options checked once. The CLI and the Python package both
//! read through here, so both say the same words about the same file.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::GateKind;
use crate::ImportanceMatrix;
use crate::analysis::AnalysisError;
use crate::checkpoint::discover::{DiscoverParams, Gates, LayerOrderFile, discover_gates};
use crate::checkpoint::summary::CheckpointSummary;
use crate::checkpoint::tasks_file::TaskNames;
use crate::checkpoint::{Checkpoint, CheckpointError, OpenParams};
use crate::importance::from_gates::{DroppedFilters, GateError, ImportanceParams};
use crate::importance::{LayerSpan, span_difference};

/// Where task names come from when the checkpoint names none.
#[derive(Debug, Clone)]
pub enum TaskNamesInput {
    /// A file: one name per line, or CelebA's `list_attr_celeba.txt`.
    File(PathBuf),
    /// Names given directly, in row order.
    Names(Vec<String>),
}

/// Reading options as a user gives them (flags, keyword arguments).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub tasks: Option<TaskNamesInput>,
    /// A regular expression over layer paths.
    pub layers: Option<String>,
    pub gate: Option<GateKind>,
    /// The wrapper key of a pickled checkpoint.
    pub key: Option<String>,
    pub layer_order: Option<PathBuf>,
    pub allow_nonfinite: bool,
}

/// Checked reading settings: what every step of reading a run needs.
#[derive(Debug, Clone, Default)]
pub struct ReadSettings {
    pub open: OpenParams,
    pub discover: DiscoverParams,
    pub importance: ImportanceParams,
}

/// Why a run could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A malformed `--layers` expression: a usage error, not bad input.
    #[error("--layers '{regex}' is not a valid regular expression: {message}")]
    LayersRegex { regex: String, message: String },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The gates do not give an importance matrix (kinds, non-finite).
    #[error(transparent)]
    Gates(#[from] GateError),
    #[error(
        "{} is mtl-train's optimizer state (for --resume), not a checkpoint; pass the checkpoint beside it, {checkpoint}",
        path.display()
    )]
    OptimizerState { path: PathBuf, checkpoint: String },
    /// Runs of different architectures given together.
    #[error(transparent)]
    LayerMismatch(AnalysisError),
}

impl LoadError {
    /// Whether the user should change a flag (exit code 2) rather than the
    /// input (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, LoadError::LayersRegex { .. })
    }
}

impl ReadOptions {
    /// Compiles the regex and reads the tasks and layer-order files.
    pub fn check(&self) -> Result<ReadSettings, LoadError> {
        let layers = match &self.layers {
            None => None,
            Some(r) => Some(Regex::new(r).map_err(|e| LoadError::LayersRegex {
                regex: r.clone(),
                message: e.to_string(),
            })?),
        };
        let tasks = match &self.tasks {
            None => None,
            Some(TaskNamesInput::File(p)) => Some(TaskNames::read(p)?),
            Some(TaskNamesInput::Names(names)) => Some(TaskNames::parse(
                Path::new("<tasks list>"),
                &names.join("\n"),
            )?),
        };
        let layer_order = match &self.layer_order {
            None => None,
            Some(p) => Some(LayerOrderFile::read(p)?),
        };
        Ok(ReadSettings {
            open: OpenParams {
                key: self.key.clone(),
            },
            discover: DiscoverParams {
                layers,
                tasks,
                layer_order,
            },
            importance: ImportanceParams {
                gate: self.gate,
                allow_nonfinite: self.allow_nonfinite,
            },
        })
    }
}

/// One checkpoint, read and turned into importances.
pub struct Run {
    /// The path as the user gave it; names the run in every output.
    pub name: String,
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
    pub gates: Gates,
    pub importance: ImportanceMatrix,
    pub dropped: Vec<DroppedFilters>,
}

impl Run {
    /// The reading decisions and their evidence (`inspect`), given the
    /// `--gate` override the run was read with.
    pub fn summary(&self, gate_override: Option<GateKind>) -> CheckpointSummary {
        CheckpointSummary::new(&self.checkpoint, &self.gates, gate_override)
    }
}

/// Opens a checkpoint; mtl-train's optimizer-state sidecar is refused with
/// the checkpoint it belongs to.
pub fn open(path: &Path, s: &ReadSettings) -> Result<Checkpoint, LoadError> {
    let c = Checkpoint::open_with(path, &s.open)?;
    if c.is_optimizer_state() {
        return Err(LoadError::OptimizerState {
            path: path.to_path_buf(),
            checkpoint: checkpoint_of_sidecar(path),
        });
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

/// Whether `path` is mtl-train's optimizer-state sidecar (named
/// `*.optim.safetensors` and holding optimizer state).
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".optim.safetensors"))
        && Checkpoint::open(path).is_ok_and(|c| c.is_optimizer_state())
}

/// Splits the paths of a multi-run command into checkpoints and
/// mtl-train's optimizer-state sidecars, so `runs/*.safetensors` just
/// works; the caller says which were skipped.
pub fn split_sidecars(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    paths.iter().cloned().partition(|p| !is_sidecar(p))
}

/// Reads one run.
pub fn load(path: &Path, s: &ReadSettings) -> Result<Run, LoadError> {
    load_reusing(path, s, Vec::new())
}

/// [`load`], the importance matrix written into `storage` (see
/// [`Gates::importance_reusing`]).
fn load_reusing(path: &Path, s: &ReadSettings, storage: Vec<f64>) -> Result<Run, LoadError> {
    let checkpoint = open(path, s)?;
    let gates = discover_gates(&checkpoint, &s.discover)?;
    let (importance, dropped) = gates.importance_reusing(&s.importance, storage)?;
    Ok(Run {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        checkpoint,
        gates,
        importance,
        dropped,
    })
}

/// Checks that runs read together have the same layers (task sets are
/// checked, and aligned by name, by the analyses).
pub fn check_same_layers<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Result<(), LoadError> {
    let mut runs = runs.into_iter();
    if let Some(first) = runs.next() {
        for r in runs {
            check_layers(&first.name, first.importance.layers(), r)?;
        }
    }
    Ok(())
}

fn check_layers(first: &str, spans: &[LayerSpan], r: &Run) -> Result<(), LoadError> {
    match span_difference(spans, r.importance.layers()) {
        None => Ok(()),
        Some(d) => Err(LoadError::LayerMismatch(AnalysisError::LayerMismatch(
            format!(
                "{first} and {} differ: {d}; compare runs of the same architecture, or select common layers with --layers",
                r.name
            ),
        ))),
    }
}

/// Reads the runs one at a time, reduces each with `reduce` (given the
/// run's position) and drops it, so a command over many runs holds one
/// run's importance matrix at a time; the raw gate values are freed before
/// `reduce` sees the run. Layers must agree ([`check_same_layers`]).
pub fn stream<T, E: From<LoadError>>(
    paths: &[PathBuf],
    s: &ReadSettings,
    mut reduce: impl FnMut(usize, &Run) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut first: Option<(String, Vec<LayerSpan>)> = None;
    let mut out = Vec::with_capacity(paths.len());
    // One run's matrix storage serves the next (runs of one architecture
    // have one shape).
    let mut storage = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let mut run = load_reusing(p, s, std::mem::take(&mut storage))?;
        run.gates.release_values();
        match &first {
            None => first = Some((run.name.clone(), run.importance.layers().to_vec())),
            Some((name, spans)) => check_layers(name, spans, &run)?,
        }
        out.push(reduce(i, &run)?);
        storage = run.importance.into_storage();
    }
    Ok(out)
}

/// Short, unique run names for figures: each file's stem (`run3`), with
/// parent folders prepended only where stems collide (`a/ckpt`, `b/ckpt`).
pub fn display_names(paths: &[&Path]) -> Vec<String> {
    let parts: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            let mut v: Vec<String> = p
                .parent()
                .map(|d| {
                    d.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.push(
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            v
        })
        .collect();
    let name = |p: &[String], depth: usize| p[p.len().saturating_sub(depth)..].join("/");
    let mut depth = vec![1usize; paths.len()];
    // Deepen colliding names until they differ or run out of folders.
    for _ in 0..64 {
        let names: Vec<String> = parts.iter().zip(&depth).map(|(p, &d)| name(p, d)).collect();
        let mut changed = false;
        for i in 0..names.len() {
            let clash = names
                .iter()
                .enumerate()
                .any(|(j, n)| j != i && *n == names[i]);
            if clash && depth[i] < parts[i].len() {
                depth[i] += 1;
                changed = true;
            }
        }
        if !changed {
            return names;
        }
    }
    parts.iter().zip(&depth).map(|(p, &d)| name(p, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_stems_unless_they_collide() {
        let p = |s: &'static str| Path::new(s);
        assert_eq!(
            display_names(&[p("runs/run0.safetensors"), p("runs/run1.safetensors")]),
            ["run0", "run1"]
        );
        assert_eq!(
            display_names(&[p("a/x/ckpt.safetensors"), p("b/x/ckpt.safetensors")]),
            ["a/x/ckpt", "b/x/ckpt"]
        );
        assert_eq!(
            display_names(&[p("ckpt.safetensors"), p("ckpt.safetensors")]),
            ["ckpt", "ckpt"]
        );
    }
}
