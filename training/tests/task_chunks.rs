//! `--task-chunk K` (`mtl_train::step`): one optimiser step that runs the
//! tasks K at a time and sums their gradients equals one step over all
//! tasks, for TSσBN, TSBN and shared BN, on the fused CPU kernels and on
//! candle's tensor ops, in f32 (the training dtype) and f64.
//!
//! The net is small (two convolutions, one pooled, one linear layer), T = 5
//! tasks, one of them a regression task (squared error), so K = 2 gives the
//! uneven chunks 0..2, 2..4, 4..5 and K = 1 the single-task layout (a
//! chunk's activations then have N rows, like shared ones). Compared after
//! the step: the loss, every gradient, every parameter and every running
//! statistic, by name.
//!
//! Error measure, per tensor: max |a − b| / max |b| (relative to the
//! tensor's largest entry, so near-zero entries do not dominate).
//! Tolerances: the two sides differ only in the order of float additions
//! (the shared weights' gradient is a sum over chunks instead of one sum
//! over all tasks' rows), whose error is a few ulps of the largest term
//! times √(number of terms) — here at most ~10³ terms, so ~3·10⁻⁶ in f32 and
//! ~10⁻¹⁴ in f64. We allow 1e-5 (f32) and 1e-11 (f64). A wrong chunk loss
//! scale (the K_c/T share dropped) makes the gradients T/K_c = 2.5–5 times
//! too large; stepping the optimiser per chunk moves the parameters by up to
//! three steps instead of one; updating all tasks' running statistics per
//! chunk folds the statistics in three times: each is off by far more.
//!
//! The parameter comparison uses SGD (its step is proportional to the
//! gradient, so it sees a wrong scale; Adam's first step is ≈ lr·sign(g)
//! and would not) and Adam over two steps (its moments and step count must
//! advance once per step, not once per chunk).

use std::collections::BTreeMap;
use std::ops::Range;

use assert_cmd::Command;
use candle_core::{DType, Device, Tensor};
use mtl_train::layers::{NormKind, NormParams};
use mtl_train::models::{ConvNetSpec, ConvStage, HeadInit, MultiTaskNet};
use mtl_train::optim::{Optimizer, OptimizerKind, param_groups};
use mtl_train::step::{loss_and_grads, task_chunks, train_step};
use mtl_train::vars::{ParamGroupKind, ParamStore};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const TASKS: usize = 5;
const N: usize = 6;
const IMAGE: usize = 8;
/// Task 3 is a regression task, the others binary.
const REGRESSION: [bool; TASKS] = [false, false, false, true, false];

fn spec() -> ConvNetSpec {
    let stage = |out, stride, pool| ConvStage { out, stride, pool };
    ConvNetSpec {
        in_channels: 3,
        image_size: IMAGE,
        convs: vec![stage(6, 1, true), stage(8, 1, false)],
        fc: vec![7],
        heads: HeadInit::Independent,
    }
}

fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-11,
        _ => 1e-5,
    }
}

struct Setup {
    store: ParamStore,
    net: MultiTaskNet,
}

fn model(norm: NormKind, fused: bool, dtype: DType) -> Setup {
    let store = ParamStore::new(dtype, Device::Cpu);
    let mut net = MultiTaskNet::new(
        &spec(),
        norm,
        TASKS,
        NormParams::default(),
        &store.builder(7),
    )
    .expect("building the test net");
    net.fused = fused;
    Setup { store, net }
}

/// Images `[N, 3, 8, 8]` and targets `[N, T]` (0/1, or a real value for the
/// regression task), from `seed`.
fn batch(seed: u64, dtype: DType) -> (Tensor, Tensor) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let x: Vec<f32> = (0..N * 3 * IMAGE * IMAGE)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let y: Vec<f32> = (0..N * TASKS)
        .map(|i| {
            if REGRESSION[i % TASKS] {
                rng.gen_range(-2.0..2.0)
            } else {
                f32::from(u8::from(rng.gen_bool(0.5)))
            }
        })
        .collect();
    let x = Tensor::from_vec(x, (N, 3, IMAGE, IMAGE), &Device::Cpu).unwrap();
    let y = Tensor::from_vec(y, (N, TASKS), &Device::Cpu).unwrap();
    (x.to_dtype(dtype).unwrap(), y.to_dtype(dtype).unwrap())
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// max |a − b| / max |b| (0 when both are all zero).
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    if scale == 0.0 { diff } else { diff / scale }
}

/// Every tensor of the store (weights, gates, running statistics) by name.
fn tensors(store: &ParamStore) -> BTreeMap<String, Vec<f64>> {
    store
        .all()
        .into_iter()
        .map(|(name, _, var)| (name, to_f64(var.as_tensor())))
        .collect()
}

