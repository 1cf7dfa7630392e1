//! The training metadata `mtl-train` writes into a checkpoint (`mtl.*`
//! safetensors metadata; training/README.md "Sweeps"), typed: the swept
//! parameter and its value (`mtl.sweep`, e.g. `{"noise":2.0}`), the test
//! and validation mean F1 at the checkpoint's epoch, which tasks are
//! regression tasks. Absent keys are `None`; malformed ones are errors
//! naming the file and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::DiagnosticsError;

#[derive(Debug, Clone, PartialEq)]
pub struct RunMeta {
    pub path: PathBuf,
    /// `mtl.sweep`: the swept parameters of this run and their values,
    /// sorted by name (one entry for the sweeps `mtl-train` writes).
    pub sweep: Vec<(String, f64)>,
    /// `mtl.epoch`: the epoch whose weights the checkpoint holds.
    pub epoch: Option<u64>,
    /// `mtl.best_epoch` and `mtl.selection` (how that epoch was chosen).
    pub best_epoch: Option<u64>,
    pub selection: Option<String>,
    /// `mtl.test_mean_f1`: mean F1 of the binary tasks on the test split,
    /// evaluated at `epoch`.
    pub test_mean_f1: Option<f64>,
    /// `mtl.val_mean_f1`, at `epoch`.
    pub val_mean_f1: Option<f64>,
    /// `mtl.regression_tasks`: continuous targets (the noisy task of the
    /// noise sweep).
    pub regression_tasks: Vec<String>,
    pub seed: Option<u64>,
}

impl RunMeta {
    pub fn from_metadata(
        path: &Path,
        md: &BTreeMap<String, String>,
    ) -> Result<RunMeta, DiagnosticsError> {
        let err = |key: &str, what: String| DiagnosticsError::Meta {
            path: path.to_path_buf(),
            key: key.to_string(),
            what,
        };
        let num = |key: &str| -> Result<Option<f64>, DiagnosticsError> {
            match md.get(key) {
                None => Ok(None),
                Some(s) => match s.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(err(key, format!("'{s}' is not a finite number"))),
                },
            }
        };
        let int = |key: &str| -> Result<Option<u64>, DiagnosticsError> {
            match md.get(key) {
                None => Ok(None),
                Some(s) => s
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| err(key, format!("'{s}' is not a whole number"))),
            }
        };
        let sweep = match md.get("mtl.sweep") {
            None => Vec::new(),
            Some(s) => {
                let m: BTreeMap<String, f64> = serde_json::from_str(s).map_err(|e| {
                    err(
                        "mtl.sweep",
                        format!("'{s}' is not a JSON object of numbers ({e})"),
                    )
                })?;
                if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
                    return Err(err("mtl.sweep", format!("{k} = {v} is not finite")));
                }
                m.into_iter().collect()
            }
        };
        let regression_tasks = match md.get("mtl.regression_tasks") {
            None => Vec::new(),
            Some(s) => serde_json::from_str(s).map_err(|e| {
                err(
                    "mtl.regression_tasks",
                    format!("'{s}' is not a JSON list of task names ({e})"),
                )
            })?,
        };
        Ok(RunMeta {
            path: path.to_path_buf(),
            sweep,
            epoch: int("mtl.epoch")?,
            best_epoch: int("mtl.best_epoch")?,
            selection: md.get("mtl.selection").cloned(),
            test_mean_f1: num("mtl.test_mean_f1")?,
            val_mean_f1: num("mtl.val_mean_f1")?,
            regression_tasks,
            seed: int("mtl.seed")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_sweep_f1_and_regression_tasks() {
        let m = RunMeta::from_metadata(
            Path::new("a.safetensors"),
            &md(&[
                ("mtl.sweep", "{\"noise\":2.0}"),
                ("mtl.test_mean_f1", "0.909806"),
                ("mtl.epoch", "3"),
                ("mtl.regression_tasks", "[\"topleft_size\"]"),
            ]),
        )
        .unwrap();
        assert_eq!(m.sweep, vec![("noise".to_string(), 2.0)]);
        assert_eq!(m.test_mean_f1, Some(0.909806));
        assert_eq!(m.epoch, Some(3));
        assert_eq!(m.regression_tasks, ["topleft_size"]);
        assert_eq!(m.val_mean_f1, None);
    }

    #[test]
    fn malformed_values_name_the_file_and_key() {
        let e = RunMeta::from_metadata(
            Path::new("runs/x.safetensors"),
            &md(&[("mtl.sweep", "[1,2]")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("runs/x.safetensors") && e.contains("mtl.sweep"),
            "{e}"
        );
        let e = RunMeta::from_metadata(
            Path::new("x.safetensors"),
            &md(&[("mtl.test_mean_f1", "NaN")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mtl.test_mean_f1"), "{e}");
    }
}
