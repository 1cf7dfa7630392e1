//! The task × filter importance matrix `I ∈ R^{T×F}` of paper 000, §5:
//! `I[t,i]` is the importance task `t` gives filter `i`, usually `σ(γ_{t,i})`.
//!
//! Filters of all layers are concatenated in depth order; [`LayerSpan`]s say
//! which columns belong to which layer. Every analysis takes this type, so
//! checkpoint layouts and gate kinds never leak into the math.

use nalgebra::{DMatrix, DMatrixView};

/// How raw per-filter norm parameters become importances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateKind {
    /// σBN: importance = sigmoid(γ) ∈ (0, 1) (paper eq. 2–3).
    Sigmoid,
    /// Affine TSBN: importance = |γ| (the scale's magnitude; the sign only
    /// flips the feature).
    Abs,
    /// The stored values are used as they are.
    Identity,
}

impl GateKind {
    pub fn apply(self, raw: f64) -> f64 {
        match self {
            GateKind::Sigmoid => {
                // Numerically stable for large |x|.
                if raw >= 0.0 {
                    1.0 / (1.0 + (-raw).exp())
                } else {
                    let e = raw.exp();
                    e / (1.0 + e)
                }
            }
            GateKind::Abs => raw.abs(),
            GateKind::Identity => raw,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GateKind::Sigmoid => "sigmoid",
            GateKind::Abs => "abs",
            GateKind::Identity => "identity",
        }
    }
}

impl std::fmt::Display for GateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The columns `start..start+len` of the importance matrix that come from one
/// norm layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerSpan {
    pub name: String,
    pub start: usize,
    pub len: usize,
}

impl LayerSpan {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportanceError {
    #[error("importance matrix has {rows} rows but {tasks} task names were given")]
    TaskCount { rows: usize, tasks: usize },
    #[error("layer spans cover {covered} filters but the importance matrix has {cols} columns")]
    SpanCoverage { covered: usize, cols: usize },
    #[error("duplicate task name '{0}'")]
    DuplicateTask(String),
    #[error("importance matrix has no tasks")]
    NoTasks,
    #[error("importance matrix has no filters")]
    NoFilters,
    #[error(
        "non-finite importance {value} for task '{task}' at filter {filter} of layer '{layer}'"
    )]
    NonFinite {
        task: String,
        layer: String,
        filter: usize,
        value: f64,
    },
}

/// `T × F` importances with task names and layer spans; all values finite.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceMatrix {
    tasks: Vec<String>,
    layers: Vec<LayerSpan>,
    data: DMatrix<f64>,
}

