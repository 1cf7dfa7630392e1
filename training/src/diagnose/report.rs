//! A [`Diagnosis`] as bytes: the JSON summary (schema below, documented in
//! training/README.md, "Diagnose") and two CSV files of per-batch values.
//! Formatting only; every number was computed before. The gradient part
//! (the `gradients` object, both CSV files, number formatting) is written
//! by the root library's [`mtl_inspect::diagnostics::write`], which the
//! PyTorch recorder shares; this file adds what only `mtl-train` knows —
//! the checkpoint, the evaluation and the pruning matrices.

use mtl_inspect::diagnostics::write::{self, GradientSeries, gradients_json};
pub use mtl_inspect::diagnostics::write::{SCHEMA, SCHEMA_VERSION, render_json};
use serde_json::{Value, json};

use super::{Diagnosis, OVERALL, PruningOutcome};
use crate::metrics::{TaskScore, mean_scores};
use crate::models::SharedOp;

/// Names of the two CSV files written beside the JSON.
#[derive(Debug, Clone)]
pub struct CsvNames {
    pub conflict: String,
    pub tasks: String,
}

fn op(o: SharedOp) -> Value {
    match o {
        SharedOp::Conv { stride, pad } => json!({"kind": "conv", "stride": stride, "pad": pad}),
        SharedOp::Linear => json!({"kind": "linear"}),
    }
}

/// The JSON document.
pub fn to_json(d: &Diagnosis, csv: &CsvNames) -> Value {
    let tasks = &d.tasks;
    let g = &d.gradients;
    let layer_params: Vec<usize> = d
        .shared_layers
        .iter()
        .map(|l| l.shape.iter().product())
        .collect();
    let params = scope_params(d);
    let series = series(d, &params);
    let mut keys = serde_json::Map::new();
    keys.insert("definition".into(), json!("g_t = gradient of L_t / T with respect to the shared weights, L_t = task t's mean BCE over the batch; the training loss is (1/T) sum_t L_t, so g = sum_t g_t is the training gradient"));
    keys.insert("method".into(), json!(g.method.name()));
    keys.insert("split".into(), json!("train"));
    keys.insert(
        "mode".into(),
        json!("training (batch statistics), at the checkpoint's weights"),
    );
    keys.insert("batch_size".into(), json!(g.batch_size));
    keys.insert("batches_available".into(), json!(g.batches_available));
    let mut checks = serde_json::Map::new();
    checks.insert(
        "sum_vs_full_gradient_max_rel_error".into(),
        json!(g.sum_max_rel_error),
    );
    let evaluation = evaluation(d);
    let pruning = pruning(d);
    let c = &d.checkpoint;
    json!({
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "trainer": format!("mtl-train {}", env!("CARGO_PKG_VERSION")),
        "checkpoint": {
            "path": c.path.display().to_string(),
            "model": c.model.name(),
            "norm": c.norm.name(),
            "dataset": c.dataset,
            "epoch": c.epoch,
            "seed": c.seed,
            "batch_size": c.batch_size,
        },
        "tasks": tasks,
        "shared_layers": d.shared_layers.iter().zip(&layer_params).map(|(l, p)| json!({
            "name": l.name, "op": op(l.op), "shape": l.shape, "params": p,
        })).collect::<Vec<_>>(),
        "seed": d.seed,
        "files": {"conflict_csv": csv.conflict, "tasks_csv": csv.tasks},
        "gradients": gradients_json(&series, keys, checks),
        "evaluation": evaluation,
        "pruning": pruning,
    })
}

/// Parameters of each scope of `d.gradients.scopes`: [`OVERALL`] has them all.
fn scope_params(d: &Diagnosis) -> Vec<usize> {
    let layer = |name: &str| {
        d.shared_layers
            .iter()
            .find(|l| l.name == name)
            .map_or(0, |l| l.shape.iter().product())
    };
    let total: usize = d
        .shared_layers
        .iter()
        .map(|l| l.shape.iter().product::<usize>())
        .sum();
    d.gradients
        .scopes
        .iter()
        .map(|s| {
            if s.scope == OVERALL {
                total
            } else {
                layer(&s.scope)
            }
        })
        .collect()
}

/// The gradient part of `d` as the root library's writer takes it.
fn series<'a>(d: &'a Diagnosis, params: &'a [usize]) -> GradientSeries<'a> {
    GradientSeries {
        tasks: &d.tasks,
        scopes: &d.gradients.scopes,
        scope_params: params,
        task_losses: &d.gradients.task_losses,
        steps: None,
    }
}

/// The `evaluation` object: each task's loss and scores on the split.
fn evaluation(d: &Diagnosis) -> Value {
    let tasks = &d.tasks;
    let e = &d.evaluation;
    let eval_tasks: Vec<Value> = tasks
        .iter()
        .zip(&e.loss)
        .zip(&e.scores)
        .map(|((t, l), s)| match s {
            TaskScore::Binary { f1, accuracy } => {
                json!({"task": t, "loss": l, "f1": f1, "accuracy": accuracy})
            }
            TaskScore::Regression { mse, r2 } => {
                json!({"task": t, "loss": l, "mse": mse, "r2": r2})
            }
        })
        .collect();
    let m = mean_scores(&e.scores);
    let mean_loss = e.loss.iter().sum::<f64>() / e.loss.len().max(1) as f64;
    json!({
        "split": d.eval_split,
        "mode": "evaluation (running statistics)",
        "samples": e.samples,
        "tasks": eval_tasks,
        "mean": {"loss": mean_loss, "f1": m.f1, "accuracy": m.accuracy},
    })
}

/// The `pruning` object: the drop matrices of each ranking, or why
/// pruning was skipped.
fn pruning(d: &Diagnosis) -> Value {
    match &d.pruning {
        PruningOutcome::Skipped { reason } => json!({"status": "skipped", "reason": reason}),
        PruningOutcome::Done(p) => {
            let rankings: Vec<Value> = p
                .rankings
                .iter()
                .map(|r| {
                    json!({
                        "ranking": r.ranking.name(),
                        "pruned_filters": r.pruned.iter().map(|fs| fs.iter().map(|f| json!([f.layer, f.channel])).collect::<Vec<_>>()).collect::<Vec<_>>(),
                        "f1_drop": write::drops_json(&r.f1_drop),
                        "loss_increase": write::drops_json(&r.loss_increase),
                    })
                })
                .collect();
            json!({
                "status": "done",
                "k": p.k,
                "filters_per_task": p.filters_per_task,
                "importance": p.importance,
                "switch_off": p.switch_off,
                "own_gates_only": "switching off only task r's gates gives row r's diagonal entry and 0 elsewhere: task c's logits depend on task c's gates only",
                "rows": "task whose top-k filters were removed (tasks order)",
                "columns": "evaluated task (tasks order)",
                "rankings": rankings,
                "permutations": p.permutations,
                "seed": d.seed,
                "note": p.note,
            })
        }
    }
}

/// `batch,task_a,task_b,overall,<shared weight>…`: cos(g_a, g_b) per batch.
pub fn conflict_csv(d: &Diagnosis) -> String {
    let params = scope_params(d);
    write::conflict_csv(&series(d, &params))
}

/// `batch,task,scope,loss,norm,cos_with_aggregate,avgnorm_weight,aggregate_norm`.
pub fn tasks_csv(d: &Diagnosis) -> String {
    let params = scope_params(d);
    write::tasks_csv(&series(d, &params))
}
