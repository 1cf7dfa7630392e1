//! The training loop of one seed: batches, one [`crate::step`] each (all
//! tasks at once, or `--task-chunk` tasks at a time), BCE (squared error for regression tasks), the grouped optimiser,
//! per-epoch validation, the metrics CSV and atomic checkpoints. As FAMO and
//! FairGrad report CelebA, the run's result is the epoch with the best mean
//! validation F1 (binary tasks; the earliest on ties), and the test split is
//! evaluated at that epoch: `<stem>.safetensors` holds it, `last/<stem>.safetensors`
//! the last epoch (what `--resume` continues). Progress goes to a callback;
//! this module prints nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::checkpoint::{self, LoadedCheckpoint, RunInfo, metrics_json};
use crate::data::{Dataset, Split};
use crate::epoch_log::EpochRecord;
use crate::epoch_log::{read_csv_records, write_csv};
use crate::layers::{NormKind, NormParams};
use crate::metrics::{TaskMetrics, TaskScore, mean_regression_mse, mean_scores};
use crate::models::loss::multi_task_loss;
use crate::models::{HeadInit, ModelKind, MultiTaskNet, Widths};
use crate::optim::{Optimizer, OptimizerKind, param_groups};
use crate::step::train_step;
use crate::vars::ParamStore;

/// Checked settings of a training run.
#[derive(Debug, Clone)]
pub struct TrainParams {
    pub model: ModelKind,
    pub norm: NormKind,
    /// Learning-rate multiplier of the norm parameters.
    pub alpha: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    /// L2 weight decay of the trunk and heads (never of the gates).
    pub weight_decay: f64,
    pub norm_params: NormParams,
    /// Also write `last/<stem>.optim.safetensors` so `--resume` continues
    /// exactly.
    pub save_optimizer_state: bool,
    /// How the heads start (`mtl.heads`).
    pub heads: HeadInit,
    /// Layer widths replacing the model's own (`mtl.filters`, `mtl.fc`).
    pub widths: Widths,
    /// Epochs after which a copy of the model goes to `epoch<N>/` beside
    /// the run (`--save-epochs`; 0 is the initial state), sorted, unique.
    pub save_epochs: Vec<usize>,
    /// The values a sweep varies, by flag (`alpha`, `noise`), recorded as
    /// the JSON object `mtl.sweep`; empty for a single run.
    pub sweep: BTreeMap<String, f64>,
    /// Forward and backward this many tasks at a time (`--task-chunk`,
    /// [`crate::step`]); `None`: all at once.
    pub task_chunk: Option<usize>,
}

/// A model and its tensors.
pub struct Model {
    pub store: ParamStore,
    pub net: MultiTaskNet,
}

/// Builds `kind` with `widths` for `tasks` tasks with the model's own head
/// initialisation, weights drawn from `seed`.
pub fn build_model(
    kind: ModelKind,
    widths: &Widths,
    norm: NormKind,
    tasks: usize,
    seed: u64,
    norm_params: NormParams,
    device: &Device,
) -> Result<Model> {
    let heads = kind.spec().heads;
    build_model_with_heads(
        kind,
        heads,
        widths,
        norm,
        tasks,
        seed,
        norm_params,
        DType::F32,
        device,
    )
}

/// [`build_model`] with the heads started as `heads`.
#[allow(clippy::too_many_arguments)]
pub fn build_model_with_heads(
    kind: ModelKind,
    heads: HeadInit,
    widths: &Widths,
    norm: NormKind,
    tasks: usize,
    seed: u64,
    norm_params: NormParams,
    dtype: DType,
    device: &Device,
) -> Result<Model> {
    widths.check(kind).map_err(anyhow::Error::msg)?;
    let store = ParamStore::new(dtype, device.clone());
    let spec = kind.spec_with(heads, widths);
    let net = MultiTaskNet::new(&spec, norm, tasks, norm_params, &store.builder(seed))
        .with_context(|| format!("building {kind} with {norm} for {tasks} tasks"))?;
    Ok(Model { store, net })
}

/// What the loop reports while it runs.
pub enum Progress<'a> {
    Step {
        epoch: usize,
        epochs: usize,
        step: usize,
        steps: usize,
        loss: f64,
        images_per_sec: f64,
    },
    Epoch(&'a EpochRecord),
}

