//! Hugging Face sharded safetensors: `model.safetensors.index.json` maps
//! each tensor name to a shard file beside it (`weight_map`). Every shard
//! is read as safetensors; the index must name every tensor exactly once
//! and each name must be found in the shard the index says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::error::{FormatError, ReadError};
use super::loaded::{FileFormat, Loaded, WrapperChoice};
use super::{mmap, safetensors_file};

/// The one `*.safetensors.index.json` in a directory.
pub fn find_index(dir: &Path) -> Result<PathBuf, ReadError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ReadError::Io(dir.to_path_buf(), e))?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".safetensors.index.json"))
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ReadError::Io(
            dir.to_path_buf(),
            std::io::Error::other(
                "is a directory without a *.safetensors.index.json; pass a checkpoint file, or the folder of a sharded safetensors model",
            ),
        )),
        _ => Err(ReadError::Io(
            dir.to_path_buf(),
            std::io::Error::other(format!(
                "holds {} *.safetensors.index.json files; pass the one to read",
                found.len()
            )),
        )),
    }
}

#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    weight_map: BTreeMap<String, String>,
}

pub fn read(index_path: &Path) -> Result<(Loaded, FileFormat), ReadError> {
    let text = std::fs::read_to_string(index_path)
        .map_err(|e| ReadError::Io(index_path.to_path_buf(), e))?;
    let index: Index = serde_json::from_str(&text).map_err(|e| {
        ReadError::Format(FormatError::Damaged(format!(
            "it is not a safetensors index (JSON with a \"weight_map\" object): {e}"
        )))
    })?;
    let _ = index.metadata;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let shards: BTreeSet<&str> = index.weight_map.values().map(String::as_str).collect();
    if shards.is_empty() {
        return Err(ReadError::Format(FormatError::Damaged(
            "its weight_map is empty".into(),
        )));
    }
    let mut loaded = Loaded {
        buffers: Vec::new(),
        tensors: Vec::new(),
        ordered: false,
        metadata: BTreeMap::new(),
        skipped: Vec::new(),
        wrapper: WrapperChoice::Bare {
            why: "sharded safetensors hold a flat table of tensors".into(),
        },
        detail: String::new(),
    };
    for shard in &shards {
        if shard.contains('/') || shard.contains('\\') || *shard == ".." {
            return Err(ReadError::Format(FormatError::Damaged(format!(
                "its weight_map names a shard outside its folder ('{shard}')"
            ))));
        }
        let path = dir.join(shard);
        let mmap = mmap::map(&path).map_err(|e| match e {
            ReadError::Format(f) => ReadError::InFile(path.clone(), f),
            other => other,
        })?;
        let (tensors, metadata) = safetensors_file::table(&mmap, loaded.buffers.len())
            .map_err(|e| ReadError::InFile(path.clone(), e))?;
        for t in &tensors {
            if index.weight_map.get(&t.name).map(String::as_str) != Some(*shard) {
                return Err(ReadError::InFile(
                    path.clone(),
                    FormatError::Damaged(format!(
                        "tensor '{}' is in this shard but the index {} does not map it here",
                        t.name,
                        index_path.display()
                    )),
                ));
            }
        }
        loaded.tensors.extend(tensors);
        loaded.metadata.extend(metadata);
        loaded.buffers.push(mmap);
    }
    let have: BTreeSet<&str> = loaded.tensors.iter().map(|t| t.name.as_str()).collect();
    if let Some(missing) = index.weight_map.keys().find(|k| !have.contains(k.as_str())) {
        return Err(ReadError::Format(FormatError::Damaged(format!(
            "the index maps '{missing}' to {} but that shard does not hold it",
            index.weight_map[missing]
        ))));
    }
    loaded.tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let format = FileFormat::ShardedSafetensors {
        index: index_path.display().to_string(),
        shards: shards.iter().map(|s| s.to_string()).collect(),
    };
    Ok((loaded, format))
}
