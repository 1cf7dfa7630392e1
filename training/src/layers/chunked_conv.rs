//! The CPU convolution of the trunk: im2col patches built a row chunk at a
//! time and multiplied by the weight with `gemm`, so the op keeps only its
//! input and weight for the backward pass (issue 11, "Memory").
//!
//! The whole-batch im2col ([`super::conv::conv2d_im2col`], the reference
//! this op is tested against) kept its `[B·Ho·Wo, C·k·k]` patch buffer alive
//! for the weight gradient: about two thirds of a CelebA step's saved
//! activations. Here the forward pass writes each chunk's product straight
//! into the NCHW output, and the backward pass recomputes the patches chunk
//! by chunk for dW = Σ dY_c · P_cᵀ and folds dP_c = Wᵀ · dY_c back into dx
//! (col2im), never holding more than one chunk per worker thread.
//!
//! A chunk is either a few whole images (small feature maps) or a run of
//! output rows inside one image (large ones), a bounded number of patch
//! values ([`ChunkSize`]). The chunking depends only on the shapes, never on the number of
//! threads, and the weight gradient is summed over a fixed number of
//! groups in a fixed order, so results are the same on every machine.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// How the op cuts its work; [`ChunkSize::default`] is what training uses,
/// tests shrink it to put chunk boundaries everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSize {
    /// Target patch values per chunk (per worker thread).
    pub elems: usize,
    /// Fewest output rows in a chunk, so `gemm` gets a useful inner size
    /// even for wide layers.
    pub min_rows: usize,
    /// Number of partial weight gradients summed at the end, in order
    /// (fixed, so the result does not depend on the thread count).
    pub groups: usize,
}

impl Default for ChunkSize {
    /// 2²⁰ patch values (4 MiB of f32) and at least 256 rows a chunk,
    /// 8 weight-gradient groups.
    fn default() -> Self {
        ChunkSize {
            elems: 1 << 20,
            min_rows: 256,
            groups: 8,
        }
    }
}

/// Element types the op supports.
pub trait Elem:
    Copy + Default + Send + Sync + std::ops::AddAssign + std::fmt::Debug + 'static
{
    const ONE: Self;
}

impl Elem for f32 {
    const ONE: Self = 1.0;
}

impl Elem for f64 {
    const ONE: Self = 1.0;
}

/// A strided matrix view for [`matmul`]: element (i, j) is at
/// `data[i·rs + j·cs]`.
struct Mat<'a, E> {
    data: &'a [E],
    rs: usize,
    cs: usize,
}

impl<E> Mat<'_, E> {
    /// The last index an `rows × cols` view touches, checked against the slice.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.rs + (cols - 1) * self.cs;
            assert!(last < self.data.len(), "matmul: {what} view out of bounds");
        }
    }
}

