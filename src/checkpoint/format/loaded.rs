//! Every reader's output: [`Loaded`], a table of named tensors (dtype,
//! shape, where their bytes are, the file's key order where it has one),
//! and what the reader decided about the file ([`FileFormat`],
//! [`WrapperChoice`]).

use std::collections::BTreeMap;

use memmap2::Mmap;
use safetensors::tensor::Dtype;

/// What the reader decided about the file as a whole, for `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Safetensors,
    /// A Hugging Face `*.safetensors.index.json` and its shards.
    ShardedSafetensors {
        index: String,
        shards: Vec<String>,
    },
    /// `torch.save`'s zip archive (`.pt`, `.pth`, `.bin`, `.ckpt`).
    TorchZip,
    /// `torch.save`'s legacy (pre-1.6) stream of pickles and storages.
    TorchLegacy,
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileFormat::Safetensors => f.write_str("safetensors"),
            FileFormat::ShardedSafetensors { shards, .. } => {
                write!(f, "sharded safetensors ({} shards)", shards.len())
            }
            FileFormat::TorchZip => f.write_str("torch.save zip archive"),
            FileFormat::TorchLegacy => f.write_str("legacy torch.save (pre-1.6)"),
        }
    }
}

/// Where the state_dict was found in a pickled checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WrapperChoice {
    /// The file's tensors are at its top level (safetensors always).
    Bare { why: String },
    /// Under a wrapper key (`state_dict`, `model`, …).
    Key { key: String, why: String },
}

/// One tensor as a reader found it. `strides: None` means contiguous
/// row-major from `byte_start`.
#[derive(Debug, Clone)]
pub struct RawTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Index into [`Loaded::buffers`].
    pub buffer: usize,
    /// Byte offset of the storage (or tensor data) in its buffer.
    pub byte_start: usize,
    /// Element offset of the view into its storage.
    pub elem_offset: usize,
    pub strides: Option<Vec<usize>>,
}

/// An entry of the file that is not a readable tensor, with why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub name: String,
    pub why: String,
}

/// A reader's output.
pub struct Loaded {
    pub buffers: Vec<Mmap>,
    /// Tensors in the file's order (meaningful only when `ordered`).
    pub tensors: Vec<RawTensor>,
    /// Whether the file keeps the model's registration order.
    pub ordered: bool,
    pub metadata: BTreeMap<String, String>,
    pub skipped: Vec<Skipped>,
    pub wrapper: WrapperChoice,
    /// A short note on the reading (pickle protocol, shard count).
    pub detail: String,
}
