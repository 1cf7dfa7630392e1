//! The geometry of the per-task gradients g_1 … g_T of one batch over one
//! scope (a shared weight tensor, or all of them): their inner products,
//! the aggregate g = Σ_t g_t, and what is read off them —
//!
//! * gradient conflict, cos(g_i, g_j) for every task pair (paper 000,
//!   Fig. 2 left and Fig. 7: the cosine between tasks' gradients on the
//!   shared parameters; negative = conflicting);
//! * per-task norms ‖g_t‖ and cos(g_t, g) (paper 003, §V-F, Figs. 7–8);
//! * AvgNorm loss weights w_t = ‖Σ_i g_i‖ / ‖g_t‖ (paper 003, eq. 6);
//! * the identity Σ_t ‖g_t‖ cos(g_t, g) = ‖g‖ (project each g_t on g),
//!   checked on the computed values.
//!
//! Inner products are additive over disjoint parameter blocks, so the
//! scope "all shared weights" is the sum of the per-tensor geometries.
//! A zero gradient has no direction: its cosines and weight are `None`
//! (never NaN); non-finite gradients are refused.

/// Inner products of one batch's per-task gradients over one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub tasks: usize,
    /// `T × T` row-major, ⟨g_i, g_j⟩.
    pub gram: Vec<f64>,
    /// ⟨g_t, g⟩ with g = Σ_t g_t summed as a vector.
    pub dot_aggregate: Vec<f64>,
    /// ⟨g, g⟩ from the same vector.
    pub aggregate_sq: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeometryError {
    #[error("the per-task gradients of {scope} are not finite (NaN or ±inf)")]
    NotFinite { scope: String },
    #[error("the Gram of {scope} has {len} entries, expected {tasks} × {tasks}")]
    Shape {
        scope: String,
        len: usize,
        tasks: usize,
    },
}

impl Geometry {
    /// From the T × T Gram `gram[i * T + j] = ⟨g_i, g_j⟩` alone:
    /// ⟨g_t, g⟩ = Σ_j ⟨g_t, g_j⟩ and ‖g‖² = Σ_ij ⟨g_i, g_j⟩.
    pub fn from_gram(tasks: usize, gram: Vec<f64>, scope: &str) -> Result<Geometry, GeometryError> {
        if gram.len() != tasks * tasks {
            return Err(GeometryError::Shape {
                scope: scope.to_string(),
                len: gram.len(),
                tasks,
            });
        }
        let dot_aggregate: Vec<f64> = gram.chunks(tasks.max(1)).map(|r| r.iter().sum()).collect();
        let aggregate_sq = dot_aggregate.iter().sum();
        Geometry::from_parts(tasks, gram, dot_aggregate, aggregate_sq, scope)
    }

    /// From explicit vectors (tests, and anything not held in tensors).
    pub fn from_vectors(per_task: &[Vec<f64>], scope: &str) -> Result<Geometry, GeometryError> {
        let t = per_task.len();
        let d = per_task.first().map_or(0, Vec::len);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut g = vec![0.0; d];
        for v in per_task {
            for (acc, x) in g.iter_mut().zip(v) {
                *acc += x;
            }
        }
        let mut gram = vec![0.0; t * t];
        for i in 0..t {
            for j in 0..t {
                gram[i * t + j] = dot(&per_task[i], &per_task[j]);
            }
        }
        let dot_aggregate = per_task.iter().map(|v| dot(v, &g)).collect();
        Geometry::from_parts(t, gram, dot_aggregate, dot(&g, &g), scope)
    }

    /// From the Gram and the products with the aggregate computed as a
    /// vector (`mtl-train diagnose` sums the task gradients first).
    pub fn from_parts(
        tasks: usize,
        gram: Vec<f64>,
        dot_aggregate: Vec<f64>,
        aggregate_sq: f64,
        scope: &str,
    ) -> Result<Geometry, GeometryError> {
        let finite =
            gram.iter().chain(&dot_aggregate).all(|v| v.is_finite()) && aggregate_sq.is_finite();
        if !finite {
            return Err(GeometryError::NotFinite {
                scope: scope.to_string(),
            });
        }
        Ok(Geometry {
            tasks,
            gram,
            dot_aggregate,
            aggregate_sq,
        })
    }

