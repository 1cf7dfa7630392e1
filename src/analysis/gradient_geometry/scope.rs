//! Per-batch geometries of one scope reduced to distributions over batches
//! (what the diagnose file's `gradients.scopes[*]` reports), and the same
//! along training steps when the batches were recorded at several steps.

use super::geometry::{Geometry, GeometryError, ScopeValues, task_pairs};
use super::summary::Summary;

/// The per-batch values of one scope and their distributions.
#[derive(Debug, Clone)]
pub struct ScopeReport {
    /// `overall` or a shared weight's name.
    pub scope: String,
    /// Per batch, in batch order.
    pub batches: Vec<ScopeValues>,
    /// cos(g_i, g_j) over all pairs and batches.
    pub conflict_pooled: Summary,
    /// Per pair ([`task_pairs`] order), over batches.
    pub conflict_pairs: Vec<Summary>,
    /// Per task, over batches.
    pub norms: Vec<Summary>,
    pub cos_aggregate: Vec<Summary>,
    pub avgnorm_weights: Vec<Summary>,
    pub aggregate_norm: Summary,
    /// max_t mean‖g_t‖ / min_t mean‖g_t‖ (None if some mean is 0).
    pub imbalance_of_mean_norms: Option<f64>,
    /// max_t ‖g_t‖ / min_t ‖g_t‖ per batch.
    pub imbalance_per_batch: Summary,
    /// Largest |Σ_t ‖g_t‖ cos(g_t, g) − ‖g‖| / ‖g‖ over batches.
    pub identity_max_residual: Option<f64>,
}

/// Distributions over `geos` (one geometry per batch, all with `tasks` tasks).
pub fn scope_report(scope: &str, geos: &[Geometry], tasks: usize) -> ScopeReport {
    let batches: Vec<ScopeValues> = geos.iter().map(ScopeValues::of).collect();
    let pairs = task_pairs(tasks);
    let pooled: Vec<Option<f64>> = batches.iter().flat_map(|b| b.pair_cos.clone()).collect();
    let per_pair = (0..pairs.len())
        .map(|p| Summary::of(&batches.iter().map(|b| b.pair_cos[p]).collect::<Vec<_>>()))
        .collect();
    let per_task = |f: &dyn Fn(&ScopeValues, usize) -> Option<f64>| -> Vec<Summary> {
        (0..tasks)
            .map(|t| Summary::of(&batches.iter().map(|b| f(b, t)).collect::<Vec<_>>()))
            .collect()
    };
    let norms = per_task(&|b, t| Some(b.norms[t]));
    let means: Vec<f64> = norms.iter().filter_map(|s| s.mean).collect();
    let max = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = means.iter().copied().fold(f64::INFINITY, f64::min);
    let imbalance_of_mean_norms =
        (means.len() == tasks && tasks > 0 && min > 0.0).then(|| max / min);
    ScopeReport {
        scope: scope.to_string(),
        conflict_pooled: Summary::of(&pooled),
        conflict_pairs: per_pair,
        cos_aggregate: per_task(&|b, t| b.cos_aggregate[t]),
        avgnorm_weights: per_task(&|b, t| b.avgnorm_weights[t]),
        norms,
        aggregate_norm: Summary::of_values(
            &batches.iter().map(|b| b.aggregate_norm).collect::<Vec<_>>(),
        ),
        imbalance_of_mean_norms,
        imbalance_per_batch: Summary::of(&batches.iter().map(|b| b.norm_ratio).collect::<Vec<_>>()),
        identity_max_residual: batches
            .iter()
            .filter_map(|b| b.identity_residual)
            .reduce(f64::max),
        batches,
    }
}

