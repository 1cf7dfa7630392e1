//! Discovery on the committed fixtures: the three layouts and four dtypes
//! carry the same gates and must give the same importance matrix, equal to
//! numpy's (fixtures/make_fixtures.py writes both the files and
//! fixtures/layouts/reference.json).

mod common;

use common::*;
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::discover::{DiscoverParams, IgnoreReason, Layout, TaskSource};
use mtl_inspect::checkpoint::tasks_file::TaskNames;
use mtl_inspect::importance::from_gates::ImportanceParams;
use regex::Regex;

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("layouts/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ref_matrix(key: &str) -> Vec<Vec<f64>> {
    serde_json::from_value(reference()[key].clone()).unwrap()
}

fn ref_tasks() -> Vec<String> {
    serde_json::from_value(reference()["tasks"].clone()).unwrap()
}

fn assert_matrix(im: &mtl_inspect::ImportanceMatrix, expected: &[Vec<f64>], tol: f64) {
    assert_eq!(im.n_tasks(), expected.len());
    for (t, row) in expected.iter().enumerate() {
        assert_eq!(im.n_filters(), row.len());
        for (f, v) in row.iter().enumerate() {
            let got = im.data()[(t, f)];
            assert!(
                (got - v).abs() <= tol,
                "task {t} filter {f}: {got} vs numpy {v}"
            );
        }
    }
}

fn tasks_param() -> DiscoverParams {
    DiscoverParams {
        layer_order: None,
        layers: None,
        tasks: Some(TaskNames {
            path: "tasks.txt".into(),
            names: ref_tasks(),
            celeba: false,
        }),
    }
}

#[test]
fn module_list_f32_matches_numpy() {
    let p = fixture("layouts/module_list_f32.safetensors");
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert_eq!(g.layout, Layout::ModuleList);
    assert_eq!(g.task_source, TaskSource::Default);
    assert_eq!(g.tasks, ["task_0", "task_1", "task_2", "task_3", "task_4"]);
    let names: Vec<&str> = g.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["encoder.0.bns", "encoder.1.bns", "encoder.2.bns"]);
    assert!(g.layers.iter().all(|l| l.gate() == Some(GateKind::Sigmoid)));
    let im = g.importance(&ImportanceParams::default()).unwrap().0;
    assert_matrix(&im, &ref_matrix("importance"), 1e-12);
    // Why each other tensor was left out.
    let reason = |n: &str| {
        g.ignored
            .iter()
            .find(|i| i.name == n)
            .map(|i| i.reason.clone())
    };
    assert_eq!(
        reason("encoder.1.bns.3.running_var"),
        Some(IgnoreReason::RunningStatistic)
    );
    assert_eq!(
        reason("encoder.1.bns.3.num_batches_tracked"),
        Some(IgnoreReason::Counter)
    );
    assert_eq!(
        reason("encoder.0.conv.weight"),
        Some(IgnoreReason::NotPerTaskNorm)
    );
    assert_eq!(reason("heads.2.weight"), Some(IgnoreReason::NotPerTaskNorm));
    assert_eq!(reason("encoder.0.bns.0.weight"), None);
}

#[test]
fn module_dict_bf16_matches_numpy_after_reordering_by_tasks_file() {
    let p = fixture("layouts/module_dict_bf16.safetensors");
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert_eq!(g.layout, Layout::ModuleDict);
    assert_eq!(g.task_source, TaskSource::ModuleDictKeys);
    // Keys come back in natural order; the file restores the model's order.
    assert_eq!(
        g.tasks,
        ["depth", "edges", "keypoints", "normals", "segmentation"]
    );
    let im = importance(&p, &tasks_param(), &ImportanceParams::default()).unwrap();
    assert_eq!(im.tasks(), ref_tasks().as_slice());
    assert_matrix(&im, &ref_matrix("importance"), 1e-12);
}

#[test]
fn stacked_f16_matches_numpy_and_reads_metadata() {
    let p = fixture("layouts/stacked_f16.safetensors");
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert_eq!(g.layout, Layout::Stacked);
    assert_eq!(g.task_source, TaskSource::Metadata);
    assert_eq!(
        g.metadata.get("mtl.model").map(String::as_str),
        Some("fixture")
    );
    let im = g.importance(&ImportanceParams::default()).unwrap().0;
    assert_eq!(im.tasks(), ref_tasks().as_slice());
    assert_matrix(&im, &ref_matrix("importance"), 1e-12);
}

