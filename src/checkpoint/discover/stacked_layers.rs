//! The project's stacked format (`<layer>.gamma` of shape `[T, C]`), with
//! its `mtl.*` metadata or without.

use std::collections::{BTreeMap, BTreeSet};

use safetensors::tensor::Dtype;

use super::evidence::{GateEvidence, LayerOrder};
use super::gates::*;
use super::reading::*;

use crate::checkpoint::Checkpoint;
use crate::checkpoint::error::CheckpointError;
use crate::checkpoint::stacked::{self, StackedParam};
use crate::importance::GateKind;

pub(super) fn with_metadata(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
) -> Result<Gates, CheckpointError> {
    check_format(ckpt)?;
    let layers = json_list(ckpt, stacked::KEY_LAYERS)?.ok_or_else(|| {
        bad_meta(
            ckpt,
            stacked::KEY_LAYERS,
            "missing: the stacked format needs the layer list",
        )
    })?;
    let meta_tasks = json_list(ckpt, stacked::KEY_TASKS)?;
    let gate_override = gate_override(ckpt)?;
    let mut notes = Vec::new();
    let mut out_layers = Vec::new();
    let mut t_found: Option<usize> = meta_tasks.as_ref().map(Vec::len);
    let mut used: BTreeSet<String> = BTreeSet::new();
    for layer in &layers {
        let gname = StackedParam::Gamma.tensor_name(layer);
        let meta = ckpt
            .tensor(&gname)
            .ok_or_else(|| CheckpointError::BadLayer {
                path: ckpt.path().to_path_buf(),
                layer: layer.clone(),
                reason: format!(
                    "listed in {} but tensor '{gname}' is missing",
                    stacked::KEY_LAYERS
                ),
            })?;
        if !layer_kept(p, layer) {
            continue;
        }
        check_float(ckpt, &gname, meta.dtype)?;
        let [t, c] = meta.shape[..] else {
            return Err(CheckpointError::BadLayer {
                path: ckpt.path().to_path_buf(),
                layer: layer.clone(),
                reason: format!(
                    "'{gname}' has shape {:?}; the stacked format needs [tasks, filters]",
                    meta.shape
                ),
            });
        };
        match t_found {
            Some(tf) if tf != t => {
                return Err(CheckpointError::InconsistentTasks {
                    path: ckpt.path().to_path_buf(),
                    details: format!(
                        "'{gname}' has {t} rows but {} names {tf} tasks",
                        if meta_tasks.is_some() {
                            stacked::KEY_TASKS
                        } else {
                            "an earlier layer"
                        }
                    ),
                });
            }
            _ => t_found = Some(t),
        }
        let has_beta = ckpt
            .tensor(&StackedParam::Beta.tensor_name(layer))
            .is_some();
        let raw = read_matrix(ckpt, &gname, t, c)?;
        used.insert(layer.clone());
        let mut l = GateLayer::new(layer.clone(), meta.dtype, raw, has_beta);
        if let Some(g) = gate_override {
            l.evidence = GateEvidence::from_metadata(g, stacked::KEY_GATE, &l.raw, has_beta);
        }
        out_layers.push(l);
    }
    if out_layers.is_empty() {
        return Err(no_layers(ckpt, p, &layers));
    }
    let t = t_found.unwrap_or(0);
    let (tasks, task_source) = match meta_tasks {
        Some(names) => {
            if p.tasks.is_some() {
                notes.push(format!(
                    "--tasks ignored: {} names the tasks",
                    stacked::KEY_TASKS
                ));
            }
            (names, TaskSource::Metadata)
        }
        None => names_from_file_or_default(ckpt, p, t)?,
    };
    let ignored = stacked_ignored(ckpt, &layers, &used);
    let mut gates = Gates {
        path: ckpt.path().to_path_buf(),
        layout: Layout::Stacked,
        tasks,
        task_source,
        layers: out_layers,
        ignored,
        metadata: BTreeMap::new(),
        notes,
        order: LayerOrder::Metadata,
    };
    gates.settle_shifted_layers();
    Ok(gates)
}