impl ImportanceMatrix {
    /// Checks that names, spans and shape agree and every value is finite.
    /// Spans must be contiguous and in order, starting at column 0.
    pub fn new(
        tasks: Vec<String>,
        layers: Vec<LayerSpan>,
        data: DMatrix<f64>,
    ) -> Result<Self, ImportanceError> {
        if tasks.is_empty() {
            return Err(ImportanceError::NoTasks);
        }
        if data.nrows() != tasks.len() {
            return Err(ImportanceError::TaskCount {
                rows: data.nrows(),
                tasks: tasks.len(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for t in &tasks {
            if !seen.insert(t.as_str()) {
                return Err(ImportanceError::DuplicateTask(t.clone()));
            }
        }
        let mut next = 0;
        for l in &layers {
            if l.start != next {
                return Err(ImportanceError::SpanCoverage {
                    covered: next,
                    cols: data.ncols(),
                });
            }
            next += l.len;
        }
        if next != data.ncols() {
            return Err(ImportanceError::SpanCoverage {
                covered: next,
                cols: data.ncols(),
            });
        }
        if data.ncols() == 0 {
            return Err(ImportanceError::NoFilters);
        }
        // One parallel scan; the value is located only when there is one.
        let all_finite = {
            use rayon::prelude::*;
            data.as_slice()
                .par_chunks(1 << 16)
                .all(|c| c.iter().all(|v| v.is_finite()))
        };
        for l in layers.iter().filter(|_| !all_finite) {
            for c in l.range() {
                for (t, name) in tasks.iter().enumerate() {
                    let v = data[(t, c)];
                    if !v.is_finite() {
                        return Err(ImportanceError::NonFinite {
                            task: name.clone(),
                            layer: l.name.clone(),
                            filter: c - l.start,
                            value: v,
                        });
                    }
                }
            }
        }
        Ok(ImportanceMatrix {
            tasks,
            layers,
            data,
        })
    }

    /// Convenience for tests and single-layer data: one layer named `layer`.
    pub fn single_layer(
        tasks: Vec<String>,
        layer: &str,
        data: DMatrix<f64>,
    ) -> Result<Self, ImportanceError> {
        let span = LayerSpan {
            name: layer.to_string(),
            start: 0,
            len: data.ncols(),
        };
        Self::new(tasks, vec![span], data)
    }

    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }
    pub fn layers(&self) -> &[LayerSpan] {
        &self.layers
    }
    pub fn n_tasks(&self) -> usize {
        self.data.nrows()
    }
    pub fn n_filters(&self) -> usize {
        self.data.ncols()
    }
    /// The whole `T × F` matrix.
    pub fn data(&self) -> &DMatrix<f64> {
        &self.data
    }
    /// The matrix's storage (column-major), e.g. to reuse for the next
    /// run's matrix ([`crate::checkpoint::discover::Gates::importance_reusing`]).
    pub fn into_storage(self) -> Vec<f64> {
        self.data.data.into()
    }
    /// The `T × len` block of one layer.
    pub fn layer_block(&self, layer: usize) -> DMatrixView<'_, f64> {
        let s = &self.layers[layer];
        self.data.columns(s.start, s.len)
    }
    /// The `T × len` block of one layer as the column-major slice it is
    /// in the matrix's storage (a layer's filters are adjacent columns).
    pub fn layer_slice(&self, layer: usize) -> &[f64] {
        let s = &self.layers[layer];
        let t = self.tasks.len();
        &self.data.as_slice()[s.start * t..(s.start + s.len) * t]
    }
    /// Index of a task by name.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t == name)
    }
    /// How this matrix's layers differ from `other`'s (names, order, filter
    /// counts), or `None` if they are the same. Runs of one architecture
    /// must agree before their results are compared.
    pub fn layer_difference(&self, other: &ImportanceMatrix) -> Option<String> {
        span_difference(&self.layers, &other.layers)
    }

    /// The same matrix with rows in the order of `order` (task names).
    /// Used to align runs by task name. `None` if a name is missing.
    pub fn reorder_tasks(&self, order: &[String]) -> Option<ImportanceMatrix> {
        if order.len() != self.tasks.len() {
            return None;
        }
        let idx: Option<Vec<usize>> = order.iter().map(|n| self.task_index(n)).collect();
        let idx = idx?;
        let data = DMatrix::from_fn(self.n_tasks(), self.n_filters(), |r, c| {
            self.data[(idx[r], c)]
        });
        Some(ImportanceMatrix {
            tasks: order.to_vec(),
            layers: self.layers.clone(),
            data,
        })
    }
}

/// The transpose of a row-major `rows × cols` array as a row-major
/// `cols × rows` array (equivalently: `src` read as column-major
/// `cols × rows` comes out column-major `rows × cols`), in 64 × 64 tiles so
/// reads and writes both stay in cache. At 500 tasks × 100 800 filters an
/// element-wise strided copy was a sixth of a command's time.
pub(crate) fn transpose_tiled(src: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    use rayon::prelude::*;
    const TILE: usize = 64;
    let mut out = vec![0.0; rows * cols];
    if rows == 0 || cols == 0 {
        return out;
    }
    // Bands of TILE output rows (source columns), in parallel: each band
    // is written by one thread only.
    out.par_chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(band, chunk)| {
            let c0 = band * TILE;
            let c1 = (c0 + TILE).min(cols);
            for r0 in (0..rows).step_by(TILE) {
                for c in c0..c1 {
                    let dst = &mut chunk[(c - c0) * rows..(c - c0 + 1) * rows];
                    for r in r0..(r0 + TILE).min(rows) {
                        dst[r] = src[r * cols + c];
                    }
                }
            }
        });
    out
}

