//! Binary cross-entropy on logits, averaged over samples and tasks, in the
//! stable form max(z, 0) − z·y + log(1 + e^(−|z|)).

use candle_core::{Result, Tensor};

pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let per = ((logits.relu()? - (logits * targets)?)? + softplus_neg_abs)?;
    per.mean_all()
}
