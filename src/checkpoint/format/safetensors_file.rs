//! `.safetensors`: the header is validated by the `safetensors` crate
//! (offsets in range, no overlap, dtype × shape = bytes); tensors stay in
//! the memory map. The header's key order is the writer's (sorted by dtype
//! and name), not the model's, so the table is marked unordered.

use std::collections::BTreeMap;

use memmap2::Mmap;
use safetensors::{SafeTensorError, SafeTensors};

use super::error::FormatError;
use super::loaded::{Loaded, RawTensor, WrapperChoice};

/// Reads one safetensors file; `buffer` is the index its map will have in
/// the caller's buffer list (shards are several).
pub fn read(mmap: Mmap, buffer: usize) -> Result<Loaded, FormatError> {
    let (tensors, metadata) = table(&mmap, buffer)?;
    Ok(Loaded {
        buffers: vec![mmap],
        tensors,
        ordered: false,
        metadata,
        skipped: Vec::new(),
        wrapper: WrapperChoice::Bare {
            why: "safetensors files hold a flat table of tensors".into(),
        },
        detail: String::new(),
    })
}

/// The tensors (sorted by name) and `__metadata__` of a safetensors buffer.
#[allow(clippy::type_complexity)]
pub fn table(
    buf: &[u8],
    buffer: usize,
) -> Result<(Vec<RawTensor>, BTreeMap<String, String>), FormatError> {
    if buf.len() < 8 {
        return Err(FormatError::BadSafetensors(format!(
            "only {} bytes, shorter than the 8-byte header length",
            buf.len()
        )));
    }
    let header = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8]));
    if header.saturating_add(8) > buf.len() as u64 {
        return Err(FormatError::BadSafetensors(format!(
            "its header claims {header} bytes but the file has only {} bytes (truncated, or not safetensors)",
            buf.len()
        )));
    }
    let (header_len, md) = SafeTensors::read_metadata(buf).map_err(|e| header_error(buf, e))?;
    let base = 8 + header_len;
    let mut tensors: Vec<RawTensor> = md
        .tensors()
        .into_iter()
        .map(|(name, info)| RawTensor {
            name,
            dtype: info.dtype,
            shape: info.shape.clone(),
            buffer,
            byte_start: base + info.data_offsets.0,
            elem_offset: 0,
            strides: None,
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let metadata = md
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok((tensors, metadata))
}

fn header_error(buf: &[u8], e: SafeTensorError) -> FormatError {
    match e {
        SafeTensorError::MetadataIncompleteBuffer => {
            // Recompute what the header expected, for an actionable message.
            let n = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8])) as usize;
            let expected = buf
                .get(8..8usize.saturating_add(n))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|v| {
                    v.as_object().map(|o| {
                        o.values()
                            .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
                            .max()
                            .unwrap_or(0)
                    })
                })
                .unwrap_or(0);
            FormatError::Damaged(format!(
                "its header describes {expected} bytes of tensor data but the file holds {}; re-copy or re-save the checkpoint",
                buf.len().saturating_sub(8 + n)
            ))
        }
        SafeTensorError::InvalidHeaderLength | SafeTensorError::HeaderTooLarge => {
            FormatError::BadSafetensors("the header length field is not plausible".into())
        }
        SafeTensorError::InvalidHeader(_) | SafeTensorError::InvalidHeaderDeserialization(_) => {
            FormatError::BadSafetensors(
                "the header is not the JSON a safetensors file starts with".into(),
            )
        }
        SafeTensorError::HeaderTooSmall => {
            FormatError::BadSafetensors("the file is too short".into())
        }
        other => FormatError::BadSafetensors(format!("bad tensor table in the header ({other})")),
    }
}
