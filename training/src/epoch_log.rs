//! The per-epoch metrics CSV (`<stem>.metrics.csv`): one [`EpochRecord`]
//! a line, written atomically after each epoch and read back by `--resume`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// One line of the per-epoch CSV.
#[derive(Debug, Clone)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_f1: f64,
    pub val_accuracy: f64,
    pub images_per_sec: f64,
    pub seconds: f64,
    /// Mean validation MSE of the regression tasks, if the data has any.
    pub val_regression_mse: Option<f64>,
}

impl EpochRecord {
    pub const CSV_HEADER: &'static str =
        "epoch,train_loss,val_loss,val_mean_f1,val_mean_accuracy,images_per_sec,seconds";

    /// The header, with a `val_regression_mse` column when `regression`.
    pub fn csv_header(regression: bool) -> String {
        let mut h = Self::CSV_HEADER.to_string();
        if regression {
            h.push_str(",val_regression_mse");
        }
        h
    }

    pub fn csv_row(&self) -> String {
        let mut row = format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.1},{:.2}",
            self.epoch,
            self.train_loss,
            self.val_loss,
            self.val_f1,
            self.val_accuracy,
            self.images_per_sec,
            self.seconds
        );
        if let Some(mse) = self.val_regression_mse {
            row.push_str(&format!(",{mse:.6}"));
        }
        row
    }
}

pub(crate) fn write_csv(path: &Path, records: &[EpochRecord], regression: bool) -> Result<()> {
    let mut body = EpochRecord::csv_header(regression);
    body.push('\n');
    for r in records {
        body.push_str(&r.csv_row());
        body.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("writing metrics {}", path.display()))
}

pub(crate) fn read_csv_records(path: &Path, up_to_epoch: usize) -> Result<Vec<EpochRecord>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading metrics {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<f64> = line
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} line {}: not a number", path.display(), i + 1))?;
        // 7 columns, or 8 with the regression tasks' validation MSE.
        let Some((cols, rest)) = f
            .split_first_chunk::<7>()
            .filter(|(_, rest)| rest.len() <= 1)
        else {
            bail!(
                "{} line {}: expected 7 or 8 columns, found {}",
                path.display(),
                i + 1,
                f.len()
            );
        };
        let [
            epoch,
            train_loss,
            val_loss,
            val_f1,
            val_accuracy,
            images_per_sec,
            seconds,
        ] = *cols;
        if (epoch as usize) <= up_to_epoch {
            out.push(EpochRecord {
                epoch: epoch as usize,
                train_loss,
                val_loss,
                val_f1,
                val_accuracy,
                images_per_sec,
                seconds,
                val_regression_mse: rest.first().copied(),
            });
        }
    }
    Ok(out)
}
