//! A fused CPU kernel for the three norm layers: per-task normalisation
//! (paper eq. 1 and 3), the gate or affine map, and the ReLU that follows
//! it, forward and backward in one pass each, as a candle `CustomOp3`.
//!
//! Why: built from candle's tensor ops, one TSσBN + ReLU is about twenty
//! full-size passes forward and backward, most of them strided broadcasts
//! and reductions over non-contiguous axes; profiling the shapes demo showed
//! those, not the convolutions' matrix multiplies, dominate a step. This
//! kernel touches each activation a constant number of times. The
//! composite path in [`super::stats`] stays as the reference it is tested
//! against, and as the path for devices without a kernel (CUDA).
//!
//! Layout: `x` is `[B·N, C, …]` contiguous with `B = 1` (shared input) or
//! `B = T`; the output is `[T·N, C, …]`, task-major. Batch statistics are
//! computed before the op is built and kept in it (they are needed again by
//! the backward pass).
//!
//! Numerics: sums (moments, Σg, Σg·x̂) are taken in f64, in a fixed number
//! of interleaved partial sums so that the loops vectorise; the per-element
//! maps (y = (x − mean)·a/σ + β, dx = a/σ·g + c₀ + c_x·(x − mean)) run in
//! the tensor's own dtype on coefficients computed in f64. The backward pass
//! reads the saved tensors' storage in place and writes its results
//! directly, without f64 copies of the activations.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, bail};
use rayon::prelude::*;

/// How the stored parameter becomes the scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// σ(γ) (TSσBN).
    Sigmoid,
    /// γ itself (TSBN, shared BN).
    Identity,
}

/// Moments per (statistics block, channel): mean and 1/√(var + ε).
#[derive(Debug, Clone)]
pub struct Moments {
    pub blocks: usize,
    pub channels: usize,
    pub mean: Vec<f64>,
    /// Biased batch variance (train) or the running variance (eval).
    pub var: Vec<f64>,
    pub inv_std: Vec<f64>,
}

