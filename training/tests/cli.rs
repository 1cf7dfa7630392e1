//! The real `mtl-train` binary on real files in a temp dir: shapes training
//! writes stacked checkpoints that read back with the right tasks, layers
//! and shapes; the best epoch is kept beside the last; sweeps label their
//! runs; `--resume` continues exactly; `eval` reads them; bad input gets a
//! clear error and exit code.

use std::collections::HashMap;
use std::path::Path;

use assert_cmd::Command;
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DiscoverParams, Layout, discover_gates};
use mtl_inspect::importance::from_gates::ImportanceParams;
use predicates::prelude::*;
use predicates::str::contains;
use safetensors::SafeTensors;

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
    "--quiet",
];

fn mtl_train() -> Command {
    Command::cargo_bin("mtl-train").unwrap()
}

fn read(path: &Path) -> (Vec<u8>, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let m = meta.metadata().clone().unwrap_or_default();
    (bytes, m)
}

fn tensor(bytes: &[u8], name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let v = t
        .data()
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), v)
}

#[test]
fn shapes_tssbn_checkpoint_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--seeds", "0..2", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    for seed in 0..2 {
        let ckpt = dir
            .path()
            .join(format!("shapes_tssbn_seed{seed}.safetensors"));
        let (bytes, meta) = read(&ckpt);
        let tasks: Vec<String> = serde_json::from_str(&meta["mtl.tasks"]).unwrap();
        assert_eq!(
            tasks,
            ["left_large", "left_round", "right_large", "right_round"]
        );
        let layers: Vec<String> = serde_json::from_str(&meta["mtl.layers"]).unwrap();
        assert_eq!(
            layers,
            ["features.0.norm", "features.1.norm", "features.2.norm"]
        );
        assert_eq!(meta["mtl.format_version"], "1");
        assert_eq!(meta["mtl.gate"], "sigmoid");
        assert_eq!(meta["mtl.norm"], "tssbn");
        assert_eq!(meta["mtl.model"], "shapes-cnn");
        assert_eq!(meta["mtl.alpha"], "100");
        assert_eq!(meta["mtl.seed"], seed.to_string());
        assert_eq!(meta["mtl.epoch"], "1");
        let metrics: serde_json::Value = serde_json::from_str(&meta["mtl.metrics"]).unwrap();
        assert!(metrics["left_large"]["f1"].is_number());
        for (layer, c) in layers.iter().zip([24, 16, 16]) {
            for p in ["gamma", "running_mean", "running_var"] {
                let (shape, v) = tensor(&bytes, &format!("{layer}.{p}"));
                assert_eq!(shape, vec![4, c], "{layer}.{p}");
                assert!(v.iter().all(|x| x.is_finite()));
            }
        }
        // The gates moved away from γ = 0 (σ = 0.5) during training.
        let (_, g) = tensor(&bytes, "features.1.norm.gamma");
        assert!(g.iter().any(|x| x.abs() > 1e-3));
        let csv = std::fs::read_to_string(
            dir.path()
                .join(format!("shapes_tssbn_seed{seed}.metrics.csv")),
        )
        .unwrap();
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.starts_with("epoch,train_loss"));
    }
    // mtl-inspect reads what mtl-train wrote: same tasks, layers and gates.
    let ckpt = Checkpoint::open(dir.path().join("shapes_tssbn_seed0.safetensors")).unwrap();
    let gates = discover_gates(&ckpt, &DiscoverParams::default()).unwrap();
    assert_eq!(gates.layout, Layout::Stacked);
    assert_eq!(
        gates.tasks,
        ["left_large", "left_round", "right_large", "right_round"]
    );
    let names: Vec<&str> = gates.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["features.0.norm", "features.1.norm", "features.2.norm"]
    );
    assert!(
        gates
            .layers
            .iter()
            .all(|l| l.gate() == Some(GateKind::Sigmoid))
    );
    let (im, dropped) = gates.importance(&ImportanceParams::default()).unwrap();
    assert!(dropped.is_empty());
    assert_eq!((im.n_tasks(), im.n_filters()), (4, 24 + 16 + 16));
    // Different seeds, different models.
    let (a, _) = read(&dir.path().join("shapes_tssbn_seed0.safetensors"));
    let (b, _) = read(&dir.path().join("shapes_tssbn_seed1.safetensors"));
    assert_ne!(tensor(&a, "heads.weight").1, tensor(&b, "heads.weight").1);
}