/// Refuses another format's metadata, or a newer version of ours.
fn check_format(ckpt: &Checkpoint) -> Result<(), CheckpointError> {
    let md = ckpt.metadata();
    if let Some(f) = md.get(stacked::KEY_FORMAT)
        && f != stacked::FORMAT_NAME
    {
        return Err(bad_meta(
            ckpt,
            stacked::KEY_FORMAT,
            format!("unknown format '{f}', expected '{}'", stacked::FORMAT_NAME),
        ));
    }
    if let Some(v) = md.get(stacked::KEY_VERSION) {
        match v.parse::<u32>() {
            Ok(n) if n <= stacked::FORMAT_VERSION => {}
            Ok(n) => {
                return Err(bad_meta(
                    ckpt,
                    stacked::KEY_VERSION,
                    format!(
                        "format version {n} is newer than this mtl-inspect reads ({}); upgrade mtl-inspect",
                        stacked::FORMAT_VERSION
                    ),
                ));
            }
            Err(_) => {
                return Err(bad_meta(
                    ckpt,
                    stacked::KEY_VERSION,
                    format!("'{v}' is not a version number"),
                ));
            }
        }
    }
    Ok(())
}

/// The gate kind the metadata names (`mtl.gate`), if any.
fn gate_override(ckpt: &Checkpoint) -> Result<Option<GateKind>, CheckpointError> {
    let md = ckpt.metadata();
    Ok(match md.get(stacked::KEY_GATE) {
        None => None,
        Some(g) => Some(parse_gate(g).ok_or_else(|| {
            bad_meta(
                ckpt,
                stacked::KEY_GATE,
                format!("'{g}' is not one of sigmoid, abs, identity"),
            )
        })?),
    })
}

/// `<layer>.gamma` tensors of shape `[T, C]` with one `T`, without metadata.
pub(super) fn without_metadata(
    ckpt: &Checkpoint,
    p: &DiscoverParams,
) -> Result<Option<Gates>, CheckpointError> {
    let mut layers: Vec<(String, usize, usize, Dtype)> = Vec::new();
    for n in ckpt.tensor_names() {
        if let (Some((l, StackedParam::Gamma)), Some(m)) = (StackedParam::parse(n), ckpt.tensor(n))
            && let [t, c] = m.shape[..]
            && crate::checkpoint::dtype::is_float(m.dtype)
        {
            layers.push((l.to_string(), t, c, m.dtype));
        }
    }
    if layers.is_empty() {
        return Ok(None);
    }
    let ts: BTreeSet<usize> = layers.iter().map(|x| x.1).collect();
    if ts.len() != 1 {
        return Ok(None);
    }
    let all_names: Vec<String> = layers.iter().map(|x| x.0.clone()).collect();
    layers.retain(|x| layer_kept(p, &x.0));
    if layers.is_empty() {
        return Err(no_layers(ckpt, p, &all_names));
    }
    let t = layers[0].1;
    let (tasks, task_source) = names_from_file_or_default(ckpt, p, t)?;
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for (l, t, c, dtype) in &layers {
        let has_beta = ckpt.tensor(&StackedParam::Beta.tensor_name(l)).is_some();
        let raw = read_matrix(ckpt, &StackedParam::Gamma.tensor_name(l), *t, *c)?;
        used.insert(l.clone());
        out.push(GateLayer::new(l.clone(), *dtype, raw, has_beta));
    }
    let ignored = stacked_ignored(ckpt, &all_names, &used);
    let mut gates = Gates {
        path: ckpt.path().to_path_buf(),
        layout: Layout::Stacked,
        tasks,
        task_source,
        layers: out,
        ignored,
        metadata: BTreeMap::new(),
        notes: vec![format!(
            "no {} metadata: layers in natural order of their names",
            stacked::KEY_LAYERS
        )],
        order: LayerOrder::Natural,
    };
    gates.settle_shifted_layers();
    Ok(Some(gates))
}
