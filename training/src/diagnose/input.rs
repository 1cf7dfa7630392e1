//! A checkpoint written by `mtl-train` and the data it was trained on,
//! checked before any work: the model is rebuilt from `mtl.model`,
//! `mtl.norm` and `mtl.tasks` and loaded; `shapes` data is regenerated from
//! the `mtl.dataset_*` metadata (as `mtl-train eval` does), CelebA is read
//! from `--data`. Every failure names the file and the way out.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use candle_core::Device;

use crate::checkpoint::LoadedCheckpoint;
use crate::data::shapes::{self, ShapesParams};
use crate::data::{Dataset, celeba};
use crate::layers::NormKind;
use crate::models::ModelKind;
use crate::train::{Model, model_of_checkpoint};
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

fn number<T: std::str::FromStr>(ckpt: &LoadedCheckpoint, key: &str) -> Result<T> {
    ckpt.require(key)?.parse().map_err(|_| {
        anyhow!(
            "mtl.{key} of {} is not a number: '{}'",
            ckpt.path.display(),
            ckpt.meta(key).unwrap_or_default()
        )
    })
}

fn optional_number<T: std::str::FromStr>(ckpt: &LoadedCheckpoint, key: &str) -> Result<Option<T>> {
    match ckpt.meta(key) {
        None => Ok(None),
        Some(_) => number(ckpt, key).map(Some),
    }
}

/// The shapes parameters recorded in the checkpoint.
fn shapes_params(ckpt: &LoadedCheckpoint) -> Result<ShapesParams> {
    let missing: Vec<&str> = [
        "tasks",
        "groups",
        "image_size",
        "train",
        "val",
        "test",
        "seed",
    ]
    .into_iter()
    .filter(|k| ckpt.meta(&format!("dataset_{k}")).is_none())
    .collect();
    if !missing.is_empty() {
        bail!(
            "{} is a shapes checkpoint without the data's description (no mtl.dataset_{}); \
             the data cannot be regenerated — retrain it with this mtl-train",
            ckpt.path.display(),
            missing.join(", mtl.dataset_")
        );
    }
    Ok(ShapesParams {
        tasks: number(ckpt, "dataset_tasks")?,
        groups: number(ckpt, "dataset_groups")?,
        image_size: number(ckpt, "dataset_image_size")?,
        train: number(ckpt, "dataset_train")?,
        val: number(ckpt, "dataset_val")?,
        test: number(ckpt, "dataset_test")?,
        seed: number(ckpt, "dataset_seed")?,
        noisy_copy: optional_number(ckpt, "dataset_noisy_copy")?,
        size_noise: optional_number(ckpt, "dataset_noise")?,
    })
}

/// Opens `path`, rebuilds and loads its model, and gets its data.
pub fn load(
    path: &Path,
    data: Option<&Path>,
    limit: Option<usize>,
    device: &Device,
) -> Result<Loaded> {
    let ckpt = LoadedCheckpoint::open(path, device)?;
    let model_name = ckpt.require("model")?;
    let model = ModelKind::parse(model_name).ok_or_else(|| {
        anyhow!(
            "{}: unknown model '{model_name}' (known: {})",
            path.display(),
            ModelKind::ALL.map(|k| k.name()).join(", ")
        )
    })?;
    let norm_name = ckpt.require("norm")?;
    let norm = NormKind::parse(norm_name)
        .ok_or_else(|| anyhow!("{}: unknown norm '{norm_name}'", path.display()))?;
    let dataset = ckpt.require("dataset")?.to_string();
    let data = match dataset.as_str() {
        "shapes" => {
            if data.is_some() {
                bail!(UsageError(format!(
                    "{} is a shapes checkpoint, whose data is regenerated from its metadata; drop --data",
                    path.display()
                )));
            }
            let p = shapes_params(&ckpt)?;
            if p.size_noise.is_some() {
                // Diagnose's per-task loss and scores are BCE and F1.
                bail!(UsageError(format!(
                    "{} has the regression task of the noise sweep (mtl.dataset_noise); diagnose handles binary tasks only — diagnose a run trained without --noise/--regression-task",
                    path.display()
                )));
            }
            shapes::generate(&p)
                .with_context(|| format!("regenerating the shapes data of {}", path.display()))?
        }
        "celeba" => {
            let dir = data.ok_or_else(|| {
                UsageError(format!(
                    "{} is a CelebA checkpoint; pass --data DIR with the CelebA folder",
                    path.display()
                ))
            })?;
            celeba::load(dir, limit)?
        }
        other => bail!(
            "{}: unknown dataset '{other}'; diagnose knows shapes and celeba",
            path.display()
        ),
    };
    let tasks = ckpt.tasks()?;
    if tasks != data.tasks {
        bail!(
            "{} was trained on {} tasks {:?}…, the data has {} tasks {:?}…",
            path.display(),
            tasks.len(),
            tasks.iter().take(3).collect::<Vec<_>>(),
            data.tasks.len(),
            data.tasks.iter().take(3).collect::<Vec<_>>()
        );
    }
    let m = model_of_checkpoint(&ckpt, path, model, norm, tasks.len(), device)?;
    let info = CheckpointInfo {
        path: path.to_path_buf(),
        model,
        norm,
        dataset,
        epoch: optional_number(&ckpt, "epoch")?,
        seed: optional_number(&ckpt, "seed")?,
        batch_size: optional_number(&ckpt, "batch_size")?,
    };
    Ok(Loaded {
        info,
        model: m,
        tasks,
        data,
    })
}
