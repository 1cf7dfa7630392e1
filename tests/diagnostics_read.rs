//! Reading `mtl-train diagnose` files (src/diagnostics): the committed
//! files read with their numbers; files of another tool, another version,
//! truncated or damaged are refused with an error that names the file and
//! says what is wrong — never a panic.

use std::path::{Path, PathBuf};

use mtl_inspect::diagnostics::diagnose::{Pruning, parse_diagnostics};
use mtl_inspect::diagnostics::{DiagnosticsError, read_diagnostics};

fn committed(stem: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("training/diagnostics")
        .join(format!("{stem}.json"))
}

fn bytes(stem: &str) -> Vec<u8> {
    std::fs::read(committed(stem)).unwrap()
}

/// A copy of the TSσBN file in a temp dir with `edit` applied to its JSON.
fn edited(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v: serde_json::Value = serde_json::from_slice(&bytes("shapes_tssbn_seed0")).unwrap();
    edit(&mut v);
    let p = dir.join("edited.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn committed_tssbn_file_reads_with_its_numbers() {
    let d = read_diagnostics(&committed("shapes_tssbn_seed0")).unwrap();
    assert_eq!(d.tasks.len(), 16);
    assert_eq!(d.checkpoint.norm_label(), "TSσBN");
    assert_eq!(d.gradients.batches, 16);
    let names: Vec<&str> = d
        .gradients
        .scopes
        .iter()
        .map(|s| s.scope.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "overall",
            "features.0.conv.weight",
            "features.1.conv.weight",
            "features.2.conv.weight"
        ]
    );
    let o = d.overall().unwrap();
    assert_eq!(o.conflict.pooled.n, 1920);
    assert_eq!(o.conflict.pooled.std, Some(0.196941));
    assert_eq!(o.imbalance.max_over_min_of_mean_norms, Some(1.56793));
    assert_eq!(o.avgnorm_weight.mean[0], Some(6.74872));
    // The diagonal of the pair matrices is null (no pair with itself).
    assert_eq!(o.conflict.pairs.mean[3][3], None);
    assert_eq!(d.evaluation.as_ref().unwrap().mean.f1, Some(0.907329));
    let Pruning::Done { k, rankings, .. } = &d.pruning else {
        panic!("TSσBN pruning was done");
    };
    assert_eq!(*k, 4);
    let by: Vec<&str> = rankings.iter().map(|r| r.ranking.as_str()).collect();
    assert_eq!(by, ["importance", "specialization"]);
    assert_eq!(
        rankings[1].f1_drop.diagonal_share_by_evaluated,
        Some(0.319792)
    );
    assert_eq!(rankings[1].f1_drop.p_value_by_evaluated, Some(0.0001));
    assert_eq!(
        rankings[0].f1_drop.diagonal_share_by_evaluated,
        Some(0.0625)
    );
    // The per-batch CSV beside it: 120 pairs × 16 batches in each of 4 scopes.
    let c = d.conflict.as_ref().expect("conflict csv beside the json");
    assert_eq!(c.scopes.len(), 4);
    assert!(c.values.iter().all(|v| v.len() == 1920));
    assert!(d.conflict_note.is_none());
}

#[test]
fn hps_file_reads_with_pruning_skipped() {
    let d = read_diagnostics(&committed("shapes_bn_seed0")).unwrap();
    assert_eq!(d.checkpoint.norm_label(), "HPS");
    assert_eq!(d.gradients.method, "separate_passes");
    match &d.pruning {
        Pruning::Skipped { reason } => assert!(reason.contains("no task-specific gates")),
        Pruning::Done { .. } => panic!("HPS has no gates to prune"),
    }
}

fn message<T>(r: Result<T, DiagnosticsError>) -> (DiagnosticsError, String) {
    let Err(e) = r else {
        panic!("must be refused");
    };
    let m = e.to_string();
    (e, m)
}

