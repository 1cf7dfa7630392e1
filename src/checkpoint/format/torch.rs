//! PyTorch's `torch.save` zip format (PyTorch ≥ 1.6): a zip archive with
//! `<archive>/data.pkl` (the pickled object) and one stored entry
//! `<archive>/data/<key>` per storage, named by the pickle's persistent ids.
//! The pickle is run by [`super::pickle`], which refuses any global outside
//! its allow-list; tensors become views (offset, size, stride) into the
//! storages, read in place from the memory map.
//!
//! The object in `data.pkl` is found by [`find_state_dict`]: a bare
//! state_dict, or one under a training script's wrapper key (Lightning's
//! `state_dict`, `model`, `model_state_dict`, `net`, `ema`, …).

use std::collections::BTreeMap;

use memmap2::Mmap;
use safetensors::tensor::Dtype;

use super::error::FormatError;
use super::loaded::{Loaded, RawTensor, Skipped, WrapperChoice};
use super::pickle::{self, Obj, PersistentIds, Pickle, PickleError, TorchDtype, Value};

/// Keys under which training scripts keep the model's state_dict, in the
/// order they are preferred when the caller gives no `--key`.
pub const WRAPPER_KEYS: &[&str] = &[
    "state_dict",
    "model_state_dict",
    "model",
    "net",
    "network",
    "model_ema",
    "ema",
    "ema_state_dict",
    "module",
    "params",
    "weights",
];

/// One stored zip entry: its name and where its bytes are in the file.
struct Entry {
    name: String,
    start: usize,
    len: usize,
}

fn entries(mmap: &Mmap) -> Result<Vec<Entry>, FormatError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&mmap[..]))
        .map_err(|e| FormatError::Damaged(format!("its zip directory cannot be read ({e})")))?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| FormatError::Damaged(format!("zip entry {i} cannot be read ({e})")))?;
        let name = f.name().to_string();
        if f.compression() != zip::CompressionMethod::Stored {
            // torch.save stores entries uncompressed; a re-zipped archive is
            // not something torch.load reads either.
            if name.ends_with(".pkl") || name.contains("/data/") {
                return Err(FormatError::Damaged(format!(
                    "entry '{name}' is compressed ({:?}); torch.save writes uncompressed archives — re-save it with torch.save",
                    f.compression()
                )));
            }
            continue;
        }
        let header = usize::try_from(f.header_start()).unwrap_or(usize::MAX);
        let len = usize::try_from(f.size()).unwrap_or(usize::MAX);
        let start = local_data_start(mmap, header).ok_or_else(|| {
            FormatError::Damaged(format!("zip entry '{name}' has a bad local header"))
        })?;
        if start.checked_add(len).is_none_or(|e| e > mmap.len()) {
            return Err(FormatError::Damaged(format!(
                "zip entry '{name}' runs past the end of the file (truncated?)"
            )));
        }
        out.push(Entry { name, start, len });
    }
    Ok(out)
}

/// Start of an entry's data: after the 30-byte local header, its name and
/// its extra field.
fn local_data_start(buf: &[u8], header: usize) -> Option<usize> {
    let h = buf.get(header..header.checked_add(30)?)?;
    if h[..4] != *b"PK\x03\x04" {
        return None;
    }
    let n = u16::from_le_bytes([h[26], h[27]]) as usize;
    let e = u16::from_le_bytes([h[28], h[29]]) as usize;
    header.checked_add(30 + n + e)
}

/// What a zip file holds, for files that are not torch archives.
pub fn zip_kind(mmap: &Mmap) -> Result<ZipKind, FormatError> {
    let e = entries(mmap)?;
    if e.iter().any(|x| is_data_pkl(&x.name)) {
        return Ok(ZipKind::Torch);
    }
    if !e.is_empty() && e.iter().all(|x| x.name.ends_with(".npy")) {
        return Ok(ZipKind::Npz);
    }
    if e.iter().any(|x| x.name == "config.json")
        && e.iter().any(|x| x.name.ends_with(".weights.h5"))
    {
        return Ok(ZipKind::Keras);
    }
    Ok(ZipKind::Other(
        e.iter().take(4).map(|x| x.name.clone()).collect(),
    ))
}

pub enum ZipKind {
    Torch,
    Npz,
    Keras,
    Other(Vec<String>),
}

fn is_data_pkl(name: &str) -> bool {
    name == "data.pkl" || name.ends_with("/data.pkl") && name.matches('/').count() == 1
}

