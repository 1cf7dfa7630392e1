//! `mtl-train diagnose`: gradient conflict, per-task gradient norms and
//! AvgNorm weights, and pruning impact of one checkpoint.
//!
//! ```text
//! input::load (checkpoint → model + data)
//!   ─▶ task_grads (per-task gradients of the shared weights, batch by batch)
//!   ─▶ geometry (cosines, norms, AvgNorm, identity check)  ─▶ summary (distributions)
//!   ─▶ evaluation (per-task loss, F1) ─▶ gates + pruning (T × T drops, dominance, p-value)
//!   ─▶ Diagnosis ─▶ report (JSON + CSV bytes; main.rs writes them)
//! ```
//!
//! Papers: Suteu & Serban (000) Fig. 2 left and Fig. 7 (cosine between the
//! tasks' gradients on the shared convolutions), §5.3 and Fig. 4 right
//! (pruning each task's most important filters); Guo et al. (003) §V-F
//! (per-task gradient norms, cosine with the aggregate gradient) and eq. 6
//! (AvgNorm). Gradients are taken on training batches in training mode, at
//! the checkpoint's weights; the metrics on `--split` in evaluation mode.

pub mod evaluation;
pub mod gates;
pub mod geometry;
pub mod input;
pub use mtl_inspect::analysis::pruning_impact as pruning;
pub mod report;
pub mod task_grads;

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::models::SharedOp;
use crate::usage::UsageError;

use evaluation::{TaskEval, evaluate_tasks};
use gates::{FilterRef, TaskGates};
use geometry::{Geometry, geometry_of};
use input::CheckpointInfo;
use pruning::Direction;
use task_grads::{GradMethod, task_gradients};

/// Random relabellings for the pruning p-value.
pub use pruning::PERMUTATIONS;

pub use mtl_inspect::analysis::gradient_geometry::ScopeReport;
pub use mtl_inspect::diagnostics::write::{IDENTITY_TOLERANCE, OVERALL};

/// Checked settings of a diagnose run.
#[derive(Debug, Clone)]
pub struct DiagnoseParams {
    pub checkpoint: PathBuf,
    /// CelebA folder (CelebA checkpoints only).
    pub data: Option<PathBuf>,
    /// CelebA: at most this many images per split.
    pub limit: Option<usize>,
    /// Training batches whose gradients are measured.
    pub batches: usize,
    /// Default: the checkpoint's `mtl.batch_size`.
    pub batch_size: Option<usize>,
    /// Filters switched off per task; default [`pruning::default_k`].
    pub prune_k: Option<usize>,
    /// Evaluate on the test split (else validation).
    pub test_split: bool,
    /// Evaluation batch size (running statistics: any size gives the same).
    pub eval_batch_size: usize,
    /// Seeds the batch order and the permutations.
    pub seed: u64,
    /// Precision of the model, gradients and evaluation (F32 or F64).
    pub dtype: DType,
    /// Where to write the measured batches, if anywhere.
    pub save_batches: Option<PathBuf>,
    /// Measure the pruning matrices (`--no-pruning` clears it).
    pub pruning: bool,
}

/// What the run reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum DiagnoseProgress {
    Gradients { done: usize, total: usize },
    Evaluations { done: usize, total: usize },
}

/// One shared weight tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedLayer {
    pub name: String,
    pub op: SharedOp,
    pub shape: Vec<usize>,
}

/// Gradient diagnostics over the measured batches.
#[derive(Debug, Clone)]
pub struct GradientReport {
    pub method: GradMethod,
    pub batch_size: usize,
    /// Measured batches: the first of one epoch's order shuffled with the seed.
    pub batches: usize,
    /// Training batches available at this batch size.
    pub batches_available: usize,
    /// [`OVERALL`] first, then the shared weights in depth order.
    pub scopes: Vec<ScopeReport>,
    /// Per batch, L_t.
    pub task_losses: Vec<Vec<f64>>,
    /// max over batches and tensors of ‖Σ_t g_t − ∇L‖ / ‖∇L‖ (∇L: the
    /// autograd gradient of the whole loss from the same pass).
    pub sum_max_rel_error: f64,
}

