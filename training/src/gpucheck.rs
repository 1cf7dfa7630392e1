//! `mtl-train gpucheck`: one training step of a small network on two
//! backends — the CPU as `mtl-train` trains on it (fused norm kernels,
//! im2col convolution) and, by default, CUDA (candle's own ops) — from the
//! same weights (drawn on the host from one seed) and the same batch, then
//! every tensor the step produces compared: the logits (forward), the
//! running statistics the forward updated, every parameter's gradient
//! (backward) and every parameter after one Adam step.
//!
//! The check runs in f64 by default. In f32 the two backends' rounding
//! differs by about 1e-6 relative, and in a deep network with ReLUs that is
//! not small: a pre-activation within 1e-6 of zero is cut by one backend and
//! passed by the other, and its whole gradient (one element of a sum of a
//! few hundred) moves to or from a weight's gradient. Measured with the
//! fused CPU kernels against candle's ops on the CPU, celeba-cnn at batch 8:
//! forward within 1e-5, gradients off by up to 4e-2 of their largest
//! element, though both implementations are right. In f64 the rounding
//! differences are around 1e-15 and no pre-activation falls that close to
//! zero, so any difference beyond rounding is a wrong kernel (a missing
//! term, a wrong index, the 1/4 scaling of candle's max-pool backward are
//! off by O(1)), and the candle CUDA kernels are the same templates in f64
//! as in f32.
//!
//! Tolerances, relative to the largest magnitude of the reference tensor
//! (an element-wise relative error is meaningless where values cross zero),
//! f64 / f32:
//! - forward (logits) and the running statistics it updates: 1e-9 / 1e-4,
//!   summation order (gemm blocking, reduction trees over up to T·N·H·W
//!   elements) times the network's depth;
//! - gradients: 1e-7 / 1e-3, as the backward pass divides by the batch
//!   standard deviation in every norm layer and sums over the batch;
//! - the Adam step: 1e-7 / 1e-3 of lr. A parameter's first Adam update is
//!   −lr·g/(|g| + ε), about ±lr whatever |g| is, so two backends whose
//!   gradients agree to rounding can still move an element with |g| near ε
//!   differently, or the other way when g is near 0. So each backend's
//!   update is compared with −lr·g/(|g| + ε) computed on the host from its
//!   own gradient, which the gradient rows have already compared.

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::layers::{NormKind, NormParams};
use crate::models::ModelKind;
use crate::models::MultiTaskNet;
use crate::models::loss::bce_with_logits;
use crate::optim::{Optimizer, OptimizerKind, param_groups};
use crate::vars::{ParamGroupKind, ParamStore};

/// How far the two backends may differ (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Logits and running statistics.
    pub forward: f64,
    /// Every gradient.
    pub gradient: f64,
    /// The Adam update, as a fraction of the element's learning rate.
    pub step: f64,
}

impl Tolerances {
    pub fn for_dtype(dtype: DType) -> Tolerances {
        match dtype {
            DType::F64 => Tolerances {
                forward: 1e-9,
                gradient: 1e-7,
                step: 1e-7,
            },
            _ => Tolerances {
                forward: 1e-4,
                gradient: 1e-3,
                step: 1e-3,
            },
        }
    }
}

/// Base learning rate and gate multiplier of the step (the CelebA defaults).
const LR: f64 = 3e-4;
const ALPHA: f64 = 100.0;

/// One backend a step runs on.
#[derive(Debug, Clone)]
pub struct Backend {
    pub device: Device,
    /// The fused CPU kernels (as training on the CPU uses them); candle's
    /// ops when false. Off the CPU only candle's ops exist.
    pub fused: bool,
}

impl Backend {
    pub fn label(&self) -> String {
        let dev = match &self.device {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
            Device::Metal(_) => "metal",
        };
        if self.device.is_cpu() {
            format!("{dev} ({})", if self.fused { "fused" } else { "unfused" })
        } else {
            dev.to_string()
        }
    }
}

/// What to check: one network, its norm kinds, the batch.
#[derive(Debug, Clone)]
pub struct GpuCheckParams {
    pub model: ModelKind,
    pub norms: Vec<NormKind>,
    pub tasks: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// f64 (the check) or f32 (what training uses; see the module docs).
    pub dtype: DType,
}

/// Which result of the step a row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Forward,
    RunningStats,
    Gradient,
    AdamStep,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Forward => "forward",
            Stage::RunningStats => "running stats",
            Stage::Gradient => "gradient",
            Stage::AdamStep => "adam step",
        }
    }
}

/// One tensor compared across the two backends.
#[derive(Debug, Clone)]
pub struct TensorDiff {
    pub norm: NormKind,
    pub stage: Stage,
    pub name: String,
    /// max |reference − other| (for the Adam step: the larger of the two
    /// backends' distance from the expected update, in units of lr).
    pub max_abs: f64,
    /// max |reference| (1 for the Adam step, whose error is already scaled).
    pub scale: f64,
    pub tolerance: f64,
    pub elements: usize,
}