#[test]
fn bias_beside_logits_reads_sigmoid_and_gate_override_wins() {
    // This fixture has a bias beside every weight, but its weights are the
    // σBN logits of the other layouts (half negative): bias presence alone
    // is no evidence of an affine scale, so the values decide σBN.
    let p = fixture("layouts/tsbn_module_list_f64.safetensors");
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert!(g.layers.iter().all(|l| l.gate() == Some(GateKind::Sigmoid)));
    assert!(g.layers[0].evidence.reason.contains("negative"));
    let reason = g
        .ignored
        .iter()
        .find(|i| i.name == "encoder.2.bns.4.bias")
        .map(|i| i.reason.clone());
    assert_eq!(reason, Some(IgnoreReason::Shift));
    let sig = g.importance(&ImportanceParams::default()).unwrap().0;
    assert_matrix(&sig, &ref_matrix("importance"), 1e-12);
    let abs = g
        .importance(&ImportanceParams {
            gate: Some(GateKind::Abs),
            allow_nonfinite: false,
        })
        .unwrap()
        .0;
    assert_matrix(&abs, &ref_matrix("importance_abs"), 1e-12);
}

#[test]
fn layers_regex_restricts_layers() {
    let p = fixture("layouts/module_list_f32.safetensors");
    let params = DiscoverParams {
        layer_order: None,
        layers: Some(Regex::new(r"encoder\.[12]\.").unwrap()),
        tasks: None,
    };
    let g = gates(&p, &params).unwrap();
    let names: Vec<&str> = g.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["encoder.1.bns", "encoder.2.bns"]);
    let reason = g
        .ignored
        .iter()
        .find(|i| i.name == "encoder.0.bns.0.weight")
        .map(|i| i.reason.clone());
    assert_eq!(reason, Some(IgnoreReason::ExcludedByFilter));
    let im = g.importance(&ImportanceParams::default()).unwrap().0;
    assert_eq!(im.n_filters(), 14);
}

#[test]
fn layers_sort_naturally_and_tensor_order_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |v: f32| vec![vec![v, v + 1.0], vec![v - 1.0, v]];
    let layers = [
        ("blocks.10.bns", rows(1.0)),
        ("blocks.2.bns", rows(2.0)),
        ("blocks.1.bns", rows(3.0)),
    ];
    let a = dir.path().join("a.safetensors");
    write(&a, &module_list(&layers, true), &[]);
    let mut rev = module_list(&layers, true);
    rev.reverse();
    let b = dir.path().join("b.safetensors");
    write(&b, &rev, &[]);
    let ga = gates(&a, &DiscoverParams::default()).unwrap();
    let names: Vec<&str> = ga.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["blocks.1.bns", "blocks.2.bns", "blocks.10.bns"]);
    let ia = importance(&a, &DiscoverParams::default(), &ImportanceParams::default()).unwrap();
    let ib = importance(&b, &DiscoverParams::default(), &ImportanceParams::default()).unwrap();
    assert_eq!(ia, ib);
}

#[test]
fn sequential_norms_are_not_mistaken_for_per_task_lists() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hps.safetensors");
    // features = Sequential(conv, bn, relu, conv, bn): bn at indices 1 and 4.
    let t = vec![
        f32s("features.0.weight", &[2, 1, 1, 1], &[1.0, 1.0]),
        f32s("features.1.weight", &[2], &[1.0, 1.0]),
        f32s("features.1.bias", &[2], &[0.0, 0.0]),
        f32s("features.3.weight", &[2, 2, 1, 1], &[1.0; 4]),
        f32s("features.4.weight", &[2], &[1.0, 1.0]),
        f32s("features.4.bias", &[2], &[0.0, 0.0]),
        // Two norms in a row at 0 and 1 with a conv elsewhere in the same
        // Sequential is still not a task list.
        f32s("head.0.weight", &[2], &[1.0, 1.0]),
        f32s("head.1.weight", &[2], &[1.0, 1.0]),
        f32s("head.2.weight", &[1, 2], &[1.0, 1.0]),
    ];
    write(&p, &t, &[]);
    let err = gates(&p, &DiscoverParams::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no task-specific norm layers found"), "{err}");
    assert!(err.contains("shared 1-D norm weights"), "{err}");
    assert!(err.contains("--layers"), "{err}");
}

