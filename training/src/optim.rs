//! Adam and SGD with momentum over parameter groups: the trunk, the heads
//! and shared BN (HPS) at the base learning rate, the task-specific norm
//! parameters (TSσBN, TSBN) at α times it and never weight-decayed (paper §4 "Discriminative learning rates",
//! §7.1, App. F.1). Weight decay is the L2 term PyTorch's `Adam`/`SGD`
//! add to the gradient.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

use crate::vars::{ParamGroupKind, ParamStore};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    Adam { beta1: f64, beta2: f64, eps: f64 },
    Sgd { momentum: f64 },
}

impl OptimizerKind {
    pub fn adam() -> Self {
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Adam { .. } => "adam",
            OptimizerKind::Sgd { .. } => "sgd",
        }
    }
}

/// Variables updated with one learning rate and weight decay.
pub struct ParamGroup {
    pub name: &'static str,
    pub vars: Vec<(String, Var)>,
    pub lr_mult: f64,
    pub weight_decay: f64,
}

/// The two groups every model trains with: the trunk, heads and shared BN
/// (`ParamGroupKind::Weights`) at the base learning rate with
/// `weight_decay`, and the task-specific norm layers' parameters
/// (`ParamGroupKind::Gates`) at `alpha` times it with no weight decay. HPS
/// has no task-specific norm, so its gate group is empty and α does
/// nothing. Buffers are never optimised.
pub fn param_groups(store: &ParamStore, alpha: f64, weight_decay: f64) -> Vec<ParamGroup> {
    vec![
        ParamGroup {
            name: "weights",
            vars: store.sorted(ParamGroupKind::Weights),
            lr_mult: 1.0,
            weight_decay,
        },
        ParamGroup {
            name: "gates",
            vars: store.sorted(ParamGroupKind::Gates),
            lr_mult: alpha,
            weight_decay: 0.0,
        },
    ]
}

struct Slot {
    m: Tensor,
    v: Option<Tensor>,
}

pub struct Optimizer {
    kind: OptimizerKind,
    lr: f64,
    groups: Vec<ParamGroup>,
    state: Vec<Vec<Slot>>,
    step: u64,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, lr: f64, groups: Vec<ParamGroup>) -> Result<Self> {
        let mut state = Vec::with_capacity(groups.len());
        for g in &groups {
            let mut slots = Vec::with_capacity(g.vars.len());
            for (_, var) in &g.vars {
                let zeros = var.as_tensor().zeros_like()?;
                let v = match kind {
                    OptimizerKind::Adam { .. } => Some(zeros.clone()),
                    OptimizerKind::Sgd { .. } => None,
                };
                slots.push(Slot { m: zeros, v });
            }
            state.push(slots);
        }
        Ok(Optimizer {
            kind,
            lr,
            groups,
            state,
            step: 0,
        })
    }

    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// One update from `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        for (g, slots) in self.groups.iter().zip(self.state.iter_mut()) {
            let lr = self.lr * g.lr_mult;
            for ((_, var), slot) in g.vars.iter().zip(slots.iter_mut()) {
                let Some(grad) = grads.get(var.as_tensor()) else {
                    continue;
                };
                let theta = var.as_tensor().detach();
                let grad = if g.weight_decay > 0.0 {
                    (grad + (&theta * g.weight_decay)?)?
                } else {
                    grad.clone()
                };
                let new = match (self.kind, slot.v.as_mut()) {
                    (OptimizerKind::Adam { beta1, beta2, eps }, Some(v)) => {
                        slot.m = ((&slot.m * beta1)? + (&grad * (1.0 - beta1))?)?;
                        *v = ((&*v * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
                        let m_hat = (&slot.m / (1.0 - beta1.powi(t)))?;
                        let v_hat = (&*v / (1.0 - beta2.powi(t)))?;
                        let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
                        (theta - (update * lr)?)?
                    }
                    (OptimizerKind::Sgd { momentum }, _) => {
                        slot.m = if self.step == 1 {
                            grad
                        } else {
                            ((&slot.m * momentum)? + grad)?
                        };
                        (theta - (&slot.m * lr)?)?
                    }
                    (OptimizerKind::Adam { .. }, None) => {
                        candle_core::bail!("optimizer state lost its second moment")
                    }
                };
                var.set(&new)?;
            }
        }
        Ok(())
    }

    /// The optimiser state as named tensors (`<group>.<var>.m|v`), plus
    /// the step count, for `--resume`.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (g, slots) in self.groups.iter().zip(&self.state) {
            for ((name, _), slot) in g.vars.iter().zip(slots) {
                out.push((format!("{name}.opt_m"), slot.m.clone()));
                if let Some(v) = &slot.v {
                    out.push((format!("{name}.opt_v"), v.clone()));
                }
            }
        }
        out
    }

    /// Restores what [`state_tensors`](Self::state_tensors) saved.
    pub fn load_state(&mut self, step: u64, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        for (g, slots) in self.groups.iter().zip(self.state.iter_mut()) {
            for ((name, _), slot) in g.vars.iter().zip(slots.iter_mut()) {
                let m_name = format!("{name}.opt_m");
                let m = get(&m_name).ok_or_else(|| {
                    candle_core::Error::Msg(format!("optimizer state '{m_name}' missing"))
                })?;
                slot.m = m.reshape(slot.m.shape())?;
                if let Some(v) = slot.v.as_mut() {
                    let v_name = format!("{name}.opt_v");
                    let t = get(&v_name).ok_or_else(|| {
                        candle_core::Error::Msg(format!("optimizer state '{v_name}' missing"))
                    })?;
                    *v = t.reshape(v.shape())?;
                }
            }
        }
        self.step = step;
        Ok(())
    }
}
