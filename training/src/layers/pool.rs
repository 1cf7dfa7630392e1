//! Max pooling with `kernel = stride` (the 2×2 pools of the trunk, paper
//! App. F.1) and a backward pass that routes each window's upstream
//! gradient to one element, its argmax, exactly as PyTorch does.
//!
//! Why not `Tensor::max_pool2d`: candle-core 0.9.2's backward
//! (`backprop.rs`, `Op::MaxPool2D`) multiplies the upstream gradient by
//! `avg_pool(mask)`, i.e. by (number of maxima)/k², instead of dividing by
//! it, so with one maximum per 2×2 window every gradient upstream of a pool
//! comes out scaled by 1/4 — per pool. Adam hides a constant scale; SGD,
//! weight decay, gradient norms and cosines do not.
//!
//! Which element gets the gradient, as PyTorch's CPU kernel decides it
//! (`aten/src/ATen/native/cpu/MaxPoolKernel.cpp`): the window is scanned in
//! row-major order starting from max = −∞ and the index moves on
//! `v > max || v.is_nan()`, so among equal maxima the first wins, a NaN
//! wins over numbers (and the last NaN over earlier ones), and a window of
//! −∞ keeps its first element. Trailing rows/columns that do not fill a
//! window are dropped (`ceil_mode = False`) and get zero gradient.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// `x` `[B, C, H, W]` max-pooled over `k × k` windows with stride `k`:
/// the CPU kernel below on the CPU, [`max_pool2d_tensor_ops`] elsewhere.
pub fn max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    check(x, k)?;
    if !x.device().is_cpu() {
        return max_pool2d_tensor_ops(x, k);
    }
    x.contiguous()?.apply_op1(MaxPool2d { k })
}

