//! Per-task batch statistics, the normalisation step x̂ of paper eq. 1 and
//! 3, shared by the three norm layers.
//!
//! Activations of `T` tasks run batched: a tensor whose leading dimension is
//! `T·N` holds task `t`'s `N` samples in rows `t·N .. (t+1)·N`. Before the
//! first task-specific layer every task sees the same activations, so a
//! leading dimension of `N` means "shared by all tasks"; statistics are then
//! computed once and broadcast, which is exactly what `T` identical copies
//! would give.
//!
//! A layout may also cover a chunk of the tasks (`--task-chunk`, see
//! [`crate::step`]): `tasks` tasks starting at task `first`. Each layer then
//! reads its parameters' and running statistics' rows `first .. first +
//! tasks` ([`TaskLayout::task_rows`]) and updates only those running rows,
//! so a chunk's forward equals the same tasks' slice of the full forward.

use candle_core::{D, Result, Tensor, Var};

/// Batch-norm hyper-parameters (PyTorch's defaults).
#[derive(Debug, Clone, Copy)]
pub struct NormParams {
    pub eps: f64,
    /// Weight of the new batch statistic in the running estimate.
    pub momentum: f64,
}

impl Default for NormParams {
    fn default() -> Self {
        NormParams {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

/// How the rows of an activation tensor map to tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLayout {
    /// Tasks in these rows: all `T` of the model, or a chunk of them.
    pub tasks: usize,
    /// Samples per task.
    pub n: usize,
    /// The model's index of the first of these tasks (0 unless a chunk).
    pub first: usize,
}

impl TaskLayout {
    /// All `tasks` tasks of the model, `n` samples each.
    pub fn all(tasks: usize, n: usize) -> Self {
        TaskLayout { tasks, n, first: 0 }
    }

    /// Rows `first .. first + tasks` of a per-task `[T, …]` tensor (the
    /// tensor itself when the layout covers all its rows). Narrowing keeps
    /// the autograd path: the rows of tasks outside a chunk get zero
    /// gradient from it.
    pub fn task_rows(&self, per_task: &Tensor) -> Result<Tensor> {
        let rows = per_task.dim(0)?;
        if self.first == 0 && rows == self.tasks {
            return Ok(per_task.clone());
        }
        if self.first + self.tasks > rows {
            candle_core::bail!(
                "tasks {}..{} are outside a per-task tensor of {rows} rows",
                self.first,
                self.first + self.tasks
            );
        }
        per_task.narrow(0, self.first, self.tasks)
    }

    /// How many task blocks `x` holds: 1 when it is still shared, `T` when
    /// it is task-specific.
    pub fn blocks(&self, x: &Tensor) -> Result<usize> {
        let rows = x.dim(0)?;
        if rows == self.n {
            Ok(1)
        } else if rows == self.n * self.tasks {
            Ok(self.tasks)
        } else {
            candle_core::bail!(
                "activation has {rows} rows; expected {} (shared) or {} ({} tasks × {})",
                self.n,
                self.n * self.tasks,
                self.tasks,
                self.n
            )
        }
    }
}

/// `x` reshaped to `[blocks, N, C, S]` (S = H·W, or 1 for features).
pub fn as_blocks(x: &Tensor, blocks: usize, n: usize) -> Result<Tensor> {
    let c = x.dim(1)?;
    let s: usize = x.dims()[2..].iter().product();
    x.reshape((blocks, n, c, s))
}

/// Batch mean and biased variance of `[B, N, C, S]` over N and S, each
/// `[B, 1, C, 1]`.
pub fn batch_moments(xb: &Tensor) -> Result<(Tensor, Tensor)> {
    let mean = xb.mean_keepdim(1)?.mean_keepdim(D::Minus1)?;
    let centred = xb.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(1)?.mean_keepdim(D::Minus1)?;
    Ok((mean, var))
}

/// The moments a norm layer normalises with: in training the batch
/// moments of `xb` (and the running statistics of `layout`'s tasks are
/// updated), in evaluation the running statistics of `layout`'s tasks
/// (`[T, C]` per task, or `[C]` shared) as `[tasks | 1, 1, C, 1]`.
pub fn moments(
    xb: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    layout: TaskLayout,
    train: bool,
    momentum: f64,
) -> Result<(Tensor, Tensor)> {
    if train {
        let (mean, var) = batch_moments(xb)?;
        let count = xb.dim(1)? * xb.dim(3)?;
        update_running(
            running_mean,
            running_var,
            &mean,
            &var,
            count,
            momentum,
            layout,
        )?;
        Ok((mean, var))
    } else {
        let c = xb.dim(2)?;
        let rows = |v: &Var| -> Result<Tensor> {
            let r = running_rows(v, c, layout)?;
            let b = r.dim(0)?;
            r.reshape((b, 1, c, 1))
        };
        Ok((rows(running_mean)?, rows(running_var)?))
    }
}

/// The running statistic `v` of `layout`'s tasks as `[tasks, C]`, or `[1, C]`
/// when `v` is one shared `[C]` statistic.
pub fn running_rows(v: &Var, channels: usize, layout: TaskLayout) -> Result<Tensor> {
    let rows = v.as_tensor().elem_count() / channels.max(1);
    let all = v.as_tensor().reshape((rows, channels))?;
    if rows == 1 {
        Ok(all)
    } else {
        layout.task_rows(&all)
    }
}

/// x̂ = (x − μ) / √(σ² + ε) for `[B, N, C, S]` and moments `[B|T, 1, C, 1]`.
pub fn normalise(xb: &Tensor, mean: &Tensor, var: &Tensor, eps: f64) -> Result<Tensor> {
    let inv_std = (var + eps)?.sqrt()?.recip()?;
    xb.broadcast_sub(mean)?.broadcast_mul(&inv_std)
}

/// Running estimates `[T, C]` (or `[C]` for shared BN) updated with the
/// batch moments `[B, 1, C, 1]`; the variance stored is the unbiased one,
/// as PyTorch does, with `count` values per statistic. Of per-task
/// estimates only `layout`'s rows change, so each task's rows move once a
/// step however the tasks are chunked.
pub fn update_running(
    running_mean: &Var,
    running_var: &Var,
    mean: &Tensor,
    var: &Tensor,
    count: usize,
    momentum: f64,
    layout: TaskLayout,
) -> Result<()> {
    let shape = running_mean.shape().clone();
    let c = mean.dim(2)?;
    let b = mean.dim(0)?;
    let unbias = if count > 1 {
        count as f64 / (count as f64 - 1.0)
    } else {
        1.0
    };
    let all_rows = shape.elem_count() / c;
    // Shared estimates have one row; per-task ones are updated on the
    // layout's rows only.
    let target_rows = if all_rows == 1 { 1 } else { layout.tasks };
    let m = mean.detach().reshape((b, c))?;
    let v = (var.detach().reshape((b, c))? * unbias)?;
    let (m, v) = if b == target_rows {
        (m, v)
    } else {
        (
            m.broadcast_as((target_rows, c))?,
            v.broadcast_as((target_rows, c))?,
        )
    };
    let update = |running: &Var, batch: Tensor| -> Result<()> {
        let old = running_rows(running, c, layout)?;
        let new = ((old * (1.0 - momentum))? + (batch * momentum)?)?;
        let full = if target_rows == all_rows {
            new
        } else {
            let all = running.as_tensor().reshape((all_rows, c))?;
            all.slice_assign(&[layout.first..layout.first + target_rows, 0..c], &new)?
        };
        running.set(&full.reshape(shape.clone())?.detach())
    };
    update(running_mean, m)?;
    update(running_var, v)
}

/// Restores the layout of `x` for a `[B, N, C, S]` result.
pub fn from_blocks(y: &Tensor, x_dims: &[usize]) -> Result<Tensor> {
    let rows = y.dim(0)? * y.dim(1)?;
    let mut dims = x_dims.to_vec();
    dims[0] = rows;
    y.reshape(dims)
}
