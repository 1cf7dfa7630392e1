//! The tidy long table of every run: one row per (run, layer, filter, task)
//! with the stored gate value and the importance the analyses used, so
//! pandas or polars users can take over. CSV is written here; Parquet by
//! polars behind the `parquet` cargo feature.
//!
//! Rows are ordered run, layer (depth order), filter, task. Filters dropped
//! for a non-finite gate (`--allow-nonfinite`) keep their row with an empty
//! importance, so nothing silently disappears.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::error::ReportError;
use crate::checkpoint::discover::Gates;
use crate::importance::ImportanceMatrix;
use crate::importance::from_gates::DroppedFilters;

/// One run to export, as loaded.
#[derive(Debug, Clone, Copy)]
pub struct ExportRun<'a> {
    /// The run's name in the `run` column.
    pub run: &'a str,
    pub gates: &'a Gates,
    pub importance: &'a ImportanceMatrix,
    pub dropped: &'a [DroppedFilters],
}

/// The output format, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

impl ExportFormat {
    /// `.csv` or `.parquet` (case-insensitive).
    pub fn from_path(path: &Path) -> Result<ExportFormat, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(ExportFormat::Csv),
            Some("parquet") | Some("pq") => Ok(ExportFormat::Parquet),
            _ => Err(ReportError::Export {
                format: path.display().to_string(),
                reason: "the output file must end in .csv or .parquet".into(),
            }),
        }
    }

    /// Whether this build can write the format (Parquet needs the
    /// `parquet` feature).
    pub fn available(self) -> bool {
        match self {
            ExportFormat::Csv => true,
            ExportFormat::Parquet => cfg!(feature = "parquet"),
        }
    }
}

/// The long table, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TidyTable {
    pub run: Vec<String>,
    pub layer: Vec<String>,
    /// Index of the filter within its layer, as stored in the checkpoint.
    pub filter: Vec<u32>,
    pub task: Vec<String>,
    /// The stored per-task parameter (γ for σBN).
    pub gate: Vec<f64>,
    /// The importance the analyses used; `None` for a dropped filter.
    pub importance: Vec<Option<f64>>,
}

