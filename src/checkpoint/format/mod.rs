//! One reader per file format, one shared output: [`Loaded`], a table of
//! named tensors (dtype, shape, where their bytes are, the file's key order
//! where it has one). Discovery works on that table alone and never asks
//! which format it came from.
//!
//! [`sniff`] decides the format from the file's first bytes (never from its
//! extension alone), so a Lightning `.ckpt`, a `.bin` and a `.pth` are all
//! read as what they are, and every format we do not read (ONNX, HDF5,
//! GGUF, NumPy, legacy `torch.save`, plain pickles, optimizer state) is
//! named in the refusal together with the way out.

pub mod pickle;
pub mod safetensors_file;
pub mod sharded;
pub mod torch;

use std::collections::BTreeMap;
use std::path::Path;

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

/// Why a file was not read, before any path is attached (the caller adds
/// the file name and the way out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    Empty,
    /// A recognised format we do not read, with the way out.
    Other {
        what: String,
        way_out: String,
    },
    /// A pickle that needs Python code (a global outside the allow-list).
    NeedsCode(String),
    PlainPickle,
    OptimizerState,
    NotStateDict(String),
    AmbiguousKey(Vec<String>),
    BadKey {
        key: String,
        keys: Vec<String>,
    },
    Damaged(String),
    /// Starts like safetensors but its header is not valid.
    BadSafetensors(String),
    Unsupported(String),
    Unknown,
}

impl FormatError {
    /// The message after "<path>: ".
    pub fn message(&self) -> String {
        match self {
            FormatError::Empty => "the file is empty (0 bytes); re-copy or re-save the checkpoint".into(),
            FormatError::Other { what, way_out } => format!("{what}, which mtl-inspect does not read; {way_out}"),
            FormatError::NeedsCode(g) => format!(
                "refused: the pickle refers to the Python object '{g}', and loading it would import and run code (a whole pickled model or a custom class is not a state_dict). Nothing was executed. Save only the weights: torch.save(model.state_dict(), 'model_state.pt') or safetensors.torch.save_file(model.state_dict(), 'model.safetensors')"
            ),
            FormatError::PlainPickle => "refused: it is a plain Python pickle, not a torch.save archive or safetensors file, and mtl-inspect reads no plain pickles. If you trust its source, load it in Python and save only the weights: torch.save(state_dict, 'model_state.pt') or safetensors.torch.save_file(state_dict, 'model.safetensors')".into(),
            FormatError::OptimizerState => "it holds an optimizer's state_dict ('state', 'param_groups'), not model weights; pass the model checkpoint instead".into(),
            FormatError::NotStateDict(why) => format!(
                "no state_dict found: {why}; save the model's weights: torch.save(model.state_dict(), 'model_state.pt')"
            ),
            FormatError::AmbiguousKey(c) => format!(
                "several top-level entries hold tensors: {}; pass --key NAME to choose one",
                c.join(", ")
            ),
            FormatError::BadKey { key, keys } => format!(
                "--key '{key}' is not a top-level dict of tensors in the file; its top-level keys are: {}",
                keys.join(", ")
            ),
            FormatError::Damaged(why) => format!("the file is damaged or truncated: {why}"),
            FormatError::BadSafetensors(why) => format!("not a valid safetensors file: {why}"),
            FormatError::Unsupported(why) => format!("cannot be read: {why}"),
            FormatError::Unknown => "not a checkpoint format mtl-inspect knows: it reads safetensors (.safetensors, a sharded *.safetensors.index.json or a folder holding one) and torch.save zip archives (.pt, .pth, .bin, .ckpt)".into(),
        }
    }
}

/// What the first bytes say the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Empty,
    Safetensors,
    Zip,
    Hdf5,
    Gguf,
    Npy,
    /// A pickle stream: legacy `torch.save` when it starts with torch's
    /// magic number, else a plain pickle.
    LegacyTorch,
    Pickle,
    Tar,
    Onnx,
    Unknown,
}