/// `dst[m × n] (+)= lhs[m × k] · rhs[k × n]`, `dst` contiguous row-major,
/// single-threaded (the callers parallelise over chunks).
fn matmul<E: Elem>(dst: &mut [E], accumulate: bool, lhs: Mat<E>, rhs: Mat<E>, m: usize, k: usize) {
    let n = dst.len().checked_div(m).unwrap_or(0);
    assert_eq!(dst.len(), m * n, "matmul: destination is not m × n");
    lhs.check(m, k, "lhs");
    rhs.check(k, n, "rhs");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(E::default());
        }
        return;
    }
    // SAFETY: every index gemm reads or writes is inside the slices: the
    // views' last elements are checked above and `dst` is exactly m × n,
    // row-major; `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            E::ONE,
            E::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Sizes of one convolution of `[B, C, H, W]` by `[O, C, k, k]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    ho: usize,
    wo: usize,
    chunk: ChunkSize,
}

/// A range of output rows (global index `image · Ho·Wo + oy · Wo + ox`).
#[derive(Debug, Clone, Copy)]
struct Chunk {
    start: usize,
    len: usize,
}

impl Geometry {
    fn new(x: &[usize], wt: &[usize], stride: usize, pad: usize, chunk: ChunkSize) -> Result<Self> {
        let (&[b, c, h, w], &[o, wc, k, k2]) = (x, wt) else {
            bail!(
                "conv2d expects an input [B, C, H, W] and a weight [O, C, k, k], got {x:?} and {wt:?}"
            );
        };
        if wc != c || k != k2 || k == 0 || stride == 0 || h + 2 * pad < k || w + 2 * pad < k {
            bail!(
                "conv2d: weight {wt:?} does not fit input {x:?} (stride {stride}, padding {pad})"
            );
        }
        Ok(Geometry {
            b,
            c,
            h,
            w,
            o,
            k,
            stride,
            pad,
            ho: (h + 2 * pad - k) / stride + 1,
            wo: (w + 2 * pad - k) / stride + 1,
            chunk,
        })
    }

    /// Patch length `C·k·k`.
    fn kk(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Output rows of one image.
    fn rows(&self) -> usize {
        self.ho * self.wo
    }

    /// Images per work item and rows per chunk: several whole images per
    /// chunk when an image's patches are small, else one image per item cut
    /// into chunks of `rows_per_chunk` rows.
    fn plan(&self) -> (usize, usize) {
        let target = (self.chunk.elems / self.kk().max(1)).max(self.chunk.min_rows.max(1));
        let rows = self.rows().max(1);
        if rows <= target {
            let images = (target / rows).clamp(1, self.b.max(1));
            (images, images * rows)
        } else {
            (1, target)
        }
    }

    /// The chunks of work item `images` (a range of whole images).
    fn chunks(&self, first_image: usize, images: usize) -> impl Iterator<Item = Chunk> {
        let (_, per_chunk) = self.plan();
        let start = first_image * self.rows();
        let end = (first_image + images) * self.rows();
        (start..end).step_by(per_chunk.max(1)).map(move |s| Chunk {
            start: s,
            len: per_chunk.min(end - s),
        })
    }

    /// The output columns `ox` whose tap `kx` lies inside the input:
    /// `0 ≤ ox·stride + kx − pad < w`.
    fn inside(&self, kx: usize) -> std::ops::Range<usize> {
        let (stride, pad, w) = (self.stride, self.pad, self.w);
        let first = pad.saturating_sub(kx).div_ceil(stride);
        // Last: the largest ox with ox·stride ≤ w − 1 + pad − kx.
        let end = match (w + pad).checked_sub(kx + 1) {
            Some(room) => room / stride + 1,
            None => 0,
        };
        first.min(self.wo)..end.min(self.wo).max(first.min(self.wo))
    }

    /// Walks the transposed patches `[C·k·k, len]` of `chunk` in runs along
    /// an output row: `f(patch index, Some(input index), n)` for `n`
    /// values that read the input at `input index + q·stride`, `q < n`, and
    /// `f(patch index, None, n)` for `n` values of zero padding. Every patch
    /// value is in exactly one run. Input indices count from the chunk's
    /// first image.
    #[inline(always)]
    fn runs<F: FnMut(usize, Option<usize>, usize)>(&self, chunk: Chunk, mut f: F) {
        let (k, rows, n) = (self.k, self.rows(), chunk.len);
        let first_image = chunk.start / rows;
        let plane = self.h * self.w;
        for j in 0..self.kk() {
            let (ch, ky, kx) = (j / (k * k), (j / k) % k, j % k);
            let inside = self.inside(kx);
            let mut r = chunk.start;
            while r < chunk.start + n {
                let (image, local) = (r / rows, r % rows);
                let (oy, ox0) = (local / self.wo, local % self.wo);
                let ox1 = self.wo.min(ox0 + chunk.start + n - r);
                let dst = j * n + (r - chunk.start);
                let iy = (oy * self.stride + ky) as isize - self.pad as isize;
                if iy >= 0 && (iy as usize) < self.h {
                    let base = ((image - first_image) * self.c + ch) * plane + iy as usize * self.w;
                    let lo = inside.start.clamp(ox0, ox1);
                    let hi = inside.end.clamp(lo, ox1);
                    if lo > ox0 {
                        f(dst, None, lo - ox0);
                    }
                    if hi > lo {
                        // ix = ox·stride + kx − pad ≥ 0 for ox ≥ inside.start.
                        let ix = lo * self.stride + kx - self.pad;
                        f(dst + lo - ox0, Some(base + ix), hi - lo);
                    }
                    if ox1 > hi {
                        f(dst + hi - ox0, None, ox1 - hi);
                    }
                } else {
                    f(dst, None, ox1 - ox0);
                }
                r += ox1 - ox0;
            }
        }
    }

    /// The transposed patches `[C·k·k, len]` of `chunk` into `buf` (every
    /// value written, padding included); `x` holds the chunk's images from
    /// its first one on.
    fn unfold<E: Elem>(&self, x: &[E], chunk: Chunk, buf: &mut Vec<E>) {
        buf.resize(self.kk() * chunk.len, E::default());
        let stride = self.stride;
        self.runs(chunk, |p, src, n| {
            let dst = &mut buf[p..p + n];
            match src {
                None => dst.fill(E::default()),
                Some(i) if stride == 1 => dst.copy_from_slice(&x[i..i + n]),
                Some(i) => {
                    for (q, d) in dst.iter_mut().enumerate() {
                        *d = x[i + q * stride];
                    }
                }
            }
        });
    }

    /// Adds the transposed patch gradients `[C·k·k, len]` of `chunk` into
    /// `dx` (col2im), which holds the chunk's images from its first one on.
    fn fold<E: Elem>(&self, cols: &[E], chunk: Chunk, dx: &mut [E]) {
        let stride = self.stride;
        self.runs(chunk, |p, src, n| {
            let Some(i) = src else { return };
            let cols = &cols[p..p + n];
            if stride == 1 {
                for (d, &v) in dx[i..i + n].iter_mut().zip(cols) {
                    *d += v;
                }
            } else {
                for (q, &v) in cols.iter().enumerate() {
                    dx[i + q * stride] += v;
                }
            }
        });
    }

    /// Calls `f(offset in [O, len], offset in the NCHW tensor, run length)`
    /// for every run of output rows of `chunk` that is contiguous in both;
    /// NCHW offsets count from the chunk's first image.
    #[inline]
    fn row_runs<F: FnMut(usize, usize, usize)>(&self, chunk: Chunk, mut f: F) {
        let (rows, n) = (self.rows(), chunk.len);
        let first_image = chunk.start / rows;
        let mut r = chunk.start;
        while r < chunk.start + n {
            let (image, local) = (r / rows, r % rows);
            let len = (rows - local).min(chunk.start + n - r);
            for oc in 0..self.o {
                let at = ((image - first_image) * self.o + oc) * rows + local;
                f(oc * n + (r - chunk.start), at, len);
            }
            r += len;
        }
    }

    /// Copies the chunk's `[O, len]` product into the NCHW output.
    fn scatter_rows<E: Elem>(&self, chunk: Chunk, tmp: &[E], y: &mut [E]) {
        self.row_runs(chunk, |t, at, len| {
            y[at..at + len].copy_from_slice(&tmp[t..t + len])
        });
    }

    /// Copies the chunk's rows of the NCHW gradient into `[O, len]`.
    fn gather_rows<E: Elem>(&self, chunk: Chunk, dy: &[E], tmp: &mut [E]) {
        self.row_runs(chunk, |t, at, len| {
            tmp[t..t + len].copy_from_slice(&dy[at..at + len])
        });
    }

    fn forward<E: Elem>(&self, x: &[E], wt: &[E]) -> Vec<E> {
        let (images, _) = self.plan();
        let (kk, plane_in, plane_out) = (self.kk(), self.c * self.h * self.w, self.o * self.rows());
        let mut y = vec![E::default(); self.b * plane_out];
        if y.is_empty() {
            return y;
        }
        y.par_chunks_mut(images * plane_out)
            .zip(x.par_chunks(images * plane_in))
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(patches, tmp), (item, (y, x))| {
                    let first = item * images;
                    let count = y.len() / plane_out;
                    for chunk in self.chunks(first, count) {
                        let skip = (chunk.start / self.rows() - first) * plane_in;
                        self.unfold(&x[skip..], chunk, patches);
                        tmp.resize(self.o * chunk.len, E::default());
                        let lhs = Mat {
                            data: wt,
                            rs: kk,
                            cs: 1,
                        };
                        let rhs = Mat {
                            data: patches,
                            rs: chunk.len,
                            cs: 1,
                        };
                        matmul(tmp, false, lhs, rhs, self.o, kk);
                        let skip = (chunk.start / self.rows() - first) * plane_out;
                        self.scatter_rows(chunk, tmp, &mut y[skip..]);
                    }
                },
            );
        y
    }

    /// dx = col2im(Wᵀ · dY), chunk by chunk.
    fn input_grad<E: Elem>(&self, dy: &[E], wt: &[E]) -> Vec<E> {
        let (images, _) = self.plan();
        let (kk, plane_in, plane_out) = (self.kk(), self.c * self.h * self.w, self.o * self.rows());
        let mut dx = vec![E::default(); self.b * plane_in];
        if dx.is_empty() {
            return dx;
        }
        dx.par_chunks_mut(images * plane_in)
            .zip(dy.par_chunks(images * plane_out))
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, tmp), (item, (dx, dy))| {
                    let first = item * images;
                    let count = dx.len() / plane_in;
                    for chunk in self.chunks(first, count) {
                        let skip = (chunk.start / self.rows() - first) * plane_out;
                        tmp.resize(self.o * chunk.len, E::default());
                        self.gather_rows(chunk, &dy[skip..], tmp);
                        cols.resize(kk * chunk.len, E::default());
                        let lhs = Mat {
                            data: wt,
                            rs: 1,
                            cs: kk,
                        };
                        let rhs = Mat {
                            data: tmp,
                            rs: chunk.len,
                            cs: 1,
                        };
                        matmul(cols, false, lhs, rhs, kk, self.o);
                        let skip = (chunk.start / self.rows() - first) * plane_in;
                        self.fold(cols, chunk, &mut dx[skip..]);
                    }
                },
            );
        dx
    }

    /// dW = Σ over chunks of dY_c · P_cᵀ, patches recomputed per chunk;
    /// work items are split into [`ChunkSize::groups`] groups whose partial
    /// sums are added in order.
    fn weight_grad<E: Elem>(&self, x: &[E], dy: &[E]) -> Vec<E> {
        let (images, _) = self.plan();
        let (kk, plane_in, plane_out) = (self.kk(), self.c * self.h * self.w, self.o * self.rows());
        let items = self.b.div_ceil(images);
        let per_group = items.div_ceil(self.chunk.groups.max(1)).max(1);
        let partials: Vec<Vec<E>> = (0..items.div_ceil(per_group))
            .into_par_iter()
            .map(|g| {
                let mut dw = vec![E::default(); self.o * kk];
                let (mut patches, mut tmp) = (Vec::new(), Vec::new());
                let first = g * per_group * images;
                let last = ((g + 1) * per_group * images).min(self.b);
                let (x, dy) = (&x[first * plane_in..], &dy[first * plane_out..]);
                for chunk in self.chunks(first, last - first) {
                    let image = chunk.start / self.rows() - first;
                    self.unfold(&x[image * plane_in..], chunk, &mut patches);
                    tmp.resize(self.o * chunk.len, E::default());
                    self.gather_rows(chunk, &dy[image * plane_out..], &mut tmp);
                    let lhs = Mat {
                        data: &tmp,
                        rs: chunk.len,
                        cs: 1,
                    };
                    let rhs = Mat {
                        data: &patches,
                        rs: 1,
                        cs: chunk.len,
                    };
                    matmul(&mut dw, true, lhs, rhs, self.o, chunk.len);
                }
                dw
            })
            .collect();
        let mut parts = partials.into_iter();
        let mut dw = parts
            .next()
            .unwrap_or_else(|| vec![E::default(); self.o * kk]);
        for p in parts {
            for (a, b) in dw.iter_mut().zip(p) {
                *a += b;
            }
        }
        dw
    }
}

fn slice<'a, E>(v: &'a [E], l: &Layout, what: &str) -> Result<&'a [E]> {
    super::cpu_slice::contiguous_slice(v, l, "conv2d", what)
}

/// `x` `[B, C, H, W]` convolved with `weight` `[O, C, k, k]`, no bias, by the
/// chunked kernel (CPU, f32 or f64).
pub fn conv2d_chunked(
    x: &Tensor,
    weight: &Tensor,
    stride: usize,
    pad: usize,
    chunk: ChunkSize,
) -> Result<Tensor> {
    Geometry::new(x.dims(), weight.dims(), stride, pad, chunk)?;
    let op = ChunkedConv { stride, pad, chunk };
    x.contiguous()?.apply_op2(&weight.contiguous()?, op)
}

/// The forward op: `(x, weight)` → `y`; saves nothing but its arguments.
#[derive(Debug, Clone, Copy)]
struct ChunkedConv {
    stride: usize,
    pad: usize,
    chunk: ChunkSize,
}

impl CustomOp2 for ChunkedConv {
    fn name(&self) -> &'static str {
        "chunked-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(l1.dims(), l2.dims(), self.stride, self.pad, self.chunk)?;
        let shape = Shape::from((g.b, g.o, g.ho, g.wo));
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(w)) => {
                CpuStorage::F32(g.forward(slice(x, l1, "input")?, slice(w, l2, "weight")?))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w)) => {
                CpuStorage::F64(g.forward(slice(x, l1, "input")?, slice(w, l2, "weight")?))
            }
            _ => bail!(
                "conv2d: input {:?} and weight {:?} must both be f32 or f64",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = grad_res.contiguous()?;
        let (_, _, h, w) = x.dims4()?;
        // The images entering the first convolution need no gradient.
        let dx = if x.track_op() {
            let op = ChunkedConvInputGrad {
                h,
                w,
                stride: self.stride,
                pad: self.pad,
                chunk: self.chunk,
            };
            Some(dy.apply_op2_no_bwd(weight, &op)?)
        } else {
            None
        };
        let dw = if weight.track_op() {
            let op = ChunkedConvWeightGrad {
                k: weight.dim(2)?,
                stride: self.stride,
                pad: self.pad,
                chunk: self.chunk,
            };
            Some(x.apply_op2_no_bwd(&dy, &op)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// `(dy, weight)` → dx; `h`, `w` are the input's (stride 2 loses them).
#[derive(Debug, Clone, Copy)]
struct ChunkedConvInputGrad {
    h: usize,
    w: usize,
    stride: usize,
    pad: usize,
    chunk: ChunkSize,
}

impl CustomOp2 for ChunkedConvInputGrad {
    fn name(&self) -> &'static str {
        "chunked-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let &[b, o, ho, wo] = l1.dims() else {
            bail!("conv2d backward: gradient {:?} is not 4-d", l1.dims());
        };
        let c = l2.dims().get(1).copied().unwrap_or(0);
        let x_dims = [b, c, self.h, self.w];
        let g = Geometry::new(&x_dims, l2.dims(), self.stride, self.pad, self.chunk)?;
        if (g.o, g.ho, g.wo) != (o, ho, wo) {
            bail!(
                "conv2d backward: gradient {:?} does not match the output of input {x_dims:?} and weight {:?}",
                l1.dims(),
                l2.dims()
            );
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(dy), CpuStorage::F32(w)) => {
                CpuStorage::F32(g.input_grad(slice(dy, l1, "gradient")?, slice(w, l2, "weight")?))
            }
            (CpuStorage::F64(dy), CpuStorage::F64(w)) => {
                CpuStorage::F64(g.input_grad(slice(dy, l1, "gradient")?, slice(w, l2, "weight")?))
            }
            _ => bail!(
                "conv2d backward: gradient {:?} and weight {:?} must both be f32 or f64",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, Shape::from(x_dims.to_vec())))
    }
}

/// `(x, dy)` → dW, the patches recomputed chunk by chunk.
#[derive(Debug, Clone, Copy)]
struct ChunkedConvWeightGrad {
    k: usize,
    stride: usize,
    pad: usize,
    chunk: ChunkSize,
}

impl CustomOp2 for ChunkedConvWeightGrad {
    fn name(&self) -> &'static str {
        "chunked-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (o, c) = (
            l2.dims().get(1).copied().unwrap_or(0),
            l1.dims().get(1).copied().unwrap_or(0),
        );
        let w_dims = [o, c, self.k, self.k];
        let g = Geometry::new(l1.dims(), &w_dims, self.stride, self.pad, self.chunk)?;
        if l2.dims() != [g.b, g.o, g.ho, g.wo] {
            bail!(
                "conv2d backward: gradient {:?} does not match the output of input {:?} and weight {w_dims:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(dy)) => {
                CpuStorage::F32(g.weight_grad(slice(x, l1, "input")?, slice(dy, l2, "gradient")?))
            }
            (CpuStorage::F64(x), CpuStorage::F64(dy)) => {
                CpuStorage::F64(g.weight_grad(slice(x, l1, "input")?, slice(dy, l2, "gradient")?))
            }
            _ => bail!(
                "conv2d backward: input {:?} and gradient {:?} must both be f32 or f64",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, Shape::from(w_dims.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::conv::conv2d_im2col;
    use candle_core::{DType, Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b)
            .and_then(|d| d.abs()?.max_all()?.to_scalar::<f64>())
            .unwrap()
    }

    /// Forward, dx and dW equal the whole-batch im2col twin (f64, so any
    /// misplaced or dropped value shows far above rounding) on odd sizes,
    /// stride 1 and 2, for chunk sizes that cut images at rows that do not
    /// divide Ho·Wo, that hold several images (the last item short), that
    /// straddle two images inside one weight-gradient group, and the
    /// default (one chunk).
    #[test]
    fn chunks_match_whole_batch_im2col() -> Result<()> {
        let dev = Device::Cpu;
        let (b, c, h, w, o) = (3, 5, 9, 7, 4);
        let kk = c * 9;
        let xv: Vec<f64> = (0..b * c * h * w)
            .map(|i| (i as f64 * 0.37).sin())
            .collect();
        let wv: Vec<f64> = (0..o * kk).map(|i| (i as f64 * 0.23).cos()).collect();
        let x = Var::from_vec(xv, (b, c, h, w), &dev)?;
        let wt = Var::from_vec(wv, (o, c, 3, 3), &dev)?;
        let sizes = [
            ChunkSize {
                elems: kk * 7,
                min_rows: 1,
                groups: 8,
            },
            ChunkSize {
                elems: kk * 7,
                min_rows: 1,
                groups: 1,
            },
            ChunkSize {
                elems: kk * 5,
                min_rows: 1,
                groups: 2,
            },
            ChunkSize {
                elems: 1,
                min_rows: 40,
                groups: 2,
            },
            ChunkSize {
                elems: 1,
                min_rows: 130,
                groups: 1,
            },
            ChunkSize {
                elems: 1,
                min_rows: 1,
                groups: 3,
            },
            ChunkSize::default(),
        ];
        for stride in [1, 2] {
            let want = conv2d_im2col(x.as_tensor(), wt.as_tensor(), stride, 1)?;
            let up_v: Vec<f64> = (0..want.elem_count())
                .map(|i| (i as f64 * 0.05).cos())
                .collect();
            let up = Tensor::from_vec(up_v, want.shape(), &dev)?;
            let gw = (&want * &up)?.sum_all()?.backward()?;
            for size in sizes {
                let got = conv2d_chunked(x.as_tensor(), wt.as_tensor(), stride, 1, size)?;
                assert_eq!(got.dims(), want.dims());
                let what = format!("stride {stride}, {size:?}");
                assert!(max_diff(&got, &want) < 1e-12, "forward, {what}");
                let gg = (&got * &up)?.sum_all()?.backward()?;
                for (t, name) in [(x.as_tensor(), "dx"), (wt.as_tensor(), "dW")] {
                    let d = max_diff(gg.get(t).unwrap(), gw.get(t).unwrap());
                    assert!(d < 1e-11, "{name}, {what}: max diff {d}");
                }
            }
        }
        Ok(())
    }

    /// f32 runs the same kernel (the dtype training uses).
    #[test]
    fn f32_matches_f64() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 6, 5), &dev)?;
        let wt = Tensor::randn(0f32, 1.0, (7, 3, 3, 3), &dev)?;
        let size = ChunkSize {
            elems: 27 * 4,
            min_rows: 1,
            groups: 2,
        };
        let got = conv2d_chunked(&x, &wt, 2, 1, size)?.to_dtype(DType::F64)?;
        let (x, wt) = (x.to_dtype(DType::F64)?, wt.to_dtype(DType::F64)?);
        let want = conv2d_chunked(&x, &wt, 2, 1, size)?;
        assert!(max_diff(&got, &want) < 1e-5);
        Ok(())
    }

    /// The chunking and the weight-gradient groups do not depend on the
    /// thread count: one thread and the default pool give identical bits.
    #[test]
    fn same_bits_whatever_the_thread_count() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (5, 6, 11, 9), &dev)?)?;
        let wt = Var::from_tensor(&Tensor::randn(0f32, 1.0, (8, 6, 3, 3), &dev)?)?;
        let size = ChunkSize {
            elems: 54 * 13,
            min_rows: 1,
            groups: 3,
        };
        let run = || -> Result<Vec<Vec<f32>>> {
            let y = conv2d_chunked(x.as_tensor(), wt.as_tensor(), 1, 1, size)?;
            let g = y.sqr()?.sum_all()?.backward()?;
            let mut out = vec![y.flatten_all()?.to_vec1::<f32>()?];
            for t in [x.as_tensor(), wt.as_tensor()] {
                out.push(g.get(t).unwrap().flatten_all()?.to_vec1::<f32>()?);
            }
            Ok(out)
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(run)?;
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(run)?;
        assert_eq!(one, four);
        Ok(())
    }

    #[test]
    fn mismatched_weight_is_an_error() {
        let x = Tensor::zeros((1, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        let wt = Tensor::zeros((2, 4, 3, 3), DType::F32, &Device::Cpu).unwrap();
        let err = conv2d_chunked(&x, &wt, 1, 1, ChunkSize::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit input"), "{err}");
    }
}
