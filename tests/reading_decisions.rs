//! Reading decisions that the file does not settle are refused with the
//! flag that settles them; mtl-train's optimizer sidecars never get in the
//! way of a glob. Files are written here with the safetensors writer.

mod common;

use assert_cmd::Command;
use common::*;

fn bin() -> Command {
    Command::cargo_bin("mtl-inspect").unwrap()
}

fn rows(a: f32) -> Vec<Vec<f32>> {
    vec![vec![a, -0.5, 0.3], vec![0.9, a, -1.2]]
}

#[test]
fn optimizer_sidecars_are_skipped_in_globs_and_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["a", "b"].iter().enumerate() {
        let p = dir.path().join(format!("{name}.safetensors"));
        let layers = [("enc.bns", rows(i as f32)), ("dec.bns", rows(0.2))];
        write(&p, &module_list(&layers, false), &[]);
    }
    let side = dir.path().join("a.optim.safetensors");
    write(
        &side,
        &[f32s("enc.bns.0.weight.m", &[3], &[0.0; 3])],
        &[("mtl.optimizer_step", "12")],
    );
    let out = bin()
        .arg("stability")
        .arg("--permutations")
        .arg("0")
        .args([
            dir.path().join("a.optim.safetensors"),
            dir.path().join("a.safetensors"),
            dir.path().join("b.safetensors"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipping") && err.contains("a.optim.safetensors"),
        "{err}"
    );
    let out = bin().arg("capacity").arg(&side).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("optimizer state") && err.contains("a.safetensors"),
        "{err}"
    );
}

#[test]
fn a_report_of_sidecars_alone_is_refused_not_a_panic() {
    // Every checkpoint given is skipped as an optimizer sidecar: nothing is
    // left to report on (the default title used to underflow here).
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("a.optim.safetensors");
    write(
        &side,
        &[f32s("enc.bns.0.weight.m", &[3], &[0.0; 3])],
        &[("mtl.optimizer_step", "12")],
    );
    let out = bin()
        .arg("report")
        .arg(&side)
        .arg("--out")
        .arg(dir.path().join("report"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipping") && err.contains("a report needs at least one checkpoint"),
        "{err}"
    );
}

#[test]
fn mixed_gate_kinds_are_refused_without_gate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mixed.safetensors");
    // enc: σBN (no bias); dec: affine scale near 1 with a bias.
    let mut t = module_list(&[("enc.bns", rows(0.1))], false);
    for i in 0..2 {
        t.push(f32s(&format!("dec.bns.{i}.weight"), &[3], &[1.0, 0.9, 1.1]));
        t.push(f32s(&format!("dec.bns.{i}.bias"), &[3], &[0.0, 0.1, 0.0]));
    }
    write(&p, &t, &[]);
    let out = bin().arg("capacity").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("different gate kinds")
            && err.contains("--gate")
            && err.contains("dec.bns: abs"),
        "{err}"
    );
    bin()
        .args(["capacity", "--gate", "sigmoid"])
        .arg(&p)
        .assert()
        .success();
    bin()
        .args(["capacity", "--layers", "enc"])
        .arg(&p)
        .assert()
        .success();
}

#[test]
fn two_recurring_readings_are_refused_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("two.safetensors");
    // Two ModuleList layers of 2 and two ModuleDict layers keyed seg/depth.
    let mut t = module_list(&[("a.bns", rows(0.1)), ("b.bns", rows(0.2))], false);
    for l in ["c.tsn", "d.tsn"] {
        for k in ["seg", "depth"] {
            t.push(f32s(&format!("{l}.{k}.weight"), &[3], &[0.1, -0.2, 0.3]));
        }
    }
    write(&p, &t, &[]);
    let out = bin().arg("inspect").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("two readings") && err.contains("{depth, seg}") && err.contains("--layers"),
        "{err}"
    );
    let out = bin()
        .args(["inspect", "--format", "json", "--layers", "tsn"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tasks"], serde_json::json!(["depth", "seg"]));
}

#[test]
fn a_single_sibling_group_is_structure_unless_layers_picks_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.safetensors");
    write(&p, &module_list(&[("neck.norms", rows(0.1))], false), &[]);
    let out = bin().arg("inspect").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one layer") || err.contains("recur"), "{err}");
    assert!(err.contains("--layers 'neck\\.norms'"), "{err}");
    bin()
        .args(["inspect", "--layers", "neck\\.norms"])
        .arg(&p)
        .assert()
        .success();
}
