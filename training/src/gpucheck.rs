//! `mtl-train gpucheck`: one training step of a small network on two
//! backends — the CPU as `mtl-train` trains on it (fused norm kernels,
//! im2col convolution) and, by default, CUDA (candle's own ops) — from the
//! same weights (drawn on the host from one seed) and the same batch, then
//! every tensor the step produces compared: the logits (forward), the
//! running statistics the forward updated, every parameter's gradient
//! (backward) and every parameter after one Adam step.
//!
//! Tolerances, all relative to the largest magnitude of the reference
//! tensor (an element-wise relative error is meaningless where values
//! cross zero):
//! - forward and running statistics: 1e-4. Both sides compute in f32
//!   (candle does not use TF32 unless asked); they differ only in summation
//!   order (gemm blocking, reduction trees over up to T·N·H·W elements),
//!   which moves results by a few f32 ulps per reduction, about 1e-6
//!   relative, times the depth of the network.
//! - gradients: 1e-3. The backward pass divides by the batch standard
//!   deviation in every norm layer and sums over the batch in every weight
//!   gradient, which amplifies those rounding differences; a wrong kernel
//!   (a missing term, a wrong index, the 1/4 scaling of candle's max-pool
//!   backward) is off by O(1).
//! - the Adam step: a parameter's first Adam update is −lr·g/(|g| + ε),
//!   about ±lr whatever |g| is, so an element whose gradient is itself
//!   within the gradient tolerance of zero may legitimately move the other
//!   way on the other backend. Those elements are counted and left out;
//!   every other element must move by the same amount to 1e-3·lr.

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::layers::{NormKind, NormParams};
use crate::models::ModelKind;
use crate::models::loss::bce_with_logits;
use crate::optim::{Optimizer, OptimizerKind, param_groups};
use crate::train::build_model;
use crate::vars::ParamGroupKind;

/// Tolerance of the logits and running statistics (see the module docs).
pub const FORWARD_TOL: f64 = 1e-4;
/// Tolerance of every gradient.
pub const GRADIENT_TOL: f64 = 1e-3;
/// Tolerance of the Adam update, as a fraction of the element's learning rate.
pub const STEP_TOL: f64 = 1e-3;

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
    /// max |reference − other| (for the Adam step: over the elements kept,
    /// in units of the element's learning rate).
    pub max_abs: f64,
    /// max |reference| (1 for the Adam step, whose error is already scaled).
    pub scale: f64,
    pub tolerance: f64,
    /// Adam step only: elements left out because their gradient is within
    /// the gradient tolerance of zero.
    pub skipped: usize,
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

/// Everything one step produces, on the host.
struct StepResult {
    logits: Vec<f32>,
    buffers: Vec<(String, Vec<f32>)>,
    /// (name, learning rate, gradient, parameter before, parameter after)
    params: Vec<(String, f64, Vec<f32>, Vec<f32>, Vec<f32>)>,
}

fn host(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
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
    let mut model = build_model(p.model, norm, p.tasks, p.seed, NormParams::default(), dev)?;
    model.net.fused = b.fused;
    let s = p.model.spec().image_size;
    let (x, y) = batch(p, s);
    let x = Tensor::from_vec(x, (p.batch_size, 3, s, s), dev)?;
    let y = Tensor::from_vec(y, (p.batch_size, p.tasks), dev)?;
    let groups = param_groups(&model.store, ALPHA, 0.0);
    let lrs: Vec<(String, f64)> = groups
        .iter()
        .flat_map(|g| g.vars.iter().map(|(n, _)| (n.clone(), LR * g.lr_mult)))
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::adam(), LR, groups)?;
    let logits = model.net.forward(&x, true)?;
    let loss = bce_with_logits(&logits, &y)?;
    let grads = loss.backward()?;
    let mut params = Vec::new();
    let mut vars = model.store.sorted(ParamGroupKind::Weights);
    vars.extend(model.store.sorted(ParamGroupKind::Gates));
    for (name, var) in &vars {
        let lr = lrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, lr)| *lr)
            .with_context(|| format!("{name} is in no parameter group"))?;
        let g = grads
            .get(var.as_tensor())
            .with_context(|| format!("{name} got no gradient on {}", b.label()))?;
        params.push((
            name.clone(),
            lr,
            host(g)?,
            host(var.as_tensor())?,
            Vec::new(),
        ));
    }
    opt.step(&grads)?;
    for ((_, var), row) in vars.iter().zip(params.iter_mut()) {
        row.4 = host(var.as_tensor())?;
    }
    let buffers = model
        .store
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
    reference: &[f32],
    other: &[f32],
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
        max_abs: max_abs(
            reference
                .iter()
                .zip(other)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs()),
        ),
        scale: max_abs(reference.iter().map(|a| f64::from(*a).abs())),
        tolerance,
        skipped: 0,
        elements: reference.len(),
    })
}

