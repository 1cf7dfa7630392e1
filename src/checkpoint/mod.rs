//! Reading `.safetensors` checkpoints: the file (memory-mapped, header
//! validated, only the tensors asked for are decoded), the tensor-name
//! grammar of the layouts people write ([`names`]), and the discovery of
//! task-specific norm layers into [`Gates`](discover::Gates).

pub mod discover;
pub mod dtype;
pub mod names;
pub mod stacked;
pub mod summary;
pub mod tasks_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata};
use safetensors::{SafeTensorError, SafeTensors};

/// Everything that can go wrong between a path and a set of gates. Each
/// variant names the file, and where it applies the tensor or layer.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a safetensors file: {reason}", path.display())]
    NotSafetensors { path: PathBuf, reason: String },
    #[error(
        "{} is truncated or damaged: its header describes {expected} bytes of tensor data but the file holds {found}; re-copy or re-save the checkpoint",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    #[error(
        "{} is not a valid safetensors file: its header claims {header} bytes but the file has only {file} bytes (truncated, or not safetensors)",
        path.display()
    )]
    HeaderBeyondFile {
        path: PathBuf,
        header: u64,
        file: u64,
    },
    #[error("{} is invalid: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("tensor '{tensor}' in {} has dtype {dtype}; only F32, F16, BF16 and F64 gates can be read", path.display())]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },
    #[error("tensor '{tensor}' not found in {}", path.display())]
    MissingTensor { path: PathBuf, tensor: String },
    #[error(
        "no task-specific norm layers found in {} ({n_tensors} tensors){hint}; run 'mtl-inspect inspect {}' to see its tensor names, or pass --layers",
        path.display(), path.display()
    )]
    NoNormLayers {
        path: PathBuf,
        n_tensors: usize,
        hint: String,
    },
    #[error(
        "layers in {} have different task counts: {details}; pass --layers REGEX to select the task-specific layers",
        path.display()
    )]
    InconsistentTasks { path: PathBuf, details: String },
    #[error("{}: layer '{layer}': {reason}", path.display())]
    BadLayer {
        path: PathBuf,
        layer: String,
        reason: String,
    },
    #[error("{}: metadata key '{key}': {reason}", path.display())]
    BadMetadata {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error(
        "{}: layer '{layer}' has a non-finite gate ({value}) for task '{task}' at filter {filter}; pass --allow-nonfinite to drop such filters",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        layer: String,
        task: String,
        filter: usize,
        value: f64,
    },
    #[error("tasks file {}: {reason}", path.display())]
    TasksFile { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Importance { path: PathBuf, reason: String },
}

/// Shape and dtype of one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMeta {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

/// An opened, header-validated safetensors file. Tensor bytes stay in the
/// memory map until [`Checkpoint::read_f64`] decodes one.
pub struct Checkpoint {
    path: PathBuf,
    mmap: Mmap,
    header_len: usize,
    tensors: BTreeMap<String, (TensorMeta, (usize, usize))>,
    metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Checkpoint {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|source| CheckpointError::Open {
            path: path.clone(),
            source,
        })?;
        let meta = file.metadata().map_err(|source| CheckpointError::Open {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            return Err(CheckpointError::Open {
                path,
                source: std::io::Error::other("is a directory, not a checkpoint file"),
            });
        }
        let file_len = meta.len();
        if file_len < 8 {
            return Err(CheckpointError::NotSafetensors {
                path,
                reason: format!("only {file_len} bytes, shorter than the 8-byte header length"),
            });
        }
        // SAFETY: the map is read-only; a checkpoint rewritten underneath us
        // could change bytes we read, which at worst yields wrong numbers
        // for that run, the same as reading a file while it is rewritten.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|source| CheckpointError::Open {
            path: path.clone(),
            source,
        })?;
        let header = u64::from_le_bytes(mmap[..8].try_into().unwrap_or([0; 8]));
        if header.saturating_add(8) > file_len {
            return Err(CheckpointError::HeaderBeyondFile {
                path,
                header,
                file: file_len,
            });
        }
        let (header_len, md) =
            SafeTensors::read_metadata(&mmap).map_err(|e| Self::header_error(&path, &mmap, e))?;
        let (tensors, metadata) = Self::index(&md);
        Ok(Checkpoint {
            path,
            mmap,
            header_len,
            tensors,
            metadata,
        })
    }

    fn header_error(path: &Path, buf: &[u8], e: SafeTensorError) -> CheckpointError {
        let path = path.to_path_buf();
        match e {
            SafeTensorError::MetadataIncompleteBuffer => {
                // Recompute what the header expected, for an actionable message.
                let n = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8])) as usize;
                let expected = buf
                    .get(8..8 + n)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                    .and_then(|v| {
                        v.as_object().map(|o| {
                            o.values()
                                .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
                                .max()
                                .unwrap_or(0) as usize
                        })
                    })
                    .unwrap_or(0);
                CheckpointError::Truncated {
                    path,
                    expected,
                    found: buf.len().saturating_sub(8 + n),
                }
            }
            SafeTensorError::InvalidHeaderLength | SafeTensorError::HeaderTooLarge => {
                CheckpointError::NotSafetensors {
                    path,
                    reason: "the header length field is not plausible".into(),
                }
            }
            SafeTensorError::InvalidHeader(_)
            | SafeTensorError::InvalidHeaderDeserialization(_) => CheckpointError::NotSafetensors {
                path,
                reason: "the header is not the JSON a safetensors file starts with".into(),
            },
            SafeTensorError::HeaderTooSmall => CheckpointError::NotSafetensors {
                path,
                reason: "the file is too short".into(),
            },
            other => CheckpointError::Invalid {
                path,
                reason: format!("bad tensor table in the header ({other})"),
            },
        }
    }

    #[allow(clippy::type_complexity)]
    fn index(
        md: &Metadata,
    ) -> (
        BTreeMap<String, (TensorMeta, (usize, usize))>,
        BTreeMap<String, String>,
    ) {
        let tensors = md
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                (
                    name,
                    (
                        TensorMeta {
                            dtype: info.dtype,
                            shape: info.shape.clone(),
                        },
                        info.data_offsets,
                    ),
                )
            })
            .collect();
        let metadata = md
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        (tensors, metadata)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn file_len(&self) -> usize {
        self.mmap.len()
    }
    /// All tensor names, in natural order.
    pub fn tensor_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        v.sort_by(|a, b| names::natural_cmp(a, b));
        v
    }
    pub fn len(&self) -> usize {
        self.tensors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorMeta> {
        self.tensors.get(name).map(|(m, _)| m)
    }
    /// The `__metadata__` map of the file (empty if absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Decodes one floating-point tensor to f64, in row-major order.
    pub fn read_f64(&self, name: &str) -> Result<Vec<f64>, CheckpointError> {
        let (meta, (start, end)) =
            self.tensors
                .get(name)
                .ok_or_else(|| CheckpointError::MissingTensor {
                    path: self.path.clone(),
                    tensor: name.to_string(),
                })?;
        let base = 8 + self.header_len;
        let bytes =
            self.mmap
                .get(base + start..base + end)
                .ok_or_else(|| CheckpointError::Truncated {
                    path: self.path.clone(),
                    expected: *end,
                    found: self.mmap.len().saturating_sub(base),
                })?;
        dtype::decode(meta.dtype, bytes).ok_or_else(|| CheckpointError::UnsupportedDtype {
            path: self.path.clone(),
            tensor: name.to_string(),
            dtype: format!("{:?}", meta.dtype),
        })
    }
}