/// Legacy torch.save starts with `PROTO 2, LONG1 10 <magic 0x1950a86a20f9469cfc6c>`.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19";

pub fn sniff(buf: &[u8], path: &Path) -> Sniffed {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if buf.is_empty() {
        return Sniffed::Empty;
    }
    if buf.starts_with(b"PK\x03\x04") || buf.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if buf.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Sniffed::Hdf5;
    }
    if buf.starts_with(b"GGUF") {
        return Sniffed::Gguf;
    }
    if buf.starts_with(b"\x93NUMPY") {
        return Sniffed::Npy;
    }
    // Before the pickle check: a safetensors header length can start with
    // 0x80 0x02 (640 bytes) like a pickle; its byte 8 is the JSON's '{'.
    if buf.len() >= 9 && buf[8] == b'{' {
        return Sniffed::Safetensors;
    }
    if buf.starts_with(LEGACY_MAGIC) {
        return Sniffed::LegacyTorch;
    }
    if buf.len() >= 2 && buf[0] == 0x80 && (2..=5).contains(&buf[1]) {
        return Sniffed::Pickle;
    }
    if buf.len() > 262 && &buf[257..262] == b"ustar" {
        return Sniffed::Tar;
    }
    if ext == "onnx" || (buf.len() > 2 && buf[0] == 0x08 && ext != "safetensors") {
        return Sniffed::Onnx;
    }
    if ext == "safetensors" {
        return Sniffed::Safetensors;
    }
    Sniffed::Unknown
}

/// The refusal for a recognised foreign format.
pub fn foreign(s: Sniffed) -> FormatError {
    let other = |what: &str, way_out: &str| FormatError::Other {
        what: what.into(),
        way_out: way_out.into(),
    };
    match s {
        Sniffed::Empty => FormatError::Empty,
        Sniffed::Hdf5 => other(
            "it is an HDF5 file (Keras .h5 weights, or other HDF5 data)",
            "mtl-inspect reads PyTorch checkpoints; export the model's norm weights to safetensors (safetensors.numpy.save_file with one array per layer)",
        ),
        Sniffed::Gguf => other(
            "it is a GGUF file (llama.cpp)",
            "read the original safetensors or PyTorch checkpoint instead",
        ),
        Sniffed::Npy => other(
            "it is a NumPy .npy array",
            "save the arrays with safetensors.numpy.save_file({name: array}, 'model.safetensors')",
        ),
        Sniffed::Pickle => FormatError::PlainPickle,
        Sniffed::Tar => other(
            "it is a tar archive (PyTorch's oldest torch.save format, or another archive)",
            "re-save it with a current PyTorch: torch.save(torch.load(PATH, map_location='cpu', weights_only=True), 'model_state.pt')",
        ),
        Sniffed::Onnx => other(
            "it looks like an ONNX model (protobuf)",
            "ONNX folds normalization into other operators; inspect the PyTorch checkpoint the model was exported from",
        ),
        _ => FormatError::Unknown,
    }
}

