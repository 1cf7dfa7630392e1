//! Comparing two checkpoints of one architecture (seed vs seed, epoch vs
//! epoch, TSσBN vs TSBN): per task and per layer the change in capacity and
//! its shared / independent split (paper 000 eq. 4–5), the Spearman
//! correlation of the two task-similarity matrices (§5.2), the task pairs
//! whose similarity moved most, and the filters whose owner changed (the
//! task that specializes them at τ, §5.3).
//!
//! Runs are aligned by task and layer name; every difference is `B − A`.

use crate::analysis::AnalysisError;
use crate::analysis::capacity::capacity;
use crate::analysis::depth::capacity_by_layer;
use crate::analysis::similarity::cosine_similarity;
use crate::analysis::stability::spearman;
use crate::importance::ImportanceMatrix;

/// Checked parameters of [`diff`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffParams {
    tau: f64,
    top: usize,
}

impl DiffParams {
    /// `0 < τ < 1` (a filter's owner: the task with the largest share of
    /// its total importance, if that share exceeds τ); `top` ≥ 1 pairs.
    pub fn new(tau: f64, top: usize) -> Result<Self, AnalysisError> {
        if !(tau > 0.0 && tau < 1.0) {
            return Err(AnalysisError::Param {
                name: "tau",
                value: tau.to_string(),
                expected: "0 < tau < 1".into(),
            });
        }
        if top == 0 {
            return Err(AnalysisError::Param {
                name: "top",
                value: "0".into(),
                expected: "at least 1 task pair".into(),
            });
        }
        Ok(DiffParams { tau, top })
    }
    pub fn tau(&self) -> f64 {
        self.tau
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskDelta {
    pub task: String,
    pub capacity_a: f64,
    pub capacity_b: f64,
    pub delta_capacity: f64,
    pub delta_shared: f64,
    pub delta_independent: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerDelta {
    pub layer: String,
    pub filters: usize,
    /// Means over tasks of the layer's own capacity split (B − A).
    pub delta_mean_capacity: f64,
    pub delta_mean_shared: f64,
    pub delta_mean_independent: f64,
    /// Filters of this layer whose owner differs between A and B.
    pub owner_changes: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairMove {
    pub task_a: String,
    pub task_b: String,
    pub similarity_a: f64,
    pub similarity_b: f64,
    pub delta: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OwnerChange {
    pub layer: String,
    /// Index of the filter within its layer.
    pub filter: usize,
    /// Owner in A and in B (`null`: no task's share exceeds τ).
    pub owner_a: Option<String>,
    pub owner_b: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiffReport {
    pub tau: f64,
    pub tasks: Vec<TaskDelta>,
    pub layers: Vec<LayerDelta>,
    /// Spearman correlation of the two similarity matrices' upper
    /// triangles (`null` when either is constant).
    pub similarity_spearman: Option<f64>,
    /// The `top` task pairs with the largest |Δ similarity|, largest first
    /// (ties: task order).
    pub moved_pairs: Vec<PairMove>,
    pub owner_changes: Vec<OwnerChange>,
}

/// The owner of each filter: the task with the largest share of the
/// filter's total importance when that share exceeds τ.
fn owners(im: &ImportanceMatrix, tau: f64) -> Vec<Option<usize>> {
    let d = im.data();
    (0..im.n_filters())
        .map(|c| {
            let col = d.column(c);
            let sum: f64 = col.sum();
            if sum <= 0.0 {
                return None;
            }
            let (best, v) = col
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, (i, &v)| {
                        if v > acc.1 { (i, v) } else { acc }
                    },
                );
            (v / sum > tau).then_some(best)
        })
        .collect()
}

/// `b − a` for two runs of the same tasks and layers (aligned by name).
pub fn diff(
    a: &ImportanceMatrix,
    b: &ImportanceMatrix,
    p: &DiffParams,
) -> Result<DiffReport, AnalysisError> {
    if let Some(d) = a.layer_difference(b) {
        return Err(AnalysisError::LayerMismatch(d));
    }
    let b = b.reorder_tasks(a.tasks()).ok_or_else(|| {
        let only_a: Vec<&str> = a
            .tasks()
            .iter()
            .filter(|t| !b.tasks().contains(t))
            .map(String::as_str)
            .collect();
        let only_b: Vec<&str> = b
            .tasks()
            .iter()
            .filter(|t| !a.tasks().contains(t))
            .map(String::as_str)
            .collect();
        AnalysisError::TaskMismatch(format!("only in A: {only_a:?}; only in B: {only_b:?}"))
    })?;
    let (ca, cb) = (capacity(a), capacity(&b));
    let tasks = ca
        .tasks
        .iter()
        .zip(&cb.tasks)
        .map(|(x, y)| TaskDelta {
            task: x.task.clone(),
            capacity_a: x.capacity,
            capacity_b: y.capacity,
            delta_capacity: y.capacity - x.capacity,
            delta_shared: y.shared - x.shared,
            delta_independent: y.independent - x.independent,
        })
        .collect();
    let (oa, ob) = (owners(a, p.tau), owners(&b, p.tau));
    let name = |o: Option<usize>| o.map(|i| a.tasks()[i].clone());
    let mut owner_changes = Vec::new();
    let (la, lb) = (capacity_by_layer(a), capacity_by_layer(&b));
    let mut layers = Vec::new();
    for (i, span) in a.layers().iter().enumerate() {
        let mut n = 0;
        for (f, c) in span.range().enumerate() {
            if oa[c] != ob[c] {
                n += 1;
                owner_changes.push(OwnerChange {
                    layer: span.name.clone(),
                    filter: f,
                    owner_a: name(oa[c]),
                    owner_b: name(ob[c]),
                });
            }
        }
        let (x, y) = (&la.layers[i], &lb.layers[i]);
        layers.push(LayerDelta {
            layer: span.name.clone(),
            filters: span.len,
            delta_mean_capacity: y.mean_capacity - x.mean_capacity,
            delta_mean_shared: y.mean_shared - x.mean_shared,
            delta_mean_independent: y.mean_independent - x.mean_independent,
            owner_changes: n,
        });
    }
    let (sa, sb) = (cosine_similarity(a), cosine_similarity(&b));
    let similarity_spearman = spearman(&sa.upper_triangle(), &sb.upper_triangle());
    let t = a.n_tasks();
    let mut pairs: Vec<PairMove> = Vec::with_capacity(t * t.saturating_sub(1) / 2);
    for i in 0..t {
        for j in i + 1..t {
            let (x, y) = (sa.matrix[i][j], sb.matrix[i][j]);
            pairs.push(PairMove {
                task_a: a.tasks()[i].clone(),
                task_b: a.tasks()[j].clone(),
                similarity_a: x,
                similarity_b: y,
                delta: y - x,
            });
        }
    }
    // Stable sort: equal |Δ| keep task order.
    pairs.sort_by(|x, y| y.delta.abs().total_cmp(&x.delta.abs()));
    pairs.truncate(p.top);
    Ok(DiffReport {
        tau: p.tau,
        tasks,
        layers,
        similarity_spearman,
        moved_pairs: pairs,
        owner_changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn im(tasks: &[&str], rows: &[f64], f: usize) -> ImportanceMatrix {
        ImportanceMatrix::single_layer(
            tasks.iter().map(|s| s.to_string()).collect(),
            "l",
            DMatrix::from_row_slice(tasks.len(), f, rows),
        )
        .unwrap()
    }

    #[test]
    fn a_run_against_itself_changes_nothing_and_order_does_not_matter() {
        let a = im(
            &["x", "y", "z"],
            &[0.9, 0.1, 0.5, 0.2, 0.8, 0.5, 0.3, 0.3, 0.9],
            3,
        );
        // Same run with the tasks listed in another order.
        let b = im(
            &["z", "x", "y"],
            &[0.3, 0.3, 0.9, 0.9, 0.1, 0.5, 0.2, 0.8, 0.5],
            3,
        );
        let r = diff(&a, &b, &DiffParams::new(0.5, 3).unwrap()).unwrap();
        assert!(r.tasks.iter().all(|t| t.delta_capacity.abs() < 1e-15));
        assert!(r.owner_changes.is_empty());
        assert!((r.similarity_spearman.unwrap() - 1.0).abs() < 1e-12);
        assert!(r.moved_pairs.iter().all(|p| p.delta.abs() < 1e-15));
    }

    #[test]
    fn owner_changes_and_mismatches() {
        let a = im(&["x", "y"], &[0.9, 0.1, 0.1, 0.9], 2);
        let b = im(&["x", "y"], &[0.1, 0.1, 0.9, 0.9], 2);
        let r = diff(&a, &b, &DiffParams::new(0.5, 1).unwrap()).unwrap();
        // Filter 0: x → y; filter 1: y → none (0.1/1.0 and 0.9/1.0... y still).
        assert_eq!(r.owner_changes.len(), 1);
        assert_eq!(r.owner_changes[0].owner_a.as_deref(), Some("x"));
        assert_eq!(r.owner_changes[0].owner_b.as_deref(), Some("y"));
        assert_eq!(r.layers[0].owner_changes, 1);
        let c = im(&["x", "w"], &[0.9, 0.1, 0.1, 0.9], 2);
        assert!(matches!(
            diff(&a, &c, &DiffParams::new(0.5, 1).unwrap()),
            Err(AnalysisError::TaskMismatch(_))
        ));
        assert!(DiffParams::new(1.0, 1).is_err() && DiffParams::new(0.5, 0).is_err());
    }
}