#[test]
fn tsbn_writes_beta_and_hps_has_no_task_specific_layers() {
    let dir = tempfile::tempdir().unwrap();
    for norm in ["tsbn", "bn"] {
        mtl_train()
            .args(TINY)
            .args(["--epochs", "1", "--norm", norm, "--alpha", "1", "--out"])
            .arg(dir.path())
            .assert()
            .success();
    }
    let (bytes, meta) = read(&dir.path().join("shapes_tsbn_seed0.safetensors"));
    assert_eq!(meta["mtl.gate"], "abs");
    assert_eq!(tensor(&bytes, "features.0.norm.beta").0, vec![4, 24]);
    let (bytes, meta) = read(&dir.path().join("shapes_bn_seed0.safetensors"));
    assert_eq!(meta["mtl.norm"], "bn");
    assert_eq!(meta["mtl.layers"], "[]");
    assert!(!meta.contains_key("mtl.gate"));
    assert_eq!(tensor(&bytes, "features.0.norm.weight").0, vec![24]);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.names().iter().all(|n| !n.ends_with(".gamma")));
    // mtl-inspect: TSBN gates read as |γ|; HPS has nothing task-specific.
    let tsbn = Checkpoint::open(dir.path().join("shapes_tsbn_seed0.safetensors")).unwrap();
    let g = discover_gates(&tsbn, &DiscoverParams::default()).unwrap();
    assert!(g.layers.iter().all(|l| l.gate() == Some(GateKind::Abs)));
    let hps = Checkpoint::open(dir.path().join("shapes_bn_seed0.safetensors")).unwrap();
    let err = discover_gates(&hps, &DiscoverParams::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no task-specific norm layers"), "{err}");
}

#[test]
fn resume_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let parts = dir.path().join("parts");
    mtl_train()
        .args(TINY)
        .args(["--epochs", "2", "--out"])
        .arg(&whole)
        .assert()
        .success();
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--out"])
        .arg(&parts)
        .assert()
        .success();
    mtl_train()
        .args(TINY)
        .args(["--epochs", "2", "--resume", "--out"])
        .arg(&parts)
        .assert()
        .success();
    // Both the last epoch and the best one (whose choice spans the resume).
    for file in [
        "last/shapes_tssbn_seed0.safetensors",
        "shapes_tssbn_seed0.safetensors",
    ] {
        let (a, ma) = read(&whole.join(file));
        let (b, mb) = read(&parts.join(file));
        for key in [
            "mtl.epoch",
            "mtl.best_epoch",
            "mtl.metrics",
            "mtl.test_metrics",
        ] {
            assert_eq!(ma[key], mb[key], "{file} {key}");
        }
        for name in [
            "features.1.norm.gamma",
            "features.2.conv.weight",
            "heads.weight",
        ] {
            assert_eq!(tensor(&a, name), tensor(&b, name), "{file} {name}");
        }
    }
    let (_, mb) = read(&parts.join("last/shapes_tssbn_seed0.safetensors"));
    assert_eq!(mb["mtl.epoch"], "2");
    let csv = std::fs::read_to_string(parts.join("shapes_tssbn_seed0.metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    // Nothing left to do: a clear error.
    mtl_train()
        .args(TINY)
        .args(["--epochs", "2", "--resume", "--out"])
        .arg(&parts)
        .assert()
        .code(1)
        .stderr(contains("raise --epochs"));
}

#[test]
fn eval_reads_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    mtl_train()
        .arg("eval")
        .arg(dir.path().join("shapes_tssbn_seed0.safetensors"))
        .assert()
        .success()
        .stdout(contains("left_large\t"))
        .stdout(contains("mean\t"));
}

