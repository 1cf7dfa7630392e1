//! A [`Diagnosis`] as bytes: the JSON summary (schema below, documented in
//! training/README.md, "Diagnose") and two CSV files of per-batch values.
//! Formatting only; every number was computed before.
//!
//! Floats: 6 significant digits in the JSON, 8 in the CSV files (the norm
//! identity can be re-checked from them to far below its 1e-6 tolerance).
//! Undefined values are `null` in JSON and empty in CSV.

use serde_json::{Value, json};

use super::summary::Summary;
use super::{Diagnosis, DropReport, IDENTITY_TOLERANCE, OVERALL, PruningOutcome, ScopeReport};
use crate::metrics::{TaskScore, mean_scores};
use crate::models::SharedOp;

/// Identifies the JSON layout; bump `SCHEMA_VERSION` on any change a reader
/// would notice.
pub const SCHEMA: &str = "mtl-train/diagnose";
pub const SCHEMA_VERSION: u32 = 1;

/// Names of the two CSV files written beside the JSON.
#[derive(Debug, Clone)]
pub struct CsvNames {
    pub conflict: String,
    pub tasks: String,
}

fn summary(s: &Summary) -> Value {
    let q = |i: usize| s.quantiles.map(|q| q[i]);
    json!({
        "n": s.n,
        "undefined": s.undefined,
        "mean": s.mean,
        "std": s.std,
        "min": s.min,
        "q05": q(0),
        "q25": q(1),
        "median": q(2),
        "q75": q(3),
        "q95": q(4),
        "max": s.max,
        "share_negative": s.share_negative,
    })
}

fn op(o: SharedOp) -> Value {
    match o {
        SharedOp::Conv { stride, pad } => json!({"kind": "conv", "stride": stride, "pad": pad}),
        SharedOp::Linear => json!({"kind": "linear"}),
    }
}

/// Per-task summaries as one array per statistic (index = task).
fn columns(per_task: &[Summary]) -> Value {
    let col = |f: &dyn Fn(&Summary) -> Value| Value::Array(per_task.iter().map(f).collect());
    let q = |i: usize| move |s: &Summary| json!(s.quantiles.map(|q| q[i]));
    json!({
        "n": col(&|s| json!(s.n)),
        "undefined": col(&|s| json!(s.undefined)),
        "mean": col(&|s| json!(s.mean)),
        "std": col(&|s| json!(s.std)),
        "min": col(&|s| json!(s.min)),
        "q05": col(&q(0)),
        "q25": col(&q(1)),
        "median": col(&q(2)),
        "q75": col(&q(3)),
        "q95": col(&q(4)),
        "max": col(&|s| json!(s.max)),
        "share_negative": col(&|s| json!(s.share_negative)),
    })
}

/// Per-pair summaries as symmetric T × T matrices, diagonal null.
fn pair_matrices(per_pair: &[Summary], tasks: usize) -> Value {
    let pairs = super::geometry::task_pairs(tasks);
    let matrix = |f: &dyn Fn(&Summary) -> Value| {
        let mut m = vec![vec![Value::Null; tasks]; tasks];
        for ((i, j), s) in pairs.iter().zip(per_pair) {
            m[*i][*j] = f(s);
            m[*j][*i] = f(s);
        }
        json!(m)
    };
    let q = |i: usize| move |s: &Summary| json!(s.quantiles.map(|q| q[i]));
    json!({
        "undefined": matrix(&|s| json!(s.undefined)),
        "mean": matrix(&|s| json!(s.mean)),
        "q05": matrix(&q(0)),
        "median": matrix(&q(2)),
        "q95": matrix(&q(4)),
        "share_negative": matrix(&|s| json!(s.share_negative)),
    })
}

fn scope(s: &ScopeReport, tasks: &[String], params: usize) -> Value {
    let mean_norm = |t: usize| s.norms[t].mean.unwrap_or(f64::NAN);
    let largest = (0..tasks.len()).max_by(|&a, &b| mean_norm(a).total_cmp(&mean_norm(b)));
    let smallest = (0..tasks.len()).min_by(|&a, &b| mean_norm(a).total_cmp(&mean_norm(b)));
    json!({
        "scope": s.scope,
        "params": params,
        "conflict": {
            "pooled": summary(&s.conflict_pooled),
            "pairs": pair_matrices(&s.conflict_pairs, tasks.len()),
        },
        "norm": columns(&s.norms),
        "cos_with_aggregate": columns(&s.cos_aggregate),
        "avgnorm_weight": columns(&s.avgnorm_weights),
        "aggregate_norm": summary(&s.aggregate_norm),
        "imbalance": {
            "max_over_min_of_mean_norms": s.imbalance_of_mean_norms,
            "largest_mean_norm_task": largest.map(|t| tasks[t].clone()),
            "smallest_mean_norm_task": smallest.map(|t| tasks[t].clone()),
            "per_batch_max_over_min": summary(&s.imbalance_per_batch),
        },
        "norm_identity_max_rel_error": s.identity_max_residual,
    })
}

