//! Arguments of the hidden `mtl-train gpucheck` (used by
//! `training/bench/gpu.sh`) and their validation into
//! [`GpuCheckSettings`].

use candle_core::DType;
use clap::Args;

use crate::gpucheck::GpuCheckParams;
use crate::layers::NormKind;
use crate::models::ModelKind;
use crate::usage::UsageError;

#[derive(Args, Debug)]
pub struct GpuCheckArgs {
    /// The backend compared with the CPU's fused kernels: `cuda` (needs a
    /// build with --features cuda and a GPU) or `cpu-unfused` (candle's ops
    /// on the CPU; runs anywhere, to try the check itself).
    #[arg(long, default_value = "cuda")]
    against: String,
    #[arg(long, default_value = "shapes-cnn")]
    model: String,
    /// tssbn, tsbn, bn, or all.
    #[arg(long, default_value = "all")]
    norm: String,
    #[arg(long, default_value_t = 4)]
    tasks: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// f64 (the check: rounding far below any kernel error) or f32 (what
    /// training uses; ReLUs make its gradients differ by more, see
    /// src/gpucheck.rs).
    #[arg(long, default_value = "f64")]
    dtype: String,
}

/// The backend `gpucheck` compares with the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    Cuda,
    CpuUnfused,
}

#[derive(Debug, Clone)]
pub struct GpuCheckSettings {
    pub params: GpuCheckParams,
    pub against: Against,
}

impl GpuCheckArgs {
    pub fn check(self) -> Result<GpuCheckSettings, UsageError> {
        let against = match self.against.as_str() {
            "cuda" => Against::Cuda,
            "cpu-unfused" => Against::CpuUnfused,
            other => {
                return Err(UsageError(format!(
                    "unknown --against '{other}'; choose cuda or cpu-unfused"
                )));
            }
        };
        let model = ModelKind::parse(&self.model).ok_or_else(|| {
            UsageError(format!(
                "unknown --model '{}'; choose one of: {}",
                self.model,
                ModelKind::ALL.map(|k| k.name()).join(", ")
            ))
        })?;
        let norms = if self.norm == "all" {
            NormKind::ALL.to_vec()
        } else {
            vec![NormKind::parse(&self.norm).ok_or_else(|| {
                UsageError(format!(
                    "unknown --norm '{}'; choose tssbn, tsbn, bn or all",
                    self.norm
                ))
            })?]
        };
        let dtype = match self.dtype.as_str() {
            "f64" => DType::F64,
            "f32" => DType::F32,
            other => {
                return Err(UsageError(format!(
                    "unknown --dtype '{other}'; choose f64 or f32"
                )));
            }
        };
        // Batch statistics need two samples per task block.
        if self.tasks == 0 || self.batch_size < 2 {
            return Err(UsageError(format!(
                "--tasks ≥ 1 and --batch-size ≥ 2 are required (got {} and {})",
                self.tasks, self.batch_size
            )));
        }
        Ok(GpuCheckSettings {
            params: GpuCheckParams {
                model,
                norms,
                tasks: self.tasks,
                batch_size: self.batch_size,
                seed: self.seed,
                dtype,
            },
            against,
        })
    }
}