/// Reads `path` (a file, or a sharded index) into a [`Loaded`] table.
pub fn read(path: &Path, key: Option<&str>) -> Result<(Loaded, FileFormat), ReadError> {
    let is_index = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".index.json"));
    if path.is_dir() {
        let index = sharded::find_index(path)?;
        return sharded::read(&index);
    }
    if is_index {
        return sharded::read(path);
    }
    let mmap = map(path)?;
    match sniff(&mmap[..mmap.len().min(512)], path) {
        Sniffed::Safetensors => {
            if key.is_some() {
                return Err(ReadError::Format(FormatError::Unsupported(
                    "--key applies to pickled checkpoints; a safetensors file has no wrapper keys"
                        .into(),
                )));
            }
            Ok((
                safetensors_file::read(mmap, 0).map_err(ReadError::Format)?,
                FileFormat::Safetensors,
            ))
        }
        Sniffed::Zip => match torch::zip_kind(&mmap).map_err(ReadError::Format)? {
            torch::ZipKind::Torch => Ok((
                torch::read(mmap, key).map_err(ReadError::Format)?,
                FileFormat::TorchZip,
            )),
            torch::ZipKind::Npz => Err(ReadError::Format(FormatError::Other {
                what: "it is a NumPy .npz archive".into(),
                way_out: "save the arrays with safetensors.numpy.save_file({name: array}, 'model.safetensors'), using the model's parameter names".into(),
            })),
            torch::ZipKind::Keras => Err(ReadError::Format(FormatError::Other {
                what: "it is a Keras 3 .keras archive".into(),
                way_out: "mtl-inspect reads PyTorch checkpoints; export the norm weights to safetensors".into(),
            })),
            torch::ZipKind::Other(names) => Err(ReadError::Format(FormatError::Other {
                what: format!(
                    "it is a zip archive without a torch data.pkl (entries: {})",
                    names.join(", ")
                ),
                way_out: "pass the checkpoint file itself".into(),
            })),
        },
        Sniffed::LegacyTorch => Ok((
            torch::read_legacy(mmap, key).map_err(ReadError::Format)?,
            FileFormat::TorchLegacy,
        )),
        Sniffed::Pickle => {
            // Say what a plain pickle would import, without running it.
            match pickle::load(&mmap, pickle::PersistentIds::None) {
                Err(pickle::PickleError::Global(g)) => {
                    Err(ReadError::Format(FormatError::NeedsCode(g)))
                }
                _ => Err(ReadError::Format(FormatError::PlainPickle)),
            }
        }
        s => Err(ReadError::Format(foreign(s))),
    }
}

/// A failure of [`read`]: I/O on a named file, or the format.
#[derive(Debug)]
pub enum ReadError {
    Io(std::path::PathBuf, std::io::Error),
    /// A problem with another file than the one asked for (a shard).
    InFile(std::path::PathBuf, FormatError),
    Format(FormatError),
}

pub(crate) fn map(path: &Path) -> Result<Mmap, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    if meta.is_dir() {
        return Err(ReadError::Io(
            path.to_path_buf(),
            std::io::Error::other("is a directory, not a checkpoint file"),
        ));
    }
    if meta.len() == 0 {
        return Err(ReadError::Format(FormatError::Empty));
    }
    // SAFETY: the map is read-only; a checkpoint rewritten underneath us
    // could change bytes we read, which at worst yields wrong numbers for
    // that run, the same as reading a file while it is rewritten.
    unsafe { Mmap::map(&file) }.map_err(|e| ReadError::Io(path.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_extension() {
        let p = Path::new("model.pt");
        // A safetensors header of 640 bytes starts 0x80 0x02 like a pickle.
        let mut st = 640u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{\"a\":1}");
        assert_eq!(sniff(&st, p), Sniffed::Safetensors);
        assert_eq!(sniff(b"PK\x03\x04rest", p), Sniffed::Zip);
        assert_eq!(sniff(LEGACY_MAGIC, p), Sniffed::LegacyTorch);
        assert_eq!(
            sniff(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00", p),
            Sniffed::Pickle
        );
        assert_eq!(sniff(b"\x89HDF\r\n\x1a\nxxxx", p), Sniffed::Hdf5);
        assert_eq!(sniff(b"GGUF\x03\x00\x00\x00", p), Sniffed::Gguf);
        assert_eq!(sniff(b"\x93NUMPY\x01\x00", p), Sniffed::Npy);
        assert_eq!(sniff(b"", p), Sniffed::Empty);
        assert_eq!(sniff(b"hello world", p), Sniffed::Unknown);
        assert_eq!(
            sniff(b"\x08\x07\x12\x04", Path::new("m.onnx")),
            Sniffed::Onnx
        );
    }
}