#[test]
fn module_dict_task_set_is_the_majority_key_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dict.safetensors");
    let v = |x: f32| vec![x, x, x];
    let t = vec![
        f32s("enc.0.tsn.seg.weight", &[3], &v(0.1)),
        f32s("enc.0.tsn.depth.weight", &[3], &v(0.2)),
        f32s("enc.1.tsn.seg.weight", &[3], &v(0.3)),
        f32s("enc.1.tsn.depth.weight", &[3], &v(0.4)),
        // A transformer block's two LayerNorms: keyed by module, not by task.
        f32s("blk.norm1.weight", &[3], &v(1.0)),
        f32s("blk.norm1.bias", &[3], &v(1.0)),
        f32s("blk.norm2.weight", &[3], &v(1.0)),
        f32s("blk.norm2.bias", &[3], &v(1.0)),
    ];
    write(&p, &t, &[]);
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert_eq!(g.tasks, ["depth", "seg"]);
    let names: Vec<&str> = g.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["enc.0.tsn", "enc.1.tsn"]);
    assert!(matches!(
        g.ignored
            .iter()
            .find(|i| i.name == "blk.norm1.weight")
            .map(|i| &i.reason),
        Some(IgnoreReason::ModuleRoles(_))
    ));
}

#[test]
fn stacked_without_metadata_is_read_with_default_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.safetensors");
    let t = vec![
        f32s("net.10.gamma", &[2, 2], &[0.0, 1.0, 2.0, 3.0]),
        f32s("net.2.gamma", &[2, 1], &[5.0, 6.0]),
        f32s("net.2.beta", &[2, 1], &[0.0, 0.0]),
    ];
    write(&p, &t, &[]);
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert_eq!(g.layout, Layout::Stacked);
    assert_eq!(g.tasks, ["task_0", "task_1"]);
    let names: Vec<&str> = g.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["net.2", "net.10"]);
    // net.2 has a beta, but its gammas (5, 6) are neither logits with
    // negatives nor clustered near 1: undecided. net.10 (no beta) is σBN.
    assert_eq!(g.layers[0].gate(), None);
    assert_eq!(g.layers[1].gate(), Some(GateKind::Sigmoid));
    let e = g
        .importance(&ImportanceParams::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("net.2") && e.contains("--gate sigmoid"), "{e}");
    let im = g
        .importance(&ImportanceParams {
            gate: Some(GateKind::Abs),
            allow_nonfinite: false,
        })
        .unwrap()
        .0;
    // Row-major [T, C]: task 1 of net.10 holds 2.0, 3.0.
    assert_eq!(im.data()[(1, 0)], 6.0);
    assert_eq!(im.data()[(1, 2)], 3.0);
}

#[test]
fn stacked_writer_round_trips_through_discovery() {
    use mtl_inspect::checkpoint::stacked::{OwnedTensor, StackedMeta, StackedParam, write_atomic};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let meta = StackedMeta {
        tasks: vec!["b".into(), "a".into(), "c".into()],
        layers: vec!["l.2".into(), "l.1".into()],
        gate: None,
        extra: [("seed".to_string(), "4".to_string())]
            .into_iter()
            .collect(),
    };
    let t = vec![
        OwnedTensor::new(
            StackedParam::Gamma.tensor_name("l.1"),
            vec![3, 2],
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        ),
        OwnedTensor::new(
            StackedParam::Gamma.tensor_name("l.2"),
            vec![3, 1],
            vec![7.0, 8.0, 9.0],
        ),
        OwnedTensor::new(
            StackedParam::RunningVar.tensor_name("l.2"),
            vec![3, 1],
            vec![1.0; 3],
        ),
    ];
    write_atomic(&p, &t, meta.to_metadata()).unwrap();
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    assert_eq!(g.tasks, ["b", "a", "c"]);
    // Metadata order (depth) wins over name order.
    let names: Vec<&str> = g.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["l.2", "l.1"]);
    assert_eq!(g.metadata.get("mtl.seed").map(String::as_str), Some("4"));
    let im = g
        .importance(&ImportanceParams {
            gate: Some(GateKind::Identity),
            allow_nonfinite: false,
        })
        .unwrap()
        .0;
    assert_eq!(im.data()[(2, 0)], 9.0);
    assert_eq!(im.data()[(2, 2)], 6.0);
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}
