//! Per-task batch statistics, the normalisation step x̂ of paper eq. 1 and
//! 3, shared by the three norm layers.
//!
//! Activations of `T` tasks run batched: a tensor whose leading dimension is
//! `T·N` holds task `t`'s `N` samples in rows `t·N .. (t+1)·N`. Before the
//! first task-specific layer every task sees the same activations, so a
//! leading dimension of `N` means "shared by all tasks"; statistics are then
//! computed once and broadcast, which is exactly what `T` identical copies
//! would give.

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
    pub tasks: usize,
    /// Samples per task.
    pub n: usize,
}

impl TaskLayout {
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
/// moments of `xb` (and the running statistics are updated), in evaluation
/// the running statistics (`[B, C]` or `[C]`) reshaped to `[B, 1, C, 1]`.
pub fn moments(
    xb: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    train: bool,
    momentum: f64,
) -> Result<(Tensor, Tensor)> {
    if train {
        let (mean, var) = batch_moments(xb)?;
        let count = xb.dim(1)? * xb.dim(3)?;
        update_running(running_mean, running_var, &mean, &var, count, momentum)?;
        Ok((mean, var))
    } else {
        // `[T, C]` per-task or `[C]` shared statistics.
        let c = xb.dim(2)?;
        let b = running_mean.as_tensor().elem_count() / c.max(1);
        Ok((
            running_mean.as_tensor().reshape((b, 1, c, 1))?,
            running_var.as_tensor().reshape((b, 1, c, 1))?,
        ))
    }
}

/// x̂ = (x − μ) / √(σ² + ε) for `[B, N, C, S]` and moments `[B|T, 1, C, 1]`.
pub fn normalise(xb: &Tensor, mean: &Tensor, var: &Tensor, eps: f64) -> Result<Tensor> {
    let inv_std = (var + eps)?.sqrt()?.recip()?;
    xb.broadcast_sub(mean)?.broadcast_mul(&inv_std)
}

/// Running estimates `[T, C]` (or `[C]` for shared BN) updated with the
/// batch moments `[B, 1, C, 1]`; the variance stored is the unbiased one,
/// as PyTorch does, with `count` values per statistic.
pub fn update_running(
    running_mean: &Var,
    running_var: &Var,
    mean: &Tensor,
    var: &Tensor,
    count: usize,
    momentum: f64,
) -> Result<()> {
    let shape = running_mean.shape().clone();
    let c = mean.dim(2)?;
    let b = mean.dim(0)?;
    let unbias = if count > 1 {
        count as f64 / (count as f64 - 1.0)
    } else {
        1.0
    };
    let target_rows = shape.elem_count() / c;
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
    let m = m.reshape(shape.clone())?;
    let v = v.reshape(shape)?;
    let new_mean = ((running_mean.as_tensor() * (1.0 - momentum))? + (m * momentum)?)?;
    let new_var = ((running_var.as_tensor() * (1.0 - momentum))? + (v * momentum)?)?;
    running_mean.set(&new_mean.detach())?;
    running_var.set(&new_var.detach())?;
    Ok(())
}

/// Restores the layout of `x` for a `[B, N, C, S]` result.
pub fn from_blocks(y: &Tensor, x_dims: &[usize]) -> Result<Tensor> {
    let rows = y.dim(0)? * y.dim(1)?;
    let mut dims = x_dims.to_vec();
    dims[0] = rows;
    y.reshape(dims)
}