/// Where a seed's outputs go.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The best epoch (mean validation F1), with test metrics: the result.
    pub checkpoint: PathBuf,
    /// The last epoch, in the sub-folder `last/` so that a glob over the
    /// folder (`runs/*.safetensors`) sees each run once.
    pub last: PathBuf,
    pub metrics_csv: PathBuf,
}

/// Sub-folder of `--out` holding the last epoch's checkpoints.
pub const LAST_DIR: &str = "last";

impl RunPaths {
    /// `<dir>/<dataset>_<norm>_seed<seed>.safetensors`, `.metrics.csv` and
    /// `<dir>/last/<…>.safetensors`.
    pub fn new(dir: &Path, dataset: &str, norm: NormKind, seed: u64) -> Self {
        Self::labelled(dir, dataset, norm, "", seed)
    }

    /// As [`new`](Self::new) with a sweep label between the norm and the
    /// seed: `<dataset>_<norm>_<label>_seed<seed>` (no label: `new`'s name).
    pub fn labelled(dir: &Path, dataset: &str, norm: NormKind, label: &str, seed: u64) -> Self {
        let stem = if label.is_empty() {
            format!("{dataset}_{}_seed{seed}", norm.name())
        } else {
            format!("{dataset}_{}_{label}_seed{seed}", norm.name())
        };
        RunPaths {
            checkpoint: dir.join(format!("{stem}.safetensors")),
            last: dir.join(LAST_DIR).join(format!("{stem}.safetensors")),
            metrics_csv: dir.join(format!("{stem}.metrics.csv")),
        }
    }

    /// `<dir>/epoch<N>/<stem>.safetensors`: the copy `--save-epochs` keeps
    /// after epoch `epoch` (0: the initial weights), under the run's own
    /// file name so a folder of them reads like the runs' folder.
    pub fn at_epoch(&self, epoch: usize) -> PathBuf {
        let dir = self.checkpoint.parent().unwrap_or(Path::new("."));
        let name = self.checkpoint.file_name().unwrap_or_default();
        dir.join(format!("epoch{epoch}")).join(name)
    }
}

/// The outcome of a seed.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The best epoch's checkpoint.
    pub checkpoint: PathBuf,
    pub best_epoch: usize,
    /// Validation and test scores at the best epoch.
    pub val: Vec<TaskScore>,
    pub test: Vec<TaskScore>,
    pub seconds: f64,
}

/// The best epoch so far and its mean validation F1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestEpoch {
    pub epoch: usize,
    pub val_mean_f1: f64,
}

/// Which epoch a checkpoint file holds (`mtl.selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The best mean validation F1 so far.
    Best,
    Last,
    /// A copy kept by `--save-epochs`.
    Epoch,
}

impl Selection {
    pub fn name(self) -> &'static str {
        match self {
            Selection::Best => "best_val_mean_f1",
            Selection::Last => "last",
            Selection::Epoch => "epoch",
        }
    }
}

/// Loss and per-task scores of `model` on `split`, running statistics used.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    split: &Split,
    batch: usize,
) -> Result<(f64, Vec<TaskScore>)> {
    let t = data.tasks.len();
    let device = &model.store.device;
    let regression = regression_mask(data);
    let mut metrics = TaskMetrics::new(&data.kinds);
    let mut loss_sum = 0.0;
    let mut n = 0usize;
    for idx in split.eval_batches(batch) {
        let (x, y) = split.batch(&idx, data.image_size, t, device)?;
        let logits = model.net.forward(&x, false)?;
        loss_sum += multi_task_loss(&logits, &y, &regression)?.to_scalar::<f32>()? as f64
            * idx.len() as f64;
        n += idx.len();
        let l = logits.flatten_all()?.to_vec1::<f32>()?;
        let yv = y.flatten_all()?.to_vec1::<f32>()?;
        metrics.add(&l, &yv);
    }
    Ok((loss_sum / n.max(1) as f64, metrics.scores()))
}

/// `true` for each regression task of `data`.
fn regression_mask(data: &Dataset) -> Vec<bool> {
    data.kinds
        .iter()
        .map(|k| *k == crate::data::TaskKind::Regression)
        .collect()
}