/// Reads a `torch.save` zip archive.
pub fn read(mmap: Mmap, key: Option<&str>) -> Result<Loaded, FormatError> {
    let entries = entries(&mmap)?;
    let pkl = entries
        .iter()
        .find(|e| is_data_pkl(&e.name))
        .ok_or_else(|| FormatError::Damaged("the zip archive has no data.pkl".into()))?;
    let prefix = pkl.name.strip_suffix("data.pkl").unwrap_or("").to_string();
    if let Some(b) = entries
        .iter()
        .find(|e| e.name == format!("{prefix}byteorder"))
    {
        let order = &mmap[b.start..b.start + b.len];
        if order != b"little" {
            return Err(FormatError::Unsupported(format!(
                "it was saved on a big-endian machine (byteorder '{}'); load and re-save it on a little-endian one",
                String::from_utf8_lossy(order)
            )));
        }
    }
    let data = &mmap[pkl.start..pkl.start + pkl.len];
    let p = pickle::load(data, PersistentIds::TorchStorage).map_err(refusal)?;
    let storages: BTreeMap<String, Span> = entries
        .iter()
        .filter_map(|e| {
            e.name
                .strip_prefix(&prefix)
                .and_then(|n| n.strip_prefix("data/"))
                .map(|k| {
                    (
                        k.to_string(),
                        Span {
                            start: e.start,
                            len: e.len,
                        },
                    )
                })
        })
        .collect();
    let detail = format!("pickle protocol {}", p.protocol);
    loaded(mmap, &p, &storages, key, detail)
}

/// Where a storage's bytes are in the file.
struct Span {
    start: usize,
    len: usize,
}

/// The state_dict's tensors as views into `storages`, whatever container
/// (zip or legacy stream) held them.
fn loaded(
    mmap: Mmap,
    p: &Pickle,
    storages: &BTreeMap<String, Span>,
    key: Option<&str>,
    detail: String,
) -> Result<Loaded, FormatError> {
    let chosen = find_state_dict(p, key)?;
    let dict = p
        .dict(&chosen.value)
        .ok_or_else(|| FormatError::Damaged("the chosen object is not a dict".into()))?;
    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    for (k, v) in dict {
        let Some(name) = p.str(k) else {
            skipped.push(Skipped {
                name: format!("{k:?}"),
                why: "key is not a string".into(),
            });
            continue;
        };
        match p.obj(v) {
            Some(Obj::Tensor(t)) => match tensor(name, t, storages) {
                Ok(Some(raw)) => tensors.push(raw),
                Ok(None) => skipped.push(Skipped {
                    name: name.to_string(),
                    why: format!("{} tensor (not decoded)", dtype_name(t.storage.dtype)),
                }),
                Err(why) => {
                    return Err(FormatError::Damaged(format!("tensor '{name}': {why}")));
                }
            },
            Some(Obj::Unsupported(what)) => skipped.push(Skipped {
                name: name.to_string(),
                why: format!("{what} (not decoded)"),
            }),
            _ => skipped.push(Skipped {
                name: name.to_string(),
                why: format!("a {}, not a tensor", p.kind(v)),
            }),
        }
    }
    Ok(Loaded {
        buffers: vec![mmap],
        tensors,
        ordered: true,
        metadata: BTreeMap::new(),
        skipped,
        wrapper: chosen.choice,
        detail,
    })
}

