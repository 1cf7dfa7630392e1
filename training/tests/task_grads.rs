//! Per-task gradients (`diagnose::task_grads`) on the PyTorch gradient twin
//! of `tests/gradients.rs` (3 convs with two max pools, one linear + norm,
//! T = 3, N = 4):
//!
//! * the folded one-pass split equals T separate backward passes, each on
//!   L_t / T alone, for every shared weight (TSσBN and TSBN; fused and
//!   unfused paths);
//! * both equal PyTorch's per-task gradients (`F.task_grad.<t>.<name>` in
//!   `data/grad_twin.safetensors`: `torch.autograd.grad` of L_t / T, tasks
//!   run one at a time in float64; see `reference/grad_twin.py`), shared BN
//!   (separate passes) included;
//! * Σ_t g_t equals the gradient of the whole loss, from the same pass and
//!   from a plain training step;
//! * task-specific parameters (gates, heads) get gradient from their own
//!   task's row only, which is why they need no split;
//! * the running statistics are left as they were.
//!
//! Error measure as in `gradients.rs`: max |g − g_ref| / max |g_ref|.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use mtl_train::diagnose::task_grads::{self, GradMethod, TaskGradients, per_task_bce};
use mtl_train::layers::{NormKind, NormParams};
use mtl_train::models::loss::bce_with_logits;
use mtl_train::models::{ConvNetSpec, ConvStage, HeadInit, MultiTaskNet};
use mtl_train::vars::{ParamGroupKind, ParamStore};

const TASKS: usize = 3;
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/grad_twin.safetensors"
);

fn twin_spec() -> ConvNetSpec {
    let stage = |out, stride, pool| ConvStage { out, stride, pool };
    ConvNetSpec {
        in_channels: 3,
        image_size: 16,
        convs: vec![stage(6, 1, true), stage(8, 1, true), stage(8, 2, false)],
        fc: vec![8],
        // The weights come from the twin file; the start does not matter.
        heads: HeadInit::Independent,
    }
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(DATA, &Device::Cpu)
        .unwrap_or_else(|e| panic!("reading {DATA}: {e}; regenerate it with grad_twin.py"))
}

fn get<'a>(r: &'a HashMap<String, Tensor>, name: &str) -> &'a Tensor {
    r.get(name)
        .unwrap_or_else(|| panic!("{DATA} has no tensor '{name}'; regenerate it with grad_twin.py"))
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn rel_err(got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(got.dims(), want.dims());
    let (g, w) = (to_f64(got), to_f64(want));
    let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = g
        .iter()
        .zip(&w)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 { diff } else { diff / scale }
}

/// A twin network of `norm` with its PyTorch weights, and the batch.
fn twin(norm: NormKind, fused: bool, dtype: DType) -> (ParamStore, MultiTaskNet, Tensor, Tensor) {
    let r = reference();
    let store = ParamStore::new(dtype, Device::Cpu);
    let mut net = MultiTaskNet::new(
        &twin_spec(),
        norm,
        TASKS,
        NormParams::default(),
        &store.builder(0),
    )
    .unwrap();
    net.fused = fused;
    for (name, kind, var) in store.all() {
        if kind != ParamGroupKind::Buffers {
            let v = get(&r, &format!("{}.param.{name}", norm.name()));
            var.set(&v.to_dtype(dtype).unwrap()).unwrap();
        }
    }
    let x = get(&r, "input").to_dtype(dtype).unwrap();
    let y = get(&r, "labels").to_dtype(dtype).unwrap();
    (store, net, x, y)
}

fn shared_names(g: &TaskGradients) -> Vec<&str> {
    g.layers.iter().map(|l| l.name.as_str()).collect()
}

/// Largest error of g's per-task gradients against PyTorch's.
fn vs_pytorch(norm: NormKind, g: &TaskGradients) -> f64 {
    let r = reference();
    let mut worst = 0.0f64;
    for l in &g.layers {
        for t in 0..TASKS {
            let want = get(&r, &format!("{}.task_grad.{t}.{}", norm.name(), l.name));
            let got = l.per_task.get(t).unwrap().to_dtype(DType::F64).unwrap();
            worst = worst.max(rel_err(&got, want));
        }
    }
    worst
}

