//! Writing the gradient part of a diagnose file (schema
//! `mtl-train/diagnose`): the `gradients` object of the JSON and the two
//! CSV files of per-batch values, from [`ScopeReport`]s. `mtl-train
//! diagnose` and the PyTorch recorder (`mtl_inspect.torch`) both write
//! through here, so the two files cannot drift apart. Formatting only;
//! every number was computed before.
//!
//! Floats: 6 significant digits in the JSON, 8 in the CSV files (the norm
//! identity can be re-checked from them to far below its 1e-6 tolerance).
//! Undefined values are `null` in JSON and empty in CSV.

use serde_json::{Map, Value, json};

use crate::analysis::gradient_geometry::{
    ScopeReport, StepSummary, Summary, over_steps, task_pairs,
};
use crate::analysis::pruning_impact::DropReport;

/// Identifies the JSON layout; bump `SCHEMA_VERSION` on any change a reader
/// would notice. Version 2 (the PyTorch recorder): `evaluation` and
/// `pruning` may be absent, `checkpoint` may name a model class instead of
/// an mtl-train run, and `gradients` may hold `steps` and `over_steps`.
pub const SCHEMA: &str = "mtl-train/diagnose";
pub const SCHEMA_VERSION: u32 = 2;

/// The identity Σ_t ‖g_t‖ cos(g_t, g) = ‖g‖ must hold to this relative
/// error on every batch and scope, or the run fails.
pub const IDENTITY_TOLERANCE: f64 = 1e-6;

/// Name of the scope made of all shared weights together.
pub const OVERALL: &str = "overall";

/// The per-batch gradient geometry of one diagnosed model.
#[derive(Debug, Clone, Copy)]
pub struct GradientSeries<'a> {
    pub tasks: &'a [String],
    /// [`OVERALL`] first, then the shared weights in depth order.
    pub scopes: &'a [ScopeReport],
    /// Parameters in each scope (same order).
    pub scope_params: &'a [usize],
    /// Per batch, L_t.
    pub task_losses: &'a [Vec<f64>],
    /// Per batch, the training step it was recorded at (a recorder over
    /// training); `None` for batches of one checkpoint.
    pub steps: Option<&'a [u64]>,
}

impl GradientSeries<'_> {
    pub fn batches(&self) -> usize {
        self.task_losses.len()
    }

    /// Largest identity residual over scopes and batches.
    pub fn identity_max_residual(&self) -> Option<f64> {
        self.scopes
            .iter()
            .filter_map(|s| s.identity_max_residual)
            .reduce(f64::max)
    }
}

/// One [`Summary`] as its JSON object (quantiles named by level).
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
    let pairs = task_pairs(tasks);
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

/// The `gradients` object: `keys` (the writer's own: definition, method,
/// mode, batch size, …) plus what follows from the series — `batches`,
/// `task_loss_mean`, `scopes`, `checks` (the norm identity, merged with
/// `checks`), and with steps, `steps` and `over_steps` (the `overall`
/// scope per training step).
pub fn gradients_json(
    g: &GradientSeries,
    keys: Map<String, Value>,
    checks: Map<String, Value>,
) -> Value {
    let scopes: Vec<Value> = g
        .scopes
        .iter()
        .zip(g.scope_params)
        .map(|(s, p)| scope(s, g.tasks, *p))
        .collect();
    let mean_losses: Vec<Option<f64>> = (0..g.tasks.len())
        .map(|t| Summary::of_values(&g.task_losses.iter().map(|b| b[t]).collect::<Vec<_>>()).mean)
        .collect();
    let mut all_checks = Map::new();
    all_checks.insert(
        "norm_identity".into(),
        json!("sum_t |g_t| cos(g_t, g) = |g| per batch and scope"),
    );
    all_checks.insert(
        "norm_identity_max_rel_error".into(),
        json!(g.identity_max_residual()),
    );
    all_checks.insert("norm_identity_tolerance".into(), json!(IDENTITY_TOLERANCE));
    all_checks.extend(checks);
    let mut out = keys;
    out.insert("batches".into(), json!(g.batches()));
    out.insert("checks".into(), Value::Object(all_checks));
    out.insert("task_loss_mean".into(), json!(mean_losses));
    out.insert("scopes".into(), Value::Array(scopes));
    if let (Some(steps), Some(overall)) = (g.steps, g.scopes.first()) {
        out.insert("steps".into(), json!(steps));
        out.insert(
            "over_steps".into(),
            steps_json(&over_steps(overall, steps), overall),
        );
    }
    Value::Object(out)
}

