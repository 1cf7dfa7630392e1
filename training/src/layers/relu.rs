//! The ReLU after every norm layer on candle's tensor-op path (`--unfused`,
//! and every non-CPU device), with PyTorch's gradient at 0.
//!
//! PyTorch's ReLU backward is `threshold_backward(grad, out, 0)`: the
//! gradient passes where the output is > 0 and is 0 elsewhere, so at an
//! input of exactly 0 it is 0. candle-core 0.9.2's `Tensor::relu` backward
//! multiplies by `x ≥ 0` instead and passes the gradient at 0. Exact zeros
//! before the ReLU are not rare: a filter whose convolution output is
//! constant over the batch normalises to x̂ = 0, and a TSσBN/TSBN/shared
//! BN channel then outputs exactly its shift (0 at initialisation). The
//! fused CPU kernel ([`super::fused`]) already masks with out > 0; this
//! makes the tensor-op path agree with it and with PyTorch (issue 22).
//!
//! Only the activation ReLUs use it: the `relu` inside the BCE-with-logits
//! formula (`models::loss`) must keep candle's `x ≥ 0`, which together with
//! `|x|`'s backward gives BCE's exact derivative σ(x) − y at x = 0.

use candle_core::{Result, Tensor};

/// max(x, 0) with PyTorch's gradient: 0 where x ≤ 0 (so at exactly 0),
/// the upstream gradient elsewhere. Like PyTorch (and the fused kernel,
/// which masks where `out ≤ 0`), NaN stays NaN and passes its gradient.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    // where_cond routes the gradient to `x` only where x ≤ 0 is false;
    // the zero branch is a broadcast scalar, no full-size allocation.
    let zero = Tensor::zeros((), x.dtype(), x.device())?.broadcast_as(x.shape())?;
    x.le(0.0)?.where_cond(&zero, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// Gradient at exact zeros (both signs), negatives, positives and NaN
    /// against PyTorch's rule (`threshold_backward`: 0 where x ≤ 0, grad
    /// elsewhere); values against PyTorch's (NaN stays NaN).
    ///
    /// ```python
    /// x = torch.tensor([-2., -0., 0., 0., 1e-30, 3., float('nan')], requires_grad=True)
    /// up = torch.tensor([1., 2., 3., 4., 5., 6., 7.])
    /// y = F.relu(x); (y * up).sum().backward()
    /// y  # [0, 0, 0, 0, 1e-30, 3, nan]
    /// x.grad  # [0, 0, 0, 0, 5, 6, 7]
    /// ```
    #[test]
    fn gradient_at_zero_is_pytorchs() -> Result<()> {
        for dtype in [DType::F32, DType::F64] {
            let dev = Device::Cpu;
            let xs = [-2.0, -0.0, 0.0, 0.0, 1e-30, 3.0, f64::NAN];
            let up = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
            let x = Var::from_tensor(&Tensor::new(&xs, &dev)?.to_dtype(dtype)?)?;
            let upt = Tensor::new(&up, &dev)?.to_dtype(dtype)?;
            let y = relu(x.as_tensor())?;
            let grads = (&y * &upt)?.sum_all()?.backward()?;
            let g = grads
                .get(x.as_tensor())
                .expect("x has a gradient")
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            let want: Vec<f64> = xs
                .iter()
                .zip(&up)
                .map(|(x, u)| if *x <= 0.0 { 0.0 } else { *u })
                .collect();
            assert_eq!(g, want, "{dtype:?}");
            let got = y.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let candle = x
                .as_tensor()
                .relu()?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            for (i, (a, b)) in got.iter().zip(&candle).enumerate() {
                if xs[i].is_nan() {
                    assert!(a.is_nan(), "{dtype:?}: relu(NaN) = {a}, PyTorch NaN");
                } else if xs[i] <= 0.0 {
                    assert_eq!(a.to_bits(), 0, "{dtype:?} value {i}: +0 expected");
                } else {
                    assert_eq!(a.to_bits(), b.to_bits(), "{dtype:?} value {i}");
                }
            }
            // candle's own relu passes the gradient at 0: what this fixes.
            let grads = (x.as_tensor().relu()? * &upt)?.sum_all()?.backward()?;
            let g = grads.get(x.as_tensor()).expect("gradient");
            assert_eq!(g.to_dtype(DType::F64)?.to_vec1::<f64>()?[2], 3.0);
        }
        Ok(())
    }
}
