//! The optimiser: which parameters get α·lr and weight decay (paper §4
//! "Discriminative learning rates", §7.1), and Adam / SGD-momentum steps
//! against PyTorch's.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use mtl_train::layers::{NormKind, NormParams};
use mtl_train::models::{ConvNetSpec, ConvStage, HeadInit, MultiTaskNet};
use mtl_train::optim::{Optimizer, OptimizerKind, ParamGroup, param_groups};
use mtl_train::vars::{ParamGroupKind, ParamStore};

/// A GradStore holding exactly `grads` (candle has no public constructor:
/// take the store of a throw-away backward and fill it).
fn grad_store(grads: &[(&Var, Tensor)]) -> GradStore {
    let dummy = Var::new(0f64, &Device::Cpu).unwrap();
    let mut store = dummy.as_tensor().backward().unwrap();
    for (var, g) in grads {
        store.insert(var.as_tensor(), g.clone());
    }
    store
}

fn values(v: &Var) -> Vec<f64> {
    v.as_tensor()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn small_net(norm: NormKind, store: &ParamStore) -> MultiTaskNet {
    let spec = ConvNetSpec {
        in_channels: 3,
        image_size: 8,
        convs: vec![ConvStage {
            out: 4,
            stride: 1,
            pool: true,
        }],
        fc: vec![4],
        heads: HeadInit::Tied,
    };
    MultiTaskNet::new(&spec, norm, 2, NormParams::default(), &store.builder(0)).unwrap()
}

/// One SGD step with gradient 1 everywhere on a real model: every
/// task-specific norm parameter (TSσBN, TSBN: the gate group) moves by
/// exactly α·lr, every other trainable tensor by lr·(1 + wd·θ) — the α
/// multiplier reaches the task-specific gates and only them, weight decay
/// everything but them. Shared BN (HPS) has no gates: its `weight` and
/// `bias` are ordinary parameters at the base lr with weight decay, as
/// PyTorch users train HPS (issue 22: they used to get α·lr and no decay).
/// Buffers are in no group.
#[test]
fn alpha_and_weight_decay_reach_the_right_groups() {
    let (lr, alpha, wd) = (0.01, 7.0, 0.5);
    for norm in NormKind::ALL {
        let store = ParamStore::new(DType::F64, Device::Cpu);
        let net = small_net(norm, &store);
        let groups = param_groups(&store, alpha, wd);
        let gates: Vec<String> = groups[1].vars.iter().map(|(n, _)| n.clone()).collect();
        let norm_params: Vec<String> = store
            .all()
            .into_iter()
            .filter(|(n, kind, _)| {
                *kind != ParamGroupKind::Buffers
                    && net
                        .norm_layers()
                        .iter()
                        .any(|l| n.starts_with(&format!("{l}.")))
            })
            .map(|(n, _, _)| n)
            .collect();
        if norm.is_task_specific() {
            // The gate group is exactly the norm layers' parameters.
            assert_eq!(gates, norm_params, "{norm}: gate group");
            assert!(!gates.is_empty(), "{norm}: no norm parameters");
        } else {
            // Shared BN: no gates; its parameters are ordinary weights.
            assert!(
                gates.is_empty(),
                "{norm}: shared BN in the gate group: {gates:?}"
            );
            let weights: Vec<String> = groups[0].vars.iter().map(|(n, _)| n.clone()).collect();
            let shared_norm = &norm_params;
            assert!(
                !shared_norm.is_empty(),
                "{norm}: the net has no shared norm parameters"
            );
            for n in shared_norm {
                assert!(weights.contains(n), "{norm}: {n} not in the weight group");
            }
        }
        for g in &groups {
            for (name, _) in &g.vars {
                assert!(
                    !name.contains("running_"),
                    "{norm}: buffer {name} in group {}",
                    g.name
                );
            }
        }

        let all: Vec<(String, Var)> = groups.iter().flat_map(|g| g.vars.clone()).collect();
        // Distinct, non-zero starting values so weight decay shows.
        for (i, (_, var)) in all.iter().enumerate() {
            let v = (var.as_tensor().ones_like().unwrap() * (0.5 + 0.1 * i as f64)).unwrap();
            var.set(&v).unwrap();
        }
        let before: Vec<Vec<f64>> = all.iter().map(|(_, v)| values(v)).collect();
        let grads = grad_store(
            &all.iter()
                .map(|(_, v)| (v, v.as_tensor().ones_like().unwrap()))
                .collect::<Vec<_>>(),
        );
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, lr, groups).unwrap();
        opt.step(&grads).unwrap();
        for ((name, var), old) in all.iter().zip(&before) {
            let is_gate = gates.contains(name);
            for (new, old) in values(var).iter().zip(old) {
                let want = if is_gate {
                    old - alpha * lr
                } else {
                    old - lr * (1.0 + wd * old)
                };
                assert!(
                    (new - want).abs() < 1e-12,
                    "{norm}: {name} ({}) moved {old} → {new}, expected {want}",
                    if is_gate { "gate" } else { "weight" }
                );
            }
        }
    }
}