fn assert_same_tensors(what: &str, a: &ParamStore, b: &ParamStore, tol: f64) {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{what}: different tensor names"
    );
    for (name, va) in &ta {
        let err = rel_err(va, &tb[name]);
        assert!(
            err <= tol,
            "{what}: {name} differs, rel. error {err:.3e} > {tol:.0e}"
        );
    }
}

fn sgd(store: &ParamStore) -> Optimizer {
    // Weight decay on, α ≠ 1: both groups' paths are exercised.
    let groups = param_groups(store, 10.0, 1e-2);
    Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, 0.1, groups).unwrap()
}

fn adam(store: &ParamStore) -> Optimizer {
    let groups = param_groups(store, 10.0, 1e-2);
    Optimizer::new(OptimizerKind::adam(), 1e-2, groups).unwrap()
}

const CASES: [(NormKind, bool); 6] = [
    (NormKind::TsSigmaBn, true),
    (NormKind::TsSigmaBn, false),
    (NormKind::Tsbn, true),
    (NormKind::Tsbn, false),
    (NormKind::SharedBn, true),
    (NormKind::SharedBn, false),
];

fn path(fused: bool) -> &'static str {
    if fused { "fused" } else { "tensor ops" }
}

#[test]
fn chunks_cover_the_tasks_once() {
    let all: Vec<Range<usize>> = std::iter::once(0..5).collect();
    assert_eq!(task_chunks(5, Some(2)), vec![0..2, 2..4, 4..5]);
    assert_eq!(task_chunks(5, Some(1)).len(), 5);
    assert_eq!(task_chunks(5, Some(5)), all);
    assert_eq!(task_chunks(5, Some(40)), all);
    assert_eq!(task_chunks(5, None), all);
}

/// The loss and the gradient of every parameter, chunked against not.
#[test]
fn chunked_gradients_equal_unchunked() {
    for dtype in [DType::F32, DType::F64] {
        let tol = tolerance(dtype);
        let (x, y) = batch(1, dtype);
        for (norm, fused) in CASES {
            let full = model(norm, fused, dtype);
            let (loss_ref, grads_ref) =
                loss_and_grads(&full.net, &x, &y, &REGRESSION, None).unwrap();
            for k in [1, 2, 4] {
                let what = format!("{norm} {} {dtype:?} K={k}", path(fused));
                let chunked = model(norm, fused, dtype);
                let (loss, grads) =
                    loss_and_grads(&chunked.net, &x, &y, &REGRESSION, Some(k)).unwrap();
                let err = (loss - loss_ref).abs() / loss_ref.abs();
                assert!(err <= tol, "{what}: loss {loss} vs {loss_ref}");
                // A gradient with op history would keep a chunk's whole
                // forward graph (its activations) alive until the step.
                for store in [&grads, &grads_ref] {
                    let ids: Vec<_> = store.get_ids().copied().collect();
                    for id in ids {
                        let attached = store.get_id(id).is_some_and(|g| g.track_op());
                        assert!(!attached, "{what}: a gradient still refers to the graph");
                    }
                }
                for kind in [ParamGroupKind::Weights, ParamGroupKind::Gates] {
                    let vars = chunked.store.sorted(kind);
                    let vars_ref = full.store.sorted(kind);
                    for ((name, var), (_, var_ref)) in vars.iter().zip(&vars_ref) {
                        let g = grads.get(var.as_tensor());
                        let g_ref = grads_ref.get(var_ref.as_tensor());
                        let (g, g_ref) = match (g, g_ref) {
                            (Some(g), Some(g_ref)) => (to_f64(g), to_f64(g_ref)),
                            _ => panic!("{what}: {name} has a gradient on one side only"),
                        };
                        let err = rel_err(&g, &g_ref);
                        assert!(
                            err <= tol,
                            "{what}: gradient of {name} differs, rel. error {err:.3e} > {tol:.0e}"
                        );
                    }
                }
                // Each task's running statistics moved once.
                assert_same_tensors(&what, &chunked.store, &full.store, tol);
            }
        }
    }
}

