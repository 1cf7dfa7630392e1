//! `diagnose_document`: the PyTorch recorder's (`mtl_inspect.torch`) way
//! into the root library. Python computes the per-task gradients' Grams
//! with torch; everything read off them (cosines, norms, AvgNorm weights,
//! the distributions, the steps) and the file format are the library's,
//! the same code `mtl-train diagnose` writes with.

use pyo3::prelude::*;
use serde_json::{Map, Value, json};

use mtl_inspect::analysis::gradient_geometry::reports_from_grams;
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
