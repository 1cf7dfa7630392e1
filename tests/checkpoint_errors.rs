//! Bad input gets an error that names the file, tensor or layer and the way
//! out — never a panic, never a silently wrong number.

mod common;

use common::*;
use mtl_inspect::checkpoint::discover::DiscoverParams;
use mtl_inspect::checkpoint::format::FormatError;
use mtl_inspect::checkpoint::tasks_file::TaskNames;
use mtl_inspect::checkpoint::{Checkpoint, CheckpointError};
use mtl_inspect::importance::from_gates::ImportanceParams;
use regex::Regex;

fn two_task_layers() -> Vec<(&'static str, Vec<Vec<f32>>)> {
    vec![
        ("enc.0.bns", vec![vec![0.5, -0.5], vec![1.0, 2.0]]),
        ("enc.1.bns", vec![vec![0.1, 0.2, 0.3], vec![0.0, 0.0, 1.0]]),
    ]
}

fn err_text<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn missing_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.safetensors");
    let e = err_text(Checkpoint::open(&p));
    assert!(
        e.contains("nope.safetensors") && e.contains("cannot read"),
        "{e}"
    );
    // The whole chain, as the CLI prints it ({:#}), names the OS error once.
    let chain = format!(
        "{:#}",
        anyhow::Error::from(Checkpoint::open(&p).unwrap_err())
    );
    assert_eq!(chain.matches("os error").count(), 1, "{chain}");
    let e = err_text(Checkpoint::open(dir.path()));
    assert!(e.contains("directory"), "{e}");
}

#[test]
fn not_safetensors_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.pt");
    // A pickle-like zip header: a PyTorch .pt file, not safetensors.
    std::fs::write(
        &p,
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00some pytorch archive bytes",
    )
    .unwrap();
    let e = err_text(Checkpoint::open(&p));
    // The zip magic makes it a (broken) torch.save archive, not safetensors.
    assert!(
        e.contains("model.pt") && e.contains("zip") && !e.contains("header claims"),
        "{e}"
    );
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let e = err_text(Checkpoint::open(&empty));
    assert!(
        e.contains("empty.safetensors") && e.contains("empty (0 bytes)"),
        "{e}"
    );
    let json = dir.path().join("json.safetensors");
    let mut b = 10u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"not json!!");
    std::fs::write(&json, b).unwrap();
    let e = err_text(Checkpoint::open(&json));
    assert!(e.contains("header is not the JSON"), "{e}");
}

#[test]
fn format_refusals_stay_typed() {
    // A program can tell a refusal's kind without parsing the message.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    match Checkpoint::open(&empty) {
        Err(CheckpointError::Format {
            path,
            error: FormatError::Empty,
        }) => assert_eq!(path, empty),
        other => panic!("expected Format/Empty, got {other:?}"),
    }
    let pickle = dir.path().join("state.pkl");
    std::fs::write(
        &pickle,
        b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.",
    )
    .unwrap();
    match Checkpoint::open(&pickle) {
        Err(CheckpointError::Format {
            error: FormatError::PlainPickle,
            ..
        }) => {}
        other => panic!("expected Format/PlainPickle, got {other:?}"),
    }
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.safetensors");
    write(&p, &module_list(&two_task_layers(), true), &[]);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 6]).unwrap();
    let e = err_text(Checkpoint::open(&p));
    assert!(
        e.contains("t.safetensors") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn header_longer_than_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.safetensors");
    let mut b = 1_000_000u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{\"a\":{}}");
    std::fs::write(&p, b).unwrap();
    let e = err_text(Checkpoint::open(&p));
    assert!(
        e.contains("header claims 1000000 bytes") && e.contains("16 bytes"),
        "{e}"
    );
}

#[test]
fn no_norm_layers_names_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("conv.safetensors");
    write(&p, &[f32s("conv.weight", &[2, 1, 1, 1], &[1.0, 2.0])], &[]);
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("no task-specific norm layers found in") && e.contains("(1 tensors)"),
        "{e}"
    );
    assert!(
        e.contains("mtl-inspect inspect") && e.contains("--layers"),
        "{e}"
    );
}

#[test]
fn layers_regex_matching_nothing_lists_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    write(&p, &module_list(&two_task_layers(), false), &[]);
    let params = DiscoverParams {
        layer_order: None,
        layers: Some(Regex::new("decoder").unwrap()),
        tasks: None,
    };
    let e = err_text(gates(&p, &params));
    assert!(
        e.contains(
            "--layers 'decoder' matched none of the 2 candidate layers (enc.0.bns, enc.1.bns)"
        ),
        "{e}"
    );
}

#[test]
fn inconsistent_task_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let layers = vec![
        ("a.bns", vec![vec![0.1f32, 0.2]; 3]),
        ("b.bns", vec![vec![0.1f32]; 5]),
    ];
    write(&p, &module_list(&layers, false), &[]);
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("different task counts")
            && e.contains("a.bns has 3")
            && e.contains("b.bns has 5"),
        "{e}"
    );
    // --layers is the way out.
    let params = DiscoverParams {
        layer_order: None,
        layers: Some(Regex::new("^b").unwrap()),
        tasks: None,
    };
    assert_eq!(gates(&p, &params).unwrap().tasks.len(), 5);
}

