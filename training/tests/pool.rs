//! `layers::pool::max_pool2d` against PyTorch's `F.max_pool2d` on windows
//! with ties, NaN, −∞ and signed zeros: the same output (bit for bit) and
//! the upstream gradient routed to the same element. Reference values from
//! PyTorch 2.15.0 (CPU, float32):
//!
//! ```python
//! import torch, torch.nn.functional as F
//! inf, nan = float("inf"), float("nan")
//! x = torch.tensor([[[[1, 1, 0, 2, 9], [1, 0, 2, 2, 9], [3, -1, 5, 4, 9],
//!                     [-2, 3, 5, 5, 9], [7, 7, 7, 7, 7]],
//!                    [[-inf, -inf, nan, 1, 0], [-inf, -inf, 2, nan, 0],
//!                     [0, 0, -0.0, 0, 0], [0, 0, 0, -0.0, 0], [0, 0, 0, 0, 0]]]],
//!                  dtype=torch.float32, requires_grad=True)
//! y = F.max_pool2d(x, 2)
//! y.backward(torch.arange(1, 9, dtype=torch.float32).reshape(1, 2, 2, 2))
//! print(y.tolist()); print(x.grad.tolist())
//! ```

use candle_core::{DType, Device, Tensor, Var};
use mtl_train::layers::pool::{max_pool2d, max_pool2d_tensor_ops};

const INF: f32 = f32::INFINITY;
const NAN: f32 = f32::NAN;

#[rustfmt::skip]
const X: [f32; 50] = [
    1.0, 1.0, 0.0, 2.0, 9.0,
    1.0, 0.0, 2.0, 2.0, 9.0,
    3.0, -1.0, 5.0, 4.0, 9.0,
    -2.0, 3.0, 5.0, 5.0, 9.0,
    7.0, 7.0, 7.0, 7.0, 7.0,
    -INF, -INF, NAN, 1.0, 0.0,
    -INF, -INF, 2.0, NAN, 0.0,
    0.0, 0.0, -0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, -0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
];

/// PyTorch's output.
const Y: [f32; 8] = [1.0, 2.0, 3.0, 5.0, -INF, NAN, 0.0, -0.0];

/// PyTorch's `x.grad` for upstream gradient 1..=8: the first maximum in
/// row-major order wins a tie (also 0 against −0 and an all-−∞ window),
/// the last NaN wins over numbers, the dropped 5th row and column get 0.
#[rustfmt::skip]
const DX: [f32; 50] = [
    1.0, 0.0, 0.0, 2.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    3.0, 0.0, 4.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    5.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 6.0, 0.0,
    7.0, 0.0, 8.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
];

fn upstream(dtype: DType) -> Tensor {
    Tensor::arange(1f32, 9f32, &Device::Cpu)
        .unwrap()
        .reshape((1, 2, 2, 2))
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn as_f32(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn ties_nan_and_signed_zero_match_pytorch() {
    for dtype in [DType::F32, DType::F64] {
        let x = Var::from_tensor(
            &Tensor::from_slice(&X, (1, 2, 5, 5), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let y = max_pool2d(x.as_tensor(), 2).unwrap();
        assert_eq!(y.dims(), &[1, 2, 2, 2]);
        let got = as_f32(&y);
        for (i, (g, w)) in got.iter().zip(Y).enumerate() {
            // Bitwise: NaN is NaN and −0 stays −0.
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{dtype:?} output {i}: {g} vs PyTorch {w}"
            );
        }
        let grads = (y * upstream(dtype))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // The loss is NaN (a NaN maximum), the gradient of x is not.
        let dx = as_f32(grads.get(x.as_tensor()).unwrap());
        assert_eq!(dx, DX.to_vec(), "{dtype:?} gradient");
    }
}

/// A strided (non-contiguous) input is pooled as its contiguous copy.
#[test]
fn non_contiguous_input() {
    let x = Tensor::from_slice(&X[..25], (1, 1, 5, 5), &Device::Cpu).unwrap();
    let xt = x.transpose(2, 3).unwrap();
    let a = max_pool2d(&xt, 2).unwrap();
    let b = max_pool2d(&xt.contiguous().unwrap(), 2).unwrap();
    assert_eq!(as_f32(&a), as_f32(&b));
}

/// The device-independent formulation routes ties the same way (NaN
/// aside: candle's `argmax` skips it, see its doc).
#[test]
fn tensor_op_fallback_matches_on_ties() {
    let finite: Vec<f32> = X[..25].to_vec();
    let x = Var::from_vec(finite, (1, 1, 5, 5), &Device::Cpu).unwrap();
    let up = upstream(DType::F32).narrow(1, 0, 1).unwrap();
    let y = max_pool2d_tensor_ops(x.as_tensor(), 2).unwrap();
    assert_eq!(as_f32(&y), Y[..4].to_vec());
    let grads = (y * up).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(as_f32(grads.get(x.as_tensor()).unwrap()), DX[..25].to_vec());
}