/// Two parameters in two groups, as in training: `w` in the weight group
/// (weight decay 0.1), `g` in the gate group (α = 10, no decay), lr 0.01,
/// two steps with the gradients below. PyTorch 2.15.0, float64:
///
/// ```python
/// import torch
/// def run(kind):
///     w = torch.tensor([0.5, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
///     g = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
///     groups = [{"params": [w], "weight_decay": 0.1},
///               {"params": [g], "lr": 0.01 * 10, "weight_decay": 0.0}]
///     opt = (torch.optim.Adam(groups, lr=0.01) if kind == "adam"
///            else torch.optim.SGD(groups, lr=0.01, momentum=0.9))
///     for gw, gg in [([0.1, -0.2, 0.3], [-0.05, 0.4]), ([-0.3, 0.05, 0.2], [0.2, 0.1])]:
///         w.grad = torch.tensor(gw, dtype=torch.float64)
///         g.grad = torch.tensor(gg, dtype=torch.float64)
///         opt.step()
///         print(kind, [repr(v) for v in w.tolist()], [repr(v) for v in g.tolist()])
/// run("adam"); run("sgd")
/// ```
const GRADS: [([f64; 3], [f64; 2]); 2] = [
    ([0.1, -0.2, 0.3], [-0.05, 0.4]),
    ([-0.3, 0.05, 0.2], [0.2, 0.1]),
];

#[allow(clippy::type_complexity)]
fn steps_like_pytorch(kind: OptimizerKind, want: [([f64; 3], [f64; 2]); 2]) {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-6)] {
        let dev = Device::Cpu;
        let w = Var::from_tensor(
            &Tensor::new(&[0.5f64, -1.2, 2.0], &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let g = Var::from_tensor(
            &Tensor::new(&[0.3f64, -0.7], &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let groups = vec![
            ParamGroup {
                name: "weights",
                vars: vec![("w".into(), w.clone())],
                lr_mult: 1.0,
                weight_decay: 0.1,
            },
            ParamGroup {
                name: "gates",
                vars: vec![("g".into(), g.clone())],
                lr_mult: 10.0,
                weight_decay: 0.0,
            },
        ];
        let mut opt = Optimizer::new(kind, 0.01, groups).unwrap();
        for (step, ((gw, gg), (ww, wg))) in GRADS.iter().zip(want).enumerate() {
            let t = |v: &[f64]| Tensor::new(v, &dev).unwrap().to_dtype(dtype).unwrap();
            opt.step(&grad_store(&[(&w, t(gw)), (&g, t(gg))])).unwrap();
            for (name, got, want) in [
                ("w", values(&w), ww.to_vec()),
                ("g", values(&g), wg.to_vec()),
            ] {
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= tol * b.abs().max(1.0),
                        "{} {dtype:?} step {}: {name} = {got:?}, PyTorch {want:?}",
                        kind.name(),
                        step + 1
                    );
                }
            }
        }
    }
}

#[test]
fn adam_steps_match_pytorch() {
    steps_like_pytorch(
        OptimizerKind::adam(),
        [
            (
                [0.4900000006666666, -1.1900000003125, 1.9900000002],
                [0.399999980000004, -0.7999999975000001],
            ),
            (
                [0.49295244907868235, -1.1818808568826424, 1.9801207305490018],
                [0.3440496344335321, -0.8830597480179945],
            ),
        ],
    );
}

#[test]
fn sgd_momentum_steps_match_pytorch() {
    steps_like_pytorch(
        OptimizerKind::Sgd { momentum: 0.9 },
        [
            ([0.4985, -1.1967999999999999, 1.995], [0.305, -0.74]),
            (
                [0.49965149999999997, -1.1932231999999998, 1.9865050000000002],
                [0.2895, -0.786],
            ),
        ],
    );
}
