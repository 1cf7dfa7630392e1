//! The JSON of `mtl-train diagnose` (schema `mtl-train/diagnose`, version 1,
//! training/README.md "diagnose") as typed, validated structs, and the
//! per-batch task-pair gradient cosines of the `<stem>.conflict.csv` it names.
//!
//! Reading order: bytes → JSON value → `schema` and `schema_version` checked
//! (so a file of another tool or version is named as such, not as a missing
//! key) → typed structs → shapes checked against `tasks` (every per-task
//! array has T entries, every matrix is T × T). Only the keys the report
//! uses are typed; others are ignored, so additive changes within v1 read.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::DiagnosticsError;

/// The schema name and the newest version this reader understands (it
/// reads every version from 1; the writer is [`super::write`]).
pub use super::write::{SCHEMA, SCHEMA_VERSION};

/// One diagnose file, read and checked.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The JSON file read.
    pub path: PathBuf,
    pub checkpoint: DiagnosedCheckpoint,
    pub tasks: Vec<String>,
    pub trainer: String,
    pub gradients: Gradients,
    /// `None` in a recorder's file (version 2): nothing was evaluated.
    pub evaluation: Option<Evaluation>,
    pub pruning: Pruning,
    /// Per-batch cosines from `files.conflict_csv` beside the JSON; `None`
    /// when that file is absent (`conflict_note` says why).
    pub conflict: Option<ConflictSamples>,
    pub conflict_note: Option<String>,
}

/// `checkpoint`: the run that was diagnosed (from its `mtl.*` metadata).
#[derive(Debug, Clone, Deserialize)]
pub struct DiagnosedCheckpoint {
    /// The checkpoint file, or for the PyTorch recorder the model's class.
    pub path: String,
    /// The recorder's architecture label (`HPS`, `TSσBN`, …), when given.
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// `tssbn`, `tsbn` or `bn` (shared BN: hard parameter sharing, HPS).
    #[serde(default)]
    pub norm: Option<String>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub epoch: Option<u64>,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl DiagnosedCheckpoint {
    /// Short label of the architecture: "TSσBN", "TSBN", "HPS" (shared BN).
    pub fn norm_label(&self) -> String {
        match self.norm.as_deref() {
            Some("tssbn") => "TSσBN".into(),
            Some("tsbn") => "TSBN".into(),
            Some("bn") => "HPS".into(),
            Some(other) => other.to_string(),
            None => self
                .architecture
                .clone()
                .or_else(|| self.model.clone())
                .unwrap_or_else(|| "unknown architecture".into()),
        }
    }
}

/// Summary of one set of values (`n`, quantiles, …); `null` → `None`.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    pub n: usize,
    #[serde(default)]
    pub undefined: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub q05: Option<f64>,
    pub q25: Option<f64>,
    pub median: Option<f64>,
    pub q75: Option<f64>,
    pub q95: Option<f64>,
    pub max: Option<f64>,
    pub share_negative: Option<f64>,
}

/// Per-task distributions over batches: one entry per task for each
/// statistic.
#[derive(Debug, Clone, Deserialize)]
pub struct PerTask {
    pub mean: Vec<Option<f64>>,
    pub median: Vec<Option<f64>>,
    pub min: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
    pub q05: Vec<Option<f64>>,
    pub q95: Vec<Option<f64>>,
}

