//! Per-task norm modules: `nn.ModuleList` (`<layer>.<i>.weight`) and
//! `nn.ModuleDict` (`<layer>.<task>.weight`) layouts.

use std::collections::{BTreeMap, BTreeSet};

use safetensors::tensor::Dtype;

use super::evidence::LayerOrder;
use super::gates::*;
use super::reading::*;
use super::values::{GateValues, Half};
use crate::checkpoint::Checkpoint;
use crate::checkpoint::error::CheckpointError;
use crate::checkpoint::names::{NormParam, TaskKey, natural_cmp, parse_per_task};

/// Parameters of one module `<layer>.<key>`.
#[derive(Debug, Default)]
struct Module<'a> {
    params: BTreeMap<NormParam, &'a str>,
}

/// One plausible reading of the sibling norms as task sets.
#[derive(Debug, Clone)]
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

/// The per-task-looking module groups of a checkpoint, before a reading
/// is chosen.
struct Survey<'a> {
    names: Vec<&'a str>,
    /// layer → key → module
    groups: BTreeMap<&'a str, BTreeMap<TaskKey<'a>, Module<'a>>>,
    /// Position of each name in the file, when the file keeps the model's
    /// registration order (a pickled state_dict).
    position: Option<BTreeMap<&'a str, usize>>,
    /// (layer, T, C) of the norm-like groups keyed 0..T.
    list_layers: Vec<(&'a str, usize, usize)>,
    /// (layer, keys, C) of the norm-like groups keyed by names.
    dict_layers: Vec<(&'a str, Vec<&'a str>, usize)>,
    /// Groups keyed by module roles (`norm1`/`norm2`).
    role_groups: BTreeMap<&'a str, String>,
    /// Groups keyed by names that are not the chosen task set.
    other_keys: BTreeMap<&'a str, String>,
    /// Norm-shaped groups whose weights are not floating point.
    non_float: Vec<(&'a str, String)>,
    /// Every candidate layer's name (list layers, then dict layers).
    candidates: Vec<String>,
}

pub(super) fn discover(ckpt: &Checkpoint, p: &DiscoverParams) -> Result<Gates, CheckpointError> {
    let mut s = Survey::new(ckpt);
    let mut notes = Vec::new();
    let list = s.list_reading(ckpt, p)?;
    let dict = s.dict_reading(p);
    s.note_left_out(&mut notes);
    let reading = s.choose(ckpt, p, list, dict, &mut notes)?;
    let t = reading.tasks;
    let (tasks, task_source, row_keys) = s.task_rows(ckpt, p, &reading)?;
    let mut chosen = reading.layers.clone();
    let order = if s.position.is_some() {
        chosen.sort_by_key(|(l, _)| s.first_pos(l));
        LayerOrder::Registration
    } else {
        chosen.sort_by(|a, b| natural_cmp(a.0, b.0));
        LayerOrder::Natural
    };
    let (layers, used) = s.read_layers(ckpt, t, &chosen, &row_keys, &mut notes)?;
    let ignored = s.ignored(ckpt, p, &used);
    let mut gates = Gates {
        path: ckpt.path().to_path_buf(),
        layout: reading.layout,
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

impl<'a> Survey<'a> {
    /// Groups the per-task-looking tensors by layer and key, and sorts the
    /// groups into list-like, dict-like and role-keyed ones. A group is a
    /// candidate per-task layer when every module is norm-like: a 1-D
    /// weight, all vectors of one length C, the same parameters in each.
    fn new(ckpt: &'a Checkpoint) -> Self {
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
        let position = ckpt.reading().ordered.then(|| {
            ckpt.file_order()
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect()
        });
        let mut s = Survey {
            names,
            groups,
            position,
            list_layers: Vec::new(),
            dict_layers: Vec::new(),
            role_groups: BTreeMap::new(),
            other_keys: BTreeMap::new(),
            non_float: Vec::new(),
            candidates: Vec::new(),
        };
        s.classify(ckpt);
        s
    }

    fn classify(&mut self, ckpt: &Checkpoint) {
        for (layer, modules) in &self.groups {
            let c = match norm_like(ckpt, modules) {
                NormLike::Yes(c) => c,
                NormLike::NonFloat(d) => {
                    self.non_float.push((layer, d));
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
                    self.list_layers.push((layer, idx.len(), c));
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
                    self.role_groups
                        .insert(layer, format!("{{{}}}", k.join(", ")));
                } else {
                    self.dict_layers.push((layer, k, c));
                }
            }
        }
        self.candidates = self
            .list_layers
            .iter()
            .map(|x| x.0.to_string())
            .chain(self.dict_layers.iter().map(|x| x.0.to_string()))
            .collect();
    }

    /// The first position of a layer's tensors in the file (0 when the file
    /// keeps no order).
    fn first_pos(&self, layer: &str) -> usize {
        let Some(pos) = &self.position else { return 0 };
        self.groups.get(layer).map_or(usize::MAX, |m| {
            m.values()
                .flat_map(|md| md.params.values())
                .filter_map(|n| pos.get(n).copied())
                .min()
                .unwrap_or(usize::MAX)
        })
    }

    /// The ModuleList reading: the kept list layers, one task count.
    fn list_reading(
        &self,
        ckpt: &Checkpoint,
        p: &DiscoverParams,
    ) -> Result<Option<Reading<'a>>, CheckpointError> {
        let kept: Vec<_> = self
            .list_layers
            .iter()
            .filter(|x| layer_kept(p, x.0))
            .collect();
        if kept.is_empty() {
            return Ok(None);
        }
        let ts: BTreeSet<usize> = kept.iter().map(|x| x.1).collect();
        if ts.len() > 1 {
            let details = kept
                .iter()
                .map(|x| format!("{} has {}", x.0, x.1))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CheckpointError::InconsistentTasks {
                path: ckpt.path().to_path_buf(),
                details,
            });
        }
        Ok(Some(Reading {
            layout: Layout::ModuleList,
            layers: kept.iter().map(|x| (x.0, x.2)).collect(),
            keys: None,
            tasks: kept[0].1,
        }))
    }

    /// The ModuleDict reading: the key set most kept layers share; other
    /// groups (e.g. a block's `attn`/`mlp`) are not task-keyed and are
    /// remembered in `other_keys`.
    fn dict_reading(&mut self, p: &DiscoverParams) -> Option<Reading<'a>> {
        let kept: Vec<_> = self
            .dict_layers
            .iter()
            .filter(|x| layer_kept(p, x.0))
            .collect();
        let mut counts: BTreeMap<&Vec<&str>, usize> = BTreeMap::new();
        for x in &kept {
            *counts.entry(&x.1).or_default() += 1;
        }
        let keys = counts
            .iter()
            .max_by(|a, b| {
                a.1.cmp(b.1)
                    .then(a.0.len().cmp(&b.0.len()))
                    .then(b.0.cmp(a.0))
            })
            .map(|(k, _)| (*k).clone())?;
        let mut layers = Vec::new();
        for x in &kept {
            if x.1 == keys {
                layers.push((x.0, x.2));
            } else {
                self.other_keys
                    .insert(x.0, format!("{{{}}}", x.1.join(", ")));
            }
        }
        Some(Reading {
            layout: Layout::ModuleDict,
            tasks: keys.len(),
            layers,
            keys: Some(keys),
        })
    }

    fn note_left_out(&self, notes: &mut Vec<String>) {
        if !self.other_keys.is_empty() {
            notes.push(format!(
                "{} module group(s) keyed differently from the tasks were left out (see ignored tensors)",
                self.other_keys.len()
            ));
        }
        if !self.role_groups.is_empty() {
            notes.push(format!(
                "{} module group(s) whose keys name module roles (e.g. {}) are not tasks",
                self.role_groups.len(),
                self.role_groups
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_default()
            ));
        }
    }

    /// Chooses between the list and dict readings. A task set must recur
    /// across layers with the same members; a single group of siblings (a
    /// neck's levels) is structure unless --layers picked it.
    fn choose(
        &self,
        ckpt: &Checkpoint,
        p: &DiscoverParams,
        list: Option<Reading<'a>>,
        dict: Option<Reading<'a>>,
        notes: &mut Vec<String>,
    ) -> Result<Reading<'a>, CheckpointError> {
        let explicit = p.layers.is_some();
        let recurs = |r: &Reading| r.layers.len() >= 2 || explicit;
        let reading = match (list, dict) {
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
                if let Some((layer, dtype)) = self.non_float.first() {
                    return Err(CheckpointError::BadLayer {
                        path: ckpt.path().to_path_buf(),
                        layer: layer.to_string(),
                        reason: format!(
                            "its per-task norm weights are {dtype}, not floating point; gates are read from F32, F16, BF16 or F64 weights"
                        ),
                    });
                }
                return Err(no_layers(ckpt, p, &self.candidates));
            }
        };
        if reading.layers.is_empty() {
            return Err(no_layers(ckpt, p, &self.candidates));
        }
        Ok(reading)
    }

    /// Task names and the row order they imply: a ModuleDict's keys in the
    /// model's registration order when the file keeps it, else natural
    /// order; a tasks file may reorder them but not rename them.
    fn task_rows(
        &self,
        ckpt: &Checkpoint,
        p: &DiscoverParams,
        reading: &Reading<'a>,
    ) -> Result<(Vec<String>, TaskSource, Vec<TaskKey<'a>>), CheckpointError> {
        let Some(keys) = &reading.keys else {
            let t = reading.tasks;
            let (n, s) = names_from_file_or_default(ckpt, p, t)?;
            return Ok((n, s, (0..t).map(TaskKey::Index).collect()));
        };
        let mut keys = keys.clone();
        if let (Some(pos), Some((l0, _))) = (&self.position, reading.layers.first()) {
            let key_pos = |k: &str| -> usize {
                self.groups[l0]
                    .get(&TaskKey::Name(k))
                    .and_then(|m| m.params.values().filter_map(|n| pos.get(n)).min())
                    .copied()
                    .unwrap_or(usize::MAX)
            };
            keys.sort_by_key(|k| key_pos(k));
        }
        let Some(f) = &p.tasks else {
            return Ok((
                keys.iter().map(|k| k.to_string()).collect(),
                TaskSource::ModuleDictKeys,
                keys.iter().map(|k| TaskKey::Name(k)).collect(),
            ));
        };
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
        // The rows follow the file's order; the keys borrow from the
        // checkpoint's names, which outlive the file's.
        let row_keys = f
            .names
            .iter()
            .map(|n| TaskKey::Name(keys.iter().copied().find(|k| k == n).unwrap_or_default()))
            .collect();
        Ok((
            f.names.clone(),
            TaskSource::TasksFile(f.path.clone()),
            row_keys,
        ))
    }

    /// Reads the chosen layers' weights, one row per task key.
    fn read_layers(
        &self,
        ckpt: &'a Checkpoint,
        t: usize,
        chosen: &[(&'a str, usize)],
        row_keys: &[TaskKey<'a>],
        notes: &mut Vec<String>,
    ) -> Result<(Vec<GateLayer>, BTreeSet<&'a str>), CheckpointError> {
        let mut pending = Vec::new();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for &(layer, c) in chosen {
            let (dtype, values, any_bias, all_bias) =
                read_layer(ckpt, layer, &self.groups[layer], row_keys, t, c)?;
            if any_bias && !all_bias {
                notes.push(format!(
                    "layer '{layer}': only some tasks have a bias; the layer is read as having one"
                ));
            }
            used.insert(layer);
            pending.push((layer.to_string(), dtype, c, values, any_bias));
        }
        // Transposing and weighing the evidence are per layer: both cores.
        let layers: Vec<GateLayer> = {
            use rayon::prelude::*;
            pending
                .into_par_iter()
                .map(|(name, dtype, c, values, any_bias)| {
                    let raw = match values {
                        Pending::Half(kind, rows) => GateValues::from_half_rows(kind, &rows, c),
                        Pending::Wide(rows) => GateValues::Wide(transpose_rows(&rows, t, c)),
                    };
                    GateLayer::new(name, dtype, raw, any_bias)
                })
                .collect()
        };
        Ok((layers, used))
    }

    /// Every tensor that is not a used gate, with why.
    fn ignored(
        &self,
        ckpt: &Checkpoint,
        p: &DiscoverParams,
        used: &BTreeSet<&str>,
    ) -> Vec<IgnoredTensor> {
        let candidate_set: BTreeSet<&str> = self.candidates.iter().map(String::as_str).collect();
        self.names
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
                    Some(pt) if self.other_keys.contains_key(pt.layer) => {
                        IgnoreReason::OtherKeys(self.other_keys[pt.layer].clone())
                    }
                    Some(pt) if self.role_groups.contains_key(pt.layer) => {
                        IgnoreReason::ModuleRoles(self.role_groups[pt.layer].clone())
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
            .collect()
    }
}

/// One layer's weights in row-key order: its dtype, its values before the
/// transpose, and whether any / every task's module has a bias.
fn read_layer<'a>(
    ckpt: &'a Checkpoint,
    layer: &str,
    modules: &BTreeMap<TaskKey<'_>, Module<'a>>,
    row_keys: &[TaskKey<'_>],
    t: usize,
    c: usize,
) -> Result<(Dtype, Pending<'a>, bool, bool), CheckpointError> {
    let mut weights = Vec::with_capacity(t);
    let mut dtype = Dtype::F32;
    let mut one_dtype = true;
    let mut all_bias = true;
    let mut any_bias = false;
    for key in row_keys {
        let m = modules.get(key).ok_or_else(|| CheckpointError::BadLayer {
            path: ckpt.path().to_path_buf(),
            layer: layer.to_string(),
            reason: format!("no module for task key '{}'", key.to_string_key()),
        })?;
        let w =
            m.params
                .get(&NormParam::Weight)
                .copied()
                .ok_or_else(|| CheckpointError::BadLayer {
                    path: ckpt.path().to_path_buf(),
                    layer: layer.to_string(),
                    reason: format!("module '{}' has no weight", key.to_string_key()),
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
            let mut rows = vec![0.0; t * c];
            for (r, w) in weights.iter().enumerate() {
                let v = ckpt.read_f64(w)?;
                let n = v.len().min(c);
                rows[r * c..r * c + n].copy_from_slice(&v[..n]);
            }
            Pending::Wide(rows)
        }
    };
    Ok((dtype, values, any_bias, all_bias))
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
