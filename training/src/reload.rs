//! A checkpoint written by `mtl-train`, read back for `eval` and
//! `diagnose`: its network rebuilt from `mtl.model`, `mtl.norm`,
//! `mtl.filters`/`mtl.fc` and `mtl.tasks` and loaded, and the data it was
//! trained on (`shapes` regenerated from the `mtl.dataset_*` metadata,
//! CelebA read from `--data`). One path for both commands; every failure
//! names the file and the way out.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::Device;

use crate::checkpoint::LoadedCheckpoint;
use crate::data::shapes::{self, ShapesParams};
use crate::data::{Dataset, celeba};
use crate::layers::{NormKind, NormParams};
use crate::models::{ModelKind, Widths};
use crate::train::Model;
use crate::usage::UsageError;

pub fn number<T: std::str::FromStr>(ckpt: &LoadedCheckpoint, key: &str) -> Result<T> {
    ckpt.require(key)?.parse().map_err(|_| {
        anyhow!(
            "mtl.{key} of {} is not a number: '{}'",
            ckpt.path.display(),
            ckpt.meta(key).unwrap_or_default()
        )
    })
}

pub fn optional_number<T: std::str::FromStr>(
    ckpt: &LoadedCheckpoint,
    key: &str,
) -> Result<Option<T>> {
    match ckpt.meta(key) {
        None => Ok(None),
        Some(_) => number(ckpt, key).map(Some),
    }
}

/// `mtl.model` and `mtl.norm`, parsed.
pub fn model_and_norm(ckpt: &LoadedCheckpoint) -> Result<(ModelKind, NormKind)> {
    let path = ckpt.path.display();
    let model_name = ckpt.require("model")?;
    let model = ModelKind::parse(model_name).ok_or_else(|| {
        anyhow!(
            "{path}: unknown model '{model_name}' (known: {})",
            ModelKind::ALL.map(|k| k.name()).join(", ")
        )
    })?;
    let norm_name = ckpt.require("norm")?;
    let norm =
        NormKind::parse(norm_name).ok_or_else(|| anyhow!("{path}: unknown norm '{norm_name}'"))?;
    Ok((model, norm))
}

/// The shapes parameters recorded in the checkpoint.
pub fn shapes_params(ckpt: &LoadedCheckpoint) -> Result<ShapesParams> {
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

/// The data `ckpt` was trained on: `shapes` regenerated from `params` (the
/// caller's [`shapes_params`], possibly checked further), CelebA read from
/// `data` (a usage error without it); its tasks must be the checkpoint's.
pub fn dataset(
    ckpt: &LoadedCheckpoint,
    shapes_params: Option<ShapesParams>,
    data: Option<&Path>,
    limit: Option<usize>,
) -> Result<Dataset> {
    let path = ckpt.path.display();
    let dataset = match ckpt.require("dataset")? {
        "shapes" => {
            let p = match shapes_params {
                Some(p) => p,
                None => self::shapes_params(ckpt)?,
            };
            shapes::generate(&p)
                .with_context(|| format!("regenerating the shapes data of {path}"))?
        }
        "celeba" => {
            let dir = data.ok_or_else(|| {
                UsageError(format!(
                    "{path} is a CelebA checkpoint; pass --data DIR with the CelebA folder"
                ))
            })?;
            celeba::load(dir, limit)?
        }
        other => bail!("{path}: unknown dataset '{other}'; mtl-train knows shapes and celeba"),
    };
    let tasks = ckpt.tasks()?;
    if tasks != dataset.tasks {
        bail!(
            "{path} was trained on {} tasks {:?}…, the data has {} tasks {:?}…",
            tasks.len(),
            tasks.iter().take(3).collect::<Vec<_>>(),
            dataset.tasks.len(),
            dataset.tasks.iter().take(3).collect::<Vec<_>>()
        );
    }
    Ok(dataset)
}

/// Rebuilds the network `ckpt` holds (its model, norm, task count and
/// `mtl.filters`/`mtl.fc` widths) and loads every tensor into it; the head
/// initialisation does not matter, all is loaded.
pub fn model(
    ckpt: &LoadedCheckpoint,
    kind: ModelKind,
    norm: NormKind,
    tasks: usize,
    device: &Device,
) -> Result<Model> {
    model_as(ckpt, kind, norm, tasks, candle_core::DType::F32, device)
}

/// [`model`] with its parameters held in `dtype` (the checkpoint's f32
/// values converted exactly when `dtype` is F64).
pub fn model_as(
    ckpt: &LoadedCheckpoint,
    kind: ModelKind,
    norm: NormKind,
    tasks: usize,
    dtype: candle_core::DType,
    device: &Device,
) -> Result<Model> {
    let path = ckpt.path.display();
    let widths = Widths::from_metadata(ckpt.meta("filters"), ckpt.meta("fc"))
        .map_err(|e| anyhow!("{path}: {e}"))?;
    let m = crate::train::build_model_with_heads(
        kind,
        kind.spec().heads,
        &widths,
        norm,
        tasks,
        0,
        NormParams::default(),
        dtype,
        device,
    )
    .with_context(|| format!("rebuilding the network of {path}"))?;
    ckpt.load_into(&m.store)?;
    Ok(m)
}