fn optimizer_for(model: &Model, params: &TrainParams) -> Result<Optimizer> {
    let groups = param_groups(&model.store, params.alpha, params.weight_decay);
    Ok(Optimizer::new(params.optimizer, params.lr, groups)?)
}

/// What a checkpoint file holds: its epoch, which selection it is, the best
/// epoch so far, and the scores at its epoch.
struct Snapshot<'a> {
    epoch: usize,
    selection: Selection,
    best: BestEpoch,
    val: &'a [TaskScore],
    test: Option<&'a [TaskScore]>,
}

fn run_info(
    model: &Model,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    snap: &Snapshot,
) -> RunInfo {
    let Snapshot {
        epoch,
        selection,
        best,
        val,
        test,
    } = *snap;
    let mut extra = BTreeMap::new();
    extra.insert("model".into(), params.model.name().into());
    extra.insert("alpha".into(), params.alpha.to_string());
    extra.insert("heads".into(), params.heads.name().into());
    for (key, value) in params.widths.metadata() {
        extra.insert(key.into(), value);
    }
    if !params.sweep.is_empty() {
        extra.insert(
            "sweep".into(),
            serde_json::to_string(&params.sweep).unwrap_or_default(),
        );
    }
    let regression = data.regression_tasks();
    if !regression.is_empty() {
        extra.insert(
            "regression_tasks".into(),
            serde_json::to_string(&regression).unwrap_or_default(),
        );
    }
    extra.insert("selection".into(), selection.name().into());
    extra.insert("best_epoch".into(), best.epoch.to_string());
    // Full precision: a resumed run compares later epochs with it.
    extra.insert("best_val_mean_f1".into(), best.val_mean_f1.to_string());
    extra.insert("seed".into(), seed.to_string());
    extra.insert("dataset".into(), data.name.clone());
    for (k, v) in &data.provenance {
        extra.insert(format!("dataset_{k}"), v.clone());
    }
    extra.insert("epoch".into(), epoch.to_string());
    extra.insert("epochs".into(), params.epochs.to_string());
    extra.insert("optimizer".into(), params.optimizer.name().into());
    extra.insert("lr".into(), params.lr.to_string());
    extra.insert("weight_decay".into(), params.weight_decay.to_string());
    extra.insert("batch_size".into(), params.batch_size.to_string());
    // The chunk size changes memory, not the result (up to float rounding):
    // recorded for provenance, not checked on resume.
    if let Some(k) =
        crate::step::effective_chunk(&model.net, params.task_chunk).filter(|&k| k < model.net.tasks)
    {
        extra.insert("task_chunk".into(), k.to_string());
    }
    extra.insert("metrics".into(), metrics_json(&data.tasks, val));
    let m = mean_scores(val);
    extra.insert("val_mean_f1".into(), format!("{:.6}", m.f1));
    extra.insert("val_mean_accuracy".into(), format!("{:.6}", m.accuracy));
    if let Some(mse) = mean_regression_mse(val) {
        extra.insert("val_regression_mse".into(), format!("{mse:.6}"));
    }
    if let Some(test) = test {
        extra.insert("test_metrics".into(), metrics_json(&data.tasks, test));
        let m = mean_scores(test);
        extra.insert("test_mean_f1".into(), format!("{:.6}", m.f1));
        extra.insert("test_mean_accuracy".into(), format!("{:.6}", m.accuracy));
        if let Some(mse) = mean_regression_mse(test) {
            extra.insert("test_regression_mse".into(), format!("{mse:.6}"));
        }
    }
    extra.insert(
        "trainer".into(),
        format!("mtl-train {}", env!("CARGO_PKG_VERSION")),
    );
    RunInfo {
        tasks: data.tasks.clone(),
        layers: model.net.norm_layers().to_vec(),
        norm: params.norm,
        extra,
    }
}

