//! The project's own stacked checkpoint format, version 1 (see
//! docs/FORMATS.md, "Stacked format, version 1"). One tensor `<layer>.gamma` of shape `[T, C]` per
//! task-specific norm layer, plus safetensors metadata:
//!
//! | key | value |
//! |---|---|
//! | `mtl.format` | `"mtl-inspect/stacked"` |
//! | `mtl.format_version` | `"1"` |
//! | `mtl.tasks` | JSON list of the `T` task names, in row order |
//! | `mtl.layers` | JSON list of layer names, in depth order |
//! | `mtl.gate` | optional: `sigmoid`, `abs` or `identity` |
//!
//! Optional siblings of the same shape: `<layer>.beta` (affine TSBN; its
//! presence makes the default gate `abs`), `<layer>.running_mean`,
//! `<layer>.running_var`. Any other `mtl.*` key is free-form provenance
//! (model, norm, seed, metrics…) that `inspect` shows.
//!
//! This module builds and writes the format; reading goes through the one
//! discovery path in [`super::discover`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use super::error::CheckpointError;

pub const FORMAT_NAME: &str = "mtl-inspect/stacked";
pub const FORMAT_VERSION: u32 = 1;

pub const KEY_FORMAT: &str = "mtl.format";
pub const KEY_VERSION: &str = "mtl.format_version";
pub const KEY_TASKS: &str = "mtl.tasks";
pub const KEY_LAYERS: &str = "mtl.layers";
pub const KEY_GATE: &str = "mtl.gate";
/// Metadata of mtl-train's optimizer-state sidecar, never a checkpoint.
pub const KEY_OPTIMIZER_STEP: &str = "mtl.optimizer_step";

/// The role of a tensor beside a stacked layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackedParam {
    Gamma,
    Beta,
    RunningMean,
    RunningVar,
}

impl StackedParam {
    pub const ALL: [StackedParam; 4] = [
        StackedParam::Gamma,
        StackedParam::Beta,
        StackedParam::RunningMean,
        StackedParam::RunningVar,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            StackedParam::Gamma => "gamma",
            StackedParam::Beta => "beta",
            StackedParam::RunningMean => "running_mean",
            StackedParam::RunningVar => "running_var",
        }
    }

    /// The tensor name of this parameter of `layer`.
    pub fn tensor_name(self, layer: &str) -> String {
        format!("{layer}.{}", self.suffix())
    }

    /// Splits `"<layer>.<suffix>"` into the layer and the parameter.
    pub fn parse(name: &str) -> Option<(&str, StackedParam)> {
        let (layer, suffix) = name.rsplit_once('.')?;
        let p = StackedParam::ALL
            .into_iter()
            .find(|p| p.suffix() == suffix)?;
        Some((layer, p))
    }
}

/// Metadata of a stacked checkpoint: tasks, layers, and free-form extras
/// (keys without the `mtl.` prefix; it is added on write).
#[derive(Debug, Clone, Default)]
pub struct StackedMeta {
    pub tasks: Vec<String>,
    pub layers: Vec<String>,
    pub gate: Option<crate::importance::GateKind>,
    pub extra: BTreeMap<String, String>,
}

impl StackedMeta {
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(KEY_FORMAT.to_string(), FORMAT_NAME.to_string());
        m.insert(KEY_VERSION.to_string(), FORMAT_VERSION.to_string());
        m.insert(
            KEY_TASKS.to_string(),
            serde_json::to_string(&self.tasks).unwrap_or_default(),
        );
        m.insert(
            KEY_LAYERS.to_string(),
            serde_json::to_string(&self.layers).unwrap_or_default(),
        );
        if let Some(g) = self.gate {
            m.insert(KEY_GATE.to_string(), g.name().to_string());
        }
        for (k, v) in &self.extra {
            m.insert(format!("mtl.{k}"), v.clone());
        }
        m
    }
}

/// One tensor to write: name, shape and little-endian f32 values.
#[derive(Debug, Clone)]
pub struct OwnedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl OwnedTensor {
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        OwnedTensor {
            name: name.into(),
            shape,
            data,
        }
    }
}

/// Writes `tensors` with `metadata` to `path` atomically: the bytes go to a
/// temporary file in the same directory, which is then renamed over `path`,
/// so an interrupted write never leaves a truncated checkpoint.
pub fn write_atomic(
    path: &Path,
    tensors: &[OwnedTensor],
    metadata: BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let io = |cause: std::io::Error| CheckpointError::Write {
        path: path.to_path_buf(),
        cause,
    };
    for t in tensors {
        let n: usize = t.shape.iter().product();
        if n != t.data.len() {
            return Err(CheckpointError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor '{}' has shape {:?} ({} values) but {} values were given",
                    t.name,
                    t.shape,
                    n,
                    t.data.len()
                ),
            });
        }
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for (t, b) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), b).map_err(|e| {
            CheckpointError::Invalid {
                path: path.to_path_buf(),
                reason: format!("tensor '{}': {e}", t.name),
            }
        })?;
        views.push((t.name.clone(), view));
    }
    let meta: std::collections::HashMap<String, String> = metadata.into_iter().collect();
    let buf = safetensors::serialize(views, Some(meta)).map_err(|e| CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in StackedParam::ALL {
            let n = p.tensor_name("features.3.norm");
            assert_eq!(StackedParam::parse(&n), Some(("features.3.norm", p)));
        }
        assert_eq!(StackedParam::parse("conv.weight"), None);
    }
}
