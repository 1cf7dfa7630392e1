//! Per-task norm modules: `nn.ModuleList` (`<layer>.<i>.weight`) and
//! `nn.ModuleDict` (`<layer>.<task>.weight`) layouts.

use std::collections::{BTreeMap, BTreeSet};

use safetensors::tensor::Dtype;

use super::*;
use crate::checkpoint::names::{NormParam, TaskKey, natural_cmp, parse_per_task};

/// Parameters of one module `<layer>.<key>`.
#[derive(Debug, Default)]
struct Module<'a> {
    params: BTreeMap<NormParam, &'a str>,
}

/// One plausible reading of the sibling norms as task sets.
#[derive(Debug)]
struct Reading<'a> {
    layout: Layout,
    /// (layer, filters)
    layers: Vec<(&'a str, usize)>,
    /// ModuleDict keys (None for a ModuleList).
    keys: Option<Vec<&'a str>>,
    tasks: usize,
}

impl Reading<'_> {
    fn describe(&self) -> String {
        let names: Vec<&str> = self.layers.iter().map(|x| x.0).collect();
        match &self.keys {
            Some(k) => format!(
                "{} tasks {{{}}} in {} layer(s) ({})",
                k.len(),
                k.join(", "),
                names.len(),
                names.join(", ")
            ),
            None => format!(
                "a list of {} per-task modules in {} layer(s) ({})",
                self.tasks,
                names.len(),
                names.join(", ")
            ),
        }
    }
}

