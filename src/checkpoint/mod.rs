//! Reading checkpoints: one reader per file format ([`format`]:
//! safetensors, sharded safetensors, `torch.save` zip archives) into one
//! table of named tensors ([`Checkpoint`], memory-mapped, decoded only when
//! asked), the tensor-name grammar of the layouts people write ([`names`]),
//! and the discovery of task-specific norm layers into
//! [`Gates`](discover::Gates).

pub mod discover;
pub mod dtype;
mod error;
pub mod file_hash;
pub mod format;
pub mod names;
pub mod stacked;
pub mod summary;
pub mod tasks_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::Dtype;

use format::{FileFormat, ReadError, Skipped, WrapperChoice};

pub use error::CheckpointError;

/// Shape and dtype of one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMeta {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

/// Where a tensor's elements are: a storage in one of the buffers and a
/// row-major or strided view of it.
#[derive(Debug, Clone)]
struct Stored {
    meta: TensorMeta,
    buffer: usize,
    byte_start: usize,
    elem_offset: usize,
    strides: Option<Vec<usize>>,
}

/// Settings for opening a checkpoint (`--key`).
#[derive(Debug, Clone, Default)]
pub struct OpenParams {
    /// The wrapper key of a pickled checkpoint that holds the state_dict.
    pub key: Option<String>,
}

/// How the file was read: the decisions `inspect` reports, with evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reading {
    pub format: FileFormat,
    /// Where the state_dict was found (pickled checkpoints), and why.
    pub wrapper: WrapperChoice,
    /// A prefix stripped from every tensor name (`module.`, `_orig_mod.`,
    /// Lightning's `model.`), and why.
    pub prefix: Option<String>,
    /// Whether the file keeps the model's registration order.
    pub ordered: bool,
    /// Entries that are not readable tensors, with why.
    pub skipped: Vec<Skipped>,
    /// A short note (pickle protocol, shard count).
    pub detail: String,
}

/// Prefixes that wrappers add to every name: DataParallel / DDP,
/// `torch.compile`, Lightning's `self.model`.
pub const WRAPPER_PREFIXES: &[&str] = &["module.", "_orig_mod.", "model."];

