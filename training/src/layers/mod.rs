//! The norm layers a multi-task trunk can use, selected by `--norm`:
//! TSσBN (paper eq. 3), TSBN (task-specific affine BN) and shared BN (HPS).
//! One file each; [`stats`] holds the normalisation they share.

pub mod chunked_conv;
pub mod conv;
mod cpu_slice;
pub mod fused;
pub mod pool;
pub mod relu;
pub mod shared_bn;
pub mod stats;
pub mod ts_sigma_bn;
pub mod tsbn;

use candle_core::{Result, Tensor};

pub use shared_bn::SharedBn;
pub use stats::{NormParams, TaskLayout};
pub use ts_sigma_bn::TsSigmaBn;
pub use tsbn::Tsbn;

use crate::vars::Vars;

/// The `--norm` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// Task-specific σBN, `tssbn`.
    TsSigmaBn,
    /// Task-specific affine BN, `tsbn`.
    Tsbn,
    /// One shared BN (hard parameter sharing), `bn`.
    SharedBn,
}

impl NormKind {
    pub const ALL: [NormKind; 3] = [NormKind::TsSigmaBn, NormKind::Tsbn, NormKind::SharedBn];

    pub fn name(self) -> &'static str {
        match self {
            NormKind::TsSigmaBn => "tssbn",
            NormKind::Tsbn => "tsbn",
            NormKind::SharedBn => "bn",
        }
    }

    pub fn parse(s: &str) -> Option<NormKind> {
        NormKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether activations become task-specific at the first norm layer.
    pub fn is_task_specific(self) -> bool {
        !matches!(self, NormKind::SharedBn)
    }
}

impl std::fmt::Display for NormKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One norm layer of any kind.
pub enum TaskNorm {
    TsSigmaBn(TsSigmaBn),
    Tsbn(Tsbn),
    SharedBn(SharedBn),
}

impl TaskNorm {
    pub fn new(
        kind: NormKind,
        vars: &Vars,
        tasks: usize,
        channels: usize,
        params: NormParams,
    ) -> Result<Self> {
        Ok(match kind {
            NormKind::TsSigmaBn => {
                TaskNorm::TsSigmaBn(TsSigmaBn::new(vars, tasks, channels, params)?)
            }
            NormKind::Tsbn => TaskNorm::Tsbn(Tsbn::new(vars, tasks, channels, params)?),
            NormKind::SharedBn => TaskNorm::SharedBn(SharedBn::new(vars, channels, params)?),
        })
    }

    pub fn forward(&self, x: &Tensor, layout: TaskLayout, train: bool) -> Result<Tensor> {
        match self {
            TaskNorm::TsSigmaBn(l) => l.forward(x, layout, train),
            TaskNorm::Tsbn(l) => l.forward(x, layout, train),
            TaskNorm::SharedBn(l) => l.forward(x, train),
        }
    }

    /// The layer followed by ReLU: the fused kernel on the CPU, candle's
    /// tensor ops elsewhere; both with PyTorch's ReLU gradient at 0
    /// ([`relu::relu`]).
    pub fn forward_relu(&self, x: &Tensor, layout: TaskLayout, train: bool) -> Result<Tensor> {
        if !x.device().is_cpu() {
            return relu::relu(&self.forward(x, layout, train)?);
        }
        match self {
            TaskNorm::TsSigmaBn(l) => l.forward_fused(x, layout, train, true),
            TaskNorm::Tsbn(l) => l.forward_fused(x, layout, train, true),
            TaskNorm::SharedBn(l) => l.forward_fused(x, train, true),
        }
    }
}
