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

mod error;
mod loaded;
mod mmap;
pub mod pickle;
pub mod safetensors_file;
pub mod sharded;
pub mod torch;

use std::path::Path;

pub use error::{FormatError, ReadError};
pub use loaded::{FileFormat, Loaded, RawTensor, Skipped, WrapperChoice};
pub(crate) use mmap::map;

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