impl TensorDiff {
    /// `max_abs / scale`; an all-zero reference is compared absolutely.
    pub fn relative(&self) -> f64 {
        if self.scale > 0.0 {
            self.max_abs / self.scale
        } else {
            self.max_abs
        }
    }

    pub fn ok(&self) -> bool {
        // NaN anywhere fails: `NaN <= tol` is false.
        self.relative() <= self.tolerance
    }
}

/// One parameter through the step, on the host.
struct ParamStep {
    name: String,
    lr: f64,
    grad: Vec<f64>,
    before: Vec<f64>,
    after: Vec<f64>,
}

/// Everything one step produces, on the host.
struct StepResult {
    logits: Vec<f64>,
    buffers: Vec<(String, Vec<f64>)>,
    params: Vec<ParamStep>,
}

fn host(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?)
}

/// The random batch of the check: images in [0, 1), labels 0/1.
fn batch(p: &GpuCheckParams, image_size: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0x9e37_79b9);
    let x = (0..p.batch_size * 3 * image_size * image_size)
        .map(|_| rng.r#gen::<f32>())
        .collect();
    let y = (0..p.batch_size * p.tasks)
        .map(|_| f32::from(u8::from(rng.gen_bool(0.5))))
        .collect();
    (x, y)
}

fn run_step(p: &GpuCheckParams, norm: NormKind, b: &Backend) -> Result<StepResult> {
    let dev = &b.device;
    // `train::build_model` with the check's dtype.
    let store = ParamStore::new(p.dtype, dev.clone());
    let mut net = MultiTaskNet::new(
        &p.model.spec(),
        norm,
        p.tasks,
        NormParams::default(),
        &store.builder(p.seed),
    )?;
    net.fused = b.fused;
    let s = p.model.spec().image_size;
    let (x, y) = batch(p, s);
    let x = Tensor::from_vec(x, (p.batch_size, 3, s, s), dev)?.to_dtype(p.dtype)?;
    let y = Tensor::from_vec(y, (p.batch_size, p.tasks), dev)?.to_dtype(p.dtype)?;
    let groups = param_groups(&store, ALPHA, 0.0);
    let lrs: Vec<(String, f64)> = groups
        .iter()
        .flat_map(|g| g.vars.iter().map(|(n, _)| (n.clone(), LR * g.lr_mult)))
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::adam(), LR, groups)?;
    let logits = net.forward(&x, true)?;
    let loss = bce_with_logits(&logits, &y)?;
    let grads = loss.backward()?;
    let mut params = Vec::new();
    let mut vars = store.sorted(ParamGroupKind::Weights);
    vars.extend(store.sorted(ParamGroupKind::Gates));
    for (name, var) in &vars {
        let lr = lrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, lr)| *lr)
            .with_context(|| format!("{name} is in no parameter group"))?;
        let g = grads
            .get(var.as_tensor())
            .with_context(|| format!("{name} got no gradient on {}", b.label()))?;
        params.push(ParamStep {
            name: name.clone(),
            lr,
            grad: host(g)?,
            before: host(var.as_tensor())?,
            after: Vec::new(),
        });
    }
    opt.step(&grads)?;
    for ((_, var), row) in vars.iter().zip(params.iter_mut()) {
        row.after = host(var.as_tensor())?;
    }
    let buffers = store
        .sorted(ParamGroupKind::Buffers)
        .into_iter()
        .map(|(n, v)| Ok((n, host(v.as_tensor())?)))
        .collect::<Result<_>>()?;
    Ok(StepResult {
        logits: host(&logits)?,
        buffers,
        params,
    })
}

fn max_abs(v: impl Iterator<Item = f64>) -> f64 {
    // f64::max drops NaN; keep it so that a NaN fails the check.
    v.fold(0.0, |m, x| {
        if x.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(x)
        }
    })
}

fn diff(
    norm: NormKind,
    stage: Stage,
    name: &str,
    reference: &[f64],
    other: &[f64],
    tolerance: f64,
) -> Result<TensorDiff> {
    if reference.len() != other.len() {
        bail!(
            "{name}: {} elements on one backend, {} on the other",
            reference.len(),
            other.len()
        );
    }
    Ok(TensorDiff {
        norm,
        stage,
        name: name.to_string(),
        max_abs: max_abs(reference.iter().zip(other).map(|(a, b)| (a - b).abs())),
        scale: max_abs(reference.iter().map(|a| a.abs())),
        tolerance,
        elements: reference.len(),
    })
}

/// How far a backend's first Adam update of one parameter is from
/// −lr·g/(|g| + ε) computed here in f64 from that backend's own gradient
/// (m̂ = g and v̂ = g² after one step, no weight decay), in units of lr.
/// Comparing the two backends' updates with each other instead would
/// amplify their gradients' rounding differences wherever |g| is near ε.
fn adam_step_error(p: &ParamStep) -> f64 {
    let OptimizerKind::Adam { eps, .. } = OptimizerKind::adam() else {
        unreachable!("OptimizerKind::adam() is Adam")
    };
    max_abs(
        p.grad
            .iter()
            .zip(&p.before)
            .zip(&p.after)
            .map(|((g, b), a)| {
                let expected = -p.lr * g / (g.abs() + eps);
                ((a - b) - expected).abs() / p.lr
            }),
    )
}