/// Compares one step on `reference` with the same step on `other`, for
/// every norm kind of `p`: one row per tensor.
pub fn compare_backends(
    p: &GpuCheckParams,
    reference: &Backend,
    other: &Backend,
) -> Result<Vec<TensorDiff>> {
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
            FORWARD_TOL,
        )?);
        for ((name, va), (_, vb)) in a.buffers.iter().zip(&b.buffers) {
            rows.push(diff(norm, Stage::RunningStats, name, va, vb, FORWARD_TOL)?);
        }
        for (pa, pb) in a.params.iter().zip(&b.params) {
            let (name, lr, ga, before_a, after_a) = pa;
            let (_, _, gb, before_b, after_b) = pb;
            let grad = diff(norm, Stage::Gradient, name, ga, gb, GRADIENT_TOL)?;
            // Elements whose gradient is not determined beyond the
            // gradient tolerance may step either way (module docs).
            let noise = GRADIENT_TOL * grad.scale;
            let mut skipped = 0;
            let mut worst = 0.0_f64;
            for i in 0..ga.len() {
                if f64::from(ga[i]).abs() <= noise {
                    skipped += 1;
                    continue;
                }
                let da = f64::from(after_a[i]) - f64::from(before_a[i]);
                let db = f64::from(after_b[i]) - f64::from(before_b[i]);
                let e = (da - db).abs() / lr;
                worst = if e.is_nan() || worst.is_nan() {
                    f64::NAN
                } else {
                    worst.max(e)
                };
            }
            rows.push(grad);
            rows.push(TensorDiff {
                norm,
                stage: Stage::AdamStep,
                name: name.clone(),
                max_abs: worst,
                scale: 1.0,
                tolerance: STEP_TOL,
                skipped,
                elements: ga.len(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(model: ModelKind, tasks: usize) -> GpuCheckParams {
        GpuCheckParams {
            model,
            norms: NormKind::ALL.to_vec(),
            tasks,
            batch_size: 6,
            seed: 3,
        }
    }

    #[test]
    fn one_backend_against_itself_is_exact() -> Result<()> {
        let cpu = Backend {
            device: Device::Cpu,
            fused: true,
        };
        let rows = compare_backends(&params(ModelKind::ShapesCnn, 3), &cpu, &cpu)?;
        assert!(rows.iter().all(|r| r.max_abs == 0.0), "{rows:?}");
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
    /// implementations, as the CUDA check compares, within the stated
    /// tolerances.
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
        let rows = compare_backends(&params(ModelKind::ShapesCnn, 3), &fused, &unfused)?;
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
            GRADIENT_TOL,
        )?;
        assert!(!r.ok());
        let nan = diff(
            NormKind::TsSigmaBn,
            Stage::Gradient,
            "w",
            &[1.0],
            &[f32::NAN],
            GRADIENT_TOL,
        )?;
        assert!(!nan.ok());
        Ok(())
    }
}
