//! The usage error every layer may raise (flags checked in `cli`, checks
//! that need a checkpoint's metadata in `diagnose`), kept apart so that
//! those layers do not import each other; `main` maps it to exit code 2.

/// A usage error: the message says what is wrong and what to pass instead.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
