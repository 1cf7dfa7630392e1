//! Shared batch norm (paper eq. 1) for hard parameter sharing (HPS): one
//! affine BN per layer for all tasks, so activations stay shared (`N`
//! rows) through the whole trunk. Its parameters are ordinary weights named
//! as PyTorch names them (`weight`, `bias`), not task-specific gates: they
//! live in the weight group ([`Vars::constant_weight`]), so they train at
//! the base learning rate with the convolutions' weight decay, not at α·lr
//! (issue 22: they were gates before, trained at 100·lr without decay,
//! which no PyTorch HPS baseline does).

use candle_core::{Result, Tensor, Var};

use super::stats::{NormParams, TaskLayout, as_blocks, from_blocks, moments, normalise};
use crate::vars::Vars;

pub struct SharedBn {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Var,
    pub running_var: Var,
    pub params: NormParams,
}

impl SharedBn {
    pub fn new(vars: &Vars, channels: usize, params: NormParams) -> Result<Self> {
        Ok(SharedBn {
            weight: vars.constant_weight("weight", channels, 1.0)?,
            bias: vars.constant_weight("bias", channels, 0.0)?,
            running_mean: vars.buffer("running_mean", channels, 0.0)?,
            running_var: vars.buffer("running_var", channels, 1.0)?,
            params,
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let c = self.weight.dim(0)?;
        let n = x.dim(0)?;
        let xb = as_blocks(x, 1, n)?;
        let (mean, var) = moments(
            &xb,
            &self.running_mean,
            &self.running_var,
            TaskLayout::all(1, n),
            train,
            self.params.momentum,
        )?;
        let x_hat = normalise(&xb, &mean, &var, self.params.eps)?;
        let y = x_hat
            .broadcast_mul(&self.weight.reshape((1, 1, c, 1))?)?
            .broadcast_add(&self.bias.reshape((1, 1, c, 1))?)?;
        from_blocks(&y, x.dims())
    }

    /// The fused CPU kernel (one task block), with the following ReLU when
    /// `relu`.
    pub fn forward_fused(&self, x: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let c = self.weight.dim(0)?;
        let layout = TaskLayout::all(1, x.dim(0)?);
        super::fused::forward(
            x,
            &self.weight.reshape((1, c))?,
            &self.bias.reshape((1, c))?,
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