/// An opened checkpoint: a table of named tensors (memory-mapped; decoded
/// only when [`Checkpoint::read_f64`] asks), whatever the file format.
pub struct Checkpoint {
    path: PathBuf,
    buffers: Vec<Mmap>,
    tensors: BTreeMap<String, Stored>,
    /// Names in the file's order (the model's registration order when
    /// `reading.ordered`).
    order: Vec<String>,
    metadata: BTreeMap<String, String>,
    reading: Reading,
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
        Self::open_with(path, &OpenParams::default())
    }

    pub fn open_with(path: impl AsRef<Path>, p: &OpenParams) -> Result<Self, CheckpointError> {
        let path = path.as_ref().to_path_buf();
        let (loaded, format) = format::read(&path, p.key.as_deref()).map_err(|e| match e {
            ReadError::Io(path, cause) => CheckpointError::Open { path, cause },
            ReadError::InFile(path, error) => CheckpointError::Format { path, error },
            ReadError::Format(error) => CheckpointError::Format {
                path: path.clone(),
                error,
            },
        })?;
        let mut tensors = loaded.tensors;
        let prefix = strip_wrapper_prefixes(&mut tensors);
        let mut map = BTreeMap::new();
        let mut order = Vec::with_capacity(tensors.len());
        for t in tensors {
            order.push(t.name.clone());
            let stored = Stored {
                meta: TensorMeta {
                    dtype: t.dtype,
                    shape: t.shape,
                },
                buffer: t.buffer,
                byte_start: t.byte_start,
                elem_offset: t.elem_offset,
                strides: t.strides,
            };
            if map.insert(t.name.clone(), stored).is_some() {
                return Err(CheckpointError::Invalid {
                    path,
                    reason: format!("tensor '{}' appears twice", t.name),
                });
            }
        }
        Ok(Checkpoint {
            path,
            buffers: loaded.buffers,
            tensors: map,
            order,
            metadata: loaded.metadata,
            reading: Reading {
                format,
                wrapper: loaded.wrapper,
                prefix,
                ordered: loaded.ordered,
                skipped: loaded.skipped,
                detail: loaded.detail,
            },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Bytes of the file (all shards together).
    pub fn file_len(&self) -> usize {
        self.buffers.iter().map(|b| b.len()).sum()
    }
    /// All tensor names, in natural order.
    pub fn tensor_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        v.sort_by(|a, b| names::natural_cmp(a, b));
        v
    }
    /// Tensor names in the file's order: the model's registration order
    /// when [`Reading::ordered`], else the writer's order.
    pub fn file_order(&self) -> &[String] {
        &self.order
    }
    pub fn reading(&self) -> &Reading {
        &self.reading
    }
    pub fn len(&self) -> usize {
        self.tensors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorMeta> {
        self.tensors.get(name).map(|s| &s.meta)
    }
    /// Whether this is mtl-train's optimizer-state sidecar
    /// (`<stem>.optim.safetensors`, metadata `mtl.optimizer_step`).
    pub fn is_optimizer_state(&self) -> bool {
        self.metadata.contains_key(stacked::KEY_OPTIMIZER_STEP)
    }
    /// The `__metadata__` map of the file (empty if absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The file's bytes of a contiguous tensor (row-major, little-endian)
    /// and its dtype, borrowed from the memory map; `None` for a strided
    /// view (read it with [`Checkpoint::read_f64`]).
    pub fn contiguous_bytes(&self, name: &str) -> Result<Option<(Dtype, &[u8])>, CheckpointError> {
        let s = self
            .tensors
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })?;
        if s.strides.is_some() {
            return Ok(None);
        }
        let item = s.meta.dtype.bitsize() / 8;
        let numel: usize = s.meta.shape.iter().product();
        let buf = self.buffers.get(s.buffer).map_or(&[][..], |b| &b[..]);
        let start = s.byte_start + s.elem_offset * item;
        let bytes =
            buf.get(start..start + numel * item)
                .ok_or_else(|| CheckpointError::Truncated {
                    path: self.path.clone(),
                    expected: numel * item,
                    found: buf.len().saturating_sub(s.byte_start),
                })?;
        Ok(Some((s.meta.dtype, bytes)))
    }

    /// Decodes one floating-point tensor to f64, in row-major order.
    pub fn read_f64(&self, name: &str) -> Result<Vec<f64>, CheckpointError> {
        let s = self
            .tensors
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })?;
        let unsupported = || CheckpointError::UnsupportedDtype {
            path: self.path.clone(),
            tensor: name.to_string(),
            dtype: format!("{:?}", s.meta.dtype),
        };
        if !dtype::is_float(s.meta.dtype) {
            return Err(unsupported());
        }
        let item = s.meta.dtype.bitsize() / 8;
        let numel: usize = s.meta.shape.iter().product();
        let buf = self.buffers.get(s.buffer).map_or(&[][..], |b| &b[..]);
        // Readers checked every tensor's range; this guards the decoding.
        let truncated = || CheckpointError::Truncated {
            path: self.path.clone(),
            expected: numel * item,
            found: buf.len().saturating_sub(s.byte_start),
        };
        let bytes = match &s.strides {
            None => {
                // Contiguous: decoded straight from the file's bytes.
                let start = s.byte_start + s.elem_offset * item;
                let bytes = buf.get(start..start + numel * item).ok_or_else(truncated)?;
                return dtype::decode(s.meta.dtype, bytes).ok_or_else(unsupported);
            }
            Some(strides) => {
                // Gather a strided view element by element (readers checked
                // that every addressed element lies inside the storage).
                let mut out = Vec::with_capacity(numel * item);
                let mut idx = vec![0usize; s.meta.shape.len()];
                for _ in 0..numel {
                    let e = s.elem_offset
                        + idx.iter().zip(strides).map(|(i, st)| i * st).sum::<usize>();
                    let b = s.byte_start + e * item;
                    out.extend_from_slice(buf.get(b..b + item).ok_or_else(truncated)?);
                    for d in (0..idx.len()).rev() {
                        idx[d] += 1;
                        if idx[d] < s.meta.shape[d] {
                            break;
                        }
                        idx[d] = 0;
                    }
                }
                out
            }
        };
        dtype::decode(s.meta.dtype, &bytes).ok_or_else(unsupported)
    }
}

/// Strips the wrapper prefixes every name shares (repeatedly, so
/// `module._orig_mod.` goes too); returns what was stripped.
fn strip_wrapper_prefixes(tensors: &mut [format::RawTensor]) -> Option<String> {
    let mut stripped = String::new();
    loop {
        let p = WRAPPER_PREFIXES.iter().find(|p| {
            !tensors.is_empty()
                && tensors
                    .iter()
                    .all(|t| t.name.len() > p.len() && t.name.starts_with(**p))
        });
        let Some(p) = p else { break };
        for t in tensors.iter_mut() {
            t.name.drain(..p.len());
        }
        stripped.push_str(p);
    }
    (!stripped.is_empty()).then_some(stripped)
}
