//! Per-task gradients of the shared weights, g_t = ∇_W (L_t / T), where
//! L_t is task t's mean BCE over the batch and the training loss is
//! (1/T) Σ_t L_t, so Σ_t g_t is the gradient the optimiser sees.
//!
//! **Folded, one backward pass** (TSσBN, TSBN). With task-specific norms
//! the trunk is folded: task t owns rows t·N..(t+1)·N of every activation
//! after the first norm layer, and those rows reach only task t's logits.
//! A shared weight W enters through one op over all rows, so its gradient
//! is a sum of row-block terms, the term of block t being ∂L/∂W restricted
//! to task t's rows, which is g_t: for a convolution (im2col + matmul,
//! [`crate::layers::conv`]) dW = Σ_t dY_tᵀ · col_t, for a linear layer
//! dW = Σ_t dY_tᵀ · X_t. The first convolution runs before the fold on
//! shared rows, where the tasks' gradients already arrive summed; the
//! diagnostic pass therefore feeds the trunk T task-major copies of the
//! images ([`ForwardTap::fold_input`]), which leaves every value unchanged
//! (each task's first norm layer still normalises the same N samples) and
//! makes the first convolution's rows per-task too. dY of each op is read
//! from a zero-valued probe variable added to its output (candle's backward
//! keeps the gradients of variables only). Cost: one forward and one
//! backward over T·N rows (the first convolution T times), plus a batched
//! matmul per shared op.
//!
//! **Separate passes** (shared BN, hard parameter sharing). The batch
//! statistics of a shared BN couple all rows, so no row split gives ∇L_t:
//! one forward, then T backward passes, one per L_t / T. This is also the
//! reference the folded pass is tested against (`tests/task_grads.rs`).
//!
//! Task-specific parameters (norm gates, heads) are not in the result:
//! row t of their gradient is task t's and the other rows are zero.
//! Both functions compute in training mode (batch statistics, as a
//! training step) and restore the running statistics afterwards.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, TensorId, Var, bail};

use crate::layers::conv::Im2Col;
use crate::models::{ForwardTap, MultiTaskNet, SharedOp};
use crate::vars::{ParamGroupKind, ParamStore};

/// How the per-task gradients were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradMethod {
    /// One backward pass, split by task row blocks.
    Folded,
    /// T backward passes, one per task loss.
    SeparatePasses,
}

impl GradMethod {
    pub fn name(self) -> &'static str {
        match self {
            GradMethod::Folded => "folded",
            GradMethod::SeparatePasses => "separate_passes",
        }
    }
}

/// One shared weight tensor and its per-task gradients.
#[derive(Debug, Clone)]
pub struct SharedGrads {
    /// The variable's name, e.g. `features.1.conv.weight`.
    pub name: String,
    pub op: SharedOp,
    /// `[T, …weight shape]`: row t is g_t.
    pub per_task: Tensor,
    /// The gradient of the whole loss from the same pass (autograd's own sum).
    pub full: Tensor,
}

/// Per-task gradients of every shared weight for one batch.
#[derive(Debug, Clone)]
pub struct TaskGradients {
    pub method: GradMethod,
    /// Depth order.
    pub layers: Vec<SharedGrads>,
    /// L_t, each task's mean BCE over the batch.
    pub task_losses: Vec<f64>,
}

/// BCE on logits `[N, T]` averaged over the N samples: `[T]`, each task's
/// L_t; their mean is `models::loss::bce_with_logits`.
pub fn per_task_bce(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let per = ((logits.relu()? - (logits * targets)?)? + softplus_neg_abs)?;
    per.mean(0)
}

/// Per-task gradients by the cheapest exact method for `net`'s norm.
pub fn task_gradients(
    net: &MultiTaskNet,
    store: &ParamStore,
    images: &Tensor,
    labels: &Tensor,
) -> Result<TaskGradients> {
    if net.norm.is_task_specific() {
        folded(net, store, images, labels)
    } else {
        separate_passes(net, store, images, labels)
    }
}

/// What a tap saw at one shared op.
struct Seen {
    weight: Tensor,
    op: SharedOp,
    input: Tensor,
    probe: Option<Var>,
}

/// Records the shared ops; with `probes`, adds a zero variable to each
/// op's output so that the backward pass keeps dY.
struct Recorder {
    probes: bool,
    seen: Vec<Seen>,
}

impl ForwardTap for Recorder {
    fn fold_input(&self) -> bool {
        self.probes
    }

    fn shared_op(
        &mut self,
        weight: &Tensor,
        op: SharedOp,
        input: &Tensor,
        output: Tensor,
    ) -> Result<Tensor> {
        let (out, probe) = if self.probes {
            let probe = Var::zeros(output.shape(), output.dtype(), output.device())?;
            ((output + probe.as_tensor())?, Some(probe))
        } else {
            (output, None)
        };
        self.seen.push(Seen {
            weight: weight.clone(),
            op,
            input: input.detach(),
            probe,
        });
        Ok(out)
    }
}

/// The running statistics, to be put back after a training-mode pass.
fn snapshot_buffers(store: &ParamStore) -> Result<Vec<(Var, Tensor)>> {
    store
        .sorted(ParamGroupKind::Buffers)
        .into_iter()
        .map(|(_, v)| {
            let t = v.as_tensor().copy()?;
            Ok((v, t))
        })
        .collect()
}

fn restore_buffers(saved: Vec<(Var, Tensor)>) -> Result<()> {
    for (v, t) in saved {
        v.set(&t)?;
    }
    Ok(())
}