/// Trains one seed. After every epoch it writes the metrics CSV and the
/// last epoch's checkpoint (`paths.last`, plus the optimiser sidecar), and
/// the best epoch's (`paths.checkpoint`) when the mean validation F1
/// improved. At the end both get test metrics, the best one evaluated on
/// its own weights. `resume` is a last-epoch checkpoint to continue from.
pub fn train_seed(
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    paths: &RunPaths,
    resume: Option<&Path>,
    device: &Device,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<RunSummary> {
    let t = data.tasks.len();
    if data.train.len < params.batch_size {
        bail!(
            "the training split has {} samples, fewer than --batch-size {}; lower --batch-size",
            data.train.len,
            params.batch_size
        );
    }
    let model = build_model_with_heads(
        params.model,
        params.heads,
        &params.widths,
        params.norm,
        t,
        seed,
        params.norm_params,
        DType::F32,
        device,
    )?;
    let regression = regression_mask(data);
    let mut opt = optimizer_for(&model, params)?;
    let Resumed {
        start_epoch,
        mut records,
        mut best,
    } = match resume {
        Some(ckpt) => resume_from(ckpt, &model, &mut opt, data, params, seed, paths, device)?,
        None => Resumed::fresh(),
    };
    let started = Instant::now();
    if start_epoch >= params.epochs {
        bail!(
            "{} already holds epoch {start_epoch} of {}; raise --epochs to continue",
            resume.map(|p| p.display().to_string()).unwrap_or_default(),
            params.epochs
        );
    }
    if let Some(dir) = paths.last.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating folder {}", dir.display()))?;
    }
    let mut val = Vec::new();
    if start_epoch == 0 && params.save_epochs.contains(&0) {
        let (_, initial) = evaluate(&model, data, &data.val, params.batch_size)?;
        let first = BestEpoch {
            epoch: 0,
            val_mean_f1: mean_scores(&initial).f1,
        };
        save_epoch_copy(&model, data, params, seed, paths, first, &initial, 0)?;
    }
    for epoch in start_epoch..params.epochs {
        let (train_loss, train_secs, steps) = train_epoch(
            &model,
            &mut opt,
            data,
            params,
            seed,
            epoch,
            &regression,
            device,
            on_progress,
        )?;
        let (val_loss, scores) = evaluate(&model, data, &data.val, params.batch_size)?;
        val = scores;
        let m = mean_scores(&val);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss,
            val_loss,
            val_f1: m.f1,
            val_accuracy: m.accuracy,
            images_per_sec: (steps * params.batch_size) as f64 / train_secs.max(1e-9),
            seconds: train_secs,
            val_regression_mse: mean_regression_mse(&val),
        };
        records.push(record.clone());
        write_csv(&paths.metrics_csv, &records, regression.contains(&true))?;
        // Strictly better: on ties the earlier epoch stays.
        let best_now = match best {
            Some(b) if m.f1 <= b.val_mean_f1 => b,
            _ => BestEpoch {
                epoch: epoch + 1,
                val_mean_f1: m.f1,
            },
        };
        best = Some(best_now);
        save_after_epoch(
            &model,
            &opt,
            data,
            params,
            seed,
            paths,
            best_now,
            &val,
            epoch + 1,
        )?;
        on_progress(Progress::Epoch(&record));
    }
    let best = best.unwrap_or(BestEpoch {
        epoch: params.epochs,
        val_mean_f1: mean_scores(&val).f1,
    });
    let mut summary = finish_run(&model, data, params, seed, paths, best, val, device)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Test metrics of the last epoch, then of the best one on its own weights
/// (loaded back unless it is the last), written into both checkpoints.
/// `val` is the last epoch's validation scores; `seconds` is left at 0.
#[allow(clippy::too_many_arguments)]
fn finish_run(
    model: &Model,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    paths: &RunPaths,
    best: BestEpoch,
    val: Vec<TaskScore>,
    device: &Device,
) -> Result<RunSummary> {
    let last_epoch = params.epochs;
    let (_, test_last) = evaluate(model, data, &data.test, params.batch_size)?;
    let last_snap = Snapshot {
        epoch: last_epoch,
        selection: Selection::Last,
        best,
        val: &val,
        test: Some(&test_last),
    };
    let info = run_info(model, data, params, seed, &last_snap);
    checkpoint::save(&paths.last, &model.store, &info)?;
    let (best_val, best_test) = if best.epoch == last_epoch {
        (val.clone(), test_last)
    } else {
        LoadedCheckpoint::open(&paths.checkpoint, device)?.load_into(&model.store)?;
        let (_, v) = evaluate(model, data, &data.val, params.batch_size)?;
        let (_, t) = evaluate(model, data, &data.test, params.batch_size)?;
        (v, t)
    };
    let best_snap = Snapshot {
        epoch: best.epoch,
        selection: Selection::Best,
        best,
        val: &best_val,
        test: Some(&best_test),
    };
    let info = run_info(model, data, params, seed, &best_snap);
    checkpoint::save(&paths.checkpoint, &model.store, &info)?;
    Ok(RunSummary {
        checkpoint: paths.checkpoint.clone(),
        best_epoch: best.epoch,
        val: best_val,
        test: best_test,
        seconds: 0.0,
    })
}