/// One SGD step (a step proportional to the gradient): every parameter and
/// running statistic after it, chunked against not.
#[test]
fn one_sgd_step_with_chunks_equals_one_without() {
    for dtype in [DType::F32, DType::F64] {
        let tol = tolerance(dtype);
        let (x, y) = batch(2, dtype);
        for (norm, fused) in CASES {
            let full = model(norm, fused, dtype);
            let mut opt = sgd(&full.store);
            let loss_ref = train_step(&full.net, &mut opt, &x, &y, &REGRESSION, None).unwrap();
            for k in [1, 2, 5, 40] {
                let what = format!("{norm} {} {dtype:?} K={k}", path(fused));
                let chunked = model(norm, fused, dtype);
                let mut opt = sgd(&chunked.store);
                let loss =
                    train_step(&chunked.net, &mut opt, &x, &y, &REGRESSION, Some(k)).unwrap();
                let err = (loss - loss_ref).abs() / loss_ref.abs();
                assert!(err <= tol, "{what}: loss {loss} vs {loss_ref}");
                assert_eq!(opt.steps_taken(), 1, "{what}");
                assert_same_tensors(&what, &chunked.store, &full.store, tol);
            }
        }
    }
}

/// Two Adam steps on two batches: the moments and the step count advance
/// once per step however many chunks it has.
#[test]
fn two_adam_steps_with_chunks_equal_two_without() {
    // Adam divides by √v̂ + 1e-8, so a gradient entry near 0 turns rounding
    // noise into a visible part of a step: compare in f64 only, where that
    // noise is ~1e-16 of the gradient's scale.
    let dtype = DType::F64;
    let tol = tolerance(dtype);
    let batches = [batch(3, dtype), batch(4, dtype)];
    for (norm, fused) in CASES {
        let what = format!("{norm} {} K=2", path(fused));
        let full = model(norm, fused, dtype);
        let chunked = model(norm, fused, dtype);
        let (mut opt_full, mut opt_chunked) = (adam(&full.store), adam(&chunked.store));
        for (x, y) in &batches {
            train_step(&full.net, &mut opt_full, x, y, &REGRESSION, None).unwrap();
            train_step(&chunked.net, &mut opt_chunked, x, y, &REGRESSION, Some(2)).unwrap();
        }
        assert_eq!(opt_chunked.steps_taken(), 2, "{what}");
        assert_same_tensors(&what, &chunked.store, &full.store, tol);
    }
}

/// A chunk's evaluation-mode logits (running statistics of its own tasks)
/// are the same columns of the full forward's, after a step has made the
/// running statistics differ between tasks.
#[test]
fn chunk_forward_in_eval_mode_is_a_slice_of_the_full_forward() {
    let dtype = DType::F64;
    for (norm, fused) in CASES {
        let m = model(norm, fused, dtype);
        let (x, y) = batch(5, dtype);
        let mut opt = sgd(&m.store);
        train_step(&m.net, &mut opt, &x, &y, &REGRESSION, None).unwrap();
        let full = m.net.forward(&x, false).unwrap();
        for range in task_chunks(TASKS, Some(2)) {
            let what = format!("{norm} {} tasks {range:?}", path(fused));
            let part = m.net.forward_tasks(&x, false, range.clone()).unwrap();
            let want = full.narrow(1, range.start, range.len()).unwrap();
            let err = rel_err(&to_f64(&part), &to_f64(&want));
            assert!(err <= 1e-12, "{what}: rel. error {err:.3e}");
        }
        let bad = m.net.forward_tasks(&x, false, 4..6);
        assert!(bad.is_err(), "{norm}: tasks 4..6 of 5 must be refused");
    }
}

#[test]
fn task_chunk_zero_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["bench", "--model", "shapes-cnn", "--task-chunk", "0"],
        vec![
            "shapes",
            "--out",
            dir.path().to_str().unwrap(),
            "--task-chunk",
            "0",
        ],
    ] {
        let out = Command::cargo_bin("mtl-train")
            .unwrap()
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--task-chunk"), "{args:?}: {err}");
    }
}

/// A short shapes run with chunks records the chunk size in the checkpoint
/// (`mtl.task_chunk`), and one without does not.
#[test]
fn checkpoint_records_the_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    for (chunk, want) in [(Some("3"), Some("3")), (None, None), (Some("99"), None)] {
        let out = dir.path().join(chunk.unwrap_or("none"));
        let mut args = vec![
            "shapes".to_string(),
            "--tasks".into(),
            "8".into(),
            "--train-size".into(),
            "64".into(),
            "--val-size".into(),
            "32".into(),
            "--test-size".into(),
            "32".into(),
            "--epochs".into(),
            "1".into(),
            "--quiet".into(),
            "--no-optimizer-state".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        if let Some(k) = chunk {
            args.extend(["--task-chunk".to_string(), k.to_string()]);
        }
        Command::cargo_bin("mtl-train")
            .unwrap()
            .args(&args)
            .assert()
            .success();
        let ckpt = out.join("shapes_tssbn_seed0.safetensors");
        let bytes = std::fs::read(&ckpt).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap_or_default();
        assert_eq!(
            meta.get("mtl.task_chunk").map(String::as_str),
            want,
            "--task-chunk {chunk:?}"
        );
    }
}