/// One pruning matrix with its diagonal shares and p-values (the
/// `pruning.rankings[].f1_drop` / `loss_increase` objects).
pub fn drops_json(d: &DropReport) -> Value {
    let tasks = d.matrix.len();
    json!({
        "matrix": d.matrix,
        "diagonal_share_by_evaluated": d.share_by_evaluated,
        "p_value_by_evaluated": d.p_by_evaluated,
        "diagonal_share_by_pruned": d.share_by_pruned,
        "p_value_by_pruned": d.p_by_pruned,
        "null_share": if tasks > 0 { Some(1.0 / tasks as f64) } else { None },
    })
}

/// `over_steps`: one entry per distinct step, in step order, for the
/// `overall` scope.
fn steps_json(s: &[StepSummary], overall: &ScopeReport) -> Value {
    let col = |f: &dyn Fn(&StepSummary) -> Value| Value::Array(s.iter().map(f).collect());
    let q = |i: usize| move |x: &StepSummary| json!(x.conflict.quantiles.map(|q| q[i]));
    json!({
        "scope": overall.scope,
        "step": col(&|x| json!(x.step)),
        "batches": col(&|x| json!(x.batches)),
        "conflict": {
            "n": col(&|x| json!(x.conflict.n)),
            "undefined": col(&|x| json!(x.conflict.undefined)),
            "mean": col(&|x| json!(x.conflict.mean)),
            "q05": col(&q(0)),
            "q25": col(&q(1)),
            "median": col(&q(2)),
            "q75": col(&q(3)),
            "q95": col(&q(4)),
            "share_negative": col(&|x| json!(x.conflict.share_negative)),
        },
        "norm_mean": col(&|x| json!(x.norm_mean)),
        "avgnorm_weight_mean": col(&|x| json!(x.avgnorm_weight_mean)),
        "aggregate_norm_mean": col(&|x| json!(x.aggregate_norm_mean)),
    })
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
pub fn conflict_csv(g: &GradientSeries) -> String {
    let mut out = String::from("batch,task_a,task_b");
    for s in g.scopes {
        out.push(',');
        out.push_str(&s.scope);
    }
    out.push('\n');
    let pairs = task_pairs(g.tasks.len());
    for b in 0..g.batches() {
        for (p, (i, j)) in pairs.iter().enumerate() {
            out.push_str(&format!("{b},{},{}", g.tasks[*i], g.tasks[*j]));
            for s in g.scopes {
                out.push(',');
                out.push_str(&num(s.batches[b].pair_cos[p]));
            }
            out.push('\n');
        }
    }
    out
}

/// `batch,task,scope,loss,norm,cos_with_aggregate,avgnorm_weight,aggregate_norm`.
pub fn tasks_csv(g: &GradientSeries) -> String {
    let mut out = String::from(
        "batch,task,scope,loss,norm,cos_with_aggregate,avgnorm_weight,aggregate_norm\n",
    );
    for b in 0..g.batches() {
        for s in g.scopes {
            let v = &s.batches[b];
            for (t, name) in g.tasks.iter().enumerate() {
                out.push_str(&format!(
                    "{b},{name},{},{},{},{},{},{}\n",
                    s.scope,
                    num(Some(g.task_losses[b][t])),
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
