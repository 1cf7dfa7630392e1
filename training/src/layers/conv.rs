//! 3×3 convolution as im2col + matrix multiply, with a col2im backward:
//! candle's CPU `conv2d` backward goes through a direct `conv_transpose2d`
//! that took over a quarter of a shapes training step, while the matrix
//! multiplies run on the tuned `gemm` kernels. Same results as
//! `Tensor::conv2d` (tested), so the trunk convolutions stay shared and
//! run once over all tasks' activations.
//!
//! [`conv2d`] runs the chunked kernel of [`super::chunked_conv`], which
//! keeps no patches; the whole-batch [`conv2d_im2col`] is its unchunked
//! twin, kept as the test reference (and [`Im2Col`] for the per-task
//! gradient diagnosis).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// The unfold of `[B, C, H, W]` into `[B, Ho, Wo, C·k·k]` patches.
#[derive(Debug, Clone, Copy)]
pub struct Im2Col {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Im2Col {
    fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        (
            (h + 2 * self.pad - self.k) / self.stride + 1,
            (w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// Visits (col index, x index) pairs of batch item `b`.
    fn for_each<F: FnMut(usize, usize)>(&self, c: usize, h: usize, w: usize, mut f: F) {
        let (ho, wo) = self.out_hw(h, w);
        let kk = c * self.k * self.k;
        for oy in 0..ho {
            for ox in 0..wo {
                let row = (oy * wo + ox) * kk;
                for ch in 0..c {
                    for ky in 0..self.k {
                        let iy = (oy * self.stride + ky) as isize - self.pad as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..self.k {
                            let ix = (ox * self.stride + kx) as isize - self.pad as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            f(
                                row + (ch * self.k + ky) * self.k + kx,
                                (ch * h + iy as usize) * w + ix as usize,
                            );
                        }
                    }
                }
            }
        }
    }

    fn unfold<E: Copy + Default + Send + Sync>(
        &self,
        x: &[E],
        b: usize,
        c: usize,
        h: usize,
        w: usize,
    ) -> Vec<E> {
        let (ho, wo) = self.out_hw(h, w);
        let per_out = ho * wo * c * self.k * self.k;
        let per_in = c * h * w;
        let mut out = vec![E::default(); b * per_out];
        out.par_chunks_mut(per_out).enumerate().for_each(|(i, o)| {
            let xi = &x[i * per_in..(i + 1) * per_in];
            self.for_each(c, h, w, |col, src| o[col] = xi[src]);
        });
        out
    }

    fn fold<E: Copy + Default + Send + Sync + std::ops::AddAssign>(
        &self,
        cols: &[E],
        b: usize,
        c: usize,
        h: usize,
        w: usize,
    ) -> Vec<E> {
        let (ho, wo) = self.out_hw(h, w);
        let per_out = ho * wo * c * self.k * self.k;
        let per_in = c * h * w;
        let mut dx = vec![E::default(); b * per_in];
        dx.par_chunks_mut(per_in).enumerate().for_each(|(i, d)| {
            let ci = &cols[i * per_out..(i + 1) * per_out];
            self.for_each(c, h, w, |col, dst| d[dst] += ci[col]);
        });
        dx
    }
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l.shape().dims4()?;
        let (ho, wo) = self.out_hw(h, w);
        let shape = Shape::from((b, ho, wo, c * self.k * self.k));
        let Some((start, end)) = l.contiguous_offsets() else {
            bail!("im2col expects a contiguous input");
        };
        match s {
            CpuStorage::F32(v) => Ok((
                CpuStorage::F32(self.unfold(&v[start..end], b, c, h, w)),
                shape,
            )),
            CpuStorage::F64(v) => Ok((
                CpuStorage::F64(self.unfold(&v[start..end], b, c, h, w)),
                shape,
            )),
            _ => bail!("im2col supports f32 and f64"),
        }
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (_, c, h, w) = arg.dims4()?;
        let op = Col2Im {
            unfold: *self,
            c,
            h,
            w,
        };
        Ok(Some(grad_res.contiguous()?.apply_op1_no_bwd(&op)?))
    }
}

/// The backward of [`Im2Col`]: patch gradients `[B, Ho, Wo, C·k·k]` summed
/// back into `[B, C, H, W]`, read from the storage in place.
#[derive(Debug, Clone, Copy)]
struct Col2Im {
    unfold: Im2Col,
    c: usize,
    h: usize,
    w: usize,
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, ho, wo, kk) = l.shape().dims4()?;
        let (c, h, w) = (self.c, self.h, self.w);
        let k = self.unfold.k;
        if (ho, wo, kk)
            != (
                self.unfold.out_hw(h, w).0,
                self.unfold.out_hw(h, w).1,
                c * k * k,
            )
        {
            bail!(
                "col2im: patch gradient {:?} does not match input {c}×{h}×{w}",
                l.dims()
            );
        }
        let Some((start, end)) = l.contiguous_offsets() else {
            bail!("col2im expects a contiguous gradient");
        };
        let shape = Shape::from((b, c, h, w));
        match s {
            CpuStorage::F32(v) => Ok((
                CpuStorage::F32(self.unfold.fold(&v[start..end], b, c, h, w)),
                shape,
            )),
            CpuStorage::F64(v) => Ok((
                CpuStorage::F64(self.unfold.fold(&v[start..end], b, c, h, w)),
                shape,
            )),
            _ => bail!("col2im supports f32 and f64"),
        }
    }
}

/// `x` `[B, C, H, W]` convolved with `weight` `[O, C, k, k]`, no bias:
/// the chunked kernel on the CPU, candle's `conv2d` elsewhere.
pub fn conv2d(x: &Tensor, weight: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    if !x.device().is_cpu() {
        return x.conv2d(weight, pad, stride, 1, 1);
    }
    super::chunked_conv::conv2d_chunked(x, weight, stride, pad, Default::default())
}

/// The same convolution as one whole-batch im2col + matmul (CPU), which
/// keeps the `[B·Ho·Wo, C·k·k]` patches for the weight gradient: the
/// reference [`conv2d`]'s chunked kernel is tested against.
pub fn conv2d_im2col(x: &Tensor, weight: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let (b, c, _, _) = x.dims4()?;
    let (o, wc, k, k2) = weight.dims4()?;
    if wc != c || k != k2 {
        bail!(
            "conv2d: weight {:?} does not fit input {:?}",
            weight.dims(),
            x.dims()
        );
    }
    let op = Im2Col { k, stride, pad };
    let cols = x.contiguous()?.apply_op1(op)?;
    let (_, ho, wo, kk) = cols.dims4()?;
    let y = cols
        .reshape((b * ho * wo, kk))?
        .matmul(&weight.reshape((o, kk))?.t()?)?;
    y.reshape((b, ho * wo, o))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, o, ho, wo))
}