/// T × T matrices of the per-pair cosine over batches (diagonal null).
#[derive(Debug, Clone, Deserialize)]
pub struct PairMatrices {
    pub mean: Vec<Vec<Option<f64>>>,
    pub median: Vec<Vec<Option<f64>>>,
    pub share_negative: Vec<Vec<Option<f64>>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Conflict {
    pub pooled: Summary,
    pub pairs: PairMatrices,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Imbalance {
    /// max_t mean‖g_t‖ / min_t mean‖g_t‖ (= max/min of the AvgNorm weights
    /// built from the mean norms).
    pub max_over_min_of_mean_norms: Option<f64>,
    pub largest_mean_norm_task: Option<String>,
    pub smallest_mean_norm_task: Option<String>,
    pub per_batch_max_over_min: Summary,
}

/// One scope: `overall` (all shared weights) or one shared weight tensor.
#[derive(Debug, Clone, Deserialize)]
pub struct Scope {
    pub scope: String,
    pub params: u64,
    pub conflict: Conflict,
    pub norm: PerTask,
    pub cos_with_aggregate: PerTask,
    pub avgnorm_weight: PerTask,
    pub aggregate_norm: Summary,
    pub imbalance: Imbalance,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gradients {
    pub method: String,
    pub split: String,
    /// `None` when the recorder was not told (batches of several sizes).
    pub batch_size: Option<u64>,
    pub batches: u64,
    pub scopes: Vec<Scope>,
    /// Per batch, the training step it was recorded at (version 2).
    #[serde(default)]
    pub steps: Option<Vec<u64>>,
    /// The `overall` scope per training step (version 2, with `steps`).
    #[serde(default)]
    pub over_steps: Option<OverSteps>,
}

/// Pooled task-pair cosines per training step.
#[derive(Debug, Clone, Deserialize)]
pub struct StepConflict {
    pub mean: Vec<Option<f64>>,
    pub median: Vec<Option<f64>>,
    pub q05: Vec<Option<f64>>,
    pub q95: Vec<Option<f64>>,
    pub share_negative: Vec<Option<f64>>,
}

/// `gradients.over_steps`: one entry per distinct training step, in order.
#[derive(Debug, Clone, Deserialize)]
pub struct OverSteps {
    pub scope: String,
    pub step: Vec<u64>,
    pub batches: Vec<u64>,
    pub conflict: StepConflict,
    pub aggregate_norm_mean: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaskEvaluation {
    pub task: String,
    pub f1: Option<f64>,
    pub loss: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvaluationMean {
    pub f1: Option<f64>,
    pub loss: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Evaluation {
    pub split: String,
    pub samples: u64,
    pub tasks: Vec<TaskEvaluation>,
    pub mean: EvaluationMean,
}

/// One pruning-impact matrix, `[pruned task][evaluated task]`, with its
/// diagonal dominance and permutation p-values.
#[derive(Debug, Clone, Deserialize)]
pub struct PruneMatrix {
    pub matrix: Vec<Vec<Option<f64>>>,
    pub diagonal_share_by_evaluated: Option<f64>,
    pub p_value_by_evaluated: Option<f64>,
    pub diagonal_share_by_pruned: Option<f64>,
    pub p_value_by_pruned: Option<f64>,
    pub null_share: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ranking {
    /// `importance` (top-k by σ(γ)) or `specialization` (top-k by normalised
    /// importance).
    pub ranking: String,
    /// The drop of the score named by `pruning.metric` (F1 for mtl-train;
    /// the PyTorch side writes `score_drop` for the user's score).
    #[serde(alias = "score_drop")]
    pub f1_drop: PruneMatrix,
    /// mtl-train only (the PyTorch side evaluates one score).
    #[serde(default)]
    pub loss_increase: Option<PruneMatrix>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Pruning {
    Skipped {
        reason: String,
    },
    Done {
        k: u64,
        filters_per_task: u64,
        permutations: u64,
        rankings: Vec<Ranking>,
        /// What `f1_drop` is the drop of ("F1" unless the file says).
        #[serde(default = "f1_metric")]
        metric: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
struct Files {
    conflict_csv: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Raw {
    checkpoint: DiagnosedCheckpoint,
    tasks: Vec<String>,
    trainer: String,
    gradients: Gradients,
    #[serde(default)]
    evaluation: Option<Evaluation>,
    #[serde(default = "not_pruned")]
    pruning: Pruning,
    #[serde(default)]
    files: Option<Files>,
}

fn f1_metric() -> String {
    "F1".into()
}

fn not_pruned() -> Pruning {
    Pruning::Skipped {
        reason: "the file has no pruning object (not measured)".into(),
    }
}

/// Task-pair cosines cos(g_a, g_b) of every batch and pair, per scope, from
/// `<stem>.conflict.csv`; undefined (empty) cells are counted, not kept.
#[derive(Debug, Clone)]
pub struct ConflictSamples {
    pub path: PathBuf,
    /// Scope names in the CSV's column order (`overall` first).
    pub scopes: Vec<String>,
    /// `values[s]`: the defined cosines of scope `s`, in file order.
    pub values: Vec<Vec<f64>>,
    pub undefined: Vec<usize>,
}

/// Reads and checks a diagnose JSON and, when present beside it, its
/// conflict CSV.
pub fn read_diagnostics(path: &Path) -> Result<Diagnostics, DiagnosticsError> {
    let bytes = std::fs::read(path).map_err(|source| DiagnosticsError::Io {
        path: path.to_path_buf(),
        cause: source,
    })?;
    parse_diagnostics(path, &bytes)
}

/// Whether `path` looks like a diagnose file (valid JSON with the right
/// `schema`); used to pick files up beside checkpoints without failing on
/// unrelated `.json` files.
pub fn is_diagnose_file(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("schema").and_then(|s| s.as_str()) == Some(SCHEMA))
}

/// [`read_diagnostics`] on bytes already read; `path` names the file in
/// errors and locates the CSV.
pub fn parse_diagnostics(path: &Path, bytes: &[u8]) -> Result<Diagnostics, DiagnosticsError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| DiagnosticsError::Json {
            path: path.to_path_buf(),
            cause: source,
        })?;
    check_schema(path, &value)?;
    let raw: Raw = serde_json::from_value(value).map_err(|e| DiagnosticsError::Invalid {
        path: path.to_path_buf(),
        what: e.to_string(),
    })?;
    validate(path, &raw)?;
    let (conflict, conflict_note) = match raw.files.as_ref().and_then(|f| f.conflict_csv.clone()) {
        None => (None, Some("the file names no conflict CSV".to_string())),
        Some(name) => {
            // Only the file name is used: the CSV must sit beside the JSON.
            let file = Path::new(&name)
                .file_name()
                .map(|f| f.to_os_string())
                .unwrap_or_default();
            let csv = path.with_file_name(file);
            if csv.is_file() {
                (Some(read_conflict_csv(&csv, &raw)?), None)
            } else {
                (
                    None,
                    Some(format!(
                        "{} is not beside {}: per-batch cosine distributions are not drawn, only the pooled summary",
                        csv.display(),
                        path.display()
                    )),
                )
            }
        }
    };
    Ok(Diagnostics {
        path: path.to_path_buf(),
        checkpoint: raw.checkpoint,
        tasks: raw.tasks,
        trainer: raw.trainer,
        gradients: raw.gradients,
        evaluation: raw.evaluation,
        pruning: raw.pruning,
        conflict,
        conflict_note,
    })
}

fn check_schema(path: &Path, v: &serde_json::Value) -> Result<(), DiagnosticsError> {
    let wrong = |found: String| DiagnosticsError::WrongSchema {
        path: path.to_path_buf(),
        found,
    };
    let Some(obj) = v.as_object() else {
        return Err(wrong("the JSON is not an object".into()));
    };
    match obj.get("schema") {
        None => {
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(6).collect();
            keys.sort_unstable();
            return Err(wrong(format!(
                "it has no 'schema' key (top-level keys: {})",
                keys.join(", ")
            )));
        }
        Some(serde_json::Value::String(s)) if s == SCHEMA => {}
        Some(other) => {
            return Err(wrong(format!("schema is {other}, expected \"{SCHEMA}\"")));
        }
    }
    match obj.get("schema_version") {
        Some(serde_json::Value::Number(n))
            if n.as_u64()
                .is_some_and(|v| (1..=u64::from(SCHEMA_VERSION)).contains(&v)) =>
        {
            Ok(())
        }
        Some(other) => Err(DiagnosticsError::Version {
            path: path.to_path_buf(),
            found: other.to_string(),
        }),
        None => Err(DiagnosticsError::Version {
            path: path.to_path_buf(),
            found: "missing".into(),
        }),
    }
}

fn validate(path: &Path, r: &Raw) -> Result<(), DiagnosticsError> {
    let bad = |what: String| DiagnosticsError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    let t = r.tasks.len();
    if t == 0 {
        return Err(bad("'tasks' is empty".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = r.tasks.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(bad(format!("task '{d}' appears twice in 'tasks'")));
    }
    let vec_len = |what: &str, v: &[Option<f64>]| {
        if v.len() == t {
            Ok(())
        } else {
            Err(bad(format!("{what} has {} entries for {t} tasks", v.len())))
        }
    };
    let square = |what: &str, m: &[Vec<Option<f64>>]| {
        if m.len() == t && m.iter().all(|row| row.len() == t) {
            Ok(())
        } else {
            Err(bad(format!(
                "{what} is not {t} × {t} (rows: {}, row lengths {:?})",
                m.len(),
                m.iter().map(Vec::len).take(4).collect::<Vec<_>>()
            )))
        }
    };
    if r.gradients.scopes.is_empty() {
        return Err(bad("'gradients.scopes' is empty".into()));
    }
    for s in &r.gradients.scopes {
        let at = |k: &str| format!("gradients.scopes['{}'].{k}", s.scope);
        for (k, p) in [
            ("norm", &s.norm),
            ("cos_with_aggregate", &s.cos_with_aggregate),
            ("avgnorm_weight", &s.avgnorm_weight),
        ] {
            for (stat, v) in [
                ("mean", &p.mean),
                ("median", &p.median),
                ("min", &p.min),
                ("max", &p.max),
                ("q05", &p.q05),
                ("q95", &p.q95),
            ] {
                vec_len(&at(&format!("{k}.{stat}")), v)?;
            }
        }
        square(&at("conflict.pairs.mean"), &s.conflict.pairs.mean)?;
        square(&at("conflict.pairs.median"), &s.conflict.pairs.median)?;
        square(
            &at("conflict.pairs.share_negative"),
            &s.conflict.pairs.share_negative,
        )?;
    }
    if let Some(e) = &r.evaluation
        && e.tasks.len() != t
    {
        return Err(bad(format!(
            "evaluation.tasks has {} entries for {t} tasks",
            e.tasks.len()
        )));
    }
    validate_steps(&r.gradients).map_err(bad)?;
    if let Pruning::Done { rankings, .. } = &r.pruning {
        for k in rankings {
            square(
                &format!("pruning '{}' f1_drop.matrix", k.ranking),
                &k.f1_drop.matrix,
            )?;
            if let Some(l) = &k.loss_increase {
                square(
                    &format!("pruning '{}' loss_increase.matrix", k.ranking),
                    &l.matrix,
                )?;
            }
        }
    }
    Ok(())
}

/// `steps` has one entry per batch; every `over_steps` column one per step.
fn validate_steps(g: &Gradients) -> Result<(), String> {
    if let Some(steps) = &g.steps
        && steps.len() as u64 != g.batches
    {
        return Err(format!(
            "gradients.steps has {} entries for {} batches",
            steps.len(),
            g.batches
        ));
    }
    if let Some(o) = &g.over_steps {
        let n = o.step.len();
        let c = &o.conflict;
        for (k, len) in [
            ("batches", o.batches.len()),
            ("conflict.mean", c.mean.len()),
            ("conflict.median", c.median.len()),
            ("conflict.q05", c.q05.len()),
            ("conflict.q95", c.q95.len()),
            ("conflict.share_negative", c.share_negative.len()),
            ("aggregate_norm_mean", o.aggregate_norm_mean.len()),
        ] {
            if len != n {
                return Err(format!(
                    "gradients.over_steps.{k} has {len} entries for {n} steps"
                ));
            }
        }
    }
    Ok(())
}

/// `batch,task_a,task_b,overall,<shared weight>…`: one row per batch and
/// pair, cos(g_a, g_b) per scope; empty = undefined.
fn read_conflict_csv(path: &Path, r: &Raw) -> Result<ConflictSamples, DiagnosticsError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiagnosticsError::Io {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let csv_err = |line: usize, what: String| DiagnosticsError::Csv {
        path: path.to_path_buf(),
        line,
        what,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| csv_err(1, "the file is empty".into()))?
        .split(',')
        .collect();
    if header.len() < 4 || header[..3] != ["batch", "task_a", "task_b"] {
        return Err(csv_err(
            1,
            format!(
                "header starts {:?}, expected batch,task_a,task_b,<scope>…",
                &header[..header.len().min(3)]
            ),
        ));
    }
    let scopes: Vec<String> = header[3..].iter().map(|s| s.to_string()).collect();
    let known: Vec<&str> = r
        .gradients
        .scopes
        .iter()
        .map(|s| s.scope.as_str())
        .collect();
    if let Some(s) = scopes.iter().find(|s| !known.contains(&s.as_str())) {
        return Err(csv_err(
            1,
            format!(
                "column '{s}' is not a scope of the JSON ({})",
                known.join(", ")
            ),
        ));
    }
    let mut values = vec![Vec::new(); scopes.len()];
    let mut undefined = vec![0usize; scopes.len()];
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(csv_err(
                n,
                format!(
                    "{} cells for {} columns (truncated?)",
                    cells.len(),
                    header.len()
                ),
            ));
        }
        for (s, cell) in cells[3..].iter().enumerate() {
            if cell.is_empty() {
                undefined[s] += 1;
                continue;
            }
            let v: f64 = cell.parse().map_err(|_| {
                csv_err(
                    n,
                    format!("'{cell}' in column '{}' is not a number", scopes[s]),
                )
            })?;
            if !(-1.0 - 1e-6..=1.0 + 1e-6).contains(&v) {
                return Err(csv_err(
                    n,
                    format!("cosine {v} in column '{}' is outside [−1, 1]", scopes[s]),
                ));
            }
            values[s].push(v);
        }
    }
    Ok(ConflictSamples {
        path: path.to_path_buf(),
        scopes,
        values,
        undefined,
    })
}

impl Diagnostics {
    /// The scope named `overall` (all shared weights), else the first.
    pub fn overall(&self) -> Option<&Scope> {
        self.gradients
            .scopes
            .iter()
            .find(|s| s.scope == "overall")
            .or_else(|| self.gradients.scopes.first())
    }
}