/// Trains epoch `epoch` (0-based): one pass over the training split in the
/// order the (seed, epoch) generator deals, so a resumed run shuffles as an
/// uninterrupted one would. Returns the mean loss, the seconds and the
/// number of steps.
#[allow(clippy::too_many_arguments)]
fn train_epoch(
    model: &Model,
    opt: &mut Optimizer,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    epoch: usize,
    regression: &[bool],
    device: &Device,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(f64, f64, usize)> {
    let t = data.tasks.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_mul(1_000_003) ^ epoch as u64);
    let batches = data.train.epoch_batches(params.batch_size, &mut rng);
    let steps = batches.len();
    let t0 = Instant::now();
    let mut loss_sum = 0.0;
    for (step, idx) in batches.iter().enumerate() {
        let (x, y) = data.train.batch(idx, data.image_size, t, device)?;
        let l = train_step(&model.net, opt, &x, &y, regression, params.task_chunk)?;
        if !l.is_finite() {
            bail!(
                "training diverged at epoch {} step {step}: loss is {l}; lower --lr or --alpha",
                epoch + 1
            );
        }
        loss_sum += l;
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        on_progress(Progress::Step {
            epoch: epoch + 1,
            epochs: params.epochs,
            step: step + 1,
            steps,
            loss: l,
            images_per_sec: ((step + 1) * params.batch_size) as f64 / secs,
        });
    }
    Ok((
        loss_sum / steps.max(1) as f64,
        t0.elapsed().as_secs_f64(),
        steps,
    ))
}

/// Where a run starts: its first epoch, the metrics so far and the best
/// epoch so far.
struct Resumed {
    start_epoch: usize,
    records: Vec<EpochRecord>,
    best: Option<BestEpoch>,
}

impl Resumed {
    fn fresh() -> Self {
        Resumed {
            start_epoch: 0,
            records: Vec::new(),
            best: None,
        }
    }
}

/// Loads the last-epoch checkpoint `ckpt` and its optimiser state into
/// `model` and `opt`, after checking that it is this run's.
#[allow(clippy::too_many_arguments)]
fn resume_from(
    ckpt: &Path,
    model: &Model,
    opt: &mut Optimizer,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    paths: &RunPaths,
    device: &Device,
) -> Result<Resumed> {
    let loaded = LoadedCheckpoint::open(ckpt, device)?;
    check_resume(&loaded, data, params, seed)?;
    loaded.load_into(&model.store)?;
    let number = |key: &str| -> Result<f64> {
        loaded
            .require(key)?
            .parse()
            .with_context(|| format!("mtl.{key} of {} is not a number", ckpt.display()))
    };
    let start_epoch = number("epoch")? as usize;
    if loaded.meta("best_epoch").is_none() {
        bail!(
            "cannot resume from {}: it has no mtl.best_epoch (written before best-epoch selection); start the run afresh",
            ckpt.display()
        );
    }
    let best = Some(BestEpoch {
        epoch: number("best_epoch")? as usize,
        val_mean_f1: number("best_val_mean_f1")?,
    });
    let optim = checkpoint::optimizer_path(ckpt);
    if optim.exists() {
        let o = LoadedCheckpoint::open(&optim, device)?;
        let step: u64 = o.require("optimizer_step")?.parse().with_context(|| {
            format!("mtl.optimizer_step of {} is not a number", optim.display())
        })?;
        opt.load_state(step, &|name| o.tensors.get(name).cloned())
            .with_context(|| format!("restoring optimizer state from {}", optim.display()))?;
    } else {
        bail!(
            "cannot resume from {}: its optimizer state {} is missing (runs with --no-optimizer-state cannot be resumed exactly)",
            ckpt.display(),
            optim.display()
        );
    }
    let records = if paths.metrics_csv.exists() {
        read_csv_records(&paths.metrics_csv, start_epoch)?
    } else {
        Vec::new()
    };
    Ok(Resumed {
        start_epoch,
        records,
        best,
    })
}

