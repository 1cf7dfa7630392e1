//! Distributions of the task-pair gradient cosines cos(g_i, g_j) that
//! `mtl-train diagnose` measured (paper 000 §3 and Fig. 2 left / Fig. 7:
//! TSσBN's task gradients conflict less than hard parameter sharing's),
//! per scope (all shared weights, then each shared weight tensor): numpy-
//! style quantiles, the share in conflict (cos < 0) and a histogram on
//! [−1, 1], so runs of different architectures are drawn on one axis.

use super::gate_stats::{Distribution, GateStatsParams, distribution_of};
use crate::diagnostics::Diagnostics;

/// One scope of one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScopeConflict {
    pub scope: String,
    /// Over every batch and task pair; `label` is the scope.
    pub distribution: Distribution,
    /// Share of the defined cosines below 0 (gradient conflict).
    pub share_negative: f64,
    /// Pairs × batches whose cosine is undefined (a zero gradient).
    pub undefined: usize,
}

/// The cosine distributions of one diagnosed run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunConflict {
    /// The diagnose file's stem.
    pub run: String,
    /// "TSσBN", "HPS", …
    pub architecture: String,
    pub scopes: Vec<ScopeConflict>,
}

/// Histogram bins on [−1, 1] of the cosine distributions.
pub const COSINE_BINS: GateStatsParams = GateStatsParams::fixed(40);

/// `None` when the file's per-batch CSV was not there.
pub fn conflict_distributions(d: &Diagnostics, run: &str) -> Option<RunConflict> {
    let c = d.conflict.as_ref()?;
    let scopes = c
        .scopes
        .iter()
        .zip(&c.values)
        .zip(&c.undefined)
        .map(|((scope, values), &undefined)| {
            let n = values.len().max(1) as f64;
            ScopeConflict {
                scope: scope.clone(),
                distribution: distribution_of(scope, values, &COSINE_BINS, Some((-1.0, 1.0))),
                share_negative: values.iter().filter(|&&v| v < 0.0).count() as f64 / n,
                undefined,
            }
        })
        .collect();
    Some(RunConflict {
        run: run.to_string(),
        architecture: d.checkpoint.norm_label(),
        scopes,
    })
}