/// The scope reports of `grams[b][s]` (batch b, shared tensor `names[s]`,
/// row-major T × T): `overall` (the sum over tensors: inner products add
/// over disjoint blocks) first, then each tensor. A non-finite Gram is
/// refused, naming the tensor and batch.
pub fn reports_from_grams(
    overall: &str,
    names: &[String],
    tasks: usize,
    grams: &[Vec<Vec<f64>>],
) -> Result<Vec<ScopeReport>, GeometryError> {
    let mut per_scope: Vec<Vec<Geometry>> = vec![Vec::with_capacity(grams.len()); names.len() + 1];
    for (b, batch) in grams.iter().enumerate() {
        let mut geos = Vec::with_capacity(names.len());
        for (name, gram) in names.iter().zip(batch) {
            geos.push(Geometry::from_gram(
                tasks,
                gram.clone(),
                &format!("{name} (batch {b})"),
            )?);
        }
        let total = Geometry::concat(&geos).ok_or_else(|| GeometryError::Shape {
            scope: format!("{overall} (batch {b})"),
            len: 0,
            tasks,
        })?;
        per_scope[0].push(total);
        for (slot, g) in per_scope[1..].iter_mut().zip(geos) {
            slot.push(g);
        }
    }
    let labels = std::iter::once(overall).chain(names.iter().map(String::as_str));
    Ok(labels
        .zip(&per_scope)
        .map(|(n, g)| scope_report(n, g, tasks))
        .collect())
}

/// One training step's batches of one scope, reduced.
#[derive(Debug, Clone)]
pub struct StepSummary {
    pub step: u64,
    /// Batches recorded at this step.
    pub batches: usize,
    /// cos(g_i, g_j) over the pairs and batches of this step.
    pub conflict: Summary,
    /// Per task, mean ‖g_t‖ over this step's batches.
    pub norm_mean: Vec<Option<f64>>,
    /// Per task, mean AvgNorm weight over this step's batches.
    pub avgnorm_weight_mean: Vec<Option<f64>>,
    /// Mean ‖g‖ over this step's batches.
    pub aggregate_norm_mean: Option<f64>,
}

/// `report`'s batches grouped by `steps[b]` (the training step batch `b`
/// was recorded at), in increasing step order.
pub fn over_steps(report: &ScopeReport, steps: &[u64]) -> Vec<StepSummary> {
    let mut order: Vec<u64> = steps.to_vec();
    order.sort_unstable();
    order.dedup();
    let tasks = report.norms.len();
    order
        .into_iter()
        .map(|step| {
            let at: Vec<&ScopeValues> = report
                .batches
                .iter()
                .zip(steps)
                .filter(|(_, s)| **s == step)
                .map(|(b, _)| b)
                .collect();
            let pooled: Vec<Option<f64>> = at.iter().flat_map(|b| b.pair_cos.clone()).collect();
            let mean_of = |f: &dyn Fn(&ScopeValues) -> Option<f64>| {
                Summary::of(&at.iter().map(|b| f(b)).collect::<Vec<_>>()).mean
            };
            StepSummary {
                step,
                batches: at.len(),
                conflict: Summary::of(&pooled),
                norm_mean: (0..tasks).map(|t| mean_of(&|b| Some(b.norms[t]))).collect(),
                avgnorm_weight_mean: (0..tasks)
                    .map(|t| mean_of(&|b| b.avgnorm_weights[t]))
                    .collect(),
                aggregate_norm_mean: mean_of(&|b| Some(b.aggregate_norm)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_group_their_batches_in_step_order() {
        // Batch 0 at step 10: tasks agree; batches 1, 2 at step 5: opposite.
        let agree = Geometry::from_vectors(&[vec![1.0, 0.0], vec![2.0, 0.0]], "s").unwrap();
        let oppose = Geometry::from_vectors(&[vec![1.0, 0.0], vec![-3.0, 0.0]], "s").unwrap();
        let r = scope_report("overall", &[agree, oppose.clone(), oppose], 2);
        let s = over_steps(&r, &[10, 5, 5]);
        assert_eq!(
            s.iter().map(|s| (s.step, s.batches)).collect::<Vec<_>>(),
            [(5, 2), (10, 1)]
        );
        assert_eq!(s[0].conflict.mean, Some(-1.0));
        assert_eq!(s[1].conflict.mean, Some(1.0));
        assert_eq!(s[0].norm_mean, [Some(1.0), Some(3.0)]);
        // g = (−2, 0) at step 5: w = ‖g‖ / ‖g_t‖ = 2, 2/3.
        assert_eq!(s[0].avgnorm_weight_mean[0], Some(2.0));
        assert_eq!(s[1].aggregate_norm_mean, Some(3.0));
    }
}
