//! The real `mtl-train` binary on real files in a temp dir: shapes training
//! writes stacked checkpoints that read back with the right tasks, layers
//! and shapes; `--resume` continues exactly; `eval` reads them; bad input
//! gets a clear error and exit code.

use std::collections::HashMap;
use std::path::Path;

use assert_cmd::Command;
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DiscoverParams, ImportanceParams, Layout, discover_gates};
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
    let (a, ma) = read(&whole.join("shapes_tssbn_seed0.safetensors"));
    let (b, mb) = read(&parts.join("shapes_tssbn_seed0.safetensors"));
    assert_eq!(mb["mtl.epoch"], "2");
    assert_eq!(ma["mtl.metrics"], mb["mtl.metrics"]);
    for name in [
        "features.1.norm.gamma",
        "features.2.conv.weight",
        "heads.weight",
    ] {
        assert_eq!(tensor(&a, name), tensor(&b, name), "{name}");
    }
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
