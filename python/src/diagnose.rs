//! The PyTorch side's (`mtl_inspect.torch`) way into the root library.
//!
//! - `diagnose_document`: Python computes the per-task gradients' Grams with
//!   torch; everything read off them (cosines, norms, AvgNorm weights, the
//!   distributions, the steps) and the file format are the library's, the
//!   same code `mtl-train diagnose` writes with.
//! - `pruning_rankings`, `pruning_drops`: the filters each task's pruning
//!   removes and the drop matrices' diagonal shares and p-values, as
//!   `mtl-train diagnose` computes them; Python evaluates the pruned model.

use pyo3::prelude::*;
use serde_json::{Map, Value, json};

use mtl_inspect::analysis::gradient_geometry::reports_from_grams;
use mtl_inspect::analysis::pruning_impact::{
    Direction, Ranking, default_k, drop_matrix, drop_report, top_k_filters,
};
use mtl_inspect::diagnostics::write::{
    self, GradientSeries, OVERALL, SCHEMA, SCHEMA_VERSION, gradients_json, render_json,
};

use crate::errors::{Error, guard};

fn object(text: &str, what: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Param(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::Param(format!("{what} is not valid JSON: {e}"))),
    }
}

/// The diagnose file of recorded Grams: `(json, conflict_csv, tasks_csv)`.
///
/// `grams` is `[batches][scopes][T][T]` flattened (float64), `losses`
/// `[batches][T]`, `steps` one training step per batch (or `None`);
/// `document` holds the top-level keys besides `schema`, `tasks` and
/// `gradients` (trainer, checkpoint, shared_layers, files, …) and
/// `gradient_keys` the recorder's own keys of `gradients` (definition,
/// method, weights, …).
#[pyfunction]
#[pyo3(signature = (tasks, scopes, params, grams, losses, steps, document, gradient_keys))]
#[allow(clippy::too_many_arguments)]
pub fn diagnose_document(
    py: Python<'_>,
    tasks: Vec<String>,
    scopes: Vec<String>,
    params: Vec<usize>,
    grams: Vec<f64>,
    losses: Vec<f64>,
    steps: Option<Vec<u64>>,
    document: String,
    gradient_keys: String,
) -> PyResult<(String, String, String)> {
    guard(|| {
        let t = tasks.len();
        let s = scopes.len();
        if t == 0 || s == 0 {
            return Err(Error::Param(format!(
                "need at least one task and one shared tensor (got {t} tasks, {s} tensors)"
            ))
            .into());
        }
        if params.len() != s {
            return Err(
                Error::Param(format!("{} parameter counts for {s} tensors", params.len())).into(),
            );
        }
        if let Some(name) = scopes.iter().find(|n| n.as_str() == OVERALL) {
            return Err(Error::Param(format!(
                "a shared tensor may not be named '{name}': that is the scope of all of them"
            ))
            .into());
        }
        let per_batch = s * t * t;
        if grams.is_empty() || !grams.len().is_multiple_of(per_batch) {
            return Err(Error::Param(format!(
                "grams has {} values, not a positive multiple of {s} tensors × {t} × {t} tasks",
                grams.len()
            ))
            .into());
        }
        let b = grams.len() / per_batch;
        if losses.len() != b * t {
            return Err(Error::Param(format!(
                "losses has {} values for {b} batches × {t} tasks",
                losses.len()
            ))
            .into());
        }
        if let Some(st) = &steps
            && st.len() != b
        {
            return Err(
                Error::Param(format!("steps has {} entries for {b} batches", st.len())).into(),
            );
        }
        let mut doc = object(&document, "document")?;
        let keys = object(&gradient_keys, "gradient_keys")?;
        let grams: Vec<Vec<Vec<f64>>> = grams
            .chunks(per_batch)
            .map(|batch| batch.chunks(t * t).map(<[f64]>::to_vec).collect())
            .collect();
        let losses: Vec<Vec<f64>> = losses.chunks(t).map(<[f64]>::to_vec).collect();
        let (text, conflict, per_task) = py.detach(|| {
            let reports = reports_from_grams(OVERALL, &scopes, t, &grams).map_err(|e| {
                Error::Input(format!(
                    "{e}; the recorder should have refused it earlier (a bug)"
                ))
            })?;
            let total: usize = params.iter().sum();
            let all_params: Vec<usize> = std::iter::once(total)
                .chain(params.iter().copied())
                .collect();
            let series = GradientSeries {
                tasks: &tasks,
                scopes: &reports,
                scope_params: &all_params,
                task_losses: &losses,
                steps: steps.as_deref(),
            };
            doc.insert("schema".into(), json!(SCHEMA));
            doc.insert("schema_version".into(), json!(SCHEMA_VERSION));
            doc.insert("tasks".into(), json!(tasks));
            doc.insert(
                "gradients".into(),
                gradients_json(&series, keys, Map::new()),
            );
            Ok::<_, Error>((
                render_json(&Value::Object(doc)),
                write::conflict_csv(&series),
                write::tasks_csv(&series),
            ))
        })?;
        Ok((text, conflict, per_task))
    })
}