#[test]
fn another_tools_json_is_refused_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let p = edited(dir.path(), |v| v["schema"] = "mtl-inspect/capacity".into());
    let (e, m) = message(read_diagnostics(&p));
    assert!(matches!(e, DiagnosticsError::WrongSchema { .. }), "{m}");
    assert!(
        m.contains("edited.json") && m.contains("not an mtl-train diagnose file"),
        "{m}"
    );
    assert!(
        m.contains("mtl-inspect/capacity") && m.contains("mtl-train diagnose CKPT"),
        "{m}"
    );

    // A JSON without any schema, e.g. `mtl-inspect capacity --format json`.
    let p = dir.path().join("capacity.json");
    std::fs::write(&p, br#"{"tasks":[{"task":"a","capacity":0.5}],"rank":1}"#).unwrap();
    let (_, m) = message(read_diagnostics(&p));
    assert!(
        m.contains("capacity.json") && m.contains("no 'schema' key"),
        "{m}"
    );

    // Not even an object.
    std::fs::write(&p, b"[1, 2, 3]").unwrap();
    let (_, m) = message(read_diagnostics(&p));
    assert!(m.contains("not an object"), "{m}");
}

#[test]
fn a_newer_version_asks_to_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let p = edited(dir.path(), |v| v["schema_version"] = 3.into());
    let (e, m) = message(read_diagnostics(&p));
    assert!(matches!(e, DiagnosticsError::Version { .. }), "{m}");
    assert!(
        m.contains("schema_version 3") && m.contains("upgrade"),
        "{m}"
    );
}

/// Version 2, as the PyTorch recorder writes it: no evaluation or
/// pruning, a model class for a checkpoint, steps; a malformed
/// `over_steps` is named.
#[test]
fn a_recorder_file_of_version_2_reads_and_its_steps_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = |v: &mut serde_json::Value| {
        v["schema_version"] = 2.into();
        let o = v.as_object_mut().unwrap();
        o.remove("evaluation");
        o.remove("pruning");
        v["checkpoint"] = serde_json::json!({"path": "mymodule.Net", "model": "Net", "architecture": "HPS (LibMTL)"});
        let b = v["gradients"]["batches"].as_u64().unwrap();
        v["gradients"]["batch_size"] = serde_json::Value::Null;
        v["gradients"]["steps"] = (0..b).map(|i| i / 2).collect::<Vec<_>>().into();
        let steps = b.div_ceil(2);
        let col = |x: f64| serde_json::Value::from(vec![x; steps as usize]);
        v["gradients"]["over_steps"] = serde_json::json!({
            "scope": "overall", "step": (0..steps).collect::<Vec<_>>(), "batches": vec![2; steps as usize],
            "conflict": {"mean": col(0.1), "median": col(0.1), "q05": col(-0.5), "q95": col(0.6), "share_negative": col(0.4)},
            "aggregate_norm_mean": col(1.0),
        });
    };
    let p = edited(dir.path(), recorder);
    let d = read_diagnostics(&p).unwrap();
    assert!(d.evaluation.is_none());
    assert_eq!(d.checkpoint.norm_label(), "HPS (LibMTL)");
    assert!(matches!(d.pruning, Pruning::Skipped { .. }));
    assert_eq!(d.gradients.over_steps.unwrap().step.len(), 8);

    let p = edited(dir.path(), |v| {
        recorder(v);
        v["gradients"]["over_steps"]["conflict"]["median"] = serde_json::json!([0.1]);
    });
    let (e, m) = message(read_diagnostics(&p));
    assert!(matches!(e, DiagnosticsError::Invalid { .. }), "{m}");
    assert!(
        m.contains("over_steps.conflict.median has 1 entries for 8 steps"),
        "{m}"
    );
}

