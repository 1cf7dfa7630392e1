//! Helpers for tests: write safetensors files of any dtype, run discovery.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::checkpoint::discover::{DiscoverParams, Gates, discover_gates};
use mtl_inspect::checkpoint::{Checkpoint, CheckpointError};
use mtl_inspect::importance::from_gates::ImportanceParams;
use mtl_inspect::runs::LoadError;
use safetensors::tensor::{Dtype, TensorView};

pub struct T {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

pub fn f32s(name: &str, shape: &[usize], v: &[f32]) -> T {
    T {
        name: name.into(),
        dtype: Dtype::F32,
        shape: shape.to_vec(),
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

pub fn i64s(name: &str, shape: &[usize], v: &[i64]) -> T {
    T {
        name: name.into(),
        dtype: Dtype::I64,
        shape: shape.to_vec(),
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

pub fn i32s(name: &str, shape: &[usize], v: &[i32]) -> T {
    T {
        name: name.into(),
        dtype: Dtype::I32,
        shape: shape.to_vec(),
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

pub fn write(path: &Path, tensors: &[T], meta: &[(&str, &str)]) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                TensorView::new(t.dtype, t.shape.clone(), &t.bytes).unwrap(),
            )
        })
        .collect();
    let meta: Option<HashMap<String, String>> = if meta.is_empty() {
        None
    } else {
        Some(
            meta.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    let buf = safetensors::serialize(views, meta).unwrap();
    std::fs::write(path, buf).unwrap();
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub fn gates(path: &Path, p: &DiscoverParams) -> Result<Gates, CheckpointError> {
    let c = Checkpoint::open(path)?;
    discover_gates(&c, p)
}

pub fn importance(
    path: &Path,
    p: &DiscoverParams,
    ip: &ImportanceParams,
) -> Result<ImportanceMatrix, LoadError> {
    Ok(gates(path, p)?.importance(ip)?.0)
}

/// A ModuleList σBN checkpoint: layers `name -> [T][C]` gammas.
pub fn module_list(layers: &[(&str, Vec<Vec<f32>>)], running_stats: bool) -> Vec<T> {
    let mut out = Vec::new();
    for (layer, rows) in layers {
        for (i, row) in rows.iter().enumerate() {
            out.push(f32s(&format!("{layer}.{i}.weight"), &[row.len()], row));
            if running_stats {
                out.push(f32s(
                    &format!("{layer}.{i}.running_mean"),
                    &[row.len()],
                    &vec![0.0; row.len()],
                ));
                out.push(f32s(
                    &format!("{layer}.{i}.running_var"),
                    &[row.len()],
                    &vec![1.0; row.len()],
                ));
                out.push(i64s(&format!("{layer}.{i}.num_batches_tracked"), &[], &[7]));
            }
        }
    }
    out
}
