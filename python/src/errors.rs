//! The Python exceptions and the conversion of library errors into them:
//! `MtlInspectError` and its subclasses `InputError` (the CLI's exit code 1:
//! a file, its contents, an analysis that cannot run on them) and
//! `ParameterError` (exit code 2: change the argument). A panic never
//! crosses into Python: [`guard`] turns it into `MtlInspectError`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mtl_inspect::analysis::AnalysisError;
use mtl_inspect::runs::LoadError;
use pyo3::PyErr;
use pyo3::exceptions::PyException;

pyo3::create_exception!(
    _native,
    MtlInspectError,
    PyException,
    "Base class of every error mtl_inspect raises."
);
pyo3::create_exception!(
    _native,
    InputError,
    MtlInspectError,
    "A checkpoint or input file cannot be read or analysed (the CLI's exit code 1)."
);
pyo3::create_exception!(
    _native,
    ParameterError,
    MtlInspectError,
    "A parameter is out of range or malformed (the CLI's exit code 2)."
);

/// An error with its class, carrying the message the CLI would print after
/// `error: `.
#[derive(Debug)]
pub enum Error {
    Input(String),
    Param(String),
}

/// Bad input: the message is the error's whole chain, as `anyhow`'s `{:#}`
/// prints it in the CLI.
pub fn input(e: impl Into<anyhow::Error>) -> Error {
    Error::Input(format!("{:#}", e.into()))
}

/// Analysis errors: parameter problems are parameter errors, the rest input
/// errors (the CLI's `Failure::analysis`).
pub fn analysis(e: AnalysisError) -> Error {
    match e {
        AnalysisError::Param { .. } => Error::Param(e.to_string()),
        other => input(other),
    }
}

/// A parameter error with the CLI's flag prefix (`--tau: …`).
pub fn param(prefix: &str, e: AnalysisError) -> Error {
    if prefix.is_empty() {
        Error::Param(e.to_string())
    } else {
        Error::Param(format!("{prefix}: {e}"))
    }
}

/// Reading errors: a malformed `layers=` is a parameter error, the rest
/// input errors (the CLI's exit codes 2 and 1).
impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        if e.is_usage() {
            Error::Param(e.to_string())
        } else {
            input(e)
        }
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Input(m) => InputError::new_err(m),
            Error::Param(m) => ParameterError::new_err(m),
        }
    }
}

/// Runs `f`, turning a panic into `MtlInspectError` (the last guard: the
/// library is meant not to panic on anything from a file or a parameter).
pub fn guard<T>(f: impl FnOnce() -> Result<T, PyErr>) -> Result<T, PyErr> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(MtlInspectError::new_err(format!(
                "internal error in mtl-inspect (a bug; please report it with the checkpoint that caused it): {msg}"
            )))
        }
    }
}