pub(super) fn discover(ckpt: &Checkpoint, p: &DiscoverParams) -> Result<Gates, CheckpointError> {
    // layer -> key -> module
    let mut groups: BTreeMap<&str, BTreeMap<TaskKey<'_>, Module<'_>>> = BTreeMap::new();
    let names = ckpt.tensor_names();
    for &n in &names {
        if let Some(pt) = parse_per_task(n) {
            groups
                .entry(pt.layer)
                .or_default()
                .entry(pt.key)
                .or_default()
                .params
                .insert(pt.param, n);
        }
    }
    // Position of each name in the file, when the file keeps the model's
    // registration order (a pickled state_dict).
    let position: Option<BTreeMap<&str, usize>> = ckpt.reading().ordered.then(|| {
        ckpt.file_order()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect()
    });
    let first_pos = |layer: &str| -> usize {
        let Some(pos) = &position else { return 0 };
        groups.get(layer).map_or(usize::MAX, |m| {
            m.values()
                .flat_map(|md| md.params.values())
                .filter_map(|n| pos.get(n).copied())
                .min()
                .unwrap_or(usize::MAX)
        })
    };
    // A group is a candidate per-task layer when every module is norm-like:
    // a 1-D weight, all vectors of one length C, the same parameters in each.
    let mut list_layers: Vec<(&str, usize, usize)> = Vec::new(); // (layer, T, C)
    let mut dict_layers: Vec<(&str, Vec<&str>, usize)> = Vec::new();
    let mut other_keys: BTreeMap<&str, String> = BTreeMap::new();
    let mut role_groups: BTreeMap<&str, String> = BTreeMap::new();
    let mut non_float: Vec<(&str, String)> = Vec::new();
    for (layer, modules) in &groups {
        let c = match norm_like(ckpt, modules) {
            NormLike::Yes(c) => c,
            NormLike::NonFloat(d) => {
                non_float.push((layer, d));
                continue;
            }
            NormLike::No => continue,
        };
        let keys: Vec<TaskKey> = modules.keys().copied().collect();
        if keys.iter().all(|k| matches!(k, TaskKey::Index(_))) {
            let idx: Vec<usize> = keys
                .iter()
                .filter_map(|k| match k {
                    TaskKey::Index(i) => Some(*i),
                    _ => None,
                })
                .collect();
            // A Sequential with norms at scattered indices is not a per-task list.
            if idx.len() >= 2 && idx.iter().enumerate().all(|(i, &k)| i == k) {
                list_layers.push((layer, idx.len(), c));
            }
        } else if keys.iter().all(|k| matches!(k, TaskKey::Name(_))) && keys.len() >= 2 {
            let mut k: Vec<&str> = keys
                .iter()
                .filter_map(|k| match k {
                    TaskKey::Name(n) => Some(*n),
                    _ => None,
                })
                .collect();
            k.sort_by(|a, b| natural_cmp(a, b));
            if super::evidence::role_like(&k) {
                role_groups.insert(layer, format!("{{{}}}", k.join(", ")));
            } else {
                dict_layers.push((layer, k, c));
            }
        }
    }
    let candidates: Vec<String> = list_layers
        .iter()
        .map(|x| x.0.to_string())
        .chain(dict_layers.iter().map(|x| x.0.to_string()))
        .collect();
    let mut notes = Vec::new();

    // The ModuleList reading: the kept list layers, one task count.
    let kept_list: Vec<_> = list_layers.iter().filter(|x| layer_kept(p, x.0)).collect();
    let list_reading = if kept_list.is_empty() {
        None
    } else {
        let ts: BTreeSet<usize> = kept_list.iter().map(|x| x.1).collect();
        if ts.len() > 1 {
            let details = kept_list
                .iter()
                .map(|x| format!("{} has {}", x.0, x.1))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CheckpointError::InconsistentTasks {
                path: ckpt.path().to_path_buf(),
                details,
            });
        }
        Some(Reading {
            layout: Layout::ModuleList,
            layers: kept_list.iter().map(|x| (x.0, x.2)).collect(),
            keys: None,
            tasks: kept_list[0].1,
        })
    };
    // The ModuleDict reading: the key set most kept layers share; other
    // groups (e.g. a block's `attn`/`mlp`) are not task-keyed.
    let kept_dict: Vec<_> = dict_layers.iter().filter(|x| layer_kept(p, x.0)).collect();
    let mut counts: BTreeMap<&Vec<&str>, usize> = BTreeMap::new();
    for x in &kept_dict {
        *counts.entry(&x.1).or_default() += 1;
    }
    let best = counts
        .iter()
        .max_by(|a, b| {
            a.1.cmp(b.1)
                .then(a.0.len().cmp(&b.0.len()))
                .then(b.0.cmp(a.0))
        })
        .map(|(k, _)| (*k).clone());
    let dict_reading = best.map(|keys| {
        let mut layers = Vec::new();
        for x in &kept_dict {
            if x.1 == keys {
                layers.push((x.0, x.2));
            } else {
                other_keys.insert(x.0, format!("{{{}}}", x.1.join(", ")));
            }
        }
        Reading {
            layout: Layout::ModuleDict,
            tasks: keys.len(),
            layers,
            keys: Some(keys),
        }
    });
    if !other_keys.is_empty() {
        notes.push(format!(
            "{} module group(s) keyed differently from the tasks were left out (see ignored tensors)",
            other_keys.len()
        ));
    }
    if !role_groups.is_empty() {
        notes.push(format!(
            "{} module group(s) whose keys name module roles (e.g. {}) are not tasks",
            role_groups.len(),
            role_groups.values().next().cloned().unwrap_or_default()
        ));
    }
    // A task set must recur across layers with the same members; a single
    // group of siblings (a neck's levels) is structure unless --layers
    // picked it.
    let explicit = p.layers.is_some();
    let recurs = |r: &Reading| r.layers.len() >= 2 || explicit;
    let reading = match (list_reading, dict_reading) {
        (Some(l), Some(d)) => match (recurs(&l), recurs(&d)) {
            (true, false) => {
                notes.push(format!(
                    "not tasks: {} (found in one layer only)",
                    d.describe()
                ));
                l
            }
            (false, true) => {
                notes.push(format!(
                    "not tasks: {} (found in one layer only)",
                    l.describe()
                ));
                d
            }
            _ => {
                return Err(CheckpointError::AmbiguousTasks {
                    path: ckpt.path().to_path_buf(),
                    readings: vec![l.describe(), d.describe()],
                });
            }
        },
        (Some(r), None) | (None, Some(r)) => {
            if !recurs(&r) {
                return Err(CheckpointError::SingleLayerTasks {
                    path: ckpt.path().to_path_buf(),
                    reading: r.describe(),
                    layer: r
                        .layers
                        .first()
                        .map(|x| x.0.to_string())
                        .unwrap_or_default(),
                });
            }
            r
        }
        (None, None) => {
            if let Some((layer, dtype)) = non_float.first() {
                return Err(CheckpointError::BadLayer {
                    path: ckpt.path().to_path_buf(),
                    layer: layer.to_string(),
                    reason: format!(
                        "its per-task norm weights are {dtype}, not floating point; gates are read from F32, F16, BF16 or F64 weights"
                    ),
                });
            }
            return Err(no_layers(ckpt, p, &candidates));
        }
    };
    if reading.layers.is_empty() {
        return Err(no_layers(ckpt, p, &candidates));
    }
    let layout = reading.layout;
    let t = reading.tasks;
    // Task names and the row order they imply: a ModuleDict's keys in the
    // model's registration order when the file keeps it, else natural order.
    let (tasks, task_source, row_keys): (Vec<String>, TaskSource, Vec<TaskKey>) = match &reading
        .keys
    {
        Some(keys) => {
            let mut keys = keys.clone();
            if let (Some(pos), Some((l0, _))) = (&position, reading.layers.first()) {
                let key_pos = |k: &str| -> usize {
                    groups[l0]
                        .get(&TaskKey::Name(k))
                        .and_then(|m| m.params.values().filter_map(|n| pos.get(n)).min())
                        .copied()
                        .unwrap_or(usize::MAX)
                };
                keys.sort_by_key(|k| key_pos(k));
            }
            match &p.tasks {
                Some(f) => {
                    let file: BTreeSet<&str> = f.names.iter().map(String::as_str).collect();
                    let have: BTreeSet<&str> = keys.iter().copied().collect();
                    if file != have {
                        let missing: Vec<&str> = have.difference(&file).copied().collect();
                        let extra: Vec<&str> = file.difference(&have).copied().collect();
                        return Err(CheckpointError::TasksFile {
                            path: f.path.clone(),
                            reason: format!(
                                "names do not match the ModuleDict keys of {}: missing {:?}, unknown {:?}; the file can only reorder a ModuleDict's tasks",
                                ckpt.path().display(),
                                missing,
                                extra
                            ),
                        });
                    }
                    (
                        f.names.clone(),
                        TaskSource::TasksFile(f.path.clone()),
                        f.names.iter().map(|n| TaskKey::Name(n.as_str())).collect(),
                    )
                }
                None => (
                    keys.iter().map(|k| k.to_string()).collect(),
                    TaskSource::ModuleDictKeys,
                    keys.iter().map(|k| TaskKey::Name(k)).collect(),
                ),
            }
        }
        None => {
            let (n, s) = names_from_file_or_default(ckpt, p, t)?;
            (n, s, (0..t).map(TaskKey::Index).collect())
        }
    };
    let mut chosen = reading.layers;
    let order = if position.is_some() {
        chosen.sort_by_key(|(l, _)| first_pos(l));
        LayerOrder::Registration
    } else {
        chosen.sort_by(|a, b| natural_cmp(a.0, b.0));
        LayerOrder::Natural
    };
    let mut pending = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (layer, c) in &chosen {
        let modules = &groups[layer];
        let mut weights = Vec::with_capacity(t);
        let mut dtype = Dtype::F32;
        let mut one_dtype = true;
        let mut all_bias = true;
        let mut any_bias = false;
        for key in &row_keys {
            let m = modules.get(key).ok_or_else(|| CheckpointError::BadLayer {
                path: ckpt.path().to_path_buf(),
                layer: layer.to_string(),
                reason: format!("no module for task key '{}'", key.to_string_key()),
            })?;
            let w = m.params.get(&NormParam::Weight).copied().ok_or_else(|| {
                CheckpointError::BadLayer {
                    path: ckpt.path().to_path_buf(),
                    layer: layer.to_string(),
                    reason: format!("module '{}' has no weight", key.to_string_key()),
                }
            })?;
            if let Some(meta) = ckpt.tensor(w) {
                check_float(ckpt, w, meta.dtype)?;
                one_dtype &= weights.is_empty() || meta.dtype == dtype;
                dtype = meta.dtype;
            }
            weights.push(w);
            let b = m.params.contains_key(&NormParam::Bias);
            all_bias &= b;
            any_bias |= b;
        }
        // Half precision in one dtype, every tensor contiguous (the usual
        // case): the file's bytes, one row per task, borrowed from the map
        // and transposed once into bit patterns. Otherwise each task's
        // tensor is decoded to f64, filled row by row and transposed in
        // cache-sized tiles (writing rows straight into the column-major
        // matrix strides by T).
        let half_rows = match Half::of(dtype) {
            Some(kind) if one_dtype => weights
                .iter()
                .map(|w| Ok(ckpt.contiguous_bytes(w)?.map(|(_, b)| b)))
                .collect::<Result<Option<Vec<&[u8]>>, CheckpointError>>()?
                .map(|rows| (kind, rows)),
            _ => None,
        };
        let values = match half_rows {
            Some((kind, rows)) => Pending::Half(kind, rows),
            None => {
                let mut rows = vec![0.0; t * *c];
                for (r, w) in weights.iter().enumerate() {
                    let v = ckpt.read_f64(w)?;
                    let n = v.len().min(*c);
                    rows[r * *c..r * *c + n].copy_from_slice(&v[..n]);
                }
                Pending::Wide(rows)
            }
        };
        if any_bias && !all_bias {
            notes.push(format!(
                "layer '{layer}': only some tasks have a bias; the layer is read as having one"
            ));
        }
        used.insert(layer);
        pending.push((layer.to_string(), dtype, *c, values, any_bias));
    }
    // Transposing and weighing the evidence are per layer: both cores.
    let layers: Vec<GateLayer> = {
        use rayon::prelude::*;
        pending
            .into_par_iter()
            .map(|(name, dtype, c, values, any_bias)| {
                let raw = match values {
                    Pending::Half(kind, rows) => GateValues::from_half_rows(kind, &rows, c),
                    Pending::Wide(rows) => GateValues::Wide(super::transpose_rows(&rows, t, c)),
                };
                GateLayer::new(name, dtype, raw, any_bias)
            })
            .collect()
    };
    let candidate_set: BTreeSet<&str> = candidates.iter().map(String::as_str).collect();
    let ignored = names
        .iter()
        .filter_map(|&n| {
            let meta = ckpt.tensor(n)?;
            let reason = match parse_per_task(n) {
                Some(pt) if used.contains(pt.layer) => match pt.param {
                    NormParam::Weight => return None,
                    NormParam::Bias => IgnoreReason::Shift,
                    NormParam::RunningMean | NormParam::RunningVar => {
                        IgnoreReason::RunningStatistic
                    }
                    NormParam::NumBatchesTracked => IgnoreReason::Counter,
                },
                Some(pt) if other_keys.contains_key(pt.layer) => {
                    IgnoreReason::OtherKeys(other_keys[pt.layer].clone())
                }
                Some(pt) if role_groups.contains_key(pt.layer) => {
                    IgnoreReason::ModuleRoles(role_groups[pt.layer].clone())
                }
                Some(pt) if candidate_set.contains(pt.layer) => {
                    if layer_kept(p, pt.layer) {
                        IgnoreReason::NotTasks
                    } else {
                        IgnoreReason::ExcludedByFilter
                    }
                }
                _ => IgnoreReason::NotPerTaskNorm,
            };
            Some(IgnoredTensor {
                name: n.to_string(),
                shape: meta.shape.clone(),
                reason,
            })
        })
        .collect();
    let mut gates = Gates {
        path: ckpt.path().to_path_buf(),
        layout,
        tasks,
        task_source,
        layers,
        ignored,
        metadata: BTreeMap::new(),
        notes,
        order,
    };
    gates.settle_shifted_layers();
    Ok(gates)
}