#[test]
fn truncated_files_name_the_file_and_never_panic() {
    let full = bytes("shapes_tssbn_seed0");
    let path = Path::new("runs/diag.json");
    // Every prefix length class: empty, inside the header, mid-way, one short.
    let mut cuts: Vec<usize> = (0..full.len()).step_by(997).collect();
    // Without the closing brace.
    cuts.push(full.iter().rposition(|&b| b == b'}').unwrap());
    for n in cuts {
        let (e, m) = message(parse_diagnostics(path, &full[..n]));
        assert!(m.contains("runs/diag.json"), "cut {n}: {m}");
        assert!(matches!(e, DiagnosticsError::Json { .. }), "cut {n}: {m}");
        assert!(m.contains("truncated or damaged"), "{m}");
    }
    // A safetensors checkpoint passed by mistake.
    let ckpt = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/shapes/shapes_tssbn_seed0.safetensors");
    let (_, m) = message(read_diagnostics(&ckpt));
    assert!(m.contains("shapes_tssbn_seed0.safetensors"), "{m}");
    // A missing file.
    let (e, m) = message(read_diagnostics(Path::new("/nonexistent/diag.json")));
    assert!(
        matches!(e, DiagnosticsError::Io { .. }) && m.contains("/nonexistent/diag.json"),
        "{m}"
    );
}

#[test]
fn shapes_that_do_not_fit_the_tasks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = edited(dir.path(), |v| {
        v["gradients"]["scopes"][1]["avgnorm_weight"]["mean"]
            .as_array_mut()
            .unwrap()
            .pop();
    });
    let (e, m) = message(read_diagnostics(&p));
    assert!(matches!(e, DiagnosticsError::Invalid { .. }), "{m}");
    assert!(
        m.contains("features.0.conv.weight")
            && m.contains("avgnorm_weight.mean has 15 entries for 16 tasks"),
        "{m}"
    );
    let p = edited(dir.path(), |v| {
        v["pruning"]["rankings"][0]["f1_drop"]["matrix"]
            .as_array_mut()
            .unwrap()
            .truncate(3);
    });
    let (_, m) = message(read_diagnostics(&p));
    assert!(m.contains("f1_drop.matrix is not 16 × 16"), "{m}");
    let p = edited(dir.path(), |v| {
        v.as_object_mut().unwrap().remove("gradients");
    });
    let (_, m) = message(read_diagnostics(&p));
    assert!(m.contains("edited.json") && m.contains("gradients"), "{m}");
    // A number where a summary is expected.
    let p = edited(dir.path(), |v| {
        v["gradients"]["scopes"][0]["conflict"]["pooled"] = 3.into()
    });
    let (_, m) = message(read_diagnostics(&p));
    assert!(m.contains("edited.json"), "{m}");
}

#[test]
fn a_damaged_conflict_csv_names_its_line_and_a_missing_one_is_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("training/diagnostics");
    let json = dir.path().join("shapes_tssbn_seed0.json");
    std::fs::copy(src.join("shapes_tssbn_seed0.json"), &json).unwrap();
    // No CSV beside it: read, with a note.
    let d = read_diagnostics(&json).unwrap();
    assert!(d.conflict.is_none());
    assert!(
        d.conflict_note
            .unwrap()
            .contains("shapes_tssbn_seed0.conflict.csv")
    );
    // A CSV cut in the middle of a row.
    let csv = std::fs::read_to_string(src.join("shapes_tssbn_seed0.conflict.csv")).unwrap();
    let cut = &csv[..csv.len() / 2];
    let cut = &cut[..cut.rfind(',').unwrap()];
    std::fs::write(dir.path().join("shapes_tssbn_seed0.conflict.csv"), cut).unwrap();
    let (e, m) = message(read_diagnostics(&json));
    assert!(matches!(e, DiagnosticsError::Csv { .. }), "{m}");
    assert!(
        m.contains("conflict.csv, line ") && m.contains("truncated"),
        "{m}"
    );
    // A value that is not a cosine.
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    cells[3] = "7.5".into();
    lines[1] = cells.join(",");
    let bad = lines.join("\n");
    std::fs::write(dir.path().join("shapes_tssbn_seed0.conflict.csv"), bad).unwrap();
    let (_, m) = message(read_diagnostics(&json));
    assert!(m.contains("line 2") && m.contains("outside [−1, 1]"), "{m}");
}