pub use pruning::DropReport;

/// The pruning matrices of one filter ranking.
#[derive(Debug, Clone)]
pub struct RankingReport {
    pub ranking: pruning::Ranking,
    /// Per task, the filters removed, highest-ranked first.
    pub pruned: Vec<Vec<FilterRef>>,
    /// Per pruned task, every task's evaluation with those filters removed.
    pub evaluations: Vec<TaskEval>,
    pub f1_drop: DropReport,
    pub loss_increase: DropReport,
}

/// Pruning impact (TSσBN and TSBN).
#[derive(Debug, Clone)]
pub struct PruningReport {
    pub k: usize,
    pub filters_per_task: usize,
    pub importance: &'static str,
    pub switch_off: &'static str,
    /// One per [`pruning::Ranking`].
    pub rankings: Vec<RankingReport>,
    pub permutations: usize,
    /// Set when T < 2 (a share needs two tasks to mean anything).
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub enum PruningOutcome {
    Done(Box<PruningReport>),
    Skipped { reason: String },
}

/// Everything `diagnose` found.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub checkpoint: CheckpointInfo,
    pub tasks: Vec<String>,
    pub shared_layers: Vec<SharedLayer>,
    pub seed: u64,
    pub gradients: GradientReport,
    pub eval_split: &'static str,
    pub evaluation: TaskEval,
    pub pruning: PruningOutcome,
}

/// ‖a − b‖ / ‖b‖ in f64 (‖a − b‖ when b = 0).
fn rel_err(a: &candle_core::Tensor, b: &candle_core::Tensor) -> Result<f64> {
    let (a, b) = (a.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?);
    let diff = (&a - &b)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    let norm = b.sqr()?.sum_all()?.to_scalar::<f64>()?;
    Ok(if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        diff.sqrt()
    })
}

/// Runs the diagnostics on `p.checkpoint`.
pub fn run(
    p: &DiagnoseParams,
    device: &Device,
    on_progress: &mut dyn FnMut(DiagnoseProgress),
) -> Result<Diagnosis> {
    let loaded = input::load(&p.checkpoint, p.data.as_deref(), p.limit, p.dtype, device)?;
    let net = &loaded.model.net;
    let t = loaded.tasks.len();

    // Settings that depend on the checkpoint, checked before the long work.
    let batch_size = p.batch_size.or(loaded.info.batch_size).unwrap_or(32);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed);
    let order = loaded.data.train.epoch_batches(batch_size, &mut rng);
    if p.batches > order.len() {
        return Err(UsageError(format!(
            "--batches {} exceeds the {} training batches of {batch_size} in {}; lower --batches or --batch-size",
            p.batches,
            order.len(),
            p.checkpoint.display()
        ))
        .into());
    }
    let gates = if p.pruning {
        TaskGates::of(&loaded.model.store, net.norm, net.norm_layers(), t)?
    } else {
        None
    };
    let k = match &gates {
        Some(g) => prune_k(p, g.filters())?,
        None => 0,
    };
    let (shared_layers, mut gradients) =
        gradient_report(p, &loaded, &order[..p.batches], device, on_progress)?;
    gradients.batch_size = batch_size;
    gradients.batches_available = order.len();

    // Evaluation, then one evaluation per pruned task.
    let data = &loaded.data;
    let split = if p.test_split { &data.test } else { &data.val };
    let evals_total = 1 + if gates.is_some() {
        pruning::Ranking::ALL.len() * t
    } else {
        0
    };
    let evaluation = evaluate_tasks(net, data, split, p.eval_batch_size, p.dtype, device)?;
    on_progress(DiagnoseProgress::Evaluations {
        done: 1,
        total: evals_total,
    });
    let pruning = match &gates {
        None if !p.pruning => PruningOutcome::Skipped {
            reason: "--no-pruning was given".into(),
        },
        None => PruningOutcome::Skipped {
            reason: format!(
                "{} has no task-specific gates (norm '{}'): no filter belongs to one task, so there is nothing to prune per task",
                p.checkpoint.display(),
                net.norm
            ),
        },
        Some(g) => {
            let run = PruneRun {
                p,
                loaded: &loaded,
                split,
                device,
                k,
                evals_total,
            };
            PruningOutcome::Done(Box::new(run.report(g, &evaluation, on_progress)?))
        }
    };
    Ok(Diagnosis {
        checkpoint: loaded.info.clone(),
        tasks: loaded.tasks.clone(),
        shared_layers,
        seed: p.seed,
        gradients,
        eval_split: if p.test_split { "test" } else { "val" },
        evaluation,
        pruning,
    })
}

