//! Arguments of `mtl-train diagnose`, their validation into
//! [`DiagnoseParams`](crate::diagnose::DiagnoseParams), and where it writes.

use std::path::PathBuf;

use clap::Args;

use crate::usage::UsageError;

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    checkpoint: PathBuf,
    /// CelebA folder (CelebA checkpoints only; shapes data is regenerated
    /// from the checkpoint's metadata).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Training batches whose per-task gradients are measured.
    #[arg(long, default_value_t = 32)]
    batches: usize,
    /// Batch size of those batches (default: the checkpoint's mtl.batch_size).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Filters switched off per task for the pruning matrix (default: 200/2880
    /// of a task's gates, the paper's share, rounded).
    #[arg(long)]
    prune_k: Option<usize>,
    /// Split for per-task loss, F1 and pruning: val or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Seed of the batch order and of the permutation test.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// For CelebA: at most this many images per split.
    #[arg(long)]
    limit: Option<usize>,
    /// Precision of the model, the gradients and the evaluation: f32 (as
    /// trained) or f64 (to compare with a float64 reference, e.g. the
    /// PyTorch recorder's test).
    #[arg(long, default_value = "f32", value_parser = ["f32", "f64"])]
    dtype: String,
    /// Skip the pruning matrices (the gradients and the evaluation only).
    #[arg(long)]
    no_pruning: bool,
    /// Also write the measured training batches (`batch.<b>.images`
    /// [N, 3, H, W] and `batch.<b>.labels` [N, T], f32) to this
    /// .safetensors file, so another tool can measure the same batches.
    #[arg(long)]
    save_batches: Option<PathBuf>,
    /// Output JSON; `<stem>.conflict.csv` and `<stem>.tasks.csv` go beside it.
    #[arg(long)]
    out: PathBuf,
}

/// Where `diagnose` writes: the JSON and the two CSV files beside it.
#[derive(Debug, Clone)]
pub struct DiagnoseOutputs {
    pub json: PathBuf,
    pub conflict_csv: PathBuf,
    pub tasks_csv: PathBuf,
}

impl DiagnoseOutputs {
    /// `dir/x.json` → `dir/x.conflict.csv`, `dir/x.tasks.csv`.
    pub fn beside(json: PathBuf) -> Result<Self, UsageError> {
        let stem = json
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                UsageError(format!(
                    "--out {} names no file; pass e.g. --out diag/run.json",
                    json.display()
                ))
            })?;
        let parent = json.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = parent
            && !p.is_dir()
        {
            return Err(UsageError(format!(
                "the folder of --out {} does not exist; create {} first",
                json.display(),
                p.display()
            )));
        }
        Ok(DiagnoseOutputs {
            conflict_csv: json.with_file_name(format!("{stem}.conflict.csv")),
            tasks_csv: json.with_file_name(format!("{stem}.tasks.csv")),
            json,
        })
    }
}

impl DiagnoseArgs {
    /// The checked settings and where the run writes.
    pub(super) fn check(
        self,
    ) -> Result<(crate::diagnose::DiagnoseParams, DiagnoseOutputs), UsageError> {
        if !self.checkpoint.is_file() {
            return Err(UsageError(format!(
                "checkpoint {} does not exist",
                self.checkpoint.display()
            )));
        }
        if let Some(d) = &self.data
            && !d.is_dir()
        {
            return Err(UsageError(format!(
                "--data {} is not a folder; point it at the CelebA folder holding Anno/ or list_attr_celeba.txt",
                d.display()
            )));
        }
        if self.batches == 0 {
            return Err(UsageError("--batches must be at least 1".into()));
        }
        if let Some(b) = self.batch_size
            && b < 2
        {
            return Err(UsageError(format!(
                "--batch-size must be at least 2 (batch statistics need two samples), got {b}"
            )));
        }
        if self.prune_k == Some(0) {
            return Err(UsageError("--prune-k must be at least 1".into()));
        }
        if self.limit == Some(0) {
            return Err(UsageError("--limit must be at least 1".into()));
        }
        let test_split = match self.split.as_str() {
            "test" => true,
            "val" => false,
            other => {
                return Err(UsageError(format!(
                    "unknown --split '{other}'; choose val or test"
                )));
            }
        };
        let out = DiagnoseOutputs::beside(self.out)?;
        Ok((
            crate::diagnose::DiagnoseParams {
                checkpoint: self.checkpoint,
                data: self.data,
                limit: self.limit,
                batches: self.batches,
                batch_size: self.batch_size,
                prune_k: self.prune_k,
                test_split,
                eval_batch_size: 256,
                seed: self.seed,
                dtype: if self.dtype == "f64" {
                    candle_core::DType::F64
                } else {
                    candle_core::DType::F32
                },
                save_batches: self.save_batches,
                pruning: !self.no_pruning,
            },
            out,
        ))
    }
}