    /// The geometry of the concatenated scopes (all `parts` share T).
    pub fn concat(parts: &[Geometry]) -> Option<Geometry> {
        let first = parts.first()?;
        let mut out = Geometry {
            tasks: first.tasks,
            gram: vec![0.0; first.gram.len()],
            dot_aggregate: vec![0.0; first.tasks],
            aggregate_sq: 0.0,
        };
        for p in parts {
            for (a, b) in out.gram.iter_mut().zip(&p.gram) {
                *a += b;
            }
            for (a, b) in out.dot_aggregate.iter_mut().zip(&p.dot_aggregate) {
                *a += b;
            }
            out.aggregate_sq += p.aggregate_sq;
        }
        Some(out)
    }

    /// ‖g_t‖.
    pub fn norm(&self, t: usize) -> f64 {
        self.gram[t * self.tasks + t].max(0.0).sqrt()
    }

    /// ‖g‖ = ‖Σ_t g_t‖.
    pub fn aggregate_norm(&self) -> f64 {
        self.aggregate_sq.max(0.0).sqrt()
    }

    /// cos(g_i, g_j); `None` when either is zero.
    pub fn cos_pair(&self, i: usize, j: usize) -> Option<f64> {
        let d = self.norm(i) * self.norm(j);
        (d > 0.0).then(|| (self.gram[i * self.tasks + j] / d).clamp(-1.0, 1.0))
    }

    /// cos(g_t, g); `None` when g_t or g is zero.
    pub fn cos_aggregate(&self, t: usize) -> Option<f64> {
        let d = self.norm(t) * self.aggregate_norm();
        (d > 0.0).then(|| self.dot_aggregate[t] / d)
    }

    /// AvgNorm weight w_t = ‖g‖ / ‖g_t‖ (paper 003, eq. 6); `None` when
    /// g_t = 0.
    pub fn avgnorm_weight(&self, t: usize) -> Option<f64> {
        let n = self.norm(t);
        (n > 0.0).then(|| self.aggregate_norm() / n)
    }

    /// max_t ‖g_t‖ / min_t ‖g_t‖; `None` when some g_t = 0 or T = 0.
    pub fn norm_ratio(&self) -> Option<f64> {
        let norms: Vec<f64> = (0..self.tasks).map(|t| self.norm(t)).collect();
        let max = norms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = norms.iter().copied().fold(f64::INFINITY, f64::min);
        (self.tasks > 0 && min > 0.0).then(|| max / min)
    }

    /// |Σ_t ‖g_t‖ cos(g_t, g) − ‖g‖| / ‖g‖ from the values this type
    /// reports (a zero g_t contributes 0); `None` when g = 0.
    pub fn identity_residual(&self) -> Option<f64> {
        let agg = self.aggregate_norm();
        if agg <= 0.0 {
            return None;
        }
        let lhs: f64 = (0..self.tasks)
            .map(|t| self.cos_aggregate(t).map_or(0.0, |c| self.norm(t) * c))
            .sum();
        Some((lhs - agg).abs() / agg)
    }
}

/// Task pairs (i, j), i < j, in the order every pairwise list uses.
pub fn task_pairs(tasks: usize) -> Vec<(usize, usize)> {
    (0..tasks)
        .flat_map(|i| (i + 1..tasks).map(move |j| (i, j)))
        .collect()
}

/// Per-task values of one batch and scope, as written to the CSV files.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeValues {
    /// cos(g_i, g_j) in [`task_pairs`] order.
    pub pair_cos: Vec<Option<f64>>,
    pub norms: Vec<f64>,
    pub cos_aggregate: Vec<Option<f64>>,
    pub avgnorm_weights: Vec<Option<f64>>,
    pub aggregate_norm: f64,
    pub norm_ratio: Option<f64>,
    pub identity_residual: Option<f64>,
}

