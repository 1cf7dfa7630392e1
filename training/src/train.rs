//! The training loop of one seed: batches, forward over all tasks at once,
//! BCE, the grouped optimiser, per-epoch validation, the metrics CSV and an
//! atomic checkpoint after every epoch. Progress goes to a callback; this
//! module prints nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::checkpoint::{self, LoadedCheckpoint, RunInfo, metrics_json};
use crate::data::{Dataset, Split};
use crate::layers::{NormKind, NormParams};
use crate::metrics::{TaskMetrics, TaskScore, mean_scores};
use crate::models::{ModelKind, MultiTaskNet, loss::bce_with_logits};
use crate::optim::{Optimizer, OptimizerKind, param_groups};
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
    /// Also write `<stem>.optim.safetensors` so `--resume` continues exactly.
    pub save_optimizer_state: bool,
}

/// A model and its tensors.
pub struct Model {
    pub store: ParamStore,
    pub net: MultiTaskNet,
}

/// Builds `kind` for `tasks` tasks, weights drawn from `seed`.
pub fn build_model(
    kind: ModelKind,
    norm: NormKind,
    tasks: usize,
    seed: u64,
    norm_params: NormParams,
    device: &Device,
) -> Result<Model> {
    let store = ParamStore::new(DType::F32, device.clone());
    let net = MultiTaskNet::new(&kind.spec(), norm, tasks, norm_params, &store.builder(seed))
        .with_context(|| format!("building {kind} with {norm} for {tasks} tasks"))?;
    Ok(Model { store, net })
}

/// One line of the per-epoch CSV.
#[derive(Debug, Clone)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_f1: f64,
    pub val_accuracy: f64,
    pub images_per_sec: f64,
    pub seconds: f64,
}

impl EpochRecord {
    pub const CSV_HEADER: &'static str =
        "epoch,train_loss,val_loss,val_mean_f1,val_mean_accuracy,images_per_sec,seconds";

    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.1},{:.2}",
            self.epoch,
            self.train_loss,
            self.val_loss,
            self.val_f1,
            self.val_accuracy,
            self.images_per_sec,
            self.seconds
        )
    }
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
    pub checkpoint: PathBuf,
    pub metrics_csv: PathBuf,
}

impl RunPaths {
    /// `<dir>/<dataset>_<norm>_seed<seed>.safetensors` and `.metrics.csv`.
    pub fn new(dir: &Path, dataset: &str, norm: NormKind, seed: u64) -> Self {
        let stem = format!("{dataset}_{}_seed{seed}", norm.name());
        RunPaths {
            checkpoint: dir.join(format!("{stem}.safetensors")),
            metrics_csv: dir.join(format!("{stem}.metrics.csv")),
        }
    }
}

/// The outcome of a seed.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub checkpoint: PathBuf,
    pub val: Vec<TaskScore>,
    pub test: Vec<TaskScore>,
    pub seconds: f64,
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
    let mut metrics = TaskMetrics::new(t);
    let mut loss_sum = 0.0;
    let mut n = 0usize;
    for idx in split.eval_batches(batch) {
        let (x, y) = split.batch(&idx, data.image_size, t, device)?;
        let logits = model.net.forward(&x, false)?;
        loss_sum += bce_with_logits(&logits, &y)?.to_scalar::<f32>()? as f64 * idx.len() as f64;
        n += idx.len();
        let l = logits.flatten_all()?.to_vec1::<f32>()?;
        let yv = y.flatten_all()?.to_vec1::<f32>()?;
        metrics.add(&l, &yv);
    }
    Ok((loss_sum / n.max(1) as f64, metrics.scores()))
}

fn optimizer_for(model: &Model, params: &TrainParams) -> Result<Optimizer> {
    let groups = param_groups(&model.store, params.alpha, params.weight_decay);
    Ok(Optimizer::new(params.optimizer, params.lr, groups)?)
}

