//! Multi-task image datasets held in memory as `[N, 3, S, S]` f32 images in
//! [0, 1] and `[N, T]` labels — {0, 1} for binary tasks, real values for
//! regression tasks (shapes' optional size task, paper App. E) — with the
//! three splits the paper's CelebA protocol uses (train / val / test).

pub mod celeba;
pub mod export;
pub mod shapes;

use std::collections::BTreeMap;

use candle_core::{Device, Result, Tensor};
use rand::seq::SliceRandom;

/// One split.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// `len · 3 · S · S` bytes (value/255), sample-major, channels first;
    /// bytes keep all of CelebA (≈200k images) in ~2.5 GB.
    pub images: Vec<u8>,
    /// `len · T` values, sample-major: {0, 1} for binary tasks, real for
    /// regression tasks.
    pub labels: Vec<f32>,
    pub len: usize,
}

/// What a task predicts, which decides its loss and its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// A {0, 1} label: BCE on the logit, F1 and accuracy.
    Binary,
    /// A real target: squared error on the raw output, MSE and R².
    Regression,
}

/// A dataset: task names and kinds, image size, splits and provenance for
/// the checkpoint metadata.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub tasks: Vec<String>,
    /// One per task, in task order.
    pub kinds: Vec<TaskKind>,
    pub image_size: usize,
    pub train: Split,
    pub val: Split,
    pub test: Split,
    /// `key → value` strings recorded under `mtl.dataset_<key>`.
    pub provenance: BTreeMap<String, String>,
}

impl Dataset {
    pub fn image_len(&self) -> usize {
        3 * self.image_size * self.image_size
    }

    /// Names of the regression tasks (none for an all-binary dataset).
    pub fn regression_tasks(&self) -> Vec<String> {
        self.tasks
            .iter()
            .zip(&self.kinds)
            .filter(|(_, k)| **k == TaskKind::Regression)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

impl Split {
    /// Images `[B, 3, S, S]` and labels `[B, T]` of the samples `idx`.
    pub fn batch(
        &self,
        idx: &[usize],
        image_size: usize,
        tasks: usize,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let il = 3 * image_size * image_size;
        let mut images = Vec::with_capacity(idx.len() * il);
        let mut labels = Vec::with_capacity(idx.len() * tasks);
        for &i in idx {
            images.extend(
                self.images[i * il..(i + 1) * il]
                    .iter()
                    .map(|&b| f32::from(b) / 255.0),
            );
            labels.extend_from_slice(&self.labels[i * tasks..(i + 1) * tasks]);
        }
        let b = idx.len();
        Ok((
            Tensor::from_vec(images, (b, 3, image_size, image_size), device)?,
            Tensor::from_vec(labels, (b, tasks), device)?,
        ))
    }

    /// Index batches of one epoch, shuffled by `rng`, the last (short) batch
    /// dropped so batch statistics never come from a handful of samples.
    pub fn epoch_batches<R: rand::Rng>(&self, batch: usize, rng: &mut R) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len).collect();
        order.shuffle(rng);
        order
            .chunks(batch)
            .filter(|c| c.len() == batch)
            .map(|c| c.to_vec())
            .collect()
    }

    /// Index batches in order, the last one short (evaluation).
    pub fn eval_batches(&self, batch: usize) -> Vec<Vec<usize>> {
        (0..self.len)
            .collect::<Vec<_>>()
            .chunks(batch.max(1))
            .map(|c| c.to_vec())
            .collect()
    }
}
