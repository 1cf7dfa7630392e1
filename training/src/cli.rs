//! Command-line arguments and their validation into checked settings, once,
//! before any work (raw clap args → [`Command`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::data::shapes::ShapesParams;
use crate::layers::{NormKind, NormParams};
use crate::models::{HeadInit, ModelKind, Widths, parse_widths};
use crate::optim::OptimizerKind;
use crate::train::TrainParams;

mod diagnose;
mod gpucheck;
pub use diagnose::{DiagnoseArgs, DiagnoseOutputs};
pub use gpucheck::{Against, GpuCheckArgs, GpuCheckSettings};

#[derive(Parser, Debug)]
#[command(
    name = "mtl-train",
    version,
    about = "Train TSσBN / TSBN / shared-BN multi-task CNNs and write mtl-inspect checkpoints"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: RawCommand,
}

#[derive(Subcommand, Debug)]
pub enum RawCommand {
    /// Train on the synthetic `shapes` dataset (generated in memory).
    Shapes {
        #[command(flatten)]
        data: ShapesArgs,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Train on CelebA read from --data.
    Celeba {
        /// CelebA folder (official `Anno/ Eval/ Img/` layout or flat).
        #[arg(long)]
        data: PathBuf,
        /// Use at most this many images of each split.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Time training steps on random data (forward, backward, Adam).
    Bench {
        #[arg(long, default_value = "celeba-cnn")]
        model: String,
        #[arg(long, default_value = "tssbn")]
        norm: String,
        #[arg(long, default_value_t = 40)]
        tasks: usize,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Input size (default: 64 for celeba-cnn, 32 for shapes-cnn).
        #[arg(long)]
        image_size: Option<usize>,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Use candle's conv2d and tensor-op norms (no fused kernels).
        #[arg(long)]
        unfused: bool,
        /// Forward and backward K tasks at a time and sum their gradients
        /// before the one optimiser step: the same step up to float rounding,
        /// with activation memory ∝ K instead of --tasks (training/README.md,
        /// "Task chunks"). K ≥ --tasks: no chunking. Shared BN (bn) is never
        /// chunked: its activations do not grow with the task count.
        #[arg(long, value_name = "K")]
        task_chunk: Option<usize>,
    },
    /// Evaluate a checkpoint written by mtl-train on its dataset.
    Eval {
        checkpoint: PathBuf,
        /// CelebA folder (needed for CelebA checkpoints; shapes is regenerated
        /// from the checkpoint's metadata).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Which split: val or test.
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        /// For CelebA: at most this many images per split.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Gradient conflict, per-task gradient norms and AvgNorm weights, and
    /// pruning impact of one checkpoint (JSON + CSV; see training/README.md).
    Diagnose(DiagnoseArgs),
    /// One training step on the CPU and on CUDA, compared (training/bench/gpu.sh).
    #[command(hide = true)]
    Gpucheck(GpuCheckArgs),
}

#[derive(Args, Debug)]
pub struct ShapesArgs {
    /// Number of binary tasks (a multiple of --groups).
    #[arg(long, default_value_t = 16)]
    pub tasks: usize,
    /// Number of task groups (objects), 1–9.
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    #[arg(long, default_value_t = 2048)]
    pub train_size: usize,
    #[arg(long, default_value_t = 1024)]
    pub val_size: usize,
    #[arg(long, default_value_t = 1024)]
    pub test_size: usize,
    /// Seed of the generated data (the same for every training seed).
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    /// Append a copy of the first task with labels flipped with
    /// probability XI/2 (paper App. E).
    #[arg(long, value_name = "XI")]
    pub noisy_copy: Option<f64>,
    /// Append a regression task, the size of group 0's object
    /// (`topleft_size`, standardised), trained with squared error.
    #[arg(long)]
    pub regression_task: bool,
    /// Gaussian noise of variance XI (times the size target's, paper App. E
    /// eq. 6) in the size task's training and validation targets; implies
    /// --regression-task. A comma list (0,0.5,1,2,3) sweeps it.
    #[arg(long, value_name = "XI[,XI…]")]
    pub noise: Option<String>,
    /// Write the generated data (train/val/test, exactly as training would
    /// generate it for these data flags) to the new or empty folder DIR and
    /// exit without training: `shapes.npz` (train_images, val_images,
    /// test_images: float32 [N, 3, S, S], byte/255, channels first, what the
    /// network is fed; train_labels, …: float32 [N, T] in {0, 1}; tasks:
    /// unicode [T]), `tasks.txt`, and the flat CelebA layout
    /// (list_attr_celeba.txt, list_eval_partition.txt, img_align_celeba/*.png)
    /// that `mtl-train celeba --data DIR` reads. Binary tasks only.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// shapes-cnn or celeba-cnn (default: the dataset's own model).
    #[arg(long)]
    pub model: Option<String>,
    /// tssbn (TSσBN), tsbn (task-specific affine BN) or bn (shared BN, HPS).
    #[arg(long, default_value = "tssbn")]
    pub norm: String,
    /// Learning-rate multiplier of the task-specific norm layers' parameters
    /// (tssbn, tsbn) only; they are never weight-decayed. Shared BN (bn,
    /// HPS) trains at the base learning rate with --weight-decay like the
    /// convolutions, so α does nothing there. A comma list (1,10,100,1000)
    /// sweeps it.
    #[arg(long, default_value = "100", value_name = "ALPHA[,ALPHA…]")]
    pub alpha: String,
    /// How the per-task heads start: independent (PyTorch's default per
    /// head) or tied (one random row for all, bias 0). Default: independent
    /// for celeba-cnn, tied for shapes-cnn.
    #[arg(long, value_name = "independent|tied")]
    pub heads: Option<String>,
    /// Output channels of each convolution, replacing the model's own
    /// (shapes-cnn: 24,16,16; celeba-cnn: 64,128,128,256,256,512,512).
    #[arg(long, value_name = "C1,C2,…")]
    pub filters: Option<String>,
    /// Widths of fully connected layers (each with a task-specific norm)
    /// between pooling and the heads, replacing the model's own
    /// (shapes-cnn: none; celeba-cnn: 512,512). `--fc ''` removes them.
    #[arg(long, value_name = "W1,W2,…")]
    pub fc: Option<String>,
    /// Epochs (default: 3 for shapes, 15 for CelebA).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Also keep the model after these epochs, in `epoch<N>/` under --out
    /// with the run's file name (0: the initial weights), e.g. 0,1,3. For
    /// measuring at epoch 1 as paper 000 App. D does, or gates over training.
    #[arg(long, value_name = "N[,N…]")]
    pub save_epochs: Option<String>,
    /// Batch size (default: 32 for shapes, 256 for CelebA).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam/SGD learning rate (default: 1e-3 for shapes, 3e-4 for CelebA as
    /// in the paper's App. F.1).
    #[arg(long)]
    pub lr: Option<f64>,
    /// adam or sgd (with --momentum).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay of convolutions, linear layers, heads and shared BN
    /// (never of the task-specific norm layers).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Seeds to train: a range `0..5` or a list `0,3,7`.
    #[arg(long, default_value = "0")]
    pub seeds: String,
    /// Output folder for checkpoints and metrics CSVs (required to train).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue each seed from its checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Do not write the `.optim.safetensors` sidecar (such runs cannot be
    /// resumed).
    #[arg(long)]
    pub no_optimizer_state: bool,
    /// Forward and backward K tasks at a time and sum their gradients
    /// before the one optimiser step: the same step up to float rounding,
    /// with activation memory ∝ K instead of the task count
    /// (training/README.md, "Task chunks"). K ≥ the task count: no chunking
    /// (the default). Shared BN (bn) is never chunked: its activations do
    /// not grow with the task count.
    #[arg(long, value_name = "K")]
    pub task_chunk: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub use crate::usage::UsageError;

/// Validated training settings common to both datasets.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    /// The settings of one run; `alpha` is the first of `alphas`.
    pub params: TrainParams,
    /// Every α to train (a sweep when more than one).
    pub alphas: Vec<f64>,
    pub seeds: Vec<u64>,
    pub out: PathBuf,
    pub resume: bool,
    pub quiet: bool,
}

/// A validated command.
#[derive(Debug, Clone)]
pub enum Command {
    Bench(crate::bench::BenchParams),
    /// `shapes --export DIR`: write the generated data, no training.
    ShapesExport {
        data: ShapesParams,
        dir: PathBuf,
    },
    Shapes {
        /// `size_noise` is the first of `noises`.
        data: ShapesParams,
        /// Noise levels of the size task, `[None]` without it.
        noises: Vec<Option<f64>>,
        train: TrainSettings,
    },
    Celeba {
        dir: PathBuf,
        limit: Option<usize>,
        train: TrainSettings,
    },
    Eval {
        checkpoint: PathBuf,
        data: Option<PathBuf>,
        test_split: bool,
        batch_size: usize,
        limit: Option<usize>,
    },
    Diagnose {
        params: crate::diagnose::DiagnoseParams,
        out: DiagnoseOutputs,
    },
    Gpucheck(GpuCheckSettings),
}

/// Parses `--save-epochs 0,1,3`: epochs from 0 (the initial weights) to
/// `epochs`, sorted and without repeats.
pub fn parse_save_epochs(s: &str, epochs: usize) -> Result<Vec<usize>, UsageError> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let e: usize = item.trim().parse().map_err(|_| {
            UsageError(format!(
                "--save-epochs '{s}' is not a comma list of epochs like 0,1,3"
            ))
        })?;
        if e > epochs {
            return Err(UsageError(format!(
                "--save-epochs asks for epoch {e}, but the run trains {epochs} epoch(s); raise --epochs or drop {e}"
            )));
        }
        out.push(e);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Parses `0..5` (half-open) or `0,3,7`.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, UsageError> {
    let bad = || {
        UsageError(format!(
            "--seeds '{s}' is neither a range like 0..5 nor a list like 0,3,7"
        ))
    };
    let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        (a..b).collect()
    } else {
        s.split(',')
            .map(|x| x.trim().parse::<u64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?
    };
    if seeds.is_empty() {
        return Err(UsageError(format!(
            "--seeds '{s}' selects no seed; a range a..b is half-open, e.g. 0..5"
        )));
    }
    Ok(seeds)
}

/// Parses a comma list of numbers for `flag`, each accepted by `check`,
/// without repeats (two runs of a sweep would write the same files).
pub fn parse_list(
    flag: &str,
    s: &str,
    check: impl Fn(f64) -> bool,
    what: &str,
) -> Result<Vec<f64>, UsageError> {
    let mut out: Vec<f64> = Vec::new();
    for part in s.split(',') {
        let v: f64 = part.trim().parse().map_err(|_| {
            UsageError(format!(
                "{flag} '{s}': '{}' is not a number; give one value or a comma list like 1,10,100",
                part.trim()
            ))
        })?;
        if !check(v) {
            return Err(UsageError(format!("{flag} values must be {what}, got {v}")));
        }
        if out.contains(&v) {
            return Err(UsageError(format!(
                "{flag} '{s}' lists {v} twice; each value of a sweep names its own files"
            )));
        }
        out.push(v);
    }
    Ok(out)
}

/// `--task-chunk`: at least one task per chunk.
fn task_chunk(k: Option<usize>) -> Result<Option<usize>, UsageError> {
    match k {
        Some(0) => Err(UsageError(
            "--task-chunk must be at least 1 (tasks per forward/backward chunk), got 0; leave it out to run all tasks at once".into(),
        )),
        k => Ok(k),
    }
}

fn positive(name: &str, v: f64) -> Result<f64, UsageError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(UsageError(format!(
            "{name} must be a positive number, got {v}"
        )))
    }
}

/// `shapes --export DIR`, checked: binary tasks only, nothing to train, and
/// DIR new or empty (an export never mixes with older files).
fn export_command(
    data: ShapesParams,
    dir: PathBuf,
    noises: &[Option<f64>],
    train: &TrainArgs,
) -> Result<Command, UsageError> {
    if noises.iter().any(Option::is_some) {
        return Err(UsageError(
            "--export writes binary tasks only (the CelebA attribute file holds ±1 labels); drop --regression-task/--noise".into(),
        ));
    }
    if train.out.is_some() {
        return Err(UsageError(
            "--export writes the data and exits without training; drop --out, or train in a separate run".into(),
        ));
    }
    if dir.exists() {
        if !dir.is_dir() {
            return Err(UsageError(format!(
                "--export {} exists and is not a folder; pass a new or empty folder",
                dir.display()
            )));
        }
        let mut entries = std::fs::read_dir(&dir)
            .map_err(|e| UsageError(format!("--export {}: cannot list it: {e}", dir.display())))?;
        if entries.next().is_some() {
            return Err(UsageError(format!(
                "--export {} exists and is not empty; pass a new or empty folder (the export never overwrites files)",
                dir.display()
            )));
        }
    }
    Ok(Command::ShapesExport { data, dir })
}

impl TrainArgs {
    fn check(
        self,
        default_model: ModelKind,
        default_epochs: usize,
        default_batch: usize,
        default_lr: f64,
    ) -> Result<TrainSettings, UsageError> {
        let model = match &self.model {
            None => default_model,
            Some(m) => ModelKind::parse(m).ok_or_else(|| {
                UsageError(format!(
                    "unknown --model '{m}'; choose one of: {}",
                    ModelKind::ALL.map(|k| k.name()).join(", ")
                ))
            })?,
        };
        let norm = NormKind::parse(&self.norm).ok_or_else(|| {
            UsageError(format!(
                "unknown --norm '{}'; choose tssbn (TSσBN), tsbn (task-specific affine BN) or bn (shared BN)",
                self.norm
            ))
        })?;
        let optimizer = match self.optimizer.as_str() {
            "adam" => OptimizerKind::adam(),
            "sgd" => {
                if !(0.0..1.0).contains(&self.momentum) {
                    return Err(UsageError(format!(
                        "--momentum must lie in [0, 1), got {}",
                        self.momentum
                    )));
                }
                OptimizerKind::Sgd {
                    momentum: self.momentum,
                }
            }
            other => {
                return Err(UsageError(format!(
                    "unknown --optimizer '{other}'; choose adam or sgd"
                )));
            }
        };
        let epochs = self.epochs.unwrap_or(default_epochs);
        if epochs == 0 {
            return Err(UsageError("--epochs must be at least 1".into()));
        }
        let batch_size = self.batch_size.unwrap_or(default_batch);
        if batch_size < 2 {
            return Err(UsageError(format!(
                "--batch-size must be at least 2 (batch statistics need two samples), got {batch_size}"
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(UsageError(format!(
                "--weight-decay must be ≥ 0, got {}",
                self.weight_decay
            )));
        }
        let alphas = parse_list(
            "--alpha",
            &self.alpha,
            |a| a.is_finite() && a > 0.0,
            "positive numbers",
        )?;
        let heads = match &self.heads {
            None => model.spec().heads,
            Some(h) => HeadInit::parse(h).ok_or_else(|| {
                UsageError(format!("unknown --heads '{h}'; choose independent or tied"))
            })?,
        };
        let widths = Widths {
            filters: self
                .filters
                .as_deref()
                .map(|s| parse_widths("--filters", s))
                .transpose()
                .map_err(UsageError)?,
            fc: self
                .fc
                .as_deref()
                .map(|s| parse_widths("--fc", s))
                .transpose()
                .map_err(UsageError)?,
        };
        widths.check(model).map_err(UsageError)?;
        let save_epochs = match &self.save_epochs {
            None => Vec::new(),
            Some(list) => parse_save_epochs(list, epochs)?,
        };
        Ok(TrainSettings {
            params: TrainParams {
                model,
                norm,
                alpha: alphas[0],
                epochs,
                batch_size,
                lr: positive("--lr", self.lr.unwrap_or(default_lr))?,
                optimizer,
                weight_decay: self.weight_decay,
                norm_params: NormParams::default(),
                save_optimizer_state: !self.no_optimizer_state,
                heads,
                widths,
                save_epochs,
                sweep: Default::default(),
                task_chunk: task_chunk(self.task_chunk)?,
            },
            alphas,
            seeds: parse_seeds(&self.seeds)?,
            out: self.out.ok_or_else(|| {
                UsageError(
                    "--out DIR is required: the folder for checkpoints and metrics CSVs".into(),
                )
            })?,
            resume: self.resume,
            quiet: self.quiet,
        })
    }
}

impl ShapesArgs {
    /// The data flags checked, then training or `--export`.
    fn check(self, train: TrainArgs) -> Result<Command, UsageError> {
        let data = self;
        let noises: Vec<Option<f64>> = match &data.noise {
            Some(list) => parse_list(
                "--noise",
                list,
                |xi| xi.is_finite() && xi >= 0.0,
                "finite and ≥ 0",
            )?
            .into_iter()
            .map(Some)
            .collect(),
            None if data.regression_task => vec![Some(0.0)],
            None => vec![None],
        };
        let params = ShapesParams {
            tasks: data.tasks,
            groups: data.groups,
            image_size: data.image_size,
            train: data.train_size,
            val: data.val_size,
            test: data.test_size,
            seed: data.data_seed,
            noisy_copy: data.noisy_copy,
            size_noise: noises[0],
        };
        params.validate().map_err(|e| UsageError(e.to_string()))?;
        if let Some(dir) = data.export {
            return export_command(params, dir, &noises, &train);
        }
        Ok(Command::Shapes {
            data: params,
            noises,
            train: train.check(ModelKind::ShapesCnn, 3, 32, 1e-3)?,
        })
    }
}

impl RawCommand {
    pub fn check(self) -> Result<Command, UsageError> {
        match self {
            RawCommand::Shapes { data, train } => data.check(train),
            RawCommand::Celeba { data, limit, train } => {
                if !data.is_dir() {
                    return Err(UsageError(format!(
                        "--data {} is not a folder; point it at the CelebA folder holding Anno/ or list_attr_celeba.txt",
                        data.display()
                    )));
                }
                if limit == Some(0) {
                    return Err(UsageError("--limit must be at least 1".into()));
                }
                Ok(Command::Celeba {
                    dir: data,
                    limit,
                    train: train.check(ModelKind::CelebaCnn, 15, 256, 3e-4)?,
                })
            }
            RawCommand::Bench {
                model,
                norm,
                tasks,
                batch_size,
                image_size,
                warmup,
                steps,
                unfused,
                task_chunk: chunk,
            } => {
                let model = ModelKind::parse(&model).ok_or_else(|| {
                    UsageError(format!(
                        "unknown --model '{model}'; choose one of: {}",
                        ModelKind::ALL.map(|k| k.name()).join(", ")
                    ))
                })?;
                let norm = NormKind::parse(&norm).ok_or_else(|| {
                    UsageError(format!("unknown --norm '{norm}'; choose tssbn, tsbn or bn"))
                })?;
                if tasks == 0 || batch_size < 2 || steps == 0 {
                    return Err(UsageError(
                        "--tasks ≥ 1, --batch-size ≥ 2 and --steps ≥ 1 are required".into(),
                    ));
                }
                Ok(Command::Bench(crate::bench::BenchParams {
                    model,
                    norm,
                    tasks,
                    batch_size,
                    image_size: image_size.unwrap_or(model.spec().image_size),
                    warmup,
                    steps,
                    unfused,
                    task_chunk: task_chunk(chunk)?,
                }))
            }
            RawCommand::Eval {
                checkpoint,
                data,
                split,
                batch_size,
                limit,
            } => {
                if !checkpoint.is_file() {
                    return Err(UsageError(format!(
                        "checkpoint {} does not exist",
                        checkpoint.display()
                    )));
                }
                let test_split = match split.as_str() {
                    "test" => true,
                    "val" => false,
                    other => {
                        return Err(UsageError(format!(
                            "unknown --split '{other}'; choose val or test"
                        )));
                    }
                };
                if batch_size == 0 {
                    return Err(UsageError("--batch-size must be at least 1".into()));
                }
                Ok(Command::Eval {
                    checkpoint,
                    data,
                    test_split,
                    batch_size,
                    limit,
                })
            }
            RawCommand::Diagnose(a) => {
                let (params, out) = a.check()?;
                Ok(Command::Diagnose { params, out })
            }
            RawCommand::Gpucheck(a) => Ok(Command::Gpucheck(a.check()?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_epochs_parse() {
        assert_eq!(parse_save_epochs("3, 0,1,1", 3).unwrap(), vec![0, 1, 3]);
        let e = parse_save_epochs("4", 3).unwrap_err().0;
        assert!(e.contains("epoch 4") && e.contains("--epochs"), "{e}");
        assert!(parse_save_epochs("1,,2", 3).is_err());
        assert!(parse_save_epochs("-1", 3).is_err());
    }

    #[test]
    fn seeds_parse() {
        assert_eq!(parse_seeds("0..5").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_seeds("3, 7").unwrap(), vec![3, 7]);
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("a..b").is_err());
    }

    #[test]
    fn lists_parse_and_refuse_repeats() {
        let pos = |a: f64| a > 0.0;
        assert_eq!(
            parse_list("--alpha", "1, 10,100", pos, "positive").unwrap(),
            vec![1.0, 10.0, 100.0]
        );
        // 1e2 and 100 are the same run.
        let e = parse_list("--alpha", "100,1e2", pos, "positive").unwrap_err();
        assert!(e.0.contains("twice"), "{e}");
        assert!(parse_list("--alpha", "0", pos, "positive").is_err());
        assert!(parse_list("--alpha", "1,,2", pos, "positive").is_err());
    }
}