enum NormLike {
    Yes(usize),
    /// Norm-shaped, but the weights are not floating point.
    NonFloat(String),
    No,
}

/// `Yes(C)` if every module of the group is a norm with `C` filters.
fn norm_like(ckpt: &Checkpoint, modules: &BTreeMap<TaskKey<'_>, Module<'_>>) -> NormLike {
    // Modules may differ in which running statistics they keep; each must
    // have a weight, and every vector must have one length.
    let mut c: Option<usize> = None;
    let mut non_float = None;
    for m in modules.values() {
        if !m.params.contains_key(&NormParam::Weight) {
            return NormLike::No;
        }
        for (param, name) in &m.params {
            let Some(meta) = ckpt.tensor(name) else {
                return NormLike::No;
            };
            if *param == NormParam::NumBatchesTracked {
                continue;
            }
            let [n] = meta.shape[..] else {
                return NormLike::No;
            };
            if c.is_some_and(|c| c != n) {
                return NormLike::No;
            }
            if !crate::checkpoint::dtype::is_float(meta.dtype) {
                non_float = Some(format!("{:?}", meta.dtype));
            }
            c = Some(n);
        }
    }
    match (c.filter(|&c| c > 0), non_float) {
        (Some(_), Some(d)) => NormLike::NonFloat(d),
        (Some(c), None) => NormLike::Yes(c),
        _ => NormLike::No,
    }
}

/// A layer's values as read, before the transpose.
enum Pending<'a> {
    /// One row of the file's bytes per task.
    Half(Half, Vec<&'a [u8]>),
    /// Decoded, row-major `T × C`.
    Wide(Vec<f64>),
}
