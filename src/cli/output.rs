//! Picking the renderer for `--format`, and the provenance every output
//! carries: in tables a `#` line per checkpoint, in JSON a `checkpoint(s)`
//! key beside the result's own keys. CSV stays pure data.

use serde::Serialize;

use mtl_inspect::analysis::across_runs::CapacityAcrossRuns;
use mtl_inspect::analysis::capacity::CapacityReport;
use mtl_inspect::analysis::clusters::ClusterReport;
use mtl_inspect::analysis::depth::{CapacityByLayer, SimilarityByLayer};
use mtl_inspect::analysis::diff::DiffReport;
use mtl_inspect::analysis::filter_groups::FilterGroupReport;
use mtl_inspect::analysis::gate_stats::GateDistributionReport;
use mtl_inspect::analysis::similarity::SimilarityMatrix;
use mtl_inspect::analysis::specialization::SpecializationReport;
use mtl_inspect::analysis::stability::StabilityReport;
use mtl_inspect::checkpoint::summary::CheckpointSummary;
use mtl_inspect::report::json::{CapacityRuns, Source, WithCheckpoint, WithCheckpoints};
use mtl_inspect::report::table::Table;
use mtl_inspect::report::tables;

use super::args::{Format, LoadSettings};
use mtl_inspect::runs::Run;

pub fn json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s.into_bytes()
}

pub fn inspect(s: &CheckpointSummary, f: Format) -> Vec<u8> {
    match f {
        Format::Json => json(s),
        Format::Csv => tables::inspect_layers(s).to_csv().into_bytes(),
        Format::Table => tables::inspect_text(s).into_bytes(),
    }
}

pub fn source(run: &Run, s: &LoadSettings) -> Source {
    Source::of(run, s.read.importance.gate)
}

fn header_line(src: &Source) -> String {
    let mut s = format!(
        "# {}: {} tasks, {} layers, {} filters; {}\n",
        src.file, src.tasks, src.layers, src.filters, src.gate_note
    );
    for d in &src.dropped_nonfinite {
        s.push_str(&format!(
            "# dropped {} filter(s) with non-finite gates in layer '{}': {:?}\n",
            d.filters.len(),
            d.layer,
            d.filters
        ));
    }
    for n in &src.notes {
        s.push_str(&format!("# note: {n}\n"));
    }
    s
}

fn one<T: Serialize>(
    run: &Run,
    s: &LoadSettings,
    result: &T,
    text: impl FnOnce() -> String,
    csv: impl FnOnce() -> Table,
) -> Vec<u8> {
    match s.format {
        Format::Json => json(&WithCheckpoint {
            result,
            checkpoint: source(run, s),
        }),
        Format::Csv => csv().to_csv().into_bytes(),
        Format::Table => format!("{}{}", header_line(&source(run, s)), text()).into_bytes(),
    }
}

fn many<T: Serialize>(
    sources: &[Source],
    s: &LoadSettings,
    result: &T,
    text: impl FnOnce() -> String,
    csv: impl FnOnce() -> Table,
) -> Vec<u8> {
    match s.format {
        Format::Json => json(&WithCheckpoints {
            result,
            checkpoints: sources,
        }),
        Format::Csv => csv().to_csv().into_bytes(),
        Format::Table => {
            let head: String = sources.iter().map(header_line).collect();
            format!("{head}{}", text()).into_bytes()
        }
    }
}

pub fn capacity(run: &Run, s: &LoadSettings, r: &CapacityReport) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || {
            let mut t = tables::capacity(r);
            t.title = Some(format!(
                "capacity C_t = mean importance; shared/independent: projection onto the other tasks (eq. 4–5); rank of the importance matrix: {}",
                r.rank
            ));
            t.to_text()
        },
        || tables::capacity(r),
    )
}

/// Several runs' capacity: JSON `{"runs":[{"run","tasks","rank"}],
/// "across_runs":{...}}`, CSV one row per task with the summary columns,
/// text the means and intervals.
pub fn capacity_runs(
    runs: &[Source],
    s: &LoadSettings,
    results: &[(String, &CapacityReport)],
    spread: &CapacityAcrossRuns,
) -> Vec<u8> {
    let value = CapacityRuns::new(results, spread);
    many(
        runs,
        s,
        &value,
        || tables::capacity_across_runs_text(spread),
        || tables::capacity_across_runs(spread),
    )
}

pub fn similarity(run: &Run, s: &LoadSettings, r: &SimilarityMatrix) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || {
            let mut t = tables::similarity(r);
            t.title = Some("cosine similarity of task importance vectors".into());
            let mut out = t.to_text();
            if !r.zero_norm_tasks.is_empty() {
                out.push_str(&format!(
                    "tasks with all-zero importance (similarity 0 to all others): {}\n",
                    r.zero_norm_tasks.join(", ")
                ));
            }
            out
        },
        || tables::similarity(r),
    )
}

pub fn capacity_by_layer(run: &Run, s: &LoadSettings, r: &CapacityByLayer) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || {
            let mut means = tables::capacity_by_layer_means(r);
            means.title = Some(
                "capacity split of each layer on its own filters (eq. 4–5), mean over tasks; per task: --format csv|json".into(),
            );
            means.to_text()
        },
        || tables::capacity_by_layer(r),
    )
}

pub fn similarity_by_layer(run: &Run, s: &LoadSettings, r: &SimilarityByLayer) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || {
            let mut t = tables::similarity_by_layer(r);
            t.title = Some(
                "task similarity on each layer's filters, off the diagonal; matrices: --format json"
                    .into(),
            );
            t.to_text()
        },
        || tables::similarity_by_layer(r),
    )
}

pub fn diff(runs: &[Source], s: &LoadSettings, r: &DiffReport) -> Vec<u8> {
    many(
        runs,
        s,
        r,
        || tables::diff_text(r),
        || tables::diff_tasks(r),
    )
}

pub fn specialization(run: &Run, s: &LoadSettings, r: &SpecializationReport) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || tables::specialization_text(r).to_text(),
        || tables::specialization_wide(r),
    )
}

pub fn stability(runs: &[Source], s: &LoadSettings, r: &StabilityReport) -> Vec<u8> {
    many(
        runs,
        s,
        r,
        || tables::stability_text(r),
        || tables::stability_pairs(r),
    )
}

pub fn cluster(runs: &[Source], s: &LoadSettings, r: &ClusterReport) -> Vec<u8> {
    many(
        runs,
        s,
        r,
        || tables::cluster_text(r),
        || tables::cluster_long(r),
    )
}

pub fn filter_groups(run: &Run, s: &LoadSettings, r: &FilterGroupReport) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || tables::filter_groups(r).to_text(),
        || tables::filter_groups_wide(r),
    )
}

pub fn gates(run: &Run, s: &LoadSettings, r: &GateDistributionReport) -> Vec<u8> {
    one(
        run,
        s,
        r,
        || {
            let mut t = tables::gates(r);
            t.title =
                Some("distribution of importances (σ(γ) for σBN) per task and overall".into());
            t.to_text()
        },
        || tables::gates(r),
    )
}