fn weight_name(store: &ParamStore, id: TensorId) -> Result<String> {
    store
        .sorted(ParamGroupKind::Weights)
        .into_iter()
        .find(|(_, v)| v.as_tensor().id() == id)
        .map(|(n, _)| n)
        .ok_or_else(|| candle_core::Error::Msg("a shared op's weight is not in the store".into()))
}

fn grad_or_zeros(grads: &GradStore, t: &Tensor) -> Result<Tensor> {
    match grads.get(t) {
        Some(g) => Ok(g.clone()),
        None => t.zeros_like(),
    }
}

fn losses(per_task: &Tensor) -> Result<Vec<f64>> {
    per_task.to_dtype(DType::F64)?.to_vec1::<f64>()
}

/// One forward over T folded copies and one backward; g_t from task t's
/// row block of each shared op.
pub fn folded(
    net: &MultiTaskNet,
    store: &ParamStore,
    images: &Tensor,
    labels: &Tensor,
) -> Result<TaskGradients> {
    if !net.norm.is_task_specific() {
        bail!(
            "per-task gradients in one pass need task-specific norms; {} shares its batch statistics across tasks (use separate_passes)",
            net.norm
        );
    }
    let tasks = net.tasks;
    let saved = snapshot_buffers(store)?;
    let mut rec = Recorder {
        probes: true,
        seen: Vec::new(),
    };
    let logits = net.forward_tapped(images, true, &mut rec)?;
    let per_task = per_task_bce(&logits, labels)?;
    let loss = (per_task.sum_all()? / tasks as f64)?;
    let grads = loss.backward()?;
    restore_buffers(saved)?;
    let mut layers = Vec::with_capacity(rec.seen.len());
    for s in &rec.seen {
        let Some(probe) = &s.probe else {
            bail!("internal: a folded pass without a probe");
        };
        let dy = grad_or_zeros(&grads, probe.as_tensor())?;
        let per = split_by_task(&s.input, &dy, &s.weight, s.op, tasks)?;
        layers.push(SharedGrads {
            name: weight_name(store, s.weight.id())?,
            op: s.op,
            per_task: per,
            full: grad_or_zeros(&grads, &s.weight)?,
        });
    }
    Ok(TaskGradients {
        method: GradMethod::Folded,
        layers,
        task_losses: losses(&per_task)?,
    })
}

/// dW_t = dY_tᵀ · X_t for each task row block: `[T, …weight shape]`.
fn split_by_task(
    input: &Tensor,
    dy: &Tensor,
    weight: &Tensor,
    op: SharedOp,
    tasks: usize,
) -> Result<Tensor> {
    let rows = input.dim(0)?;
    if rows % tasks != 0 || dy.dim(0)? != rows {
        bail!(
            "split_by_task: {rows} input rows, {} gradient rows, {tasks} tasks",
            dy.dim(0)?
        );
    }
    let n = rows / tasks;
    let (x, dy) = match op {
        SharedOp::Conv { stride, pad } => {
            let (_, _, k, _) = weight.dims4()?;
            // im2col is a CPU kernel; a diagnostic can afford the copy.
            let cols = input
                .to_device(&Device::Cpu)?
                .contiguous()?
                .apply_op1(Im2Col { k, stride, pad })?;
            let (_, ho, wo, kk) = cols.dims4()?;
            let o = dy.dim(1)?;
            let cols = cols.reshape((tasks, n * ho * wo, kk))?;
            let dy = dy
                .to_device(&Device::Cpu)?
                .permute((0, 2, 3, 1))?
                .contiguous()?
                .reshape((tasks, n * ho * wo, o))?;
            (cols, dy)
        }
        SharedOp::Linear => {
            let (_, fi) = input.dims2()?;
            let (_, fo) = dy.dims2()?;
            (
                input.to_device(&Device::Cpu)?.reshape((tasks, n, fi))?,
                dy.to_device(&Device::Cpu)?.reshape((tasks, n, fo))?,
            )
        }
    };
    let dw = dy.transpose(1, 2)?.contiguous()?.matmul(&x.contiguous()?)?;
    let mut shape = vec![tasks];
    shape.extend_from_slice(weight.dims());
    dw.reshape(shape)?.to_device(weight.device())
}

/// One forward, then one backward pass per task loss L_t / T (and one for
/// the whole loss); valid for every norm.
pub fn separate_passes(
    net: &MultiTaskNet,
    store: &ParamStore,
    images: &Tensor,
    labels: &Tensor,
) -> Result<TaskGradients> {
    let tasks = net.tasks;
    let saved = snapshot_buffers(store)?;
    let mut rec = Recorder {
        probes: false,
        seen: Vec::new(),
    };
    let logits = net.forward_tapped(images, true, &mut rec)?;
    let per_task = per_task_bce(&logits, labels)?;
    let mut per: Vec<Vec<Tensor>> = vec![Vec::with_capacity(tasks); rec.seen.len()];
    for t in 0..tasks {
        let lt = (per_task.get(t)? / tasks as f64)?;
        let grads = lt.backward()?;
        for (slot, s) in per.iter_mut().zip(&rec.seen) {
            slot.push(grad_or_zeros(&grads, &s.weight)?);
        }
    }
    let full_grads = (per_task.sum_all()? / tasks as f64)?.backward()?;
    restore_buffers(saved)?;
    let mut layers = Vec::with_capacity(rec.seen.len());
    for (s, g) in rec.seen.iter().zip(per) {
        layers.push(SharedGrads {
            name: weight_name(store, s.weight.id())?,
            op: s.op,
            per_task: Tensor::stack(&g, 0)?,
            full: grad_or_zeros(&full_grads, &s.weight)?,
        });
    }
    Ok(TaskGradients {
        method: GradMethod::SeparatePasses,
        layers,
        task_losses: losses(&per_task)?,
    })
}
