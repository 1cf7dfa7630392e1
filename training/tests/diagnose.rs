//! `mtl-train diagnose` end to end on tiny shapes checkpoints (4 tasks,
//! 64 training images, one epoch): the JSON's schema and sizes, the CSV
//! files, the norm identity re-checked from the CSV, HPS without pruning,
//! and bad input answered with a clear message and exit code.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;
use safetensors::SafeTensors;
use serde_json::Value;

const TINY: &[&str] = &[
    "shapes",
    "--tasks",
    "4",
    "--groups",
    "2",
    "--train-size",
    "64",
    "--val-size",
    "32",
    "--test-size",
    "32",
    "--batch-size",
    "16",
    "--epochs",
    "1",
    "--quiet",
];

fn mtl_train() -> Command {
    Command::cargo_bin("mtl-train").unwrap()
}

/// Trains the tiny model with `--norm norm` into `dir`; its checkpoint.
fn train(dir: &Path, norm: &str) -> PathBuf {
    mtl_train()
        .args(TINY)
        .args(["--norm", norm, "--no-optimizer-state", "--out"])
        .arg(dir)
        .assert()
        .success();
    dir.join(format!("shapes_{norm}_seed0.safetensors"))
}

fn diagnose(ckpt: &Path, out: &Path, extra: &[&str]) -> Value {
    mtl_train()
        .arg("diagnose")
        .arg(ckpt)
        .args(["--batches", "2"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn tssbn_checkpoint_gives_schema_csvs_and_the_norm_identity() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = train(dir.path(), "tssbn");
    let out = dir.path().join("diag.json");
    let j = diagnose(&ckpt, &out, &[]);

    assert_eq!(j["schema"], "mtl-train/diagnose");
    assert_eq!(j["schema_version"], 2);
    assert_eq!(j["checkpoint"]["norm"], "tssbn");
    assert_eq!(j["checkpoint"]["model"], "shapes-cnn");
    let tasks: Vec<String> = serde_json::from_value(j["tasks"].clone()).unwrap();
    assert_eq!(
        tasks,
        ["left_large", "left_round", "right_large", "right_round"]
    );
    let layers: Vec<&str> = j["shared_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        [
            "features.0.conv.weight",
            "features.1.conv.weight",
            "features.2.conv.weight"
        ]
    );
    let g = &j["gradients"];
    assert_eq!(g["method"], "folded");
    assert_eq!(g["batches"], 2);
    assert_eq!(g["batch_size"], 16);
    let scopes = g["scopes"].as_array().unwrap();
    let names: Vec<&str> = scopes
        .iter()
        .map(|s| s["scope"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "overall");
    assert_eq!(&names[1..], &layers[..]);
    for s in scopes {
        // 6 pairs × 2 batches.
        assert_eq!(s["conflict"]["pooled"]["n"], 12);
        let mean = s["conflict"]["pairs"]["mean"].as_array().unwrap();
        assert_eq!(mean.len(), 4);
        assert!(mean[0][0].is_null() && mean[0][1].is_number());
        assert_eq!(mean[0][1], mean[1][0]);
        assert_eq!(s["avgnorm_weight"]["mean"].as_array().unwrap().len(), 4);
        assert!(
            s["imbalance"]["max_over_min_of_mean_norms"]
                .as_f64()
                .unwrap()
                >= 1.0
        );
    }
    assert!(g["checks"]["norm_identity_max_rel_error"].as_f64().unwrap() <= 1e-6);
    assert!(
        g["checks"]["sum_vs_full_gradient_max_rel_error"]
            .as_f64()
            .unwrap()
            <= 1e-4
    );
    assert_eq!(j["evaluation"]["split"], "test");
    assert_eq!(j["evaluation"]["samples"], 32);
    assert_eq!(j["evaluation"]["tasks"].as_array().unwrap().len(), 4);

    let p = &j["pruning"];
    assert_eq!(p["status"], "done");
    // 24 + 16 + 16 gates a task; round(56 · 200 / 2880) = 4.
    assert_eq!(p["filters_per_task"], 56);
    assert_eq!(p["k"], 4);
    let rankings = p["rankings"].as_array().unwrap();
    let names: Vec<&str> = rankings
        .iter()
        .map(|r| r["ranking"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["importance", "specialization"]);
    for r in rankings {
        assert_eq!(r["pruned_filters"].as_array().unwrap().len(), 4);
        assert_eq!(r["pruned_filters"][0].as_array().unwrap().len(), 4);
        for metric in ["f1_drop", "loss_increase"] {
            let m = r[metric]["matrix"].as_array().unwrap();
            assert_eq!(m.len(), 4);
            let share = r[metric]["diagonal_share_by_evaluated"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&share));
            let pv = r[metric]["p_value_by_evaluated"].as_f64().unwrap();
            assert!(pv > 0.0 && pv <= 1.0);
        }
    }

    // The CSV files beside the JSON.
    let conflict = csv(&dir.path().join("diag.conflict.csv"));
    assert_eq!(conflict.len(), 2 * 6);
    assert!(conflict[0].contains_key("features.1.conv.weight"));
    let rows = csv(&dir.path().join("diag.tasks.csv"));
    assert_eq!(rows.len(), 2 * 4 * 4);
    // Σ_t ‖g_t‖ cos(g_t, g) = ‖g‖ per batch and scope, from the file.
    let mut groups: HashMap<(String, String), (f64, f64)> = HashMap::new();
    for r in &rows {
        let f = |k: &str| r[k].parse::<f64>().unwrap();
        let e = groups
            .entry((r["batch"].clone(), r["scope"].clone()))
            .or_insert((0.0, f("aggregate_norm")));
        e.0 += f("norm") * f("cos_with_aggregate");
    }
    assert_eq!(groups.len(), 2 * 4);
    for ((b, s), (lhs, agg)) in groups {
        assert!(
            (lhs - agg).abs() <= 1e-6 * agg,
            "batch {b} {s}: Σ‖g_t‖cos = {lhs}, ‖g‖ = {agg}"
        );
    }
}

#[test]
fn hps_checkpoint_uses_separate_passes_and_skips_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = train(dir.path(), "bn");
    let j = diagnose(&ckpt, &dir.path().join("hps.json"), &["--split", "val"]);
    assert_eq!(j["gradients"]["method"], "separate_passes");
    assert_eq!(j["evaluation"]["split"], "val");
    assert_eq!(j["pruning"]["status"], "skipped");
    let reason = j["pruning"]["reason"].as_str().unwrap();
    assert!(reason.contains("no task-specific gates"), "{reason}");
}

/// `--dtype f64` measures in float64 (the same gradients to f32 rounding),
/// `--no-pruning` skips the pruning, `--save-batches` writes the measured
/// batches.
#[test]
fn f64_no_pruning_and_saved_batches() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = train(dir.path(), "tssbn");
    let f32 = diagnose(&ckpt, &dir.path().join("a.json"), &["--no-pruning"]);
    let saved = dir.path().join("batches.safetensors");
    let f64 = diagnose(
        &ckpt,
        &dir.path().join("b.json"),
        &[
            "--no-pruning",
            "--dtype",
            "f64",
            "--save-batches",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(f64["pruning"]["status"], "skipped");
    assert!(
        f64["pruning"]["reason"]
            .as_str()
            .unwrap()
            .contains("--no-pruning")
    );
    // Σ_t g_t equals the whole-loss gradient to float64 rounding.
    let err = f64["gradients"]["checks"]["sum_vs_full_gradient_max_rel_error"]
        .as_f64()
        .unwrap();
    assert!(err < 1e-12, "{err}");
    let mean = |j: &Value| {
        j["gradients"]["scopes"][0]["norm"]["mean"][0]
            .as_f64()
            .unwrap()
    };
    assert!((mean(&f32) - mean(&f64)).abs() <= 1e-4 * mean(&f64));
    let tensors = candle_core::safetensors::load(&saved, &candle_core::Device::Cpu).unwrap();
    let images = &tensors["batch.1.images"];
    let labels = &tensors["batch.1.labels"];
    assert_eq!(images.dims()[0], labels.dims()[0]);
    assert_eq!(labels.dims()[1], 4);
    assert_eq!(images.dims()[1], 3);
    assert_eq!(tensors.len(), 4);
}

/// `src` with its `mtl.*` metadata edited by `edit`, written to `dst`.
fn with_metadata(src: &Path, dst: &Path, edit: impl Fn(&mut HashMap<String, String>)) {
    let bytes = std::fs::read(src).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap_or_default();
    edit(&mut meta);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    safetensors::serialize_to_file(st.tensors(), Some(meta), dst).unwrap();
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = train(dir.path(), "tssbn");
    let out = dir.path().join("d.json");
    let run = |ckpt: &Path, extra: &[&str]| {
        let mut c = mtl_train();
        c.arg("diagnose")
            .arg(ckpt)
            .args(extra)
            .arg("--out")
            .arg(&out);
        c.assert()
    };
    run(&dir.path().join("missing.safetensors"), &[])
        .code(2)
        .stderr(contains("does not exist"));
    // A shapes checkpoint whose data description was stripped.
    let no_data = dir.path().join("no_data.safetensors");
    with_metadata(&ckpt, &no_data, |m| {
        m.retain(|k, _| !k.starts_with("mtl.dataset_"));
    });
    run(&no_data, &[])
        .code(1)
        .stderr(contains("cannot be regenerated"));
    // Not written by mtl-train at all.
    let foreign = dir.path().join("foreign.safetensors");
    with_metadata(&ckpt, &foreign, |m| m.clear());
    run(&foreign, &[])
        .code(1)
        .stderr(contains("was it written by mtl-train?"));
    // A CelebA checkpoint needs --data.
    let celeba = dir.path().join("celeba.safetensors");
    with_metadata(&ckpt, &celeba, |m| {
        m.insert("mtl.dataset".into(), "celeba".into());
    });
    run(&celeba, &[]).code(2).stderr(contains("pass --data"));
    // … and a folder that holds CelebA.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let empty_arg = empty.to_str().unwrap();
    run(&celeba, &["--data", empty_arg])
        .code(1)
        .stderr(contains("no CelebA annotations"));
    // Shapes data is regenerated, never read.
    run(&ckpt, &["--data", empty_arg])
        .code(2)
        .stderr(contains("drop --data"));
    run(&ckpt, &["--batches", "2", "--prune-k", "57"])
        .code(2)
        .stderr(contains("at most 56"));
    run(&ckpt, &["--batches", "5"])
        .code(2)
        .stderr(contains("exceeds the 4 training batches"));
    run(&ckpt, &["--split", "train"])
        .code(2)
        .stderr(contains("choose val or test"));
    mtl_train()
        .arg("diagnose")
        .arg(&ckpt)
        .arg("--out")
        .arg(dir.path().join("no/such/folder/d.json"))
        .assert()
        .code(2)
        .stderr(contains("does not exist"));
    assert!(!out.exists(), "no output after a failed run");
}