fn rows(values: &[f64], tasks: usize, what: &str) -> Result<Vec<Vec<f64>>, Error> {
    if tasks == 0 || values.is_empty() || !values.len().is_multiple_of(tasks) {
        return Err(Error::Param(format!(
            "{what} has {} values, not a positive multiple of {tasks} tasks",
            values.len()
        )));
    }
    Ok(values
        .chunks(values.len() / tasks)
        .map(<[f64]>::to_vec)
        .collect())
}

/// `{"default_k": …, "<ranking>": [[filter, …] per task], …}` for the
/// importance matrix `importance` (tasks × filters, row-major): each
/// task's top `k` filters by importance and by specialization.
#[pyfunction]
#[pyo3(signature = (importance, tasks, k=None))]
pub fn pruning_rankings(importance: Vec<f64>, tasks: usize, k: Option<usize>) -> PyResult<String> {
    guard(|| {
        let imp = rows(&importance, tasks, "importance")?;
        let filters = imp[0].len();
        let k = k.unwrap_or_else(|| default_k(filters));
        if k == 0 || k > filters {
            return Err(Error::Param(format!(
                "k = {k}: choose between 1 and the {filters} filters a task has"
            ))
            .into());
        }
        let mut out = Map::new();
        out.insert("k".into(), json!(k));
        out.insert("filters_per_task".into(), json!(filters));
        for r in Ranking::ALL {
            out.insert(r.name().into(), json!(top_k_filters(&r.scores(&imp), k)));
        }
        Ok(Value::Object(out).to_string())
    })
}

/// The drop matrix `[pruned task][evaluated task]` of the scores `pruned`
/// (T × T, row-major) against `base` (T), with its diagonal shares and
/// permutation p-values, as the diagnose file's `score_drop` object.
#[pyfunction]
#[pyo3(signature = (base, pruned, higher_is_better=true, permutations=9999, seed=0))]
pub fn pruning_drops(
    base: Vec<f64>,
    pruned: Vec<f64>,
    higher_is_better: bool,
    permutations: usize,
    seed: u64,
) -> PyResult<String> {
    guard(|| {
        let t = base.len();
        if pruned.len() != t * t {
            return Err(Error::Param(format!(
                "pruned has {} scores for {t} × {t} (pruned task × evaluated task)",
                pruned.len()
            ))
            .into());
        }
        if let Some(v) = base.iter().chain(&pruned).find(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "a score is {v}; evaluate() must return finite scores"
            ))
            .into());
        }
        let dir = if higher_is_better {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        };
        let m = drop_matrix(&base, &rows(&pruned, t, "pruned")?, dir);
        Ok(write::drops_json(&drop_report(m, permutations, seed)).to_string())
    })
}
