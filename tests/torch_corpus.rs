//! Files written by PyTorch itself (`fixtures/torch/`, made by
//! `fixtures/torch/make_corpus.py` with torch 2.15): each is read with the
//! numbers numpy computes from the same tensors, or refused with a message
//! that names the way out. The expectations are `fixtures/torch/expected.json`,
//! written by the same script (importance = numpy float64 sigmoid or |·| of
//! the stored values).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use common::fixture;
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::discover::{DiscoverParams, GateSummary, discover_gates};
use mtl_inspect::checkpoint::format::WrapperChoice;
use mtl_inspect::checkpoint::{Checkpoint, OpenParams};
use mtl_inspect::importance::from_gates::ImportanceParams;
use mtl_inspect::runs::LoadError;
use serde_json::Value;

fn expected() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("torch/expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["files"].as_array().unwrap().clone()
}

/// Opens, discovers and builds the importance matrix: the whole reading path.
fn read(path: &Path) -> Result<Reading, LoadError> {
    let c = Checkpoint::open(path)?;
    let g = discover_gates(&c, &DiscoverParams::default())?;
    let (im, _) = g.importance(&ImportanceParams::default())?;
    Ok(Reading {
        layers: g.layers.iter().map(|l| l.name.clone()).collect(),
        tasks: g.tasks.clone(),
        gate: match g.gate_summary(None) {
            GateSummary::Uniform(k) => Some(k),
            _ => None,
        },
        importance: im.data().clone(),
        wrapper: match &c.reading().wrapper {
            WrapperChoice::Bare { .. } => None,
            WrapperChoice::Key { key, .. } => Some(key.clone()),
        },
        prefix: c.reading().prefix.clone(),
    })
}

struct Reading {
    layers: Vec<String>,
    tasks: Vec<String>,
    gate: Option<GateKind>,
    importance: nalgebra::DMatrix<f64>,
    wrapper: Option<String>,
    prefix: Option<String>,
}

fn check_read(e: &Value, r: &Reading) {
    let file = e["file"].as_str().unwrap();
    let layers: Vec<String> = serde_json::from_value(e["layers"].clone()).unwrap();
    assert_eq!(r.layers, layers, "{file}: layers or their order");
    let gate = match e["gate"].as_str().unwrap() {
        "sigmoid" => GateKind::Sigmoid,
        "abs" => GateKind::Abs,
        g => panic!("{file}: unknown gate {g}"),
    };
    assert_eq!(r.gate, Some(gate), "{file}: gate kind");
    assert_eq!(
        r.wrapper.as_deref(),
        e["wrapper_key"].as_str(),
        "{file}: wrapper key"
    );
    assert_eq!(r.prefix.as_deref(), e["prefix"].as_str(), "{file}: prefix");
    let want: Vec<Vec<f64>> = serde_json::from_value(e["importance"].clone()).unwrap();
    let n_tasks = e["n_tasks"].as_u64().unwrap() as usize;
    assert_eq!(r.tasks.len(), n_tasks, "{file}: task count");
    // Rows by task name where the file names its tasks, else by index.
    let row_of: BTreeMap<usize, usize> = match e["tasks"].as_array() {
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let n = n.as_str().unwrap();
                let j = r
                    .tasks
                    .iter()
                    .position(|t| t == n)
                    .unwrap_or_else(|| panic!("{file}: task {n} missing from {:?}", r.tasks));
                (i, j)
            })
            .collect(),
        None => (0..n_tasks).map(|i| (i, i)).collect(),
    };
    if let Some(names) = e["tasks"].as_array() {
        // Where the file keeps registration order, tasks come in that order.
        if e["order"] == "registration" {
            let names: Vec<&str> = names.iter().map(|n| n.as_str().unwrap()).collect();
            assert_eq!(r.tasks, names, "{file}: task order");
        }
    }
    assert_eq!(r.importance.ncols(), want[0].len(), "{file}: filters");
    for (i, row) in want.iter().enumerate() {
        for (f, w) in row.iter().enumerate() {
            let got = r.importance[(row_of[&i], f)];
            assert!(
                (got - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{file}: importance[{i}, {f}] = {got}, numpy {w}"
            );
        }
    }
}

fn check_refused(e: &Value, msg: &str) {
    let file = e["file"].as_str().unwrap();
    let low = msg.to_lowercase();
    assert!(
        low.contains(
            &file
                .to_lowercase()
                .replace("/model.safetensors.index.json", "")
        ),
        "{file}: the message must name the file: {msg}"
    );
    if let Some(all) = e["message_contains"].as_array() {
        for s in all {
            let s = s.as_str().unwrap();
            assert!(low.contains(s), "{file}: message lacks '{s}': {msg}");
        }
    }
    if let Some(any) = e["message_contains_any"].as_array() {
        assert!(
            any.iter().any(|s| low.contains(s.as_str().unwrap())),
            "{file}: message has none of {any:?}: {msg}"
        );
    }
}