/// The files written after epoch `epoch` (1-based): the best checkpoint
/// when this epoch is the best so far, the last one with the optimiser
/// sidecar, and the `--save-epochs` copy when asked for.
#[allow(clippy::too_many_arguments)]
fn save_after_epoch(
    model: &Model,
    opt: &Optimizer,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    paths: &RunPaths,
    best: BestEpoch,
    val: &[TaskScore],
    epoch: usize,
) -> Result<()> {
    let mut snap = Snapshot {
        epoch,
        selection: Selection::Last,
        best,
        val,
        test: None,
    };
    if best.epoch == epoch {
        snap.selection = Selection::Best;
        let info = run_info(model, data, params, seed, &snap);
        checkpoint::save(&paths.checkpoint, &model.store, &info)?;
        snap.selection = Selection::Last;
    }
    let info = run_info(model, data, params, seed, &snap);
    checkpoint::save(&paths.last, &model.store, &info)?;
    if params.save_optimizer_state {
        checkpoint::save_optimizer(
            &checkpoint::optimizer_path(&paths.last),
            opt.steps_taken(),
            &opt.state_tensors(),
        )?;
    }
    if params.save_epochs.contains(&epoch) {
        save_epoch_copy(model, data, params, seed, paths, best, val, epoch)?;
    }
    Ok(())
}

/// Writes the `--save-epochs` copy of `model` after `epoch`, with the
/// validation scores `val` of that epoch.
#[allow(clippy::too_many_arguments)]
fn save_epoch_copy(
    model: &Model,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    paths: &RunPaths,
    best: BestEpoch,
    val: &[TaskScore],
    epoch: usize,
) -> Result<()> {
    let path = paths.at_epoch(epoch);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating folder {}", dir.display()))?;
    }
    let snap = Snapshot {
        epoch,
        selection: Selection::Epoch,
        best,
        val,
        test: None,
    };
    checkpoint::save(
        &path,
        &model.store,
        &run_info(model, data, params, seed, &snap),
    )
}

fn check_resume(
    loaded: &LoadedCheckpoint,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
) -> Result<()> {
    let mut checks = vec![
        ("model".to_string(), params.model.name().to_string()),
        ("norm".to_string(), params.norm.name().to_string()),
        ("dataset".to_string(), data.name.clone()),
        ("seed".to_string(), seed.to_string()),
        ("alpha".to_string(), params.alpha.to_string()),
        ("heads".to_string(), params.heads.name().to_string()),
    ];
    for (k, v) in &data.provenance {
        checks.push((format!("dataset_{k}"), v.clone()));
    }
    for (key, want) in checks {
        let key = key.as_str();
        let have = loaded.require(key)?;
        if have != want {
            bail!(
                "cannot resume from {}: it has {key} '{have}' but this run has '{want}'",
                loaded.path.display()
            );
        }
    }
    let widths = Widths::from_metadata(loaded.meta("filters"), loaded.meta("fc"))
        .map_err(|e| anyhow::anyhow!("{}: {e}", loaded.path.display()))?;
    if widths != params.widths {
        let show = |w: &Widths| {
            let m = w.metadata();
            if m.is_empty() {
                "the model's own".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("--{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        bail!(
            "cannot resume from {}: it has widths {} but this run has {}; pass the same --filters/--fc",
            loaded.path.display(),
            show(&widths),
            show(&params.widths)
        );
    }
    if loaded.tasks()? != data.tasks {
        bail!(
            "cannot resume from {}: its tasks differ from the dataset's",
            loaded.path.display()
        );
    }
    Ok(())
}