/// The same pooling from candle tensor ops whose backward is correct on
/// every device: windows moved to a last axis, `argmax` over it, then
/// `gather` (whose backward is a `scatter_add` to the chosen element), so
/// one element per window gets the whole gradient. On ties it routes to
/// whichever maximum candle's `argmax` picks: the first on the CPU (tested
/// against the kernel), not checked on CUDA (no GPU build here). Unlike
/// PyTorch, a NaN in a window is not propagated unless it comes first
/// (candle's CPU `argmax` skips it).
pub fn max_pool2d_tensor_ops(x: &Tensor, k: usize) -> Result<Tensor> {
    let (b, c, h, w) = check(x, k)?;
    let (ho, wo) = (h / k, w / k);
    let x = x.narrow(2, 0, ho * k)?.narrow(3, 0, wo * k)?;
    let windows = x
        .reshape((b, c, ho, k, wo, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .reshape((b, c, ho, wo, k * k))?;
    let idx = windows.argmax_keepdim(D::Minus1)?;
    windows.gather(&idx, D::Minus1)?.squeeze(D::Minus1)
}

fn check(x: &Tensor, k: usize) -> Result<(usize, usize, usize, usize)> {
    let (b, c, h, w) = x.dims4()?;
    if k == 0 || h < k || w < k {
        bail!("max_pool2d: a {k}×{k} window does not fit a {h}×{w} input (shape {b}×{c}×{h}×{w})");
    }
    Ok((b, c, h, w))
}

trait Elem: Copy + PartialOrd + Default + Send + Sync + 'static {
    const NEG_INF: Self;
    fn is_nan(self) -> bool;
}

impl Elem for f32 {
    const NEG_INF: Self = f32::NEG_INFINITY;
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Elem for f64 {
    const NEG_INF: Self = f64::NEG_INFINITY;
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// PyTorch's step through a window in row-major order: `v` replaces the
/// running maximum `m` when `v > m` or `v` is NaN.
#[inline(always)]
fn replaces<E: Elem>(m: E, v: E) -> bool {
    v > m || v.is_nan()
}

/// The running maximum after seeing `v`.
#[inline(always)]
fn later_wins<E: Elem>(m: E, v: E) -> E {
    if replaces(m, v) { v } else { m }
}

/// Sizes of one pooling: `planes = B·C` planes of `h × w` into `ho × wo`.
#[derive(Clone, Copy)]
struct Plan {
    k: usize,
    planes: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

impl Plan {
    fn new(dims: &[usize], k: usize) -> Result<Self> {
        let &[b, c, h, w] = dims else {
            bail!("max_pool2d expects [B, C, H, W], got {dims:?}");
        };
        if k == 0 || h < k || w < k {
            bail!("max_pool2d: a {k}×{k} window does not fit a {h}×{w} input");
        }
        Ok(Plan {
            k,
            planes: b * c,
            h,
            w,
            ho: h / k,
            wo: w / k,
        })
    }

    /// Index (within the plane) and value of the maximum of window
    /// (`oy`, `ox`), with PyTorch's rule for ties and NaN.
    #[inline]
    fn argmax<E: Elem>(&self, plane: &[E], oy: usize, ox: usize) -> (usize, E) {
        let (y0, x0) = (oy * self.k, ox * self.k);
        let mut best = y0 * self.w + x0;
        let mut max = E::NEG_INF;
        for y in y0..y0 + self.k {
            let row = &plane[y * self.w + x0..y * self.w + x0 + self.k];
            for (dx, &v) in row.iter().enumerate() {
                if replaces(max, v) {
                    max = v;
                    best = y * self.w + x0 + dx;
                }
            }
        }
        (best, max)
    }

    fn forward<E: Elem>(&self, x: &[E]) -> Vec<E> {
        let (plane_in, plane_out) = (self.h * self.w, self.ho * self.wo);
        let mut out = vec![E::default(); self.planes * plane_out];
        out.par_chunks_mut(plane_out)
            .zip(x.par_chunks(plane_in))
            .for_each(|(o, p)| {
                if self.k == 2 {
                    // Values only, no index: this loop vectorises.
                    for (oy, orow) in o.chunks_exact_mut(self.wo).enumerate() {
                        let top = 2 * oy * self.w;
                        let r0 = &p[top..top + 2 * self.wo];
                        let r1 = &p[top + self.w..top + self.w + 2 * self.wo];
                        for (y, (a, b)) in orow
                            .iter_mut()
                            .zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)))
                        {
                            *y = later_wins(later_wins(later_wins(a[0], a[1]), b[0]), b[1]);
                        }
                    }
                } else {
                    for oy in 0..self.ho {
                        for ox in 0..self.wo {
                            o[oy * self.wo + ox] = self.argmax(p, oy, ox).1;
                        }
                    }
                }
            });
        out
    }

    /// The argmax of every 2×2 window of one plane (the trunk's pools),
    /// two rows at a time: `f(oy, ox, index in the plane)`. Same rule as
    /// [`argmax`](Self::argmax); starting from the first element is the
    /// same as starting from −∞.
    #[inline]
    fn argmax_2x2<E: Elem, F: FnMut(usize, usize, usize)>(&self, p: &[E], mut f: F) {
        let w = self.w;
        for oy in 0..self.ho {
            let top = 2 * oy * w;
            let r0 = &p[top..top + 2 * self.wo];
            let r1 = &p[top + w..top + w + 2 * self.wo];
            for (ox, (a, b)) in r0.chunks_exact(2).zip(r1.chunks_exact(2)).enumerate() {
                let (mut max, mut at) = (a[0], 0);
                for (v, i) in [(a[1], 1), (b[0], w), (b[1], w + 1)] {
                    if replaces(max, v) {
                        max = v;
                        at = i;
                    }
                }
                f(oy, ox, top + 2 * ox + at);
            }
        }
    }

    /// dx: each window's upstream gradient at its argmax, 0 elsewhere
    /// (windows do not overlap: stride = k).
    fn backward<E: Elem>(&self, x: &[E], grad: &[E]) -> Vec<E> {
        let (plane_in, plane_out) = (self.h * self.w, self.ho * self.wo);
        let mut dx = vec![E::default(); self.planes * plane_in];
        dx.par_chunks_mut(plane_in)
            .zip(x.par_chunks(plane_in).zip(grad.par_chunks(plane_out)))
            .for_each(|(d, (p, g))| {
                if self.k == 2 {
                    self.argmax_2x2(p, |oy, ox, i| d[i] = g[oy * self.wo + ox]);
                } else {
                    for oy in 0..self.ho {
                        for ox in 0..self.wo {
                            let (i, _) = self.argmax(p, oy, ox);
                            d[i] = g[oy * self.wo + ox];
                        }
                    }
                }
            });
        dx
    }
}

fn contiguous<'a, E>(v: &'a [E], l: &Layout, what: &str) -> Result<&'a [E]> {
    super::cpu_slice::contiguous_slice(v, l, "max_pool2d", what)
}

