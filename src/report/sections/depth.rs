//! The depth curves of the specialization section (paper 000 Fig. 4
//! left): per layer, the mean capacity split of eq. 4–5 and the mean
//! off-diagonal task similarity of §5.2, a line of the mean over runs with
//! a band over their min–max. The values come from
//! [`crate::analysis::across_runs::depth_across_runs`].

use crate::analysis::across_runs::{DepthAcrossRuns, LayerDepthSpread, Spread};
use crate::report::charts::bands::{self, BandFigure, BandSeries};
use crate::report::error::ReportError;
use crate::report::page::builder::PageBuilder;
use crate::report::page::html::Block;
use crate::report::page::table::{Cell, Table};
use crate::report::style::{self, RGBColor};

/// The depth-curve figures and tables of a report (SVGs, `depth.csv`,
/// `depth-runs.csv`), as blocks of the specialization section.
pub fn blocks(
    d: &DepthAcrossRuns,
    slugs: &[String],
    page: &mut PageBuilder,
) -> Result<Vec<Block>, ReportError> {
    let n_runs = d.runs.len();
    let multi = n_runs > 1;
    let x_labels: Vec<String> = d.layers.iter().map(|l| l.layer.clone()).collect();
    let band_label = multi.then(|| format!("min–max over {n_runs} runs"));
    let mean = |s: &Spread| Some(s.mean);
    let range = |s: &Spread| Some((s.min, s.max));
    type Pick = fn(&LayerDepthSpread) -> Option<&Spread>;
    let series = |name: &str, color: RGBColor, pick: Pick| BandSeries {
        name: name.into(),
        values: d.layers.iter().map(|l| pick(l).and_then(mean)).collect(),
        band: multi.then(|| d.layers.iter().map(|l| pick(l).and_then(range)).collect()),
        color,
    };
    let of_runs = if multi {
        format!(", mean of {n_runs} runs")
    } else {
        String::new()
    };
    let capacity = BandFigure {
        name: "depth-capacity".into(),
        title: format!("Capacity split per layer{of_runs}"),
        x_labels: x_labels.clone(),
        x_label: "layer (input → output)".into(),
        y_label: "mean over tasks".into(),
        band_label: band_label.clone(),
        series: vec![
            series("capacity C", style::INK, |l| Some(&l.capacity)),
            series("shared", style::categorical(0), |l| Some(&l.shared)),
            series("independent", style::categorical(1), |l| {
                Some(&l.independent)
            }),
        ],
    };
    let similarity = BandFigure {
        name: "depth-similarity".into(),
        title: format!("Task similarity per layer{of_runs}"),
        x_labels,
        x_label: "layer (input → output)".into(),
        y_label: "mean off-diagonal cosine".into(),
        band_label,
        series: vec![series(
            "mean similarity of task pairs",
            style::categorical(2),
            |l| l.similarity.as_ref(),
        )],
    };
    let spread_note = if multi {
        format!("; lines are means over the {n_runs} runs and bands their min–max")
    } else {
        String::new()
    };
    let mut blocks = vec![page.figure(
        "depth-capacity.svg",
        bands::render(&capacity)?,
        format!(
            "Each layer's own capacity split (eq. 4–5 on that layer's filters alone), averaged over tasks{spread_note}: shared falling and independent rising with depth means deeper layers give tasks filters of their own."
        ),
        None,
    )];
    if d.layers.iter().any(|l| l.similarity.is_some()) {
        blocks.push(page.figure(
            "depth-similarity.svg",
            bands::render(&similarity)?,
            format!(
                "Mean cosine similarity of all task pairs on each layer's filters alone (§5.2 per layer){spread_note}: a falling line means tasks use increasingly different filters deeper in the network."
            ),
            None,
        ));
    }
    blocks.push(page.table_folded(
        "depth.csv",
        summary_table(d),
        if multi {
            format!(
                "Depth curves per layer over the {n_runs} runs: mean, min–max and the 95 % Student-t interval of the mean of capacity, shared, independent and off-diagonal similarity."
            )
        } else {
            "Depth curves per layer: mean over tasks of capacity, shared and independent parts, and the mean off-diagonal similarity.".to_string()
        },
        multi,
    ));
    page.csv("depth-runs.csv", runs_table(d, slugs));
    Ok(blocks)
}

fn spread_cells(s: Option<&Spread>) -> Vec<Cell> {
    match s {
        Some(s) => vec![
            s.mean.into(),
            s.min.into(),
            s.max.into(),
            s.ci_low.into(),
            s.ci_high.into(),
        ],
        None => vec![Cell::Missing; 5],
    }
}

/// Per layer, each quantity's summary over runs.
fn summary_table(d: &DepthAcrossRuns) -> Table {
    let mut headers = vec!["layer".to_string(), "filters".to_string()];
    for q in ["capacity", "shared", "independent", "similarity"] {
        for s in ["mean", "min", "max", "ci_low", "ci_high"] {
            headers.push(format!("{q}_{s}"));
        }
    }
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&refs);
    for l in &d.layers {
        let mut row: Vec<Cell> = vec![l.layer.clone().into(), l.filters.into()];
        row.extend(spread_cells(Some(&l.capacity)));
        row.extend(spread_cells(Some(&l.shared)));
        row.extend(spread_cells(Some(&l.independent)));
        row.extend(spread_cells(l.similarity.as_ref()));
        t.push(row);
    }
    t
}

/// Every run's own depth curves, one row per run and layer.
fn runs_table(d: &DepthAcrossRuns, slugs: &[String]) -> Table {
    let mut t = Table::new(&[
        "run",
        "layer",
        "filters",
        "mean_capacity",
        "mean_shared",
        "mean_independent",
        "mean_off_diagonal_similarity",
    ]);
    for (r, run) in d.per_run.iter().enumerate() {
        let name = slugs
            .get(r)
            .or_else(|| d.runs.get(r))
            .cloned()
            .unwrap_or_default();
        for l in &run.layers {
            t.push(vec![
                name.clone().into(),
                l.layer.clone().into(),
                l.filters.into(),
                l.mean_capacity.into(),
                l.mean_shared.into(),
                l.mean_independent.into(),
                l.mean_off_diagonal.into(),
            ]);
        }
    }
    t
}
