//! Training-step timing on random data, the candle side of the step-time
//! comparison with `training/bench/celeba_cnn_torch.py`. Timings are
//! reported, never asserted.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::layers::{NormKind, NormParams};
use crate::models::ModelKind;
use crate::optim::{Optimizer, OptimizerKind, param_groups};
use crate::step::train_step;
use crate::train::build_model;

#[derive(Debug, Clone)]
pub struct BenchParams {
    pub model: ModelKind,
    pub norm: NormKind,
    pub tasks: usize,
    pub batch_size: usize,
    pub image_size: usize,
    pub warmup: usize,
    pub steps: usize,
    /// candle's own conv2d and tensor-op norms instead of the fused kernels.
    pub unfused: bool,
    /// Tasks per forward/backward chunk ([`crate::step`]); `None`: all.
    pub task_chunk: Option<usize>,
}

/// Seconds of each timed step (forward, backward, Adam update; BCE on every
/// task).
pub fn time_steps(p: &BenchParams, device: &Device) -> Result<Vec<f64>> {
    let mut model = build_model(
        p.model,
        &Default::default(),
        p.norm,
        p.tasks,
        0,
        NormParams::default(),
        device,
    )?;
    model.net.fused = !p.unfused;
    let groups = param_groups(&model.store, 100.0, 0.0);
    let mut opt = Optimizer::new(OptimizerKind::adam(), 3e-4, groups)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let s = p.image_size;
    let x: Vec<f32> = (0..p.batch_size * 3 * s * s)
        .map(|_| rng.r#gen::<f32>())
        .collect();
    let y: Vec<f32> = (0..p.batch_size * p.tasks)
        .map(|_| f32::from(u8::from(rng.gen_bool(0.5))))
        .collect();
    let x = Tensor::from_vec(x, (p.batch_size, 3, s, s), device)?;
    let y = Tensor::from_vec(y, (p.batch_size, p.tasks), device)?;
    let binary = vec![false; p.tasks];
    let mut times = Vec::with_capacity(p.steps);
    for step in 0..p.warmup + p.steps {
        let t0 = Instant::now();
        // Reading the loss (inside) waits for the device (CUDA is
        // asynchronous).
        train_step(&model.net, &mut opt, &x, &y, &binary, p.task_chunk)?;
        if step >= p.warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

/// The median of `v` (0 for an empty slice).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}