/// Reads PyTorch's legacy (pre-1.6) `torch.save` stream: five pickles (magic
/// number, protocol version 1001, system info, the object, the list of
/// storage keys), then each storage in that order as a little-endian u64
/// element count followed by its bytes.
pub fn read_legacy(mmap: Mmap, key: Option<&str>) -> Result<Loaded, FormatError> {
    let mut pos = 0usize;
    let mut next = |pids: PersistentIds| -> Result<Pickle, FormatError> {
        let p = pickle::load(&mmap[pos..], pids).map_err(|e| match e {
            PickleError::Malformed { .. } => {
                FormatError::Damaged(format!("its legacy torch.save stream is {e}"))
            }
            other => refusal(other),
        })?;
        pos += p.consumed;
        Ok(p)
    };
    next(PersistentIds::None)?; // magic number, checked by the sniffer
    let version = next(PersistentIds::None)?;
    if version.root != Value::Int(1001) {
        return Err(FormatError::Unsupported(format!(
            "legacy torch.save protocol version {:?} (only 1001 is known)",
            version.root
        )));
    }
    let sys = next(PersistentIds::None)?;
    if let Some(d) = sys.dict(&sys.root)
        && d.iter()
            .any(|(k, v)| sys.str(k) == Some("little_endian") && *v == Value::Bool(false))
    {
        return Err(FormatError::Unsupported(
            "it was saved on a big-endian machine; load and re-save it on a little-endian one"
                .into(),
        ));
    }
    let main = next(PersistentIds::TorchStorage)?;
    let keys_p = next(PersistentIds::None)?;
    let keys: Vec<String> = match keys_p.obj(&keys_p.root) {
        Some(Obj::List(l)) => l
            .iter()
            .map(|k| keys_p.str(k).map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| FormatError::Damaged("storage keys are not strings".into()))?,
        _ => return Err(FormatError::Damaged("no list of storage keys".into())),
    };
    let item_of: BTreeMap<&str, usize> = main
        .objs
        .iter()
        .filter_map(|o| match o {
            Obj::Storage(s) => Some((s.key.as_str(), s.dtype.size().unwrap_or(0))),
            _ => None,
        })
        .collect();
    let mut storages = BTreeMap::new();
    for k in &keys {
        let count = mmap
            .get(pos..pos + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| FormatError::Damaged(format!("storage '{k}' is cut off")))?;
        let item = *item_of.get(k.as_str()).ok_or_else(|| {
            FormatError::Damaged(format!("storage '{k}' is not used by any tensor"))
        })?;
        let len = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(item.max(1)))
            .ok_or_else(|| FormatError::Damaged(format!("storage '{k}' is too large")))?;
        let start = pos + 8;
        if start.checked_add(len).is_none_or(|e| e > mmap.len()) {
            return Err(FormatError::Damaged(format!(
                "storage '{k}' runs past the end of the file (truncated?)"
            )));
        }
        storages.insert(k.clone(), Span { start, len });
        pos = start + len;
    }
    let detail = format!("legacy pre-1.6 format, pickle protocol {}", main.protocol);
    loaded(mmap, &main, &storages, key, detail)
}

fn dtype_name(d: TorchDtype) -> &'static str {
    match d {
        TorchDtype::F64 => "float64",
        TorchDtype::F32 => "float32",
        TorchDtype::F16 => "float16",
        TorchDtype::BF16 => "bfloat16",
        TorchDtype::I64 => "int64",
        TorchDtype::I32 => "int32",
        TorchDtype::I16 => "int16",
        TorchDtype::I8 => "int8",
        TorchDtype::U8 => "uint8",
        TorchDtype::Bool => "bool",
        TorchDtype::Other(n) => n,
    }
}

fn to_dtype(d: TorchDtype) -> Option<Dtype> {
    Some(match d {
        TorchDtype::F64 => Dtype::F64,
        TorchDtype::F32 => Dtype::F32,
        TorchDtype::F16 => Dtype::F16,
        TorchDtype::BF16 => Dtype::BF16,
        TorchDtype::I64 => Dtype::I64,
        TorchDtype::I32 => Dtype::I32,
        TorchDtype::I16 => Dtype::I16,
        TorchDtype::I8 => Dtype::I8,
        TorchDtype::U8 => Dtype::U8,
        TorchDtype::Bool => Dtype::BOOL,
        TorchDtype::Other(_) => return None,
    })
}

/// A tensor view checked against its storage entry: every element it can
/// address lies inside the storage's bytes.
fn tensor(
    name: &str,
    t: &pickle::TensorRef,
    storages: &BTreeMap<String, Span>,
) -> Result<Option<RawTensor>, String> {
    let (Some(dtype), Some(item)) = (to_dtype(t.storage.dtype), t.storage.dtype.size()) else {
        return Ok(None);
    };
    let entry = storages.get(t.storage.key.as_str()).ok_or_else(|| {
        format!(
            "its storage '{}' is missing from the archive",
            t.storage.key
        )
    })?;
    let numel = usize::try_from(t.storage.numel).map_err(|_| "storage too large".to_string())?;
    let need = numel
        .checked_mul(item)
        .ok_or_else(|| "storage too large".to_string())?;
    if entry.len < need {
        return Err(format!(
            "its storage '{}' holds {} bytes but is declared as {numel} elements of {item} bytes (truncated?)",
            t.storage.key, entry.len
        ));
    }
    let to_usize = |v: &[u64]| -> Result<Vec<usize>, String> {
        v.iter()
            .map(|&x| usize::try_from(x).map_err(|_| "dimension too large".to_string()))
            .collect()
    };
    let shape = to_usize(&t.size)?;
    let strides = to_usize(&t.stride)?;
    let offset = usize::try_from(t.offset).map_err(|_| "offset too large".to_string())?;
    let mut count: usize = 1;
    let mut last = offset;
    for (&n, &s) in shape.iter().zip(&strides) {
        count = count
            .checked_mul(n)
            .ok_or_else(|| "shape overflows".to_string())?;
        if n > 0 {
            last = (n - 1)
                .checked_mul(s)
                .and_then(|x| x.checked_add(last))
                .ok_or_else(|| "strides overflow".to_string())?;
        }
    }
    if count > 0 && last >= numel {
        return Err(format!(
            "its view (offset {offset}, shape {shape:?}, stride {strides:?}) reaches element {last} of a storage of {numel}"
        ));
    }
    Ok(Some(RawTensor {
        name: name.to_string(),
        dtype,
        shape,
        buffer: 0,
        byte_start: entry.start,
        elem_offset: offset,
        strides: Some(strides),
    }))
}

