//! A checkpoint written by `mtl-train` and the data it was trained on,
//! checked before any work (through [`crate::reload`], as `eval` reads
//! them), plus diagnose's own refusals: `--data` with a shapes checkpoint,
//! and the regression task of the noise sweep. Every failure names the file
//! and the way out.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use candle_core::Device;

use crate::checkpoint::LoadedCheckpoint;
use crate::data::Dataset;
use crate::layers::NormKind;
use crate::models::ModelKind;
use crate::reload;
use crate::train::Model;
use crate::usage::UsageError;

/// What the checkpoint says about itself (reported in the JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    pub path: PathBuf,
    pub model: ModelKind,
    pub norm: NormKind,
    pub dataset: String,
    /// `mtl.epoch`, `mtl.seed`, `mtl.batch_size` when present.
    pub epoch: Option<u64>,
    pub seed: Option<u64>,
    pub batch_size: Option<usize>,
}

/// The loaded model, its data and provenance.
pub struct Loaded {
    pub info: CheckpointInfo,
    pub model: Model,
    pub tasks: Vec<String>,
    pub data: Dataset,
}

/// Opens `path`, rebuilds and loads its model, and gets its data.
pub fn load(
    path: &Path,
    data: Option<&Path>,
    limit: Option<usize>,
    dtype: candle_core::DType,
    device: &Device,
) -> Result<Loaded> {
    let ckpt = LoadedCheckpoint::open(path, device)?;
    let (model, norm) = reload::model_and_norm(&ckpt)?;
    let dataset = ckpt.require("dataset")?.to_string();
    let shapes = if dataset == "shapes" {
        if data.is_some() {
            bail!(UsageError(format!(
                "{} is a shapes checkpoint, whose data is regenerated from its metadata; drop --data",
                path.display()
            )));
        }
        let p = reload::shapes_params(&ckpt)?;
        if p.size_noise.is_some() {
            // Diagnose's per-task loss and scores are BCE and F1.
            bail!(UsageError(format!(
                "{} has the regression task of the noise sweep (mtl.dataset_noise); diagnose handles binary tasks only — diagnose a run trained without --noise/--regression-task",
                path.display()
            )));
        }
        Some(p)
    } else {
        None
    };
    let data = reload::dataset(&ckpt, shapes, data, limit)?;
    let tasks = data.tasks.clone();
    let m = reload::model_as(&ckpt, model, norm, tasks.len(), dtype, device)?;
    let info = CheckpointInfo {
        path: path.to_path_buf(),
        model,
        norm,
        dataset,
        epoch: reload::optional_number(&ckpt, "epoch")?,
        seed: reload::optional_number(&ckpt, "seed")?,
        batch_size: reload::optional_number(&ckpt, "batch_size")?,
    };
    Ok(Loaded {
        info,
        model: m,
        tasks,
        data,
    })
}