/// Compares one step on `reference` with the same step on `other`, for
/// every norm kind of `p`: one row per tensor.
pub fn compare_backends(
    p: &GpuCheckParams,
    reference: &Backend,
    other: &Backend,
) -> Result<Vec<TensorDiff>> {
    let tol = Tolerances::for_dtype(p.dtype);
    let mut rows = Vec::new();
    for &norm in &p.norms {
        let a = run_step(p, norm, reference)
            .with_context(|| format!("{norm} step on {}", reference.label()))?;
        let b = run_step(p, norm, other)
            .with_context(|| format!("{norm} step on {}", other.label()))?;
        rows.push(diff(
            norm,
            Stage::Forward,
            "logits",
            &a.logits,
            &b.logits,
            tol.forward,
        )?);
        for ((name, va), (_, vb)) in a.buffers.iter().zip(&b.buffers) {
            rows.push(diff(norm, Stage::RunningStats, name, va, vb, tol.forward)?);
        }
        for (pa, pb) in a.params.iter().zip(&b.params) {
            rows.push(diff(
                norm,
                Stage::Gradient,
                &pa.name,
                &pa.grad,
                &pb.grad,
                tol.gradient,
            )?);
            rows.push(TensorDiff {
                norm,
                stage: Stage::AdamStep,
                name: pa.name.clone(),
                max_abs: adam_step_error(pa).max(adam_step_error(pb)),
                scale: 1.0,
                tolerance: tol.step,
                elements: pa.grad.len(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(model: ModelKind, tasks: usize, dtype: DType) -> GpuCheckParams {
        GpuCheckParams {
            model,
            norms: NormKind::ALL.to_vec(),
            tasks,
            batch_size: 6,
            seed: 3,
            dtype,
        }
    }

    #[test]
    fn one_backend_against_itself_is_exact() -> Result<()> {
        let cpu = Backend {
            device: Device::Cpu,
            fused: true,
        };
        let rows = compare_backends(&params(ModelKind::ShapesCnn, 3, DType::F32), &cpu, &cpu)?;
        // Bit for bit, except the Adam rows: each side's update against the
        // formula evaluated here in f64; in f32 the update θ' − θ alone is
        // rounded to ulp(θ) ≈ 1e-8, a few 1e-5 of lr = 3e-4.
        for r in &rows {
            if r.stage == Stage::AdamStep {
                assert!(r.ok(), "{r:?}");
            } else {
                assert_eq!(r.max_abs, 0.0, "{r:?}");
            }
        }
        // Every stage appears for every norm kind.
        for norm in NormKind::ALL {
            for stage in [
                Stage::Forward,
                Stage::RunningStats,
                Stage::Gradient,
                Stage::AdamStep,
            ] {
                assert!(rows.iter().any(|r| r.norm == norm && r.stage == stage));
            }
        }
        Ok(())
    }

    /// The fused CPU kernels against candle's ops: two different
    /// implementations, as the CUDA check compares, within the f64
    /// tolerances, on the network whose f32 gradients differ by up to 4e-2
    /// (module docs).
    #[test]
    fn fused_cpu_matches_candle_ops_within_the_tolerances() -> Result<()> {
        let fused = Backend {
            device: Device::Cpu,
            fused: true,
        };
        let unfused = Backend {
            device: Device::Cpu,
            fused: false,
        };
        let p = GpuCheckParams {
            norms: vec![NormKind::TsSigmaBn],
            batch_size: 4,
            ..params(ModelKind::CelebaCnn, 2, DType::F64)
        };
        let mut rows = compare_backends(&p, &fused, &unfused)?;
        rows.extend(compare_backends(
            &params(ModelKind::ShapesCnn, 3, DType::F64),
            &fused,
            &unfused,
        )?);
        let bad: Vec<_> = rows.iter().filter(|r| !r.ok()).collect();
        assert!(bad.is_empty(), "{bad:?}");
        // They are different code: not bit-identical.
        assert!(rows.iter().any(|r| r.max_abs > 0.0));
        Ok(())
    }

    #[test]
    fn a_wrong_gradient_fails() -> Result<()> {
        let r = diff(
            NormKind::TsSigmaBn,
            Stage::Gradient,
            "w",
            &[1.0, -2.0],
            &[1.0, -1.5],
            1e-3,
        )?;
        assert!(!r.ok());
        let nan = diff(
            NormKind::TsSigmaBn,
            Stage::Gradient,
            "w",
            &[1.0],
            &[f64::NAN],
            1e-3,
        )?;
        assert!(!nan.ok());
        Ok(())
    }
}
