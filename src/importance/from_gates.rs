//! Gates → importance matrix (paper 000, §5): the gate function of each
//! layer applied to its raw parameters, the layers concatenated in depth
//! order into the `T × F` [`ImportanceMatrix`]. The gate kinds must agree
//! (or `--gate` names one), and non-finite gates are refused by name or,
//! with `--allow-nonfinite`, their filters dropped.

use std::path::PathBuf;

use nalgebra::DMatrix;

use super::matrix::{GateKind, ImportanceError, ImportanceMatrix, LayerSpan};
use crate::checkpoint::discover::{GateLayer, GateSummary, Gates};

/// Settings for turning raw gates into importances.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportanceParams {
    /// Override of the detected gate kind (`--gate`).
    pub gate: Option<GateKind>,
    /// Drop filters with NaN/Inf gates instead of failing.
    pub allow_nonfinite: bool,
}

/// Filters removed by `--allow-nonfinite`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DroppedFilters {
    pub layer: String,
    pub filters: Vec<usize>,
}

/// Why a run's gates do not give an importance matrix. Each variant names
/// the file; the matrix's own error is kept typed, in the message rather
/// than as a `source` (`{:#}` would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(
        "{}: the gate kind is not settled by the file: {details}; pass --gate sigmoid (σBN logits) or --gate abs (affine scale)",
        path.display()
    )]
    GateUndecided { path: PathBuf, details: String },
    #[error(
        "{}: layers are of different gate kinds ({details}); one importance matrix never mixes them: pass --gate KIND to read every layer one way, or --layers REGEX to keep layers of one kind ('mtl-inspect inspect' shows the evidence)",
        path.display()
    )]
    MixedGates { path: PathBuf, details: String },
    #[error(
        "{}: layer '{layer}' has a non-finite gate ({value}) for task '{task}' at filter {filter}; pass --allow-nonfinite to drop such filters",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        layer: String,
        task: String,
        filter: usize,
        value: f64,
    },
    #[error("{}: every filter has a non-finite gate; nothing is left to analyse", path.display())]
    NothingLeft { path: PathBuf },
    #[error("{}: {error}", path.display())]
    Matrix {
        path: PathBuf,
        error: ImportanceError,
    },
}

/// Importance matrices of at least this many values use the
/// half-precision tables.
const TABLE_MIN_VALUES: usize = 1 << 16;

impl Gates {
    /// Refuses a matrix whose gate kinds are undecided or mixed, unless
    /// `--gate` names one.
    fn check_gate_kinds(&self, p: &ImportanceParams) -> Result<(), GateError> {
        if p.gate.is_some() {
            return Ok(());
        }
        match self.gate_summary(None) {
            GateSummary::Uniform(_) => Ok(()),
            GateSummary::Undecided(layers) => Err(GateError::GateUndecided {
                path: self.path.clone(),
                details: self
                    .layers
                    .iter()
                    .filter(|l| layers.contains(&l.name))
                    .take(3)
                    .map(|l| format!("'{}' {}", l.name, l.evidence.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            GateSummary::Mixed(v) => Err(GateError::MixedGates {
                path: self.path.clone(),
                details: v
                    .iter()
                    .map(|(l, g)| format!("{l}: {g}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Applies the gate function and concatenates the layers into the
    /// `T × F` importance matrix. Non-finite gates are an error naming the
    /// layer, task and filter, or with `allow_nonfinite` their filters are
    /// dropped (a layer left without filters is dropped too).
    pub fn importance(
        &self,
        p: &ImportanceParams,
    ) -> Result<(ImportanceMatrix, Vec<DroppedFilters>), GateError> {
        self.importance_reusing(p, Vec::new())
    }

    /// [`Gates::importance`] written into `storage` (a previous matrix's,
    /// from [`ImportanceMatrix::into_storage`]): a command that streams
    /// many runs of one shape then maps and zeroes the `T × F` values once,
    /// not once per run (at 500 × 100 800 that is 400 MB of fresh pages a
    /// run).
    pub fn importance_reusing(
        &self,
        p: &ImportanceParams,
        storage: Vec<f64>,
    ) -> Result<(ImportanceMatrix, Vec<DroppedFilters>), GateError> {
        self.check_gate_kinds(p)?;
        let t = self.tasks.len();
        let total: usize = self.layers.iter().map(GateLayer::filters).sum();
        // Every column is computed in place (in parallel, in chunks of
        // columns); the rare columns with a non-finite value are found
        // afterwards and removed. The tables cost 65 536 sigmoids to build
        // (once per process): worth it from a CelebA-sized run (115 200
        // values) up, not for a handful of filters.
        let table = t * total >= TABLE_MIN_VALUES;
        // Every value is overwritten below: storage of the right length is
        // used as it is.
        let mut columns = storage;
        if columns.len() != t * total {
            columns.clear();
            columns.resize(t * total, 0.0);
        }
        {
            let mut rest = columns.as_mut_slice();
            for layer in &self.layers {
                let (mine, tail) = rest.split_at_mut(t * layer.filters());
                rest = tail;
                let gate = p.gate.or(layer.gate()).unwrap_or(GateKind::Sigmoid);
                layer.raw.apply_gate(gate, table, mine);
            }
        }
        let mut spans = Vec::new();
        let mut dropped = Vec::new();
        let mut start = 0;
        let mut read = 0;
        let mut write = 0;
        for layer in &self.layers {
            // Every gate function maps finite values to finite ones, so
            // only the raw values are checked, and a layer without a
            // non-finite value (one parallel scan) is kept whole.
            if !layer.raw.any_nonfinite() {
                let c = layer.filters();
                if write != read {
                    columns.copy_within(read..read + t * c, write);
                }
                read += t * c;
                write += t * c;
                if c > 0 {
                    spans.push(LayerSpan {
                        name: layer.name.clone(),
                        start,
                        len: c,
                    });
                    start += c;
                }
                continue;
            }
            let mut kept = 0;
            let mut bad = Vec::new();
            for c in 0..layer.filters() {
                read += t;
                if let Some((r, value)) = layer.raw.nonfinite_in_column(c) {
                    if !p.allow_nonfinite {
                        return Err(GateError::NonFinite {
                            path: self.path.clone(),
                            layer: layer.name.clone(),
                            task: self.tasks[r].clone(),
                            filter: c,
                            value,
                        });
                    }
                    bad.push(c);
                    continue;
                }
                if write != read - t {
                    columns.copy_within(read - t..read, write);
                }
                write += t;
                kept += 1;
            }
            if !bad.is_empty() {
                dropped.push(DroppedFilters {
                    layer: layer.name.clone(),
                    filters: bad,
                });
            }
            if kept > 0 {
                spans.push(LayerSpan {
                    name: layer.name.clone(),
                    start,
                    len: kept,
                });
                start += kept;
            }
        }
        if start == 0 {
            return Err(GateError::NothingLeft {
                path: self.path.clone(),
            });
        }
        columns.truncate(write);
        let data = DMatrix::from_vec(t, start, columns);
        let im = ImportanceMatrix::new(self.tasks.clone(), spans, data).map_err(|error| {
            GateError::Matrix {
                path: self.path.clone(),
                error,
            }
        })?;
        Ok((im, dropped))
    }
}