#[test]
fn usage_errors_exit_2_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut c = mtl_train();
        c.args(TINY).args(extra).arg("--out").arg(dir.path());
        c.assert()
    };
    run(&["--norm", "gn"])
        .code(2)
        .stderr(contains("choose tssbn"));
    run(&["--model", "resnet"])
        .code(2)
        .stderr(contains("shapes-cnn"));
    run(&["--seeds", "3..3"])
        .code(2)
        .stderr(contains("half-open"));
    run(&["--alpha", "0"]).code(2).stderr(contains("--alpha"));
    run(&["--alpha", "1,10,1"])
        .code(2)
        .stderr(contains("twice"));
    run(&["--noise=-1"]).code(2).stderr(contains("--noise"));
    run(&["--heads", "shared"])
        .code(2)
        .stderr(contains("independent or tied"));
    mtl_train()
        .args(["shapes", "--tasks", "15", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(contains("multiple of --groups"));
    mtl_train()
        .args(["celeba", "--data", "/nonexistent/celeba", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(contains("not a folder"));
}

/// Column `name` of a metrics CSV.
fn csv_column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let k = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(k).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn best_epoch_is_kept_and_tested_and_the_last_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    mtl_train()
        .args(TINY)
        .args(["--epochs", "4", "--no-optimizer-state", "--out"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(contains("best epoch"));
    let csv = std::fs::read_to_string(dir.path().join("shapes_tssbn_seed0.metrics.csv")).unwrap();
    let f1 = csv_column(&csv, "val_mean_f1");
    assert_eq!(f1.len(), 4);
    // The earliest epoch with the highest mean validation F1.
    let best = f1
        .iter()
        .enumerate()
        .fold(0, |b, (i, v)| if *v > f1[b] { i } else { b })
        + 1;
    let (b, mb) = read(&dir.path().join("shapes_tssbn_seed0.safetensors"));
    let (l, ml) = read(&dir.path().join("last/shapes_tssbn_seed0.safetensors"));
    assert_eq!(mb["mtl.epoch"], best.to_string());
    assert_eq!(mb["mtl.best_epoch"], best.to_string());
    assert_eq!(mb["mtl.selection"], "best_val_mean_f1");
    assert_eq!(ml["mtl.epoch"], "4");
    assert_eq!(ml["mtl.best_epoch"], best.to_string());
    assert_eq!(ml["mtl.selection"], "last");
    assert_eq!(mb["mtl.val_mean_f1"], format!("{:.6}", f1[best - 1]));
    for m in [&mb, &ml] {
        let test: serde_json::Value = serde_json::from_str(&m["mtl.test_metrics"]).unwrap();
        assert!(test["left_large"]["f1"].is_number());
        assert!(m.contains_key("mtl.test_mean_f1"));
    }
    if best != 4 {
        assert_ne!(tensor(&b, "heads.weight"), tensor(&l, "heads.weight"));
    }
    // The best file's weights are the ones its metrics describe.
    let out = mtl_train()
        .arg("eval")
        .arg(dir.path().join("shapes_tssbn_seed0.safetensors"))
        .args(["--split", "val"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mean_line = stdout.lines().find(|l| l.starts_with("mean\t")).unwrap();
    let want: f64 = mb["mtl.val_mean_f1"].parse().unwrap();
    assert!(
        mean_line.starts_with(&format!("mean\t{want:.4}")),
        "{mean_line} vs {want}"
    );
}

#[test]
fn sweep_writes_one_labelled_run_per_combination() {
    let dir = tempfile::tempdir().unwrap();
    mtl_train()
        .args(TINY)
        .args([
            "--epochs",
            "1",
            "--alpha",
            "1,100",
            "--noise",
            "0,2",
            "--no-optimizer-state",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let mut heads = Vec::new();
    for (alpha, noise) in [(1, 0), (1, 2), (100, 0), (100, 2)] {
        let stem = format!("shapes_tssbn_a{alpha}_noise{noise}_seed0");
        let (bytes, meta) = read(&dir.path().join(format!("{stem}.safetensors")));
        assert!(
            dir.path()
                .join(format!("last/{stem}.safetensors"))
                .is_file()
        );
        assert_eq!(meta["mtl.alpha"], alpha.to_string());
        assert_eq!(meta["mtl.dataset_noise"], noise.to_string());
        let sweep: serde_json::Value = serde_json::from_str(&meta["mtl.sweep"]).unwrap();
        assert_eq!(
            sweep,
            serde_json::json!({"alpha": alpha as f64, "noise": noise as f64})
        );
        let tasks: Vec<String> = serde_json::from_str(&meta["mtl.tasks"]).unwrap();
        assert_eq!(tasks.last().unwrap(), "left_size");
        assert_eq!(meta["mtl.regression_tasks"], r#"["left_size"]"#);
        let test: serde_json::Value = serde_json::from_str(&meta["mtl.test_metrics"]).unwrap();
        assert!(test["left_size"]["mse"].is_number());
        assert!(test["left_size"]["r2"].is_number());
        assert!(test["left_size"].get("f1").is_none());
        assert!(meta.contains_key("mtl.test_regression_mse"));
        let csv = std::fs::read_to_string(dir.path().join(format!("{stem}.metrics.csv"))).unwrap();
        assert_eq!(csv_column(&csv, "val_regression_mse").len(), 1);
        heads.push(tensor(&bytes, "heads.weight").1);
    }
    // Four different models, none overwritten by another.
    for i in 0..4 {
        for j in i + 1..4 {
            assert_ne!(heads[i], heads[j], "runs {i} and {j}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4 * 2 + 1);
    // eval regenerates the noisy data and reports the size task apart.
    mtl_train()
        .arg("eval")
        .arg(
            dir.path()
                .join("shapes_tssbn_a100_noise2_seed0.safetensors"),
        )
        .assert()
        .success()
        .stdout(contains("task\tmse\tr2"))
        .stdout(contains("left_size\t"));
    // A single value keeps today's name; the value is still recorded.
    let single = dir.path().join("single");
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--noise", "0.5", "--out"])
        .arg(&single)
        .assert()
        .success();
    let (_, meta) = read(&single.join("shapes_tssbn_seed0.safetensors"));
    assert_eq!(meta["mtl.dataset_noise"], "0.5");
    assert_eq!(meta["mtl.alpha"], "100");
    assert!(!meta.contains_key("mtl.sweep"));
}

#[test]
fn heads_start_tied_or_independent_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |bytes: &[u8]| {
        let (shape, w) = tensor(bytes, "heads.weight");
        w.chunks(shape[1]).map(<[f32]>::to_vec).collect::<Vec<_>>()
    };
    for heads in ["tied", "independent"] {
        let out = dir.path().join(heads);
        mtl_train()
            .args(TINY)
            .args(["--epochs", "1", "--heads", heads, "--out"])
            .arg(&out)
            .assert()
            .success();
        let (bytes, meta) = read(&out.join("shapes_tssbn_seed0.safetensors"));
        assert_eq!(meta["mtl.heads"], heads);
        // After one epoch tied rows have moved apart, but far less than
        // independent draws are apart.
        let r = rows(&bytes);
        let spread: f32 = r[0]
            .iter()
            .zip(&r[1])
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / r[0].len() as f32;
        if heads == "tied" {
            assert!(spread < 0.05, "tied heads {spread}");
        } else {
            assert!(spread > 0.1, "independent heads {spread}");
        }
    }
    // shapes-cnn starts tied by default.
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--out"])
        .arg(dir.path().join("default"))
        .assert()
        .success();
    let (_, meta) = read(&dir.path().join("default/shapes_tssbn_seed0.safetensors"));
    assert_eq!(meta["mtl.heads"], "tied");
}

#[test]
fn save_epochs_keeps_each_asked_epoch_under_the_runs_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    mtl_train()
        .args(TINY)
        .args([
            "--epochs",
            "2",
            "--heads",
            "independent",
            "--save-epochs",
            "2,0",
        ])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let (b0, m0) = read(&out.join("epoch0/shapes_tssbn_seed0.safetensors"));
    let (b2, m2) = read(&out.join("epoch2/shapes_tssbn_seed0.safetensors"));
    assert!(!out.join("epoch1").exists(), "epoch 1 was not asked for");
    assert_eq!(m0["mtl.epoch"], "0");
    assert_eq!(m0["mtl.selection"], "epoch");
    assert_eq!(m2["mtl.epoch"], "2");
    // Epoch 0 holds the initial weights, epoch 2 the last epoch's: the
    // same tensors as `last/`.
    let (last, _) = read(&out.join("last/shapes_tssbn_seed0.safetensors"));
    assert_eq!(tensor(&b2, "heads.weight"), tensor(&last, "heads.weight"));
    assert_ne!(tensor(&b0, "heads.weight"), tensor(&b2, "heads.weight"));
    // An epoch past --epochs is a usage error naming the flag.
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--save-epochs", "3", "--out"])
        .arg(dir.path().join("bad"))
        .assert()
        .code(2)
        .stderr(contains("--save-epochs"));
}

#[test]
fn widths_replace_the_models_and_eval_rebuilds_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wide");
    mtl_train()
        .args(TINY)
        .args(["--epochs", "1", "--filters", "8,6,5", "--fc", "7", "--out"])
        .arg(&out)
        .assert()
        .success();
    let ckpt = out.join("shapes_tssbn_seed0.safetensors");
    let (bytes, meta) = read(&ckpt);
    assert_eq!(meta["mtl.filters"], "8,6,5");
    assert_eq!(meta["mtl.fc"], "7");
    assert_eq!(tensor(&bytes, "heads.weight").0, vec![4, 7]);
    assert_eq!(tensor(&bytes, "features.2.norm.gamma").0, vec![4, 5]);
    mtl_train().arg("eval").arg(&ckpt).assert().success();
    // Resuming with other widths is refused with the flags named, before
    // any tensor is loaded into a network of the wrong shape.
    mtl_train()
        .args(TINY)
        .args([
            "--epochs",
            "2",
            "--filters",
            "8,6,4",
            "--fc",
            "7",
            "--resume",
            "--out",
        ])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("cannot resume").and(contains("--filters 8,6,5")));
    // A width list that does not fit the model names the flag and the count.
    mtl_train()
        .args(TINY)
        .args(["--filters", "8,6", "--out"])
        .arg(dir.path().join("bad"))
        .assert()
        .code(2)
        .stderr(contains("--filters").and(contains("3 convolutions")));
}
