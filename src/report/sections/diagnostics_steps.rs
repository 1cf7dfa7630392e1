//! Task-gradient conflict along training, for diagnose files recorded at
//! several training steps (the PyTorch recorder, `mtl_inspect.torch`):
//! paper 000 App. D reports that conflict shrinks after the first epoch;
//! this draws whether it did in the user's run. Values come from the
//! file's `gradients.over_steps`; nothing is computed here beyond grouping
//! steps into at most [`MAX_POINTS`] bins for the figure.

use super::inputs::DiagnosticsInput;
use crate::diagnostics::diagnose::OverSteps;
use crate::report::charts::lines::{self, LineFigure, LineSeries};
use crate::report::error::ReportError;
use crate::report::page::builder::{PageBuilder, slug};
use crate::report::page::html::Block;
use crate::report::page::table::{Cell, Table};

/// Points drawn per run; more steps are grouped into this many bins.
const MAX_POINTS: usize = 40;

/// Consecutive index ranges splitting `n` steps into at most
/// [`MAX_POINTS`] bins of near-equal size.
fn bins(n: usize) -> Vec<std::ops::Range<usize>> {
    let k = n.min(MAX_POINTS);
    (0..k).map(|b| (b * n / k)..((b + 1) * n / k)).collect()
}

/// Mean of the defined values of `v` over `r` (`None` if none).
fn mean_over(v: &[Option<f64>], r: &std::ops::Range<usize>) -> Option<f64> {
    let xs: Vec<f64> = v[r.clone()].iter().flatten().copied().collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn figure(name: &str, label: &str, o: &OverSteps) -> LineFigure {
    let bins = bins(o.step.len());
    let x_labels = bins
        .iter()
        .map(|r| {
            let (a, b) = (o.step[r.start], o.step[r.end - 1]);
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect();
    let series = |name: &str, v: &[Option<f64>], emphasis: bool| LineSeries {
        name: name.into(),
        values: bins.iter().map(|r| mean_over(v, r)).collect(),
        emphasis,
    };
    let c = &o.conflict;
    LineFigure {
        name: name.into(),
        title: format!("Task-gradient conflict over training: {label}"),
        x_labels,
        x_label: "training step".into(),
        y_label: "cos(g_i, g_j) over task pairs; share".into(),
        y_range: Some((-1.0, 1.0)),
        percent: false,
        series: vec![
            series("median cosine", &c.median, true),
            series("5 % quantile", &c.q05, false),
            series("95 % quantile", &c.q95, false),
            series("share of pairs with cos < 0", &c.share_negative, false),
        ],
    }
}

fn table(ds: &[(&DiagnosticsInput, &OverSteps)]) -> Table {
    let mut t = Table::new(&[
        "diagnostics",
        "step",
        "batches",
        "cos mean",
        "cos median",
        "cos q05",
        "cos q95",
        "share cos < 0",
        "‖g‖ mean",
    ]);
    for (d, o) in ds {
        for i in 0..o.step.len() {
            let c = &o.conflict;
            t.push(vec![
                d.name.clone().into(),
                Cell::Int(o.step[i] as usize),
                Cell::Int(o.batches[i] as usize),
                c.mean[i].into(),
                c.median[i].into(),
                c.q05[i].into(),
                c.q95[i].into(),
                c.share_negative[i].into(),
                o.aggregate_norm_mean[i].into(),
            ]);
        }
    }
    t
}

/// A figure per file with two or more recorded steps, and one table of
/// them all; nothing when no file has steps.
pub(super) fn step_blocks(
    ds: &[DiagnosticsInput],
    files: &mut PageBuilder,
    blocks: &mut Vec<Block>,
) -> Result<(), ReportError> {
    let with_steps: Vec<(&DiagnosticsInput, &OverSteps)> = ds
        .iter()
        .filter_map(|d| Some((d, d.diagnostics.gradients.over_steps.as_ref()?)))
        .filter(|(_, o)| o.step.len() >= 2)
        .collect();
    for (d, o) in &with_steps {
        let label = format!("{} ({})", d.diagnostics.checkpoint.norm_label(), d.name);
        let name = format!("conflict-steps-{}", slug(&d.name));
        let binned = if o.step.len() > MAX_POINTS {
            format!(
                " The {} recorded steps are grouped into {MAX_POINTS} bins of consecutive steps; each point is the mean of the steps' values in its bin (per step in the table).",
                o.step.len()
            )
        } else {
            String::new()
        };
        blocks.push(files.figure(
            &format!("{name}.svg"),
            lines::render(&figure(&name, &label, o))?,
            format!(
                "Cosines between task gradients on all shared weights (scope {}) at each recorded training step, pooled over task pairs and the step's batches: median (thick), 5–95 % quantiles, and the share of pairs in conflict (cos < 0). Paper 000 App. D reports conflict shrinking after the first epoch.{binned}",
                o.scope
            ),
            None,
        ));
    }
    if !with_steps.is_empty() {
        blocks.push(files.table(
            "conflict-steps.csv",
            table(&with_steps),
            "Per recorded training step: the pooled task-pair cosines on all shared weights and the mean norm of the summed gradient.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_step_once() {
        for n in [1, 2, 39, 40, 41, 97, 1000] {
            let b = bins(n);
            assert!(b.len() <= MAX_POINTS && !b.is_empty());
            assert_eq!(b.first().unwrap().start, 0);
            assert_eq!(b.last().unwrap().end, n);
            assert!(b.windows(2).all(|w| w[0].end == w[1].start));
            assert!(b.iter().all(|r| !r.is_empty()));
        }
    }
}