trait Elem:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + 'static
{
    const ZERO: Self;
    fn f(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    fn f(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    fn f(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Partial sums an element loop keeps apart so that it vectorises (one
/// running f64 sum is a serial chain of additions).
const LANES: usize = 8;

/// Σ v and Σ v² over `plane`, in f64.
fn plane_moments<E: Elem>(plane: &[E]) -> (f64, f64) {
    let (mut sum, mut sq) = ([0.0f64; LANES], [0.0f64; LANES]);
    let mut chunks = plane.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            let v = c[l].f();
            sum[l] += v;
            sq[l] += v * v;
        }
    }
    for (l, v) in chunks.remainder().iter().enumerate() {
        let v = v.f();
        sum[l] += v;
        sq[l] += v * v;
    }
    (sum.iter().sum(), sq.iter().sum())
}

/// The upstream gradient with the ReLU's mask applied: zero where the
/// output is ≤ 0.
#[inline(always)]
fn masked<E: Elem>(grad: E, out: E, relu: bool) -> E {
    if relu && out <= E::ZERO {
        E::ZERO
    } else {
        grad
    }
}

/// Σ g and Σ g·(x − mean) over one plane, in f64, `g` the masked gradient.
fn plane_grad_sums<E: Elem>(grad: &[E], out: &[E], x: &[E], mean: f64, relu: bool) -> (f64, f64) {
    let (out, x) = (&out[..grad.len()], &x[..grad.len()]);
    let (mut sg, mut sgx) = ([0.0f64; LANES], [0.0f64; LANES]);
    let term = |g: E, o: E, x: E| {
        let g = masked(g, o, relu).f();
        (g, g * (x.f() - mean))
    };
    let mut chunks = grad
        .chunks_exact(LANES)
        .zip(out.chunks_exact(LANES))
        .zip(x.chunks_exact(LANES));
    for ((g, o), x) in &mut chunks {
        for l in 0..LANES {
            let (a, b) = term(g[l], o[l], x[l]);
            sg[l] += a;
            sgx[l] += b;
        }
    }
    let whole = grad.len() - grad.len() % LANES;
    for (l, k) in (whole..grad.len()).enumerate() {
        let (a, b) = term(grad[k], out[k], x[k]);
        sg[l] += a;
        sgx[l] += b;
    }
    (sg.iter().sum(), sgx.iter().sum())
}

/// What the backward pass applies to one (task, channel):
/// dx = `dg`·g + `c0` + `cx`·(x − `mean`), g the masked gradient.
#[derive(Debug, Clone, Copy)]
struct DxCoef<E> {
    mean: E,
    dg: E,
    c0: E,
    cx: E,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn moments_of<E: Elem>(x: &[E], blocks: usize, n: usize, c: usize, s: usize, eps: f64) -> Moments {
    let stats: Vec<(f64, f64)> = (0..blocks * c)
        .into_par_iter()
        .map(|bc| {
            let (b, ch) = (bc / c, bc % c);
            let (mut sum, mut sq) = (0.0, 0.0);
            for i in 0..n {
                let base = ((b * n + i) * c + ch) * s;
                let (ps, pq) = plane_moments(&x[base..base + s]);
                sum += ps;
                sq += pq;
            }
            let m = (n * s) as f64;
            let mean = sum / m;
            (mean, (sq / m - mean * mean).max(0.0))
        })
        .collect();
    let mean: Vec<f64> = stats.iter().map(|p| p.0).collect();
    let var: Vec<f64> = stats.iter().map(|p| p.1).collect();
    let inv_std = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    Moments {
        blocks,
        channels: c,
        mean,
        var,
        inv_std,
    }
}

fn contiguous<'a, E: Elem>(v: &'a [E], l: &Layout) -> Result<&'a [E]> {
    super::cpu_slice::contiguous_slice(v, l, "fused norm", "input")
}

/// Batch moments of `x` (`[B·N, C, …]`, B = rows / n) over N and the
/// spatial positions.
pub fn batch_moments(x: &Tensor, n: usize, eps: f64) -> Result<Moments> {
    let x = x.contiguous()?;
    let rows = x.dim(0)?;
    let c = x.dim(1)?;
    let s: usize = x.dims()[2..].iter().product();
    let blocks = rows / n;
    let (storage, layout) = x.storage_and_layout();
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => {
            Ok(moments_of(contiguous(v, layout)?, blocks, n, c, s, eps))
        }
        Storage::Cpu(CpuStorage::F64(v)) => {
            Ok(moments_of(contiguous(v, layout)?, blocks, n, c, s, eps))
        }
        _ => bail!("fused norm runs on CPU f32/f64 tensors only"),
    }
}

/// The fused op. `moments.blocks` is B in training (batch statistics) and
/// T in evaluation (running statistics, one per task).
#[derive(Debug, Clone)]
pub struct FusedNorm {
    pub tasks: usize,
    pub n: usize,
    pub scale: Scale,
    pub relu: bool,
    pub train: bool,
    pub moments: Moments,
}

struct Dims {
    t: usize,
    b: usize,
    n: usize,
    c: usize,
    s: usize,
}

impl FusedNorm {
    fn dims(&self, x_dims: &[usize]) -> Result<Dims> {
        let rows = x_dims[0];
        let c = x_dims[1];
        let s: usize = x_dims[2..].iter().product();
        let b = rows / self.n;
        if b * self.n != rows || !(b == 1 || b == self.tasks) {
            bail!(
                "fused norm: {rows} rows are not 1 or {} blocks of {}",
                self.tasks,
                self.n
            );
        }
        Ok(Dims {
            t: self.tasks,
            b,
            n: self.n,
            c,
            s,
        })
    }

    /// Statistics block used by task `t`.
    fn stat_block(&self, t: usize, d: &Dims) -> usize {
        let _ = d;
        if self.moments.blocks == 1 { 0 } else { t }
    }

    fn scale_of(&self, g: f64) -> f64 {
        match self.scale {
            Scale::Sigmoid => sigmoid(g),
            Scale::Identity => g,
        }
    }

    /// Per (task, channel) of the output: mean, scale a·(1/σ) and bias, so
    /// that y = (x − mean)·scale + bias.
    fn fwd_coefs<E: Elem>(&self, gamma: &[E], beta: &[E], d: &Dims) -> Vec<(E, E, E)> {
        (0..d.t * d.c)
            .map(|tc| {
                let (t, ch) = (tc / d.c, tc % d.c);
                let sb = self.stat_block(t, d);
                let a = self.scale_of(gamma[tc].f());
                let inv = self.moments.inv_std[sb * d.c + ch];
                (
                    E::from_f64(self.moments.mean[sb * d.c + ch]),
                    E::from_f64(a * inv),
                    beta[tc],
                )
            })
            .collect()
    }