impl ScopeValues {
    pub fn of(g: &Geometry) -> ScopeValues {
        let t = g.tasks;
        ScopeValues {
            pair_cos: task_pairs(t)
                .into_iter()
                .map(|(i, j)| g.cos_pair(i, j))
                .collect(),
            norms: (0..t).map(|i| g.norm(i)).collect(),
            cos_aggregate: (0..t).map(|i| g.cos_aggregate(i)).collect(),
            avgnorm_weights: (0..t).map(|i| g.avgnorm_weight(i)).collect(),
            aggregate_norm: g.aggregate_norm(),
            norm_ratio: g.norm_ratio(),
            identity_residual: g.identity_residual(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_and_opposite_tasks() {
        // g1 = (1, 0), g2 = (0, 2), g3 = (−1, 0): g = (0, 2).
        let g = Geometry::from_vectors(&[vec![1.0, 0.0], vec![0.0, 2.0], vec![-1.0, 0.0]], "test")
            .unwrap();
        assert_eq!(g.cos_pair(0, 1), Some(0.0));
        assert_eq!(g.cos_pair(0, 2), Some(-1.0));
        assert_eq!(g.norm(1), 2.0);
        assert_eq!(g.aggregate_norm(), 2.0);
        assert_eq!(g.cos_aggregate(1), Some(1.0));
        assert_eq!(g.cos_aggregate(0), Some(0.0));
        // w_t = ‖g‖ / ‖g_t‖ = 2/1, 2/2, 2/1.
        assert_eq!(g.avgnorm_weight(0), Some(2.0));
        assert_eq!(g.avgnorm_weight(1), Some(1.0));
        assert_eq!(g.norm_ratio(), Some(2.0));
        assert_eq!(g.identity_residual(), Some(0.0));
    }

    #[test]
    fn zero_gradients_have_no_direction() {
        let g = Geometry::from_vectors(&[vec![0.0, 0.0], vec![3.0, 4.0]], "test").unwrap();
        assert_eq!(g.cos_pair(0, 1), None);
        assert_eq!(g.cos_aggregate(0), None);
        assert_eq!(g.avgnorm_weight(0), None);
        assert_eq!(g.norm_ratio(), None);
        assert_eq!(g.cos_aggregate(1), Some(1.0));
        assert_eq!(g.identity_residual(), Some(0.0));
        // Tasks that cancel: g = 0, so cos(g_t, g) and the identity are undefined.
        let c = Geometry::from_vectors(&[vec![1.0, 2.0], vec![-1.0, -2.0]], "test").unwrap();
        assert_eq!(c.aggregate_norm(), 0.0);
        assert_eq!(c.cos_aggregate(0), None);
        assert_eq!(c.identity_residual(), None);
        assert_eq!(c.avgnorm_weight(0), Some(0.0));
    }

    #[test]
    fn non_finite_gradients_are_refused() {
        let e = Geometry::from_vectors(&[vec![f64::NAN], vec![1.0]], "features.0.conv.weight")
            .unwrap_err();
        assert!(e.to_string().contains("features.0.conv.weight"), "{e}");
    }

    #[test]
    fn concatenation_equals_the_geometry_of_the_joined_vectors() {
        let a = [vec![1.0, -2.0], vec![0.5, 3.0], vec![-1.0, 1.0]];
        let b = [vec![4.0], vec![-1.0], vec![0.25]];
        let joined: Vec<Vec<f64>> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| x.iter().chain(y).copied().collect())
            .collect();
        let ga = Geometry::from_vectors(&a, "a").unwrap();
        let gb = Geometry::from_vectors(&b, "b").unwrap();
        let whole = Geometry::from_vectors(&joined, "ab").unwrap();
        let cat = Geometry::concat(&[ga, gb]).unwrap();
        for (x, y) in cat.gram.iter().zip(&whole.gram) {
            assert!((x - y).abs() < 1e-12);
        }
        assert!((cat.aggregate_sq - whole.aggregate_sq).abs() < 1e-12);
    }

    #[test]
    fn the_gram_alone_gives_the_same_geometry() {
        let v = [
            vec![0.3, -1.2, 2.0, 0.1],
            vec![-0.7, 0.4, 1.1, -2.2],
            vec![0.0, 1.0, -1.0, 0.5],
        ];
        let a = Geometry::from_vectors(&v, "v").unwrap();
        let b = Geometry::from_gram(3, a.gram.clone(), "g").unwrap();
        for (x, y) in a.dot_aggregate.iter().zip(&b.dot_aggregate) {
            assert!((x - y).abs() < 1e-12);
        }
        assert!((a.aggregate_sq - b.aggregate_sq).abs() < 1e-12);
        assert_eq!(b.identity_residual().map(|r| r < 1e-15), Some(true));
        let e = Geometry::from_gram(3, vec![0.0; 4], "layer.weight").unwrap_err();
        assert!(e.to_string().contains("layer.weight"), "{e}");
    }
}