fn drops(d: &DropReport, tasks: usize) -> Value {
    json!({
        "matrix": d.matrix,
        "diagonal_share_by_evaluated": d.share_by_evaluated,
        "p_value_by_evaluated": d.p_by_evaluated,
        "diagonal_share_by_pruned": d.share_by_pruned,
        "p_value_by_pruned": d.p_by_pruned,
        "null_share": if tasks > 0 { Some(1.0 / tasks as f64) } else { None },
    })
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
    let total: usize = layer_params.iter().sum();
    let scopes: Vec<Value> = g
        .scopes
        .iter()
        .map(|s| {
            let params = if s.scope == OVERALL {
                total
            } else {
                d.shared_layers
                    .iter()
                    .zip(&layer_params)
                    .find(|(l, _)| l.name == s.scope)
                    .map_or(0, |(_, p)| *p)
            };
            scope(s, tasks, params)
        })
        .collect();
    let identity = g
        .scopes
        .iter()
        .filter_map(|s| s.identity_max_residual)
        .reduce(f64::max);
    let mean_losses: Vec<Option<f64>> = (0..tasks.len())
        .map(|t| Summary::of_values(&g.task_losses.iter().map(|b| b[t]).collect::<Vec<_>>()).mean)
        .collect();
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
        "gradients": {
            "definition": "g_t = gradient of L_t / T with respect to the shared weights, L_t = task t's mean BCE over the batch; the training loss is (1/T) sum_t L_t, so g = sum_t g_t is the training gradient",
            "method": g.method.name(),
            "split": "train",
            "mode": "training (batch statistics), at the checkpoint's weights",
            "batch_size": g.batch_size,
            "batches": g.batches,
            "batches_available": g.batches_available,
            "checks": {
                "norm_identity": "sum_t |g_t| cos(g_t, g) = |g| per batch and scope",
                "norm_identity_max_rel_error": identity,
                "norm_identity_tolerance": IDENTITY_TOLERANCE,
                "sum_vs_full_gradient_max_rel_error": g.sum_max_rel_error,
            },
            "task_loss_mean": mean_losses,
            "scopes": scopes,
        },
        "evaluation": evaluation,
        "pruning": pruning,
    })
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
    let tasks = &d.tasks;
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
                        "f1_drop": drops(&r.f1_drop, tasks.len()),
                        "loss_increase": drops(&r.loss_increase, tasks.len()),
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

/// `x` rounded to `digits` significant digits, in its shortest form
/// (scientific notation outside [1e-4, 1e6)).
fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() {
            "0".into()
        } else {
            String::new()
        };
    }
    let r: f64 = format!("{:.*e}", digits - 1, x).parse().unwrap_or(x);
    if (1e-4..1e6).contains(&r.abs()) {
        r.to_string()
    } else {
        format!("{r:e}")
    }
}

/// Significant digits of floats in the JSON (a summary for figures).
pub const JSON_DIGITS: usize = 6;
/// Significant digits of floats in the CSV files: enough to re-check the
/// norm identity to 1e-6.
pub const CSV_DIGITS: usize = 8;

fn num(v: Option<f64>) -> String {
    v.map(|x| sig(x, CSV_DIGITS)).unwrap_or_default()
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn write_value(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize| " ".repeat(n);
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(x) if x.is_finite() => out.push_str(&sig(x, JSON_DIGITS)),
            _ => out.push_str("null"),
        },
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) if items.iter().all(is_scalar) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, indent, out);
            }
            out.push(']');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 2));
                write_value(item, indent + 2, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (k, item)) in map.iter().enumerate() {
                out.push_str(&pad(indent + 2));
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_value(item, indent + 2, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Pretty JSON with arrays of numbers on one line and floats rounded to
/// [`JSON_DIGITS`] significant digits; keys sorted (serde_json's map).
pub fn render_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, 0, &mut out);
    out.push('\n');
    out
}

/// `batch,task_a,task_b,overall,<shared weight>…`: cos(g_a, g_b) per batch.
pub fn conflict_csv(d: &Diagnosis) -> String {
    let scopes = &d.gradients.scopes;
    let mut out = String::from("batch,task_a,task_b");
    for s in scopes {
        out.push(',');
        out.push_str(&s.scope);
    }
    out.push('\n');
    let pairs = super::geometry::task_pairs(d.tasks.len());
    for b in 0..d.gradients.batches {
        for (p, (i, j)) in pairs.iter().enumerate() {
            out.push_str(&format!("{b},{},{}", d.tasks[*i], d.tasks[*j]));
            for s in scopes {
                out.push(',');
                out.push_str(&num(s.batches[b].pair_cos[p]));
            }
            out.push('\n');
        }
    }
    out
}

/// `batch,task,scope,loss,norm,cos_with_aggregate,avgnorm_weight,aggregate_norm`.
pub fn tasks_csv(d: &Diagnosis) -> String {
    let mut out = String::from(
        "batch,task,scope,loss,norm,cos_with_aggregate,avgnorm_weight,aggregate_norm\n",
    );
    for b in 0..d.gradients.batches {
        for s in &d.gradients.scopes {
            let v = &s.batches[b];
            for (t, name) in d.tasks.iter().enumerate() {
                out.push_str(&format!(
                    "{b},{name},{},{},{},{},{},{}\n",
                    s.scope,
                    num(Some(d.gradients.task_losses[b][t])),
                    num(Some(v.norms[t])),
                    num(v.cos_aggregate[t]),
                    num(v.avgnorm_weights[t]),
                    num(Some(v.aggregate_norm))
                ));
            }
        }
    }
    out
}
