//! Discovery of task-specific norm layers: [`Checkpoint`] → [`Gates`].
//!
//! Three layouts are recognised without configuration (docs/FORMATS.md,
//! "Checkpoint layouts"): a `ModuleList` of per-task norms
//! (`<layer>.<i>.weight`), a `ModuleDict` keyed by task
//! (`<layer>.<task>.weight`), and the project's stacked format
//! (`<layer>.gamma` of shape `[T, C]`). A layer is named by the module path
//! that holds the per-task modules. Everything else (convolutions, heads,
//! running statistics, counters) is listed as ignored, with the reason.
//!
//! Gate kind (paper eq. 2–3): σBN modules have no shift, so a layer without
//! a `bias` sibling is read as `sigmoid(weight)`; with a bias it is affine
//! TSBN and read as `|weight|`.
//!
//! This file only chooses the layout and applies `--layer-order`; the types
//! are in `gates.rs`, each layout in its own file, and the shared readers in
//! `reading.rs`. The next arrow, gates → importance matrix, is
//! `crate::importance` (`from_gates.rs`).

use std::collections::{BTreeMap, BTreeSet};

mod evidence;
mod gates;
mod per_task;
mod reading;
mod stacked_layers;
mod values;

pub use evidence::{GateEvidence, LayerOrder};
pub use gates::{
    DiscoverParams, GateLayer, GateSummary, Gates, IgnoreReason, IgnoredTensor, LayerOrderFile,
    Layout, TaskSource,
};
pub use values::{GateValues, Half};

use super::Checkpoint;
use super::error::CheckpointError;
use super::stacked;

/// Finds the task-specific norm layers of `ckpt`.
pub fn discover_gates(ckpt: &Checkpoint, p: &DiscoverParams) -> Result<Gates, CheckpointError> {
    let md = ckpt.metadata();
    let mtl_meta: BTreeMap<String, String> = md
        .iter()
        .filter(|(k, _)| k.starts_with("mtl."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stacked_by_meta =
        md.contains_key(stacked::KEY_LAYERS) || md.contains_key(stacked::KEY_FORMAT);
    let gates = if stacked_by_meta {
        stacked_layers::with_metadata(ckpt, p)?
    } else if let Some(g) = stacked_layers::without_metadata(ckpt, p)? {
        g
    } else {
        per_task::discover(ckpt, p)?
    };
    let mut gates = Gates {
        metadata: mtl_meta,
        ..gates
    };
    if let Some(f) = &p.layer_order {
        apply_layer_order(&mut gates, f)?;
    }
    Ok(gates)
}

/// Puts the layers in the order `--layer-order` gives; it must name each
/// discovered layer exactly once.
fn apply_layer_order(gates: &mut Gates, f: &LayerOrderFile) -> Result<(), CheckpointError> {
    let have: BTreeSet<&str> = gates.layers.iter().map(|l| l.name.as_str()).collect();
    let want: BTreeSet<&str> = f.names.iter().map(String::as_str).collect();
    if have != want {
        let missing: Vec<&str> = have.difference(&want).copied().collect();
        let unknown: Vec<&str> = want.difference(&have).copied().collect();
        return Err(CheckpointError::LayerOrder {
            path: f.path.clone(),
            reason: format!(
                "must name each gate layer of {} once: missing {missing:?}, unknown {unknown:?}",
                gates.path.display()
            ),
        });
    }
    let pos: BTreeMap<&str, usize> = f
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    gates
        .layers
        .sort_by_key(|l| pos.get(l.name.as_str()).copied());
    gates.order = LayerOrder::File(f.path.clone());
    Ok(())
}
