//! Per-task loss and scores of a model on a split in evaluation mode
//! (running statistics), as `mtl-train eval` computes them, plus each
//! task's own mean BCE (`train::evaluate` reports only the mean over
//! tasks).

use anyhow::Result;

use crate::data::{Dataset, Split};
use crate::metrics::{TaskMetrics, TaskScore};
use crate::models::MultiTaskNet;

use super::task_grads::per_task_bce;

/// Per-task results on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEval {
    /// Mean BCE of each task over the split's samples.
    pub loss: Vec<f64>,
    pub scores: Vec<TaskScore>,
    pub samples: usize,
}

pub fn evaluate_tasks(
    net: &MultiTaskNet,
    data: &Dataset,
    split: &Split,
    batch: usize,
    dtype: candle_core::DType,
    device: &candle_core::Device,
) -> Result<TaskEval> {
    let t = data.tasks.len();
    let mut metrics = TaskMetrics::new(&data.kinds);
    let mut loss = vec![0.0f64; t];
    let mut n = 0usize;
    for idx in split.eval_batches(batch) {
        let (x, y) = split.batch(&idx, data.image_size, t, device)?;
        let (x, y) = (x.to_dtype(dtype)?, y.to_dtype(dtype)?);
        let logits = net.forward(&x, false)?;
        let per = per_task_bce(&logits, &y)?
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()?;
        for (acc, l) in loss.iter_mut().zip(per) {
            *acc += l * idx.len() as f64;
        }
        n += idx.len();
        let f32_values = |v: &candle_core::Tensor| {
            v.flatten_all()?
                .to_dtype(candle_core::DType::F32)?
                .to_vec1::<f32>()
        };
        let (l, yv) = (f32_values(&logits)?, f32_values(&y)?);
        metrics.add(&l, &yv);
    }
    for l in &mut loss {
        *l /= n.max(1) as f64;
    }
    Ok(TaskEval {
        loss,
        scores: metrics.scores(),
        samples: n,
    })
}