/// How two runs' layers differ (count, names or widths), `None` if they
/// agree; see [`ImportanceMatrix::layer_difference`].
pub fn span_difference(a: &[LayerSpan], b: &[LayerSpan]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} layers vs {}", a.len(), b.len()));
    }
    a.iter().zip(b).find_map(|(a, b)| {
        (a.name != b.name || a.len != b.len).then(|| {
            format!(
                "layer '{}' ({} filters) vs '{}' ({} filters)",
                a.name, a.len, b.name, b.len
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_transpose_crosses_tiles_and_bands() {
        for (rows, cols) in [(0, 5), (3, 0), (1, 1), (7, 130), (131, 65), (64, 64)] {
            let src: Vec<f64> = (0..rows * cols).map(|k| k as f64).collect();
            let out = transpose_tiled(&src, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        out[c * rows + r],
                        src[r * cols + c],
                        "{rows}x{cols} at {r},{c}"
                    );
                }
            }
        }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        assert_eq!(GateKind::Sigmoid.apply(0.0), 0.5);
        assert!((GateKind::Sigmoid.apply(-800.0)).abs() < 1e-300);
        assert_eq!(GateKind::Sigmoid.apply(800.0), 1.0);
        let x = 1.3;
        assert!((GateKind::Sigmoid.apply(x) + GateKind::Sigmoid.apply(-x) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn rejects_nonfinite_with_location() {
        let mut m = DMatrix::from_element(2, 3, 0.5);
        m[(1, 2)] = f64::NAN;
        let spans = vec![
            LayerSpan {
                name: "a".into(),
                start: 0,
                len: 1,
            },
            LayerSpan {
                name: "b".into(),
                start: 1,
                len: 2,
            },
        ];
        let err = ImportanceMatrix::new(names(2), spans, m).unwrap_err();
        match err {
            ImportanceError::NonFinite {
                task,
                layer,
                filter,
                ..
            } => {
                assert_eq!((task.as_str(), layer.as_str(), filter), ("t1", "b", 1));
            }
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn rejects_bad_spans_and_counts() {
        let m = DMatrix::from_element(2, 3, 0.5);
        assert!(ImportanceMatrix::single_layer(names(3), "x", m.clone()).is_err());
        let spans = vec![LayerSpan {
            name: "a".into(),
            start: 0,
            len: 2,
        }];
        assert!(ImportanceMatrix::new(names(2), spans, m).is_err());
    }

    #[test]
    fn layer_difference_names_the_layer() {
        let m = DMatrix::from_element(2, 3, 0.5);
        let a = ImportanceMatrix::single_layer(names(2), "x", m.clone()).unwrap();
        assert_eq!(a.layer_difference(&a), None);
        let b = ImportanceMatrix::single_layer(names(2), "y", m).unwrap();
        assert_eq!(
            a.layer_difference(&b).unwrap(),
            "layer 'x' (3 filters) vs 'y' (3 filters)"
        );
    }

    #[test]
    fn reorder_aligns_rows_by_name() {
        let m = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let im = ImportanceMatrix::single_layer(names(2), "x", m).unwrap();
        let r = im.reorder_tasks(&["t1".into(), "t0".into()]).unwrap();
        assert_eq!(r.data()[(0, 0)], 3.0);
        assert!(im.reorder_tasks(&["t1".into(), "zz".into()]).is_none());
    }
}