/// The forward op; its backward is [`MaxPool2dGrad`].
#[derive(Debug, Clone, Copy)]
struct MaxPool2d {
    k: usize,
}

impl CustomOp1 for MaxPool2d {
    fn name(&self) -> &'static str {
        "max-pool2d-argmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let plan = Plan::new(l.dims(), self.k)?;
        let (b, c) = (l.dims()[0], l.dims()[1]);
        let shape = Shape::from((b, c, plan.ho, plan.wo));
        match s {
            CpuStorage::F32(v) => Ok((
                CpuStorage::F32(plan.forward(contiguous(v, l, "input")?)),
                shape,
            )),
            CpuStorage::F64(v) => Ok((
                CpuStorage::F64(plan.forward(contiguous(v, l, "input")?)),
                shape,
            )),
            other => bail!(
                "max_pool2d: the CPU kernel supports f32 and f64, got {:?}; convert with to_dtype",
                other.dtype()
            ),
        }
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let dx = arg.apply_op2_no_bwd(&grad_res.contiguous()?, &MaxPool2dGrad { k: self.k })?;
        Ok(Some(dx))
    }
}

/// `(x, upstream gradient)` → gradient of `x`; no backward of its own.
#[derive(Debug, Clone, Copy)]
struct MaxPool2dGrad {
    k: usize,
}

impl CustomOp2 for MaxPool2dGrad {
    fn name(&self) -> &'static str {
        "max-pool2d-argmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let plan = Plan::new(l1.dims(), self.k)?;
        let (b, c) = (l1.dims()[0], l1.dims()[1]);
        if l2.dims() != [b, c, plan.ho, plan.wo] {
            bail!(
                "max_pool2d backward: gradient {:?} does not match the output of input {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let shape = l1.shape().clone();
        match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => Ok((
                CpuStorage::F32(
                    plan.backward(contiguous(x, l1, "input")?, contiguous(g, l2, "gradient")?),
                ),
                shape,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => Ok((
                CpuStorage::F64(
                    plan.backward(contiguous(x, l1, "input")?, contiguous(g, l2, "gradient")?),
                ),
                shape,
            )),
            _ => bail!(
                "max_pool2d backward: input {:?} and gradient {:?} must both be f32 or f64",
                s1.dtype(),
                s2.dtype()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// The kernel and the tensor-op formulation agree on values and
    /// gradients (distinct values, odd sizes, k = 2 and 3).
    #[test]
    fn kernel_matches_tensor_ops() -> Result<()> {
        for (k, h, w) in [(2, 6, 8), (2, 7, 5), (3, 9, 7)] {
            let n = 2 * 3 * h * w;
            let v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1009) as f32 * 0.01).collect();
            let x = Var::from_vec(v, (2, 3, h, w), &Device::Cpu)?;
            let up_n = 2 * 3 * (h / k) * (w / k);
            let up: Vec<f32> = (0..up_n).map(|i| (i as f32 * 0.3).cos()).collect();
            let up = Tensor::from_vec(up, (2, 3, h / k, w / k), &Device::Cpu)?;
            let a = max_pool2d(x.as_tensor(), k)?;
            let b = max_pool2d_tensor_ops(x.as_tensor(), k)?;
            let diff = (&a - &b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "forward k={k} {h}×{w}");
            let ga = (&a * &up)?.sum_all()?.backward()?;
            let gb = (&b * &up)?.sum_all()?.backward()?;
            let (ga, gb) = (
                ga.get(x.as_tensor()).unwrap(),
                gb.get(x.as_tensor()).unwrap(),
            );
            let diff = (ga - gb)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "backward k={k} {h}×{w}");
        }
        Ok(())
    }

    #[test]
    fn window_larger_than_input_is_an_error() {
        let x = Tensor::zeros((1, 1, 1, 3), DType::F32, &Device::Cpu).unwrap();
        let err = max_pool2d(&x, 2).unwrap_err().to_string();
        assert!(err.contains("does not fit a 1×3 input"), "{err}");
    }
}
