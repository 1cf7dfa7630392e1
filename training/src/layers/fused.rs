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

trait Elem: Copy + Send + Sync + 'static {
    fn f(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Elem for f32 {
    fn f(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Elem for f64 {
    fn f(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
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
                for v in &x[base..base + s] {
                    let v = v.f();
                    sum += v;
                    sq += v * v;
                }
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
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("fused norm expects contiguous inputs"),
    }
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

    fn fwd<E: Elem>(&self, x: &[E], gamma: &[E], beta: &[E], d: &Dims) -> Vec<E> {
        let per_task = d.n * d.c * d.s;
        let mut out = vec![E::from_f64(0.0); d.t * per_task];
        out.par_chunks_mut(per_task).enumerate().for_each(|(t, o)| {
            let xb = if d.b == 1 { 0 } else { t };
            let sb = self.stat_block(t, d);
            for ch in 0..d.c {
                let a = self.scale_of(gamma[t * d.c + ch].f());
                let bias = beta[t * d.c + ch].f();
                let mean = self.moments.mean[sb * d.c + ch];
                let inv = self.moments.inv_std[sb * d.c + ch];
                for i in 0..d.n {
                    let src = ((xb * d.n + i) * d.c + ch) * d.s;
                    let dst = (i * d.c + ch) * d.s;
                    for k in 0..d.s {
                        let mut y = a * (x[src + k].f() - mean) * inv + bias;
                        if self.relu && y < 0.0 {
                            y = 0.0;
                        }
                        o[dst + k] = E::from_f64(y);
                    }
                }
            }
        });
        out
    }

    /// Gradients (dx, dγ, dβ).
    fn bwd_impl<E: Elem>(
        &self,
        x: &[E],
        gamma: &[E],
        out: &[E],
        grad: &[E],
        d: &Dims,
    ) -> (Vec<E>, Vec<E>, Vec<E>) {
        let m = (d.n * d.s) as f64;
        // Per task: its dx block (N·C·S) and dγ, dβ rows.
        let per_task: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..d.t)
            .into_par_iter()
            .map(|t| {
                let xb = if d.b == 1 { 0 } else { t };
                let sb = self.stat_block(t, d);
                let mut dx = vec![0.0; d.n * d.c * d.s];
                let mut dgamma = vec![0.0; d.c];
                let mut dbeta = vec![0.0; d.c];
                for ch in 0..d.c {
                    let graw = gamma[t * d.c + ch].f();
                    let a = self.scale_of(graw);
                    let mean = self.moments.mean[sb * d.c + ch];
                    let inv = self.moments.inv_std[sb * d.c + ch];
                    let (mut sum_g, mut sum_gx) = (0.0, 0.0);
                    for i in 0..d.n {
                        let src = ((xb * d.n + i) * d.c + ch) * d.s;
                        let o = ((t * d.n + i) * d.c + ch) * d.s;
                        for k in 0..d.s {
                            let mut g = grad[o + k].f();
                            if self.relu && out[o + k].f() <= 0.0 {
                                g = 0.0;
                            }
                            let xh = (x[src + k].f() - mean) * inv;
                            sum_g += g;
                            sum_gx += g * xh;
                        }
                    }
                    dbeta[ch] = sum_g;
                    dgamma[ch] = sum_gx
                        * match self.scale {
                            Scale::Sigmoid => a * (1.0 - a),
                            Scale::Identity => 1.0,
                        };
                    // dx̂ = a·g; Σdx̂ = a·Σg, Σdx̂·x̂ = a·Σg·x̂.
                    for i in 0..d.n {
                        let src = ((xb * d.n + i) * d.c + ch) * d.s;
                        let o = ((t * d.n + i) * d.c + ch) * d.s;
                        let dst = (i * d.c + ch) * d.s;
                        for k in 0..d.s {
                            let mut g = grad[o + k].f();
                            if self.relu && out[o + k].f() <= 0.0 {
                                g = 0.0;
                            }
                            dx[dst + k] = if self.train {
                                let xh = (x[src + k].f() - mean) * inv;
                                a * inv / m * (m * g - sum_g - xh * sum_gx)
                            } else {
                                a * inv * g
                            };
                        }
                    }
                }
                (dx, dgamma, dbeta)
            })
            .collect();
        let block = d.n * d.c * d.s;
        let mut dx = vec![0.0f64; d.b * block];
        let mut dgamma = Vec::with_capacity(d.t * d.c);
        let mut dbeta = Vec::with_capacity(d.t * d.c);
        for (t, (dxt, dg, db)) in per_task.into_iter().enumerate() {
            let dst = if d.b == 1 { 0 } else { t * block };
            if d.b == 1 {
                for (acc, v) in dx[dst..dst + block].iter_mut().zip(&dxt) {
                    *acc += v;
                }
            } else {
                dx[dst..dst + block].copy_from_slice(&dxt);
            }
            dgamma.extend(dg);
            dbeta.extend(db);
        }
        let cast = |v: Vec<f64>| v.into_iter().map(E::from_f64).collect::<Vec<E>>();
        (cast(dx), cast(dgamma), cast(dbeta))
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
        macro_rules! run {
            ($t:ty) => {{
                let xv = x.flatten_all()?.to_vec1::<$t>()?;
                let gv = gamma.flatten_all()?.to_vec1::<$t>()?;
                let ov = res.flatten_all()?.to_vec1::<$t>()?;
                let grv = grad_res.flatten_all()?.to_vec1::<$t>()?;
                let (dx, dg, db) = self.bwd_impl(&xv, &gv, &ov, &grv, &d);
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dg, gamma.shape(), dev)?,
                    Tensor::from_vec(db, beta.shape(), dev)?,
                )
            }};
        }
        let (dx, dg, db) = match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            other => bail!("fused norm: unsupported dtype {other:?}"),
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
    layout: super::TaskLayout,
    train: bool,
    relu: bool,
    params: super::NormParams,
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
