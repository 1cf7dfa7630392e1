//! Task-specific σBN (paper eq. 2–3): per task `t`, batch statistics over
//! (N, H, W) and a bounded gate σ(γ_t) with no bias,
//! `TSσBN(x; γ_t) = σ(γ_t) · x̂`, γ initialised at 0 so σ(γ) = 0.5. Works on
//! 2-D feature maps `[·, C, H, W]` and 1-D features `[·, C]` alike.

use candle_core::{Result, Tensor, Var};

use super::stats::{
    NormParams, TaskLayout, as_blocks, batch_moments, from_blocks, moments, normalise,
};
use crate::vars::Vars;
use mtl_inspect::checkpoint::stacked::StackedParam;

pub struct TsSigmaBn {
    /// Raw gates γ, `[T, C]`.
    pub gamma: Tensor,
    pub running_mean: Var,
    pub running_var: Var,
    pub params: NormParams,
}

impl TsSigmaBn {
    pub fn new(vars: &Vars, tasks: usize, channels: usize, params: NormParams) -> Result<Self> {
        Ok(TsSigmaBn {
            gamma: vars.gate(StackedParam::Gamma.suffix(), (tasks, channels), 0.0)?,
            running_mean: vars.buffer(
                StackedParam::RunningMean.suffix(),
                (tasks, channels),
                0.0,
            )?,
            running_var: vars.buffer(StackedParam::RunningVar.suffix(), (tasks, channels), 1.0)?,
            params,
        })
    }

    /// σ(γ) of `layout`'s tasks as `[tasks, 1, C, 1]`.
    fn gate(&self, layout: TaskLayout) -> Result<Tensor> {
        let gamma = layout.task_rows(&self.gamma)?;
        let (t, c) = gamma.dims2()?;
        candle_nn::ops::sigmoid(&gamma)?.reshape((t, 1, c, 1))
    }

    /// Batched forward: `x` is shared (`N` rows) or task-major (`T·N`
    /// rows, `T` = `layout.tasks`); the result is always task-major.
    pub fn forward(&self, x: &Tensor, layout: TaskLayout, train: bool) -> Result<Tensor> {
        let blocks = layout.blocks(x)?;
        let xb = as_blocks(x, blocks, layout.n)?;
        let (mean, var) = moments(
            &xb,
            &self.running_mean,
            &self.running_var,
            layout,
            train,
            self.params.momentum,
        )?;
        let x_hat = normalise(&xb, &mean, &var, self.params.eps)?;
        let y = x_hat.broadcast_mul(&self.gate(layout)?)?;
        from_blocks(&y, x.dims())
    }

    /// The fused CPU kernel ([`super::fused`]), with the following ReLU
    /// when `relu`; equal to [`forward`](Self::forward) (then ReLU).
    pub fn forward_fused(
        &self,
        x: &Tensor,
        layout: TaskLayout,
        train: bool,
        relu: bool,
    ) -> Result<Tensor> {
        let gamma = layout.task_rows(&self.gamma)?;
        let beta = gamma.zeros_like()?;
        super::fused::forward(
            x,
            &gamma,
            &beta,
            super::fused::Scale::Sigmoid,
            layout,
            train,
            relu,
            self.params,
            &self.running_mean,
            &self.running_var,
        )
    }

    /// The same layer as `T` separate single-task σBN calls, one task at a
    /// time: the reference the batched [`forward`](Self::forward) is tested
    /// against. Training-mode statistics, running estimates untouched.
    pub fn forward_per_task_reference(&self, x: &Tensor, layout: TaskLayout) -> Result<Tensor> {
        let blocks = layout.blocks(x)?;
        let mut outs = Vec::with_capacity(layout.tasks);
        for t in 0..layout.tasks {
            let xt = if blocks == 1 {
                x.clone()
            } else {
                x.narrow(0, t * layout.n, layout.n)?
            };
            let xb = as_blocks(&xt, 1, layout.n)?;
            let (mean, var) = batch_moments(&xb)?;
            let x_hat = normalise(&xb, &mean, &var, self.params.eps)?;
            let c = self.gamma.dim(1)?;
            let g = candle_nn::ops::sigmoid(&self.gamma.narrow(0, t, 1)?)?.reshape((1, 1, c, 1))?;
            outs.push(from_blocks(&x_hat.broadcast_mul(&g)?, xt.dims())?);
        }
        Tensor::cat(&outs, 0)
    }
}