#[test]
fn every_corpus_file_is_read_right_or_refused_with_the_way_out() {
    let files = expected();
    assert!(files.len() >= 30, "corpus has {} entries", files.len());
    let (mut read_ok, mut refused) = (0, 0);
    for e in &files {
        let file = e["file"].as_str().unwrap();
        let path = fixture(&format!("torch/{file}"));
        match (e["expect"].as_str().unwrap(), read(&path)) {
            ("read", Ok(r)) => {
                check_read(e, &r);
                read_ok += 1;
            }
            // The legacy format, which the corpus allows refusing, is read.
            ("read_or_refuse", Ok(r)) => {
                check_read(e, &r);
                read_ok += 1;
            }
            ("read_or_refuse", Err(err)) => panic!("{file} should be read: {err}"),
            ("refuse", Err(err)) => {
                check_refused(e, &err.to_string());
                refused += 1;
            }
            ("read", Err(err)) => panic!("{file} should be read: {err}"),
            (_, Ok(r)) => panic!("{file} should be refused but read {:?}", r.layers),
            (x, _) => panic!("{file}: unknown expectation {x}"),
        }
    }
    let must_read = files
        .iter()
        .filter(|e| e["expect"] == "read" || e["expect"] == "read_or_refuse")
        .count();
    assert!(
        read_ok >= must_read && read_ok + refused == files.len(),
        "{read_ok} read, {refused} refused"
    );
}

/// The sharded model, DataParallel / torch.compile prefixes and wrapper keys
/// all read as the same model (file 1 of the corpus).
#[test]
fn wrappers_prefixes_and_shards_read_as_the_same_model() {
    let base = read(&fixture("torch/libmtl_dict.pt")).unwrap();
    for other in [
        "dataparallel.pt",
        "compiled.pt",
        "wrapped_model.pt",
        "wrapped_model_state_dict.pt",
        "sharded",
        "sharded/model.safetensors.index.json",
    ] {
        let r = read(&fixture(&format!("torch/{other}"))).unwrap();
        assert_eq!(r.layers, base.layers, "{other}");
        let mut a = base.tasks.clone();
        let mut b = r.tasks.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{other}");
        for (i, t) in base.tasks.iter().enumerate() {
            let j = r.tasks.iter().position(|x| x == t).unwrap();
            assert_eq!(base.importance.row(i), r.importance.row(j), "{other}: {t}");
        }
    }
}

#[test]
fn key_chooses_between_model_and_ema() {
    let path = fixture("torch/ambiguous_model_ema.pt");
    for key in ["model", "ema"] {
        let c = Checkpoint::open_with(
            &path,
            &OpenParams {
                key: Some(key.into()),
            },
        )
        .unwrap();
        assert!(matches!(&c.reading().wrapper, WrapperChoice::Key { key: k, .. } if k == key));
        discover_gates(&c, &DiscoverParams::default()).unwrap();
    }
    let e = Checkpoint::open_with(
        &path,
        &OpenParams {
            key: Some("epoch".into()),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--key 'epoch'") && e.contains("model, ema"),
        "{e}"
    );
}

#[test]
fn hostile_pickles_are_refused_and_nothing_runs() {
    let marker = Path::new("/tmp/mtl_inspect_pwned");
    let _ = std::fs::remove_file(marker);
    for f in ["hostile.pt", "hostile.pkl", "whole_module.pt"] {
        let out = Command::cargo_bin("mtl-inspect")
            .unwrap()
            .args(["inspect", fixture(&format!("torch/{f}")).to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{f}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(f) && err.contains("state_dict"), "{f}: {err}");
    }
    assert!(!marker.exists(), "a hostile pickle ran code");
}

#[test]
fn inspect_json_reports_every_decision_with_evidence() {
    let out = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .args([
            "inspect",
            fixture("torch/lightning.ckpt").to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["decisions"];
    assert_eq!(d["format"], "torch_zip");
    assert_eq!(d["wrapper"]["kind"], "key");
    assert_eq!(d["wrapper"]["key"], "state_dict");
    assert_eq!(d["prefix"], "model.");
    assert_eq!(d["layer_order"], "registration");
    let l0 = &v["layers"][0];
    assert_eq!(l0["gate"], "sigmoid");
    assert!(
        l0["gate_evidence"]["reason"]
            .as_str()
            .unwrap()
            .contains("no shift")
    );
    // The analyses' JSON carries the gate evidence too.
    let out = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .args([
            "capacity",
            fixture("torch/sigma_bn_bias.pt").to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let note = v["checkpoint"]["gate_note"].as_str().unwrap();
    assert!(note.contains("sigmoid"), "{note}");
    assert!(
        v["checkpoint"]["gate_evidence"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("negative"),
        "{v}"
    );
}

#[test]
fn layer_order_file_sets_depth_order_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let order = dir.path().join("order.txt");
    std::fs::write(&order, "# depth order\nstem.bns\nbody.bns\nhead_pre.bns\n").unwrap();
    let run = |file: &str, order: &Path| {
        Command::cargo_bin("mtl-inspect")
            .unwrap()
            .args([
                "inspect",
                fixture(file).to_str().unwrap(),
                "--layer-order",
                order.to_str().unwrap(),
                "--format",
                "json",
            ])
            .output()
            .unwrap()
    };
    let out = run("torch/depth_order.safetensors", &order);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["stem.bns", "body.bns", "head_pre.bns"]);
    assert!(v["decisions"]["layer_order"]["file"].is_string());
    std::fs::write(&order, "stem.bns\nbody.bns\n").unwrap();
    let out = run("torch/depth_order.safetensors", &order);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing [\"head_pre.bns\"]"), "{err}");
}