impl TidyTable {
    pub const COLUMNS: [&'static str; 6] = ["run", "layer", "filter", "task", "gate", "importance"];

    pub fn len(&self) -> usize {
        self.run.len()
    }
    pub fn is_empty(&self) -> bool {
        self.run.is_empty()
    }
}

/// Lays the runs out as the long table. Fails if a run's importance matrix
/// does not match its gates (a layer or filter count disagrees).
pub fn tidy_table(runs: &[ExportRun<'_>]) -> Result<TidyTable, ReportError> {
    let rows: usize = runs
        .iter()
        .map(|r| r.gates.n_filters() * r.gates.tasks.len())
        .sum();
    let mut t = TidyTable {
        run: Vec::with_capacity(rows),
        layer: Vec::with_capacity(rows),
        filter: Vec::with_capacity(rows),
        task: Vec::with_capacity(rows),
        gate: Vec::with_capacity(rows),
        importance: Vec::with_capacity(rows),
    };
    for r in runs {
        let mismatch = |why: String| ReportError::Export {
            format: "tidy table".into(),
            reason: format!(
                "run '{}': {why}; the importance matrix was not made from these gates",
                r.run
            ),
        };
        let spans: HashMap<&str, &crate::importance::LayerSpan> = r
            .importance
            .layers()
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let dropped: HashMap<&str, BTreeSet<usize>> = r
            .dropped
            .iter()
            .map(|d| (d.layer.as_str(), d.filters.iter().copied().collect()))
            .collect();
        let data = r.importance.data();
        for layer in &r.gates.layers {
            let gone = dropped.get(layer.name.as_str());
            let span = spans.get(layer.name.as_str());
            let kept = layer.filters() - gone.map_or(0, BTreeSet::len);
            match span {
                Some(s) if s.len != kept => {
                    return Err(mismatch(format!(
                        "layer '{}' has {kept} kept filters but {} importance columns",
                        layer.name, s.len
                    )));
                }
                None if kept > 0 => {
                    return Err(mismatch(format!(
                        "layer '{}' has no importance columns",
                        layer.name
                    )));
                }
                _ => {}
            }
            if layer.raw.nrows() != r.gates.tasks.len()
                || r.importance.n_tasks() != r.gates.tasks.len()
            {
                return Err(mismatch(format!(
                    "layer '{}' does not have one row per task",
                    layer.name
                )));
            }
            let mut col = span.map_or(0, |s| s.start);
            for f in 0..layer.filters() {
                let is_dropped = gone.is_some_and(|g| g.contains(&f));
                for (ti, task) in r.gates.tasks.iter().enumerate() {
                    t.run.push(r.run.to_string());
                    t.layer.push(layer.name.clone());
                    t.filter.push(f as u32);
                    t.task.push(task.clone());
                    t.gate.push(layer.raw.get(ti, f));
                    t.importance.push(if is_dropped {
                        None
                    } else {
                        Some(data[(ti, col)])
                    });
                }
                if !is_dropped {
                    col += 1;
                }
            }
        }
    }
    Ok(t)
}

/// The long table as bytes in `format`.
pub fn export(runs: &[ExportRun<'_>], format: ExportFormat) -> Result<Vec<u8>, ReportError> {
    let t = tidy_table(runs)?;
    match format {
        ExportFormat::Csv => Ok(to_csv(&t)),
        ExportFormat::Parquet => to_parquet(&t),
    }
}

/// RFC 4180 CSV; floats in Rust's shortest round-trip form, empty for a
/// missing importance, `NaN`/`inf` spelled as pandas reads them.
pub fn to_csv(t: &TidyTable) -> Vec<u8> {
    use std::fmt::Write;
    let mut o = String::with_capacity(t.len() * 48 + 64);
    o.push_str(&TidyTable::COLUMNS.join(","));
    o.push('\n');
    let float = |o: &mut String, v: f64| {
        if v.is_nan() {
            o.push_str("NaN");
        } else if v.is_infinite() {
            o.push_str(if v > 0.0 { "inf" } else { "-inf" });
        } else {
            let _ = write!(o, "{v}");
        }
    };
    for i in 0..t.len() {
        o.push_str(&quote(&t.run[i]));
        o.push(',');
        o.push_str(&quote(&t.layer[i]));
        let _ = write!(o, ",{},", t.filter[i]);
        o.push_str(&quote(&t.task[i]));
        o.push(',');
        float(&mut o, t.gate[i]);
        o.push(',');
        if let Some(v) = t.importance[i] {
            float(&mut o, v);
        }
        o.push('\n');
    }
    o.into_bytes()
}

fn quote(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

#[cfg(feature = "parquet")]
fn to_parquet(t: &TidyTable) -> Result<Vec<u8>, ReportError> {
    use polars::prelude::{Column, DataFrame, ParquetWriter, PolarsError};
    let err = |e: PolarsError| ReportError::Export {
        format: "parquet".into(),
        reason: e.to_string(),
    };
    let columns = vec![
        Column::new("run".into(), &t.run),
        Column::new("layer".into(), &t.layer),
        Column::new("filter".into(), &t.filter),
        Column::new("task".into(), &t.task),
        Column::new("gate".into(), &t.gate),
        Column::new("importance".into(), &t.importance),
    ];
    let mut df = DataFrame::new(t.len(), columns).map_err(err)?;
    let mut buf = std::io::Cursor::new(Vec::new());
    ParquetWriter::new(&mut buf).finish(&mut df).map_err(err)?;
    Ok(buf.into_inner())
}

#[cfg(not(feature = "parquet"))]
fn to_parquet(_: &TidyTable) -> Result<Vec<u8>, ReportError> {
    Err(ReportError::Export {
        format: "parquet".into(),
        reason: "this build has no Parquet support; write .csv instead, or rebuild with `cargo install --features parquet` (adds polars)".into(),
    })
}