    fn fwd<E: Elem>(&self, x: &[E], gamma: &[E], beta: &[E], d: &Dims) -> Vec<E> {
        let coefs = self.fwd_coefs(gamma, beta, d);
        let row = d.c * d.s;
        let mut out = vec![E::ZERO; d.t * d.n * row];
        if out.is_empty() {
            return out;
        }
        // One output row (task t, sample i) per work item.
        out.par_chunks_mut(row).enumerate().for_each(|(r, o)| {
            let (t, i) = (r / d.n, r % d.n);
            let xb = if d.b == 1 { 0 } else { t };
            let src = &x[(xb * d.n + i) * row..][..row];
            for ((o, x), &(mean, scale, bias)) in o
                .chunks_exact_mut(d.s)
                .zip(src.chunks_exact(d.s))
                .zip(&coefs[t * d.c..(t + 1) * d.c])
            {
                for (o, &x) in o.iter_mut().zip(x) {
                    let y = (x - mean) * scale + bias;
                    *o = if self.relu && y < E::ZERO { E::ZERO } else { y };
                }
            }
        });
        out
    }

    /// Gradients (dx, dγ, dβ): first Σg and Σg·x̂ per (task, channel),
    /// then dx row by row, written once (task-major input) or summed over
    /// the tasks in task order (shared input).
    fn bwd_impl<E: Elem>(
        &self,
        x: &[E],
        gamma: &[E],
        out: &[E],
        grad: &[E],
        d: &Dims,
    ) -> (Vec<E>, Vec<E>, Vec<E>) {
        let m = (d.n * d.s) as f64;
        let row = d.c * d.s;
        let sums: Vec<(f64, f64)> = (0..d.t * d.c)
            .into_par_iter()
            .map(|tc| {
                let (t, ch) = (tc / d.c, tc % d.c);
                let xb = if d.b == 1 { 0 } else { t };
                let sb = self.stat_block(t, d);
                let mean = self.moments.mean[sb * d.c + ch];
                let inv = self.moments.inv_std[sb * d.c + ch];
                let (mut sum_g, mut sum_gx) = (0.0, 0.0);
                for i in 0..d.n {
                    let src = ((xb * d.n + i) * d.c + ch) * d.s;
                    let o = ((t * d.n + i) * d.c + ch) * d.s;
                    let (g, gx) = plane_grad_sums(
                        &grad[o..o + d.s],
                        &out[o..o + d.s],
                        &x[src..src + d.s],
                        mean,
                        self.relu,
                    );
                    sum_g += g;
                    sum_gx += gx;
                }
                // Σ g·x̂ = (1/σ)·Σ g·(x − mean).
                (sum_g, sum_gx * inv)
            })
            .collect();
        let mut dgamma = Vec::with_capacity(d.t * d.c);
        let mut dbeta = Vec::with_capacity(d.t * d.c);
        let mut coefs = Vec::with_capacity(d.t * d.c);
        for (tc, &(sum_g, sum_gx)) in sums.iter().enumerate() {
            let (t, ch) = (tc / d.c, tc % d.c);
            let sb = self.stat_block(t, d);
            let a = self.scale_of(gamma[tc].f());
            let mean = self.moments.mean[sb * d.c + ch];
            let inv = self.moments.inv_std[sb * d.c + ch];
            dbeta.push(E::from_f64(sum_g));
            dgamma.push(E::from_f64(
                sum_gx
                    * match self.scale {
                        Scale::Sigmoid => a * (1.0 - a),
                        Scale::Identity => 1.0,
                    },
            ));
            // dx̂ = a·g, so dx = a/σ·(g − Σg/m − x̂·Σg·x̂/m) in training,
            // a/σ·g with fixed (running) statistics.
            let (c0, cx) = if self.train {
                (-a * inv * sum_g / m, -a * inv * inv * sum_gx / m)
            } else {
                (0.0, 0.0)
            };
            coefs.push(DxCoef {
                mean: E::from_f64(mean),
                dg: E::from_f64(a * inv),
                c0: E::from_f64(c0),
                cx: E::from_f64(cx),
            });
        }
        let mut dx = vec![E::ZERO; d.b * d.n * row];
        if !dx.is_empty() {
            dx.par_chunks_mut(row).enumerate().for_each(|(r, dx)| {
                let (xb, i) = (r / d.n, r % d.n);
                let xr = &x[r * row..][..row];
                let tasks = if d.b == 1 { 0..d.t } else { xb..xb + 1 };
                for (k, t) in tasks.enumerate() {
                    let o = (t * d.n + i) * row;
                    let (gr, or) = (&grad[o..o + row], &out[o..o + row]);
                    for ch in 0..d.c {
                        let c = coefs[t * d.c + ch];
                        let p = ch * d.s..(ch + 1) * d.s;
                        let planes = dx[p.clone()]
                            .iter_mut()
                            .zip(&gr[p.clone()])
                            .zip(&or[p.clone()])
                            .zip(&xr[p]);
                        for (((dx, &g), &o), &x) in planes {
                            let v = c.dg * masked(g, o, self.relu) + c.c0 + c.cx * (x - c.mean);
                            if k == 0 {
                                *dx = v;
                            } else {
                                *dx += v;
                            }
                        }
                    }
                }
            });
        }
        (dx, dgamma, dbeta)
    }
}

fn out_shape(d: &Dims, x_dims: &[usize]) -> Shape {
    let mut dims = x_dims.to_vec();
    dims[0] = d.t * d.n;
    Shape::from(dims)
}

impl CustomOp3 for FusedNorm {
    fn name(&self) -> &'static str {
        "fused-task-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = self.dims(l1.dims())?;
        let shape = out_shape(&d, l1.dims());
        match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                let y = self.fwd(
                    contiguous(x, l1)?,
                    contiguous(g, l2)?,
                    contiguous(b, l3)?,
                    &d,
                );
                Ok((CpuStorage::F32(y), shape))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                let y = self.fwd(
                    contiguous(x, l1)?,
                    contiguous(g, l2)?,
                    contiguous(b, l3)?,
                    &d,
                );
                Ok((CpuStorage::F64(y), shape))
            }
            _ => bail!("fused norm: inputs must all be f32 or all f64"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = self.dims(x.dims())?;
        let dev = x.device();
        let grad = grad_res.contiguous()?;
        let (dx, dg, db) = {
            let (xs, xl) = x.storage_and_layout();
            let (gs, gl) = gamma.storage_and_layout();
            let (os, ol) = res.storage_and_layout();
            let (ds, dl) = grad.storage_and_layout();
            macro_rules! run {
                ($x:expr, $g:expr, $o:expr, $d:expr) => {{
                    let (dx, dg, db) = self.bwd_impl(
                        contiguous($x, xl)?,
                        contiguous($g, gl)?,
                        contiguous($o, ol)?,
                        contiguous($d, dl)?,
                        &d,
                    );
                    (
                        Tensor::from_vec(dx, x.shape(), dev)?,
                        Tensor::from_vec(dg, gamma.shape(), dev)?,
                        Tensor::from_vec(db, beta.shape(), dev)?,
                    )
                }};
            }
            match (&*xs, &*gs, &*os, &*ds) {
                (
                    Storage::Cpu(CpuStorage::F32(xv)),
                    Storage::Cpu(CpuStorage::F32(gv)),
                    Storage::Cpu(CpuStorage::F32(ov)),
                    Storage::Cpu(CpuStorage::F32(dyv)),
                ) => run!(xv, gv, ov, dyv),
                (
                    Storage::Cpu(CpuStorage::F64(xv)),
                    Storage::Cpu(CpuStorage::F64(gv)),
                    Storage::Cpu(CpuStorage::F64(ov)),
                    Storage::Cpu(CpuStorage::F64(dyv)),
                ) => run!(xv, gv, ov, dyv),
                _ => bail!(
                    "fused norm backward: CPU f32 or f64 tensors of one dtype expected, got {:?}",
                    x.dtype()
                ),
            }
        };
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

/// Runs the fused layer: batch statistics (train, also folded into the
/// running estimates of `layout`'s tasks) or running statistics (eval), then
/// the op. `gamma`, `beta`: `[layout.tasks, C]`, the rows of `layout`'s
/// tasks; running statistics `[T, C]` (all of the model's tasks) or `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    scale: Scale,
    layout: super::stats::TaskLayout,
    train: bool,
    relu: bool,
    params: super::stats::NormParams,
    running_mean: &candle_core::Var,
    running_var: &candle_core::Var,
) -> Result<Tensor> {
    let x = x.contiguous()?;
    let (t, c) = gamma.dims2()?;
    if t != layout.tasks {
        bail!(
            "fused norm: {t} rows of parameters for a layout of {} tasks",
            layout.tasks
        );
    }
    let moments = if train {
        let m = batch_moments(&x, layout.n, params.eps)?;
        let count = layout.n * x.dims()[2..].iter().product::<usize>();
        let dev = x.device();
        let mean =
            Tensor::from_vec(m.mean.clone(), (m.blocks, 1, c, 1), dev)?.to_dtype(x.dtype())?;
        let var = Tensor::from_vec(m.var.clone(), (m.blocks, 1, c, 1), dev)?.to_dtype(x.dtype())?;
        super::stats::update_running(
            running_mean,
            running_var,
            &mean,
            &var,
            count,
            params.momentum,
            layout,
        )?;
        m
    } else {
        let rows = |v: &candle_core::Var| -> Result<Vec<f64>> {
            super::stats::running_rows(v, c, layout)?
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1::<f64>()
        };
        let mean = rows(running_mean)?;
        let var = rows(running_var)?;
        let inv_std = var.iter().map(|v| 1.0 / (v + params.eps).sqrt()).collect();
        Moments {
            blocks: mean.len() / c,
            channels: c,
            mean,
            var,
            inv_std,
        }
    };
    let op = FusedNorm {
        tasks: t,
        n: layout.n,
        scale,
        relu,
        train,
        moments,
    };
    x.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    //! The kernels against the per-element f64 versions they replaced
    //! (kept here verbatim in substance: every value computed in f64 from
    //! `a·(x − mean)·(1/σ) + β`, per-task f64 dx blocks summed in task
    //! order), on odd sizes so no plane is a multiple of the lane count.
    use super::*;

    fn reference_moments(x: &[f64], blocks: usize, n: usize, c: usize, s: usize) -> Moments {
        let mut mean = Vec::new();
        let mut var = Vec::new();
        for b in 0..blocks {
            for ch in 0..c {
                let (mut sum, mut sq) = (0.0, 0.0);
                for i in 0..n {
                    for &v in &x[((b * n + i) * c + ch) * s..][..s] {
                        sum += v;
                        sq += v * v;
                    }
                }
                let m = (n * s) as f64;
                mean.push(sum / m);
                var.push((sq / m - (sum / m) * (sum / m)).max(0.0));
            }
        }
        let inv_std = var.iter().map(|v| 1.0 / (v + 1e-5f64).sqrt()).collect();
        Moments {
            blocks,
            channels: c,
            mean,
            var,
            inv_std,
        }
    }

    fn reference_fwd(op: &FusedNorm, x: &[f64], gamma: &[f64], beta: &[f64], d: &Dims) -> Vec<f64> {
        let mut out = vec![0.0; d.t * d.n * d.c * d.s];
        for t in 0..d.t {
            let xb = if d.b == 1 { 0 } else { t };
            let sb = op.stat_block(t, d);
            for ch in 0..d.c {
                let a = op.scale_of(gamma[t * d.c + ch]);
                let mean = op.moments.mean[sb * d.c + ch];
                let inv = op.moments.inv_std[sb * d.c + ch];
                for i in 0..d.n {
                    for k in 0..d.s {
                        let src = ((xb * d.n + i) * d.c + ch) * d.s + k;
                        let mut y = a * (x[src] - mean) * inv + beta[t * d.c + ch];
                        if op.relu && y < 0.0 {
                            y = 0.0;
                        }
                        out[((t * d.n + i) * d.c + ch) * d.s + k] = y;
                    }
                }
            }
        }
        out
    }

    #[allow(clippy::type_complexity)]
    fn reference_bwd(
        op: &FusedNorm,
        x: &[f64],
        gamma: &[f64],
        out: &[f64],
        grad: &[f64],
        d: &Dims,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let m = (d.n * d.s) as f64;
        let block = d.n * d.c * d.s;
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; d.b * block], vec![], vec![]);
        for t in 0..d.t {
            let xb = if d.b == 1 { 0 } else { t };
            let sb = op.stat_block(t, d);
            let mut dxt = vec![0.0; block];
            for ch in 0..d.c {
                let a = op.scale_of(gamma[t * d.c + ch]);
                let mean = op.moments.mean[sb * d.c + ch];
                let inv = op.moments.inv_std[sb * d.c + ch];
                let g = |o: usize| {
                    if op.relu && out[o] <= 0.0 {
                        0.0
                    } else {
                        grad[o]
                    }
                };
                let (mut sum_g, mut sum_gx) = (0.0, 0.0);
                for i in 0..d.n {
                    for k in 0..d.s {
                        let src = ((xb * d.n + i) * d.c + ch) * d.s + k;
                        let o = ((t * d.n + i) * d.c + ch) * d.s + k;
                        sum_g += g(o);
                        sum_gx += g(o) * (x[src] - mean) * inv;
                    }
                }
                dbeta.push(sum_g);
                dgamma.push(
                    sum_gx
                        * match op.scale {
                            Scale::Sigmoid => a * (1.0 - a),
                            Scale::Identity => 1.0,
                        },
                );
                for i in 0..d.n {
                    for k in 0..d.s {
                        let src = ((xb * d.n + i) * d.c + ch) * d.s + k;
                        let o = ((t * d.n + i) * d.c + ch) * d.s + k;
                        let xh = (x[src] - mean) * inv;
                        dxt[(i * d.c + ch) * d.s + k] = if op.train {
                            a * inv / m * (m * g(o) - sum_g - xh * sum_gx)
                        } else {
                            a * inv * g(o)
                        };
                    }
                }
            }
            let dst = if d.b == 1 { 0 } else { t * block };
            for (acc, v) in dx[dst..dst + block].iter_mut().zip(&dxt) {
                *acc += v;
            }
        }
        (dx, dgamma, dbeta)
    }

    fn values(len: usize, seed: f64) -> Vec<f64> {
        (0..len)
            .map(|i| (i as f64 * 0.731 + seed).sin() * 1.7 + 0.3)
            .collect()
    }

    fn max_rel(got: &[f64], want: &[f64]) -> f64 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
        got.iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs() / scale)
            .fold(0.0, f64::max)
    }

    /// Every case of the kernel (shared and task-major input, batch and
    /// running statistics, with and without ReLU, σ and identity scale),
    /// f64 against the reference to 1e-12 and f32 against it to 1e-5.
    #[test]
    fn kernels_match_the_per_element_f64_reference() {
        let (t, n, c) = (3, 5, 7);
        for s in [13, 1, 8] {
            for shared in [true, false] {
                for train in [true, false] {
                    for relu in [true, false] {
                        for scale in [Scale::Sigmoid, Scale::Identity] {
                            let b = if shared { 1 } else { t };
                            let x = values(b * n * c * s, 0.1);
                            let gamma = values(t * c, 0.7);
                            let beta = match scale {
                                Scale::Sigmoid => vec![0.0; t * c],
                                Scale::Identity => values(t * c, 1.9),
                            };
                            let grad = values(t * n * c * s, 2.3);
                            let moments = if train {
                                let got = moments_of(&x, b, n, c, s, 1e-5);
                                let want = reference_moments(&x, b, n, c, s);
                                assert!(max_rel(&got.mean, &want.mean) < 1e-12);
                                assert!(max_rel(&got.inv_std, &want.inv_std) < 1e-12);
                                want
                            } else {
                                reference_moments(&values(t * n * c * s, 3.1), t, n, c, s)
                            };
                            let op = FusedNorm {
                                tasks: t,
                                n,
                                scale,
                                relu,
                                train,
                                moments,
                            };
                            let d = op.dims(&[b * n, c, s]).unwrap();
                            let what = format!(
                                "s {s} shared {shared} train {train} relu {relu} {scale:?}"
                            );
                            let want_y = reference_fwd(&op, &x, &gamma, &beta, &d);
                            let want = reference_bwd(&op, &x, &gamma, &want_y, &grad, &d);
                            let y = op.fwd(&x, &gamma, &beta, &d);
                            assert!(max_rel(&y, &want_y) < 1e-12, "y, {what}");
                            let (dx, dg, db) = op.bwd_impl(&x, &gamma, &y, &grad, &d);
                            assert!(max_rel(&dx, &want.0) < 1e-12, "dx, {what}");
                            assert!(max_rel(&dg, &want.1) < 1e-12, "dγ, {what}");
                            assert!(max_rel(&db, &want.2) < 1e-12, "dβ, {what}");

                            let f = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
                            let w = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
                            let (x32, g32, b32) = (f(&x), f(&gamma), f(&beta));
                            let y32 = op.fwd(&x32, &g32, &b32, &d);
                            let (dx32, dg32, db32) = op.bwd_impl(&x32, &g32, &y32, &f(&grad), &d);
                            assert!(max_rel(&w(y32), &want_y) < 1e-5, "f32 y, {what}");
                            assert!(max_rel(&w(dx32), &want.0) < 1e-5, "f32 dx, {what}");
                            assert!(max_rel(&w(dg32), &want.1) < 1e-5, "f32 dγ, {what}");
                            assert!(max_rel(&w(db32), &want.2) < 1e-5, "f32 dβ, {what}");
                        }
                    }
                }
            }
        }
    }
}
