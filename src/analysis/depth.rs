//! How sharing changes with depth (beside paper 000 Fig. 4 left, which shows
//! specialization by layer): the capacity split of eq. 4–5 and the task
//! similarity of §5.2 computed on each layer's filters alone.
//!
//! Each layer is its own importance matrix (`T × F_l`), so its capacities
//! are means over that layer's filters and its projections use only that
//! layer's task vectors; the whole-network numbers are not an average of
//! these.

use crate::analysis::capacity::{CapacityReport, capacity_of};
use crate::analysis::kernels::gram_of_slice;
use crate::analysis::similarity::{SimilarityMatrix, similarity_from_gram};
use crate::importance::ImportanceMatrix;

/// The capacity split of one layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerCapacity {
    pub layer: String,
    pub filters: usize,
    /// Per task, in task order.
    #[serde(flatten)]
    pub report: CapacityReport,
    /// Means over tasks of capacity, shared and independent parts.
    pub mean_capacity: f64,
    pub mean_shared: f64,
    pub mean_independent: f64,
}

/// Capacity split per layer, in depth order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CapacityByLayer {
    pub layers: Vec<LayerCapacity>,
}

/// The task similarity of one layer and its off-diagonal summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerSimilarity {
    pub layer: String,
    pub filters: usize,
    /// Mean of the off-diagonal cosines (`null` with a single task).
    pub mean_off_diagonal: Option<f64>,
    pub min_off_diagonal: Option<f64>,
    pub max_off_diagonal: Option<f64>,
    pub similarity: SimilarityMatrix,
}

/// Task similarity per layer, in depth order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimilarityByLayer {
    pub layers: Vec<LayerSimilarity>,
}

/// Each layer of `im` as the column-major slice of its `T × F_l` block,
/// borrowed from the matrix (no copy), in depth order.
fn layer_slices(im: &ImportanceMatrix) -> impl Iterator<Item = (String, usize, &[f64])> {
    im.layers()
        .iter()
        .enumerate()
        .filter(|(_, span)| span.len > 0)
        .map(|(i, span)| (span.name.clone(), span.len, im.layer_slice(i)))
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / n as f64 }
}

pub fn capacity_by_layer(im: &ImportanceMatrix) -> CapacityByLayer {
    CapacityByLayer {
        layers: layer_slices(im)
            .map(|(layer, filters, block)| {
                let report = capacity_of(im.tasks(), block);
                LayerCapacity {
                    layer,
                    filters,
                    mean_capacity: mean(report.tasks.iter().map(|t| t.capacity)),
                    mean_shared: mean(report.tasks.iter().map(|t| t.shared)),
                    mean_independent: mean(report.tasks.iter().map(|t| t.independent)),
                    report,
                }
            })
            .collect(),
    }
}

pub fn similarity_by_layer(im: &ImportanceMatrix) -> SimilarityByLayer {
    SimilarityByLayer {
        layers: layer_slices(im)
            .map(|(layer, filters, block)| {
                let s = similarity_from_gram(im.tasks(), &gram_of_slice(block, im.n_tasks()));
                let off = s.upper_triangle();
                let (lo, hi) = off
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                        (lo.min(x), hi.max(x))
                    });
                LayerSimilarity {
                    layer,
                    filters,
                    mean_off_diagonal: (!off.is_empty()).then(|| mean(off.iter().copied())),
                    min_off_diagonal: (!off.is_empty()).then_some(lo),
                    max_off_diagonal: (!off.is_empty()).then_some(hi),
                    similarity: s,
                }
            })
            .collect(),
    }
}

/// One layer's point on the depth curves of one run: the means over tasks
/// of its own capacity split and the mean off-diagonal similarity. The
/// per-task values and matrices are dropped, so many runs of hundreds of
/// tasks stay small in memory.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerDepth {
    pub layer: String,
    pub filters: usize,
    pub mean_capacity: f64,
    pub mean_shared: f64,
    pub mean_independent: f64,
    /// `null` with a single task.
    pub mean_off_diagonal: Option<f64>,
}

/// The depth curves of one run, in depth order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DepthCurves {
    pub layers: Vec<LayerDepth>,
}

/// [`capacity_by_layer`] and [`similarity_by_layer`] reduced to their
/// per-layer summaries.
pub fn depth_curves(im: &ImportanceMatrix) -> DepthCurves {
    let cap = capacity_by_layer(im);
    let sim = similarity_by_layer(im);
    DepthCurves {
        layers: cap
            .layers
            .into_iter()
            .zip(sim.layers)
            .map(|(c, s)| LayerDepth {
                layer: c.layer,
                filters: c.filters,
                mean_capacity: c.mean_capacity,
                mean_shared: c.mean_shared,
                mean_independent: c.mean_independent,
                mean_off_diagonal: s.mean_off_diagonal,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importance::LayerSpan;
    use nalgebra::DMatrix;

    fn two_layers() -> ImportanceMatrix {
        // Layer a: tasks identical (fully shared); layer b: orthogonal.
        let data = DMatrix::from_row_slice(
            2,
            4,
            &[
                0.5, 0.5, 1.0, 0.0, //
                0.5, 0.5, 0.0, 1.0,
            ],
        );
        let spans = vec![
            LayerSpan {
                name: "a".into(),
                start: 0,
                len: 2,
            },
            LayerSpan {
                name: "b".into(),
                start: 2,
                len: 2,
            },
        ];
        ImportanceMatrix::new(vec!["x".into(), "y".into()], spans, data).unwrap()
    }

    #[test]
    fn identical_layer_is_all_shared_orthogonal_layer_all_independent() {
        let c = capacity_by_layer(&two_layers());
        assert_eq!(c.layers.len(), 2);
        let a = &c.layers[0];
        assert_eq!(a.layer, "a");
        assert!((a.mean_capacity - 0.5).abs() < 1e-15);
        assert!(a.mean_independent.abs() < 1e-12 && (a.mean_shared - 0.5).abs() < 1e-12);
        let b = &c.layers[1];
        assert!(b.mean_shared.abs() < 1e-12 && (b.mean_independent - 0.5).abs() < 1e-12);
        let s = similarity_by_layer(&two_layers());
        assert!((s.layers[0].mean_off_diagonal.unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(s.layers[1].mean_off_diagonal, Some(0.0));
        let d = depth_curves(&two_layers());
        assert_eq!(d.layers.len(), 2);
        assert_eq!(d.layers[0].mean_shared, a.mean_shared);
        assert_eq!(d.layers[1].mean_independent, b.mean_independent);
        assert_eq!(d.layers[1].mean_off_diagonal, Some(0.0));
    }
}
