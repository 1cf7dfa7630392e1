//! A model's task-specific gates as a task × filter importance matrix
//! (paper 000 §5: I_{t,i} = σ(γ_{t,i}) for TSσBN; |γ| for TSBN, as
//! mtl-inspect reads TSBN checkpoints), and switching filters off by
//! setting gates to 0 — γ = −∞ (σ = 0) for TSσBN, γ = β = 0 for TSBN — so
//! the filter's normalised output is multiplied by 0. Filters are numbered
//! in depth order over the norm layers (`mtl.layers`), channels within a
//! layer.
//!
//! Whose gates: task c's logits depend on task c's gates only (each task's
//! path after the fork is its own), so switching off only task r's gates
//! leaves every other task exactly unchanged. The pruning experiment of
//! paper 000 (§5.3, Fig. 4 right, non-zero off-diagonal drops) removes the
//! filters themselves: every task's gate of the filter goes to 0, which for
//! task r is the same as switching off its own gates (`tests/pruning.rs`).

use anyhow::{Result, anyhow, bail};
use candle_core::{DType, Tensor, Var};
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::stacked::StackedParam;

use crate::layers::NormKind;
use crate::vars::{ParamGroupKind, ParamStore};

/// One filter: its norm layer and channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRef {
    pub layer: String,
    pub channel: usize,
}

/// The gate tensors of every task-specific norm layer, in depth order.
pub struct TaskGates {
    pub norm: NormKind,
    pub tasks: usize,
    layers: Vec<GateLayer>,
}

struct GateLayer {
    name: String,
    channels: usize,
    gamma: Var,
    /// TSBN's shift.
    beta: Option<Var>,
}

fn find(store: &ParamStore, name: &str) -> Option<Var> {
    store
        .sorted(ParamGroupKind::Gates)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

impl TaskGates {
    /// The gates of `layers` (the model's norm layers); `None` for shared
    /// BN, which has none.
    pub fn of(
        store: &ParamStore,
        norm: NormKind,
        layers: &[String],
        tasks: usize,
    ) -> Result<Option<TaskGates>> {
        if !norm.is_task_specific() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(layers.len());
        for layer in layers {
            let gname = StackedParam::Gamma.tensor_name(layer);
            let gamma = find(store, &gname).ok_or_else(|| anyhow!("the model has no '{gname}'"))?;
            let (t, c) = gamma.as_tensor().dims2()?;
            if t != tasks {
                bail!("'{gname}' has {t} task rows, the model {tasks} tasks");
            }
            let beta = match norm {
                NormKind::Tsbn => {
                    let bname = StackedParam::Beta.tensor_name(layer);
                    Some(find(store, &bname).ok_or_else(|| anyhow!("the model has no '{bname}'"))?)
                }
                _ => None,
            };
            out.push(GateLayer {
                name: layer.clone(),
                channels: c,
                gamma,
                beta,
            });
        }
        Ok(Some(TaskGates {
            norm,
            tasks,
            layers: out,
        }))
    }

    pub fn filters(&self) -> usize {
        self.layers.iter().map(|l| l.channels).sum()
    }

    /// How importance is read off γ.
    pub fn gate_kind(&self) -> GateKind {
        match self.norm {
            NormKind::TsSigmaBn => GateKind::Sigmoid,
            _ => GateKind::Abs,
        }
    }

    /// `importance[t][f]`, filters in depth order.
    pub fn importance(&self) -> Result<Vec<Vec<f64>>> {
        let kind = self.gate_kind();
        let mut imp = vec![Vec::with_capacity(self.filters()); self.tasks];
        for l in &self.layers {
            let g = l.gamma.as_tensor().to_dtype(DType::F64)?.to_vec2::<f64>()?;
            for (row, out) in g.iter().zip(imp.iter_mut()) {
                out.extend(row.iter().map(|v| kind.apply(*v)));
            }
        }
        Ok(imp)
    }

    /// Layer and channel of filter `f`.
    pub fn filter(&self, mut f: usize) -> Option<FilterRef> {
        for l in &self.layers {
            if f < l.channels {
                return Some(FilterRef {
                    layer: l.name.clone(),
                    channel: f,
                });
            }
            f -= l.channels;
        }
        None
    }

    /// Switches `filters` off for task `only` or, with `None`, for every
    /// task (the filter removed); returns the values to
    /// [`restore`](Self::restore).
    pub fn switch_off(&self, filters: &[usize], only: Option<usize>) -> Result<SavedGates> {
        if let Some(t) = only
            && t >= self.tasks
        {
            bail!("task {t} out of range ({} tasks)", self.tasks);
        }
        let off = match self.norm {
            NormKind::TsSigmaBn => f64::NEG_INFINITY,
            _ => 0.0,
        };
        let mut saved = Vec::new();
        let mut start = 0;
        for l in &self.layers {
            let mine: Vec<usize> = filters
                .iter()
                .filter(|&&f| f >= start && f < start + l.channels)
                .map(|&f| f - start)
                .collect();
            start += l.channels;
            if mine.is_empty() {
                continue;
            }
            saved.push((l.gamma.clone(), l.gamma.as_tensor().copy()?));
            set_entries(&l.gamma, only, &mine, off)?;
            if let Some(beta) = &l.beta {
                saved.push((beta.clone(), beta.as_tensor().copy()?));
                set_entries(beta, only, &mine, 0.0)?;
            }
        }
        Ok(SavedGates(saved))
    }

    pub fn restore(&self, saved: SavedGates) -> Result<()> {
        for (var, value) in saved.0 {
            var.set(&value)?;
        }
        Ok(())
    }
}

/// Gate values before a [`TaskGates::switch_off`].
pub struct SavedGates(Vec<(Var, Tensor)>);

/// Sets `channels` of row `only` (or of every row) of a `[T, C]` gate.
fn set_entries(var: &Var, only: Option<usize>, channels: &[usize], value: f64) -> Result<()> {
    let t = var.as_tensor();
    let dtype = t.dtype();
    let (rows, c) = t.dims2()?;
    let mut v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    for row in (0..rows).filter(|r| only.is_none_or(|o| o == *r)) {
        for &ch in channels {
            v[row * c + ch] = value;
        }
    }
    var.set(&Tensor::from_vec(v, (rows, c), t.device())?.to_dtype(dtype)?)?;
    Ok(())
}