/// `--prune-k`, or its default, checked against the filters a task has.
fn prune_k(p: &DiagnoseParams, filters: usize) -> Result<usize> {
    let k = p.prune_k.unwrap_or_else(|| pruning::default_k(filters));
    if k > filters {
        return Err(UsageError(format!(
            "--prune-k {k} exceeds the {filters} filters a task has in {}; use at most {filters}",
            p.checkpoint.display()
        ))
        .into());
    }
    Ok(k)
}

/// The per-task gradients of `batches`, reduced batch by batch to each
/// scope's geometry. The report's `batch_size` and `batches_available`
/// are the caller's to fill.
fn gradient_report(
    p: &DiagnoseParams,
    loaded: &input::Loaded,
    batches: &[Vec<usize>],
    device: &Device,
    on_progress: &mut dyn FnMut(DiagnoseProgress),
) -> Result<(Vec<SharedLayer>, GradientReport)> {
    let (net, store, data) = (&loaded.model.net, &loaded.model.store, &loaded.data);
    let t = loaded.tasks.len();
    let mut per_scope: Vec<Vec<Geometry>> = Vec::new();
    let mut shared_layers = Vec::new();
    let mut task_losses = Vec::with_capacity(batches.len());
    let mut sum_err = 0.0f64;
    let mut method = GradMethod::Folded;
    let mut saved = p.save_batches.as_ref().map(|_| Vec::new());
    for (b, idx) in batches.iter().enumerate() {
        let (x, y) = data.train.batch(idx, data.image_size, t, device)?;
        if let Some(saved) = saved.as_mut() {
            saved.push((format!("batch.{b}.images"), x.clone()));
            saved.push((format!("batch.{b}.labels"), y.clone()));
        }
        let (x, y) = (x.to_dtype(p.dtype)?, y.to_dtype(p.dtype)?);
        let g = task_gradients(net, store, &x, &y)
            .with_context(|| format!("per-task gradients of batch {b}"))?;
        method = g.method;
        if shared_layers.is_empty() {
            shared_layers = g
                .layers
                .iter()
                .map(|l| SharedLayer {
                    name: l.name.clone(),
                    op: l.op,
                    shape: l.full.dims().to_vec(),
                })
                .collect();
            per_scope = vec![Vec::with_capacity(batches.len()); g.layers.len() + 1];
        }
        let mut geos = Vec::with_capacity(g.layers.len());
        for l in &g.layers {
            sum_err = sum_err.max(rel_err(&l.per_task.sum(0)?, &l.full)?);
            geos.push(geometry_of(
                &l.per_task,
                &format!("{} (batch {b})", l.name),
            )?);
        }
        let overall = Geometry::concat(&geos)
            .ok_or_else(|| anyhow::anyhow!("the model has no shared weights"))?;
        per_scope[0].push(overall);
        for (slot, geo) in per_scope[1..].iter_mut().zip(geos) {
            slot.push(geo);
        }
        task_losses.push(g.task_losses);
        on_progress(DiagnoseProgress::Gradients {
            done: b + 1,
            total: p.batches,
        });
    }
    if let (Some(path), Some(saved)) = (&p.save_batches, saved) {
        candle_core::safetensors::save(&saved.into_iter().collect(), path)
            .with_context(|| format!("--save-batches {}: writing the batches", path.display()))?;
    }
    let names: Vec<&str> = std::iter::once(OVERALL)
        .chain(shared_layers.iter().map(|l| l.name.as_str()))
        .collect();
    let scopes: Vec<ScopeReport> = names
        .iter()
        .zip(&per_scope)
        .map(|(n, g)| mtl_inspect::analysis::gradient_geometry::scope_report(n, g, t))
        .collect();
    for s in &scopes {
        if let Some(r) = s.identity_max_residual
            && r > IDENTITY_TOLERANCE
        {
            anyhow::bail!(
                "internal check failed: Σ_t ‖g_t‖ cos(g_t, g) differs from ‖g‖ by {r:.2e} (relative) in {}",
                s.scope
            );
        }
    }
    let report = GradientReport {
        method,
        batch_size: 0,
        batches: batches.len(),
        batches_available: 0,
        scopes,
        task_losses,
        sum_max_rel_error: sum_err,
    };
    Ok((shared_layers, report))
}