fn check_folded(norm: NormKind, fused: bool) {
    for (dtype, tol) in [(DType::F64, 1e-9), (DType::F32, 1e-4)] {
        let (store, net, x, y) = twin(norm, fused, dtype);
        let folded = task_grads::folded(&net, &store, &x, &y).unwrap();
        let separate = task_grads::separate_passes(&net, &store, &x, &y).unwrap();
        assert_eq!(folded.method, GradMethod::Folded);
        assert_eq!(
            shared_names(&folded),
            [
                "features.0.conv.weight",
                "features.1.conv.weight",
                "features.2.conv.weight",
                "classifier.0.linear.weight"
            ]
        );
        assert_eq!(shared_names(&folded), shared_names(&separate));
        let mut worst = 0.0f64;
        for (f, s) in folded.layers.iter().zip(&separate.layers) {
            assert_eq!(f.per_task.dims()[0], TASKS);
            let e = rel_err(&f.per_task, &s.per_task);
            assert!(
                e <= tol,
                "{norm} fused={fused} {dtype:?} {}: folded vs separate passes {e:.3e}",
                f.name
            );
            // Σ_t g_t = the whole loss's gradient of the same pass.
            let sum = f.per_task.sum(0).unwrap();
            let e_sum = rel_err(&sum, &f.full);
            assert!(
                e_sum <= tol,
                "{norm} {dtype:?} {}: Σ_t g_t vs ∇L {e_sum:.3e}",
                f.name
            );
            worst = worst.max(e).max(e_sum);
        }
        for (a, b) in folded.task_losses.iter().zip(&separate.task_losses) {
            assert!((a - b).abs() <= tol * a.abs().max(1.0));
        }
        let e_torch = vs_pytorch(norm, &folded);
        assert!(
            e_torch <= tol,
            "{norm} {dtype:?}: folded vs PyTorch {e_torch:.3e}"
        );
        // Printed for the record (`cargo test -- --nocapture`).
        eprintln!(
            "{norm} fused={fused} {dtype:?}: folded vs separate/sum {worst:.2e}, vs PyTorch {e_torch:.2e}"
        );
    }
}

#[test]
fn tssbn_folded_equals_separate_passes_and_pytorch() {
    check_folded(NormKind::TsSigmaBn, true);
}

#[test]
fn tssbn_unfused_folded_equals_separate_passes() {
    check_folded(NormKind::TsSigmaBn, false);
}

#[test]
fn tsbn_folded_equals_separate_passes_and_pytorch() {
    check_folded(NormKind::Tsbn, true);
}

#[test]
fn shared_bn_uses_separate_passes_that_match_pytorch() {
    for (dtype, tol) in [(DType::F64, 1e-9), (DType::F32, 1e-4)] {
        let (store, net, x, y) = twin(NormKind::SharedBn, true, dtype);
        let g = task_grads::task_gradients(&net, &store, &x, &y).unwrap();
        assert_eq!(g.method, GradMethod::SeparatePasses);
        let e = vs_pytorch(NormKind::SharedBn, &g);
        assert!(e <= tol, "bn {dtype:?}: separate passes vs PyTorch {e:.3e}");
        for l in &g.layers {
            let e = rel_err(&l.per_task.sum(0).unwrap(), &l.full);
            assert!(e <= tol, "bn {dtype:?} {}: Σ_t g_t vs ∇L {e:.3e}", l.name);
        }
        // One pass cannot split shared BN: its statistics couple the tasks.
        assert!(task_grads::folded(&net, &store, &x, &y).is_err());
    }
}

#[test]
fn sum_equals_a_plain_training_step_gradient() {
    let (store, net, x, y) = twin(NormKind::TsSigmaBn, true, DType::F64);
    let g = task_grads::folded(&net, &store, &x, &y).unwrap();
    let loss = bce_with_logits(&net.forward(&x, true).unwrap(), &y).unwrap();
    let grads = loss.backward().unwrap();
    for l in &g.layers {
        let (_, _, var) = store
            .all()
            .into_iter()
            .find(|(n, _, _)| *n == l.name)
            .unwrap();
        let want = grads.get(var.as_tensor()).unwrap();
        let e = rel_err(&l.per_task.sum(0).unwrap(), want);
        assert!(e <= 1e-10, "{}: {e:.3e}", l.name);
    }
}

#[test]
fn task_specific_parameters_get_only_their_tasks_row() {
    let (store, net, x, y) = twin(NormKind::Tsbn, true, DType::F64);
    let logits = net.forward(&x, true).unwrap();
    let per = per_task_bce(&logits, &y).unwrap();
    for t in 0..TASKS {
        let grads = (per.get(t).unwrap() / TASKS as f64)
            .unwrap()
            .backward()
            .unwrap();
        for (name, kind, var) in store.all() {
            let task_rows = kind == ParamGroupKind::Gates || name.starts_with("heads.");
            if !task_rows {
                continue;
            }
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let rows = g.dim(0).unwrap();
            assert_eq!(rows, TASKS, "{name}");
            for r in (0..rows).filter(|&r| r != t) {
                let other = to_f64(&g.get(r).unwrap());
                assert!(
                    other.iter().all(|v| *v == 0.0),
                    "{name}: task {t}'s loss reaches row {r}"
                );
            }
        }
    }
}

#[test]
fn running_statistics_are_restored() {
    let (store, net, x, y) = twin(NormKind::TsSigmaBn, true, DType::F32);
    let before: Vec<Vec<f64>> = store
        .sorted(ParamGroupKind::Buffers)
        .iter()
        .map(|(_, v)| to_f64(v.as_tensor()))
        .collect();
    task_grads::folded(&net, &store, &x, &y).unwrap();
    task_grads::separate_passes(&net, &store, &x, &y).unwrap();
    let after: Vec<Vec<f64>> = store
        .sorted(ParamGroupKind::Buffers)
        .iter()
        .map(|(_, v)| to_f64(v.as_tensor()))
        .collect();
    assert_eq!(before, after);
}
