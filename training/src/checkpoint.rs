//! A trained model ↔ the stacked checkpoint format of mtl-inspect
//! (`mtl_inspect::checkpoint::stacked`): every tensor of the model under
//! its `VarBuilder` path, `<layer>.gamma` `[T, C]` for each task-specific
//! norm layer (raw γ), `<layer>.beta` for TSBN, per-task running
//! statistics, and the run's provenance as `mtl.*` metadata. Written
//! atomically (temporary file + rename). The optimiser state for
//! `--resume` goes to a sidecar `<stem>.optim.safetensors`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::stacked::{OwnedTensor, StackedMeta, write_atomic};

use crate::layers::NormKind;
use crate::metrics::TaskScore;
use crate::vars::ParamStore;

/// Provenance of a run, written as `mtl.<key>` metadata.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub tasks: Vec<String>,
    pub layers: Vec<String>,
    pub norm: NormKind,
    /// `key → value`: model, alpha, seed, dataset, epoch, …
    pub extra: BTreeMap<String, String>,
}

/// Metric JSON `{"task": {"f1": …, "accuracy": …}, "size": {"mse": …,
/// "r2": …}, …}` in task order (F1 and accuracy for binary tasks, MSE and
/// R² for regression tasks).
pub fn metrics_json(tasks: &[String], scores: &[TaskScore]) -> String {
    let mut obj = serde_json::Map::new();
    for (t, s) in tasks.iter().zip(scores) {
        let v = match *s {
            TaskScore::Binary { f1, accuracy } => {
                serde_json::json!({ "f1": f1, "accuracy": accuracy })
            }
            TaskScore::Regression { mse, r2 } => serde_json::json!({ "mse": mse, "r2": r2 }),
        };
        obj.insert(t.clone(), v);
    }
    serde_json::Value::Object(obj).to_string()
}

fn owned(name: &str, t: &Tensor) -> Result<OwnedTensor> {
    let data = t
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()
        .with_context(|| format!("reading tensor '{name}'"))?;
    Ok(OwnedTensor::new(name, t.dims().to_vec(), data))
}

/// Writes the model's tensors and `info` to `path`.
pub fn save(path: &Path, store: &ParamStore, info: &RunInfo) -> Result<()> {
    let mut tensors = Vec::new();
    for (name, _, var) in store.all() {
        tensors.push(owned(&name, var.as_tensor())?);
    }
    let (layers, gate) = match info.norm {
        NormKind::TsSigmaBn => (info.layers.clone(), Some(GateKind::Sigmoid)),
        NormKind::Tsbn => (info.layers.clone(), Some(GateKind::Abs)),
        // HPS has no task-specific layers: its BN weights are ordinary
        // tensors and `mtl.layers` is empty.
        NormKind::SharedBn => (Vec::new(), None),
    };
    let mut extra = info.extra.clone();
    extra.insert("norm".into(), info.norm.name().into());
    let meta = StackedMeta {
        tasks: info.tasks.clone(),
        layers,
        gate,
        extra,
    };
    write_atomic(path, &tensors, meta.to_metadata())
        .with_context(|| format!("writing checkpoint {}", path.display()))
}

/// The sidecar holding the optimiser state of `checkpoint`.
pub fn optimizer_path(checkpoint: &Path) -> PathBuf {
    let stem = checkpoint
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    checkpoint.with_file_name(format!("{stem}.optim.safetensors"))
}

/// Writes optimiser tensors and the step count atomically.
pub fn save_optimizer(path: &Path, step: u64, tensors: &[(String, Tensor)]) -> Result<()> {
    let owned_tensors = tensors
        .iter()
        .map(|(n, t)| owned(n, t))
        .collect::<Result<Vec<_>>>()?;
    let mut meta = BTreeMap::new();
    meta.insert(
        mtl_inspect::checkpoint::stacked::KEY_OPTIMIZER_STEP.to_string(),
        step.to_string(),
    );
    write_atomic(path, &owned_tensors, meta)
        .with_context(|| format!("writing optimizer state {}", path.display()))
}

/// A checkpoint read back: tensors and `mtl.*` metadata.
pub struct LoadedCheckpoint {
    pub path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

impl LoadedCheckpoint {
    pub fn open(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading checkpoint {}", path.display()))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| anyhow!("{} is not a safetensors file: {e}", path.display()))?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .with_context(|| format!("decoding tensors of {}", path.display()))?;
        Ok(LoadedCheckpoint {
            path: path.to_path_buf(),
            tensors,
            metadata,
        })
    }

    /// `mtl.<key>`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(&format!("mtl.{key}")).map(String::as_str)
    }

    /// Required `mtl.<key>`, with an error naming the file.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.meta(key).ok_or_else(|| {
            anyhow!(
                "{} has no 'mtl.{key}' metadata; was it written by mtl-train?",
                self.path.display()
            )
        })
    }

    pub fn tasks(&self) -> Result<Vec<String>> {
        serde_json::from_str(self.require("tasks")?)
            .with_context(|| format!("parsing mtl.tasks of {}", self.path.display()))
    }

    /// Copies every tensor of `store` from the checkpoint, checking names and
    /// shapes.
    pub fn load_into(&self, store: &ParamStore) -> Result<()> {
        for (name, _, var) in store.all() {
            let t = self.tensors.get(&name).ok_or_else(|| {
                anyhow!(
                    "{} has no tensor '{name}'; it was written for a different model, norm or task count",
                    self.path.display()
                )
            })?;
            if t.dims() != var.dims() {
                bail!(
                    "tensor '{name}' in {} has shape {:?}, the model expects {:?}",
                    self.path.display(),
                    t.dims(),
                    var.dims()
                );
            }
            var.set(&t.to_dtype(store.dtype)?)?;
        }
        Ok(())
    }
}
