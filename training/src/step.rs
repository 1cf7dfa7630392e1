//! One optimiser step of a multi-task network: forward, backward and one
//! update, over all tasks at once or over chunks of K tasks
//! (`--task-chunk K`): each chunk is run forward and backward on its own,
//! the gradients are summed, and the optimiser steps once on the sum.
//!
//! Why chunks are exact: the loss (paper §4, equal task weights) is the
//! mean over tasks of each task's mean loss, and with task-specific norms
//! tasks share nothing but the trunk's weights: each task's activations,
//! batch statistics, norm parameters and head are its own. A chunk's mean
//! loss scaled by K_c / T (K_c its number of tasks) is its share of the
//! full loss, so the chunks' gradients sum to the full gradient; only the
//! order of float additions differs. Parameters of tasks outside a chunk get
//! zero gradient from it, and the optimiser (Adam's moments included) sees
//! the summed gradient once. The activations held at once scale with K
//! instead of T; the shared part before the first norm layer (the first
//! convolution on the N input images) runs once per chunk.
//!
//! Shared BN is never chunked: its trunk has N rows whatever T is (only the
//! `[N, T]` logits grow with T), so chunks would save nothing, and each
//! chunk would rerun the whole trunk and fold its batch statistics into the
//! running estimates again, once per chunk instead of once per step.

use std::ops::Range;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, bail};

use crate::models::MultiTaskNet;
use crate::models::loss::multi_task_loss;
use crate::optim::Optimizer;

/// The task ranges a step runs: `0..K, K..2K, …, ..T` (the last may be
/// shorter), or the single range `0..T` when `chunk` is `None` or ≥ T.
pub fn task_chunks(tasks: usize, chunk: Option<usize>) -> Vec<Range<usize>> {
    let k = chunk.unwrap_or(tasks).clamp(1, tasks.max(1));
    (0..tasks)
        .step_by(k)
        .map(|a| a..(a + k).min(tasks))
        .collect()
}

/// The chunk size a step of `net` really uses: `chunk` for task-specific
/// norms, `None` (all tasks at once) for shared BN (see the module notes).
pub fn effective_chunk(net: &MultiTaskNet, chunk: Option<usize>) -> Option<usize> {
    chunk.filter(|_| net.norm.is_task_specific())
}

/// The training loss (the mean over samples and tasks of
/// [`multi_task_loss`]) of `images` `[N, C, H, W]` against `targets`
/// `[N, T]` and its gradients, computed `chunk` tasks at a time and summed.
/// `regression` flags each task's kind (length T).
pub fn loss_and_grads(
    net: &MultiTaskNet,
    images: &Tensor,
    targets: &Tensor,
    regression: &[bool],
    chunk: Option<usize>,
) -> Result<(f64, GradStore)> {
    let t = net.tasks;
    if regression.len() != t || targets.dim(1)? != t {
        bail!(
            "{} task kinds and {} target columns for a model of {t} tasks",
            regression.len(),
            targets.dim(1)?
        );
    }
    let chunks = task_chunks(t, effective_chunk(net, chunk));
    if let [all] = chunks.as_slice()
        && all.len() == t
    {
        // Unchunked: the plain loss, no rescaling.
        let loss = multi_task_loss(&net.forward(images, true)?, targets, regression)?;
        let mut grads = loss.backward()?;
        detach_all(&mut grads);
        return Ok((scalar(&loss)?, grads));
    }
    let mut total = 0.0;
    let mut sum: Option<GradStore> = None;
    for range in chunks {
        let share = range.len() as f64 / t as f64;
        let logits = net.forward_tasks(images, true, range.clone())?;
        let y = targets.narrow(1, range.start, range.len())?;
        let loss = (multi_task_loss(&logits, &y, &regression[range])? * share)?;
        let mut grads = loss.backward()?;
        total += scalar(&loss)?;
        // The chunk's graph (its activations) is freed here, before the next
        // chunk is built: nothing else refers to it once the gradients are
        // detached.
        detach_all(&mut grads);
        drop((logits, loss));
        sum = Some(match sum {
            None => grads,
            Some(mut acc) => {
                add_grads(&mut acc, &grads)?;
                acc
            }
        });
    }
    match sum {
        Some(grads) => Ok((total, grads)),
        None => bail!("a model with no tasks has no loss"),
    }
}

/// The value of a scalar loss of any float dtype.
fn scalar(loss: &Tensor) -> Result<f64> {
    loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()
}

/// Cuts every gradient in `grads` from the graph. candle's backward pass
/// returns a variable's gradient as the result of ops on forward tensors
/// (the gradient of `a · b` is `grad · b`), so an undetached store keeps the
/// whole forward graph, every activation of the chunk, alive as long as it
/// lives (measured: +0.8 GB per CelebA-CNN chunk of one task at batch 32).
fn detach_all(grads: &mut GradStore) {
    let ids: Vec<_> = grads.get_ids().copied().collect();
    for id in ids {
        if let Some(g) = grads.get_id(id) {
            let g = g.detach();
            grads.insert_id(id, g);
        }
    }
}

/// `acc += more`, tensor by tensor (a tensor missing from `acc` is taken
/// as zero).
fn add_grads(acc: &mut GradStore, more: &GradStore) -> Result<()> {
    let ids: Vec<_> = more.get_ids().copied().collect();
    for id in ids {
        let Some(g) = more.get_id(id) else { continue };
        let summed = match acc.get_id(id) {
            Some(a) => (a + g)?,
            None => g.clone(),
        };
        acc.insert_id(id, summed);
    }
    Ok(())
}

/// One training step: [`loss_and_grads`], then one `opt` update. Returns
/// the loss before the update.
pub fn train_step(
    net: &MultiTaskNet,
    opt: &mut Optimizer,
    images: &Tensor,
    targets: &Tensor,
    regression: &[bool],
    chunk: Option<usize>,
) -> Result<f64> {
    let (loss, grads) = loss_and_grads(net, images, targets, regression, chunk)?;
    opt.step(&grads)?;
    Ok(loss)
}
