//! Reading options → checked settings → runs, as the CLI does in
//! `src/cli/{args,load}.rs` (binary-only there). Messages are the CLI's, so
//! a Python user and a shell user see the same words.

use std::path::{Path, PathBuf};

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::checkpoint::discover::{
    DiscoverParams, DroppedFilters, Gates, ImportanceParams, LayerOrderFile, discover_gates,
};
use mtl_inspect::checkpoint::tasks_file::TaskNames;
use mtl_inspect::checkpoint::{Checkpoint, OpenParams};
use mtl_inspect::{GateKind, checkpoint::summary::CheckpointSummary};
use regex::Regex;

use crate::errors::{Error, input};

/// Checked reading settings (the CLI's `LoadSettings` without `--format`).
pub struct Settings {
    pub open: OpenParams,
    pub discover: DiscoverParams,
    pub importance: ImportanceParams,
}

/// Raw reading options as Python passes them.
pub struct ReadOptions {
    pub tasks_file: Option<PathBuf>,
    pub task_names: Option<Vec<String>>,
    pub layers: Option<String>,
    pub gate: Option<String>,
    pub key: Option<String>,
    pub layer_order: Option<PathBuf>,
    pub allow_nonfinite: bool,
}

pub fn parse_gate(g: &str) -> Result<GateKind, Error> {
    match g {
        "sigmoid" => Ok(GateKind::Sigmoid),
        "abs" => Ok(GateKind::Abs),
        "identity" => Ok(GateKind::Identity),
        other => Err(Error::Param(format!(
            "invalid value '{other}' for gate; possible values: sigmoid, abs, identity"
        ))),
    }
}

impl ReadOptions {
    pub fn check(self) -> Result<Settings, Error> {
        let layers = match &self.layers {
            None => None,
            Some(r) => Some(Regex::new(r).map_err(|e| {
                Error::Param(format!(
                    "--layers '{r}' is not a valid regular expression: {e}"
                ))
            })?),
        };
        let tasks = match (&self.tasks_file, &self.task_names) {
            (Some(p), _) => Some(TaskNames::read(p).map_err(input)?),
            (None, Some(names)) => Some(
                TaskNames::parse(Path::new("<tasks list>"), &names.join("\n")).map_err(input)?,
            ),
            (None, None) => None,
        };
        let layer_order = match &self.layer_order {
            None => None,
            Some(p) => Some(LayerOrderFile::read(p).map_err(input)?),
        };
        let gate = self.gate.as_deref().map(parse_gate).transpose()?;
        Ok(Settings {
            open: OpenParams { key: self.key },
            discover: DiscoverParams {
                layers,
                tasks,
                layer_order,
            },
            importance: ImportanceParams {
                gate,
                allow_nonfinite: self.allow_nonfinite,
            },
        })
    }
}

/// One checkpoint, read and turned into importances (the CLI's `Run`).
pub struct Run {
    /// The path as the user gave it; names the run in every output.
    pub name: String,
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
    pub gates: Gates,
    pub importance: ImportanceMatrix,
    pub dropped: Vec<DroppedFilters>,
    pub gate_override: Option<GateKind>,
}

impl Run {
    pub fn summary(&self) -> CheckpointSummary {
        CheckpointSummary::new(&self.checkpoint, &self.gates, self.gate_override)
    }
}

/// `mtl-train`'s optimizer-state sidecar beside a checkpoint.
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".optim.safetensors"))
        && Checkpoint::open(path).is_ok_and(|c| c.is_optimizer_state())
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

pub fn load(path: &Path, s: &Settings) -> Result<Run, Error> {
    let checkpoint = Checkpoint::open_with(path, &s.open).map_err(input)?;
    if checkpoint.is_optimizer_state() {
        return Err(Error::Input(format!(
            "{} is mtl-train's optimizer state (for --resume), not a checkpoint; pass the checkpoint beside it, {}",
            path.display(),
            checkpoint_of_sidecar(path)
        )));
    }
    let gates = discover_gates(&checkpoint, &s.discover).map_err(input)?;
    let (importance, dropped) = gates.importance(&s.importance).map_err(input)?;
    Ok(Run {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        checkpoint,
        gates,
        importance,
        dropped,
        gate_override: s.importance.gate,
    })
}

/// Several runs of one architecture must have the same layers (the CLI's
/// `load_all` check; task sets are aligned by name by the analyses).
pub fn check_same_layers(runs: &[&Run]) -> Result<(), Error> {
    if let Some(first) = runs.first() {
        for r in &runs[1..] {
            if let Some(d) = first.importance.layer_difference(&r.importance) {
                return Err(input(AnalysisError::LayerMismatch(format!(
                    "{} and {} differ: {d}; compare runs of the same architecture, or select common layers with --layers",
                    first.name, r.name
                ))));
            }
        }
    }
    Ok(())
}
