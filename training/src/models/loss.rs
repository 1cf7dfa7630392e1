//! Binary cross-entropy on logits, averaged over samples and tasks, in the
//! stable form max(z, 0) − z·y + log(1 + e^(−|z|)); with regression tasks
//! (shapes' size task, paper App. E), squared error for those columns.

use candle_core::{Result, Tensor};

pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let per = ((logits.relu()? - (logits * targets)?)? + softplus_neg_abs)?;
    per.mean_all()
}

/// The loss of a mixed task set, equal weights: BCE on the logit for binary
/// tasks, squared error on the raw output for regression tasks (PyTorch's
/// `MSELoss`), each averaged over samples, then over tasks. `regression`
/// flags the regression columns; with none it is [`bce_with_logits`].
pub fn multi_task_loss(outputs: &Tensor, targets: &Tensor, regression: &[bool]) -> Result<Tensor> {
    if !regression.contains(&true) {
        return bce_with_logits(outputs, targets);
    }
    let mask: Vec<f32> = regression.iter().map(|&r| f32::from(u8::from(r))).collect();
    let mask = Tensor::from_vec(mask, (1, regression.len()), outputs.device())?
        .to_dtype(outputs.dtype())?;
    let softplus_neg_abs = (outputs.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let bce = ((outputs.relu()? - (outputs * targets)?)? + softplus_neg_abs)?;
    let squared = (outputs - targets)?.sqr()?;
    // Both are finite for any target, so the mask's zeros carry no NaN.
    let per = (bce.broadcast_mul(&mask.affine(-1.0, 1.0)?)? + squared.broadcast_mul(&mask)?)?;
    per.mean_all()
}
