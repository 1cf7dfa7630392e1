//! Depth curves (`capacity --per-layer`, `similarity --per-layer`) and
//! `diff` against numpy/scipy. The values come from
//! `tests/reference/depth_diff.py` (numpy lstsq projections, cosine
//! matrices, scipy.stats.spearmanr), run on the committed fixtures.

mod common;

use assert_cmd::Command;
use common::fixture;
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(got: &Value, want: f64, tol: f64, what: &str) {
    let g = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
    assert!((g - want).abs() <= tol, "{what}: {g} vs numpy {want}");
}

#[test]
fn capacity_per_layer_matches_numpy_lstsq() {
    let f = fixture("layouts/module_list_f32.safetensors");
    let v = json(&["capacity", "--per-layer", f.to_str().unwrap()]);
    let layers = v["layers"].as_array().unwrap();
    // (layer, task_0 [C, shared, independent], means [C, shared, independent])
    let want = [
        (
            "encoder.0.bns",
            [0.4280172010892764, 0.428017201089276, 0.0],
            [0.37227575439592014, 0.37227575439592014, 0.0],
        ),
        (
            "encoder.1.bns",
            [
                0.31357330247300225,
                0.3115137724292846,
                0.035880156224588525,
            ],
            [
                0.42447051707844763,
                0.41710253505594663,
                0.06618598472112022,
            ],
        ),
        (
            "encoder.2.bns",
            [0.4915722703024269, 0.4911921793535891, 0.01932717962235081],
            [0.5341983065179978, 0.5193263300293721, 0.07741487825530521],
        ),
    ];
    assert_eq!(layers.len(), 3);
    for (l, (name, t0, means)) in layers.iter().zip(want) {
        assert_eq!(l["layer"], name);
        let t = &l["tasks"][0];
        for (k, key) in ["capacity", "shared", "independent"].iter().enumerate() {
            close(&t[key], t0[k], 1e-9, &format!("{name} task_0 {key}"));
            close(
                &l[format!("mean_{key}")],
                means[k],
                1e-9,
                &format!("{name} mean {key}"),
            );
        }
    }
}

#[test]
fn similarity_per_layer_matches_numpy() {
    let f = fixture("celeba40/run0.safetensors");
    let v = json(&["similarity", "--per-layer", f.to_str().unwrap()]);
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 9);
    let first = &layers[0];
    assert_eq!(first["layer"], "backbone.0.norm");
    close(
        &first["mean_off_diagonal"],
        0.8951019319619787,
        1e-12,
        "mean",
    );
    close(&first["min_off_diagonal"], 0.8349467732242533, 1e-12, "min");
    close(&first["max_off_diagonal"], 0.9400637260687532, 1e-12, "max");
    let last = &layers[8];
    assert_eq!(last["layer"], "fc.1.norm");
    close(
        &last["mean_off_diagonal"],
        0.7250404747381876,
        1e-12,
        "mean",
    );
    close(&last["min_off_diagonal"], 0.6498213532433756, 1e-12, "min");
    close(&last["max_off_diagonal"], 0.9657110753910964, 1e-12, "max");
}

#[test]
fn diff_of_two_runs_matches_numpy_and_scipy() {
    let a = fixture("celeba40/run0.safetensors");
    let b = fixture("celeba40/run1.safetensors");
    let v = json(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--top",
        "1",
    ]);
    let want = [
        (
            "5_o_Clock_Shadow",
            [
                -0.002980152610636333,
                -0.002218477807981789,
                -0.0031999295802999927,
            ],
        ),
        (
            "Gray_Hair",
            [
                -0.013402336275546323,
                -0.013937277738117704,
                0.0002553073564256769,
            ],
        ),
        (
            "Young",
            [
                -0.005176071306616348,
                -0.006193641273459782,
                0.002949775026618001,
            ],
        ),
    ];
    let tasks = v["tasks"].as_array().unwrap();
    for (name, d) in want {
        let t = tasks.iter().find(|t| t["task"] == name).unwrap();
        for (k, key) in ["delta_capacity", "delta_shared", "delta_independent"]
            .iter()
            .enumerate()
        {
            close(&t[key], d[k], 1e-9, &format!("{name} {key}"));
        }
    }
    close(
        &v["similarity_spearman"],
        0.6567782251197247,
        1e-12,
        "spearman",
    );
    let p = &v["moved_pairs"][0];
    assert_eq!(
        (p["task_a"].as_str(), p["task_b"].as_str()),
        (Some("Bags_Under_Eyes"), Some("Black_Hair"))
    );
    close(&p["delta"], 0.015417415027988546, 1e-12, "top pair delta");
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 2);
}

#[test]
fn diff_refuses_runs_of_different_tasks() {
    let out = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .args([
            "diff",
            fixture("celeba40/run0.safetensors").to_str().unwrap(),
            fixture("layouts/module_list_f32.safetensors")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("same tasks and layers"), "{err}");
    let out = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .args([
            "diff",
            fixture("celeba40/run0.safetensors").to_str().unwrap(),
            fixture("celeba40/run1.safetensors").to_str().unwrap(),
            "--tau",
            "1.5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