/// What the pruning evaluations share.
struct PruneRun<'a> {
    p: &'a DiagnoseParams,
    loaded: &'a input::Loaded,
    split: &'a crate::data::Split,
    device: &'a Device,
    k: usize,
    evals_total: usize,
}

impl PruneRun<'_> {
    /// For each ranking, switches off each task's top-k filters in turn and
    /// evaluates every task (paper 000 Fig. 4 right).
    fn report(
        &self,
        g: &TaskGates,
        evaluation: &TaskEval,
        on_progress: &mut dyn FnMut(DiagnoseProgress),
    ) -> Result<PruningReport> {
        let (p, net, data) = (self.p, &self.loaded.model.net, &self.loaded.data);
        let t = self.loaded.tasks.len();
        let importance = g.importance()?;
        let base_f1: Vec<f64> = evaluation
            .scores
            .iter()
            .map(|s| s.f1().unwrap_or(f64::NAN))
            .collect();
        let mut rankings = Vec::with_capacity(pruning::Ranking::ALL.len());
        for (ri, ranking) in pruning::Ranking::ALL.into_iter().enumerate() {
            let chosen = pruning::top_k_filters(&ranking.scores(&importance), self.k);
            let mut evaluations = Vec::with_capacity(t);
            for (task, filters) in chosen.iter().enumerate() {
                let saved = g.switch_off(filters, None)?;
                let e = evaluate_tasks(
                    net,
                    data,
                    self.split,
                    p.eval_batch_size,
                    p.dtype,
                    self.device,
                );
                g.restore(saved)?;
                evaluations.push(e?);
                on_progress(DiagnoseProgress::Evaluations {
                    done: 2 + ri * t + task,
                    total: self.evals_total,
                });
            }
            let f1: Vec<Vec<f64>> = evaluations
                .iter()
                .map(|e| {
                    e.scores
                        .iter()
                        .map(|s| s.f1().unwrap_or(f64::NAN))
                        .collect()
                })
                .collect();
            let loss: Vec<Vec<f64>> = evaluations.iter().map(|e| e.loss.clone()).collect();
            rankings.push(RankingReport {
                ranking,
                pruned: chosen
                    .iter()
                    .map(|fs| fs.iter().filter_map(|&f| g.filter(f)).collect())
                    .collect(),
                f1_drop: pruning::drop_report(
                    pruning::drop_matrix(&base_f1, &f1, Direction::HigherIsBetter),
                    PERMUTATIONS,
                    p.seed,
                ),
                loss_increase: pruning::drop_report(
                    pruning::drop_matrix(&evaluation.loss, &loss, Direction::LowerIsBetter),
                    PERMUTATIONS,
                    p.seed,
                ),
                evaluations,
            });
        }
        Ok(PruningReport {
            k: self.k,
            filters_per_task: g.filters(),
            importance: match g.gate_kind() {
                mtl_inspect::GateKind::Sigmoid => "sigmoid(gamma)",
                _ => "abs(gamma)",
            },
            switch_off: match net.norm {
                crate::layers::NormKind::TsSigmaBn => {
                    "filter removed: every task's gate of the filter set to 0 (gamma = -inf)"
                }
                _ => "filter removed: every task's gate of the filter set to 0 (gamma = beta = 0)",
            },
            rankings,
            permutations: PERMUTATIONS,
            note: (t < 2).then(|| "one task: diagonal dominance is undefined".to_string()),
        })
    }
}
