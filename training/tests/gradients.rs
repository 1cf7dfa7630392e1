//! Whole-network gradients against PyTorch: a small `MultiTaskNet` of each
//! family (TSσBN, TSBN, shared BN), on the fused CPU path and on candle's
//! tensor ops (`--unfused`), loaded with the weights of its PyTorch twin;
//! one training-mode forward + backward must give PyTorch's loss and the
//! gradient of every parameter.
//!
//! The twin, the batch and the reference values come from
//! `reference/grad_twin.py` (PyTorch, float64 from the f32 weights, tasks
//! run one at a time with `F.batch_norm` and `F.max_pool2d`), written to
//! `data/grad_twin.safetensors`; the script's docstring describes the
//! network and the file. Regenerate with
//! `/work/venv/bin/python training/tests/reference/grad_twin.py`.
//!
//! Error measure, per tensor: max |g − g_ref| / max |g_ref| (relative to the
//! tensor's largest entry, so near-zero entries do not dominate).
//! Tolerances: 1e-4 in f32 (the training dtype), 1e-9 in f64.

use std::collections::{BTreeSet, HashMap};

use candle_core::{DType, Device, Tensor};
use mtl_train::layers::{NormKind, NormParams};
use mtl_train::models::loss::bce_with_logits;
use mtl_train::models::{ConvNetSpec, ConvStage, HeadInit, MultiTaskNet};
use mtl_train::vars::{ParamGroupKind, ParamStore};

const TASKS: usize = 3;
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/grad_twin.safetensors"
);
const TOL_F32: f64 = 1e-4;
const TOL_F64: f64 = 1e-9;

/// `CONVS` and `FC` of grad_twin.py.
fn twin_spec() -> ConvNetSpec {
    let stage = |out, stride, pool| ConvStage { out, stride, pool };
    ConvNetSpec {
        in_channels: 3,
        image_size: 16,
        convs: vec![stage(6, 1, true), stage(8, 1, true), stage(8, 2, false)],
        fc: vec![8],
        // The twin's weights are loaded over the initial ones.
        heads: HeadInit::Independent,
    }
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(DATA, &Device::Cpu)
        .unwrap_or_else(|e| panic!("reading {DATA}: {e}; regenerate it with grad_twin.py"))
}

fn get<'a>(r: &'a HashMap<String, Tensor>, name: &str) -> &'a Tensor {
    r.get(name)
        .unwrap_or_else(|| panic!("{DATA} has no tensor '{name}'; regenerate it"))
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Σ a·b / Σ b²: the factor `got` is off by when it is a scaled copy of
/// `want` (0.25 for a gradient through one pool with candle's backward).
fn scale(got: &[f64], want: &[f64]) -> f64 {
    let ab: f64 = got.iter().zip(want).map(|(a, b)| a * b).sum();
    let bb: f64 = want.iter().map(|b| b * b).sum();
    ab / bb
}

/// max |a − b| / max |b|.
fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 { diff } else { diff / scale }
}

/// Loads the twin's weights into a fresh network, runs one training step's
/// forward and backward and returns (name, relative error, scale) for the
/// loss and every parameter, checking along the way that the model's parameters and
/// the file's are the same set.
fn errors(norm: NormKind, fused: bool, dtype: DType) -> Vec<(String, f64, f64)> {
    let r = reference();
    let family = norm.name();
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

    let params: Vec<_> = store
        .all()
        .into_iter()
        .filter(|(_, kind, _)| *kind != ParamGroupKind::Buffers)
        .collect();
    let in_model: BTreeSet<String> = params.iter().map(|(n, _, _)| n.clone()).collect();
    let prefix = format!("{family}.param.");
    let in_file: BTreeSet<String> = r
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
        .collect();
    assert_eq!(
        in_model, in_file,
        "{family}: the model's parameters and the twin's differ"
    );
    for (name, _, var) in &params {
        let value = get(&r, &format!("{prefix}{name}")).to_dtype(dtype).unwrap();
        var.set(&value)
            .unwrap_or_else(|e| panic!("{family}: loading {name}: {e}"));
    }

    let x = get(&r, "input").to_dtype(dtype).unwrap();
    let y = get(&r, "labels").to_dtype(dtype).unwrap();
    let loss = bce_with_logits(&net.forward(&x, true).unwrap(), &y).unwrap();
    let grads = loss.backward().unwrap();

    let (l, l_ref) = (to_f64(&loss), to_f64(get(&r, &format!("{family}.loss"))));
    let mut out = vec![("loss".to_string(), rel_err(&l, &l_ref), scale(&l, &l_ref))];
    for (name, _, var) in &params {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{family}: no gradient for {name}"));
        let want = get(&r, &format!("{family}.grad.{name}"));
        assert_eq!(g.dims(), want.dims(), "{family}: gradient shape of {name}");
        let (g, want) = (to_f64(g), to_f64(want));
        out.push((name.clone(), rel_err(&g, &want), scale(&g, &want)));
    }
    out
}

