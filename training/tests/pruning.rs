//! Switching filters off (`diagnose::gates`), on small random TSσBN and
//! TSBN networks in evaluation mode:
//!
//! * switching off only task r's gates leaves every other task's logits
//!   bit-for-bit unchanged (why the pruning matrix removes the filters for
//!   every task instead: the paper's off-diagonal drops are not zero);
//! * removing the filters for every task changes task r's logits exactly as
//!   switching off its own gates does;
//! * the switched-off filters' gates are 0 (σ(−∞) = 0; TSBN γ = β = 0),
//!   and `restore` brings the model back bit-for-bit.

use candle_core::{DType, Device, Tensor};
use mtl_train::diagnose::gates::TaskGates;
use mtl_train::diagnose::pruning::top_k_filters;
use mtl_train::layers::{NormKind, NormParams};
use mtl_train::models::{ConvNetSpec, ConvStage, HeadInit, MultiTaskNet};
use mtl_train::vars::{ParamGroupKind, ParamStore};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const T: usize = 3;
const N: usize = 5;

fn net(norm: NormKind) -> (ParamStore, MultiTaskNet, Tensor) {
    let stage = |out, stride, pool| ConvStage { out, stride, pool };
    let spec = ConvNetSpec {
        in_channels: 3,
        image_size: 8,
        convs: vec![stage(6, 1, true), stage(5, 1, false)],
        fc: vec![4],
        heads: HeadInit::Tied,
    };
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let net = MultiTaskNet::new(&spec, norm, T, NormParams::default(), &store.builder(3)).unwrap();
    // Gates away from their initial values, so tasks rank filters differently.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for (_, var) in store.sorted(ParamGroupKind::Gates) {
        let v = var.as_tensor();
        let r: Vec<f32> = (0..v.elem_count())
            .map(|_| rng.gen_range(-2.0..2.0))
            .collect();
        var.set(&Tensor::from_vec(r, v.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }
    let x: Vec<f32> = (0..N * 3 * 8 * 8).map(|_| rng.r#gen()).collect();
    let x = Tensor::from_vec(x, (N, 3, 8, 8), &Device::Cpu).unwrap();
    (store, net, x)
}

/// Logits `[T][N]` in evaluation mode.
fn logits(net: &MultiTaskNet, x: &Tensor) -> Vec<Vec<f32>> {
    net.forward(x, false)
        .unwrap()
        .t()
        .unwrap()
        .to_vec2()
        .unwrap()
}

fn check(norm: NormKind) {
    let (store, net, x) = net(norm);
    let gates = TaskGates::of(&store, norm, net.norm_layers(), T)
        .unwrap()
        .expect("task-specific norm");
    assert_eq!(gates.filters(), 6 + 5 + 4);
    let base = logits(&net, &x);
    let chosen = top_k_filters(&gates.importance().unwrap(), 3);
    for (r, filters) in chosen.iter().enumerate() {
        let saved = gates.switch_off(filters, Some(r)).unwrap();
        let own = logits(&net, &x);
        // The gates really are off for task r.
        let imp = gates.importance().unwrap();
        for &f in filters {
            assert_eq!(imp[r][f], 0.0, "{norm}: task {r} filter {f}");
        }
        gates.restore(saved).unwrap();
        let saved = gates.switch_off(filters, None).unwrap();
        let removed = logits(&net, &x);
        let imp = gates.importance().unwrap();
        for row in &imp {
            for &f in filters {
                assert_eq!(row[f], 0.0);
            }
        }
        gates.restore(saved).unwrap();
        assert_eq!(logits(&net, &x), base, "{norm}: restore");
        for c in 0..T {
            if c == r {
                assert_ne!(own[c], base[c], "{norm}: task {r} lost its best filters");
                assert_eq!(removed[c], own[c], "{norm}: task {r}, own gates vs removed");
            } else {
                assert_eq!(own[c], base[c], "{norm}: task {r}'s gates reach task {c}");
            }
        }
    }
}

#[test]
fn tssbn_gates_belong_to_one_task() {
    check(NormKind::TsSigmaBn);
}

#[test]
fn tsbn_gates_belong_to_one_task() {
    check(NormKind::Tsbn);
}

#[test]
fn shared_bn_has_no_gates() {
    let (store, net, _) = net(NormKind::SharedBn);
    assert!(
        TaskGates::of(&store, NormKind::SharedBn, net.norm_layers(), T)
            .unwrap()
            .is_none()
    );
}
