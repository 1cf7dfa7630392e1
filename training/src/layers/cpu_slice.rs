//! The slice of a CPU storage a contiguous layout views, shared by the
//! custom ops' CPU kernels (conv, pool, fused norm).

use candle_core::{Layout, Result, bail};

/// The elements a contiguous `layout` views in a CPU storage `v`, for the
/// custom ops' kernels; `op` and `what` name the operand in the error.
pub(crate) fn contiguous_slice<'a, E>(
    v: &'a [E],
    layout: &Layout,
    op: &str,
    what: &str,
) -> Result<&'a [E]> {
    match layout.contiguous_offsets().and_then(|(a, b)| v.get(a..b)) {
        Some(s) => Ok(s),
        None => bail!("{op} expects a contiguous {what} within its storage"),
    }
}
