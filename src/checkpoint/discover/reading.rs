//! Small readers shared by the layouts: metadata lists, stacked matrices,
//! dtype checks, task names when the file names none, and the errors they
//! raise, each naming the file.

use std::collections::BTreeSet;

use nalgebra::DMatrix;
use safetensors::tensor::Dtype;

use super::gates::{DiscoverParams, IgnoreReason, IgnoredTensor, TaskSource};
use super::values::{GateValues, Half};
use crate::checkpoint::Checkpoint;
use crate::checkpoint::error::CheckpointError;
use crate::checkpoint::stacked::StackedParam;
use crate::importance::GateKind;

/// The `t × c` column-major matrix of `rows` (row-major, `t` rows of `c`).
pub(crate) fn transpose_rows(rows: &[f64], t: usize, c: usize) -> DMatrix<f64> {
    DMatrix::from_vec(t, c, crate::importance::transpose_tiled(rows, t, c))
}

pub(crate) fn bad_meta(ckpt: &Checkpoint, key: &str, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::BadMetadata {
        path: ckpt.path().to_path_buf(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn json_list(
    ckpt: &Checkpoint,
    key: &str,
) -> Result<Option<Vec<String>>, CheckpointError> {
    match ckpt.metadata().get(key) {
        None => Ok(None),
        Some(v) => serde_json::from_str::<Vec<String>>(v)
            .map(Some)
            .map_err(|e| bad_meta(ckpt, key, format!("expected a JSON list of strings ({e})"))),
    }
}

/// A stacked `[rows, cols]` tensor (row-major) as a layer's values: half
/// precision kept as bit patterns, anything else decoded to f64.
pub(crate) fn read_matrix(
    ckpt: &Checkpoint,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<GateValues, CheckpointError> {
    if let Some((dtype, bytes)) = ckpt.contiguous_bytes(name)?
        && let Some(kind) = Half::of(dtype)
        && cols > 0
        && bytes.len() == 2 * rows * cols
    {
        let rows: Vec<&[u8]> = bytes.chunks_exact(2 * cols.max(1)).take(rows).collect();
        return Ok(GateValues::from_half_rows(kind, &rows, cols));
    }
    let v = ckpt.read_f64(name)?;
    Ok(GateValues::Wide(DMatrix::from_row_slice(rows, cols, &v)))
}

pub(crate) fn check_float(
    ckpt: &Checkpoint,
    name: &str,
    dtype: Dtype,
) -> Result<(), CheckpointError> {
    if crate::checkpoint::dtype::is_float(dtype) {
        Ok(())
    } else {
        Err(CheckpointError::UnsupportedDtype {
            path: ckpt.path().to_path_buf(),
            tensor: name.to_string(),
            dtype: format!("{dtype:?}"),
        })
    }
}

pub(crate) fn layer_kept(p: &DiscoverParams, layer: &str) -> bool {
    p.layers.as_ref().is_none_or(|r| r.is_match(layer))
}

/// Every tensor of a stacked checkpoint that is not a used gate, with why.
pub(crate) fn stacked_ignored(
    ckpt: &Checkpoint,
    layers: &[String],
    used: &BTreeSet<String>,
) -> Vec<IgnoredTensor> {
    ckpt.tensor_names()
        .into_iter()
        .filter_map(|n| {
            let meta = ckpt.tensor(n)?;
            let reason = match StackedParam::parse(n) {
                Some((l, StackedParam::Gamma)) if used.contains(l) => return None,
                Some((l, param)) if used.contains(l) => stacked_reason(param),
                Some((l, _)) if layers.iter().any(|x| x == l) => IgnoreReason::ExcludedByFilter,
                _ => IgnoreReason::NotPerTaskNorm,
            };
            Some(IgnoredTensor {
                name: n.to_string(),
                shape: meta.shape.clone(),
                reason,
            })
        })
        .collect()
}

pub(crate) fn stacked_reason(param: StackedParam) -> IgnoreReason {
    match param {
        StackedParam::Gamma => IgnoreReason::LayerTensor,
        StackedParam::Beta => IgnoreReason::Shift,
        StackedParam::RunningMean | StackedParam::RunningVar => IgnoreReason::RunningStatistic,
    }
}

/// Task names for `t` rows when the checkpoint itself names none.
pub(crate) fn names_from_file_or_default(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
    t: usize,
) -> Result<(Vec<String>, TaskSource), CheckpointError> {
    match &p.tasks {
        Some(f) if f.names.len() != t => Err(CheckpointError::TasksFile {
            path: f.path.clone(),
            reason: format!(
                "has {} task names but {} has {t} tasks per layer; give one name per task, in the checkpoint's task order",
                f.names.len(),
                ckpt.path().display()
            ),
        }),
        Some(f) => Ok((f.names.clone(), TaskSource::TasksFile(f.path.clone()))),
        None => Ok((
            (0..t).map(|i| format!("task_{i}")).collect(),
            TaskSource::Default,
        )),
    }
}

pub(crate) fn parse_gate(s: &str) -> Option<GateKind> {
    match s {
        "sigmoid" => Some(GateKind::Sigmoid),
        "abs" => Some(GateKind::Abs),
        "identity" => Some(GateKind::Identity),
        _ => None,
    }
}

pub(crate) fn no_layers(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
    candidates: &[String],
) -> CheckpointError {
    let hint = match (&p.layers, candidates.is_empty()) {
        (Some(r), false) => format!(
            "; --layers '{}' matched none of the {} candidate layers ({})",
            r.as_str(),
            candidates.len(),
            candidates
                .iter()
                .take(6)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let shared: Vec<&str> = ckpt
                .tensor_names()
                .into_iter()
                .filter(|n| {
                    n.ends_with(".weight") && ckpt.tensor(n).is_some_and(|m| m.shape.len() == 1)
                })
                .collect();
            if shared.is_empty() {
                String::new()
            } else {
                format!(
                    "; it has {} shared 1-D norm weights (e.g. '{}') but no per-task ones, as a hard-parameter-sharing model would",
                    shared.len(),
                    shared[0]
                )
            }
        }
    };
    CheckpointError::NoNormLayers {
        path: ckpt.path().to_path_buf(),
        n_tensors: ckpt.len(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_transpose() {
        let (t, c) = (70, 131);
        let rows: Vec<f64> = (0..t * c).map(|k| k as f64).collect();
        let m = transpose_rows(&rows, t, c);
        for r in 0..t {
            for col in 0..c {
                assert_eq!(m[(r, col)], rows[r * c + col]);
            }
        }
    }
}
