//! The tidy long export: one row per (run, layer, filter, task), values
//! that agree with the importance matrix, dropped filters kept with an
//! empty importance, and (with `--features parquet`) a Parquet file polars
//! reads back to the same table.

mod common;

use common::{f32s, fixture, write};
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DiscoverParams, Gates, discover_gates};
use mtl_inspect::importance::from_gates::ImportanceParams;
use mtl_inspect::report::export::{ExportFormat, ExportRun, TidyTable, export, tidy_table};

fn load(
    path: &std::path::Path,
    allow_nonfinite: bool,
) -> (
    Gates,
    mtl_inspect::ImportanceMatrix,
    Vec<mtl_inspect::importance::from_gates::DroppedFilters>,
) {
    let c = Checkpoint::open(path).unwrap();
    // --layers names the layers, so a one-layer test file is read as tasks.
    let p = DiscoverParams {
        layers: Some(regex::Regex::new(".").unwrap()),
        ..DiscoverParams::default()
    };
    let g = discover_gates(&c, &p).unwrap();
    let (im, dropped) = g
        .importance(&ImportanceParams {
            gate: None,
            allow_nonfinite,
        })
        .unwrap();
    (g, im, dropped)
}

#[test]
fn csv_has_one_row_per_run_layer_filter_task_and_matches_importance() {
    let runs: Vec<_> = ["run0", "run1"]
        .iter()
        .map(|r| {
            (
                r.to_string(),
                load(&fixture(&format!("celeba40/{r}.safetensors")), false),
            )
        })
        .collect();
    let export_runs: Vec<ExportRun> = runs
        .iter()
        .map(|(n, (g, im, d))| ExportRun {
            run: n,
            gates: g,
            importance: im,
            dropped: d,
        })
        .collect();
    let t = tidy_table(&export_runs).unwrap();
    let (g, im, _) = &runs[0].1;
    assert_eq!(t.len(), 2 * im.n_tasks() * im.n_filters());
    // Row k of run0: filter-major, task-minor within each layer.
    let t0 = im.n_tasks();
    for k in [0, 1, t0, 5 * t0 + 3] {
        let (col, task) = (k / t0, k % t0);
        assert_eq!(t.importance[k], Some(im.data()[(task, col)]));
        assert_eq!(t.task[k], g.tasks[task]);
        assert!((1.0 / (1.0 + (-t.gate[k]).exp()) - im.data()[(task, col)]).abs() < 1e-12);
    }
    let csv = String::from_utf8(export(&export_runs, ExportFormat::Csv).unwrap()).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("run,layer,filter,task,gate,importance"));
    assert_eq!(csv.lines().count(), t.len() + 1);
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first[0], "run0");
    assert_eq!(first[2], "0");
    assert_eq!(first[5].parse::<f64>().unwrap(), im.data()[(0, 0)]);
}

#[test]
fn dropped_filters_keep_their_rows_with_empty_importance() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.safetensors");
    // Two tasks, one layer of three filters; filter 1 has a NaN gate.
    write(
        &p,
        &[
            f32s("enc.bns.0.weight", &[3], &[0.0, f32::NAN, 1.0]),
            f32s("enc.bns.1.weight", &[3], &[2.0, 0.5, -1.0]),
        ],
        &[],
    );
    let (g, im, d) = load(&p, true);
    assert_eq!(im.n_filters(), 2);
    let runs = [ExportRun {
        run: "r,1",
        gates: &g,
        importance: &im,
        dropped: &d,
    }];
    let t = tidy_table(&runs).unwrap();
    assert_eq!(t.len(), 6);
    assert_eq!(t.filter, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(t.importance[2], None);
    assert_eq!(t.importance[3], None);
    assert_eq!(t.importance[4], Some(im.data()[(0, 1)]));
    let csv = String::from_utf8(export(&runs, ExportFormat::Csv).unwrap()).unwrap();
    assert!(csv.contains("\"r,1\",enc.bns,1,task_0,NaN,\n"), "{csv}");
}

#[test]
fn mismatched_importance_is_an_error_naming_the_run() {
    let (g, _, d) = load(&fixture("celeba40/run0.safetensors"), false);
    let (_, other, _) = load(&fixture("layouts/stacked_f16.safetensors"), false);
    let e = tidy_table(&[ExportRun {
        run: "run0",
        gates: &g,
        importance: &other,
        dropped: &d,
    }])
    .unwrap_err()
    .to_string();
    assert!(e.contains("run0"), "{e}");
}

#[test]
fn format_follows_the_extension() {
    use std::path::Path;
    assert_eq!(
        ExportFormat::from_path(Path::new("x.CSV")).unwrap(),
        ExportFormat::Csv
    );
    assert_eq!(
        ExportFormat::from_path(Path::new("x.parquet")).unwrap(),
        ExportFormat::Parquet
    );
    let e = ExportFormat::from_path(Path::new("x.xlsx"))
        .unwrap_err()
        .to_string();
    assert!(e.contains(".csv or .parquet"), "{e}");
    assert_eq!(TidyTable::COLUMNS.len(), 6);
}

#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_without_the_feature_says_how_to_get_it() {
    let (g, im, d) = load(&fixture("layouts/stacked_f16.safetensors"), false);
    let e = export(
        &[ExportRun {
            run: "r",
            gates: &g,
            importance: &im,
            dropped: &d,
        }],
        ExportFormat::Parquet,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--features parquet"), "{e}");
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_reads_back_as_the_same_table() {
    use polars::prelude::{ParquetReader, SerReader};
    let (g, im, d) = load(&fixture("celeba40/run0.safetensors"), false);
    let runs = [ExportRun {
        run: "run0",
        gates: &g,
        importance: &im,
        dropped: &d,
    }];
    let t = tidy_table(&runs).unwrap();
    let bytes = export(&runs, ExportFormat::Parquet).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    let df = ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .unwrap();
    assert_eq!(df.height(), t.len());
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, TidyTable::COLUMNS);
    let imp = df.column("importance").unwrap().f64().unwrap();
    assert_eq!(imp.get(7), t.importance[7]);
    let task = df.column("task").unwrap().str().unwrap();
    assert_eq!(task.get(3), Some(t.task[3].as_str()));
}
