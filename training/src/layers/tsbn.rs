//! Task-specific affine BN (TSBN), the baseline of paper §6–7: per task,
//! batch statistics as in eq. 3 and a free affine map `γ_t · x̂ + β_t`
//! (eq. 1 with task-specific γ, β), γ initialised at 1 and β at 0.

use candle_core::{Result, Tensor, Var};

use super::stats::{NormParams, TaskLayout, as_blocks, from_blocks, moments, normalise};
use crate::vars::Vars;
use mtl_inspect::checkpoint::stacked::StackedParam;

pub struct Tsbn {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub running_mean: Var,
    pub running_var: Var,
    pub params: NormParams,
}

impl Tsbn {
    pub fn new(vars: &Vars, tasks: usize, channels: usize, params: NormParams) -> Result<Self> {
        Ok(Tsbn {
            gamma: vars.gate(StackedParam::Gamma.suffix(), (tasks, channels), 1.0)?,
            beta: vars.gate(StackedParam::Beta.suffix(), (tasks, channels), 0.0)?,
            running_mean: vars.buffer(
                StackedParam::RunningMean.suffix(),
                (tasks, channels),
                0.0,
            )?,
            running_var: vars.buffer(StackedParam::RunningVar.suffix(), (tasks, channels), 1.0)?,
            params,
        })
    }

    /// Batched forward; see [`super::TsSigmaBn::forward`] for the layout.
    pub fn forward(&self, x: &Tensor, layout: TaskLayout, train: bool) -> Result<Tensor> {
        let gamma = layout.task_rows(&self.gamma)?;
        let beta = layout.task_rows(&self.beta)?;
        let (t, c) = gamma.dims2()?;
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
        let y = x_hat
            .broadcast_mul(&gamma.reshape((t, 1, c, 1))?)?
            .broadcast_add(&beta.reshape((t, 1, c, 1))?)?;
        from_blocks(&y, x.dims())
    }

    /// The fused CPU kernel, with the following ReLU when `relu`.
    pub fn forward_fused(
        &self,
        x: &Tensor,
        layout: TaskLayout,
        train: bool,
        relu: bool,
    ) -> Result<Tensor> {
        super::fused::forward(
            x,
            &layout.task_rows(&self.gamma)?,
            &layout.task_rows(&self.beta)?,
            super::fused::Scale::Identity,
            layout,
            train,
            relu,
            self.params,
            &self.running_mean,
            &self.running_var,
        )
    }
}