#[test]
fn nonfinite_gates_error_or_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.safetensors");
    let layers = vec![
        ("enc.0.bns", vec![vec![0.5, 0.1], vec![0.2, 0.3]]),
        (
            "enc.1.bns",
            vec![vec![0.1, f32::NAN, 0.3], vec![0.0, 0.0, f32::INFINITY]],
        ),
    ];
    write(&p, &module_list(&layers, false), &[]);
    let g = gates(&p, &DiscoverParams::default()).unwrap();
    let e = err_text(g.importance(&ImportanceParams::default()));
    assert!(
        e.contains("layer 'enc.1.bns'")
            && e.contains("task 'task_0' at filter 1")
            && e.contains("--allow-nonfinite"),
        "{e}"
    );
    let (im, dropped) = g
        .importance(&ImportanceParams {
            gate: None,
            allow_nonfinite: true,
        })
        .unwrap();
    assert_eq!(im.n_filters(), 3);
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].filters, [1, 2]);
    assert_eq!(im.layers()[1].len, 1);
    // sigmoid(+Inf) = 1 is finite, but an infinite γ is still reported.
    let inf_only = dir.path().join("inf.safetensors");
    write(
        &inf_only,
        &module_list(
            &[
                ("x.bns", vec![vec![f32::INFINITY, 0.0], vec![0.0, 0.0]]),
                ("y.bns", vec![vec![0.0], vec![0.0]]),
            ],
            false,
        ),
        &[],
    );
    let e = err_text(importance(
        &inf_only,
        &DiscoverParams::default(),
        &ImportanceParams::default(),
    ));
    assert!(e.contains("non-finite gate (inf)"), "{e}");
}

#[test]
fn tasks_file_with_wrong_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    write(&p, &module_list(&two_task_layers(), false), &[]);
    let tasks = TaskNames {
        path: "three.txt".into(),
        names: vec!["a".into(), "b".into(), "c".into()],
        celeba: false,
    };
    let e = err_text(gates(
        &p,
        &DiscoverParams {
            layer_order: None,
            layers: None,
            tasks: Some(tasks),
        },
    ));
    assert!(
        e.contains("three.txt")
            && e.contains("has 3 task names")
            && e.contains("has 2 tasks per layer"),
        "{e}"
    );
    let missing = TaskNames::read(&dir.path().join("missing.txt"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.txt"), "{missing}");
}

#[test]
fn tasks_file_must_match_module_dict_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.safetensors");
    let t = vec![
        f32s("n.seg.weight", &[1], &[0.0]),
        f32s("n.depth.weight", &[1], &[0.0]),
        f32s("m.seg.weight", &[1], &[0.0]),
        f32s("m.depth.weight", &[1], &[0.0]),
    ];
    write(&p, &t, &[]);
    let tasks = TaskNames {
        path: "t.txt".into(),
        names: vec!["seg".into(), "normals".into()],
        celeba: false,
    };
    let e = err_text(gates(
        &p,
        &DiscoverParams {
            layer_order: None,
            layers: None,
            tasks: Some(tasks),
        },
    ));
    assert!(
        e.contains("missing [\"depth\"]") && e.contains("unknown [\"normals\"]"),
        "{e}"
    );
}

#[test]
fn stacked_metadata_problems() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.safetensors");
    let g = || f32s("l.gamma", &[2, 2], &[0.0; 4]);
    write(
        &p,
        &[g()],
        &[("mtl.layers", "[\"l\""), ("mtl.tasks", "[\"a\",\"b\"]")],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("metadata key 'mtl.layers'") && e.contains("JSON list"),
        "{e}"
    );
    write(
        &p,
        &[g()],
        &[
            ("mtl.layers", "[\"l\",\"m\"]"),
            ("mtl.tasks", "[\"a\",\"b\"]"),
        ],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("layer 'm'") && e.contains("'m.gamma' is missing"),
        "{e}"
    );
    write(
        &p,
        &[g()],
        &[
            ("mtl.layers", "[\"l\"]"),
            ("mtl.tasks", "[\"a\",\"b\",\"c\"]"),
        ],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("'l.gamma' has 2 rows") && e.contains("3 tasks"),
        "{e}"
    );
    write(
        &p,
        &[g()],
        &[("mtl.layers", "[\"l\"]"), ("mtl.format_version", "7")],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("format version 7 is newer") && e.contains("upgrade"),
        "{e}"
    );
    write(
        &p,
        &[i32s("l.gamma", &[2, 1], &[1, 2])],
        &[("mtl.layers", "[\"l\"]")],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(e.contains("'l.gamma'") && e.contains("I32"), "{e}");
    write(
        &p,
        &[f32s("l.gamma", &[4], &[0.0; 4])],
        &[("mtl.layers", "[\"l\"]")],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("shape [4]") && e.contains("[tasks, filters]"),
        "{e}"
    );
    write(
        &p,
        &[g()],
        &[("mtl.layers", "[\"l\"]"), ("mtl.gate", "relu")],
    );
    let e = err_text(gates(&p, &DiscoverParams::default()));
    assert!(
        e.contains("'relu' is not one of sigmoid, abs, identity"),
        "{e}"
    );
}

#[test]
fn one_task_and_identical_tasks_are_read() {
    // Degenerate but valid: the analyses decide what they mean.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.safetensors");
    write(
        &p,
        &[f32s("l.gamma", &[1, 3], &[0.0, 1.0, 2.0])],
        &[("mtl.layers", "[\"l\"]"), ("mtl.tasks", "[\"only\"]")],
    );
    let im = importance(&p, &DiscoverParams::default(), &ImportanceParams::default()).unwrap();
    assert_eq!((im.n_tasks(), im.n_filters()), (1, 3));
}