fn refusal(e: PickleError) -> FormatError {
    match e {
        PickleError::Global(g) => FormatError::NeedsCode(g),
        PickleError::Forbidden { .. } => FormatError::NeedsCode(e.to_string()),
        PickleError::Malformed { .. } => FormatError::Damaged(format!("its data.pkl is {e}")),
    }
}

/// The object chosen as the state_dict and why.
pub struct Chosen {
    pub value: Value,
    pub choice: WrapperChoice,
}

/// Counts the tensors and other values of a dict with string keys.
fn tensor_share(p: &Pickle, v: &Value) -> Option<(usize, usize)> {
    let d = p.dict(v)?;
    let mut t = 0;
    for (k, x) in d {
        p.str(k)?;
        if matches!(p.obj(x), Some(Obj::Tensor(_) | Obj::Unsupported(_))) {
            t += 1;
        }
    }
    Some((t, d.len()))
}

/// Finds the state_dict in the unpickled object: the object itself when
/// most of its values are tensors, else the one wrapper entry that is a
/// dict of tensors (preferring [`WRAPPER_KEYS`] when one of them is the
/// only candidate). `key` (`--key`) overrides.
pub fn find_state_dict(p: &Pickle, key: Option<&str>) -> Result<Chosen, FormatError> {
    let Some(top) = p.dict(&p.root) else {
        return Err(FormatError::NotStateDict(format!(
            "its top-level object is a {}, not a dict of tensors",
            p.kind(&p.root)
        )));
    };
    let keys: Vec<String> = top
        .iter()
        .filter_map(|(k, _)| p.str(k).map(str::to_string))
        .collect();
    if let Some(want) = key {
        let v = top
            .iter()
            .find(|(k, _)| p.str(k) == Some(want))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| FormatError::BadKey {
                key: want.to_string(),
                keys: keys.clone(),
            })?;
        return match tensor_share(p, &v) {
            Some((t, _)) if t > 0 => Ok(Chosen {
                value: v,
                choice: WrapperChoice::Key {
                    key: want.to_string(),
                    why: "chosen with --key".into(),
                },
            }),
            _ => Err(FormatError::BadKey {
                key: want.to_string(),
                keys,
            }),
        };
    }
    if let Some((t, n)) = tensor_share(p, &p.root)
        && t > 0
        && 2 * t >= n
    {
        return Ok(Chosen {
            value: p.root.clone(),
            choice: WrapperChoice::Bare {
                why: format!("{t} of its {n} top-level entries are tensors"),
            },
        });
    }
    if keys.iter().any(|k| k == "state") && keys.iter().any(|k| k == "param_groups") {
        return Err(FormatError::OptimizerState);
    }
    let candidates: Vec<(String, Value, usize)> = top
        .iter()
        .filter_map(|(k, v)| {
            let name = p.str(k)?;
            let (t, _) = tensor_share(p, v)?;
            (t > 0).then(|| (name.to_string(), v.clone(), t))
        })
        .collect();
    match &candidates[..] {
        [] => Err(FormatError::NotStateDict(format!(
            "none of its top-level entries ({}) is a dict of tensors",
            keys.join(", ")
        ))),
        [(k, v, t)] => Ok(Chosen {
            value: v.clone(),
            choice: WrapperChoice::Key {
                key: k.clone(),
                why: format!(
                    "the only top-level entry that is a dict of tensors ({t} tensors); other keys: {}",
                    keys.iter()
                        .filter(|x| *x != k)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        }),
        many => Err(FormatError::AmbiguousKey(
            many.iter()
                .map(|(k, _, t)| format!("'{k}' ({t} tensors)"))
                .collect(),
        )),
    }
}