fn check(norm: NormKind, fused: bool) {
    let path = if fused { "fused" } else { "unfused" };
    for (dtype, tol) in [(DType::F32, TOL_F32), (DType::F64, TOL_F64)] {
        let errs = errors(norm, fused, dtype);
        let worst = errs
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least the loss");
        // Printed for the record (`cargo test -- --nocapture`).
        eprintln!(
            "{norm} {path} {dtype:?}: max relative error {:.2e} ({})",
            worst.1, worst.0
        );
        let bad: Vec<String> = errs
            .iter()
            .filter(|(_, e, _)| e.is_nan() || *e > tol)
            .map(|(n, e, s)| format!("{n}: {e:.3e} (scale vs PyTorch {s:.4})"))
            .collect();
        assert!(
            bad.is_empty(),
            "{norm} {path} {dtype:?}: relative error above {tol:e} vs PyTorch in\n  {}",
            bad.join("\n  ")
        );
    }
}

#[test]
fn tssbn_fused_matches_pytorch() {
    check(NormKind::TsSigmaBn, true);
}

#[test]
fn tssbn_unfused_matches_pytorch() {
    check(NormKind::TsSigmaBn, false);
}

#[test]
fn tsbn_fused_matches_pytorch() {
    check(NormKind::Tsbn, true);
}

#[test]
fn tsbn_unfused_matches_pytorch() {
    check(NormKind::Tsbn, false);
}

#[test]
fn shared_bn_fused_matches_pytorch() {
    check(NormKind::SharedBn, true);
}

#[test]
fn shared_bn_unfused_matches_pytorch() {
    check(NormKind::SharedBn, false);
}

/// ReLU's gradient at exactly 0 on both paths, in a whole network: with
/// output channel 0 of `features.1.conv` set to zero, that channel's
/// convolution output is 0 everywhere, its batch variance 0, x̂ = 0, and
/// every norm (TSσBN σ(γ)·0, TSBN γ·0 + β with β = 0 at the start, shared
/// BN 1·0 + 0) hands exact zeros to the ReLU. PyTorch's ReLU passes no
/// gradient at 0 (`threshold_backward(grad, out, 0)`), so nothing reaches
/// that channel: its conv weights and its norm parameters get gradient
/// exactly 0, and every other gradient is the same on the fused and the
/// tensor-op path. With candle's `Tensor::relu` (gradient passed at x ≥ 0)
/// the tensor-op path gave the channel's weights a non-zero gradient
/// (through BN's backward, dx = (g − mean g)/√ε at var = 0).
///
/// ```python
/// # the rule, PyTorch 2.15:
/// x = torch.zeros(3, requires_grad=True); F.relu(x).sum().backward(); x.grad  # [0, 0, 0]
/// ```
#[test]
fn relu_passes_no_gradient_at_exact_zero_on_either_path() {
    let dtype = DType::F64;
    for norm in NormKind::ALL {
        let mut per_path = Vec::new();
        for fused in [true, false] {
            let store = ParamStore::new(dtype, Device::Cpu);
            let mut net = MultiTaskNet::new(
                &twin_spec(),
                norm,
                TASKS,
                NormParams::default(),
                &store.builder(7),
            )
            .unwrap();
            net.fused = fused;
            let params: Vec<_> = store
                .all()
                .into_iter()
                .filter(|(_, kind, _)| *kind != ParamGroupKind::Buffers)
                .collect();
            let (_, _, w) = params
                .iter()
                .find(|(n, _, _)| n == "features.1.conv.weight")
                .expect("features.1.conv.weight");
            let mut v = to_f64(w.as_tensor());
            let per_row = v.len() / w.as_tensor().dim(0).unwrap();
            v[..per_row].iter_mut().for_each(|x| *x = 0.0);
            w.set(&Tensor::from_vec(v, w.as_tensor().shape(), &Device::Cpu).unwrap())
                .unwrap();

            let r = reference();
            let x = get(&r, "input").to_dtype(dtype).unwrap();
            let y = get(&r, "labels").to_dtype(dtype).unwrap();
            let loss = bce_with_logits(&net.forward(&x, true).unwrap(), &y).unwrap();
            let grads = loss.backward().unwrap();
            let path = if fused { "fused" } else { "unfused" };
            let mut got = Vec::new();
            for (name, _, var) in &params {
                let g = grads.get(var.as_tensor()).unwrap();
                let gv = to_f64(g);
                if name == "features.1.conv.weight" {
                    assert!(
                        gv[..per_row].iter().all(|&g| g == 0.0),
                        "{norm} {path}: the dead channel's conv weights got gradient {:?}",
                        &gv[..per_row.min(4)]
                    );
                    assert!(
                        gv.iter().any(|&g| g != 0.0),
                        "{norm} {path}: no gradient at all"
                    );
                }
                if name.starts_with("features.1.norm.") {
                    // Channel 0 of each [C] or [T, C] norm parameter.
                    let c = g.dims().last().copied().unwrap();
                    for (i, g) in gv.iter().enumerate() {
                        if i % c == 0 {
                            assert_eq!(*g, 0.0, "{norm} {path}: {name}[…, 0] gradient");
                        }
                    }
                }
                got.push((name.clone(), gv));
            }
            per_path.push(got);
        }
        for ((name, a), (_, b)) in per_path[0].iter().zip(&per_path[1]) {
            let e = rel_err(a, b);
            assert!(e < TOL_F64, "{norm}: {name} fused vs unfused {e:.3e}");
        }
    }
}
