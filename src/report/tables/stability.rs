//! Stability tables: Spearman between runs, Mantel p-values and intervals
//! ([`StabilityReport`]).

use crate::analysis::stability::StabilityReport;
use crate::report::page::table::Table;

/// One row per pair of runs; `ci_low`/`ci_high`: the bootstrap interval
/// (empty without bootstrap).
pub fn stability_pairs(r: &StabilityReport) -> Table {
    let mut t = Table::new(&[
        "run_a",
        "run_b",
        "spearman",
        "p_value",
        "ci_low",
        "ci_high",
        "replicate_mean",
    ]);
    for p in &r.pairs {
        t.push(vec![
            p.a.clone().into(),
            p.b.clone().into(),
            p.spearman.into(),
            p.p_value.into(),
            p.ci.as_ref().map(|c| c.low).into(),
            p.ci.as_ref().map(|c| c.high).into(),
            p.ci.as_ref().map(|c| c.mean).into(),
        ]);
    }
    t
}

pub fn stability_text(r: &StabilityReport) -> String {
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
    let mut t = stability_pairs(r);
    let g = crate::analysis::stability::jackknife::GROUPS;
    t.title = Some(format!(
        "Spearman rank correlation between runs' task-similarity matrices (upper triangles); p-values: one-sided Mantel test, {} permutations; ci: 95 % interval over filters (grouped jackknife: {g} filter groups per run, each left out once, {} replicates per pair); mean interval: {} resamples of the runs",
        r.permutations,
        g * g,
        r.bootstrap,
    ));
    let mean_ci = r.mean_ci.as_ref().map_or(String::new(), |c| {
        format!(
            " (95 % interval {:.4}–{:.4} over {} resamples of the runs)",
            c.low, c.high, c.replicates
        )
    });
    let outside = r.pairs_outside_their_interval();
    let note = if outside > 0 {
        format!(
            "note: {outside} of {} pairs have their observed Spearman outside their interval over filters (only clipping to [−1, 1] can cause that)\n",
            r.pairs.len()
        )
    } else {
        String::new()
    };
    format!(
        "{}\nmean {}{mean_ci}  min {}  max {}  over {} pairs of {} runs\n{note}",
        t.to_text(),
        fmt(r.mean),
        fmt(r.min),
        fmt(r.max),
        r.pairs.len(),
        r.runs.len()
    )
}
