//! The Gram of one batch's per-task gradients over one shared tensor, from
//! candle tensors. The algebra read off it (cosines, norms, AvgNorm, the
//! identity check) and its distributions over batches live in the root
//! library, [`mtl_inspect::analysis::gradient_geometry`], which the PyTorch
//! recorder shares.

use candle_core::{DType, Tensor};
pub use mtl_inspect::analysis::gradient_geometry::{
    Geometry, GeometryError, ScopeValues, task_pairs,
};

/// A candle failure while computing the geometry of `scope`.
#[derive(Debug, thiserror::Error)]
pub enum TensorGeometryError {
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error("computing the gradient geometry of {scope}: {source}")]
    Tensor {
        scope: String,
        source: candle_core::Error,
    },
}

/// From the per-task gradients `[T, …]` of one tensor, in f64: the Gram,
/// and ⟨g_t, g⟩, ‖g‖² from the summed vector g = Σ_t g_t.
pub fn geometry_of(per_task: &Tensor, scope: &str) -> Result<Geometry, TensorGeometryError> {
    let wrap = |source| TensorGeometryError::Tensor {
        scope: scope.to_string(),
        source,
    };
    let t = per_task.dim(0).map_err(wrap)?;
    let p = per_task
        .to_dtype(DType::F64)
        .and_then(|p| p.reshape((t, ())))
        .and_then(|p| p.contiguous())
        .map_err(wrap)?;
    let gram = p
        .matmul(&p.t().map_err(wrap)?)
        .and_then(|g| g.flatten_all())
        .and_then(|g| g.to_vec1::<f64>())
        .map_err(wrap)?;
    let g = p.sum_keepdim(0).map_err(wrap)?;
    let dot_aggregate = p
        .matmul(&g.t().map_err(wrap)?)
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.to_vec1::<f64>())
        .map_err(wrap)?;
    let aggregate_sq = g
        .sqr()
        .and_then(|s| s.sum_all())
        .and_then(|s| s.to_scalar::<f64>())
        .map_err(wrap)?;
    Ok(Geometry::from_parts(
        t,
        gram,
        dot_aggregate,
        aggregate_sq,
        scope,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_and_vector_paths_agree() {
        let v = [vec![0.3, -1.2, 2.0, 0.1], vec![-0.7, 0.4, 1.1, -2.2]];
        let flat: Vec<f64> = v.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, (2, 2, 2), &candle_core::Device::Cpu).unwrap();
        let a = geometry_of(&t, "t").unwrap();
        let b = Geometry::from_vectors(&v, "v").unwrap();
        for (x, y) in a.gram.iter().zip(&b.gram) {
            assert!((x - y).abs() < 1e-12);
        }
        for (x, y) in a.dot_aggregate.iter().zip(&b.dot_aggregate) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}
