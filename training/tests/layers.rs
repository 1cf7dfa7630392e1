//! TSσBN, TSBN and shared BN against reference values and invariants.
//!
//! The numbers come from `reference/ts_sigma_bn.py` (numpy, analytic batch
//! norm gradient checked there against finite differences), written to
//! `reference/ts_sigma_bn_values.rs`. The inputs are closed-form:
//! x[i] = sin(0.37 i + 0.1)(1 + 0.5 cos(0.11 i)), upstream gradient
//! g[i] = cos(0.23 i), γ[t, c] = 0.3 (t + 1) − 0.5 c, T = 2, N = 3, C = 2,
//! H = 2, W = 3.

use candle_core::{DType, Device, Tensor, Var};
use mtl_train::layers::{NormParams, SharedBn, TaskLayout, TsSigmaBn, Tsbn};
use mtl_train::vars::{ParamGroupKind, ParamStore};

#[allow(dead_code)]
mod reference {
    include!("reference/ts_sigma_bn_values.rs");
}

const T: usize = 2;
const N: usize = 3;
const C: usize = 2;
const H: usize = 2;
const W: usize = 3;

fn inputs(rows: usize, dtype: DType) -> Tensor {
    let v: Vec<f64> = (0..rows * C * H * W)
        .map(|i| {
            let i = i as f64;
            (0.37 * i + 0.1).sin() * (1.0 + 0.5 * (0.11 * i).cos())
        })
        .collect();
    Tensor::from_vec(v, (rows, C, H, W), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn upstream(dtype: DType) -> Tensor {
    let v: Vec<f64> = (0..T * N * C * H * W)
        .map(|i| (0.23 * i as f64).cos())
        .collect();
    Tensor::from_vec(v, (T * N, C, H, W), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn gate_var(store: &ParamStore, name: &str) -> Var {
    store
        .sorted(ParamGroupKind::Gates)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap()
}

fn sigma_bn(dtype: DType) -> (ParamStore, TsSigmaBn) {
    let store = ParamStore::new(dtype, Device::Cpu);
    let layer = TsSigmaBn::new(&store.builder(0).pp("norm"), T, C, NormParams::default()).unwrap();
    let g: Vec<f64> = (0..T)
        .flat_map(|t| (0..C).map(move |c| 0.3 * (t + 1) as f64 - 0.5 * c as f64))
        .collect();
    let g = Tensor::from_vec(g, (T, C), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    gate_var(&store, "norm.gamma").set(&g).unwrap();
    (store, layer)
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

struct Reference {
    y: &'static [f64],
    dx: &'static [f64],
    dgamma: &'static [f64],
    running_mean: &'static [f64],
    running_var: &'static [f64],
}

fn check_against_numpy(rows: usize, r: Reference) {
    let (_store, layer) = sigma_bn(DType::F64);
    let layout = TaskLayout::all(T, N);
    let x = Var::from_tensor(&inputs(rows, DType::F64)).unwrap();
    let y = layer.forward(x.as_tensor(), layout, true).unwrap();
    assert_eq!(y.dims(), &[T * N, C, H, W]);
    assert_close(&to_vec(&y), r.y, 1e-8, "y");
    let loss = (y * upstream(DType::F64)).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    assert_close(&to_vec(grads.get(x.as_tensor()).unwrap()), r.dx, 1e-8, "dx");
    assert_close(
        &to_vec(grads.get(&layer.gamma).unwrap()),
        r.dgamma,
        1e-8,
        "dgamma",
    );
    assert_close(
        &to_vec(layer.running_mean.as_tensor()),
        r.running_mean,
        1e-8,
        "running_mean",
    );
    assert_close(
        &to_vec(layer.running_var.as_tensor()),
        r.running_var,
        1e-8,
        "running_var",
    );
}

#[test]
fn ts_sigma_bn_matches_numpy_task_major() {
    use reference::*;
    check_against_numpy(
        T * N,
        Reference {
            y: &BATCHED_Y,
            dx: &BATCHED_DX,
            dgamma: &BATCHED_DGAMMA,
            running_mean: &BATCHED_RUNNING_MEAN,
            running_var: &BATCHED_RUNNING_VAR,
        },
    );
}

#[test]
fn ts_sigma_bn_matches_numpy_shared_input() {
    use reference::*;
    check_against_numpy(
        N,
        Reference {
            y: &SHARED_Y,
            dx: &SHARED_DX,
            dgamma: &SHARED_DGAMMA,
            running_mean: &SHARED_RUNNING_MEAN,
            running_var: &SHARED_RUNNING_VAR,
        },
    );
}

#[test]
fn batched_tasks_equal_the_per_task_loop() {
    for rows in [T * N, N] {
        let (_store, layer) = sigma_bn(DType::F32);
        let layout = TaskLayout::all(T, N);
        let x = Var::from_tensor(&inputs(rows, DType::F32)).unwrap();
        let g = upstream(DType::F32);
        let batched = layer.forward(x.as_tensor(), layout, true).unwrap();
        let looped = layer
            .forward_per_task_reference(x.as_tensor(), layout)
            .unwrap();
        assert_close(&to_vec(&batched), &to_vec(&looped), 1e-5, "forward");
        let gb = (batched * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gl = (looped * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (what, t) in [("dx", x.as_tensor()), ("dgamma", &layer.gamma)] {
            assert_close(
                &to_vec(gb.get(t).unwrap()),
                &to_vec(gl.get(t).unwrap()),
                1e-5,
                what,
            );
        }
    }
}

#[test]
fn one_dimensional_features_normalise_per_task() {
    let (_store, layer) = sigma_bn(DType::F64);
    let layout = TaskLayout::all(T, N);
    // [T·N, C] features: each task's column has mean 0 and (biased) variance
    // ≈ σ(γ)² after the layer.
    let v: Vec<f64> = (0..T * N * C)
        .map(|i| (i as f64 * 0.7).sin() * 3.0 + 1.0)
        .collect();
    let x = Tensor::from_vec(v, (T * N, C), &Device::Cpu).unwrap();
    let y = to_vec(&layer.forward(&x, layout, true).unwrap());
    for t in 0..T {
        for c in 0..C {
            let col: Vec<f64> = (0..N).map(|n| y[(t * N + n) * C + c]).collect();
            let mean = col.iter().sum::<f64>() / N as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / N as f64;
            let s = 1.0 / (1.0 + (-(0.3 * (t + 1) as f64 - 0.5 * c as f64)).exp());
            assert!(mean.abs() < 1e-9);
            assert!(
                (var - s * s).abs() < 1e-3,
                "t {t} c {c}: var {var} vs {}",
                s * s
            );
        }
    }
}

#[test]
fn eval_mode_uses_running_statistics() {
    let (_store, layer) = sigma_bn(DType::F64);
    let layout = TaskLayout::all(T, N);
    let x = inputs(T * N, DType::F64);
    // Fresh running stats are mean 0, var 1: eval output = σ(γ)·x/√(1+ε).
    let y = to_vec(&layer.forward(&x, layout, false).unwrap());
    let xv = to_vec(&x);
    let per_sample = C * H * W;
    for (i, (yv, xi)) in y.iter().zip(&xv).enumerate() {
        let t = i / (N * per_sample);
        let c = (i % per_sample) / (H * W);
        let s = 1.0 / (1.0 + (-(0.3 * (t + 1) as f64 - 0.5 * c as f64)).exp());
        assert!((yv - s * xi / (1.0 + 1e-5f64).sqrt()).abs() < 1e-12);
    }
    // Eval mode leaves the running statistics alone.
    assert_eq!(to_vec(layer.running_mean.as_tensor()), vec![0.0; T * C]);
}

#[test]
fn tsbn_at_init_is_plain_normalisation_and_uses_beta() {
    let store = ParamStore::new(DType::F64, Device::Cpu);
    let layer = Tsbn::new(&store.builder(0).pp("norm"), T, C, NormParams::default()).unwrap();
    let layout = TaskLayout::all(T, N);
    let x = inputs(T * N, DType::F64);
    let y0 = to_vec(&layer.forward(&x, layout, true).unwrap());
    let beta = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], (T, C), &Device::Cpu).unwrap();
    gate_var(&store, "norm.beta").set(&beta).unwrap();
    let y1 = to_vec(&layer.forward(&x, layout, true).unwrap());
    let per_sample = C * H * W;
    for (i, (a, b)) in y0.iter().zip(&y1).enumerate() {
        let t = i / (N * per_sample);
        let c = (i % per_sample) / (H * W);
        assert!((b - a - (1.0 + (t * C + c) as f64)).abs() < 1e-12);
    }
}

#[test]
fn shared_bn_keeps_one_path() {
    let store = ParamStore::new(DType::F64, Device::Cpu);
    let layer = SharedBn::new(&store.builder(0).pp("norm"), C, NormParams::default()).unwrap();
    let x = inputs(N, DType::F64);
    let y = layer.forward(&x, true).unwrap();
    assert_eq!(y.dims(), &[N, C, H, W]);
    // Equals TSσBN's x̂ scaled by 2 (σ(0) = 0.5 there, weight 1 here).
    let (_s, sb) = {
        let store = ParamStore::new(DType::F64, Device::Cpu);
        let l = TsSigmaBn::new(&store.builder(0).pp("norm"), 1, C, NormParams::default()).unwrap();
        (store, l)
    };
    let ys = to_vec(&sb.forward(&x, TaskLayout::all(1, N), true).unwrap());
    assert_close(
        &to_vec(&y),
        &ys.iter().map(|v| v * 2.0).collect::<Vec<_>>(),
        1e-12,
        "bn",
    );
}

/// The fused CPU kernel against the composite tensor-op layer (then ReLU),
/// forward and gradients, for every norm kind, shared and task-major
/// inputs, training and evaluation.
#[test]
fn fused_kernel_equals_composite_ops() {
    use mtl_train::layers::{NormKind, TaskNorm};
    for kind in NormKind::ALL {
        for rows in [T * N, N] {
            for train in [true, false] {
                for relu in [true, false] {
                    if kind == NormKind::SharedBn && rows != N {
                        continue;
                    }
                    let store = ParamStore::new(DType::F64, Device::Cpu);
                    let layer = TaskNorm::new(
                        kind,
                        &store.builder(0).pp("norm"),
                        T,
                        C,
                        NormParams::default(),
                    )
                    .unwrap();
                    // Non-trivial parameters and running statistics.
                    for (i, (_, v)) in store.sorted(ParamGroupKind::Gates).into_iter().enumerate() {
                        let n = v.elem_count();
                        let vals: Vec<f64> = (0..n)
                            .map(|j| 0.4 * ((j + 3 * i) as f64).sin() + 0.3)
                            .collect();
                        v.set(&Tensor::from_vec(vals, v.shape(), &Device::Cpu).unwrap())
                            .unwrap();
                    }
                    for (i, (_, v)) in store
                        .sorted(ParamGroupKind::Buffers)
                        .into_iter()
                        .enumerate()
                    {
                        let n = v.elem_count();
                        let vals: Vec<f64> =
                            (0..n).map(|j| 0.2 * ((j + i) as f64).cos() + 0.8).collect();
                        v.set(&Tensor::from_vec(vals, v.shape(), &Device::Cpu).unwrap())
                            .unwrap();
                    }
                    let tasks = if kind == NormKind::SharedBn { 1 } else { T };
                    let layout = TaskLayout::all(T, N);
                    let x = Var::from_tensor(&inputs(rows, DType::F64)).unwrap();
                    let composite = layer.forward(x.as_tensor(), layout, train).unwrap();
                    let composite = if relu {
                        composite.relu().unwrap()
                    } else {
                        composite
                    };
                    let fused = match &layer {
                        TaskNorm::TsSigmaBn(l) => {
                            l.forward_fused(x.as_tensor(), layout, train, relu)
                        }
                        TaskNorm::Tsbn(l) => l.forward_fused(x.as_tensor(), layout, train, relu),
                        TaskNorm::SharedBn(l) => l.forward_fused(x.as_tensor(), train, relu),
                    }
                    .unwrap();
                    let what = format!("{kind} rows {rows} train {train} relu {relu}");
                    assert_close(&to_vec(&fused), &to_vec(&composite), 1e-10, &what);
                    let g = upstream(DType::F64).narrow(0, 0, tasks * N).unwrap();
                    let gc = (composite * &g)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let gf = (fused * &g).unwrap().sum_all().unwrap().backward().unwrap();
                    let mut targets = vec![x.as_tensor().clone()];
                    targets.extend(
                        store
                            .sorted(ParamGroupKind::Gates)
                            .into_iter()
                            .map(|(_, v)| v.as_tensor().clone()),
                    );
                    for t in &targets {
                        assert_close(
                            &to_vec(gf.get(t).unwrap()),
                            &to_vec(gc.get(t).unwrap()),
                            1e-9,
                            &format!("{what} grad"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn fused_kernel_matches_numpy_and_running_statistics() {
    use reference::*;
    for (rows, y, dx, dg, rm, rv) in [
        (
            T * N,
            &BATCHED_Y[..],
            &BATCHED_DX[..],
            &BATCHED_DGAMMA[..],
            &BATCHED_RUNNING_MEAN[..],
            &BATCHED_RUNNING_VAR[..],
        ),
        (
            N,
            &SHARED_Y[..],
            &SHARED_DX[..],
            &SHARED_DGAMMA[..],
            &SHARED_RUNNING_MEAN[..],
            &SHARED_RUNNING_VAR[..],
        ),
    ] {
        let (_store, layer) = sigma_bn(DType::F64);
        let layout = TaskLayout::all(T, N);
        let x = Var::from_tensor(&inputs(rows, DType::F64)).unwrap();
        let out = layer
            .forward_fused(x.as_tensor(), layout, true, false)
            .unwrap();
        assert_close(&to_vec(&out), y, 1e-8, "y");
        let grads = (out * upstream(DType::F64))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_close(&to_vec(grads.get(x.as_tensor()).unwrap()), dx, 1e-8, "dx");
        assert_close(
            &to_vec(grads.get(&layer.gamma).unwrap()),
            dg,
            1e-8,
            "dgamma",
        );
        assert_close(
            &to_vec(layer.running_mean.as_tensor()),
            rm,
            1e-8,
            "running_mean",
        );
        assert_close(
            &to_vec(layer.running_var.as_tensor()),
            rv,
            1e-8,
            "running_var",
        );
    }
}

/// The chunked convolution (`conv2d`, the training path) and its
/// whole-batch im2col twin equal candle's `conv2d`, forward and gradients,
/// with stride 1 and 2 (even sizes: candle's own conv2d backward mis-sizes
/// the input gradient for odd inputs at stride 2).
#[test]
fn im2col_conv_equals_candle_conv2d() {
    use mtl_train::layers::conv::{conv2d, conv2d_im2col};
    type Conv = fn(&Tensor, &Tensor, usize, usize) -> candle_core::Result<Tensor>;
    let convs: [(Conv, &str); 2] = [(conv2d, "chunked"), (conv2d_im2col, "im2col")];
    let dev = Device::Cpu;
    let xv: Vec<f64> = (0..2 * 3 * 8 * 6)
        .map(|i| ((i as f64) * 0.31).sin())
        .collect();
    let wv: Vec<f64> = (0..4 * 3 * 3 * 3)
        .map(|i| ((i as f64) * 0.17).cos())
        .collect();
    for ((conv, name), stride) in convs.into_iter().flat_map(|c| [(c, 1), (c, 2)]) {
        let x =
            Var::from_tensor(&Tensor::from_vec(xv.clone(), (2, 3, 8, 6), &dev).unwrap()).unwrap();
        let w =
            Var::from_tensor(&Tensor::from_vec(wv.clone(), (4, 3, 3, 3), &dev).unwrap()).unwrap();
        let ours = conv(x.as_tensor(), w.as_tensor(), stride, 1).unwrap();
        let theirs = x
            .as_tensor()
            .conv2d(w.as_tensor(), 1, stride, 1, 1)
            .unwrap();
        assert_eq!(ours.dims(), theirs.dims());
        assert_close(&to_vec(&ours), &to_vec(&theirs), 1e-10, name);
        let g = Tensor::from_vec(
            (0..theirs.elem_count())
                .map(|i| (i as f64 * 0.05).sin())
                .collect::<Vec<_>>(),
            theirs.shape(),
            &dev,
        )
        .unwrap();
        let go = (ours * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gt = (theirs * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for t in [x.as_tensor(), w.as_tensor()] {
            assert_close(
                &to_vec(go.get(t).unwrap()),
                &to_vec(gt.get(t).unwrap()),
                1e-9,
                &format!("{name} grad"),
            );
        }
    }
}