fn run_info(
    model: &Model,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
    epoch: usize,
    val: &[TaskScore],
    test: Option<&[TaskScore]>,
) -> RunInfo {
    let mut extra = BTreeMap::new();
    extra.insert("model".into(), params.model.name().into());
    extra.insert("alpha".into(), params.alpha.to_string());
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
    extra.insert("metrics".into(), metrics_json(&data.tasks, val));
    let m = mean_scores(val);
    extra.insert("val_mean_f1".into(), format!("{:.6}", m.f1));
    extra.insert("val_mean_accuracy".into(), format!("{:.6}", m.accuracy));
    if let Some(test) = test {
        extra.insert("test_metrics".into(), metrics_json(&data.tasks, test));
        let m = mean_scores(test);
        extra.insert("test_mean_f1".into(), format!("{:.6}", m.f1));
        extra.insert("test_mean_accuracy".into(), format!("{:.6}", m.accuracy));
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

/// Trains one seed, writing the checkpoint and metrics CSV after every
/// epoch. With `resume`, continues from that checkpoint's epoch.
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
    let model = build_model(
        params.model,
        params.norm,
        t,
        seed,
        params.norm_params,
        device,
    )?;
    let mut opt = optimizer_for(&model, params)?;
    let mut start_epoch = 0;
    let mut records: Vec<EpochRecord> = Vec::new();
    if let Some(ckpt) = resume {
        let loaded = LoadedCheckpoint::open(ckpt, device)?;
        check_resume(&loaded, data, params, seed)?;
        loaded.load_into(&model.store)?;
        start_epoch = loaded
            .require("epoch")?
            .parse()
            .with_context(|| format!("mtl.epoch of {} is not a number", ckpt.display()))?;
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
        if paths.metrics_csv.exists() {
            records = read_csv_records(&paths.metrics_csv, start_epoch)?;
        }
    }
    let started = Instant::now();
    let mut val_scores = Vec::new();
    let mut test_scores = None;
    if start_epoch >= params.epochs {
        bail!(
            "{} already holds epoch {start_epoch} of {}; raise --epochs to continue",
            resume.map(|p| p.display().to_string()).unwrap_or_default(),
            params.epochs
        );
    }
    for epoch in start_epoch..params.epochs {
        // One generator per (seed, epoch): a resumed run shuffles as an
        // uninterrupted one would.
        let mut rng =
            Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_mul(1_000_003) ^ epoch as u64);
        let batches = data.train.epoch_batches(params.batch_size, &mut rng);
        let steps = batches.len();
        let t0 = Instant::now();
        let mut loss_sum = 0.0;
        for (step, idx) in batches.iter().enumerate() {
            let (x, y) = data.train.batch(idx, data.image_size, t, device)?;
            let logits = model.net.forward(&x, true)?;
            let loss = bce_with_logits(&logits, &y)?;
            let grads = loss.backward()?;
            opt.step(&grads)?;
            let l = loss.to_scalar::<f32>()? as f64;
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
        let train_secs = t0.elapsed().as_secs_f64();
        let (val_loss, val) = evaluate(&model, data, &data.val, params.batch_size)?;
        let m = mean_scores(&val);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / steps.max(1) as f64,
            val_loss,
            val_f1: m.f1,
            val_accuracy: m.accuracy,
            images_per_sec: (steps * params.batch_size) as f64 / train_secs.max(1e-9),
            seconds: train_secs,
        };
        records.push(record.clone());
        write_csv(&paths.metrics_csv, &records)?;
        if epoch + 1 == params.epochs {
            let (_, test) = evaluate(&model, data, &data.test, params.batch_size)?;
            test_scores = Some(test);
        }
        let info = run_info(
            &model,
            data,
            params,
            seed,
            epoch + 1,
            &val,
            test_scores.as_deref(),
        );
        checkpoint::save(&paths.checkpoint, &model.store, &info)?;
        if params.save_optimizer_state {
            checkpoint::save_optimizer(
                &checkpoint::optimizer_path(&paths.checkpoint),
                opt.steps_taken(),
                &opt.state_tensors(),
            )?;
        }
        on_progress(Progress::Epoch(&record));
        val_scores = val;
    }
    Ok(RunSummary {
        checkpoint: paths.checkpoint.clone(),
        val: val_scores,
        test: test_scores.unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn check_resume(
    loaded: &LoadedCheckpoint,
    data: &Dataset,
    params: &TrainParams,
    seed: u64,
) -> Result<()> {
    let checks = [
        ("model", params.model.name().to_string()),
        ("norm", params.norm.name().to_string()),
        ("dataset", data.name.clone()),
        ("seed", seed.to_string()),
    ];
    for (key, want) in checks {
        let have = loaded.require(key)?;
        if have != want {
            bail!(
                "cannot resume from {}: it has {key} '{have}' but this run has '{want}'",
                loaded.path.display()
            );
        }
    }
    if loaded.tasks()? != data.tasks {
        bail!(
            "cannot resume from {}: its tasks differ from the dataset's",
            loaded.path.display()
        );
    }
    Ok(())
}

fn write_csv(path: &Path, records: &[EpochRecord]) -> Result<()> {
    let mut body = String::from(EpochRecord::CSV_HEADER);
    body.push('\n');
    for r in records {
        body.push_str(&r.csv_row());
        body.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("writing metrics {}", path.display()))
}

fn read_csv_records(path: &Path, up_to_epoch: usize) -> Result<Vec<EpochRecord>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading metrics {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<f64> = line
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} line {}: not a number", path.display(), i + 1))?;
        let [
            epoch,
            train_loss,
            val_loss,
            val_f1,
            val_accuracy,
            images_per_sec,
            seconds,
        ] = f[..]
        else {
            bail!("{} line {}: expected 7 columns", path.display(), i + 1);
        };
        if (epoch as usize) <= up_to_epoch {
            out.push(EpochRecord {
                epoch: epoch as usize,
                train_loss,
                val_loss,
                val_f1,
                val_accuracy,
                images_per_sec,
                seconds,
            });
        }
    }
    Ok(out)
}
