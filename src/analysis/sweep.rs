//! Runs of one `mtl-train` sweep (one parameter varied, e.g. the label
//! noise ξ of paper 000 App. E, or the gates' learning-rate multiplier α of
//! §7.1 / App. D), grouped by the swept value and measured:
//!
//! - the noisy task's capacity split (eq. 4–5, [`super::capacity`]) and its
//!   most similar other task ([`super::similarity`]), when the sweep varies
//!   `noise` and the runs name one regression task (the task the noise is
//!   added to): App. E reports its independent capacity rising with ξ;
//! - the distribution of all gates (Fig. 5/9, [`super::gate_stats`]),
//!   pooled over the runs of a value;
//! - the mean test F1 of the binary tasks at the checkpoint's epoch (the
//!   `mtl.test_mean_f1` metadata `mtl-train` writes; its checkpoints hold
//!   the epoch of best validation F1, `mtl.best_epoch`).
//!
//! Values are ordered numerically; several runs of one value (seeds) are
//! averaged, each run is kept too.

use super::AnalysisError;
use super::capacity::{TaskCapacity, capacity};
use super::gate_stats::{Distribution, GateStatsParams, distribution_of};
use super::similarity::cosine_similarity;
use crate::diagnostics::RunMeta;
use crate::importance::ImportanceMatrix;

/// One run of the sweep, loaded.
#[derive(Debug, Clone, Copy)]
pub struct SweepRunInput<'a> {
    /// Display name (file stem).
    pub name: &'a str,
    pub meta: &'a RunMeta,
    pub importance: &'a ImportanceMatrix,
}

/// The noisy task in one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NoisyTask {
    pub capacity: TaskCapacity,
    /// The other task with the highest cosine similarity of importance
    /// vectors (its clean twin, if the noise is the only difference).
    pub nearest_task: String,
    pub nearest_similarity: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepRun {
    pub run: String,
    pub value: f64,
    pub seed: Option<u64>,
    /// The epoch the checkpoint holds (`mtl.epoch`) and the test F1 there.
    pub epoch: Option<u64>,
    pub test_mean_f1: Option<f64>,
    pub noisy: Option<NoisyTask>,
    /// All gates of the run (tasks × filters).
    pub gates: Distribution,
}

/// Everything at one swept value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepPoint {
    pub value: f64,
    /// Indices into [`SweepReport::runs`].
    pub runs: Vec<usize>,
    /// Means over the runs (of those that have the number).
    pub test_mean_f1: Option<f64>,
    pub noisy_capacity: Option<f64>,
    pub noisy_shared: Option<f64>,
    pub noisy_independent: Option<f64>,
    pub noisy_nearest_similarity: Option<f64>,
    /// Gates of all runs of this value pooled, labelled `parameter = value`.
    pub gates: Distribution,
}

/// Direction of a quantity along increasing swept values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trend {
    /// Consecutive pairs of values compared, and how many went up / down.
    pub steps: usize,
    pub rising: usize,
    pub falling: usize,
    pub first: f64,
    pub last: f64,
}

impl Trend {
    /// Every step up (a tie breaks it).
    pub fn monotone_rising(&self) -> bool {
        self.steps > 0 && self.rising == self.steps
    }

    fn of(values: &[f64]) -> Option<Trend> {
        let (&first, &last) = (values.first()?, values.last()?);
        let steps = values.len() - 1;
        let rising = values.windows(2).filter(|w| w[1] > w[0]).count();
        let falling = values.windows(2).filter(|w| w[1] < w[0]).count();
        Some(Trend {
            steps,
            rising,
            falling,
            first,
            last,
        })
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepReport {
    /// The swept parameter (`mtl.sweep` key), e.g. `noise`, `alpha`.
    pub parameter: String,
    pub noisy_task: Option<String>,
    pub runs: Vec<SweepRun>,
    /// In increasing order of value.
    pub points: Vec<SweepPoint>,
    /// The noisy task's mean independent capacity along the values.
    pub independent_trend: Option<Trend>,
    pub f1_trend: Option<Trend>,
    /// The value with the highest mean test F1.
    pub best_f1_value: Option<f64>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// The one parameter a run sweeps and its value (`mtl.sweep`).
fn swept(r: &SweepRunInput<'_>) -> Result<(String, f64), AnalysisError> {
    match r.meta.sweep.as_slice() {
        [(k, v)] => Ok((k.clone(), *v)),
        [] => Err(AnalysisError::Degenerate(format!(
            "{} has no mtl.sweep metadata: pass runs written by `mtl-train … --noise/--alpha v1,v2,…` to --sweep",
            r.meta.path.display()
        ))),
        many => Err(AnalysisError::Degenerate(format!(
            "{} sweeps {} parameters at once ({}); one parameter per --sweep",
            r.meta.path.display(),
            many.len(),
            many.iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Groups `runs` by their swept value and measures each (module docs).
/// Refused: no runs, a run without `mtl.sweep`, runs that sweep different
/// parameters, or a noise sweep whose noisy task is not in every run.
pub fn sweep(
    runs: &[SweepRunInput<'_>],
    bins: &GateStatsParams,
) -> Result<SweepReport, AnalysisError> {
    let first = runs
        .first()
        .ok_or_else(|| AnalysisError::Degenerate("a sweep needs at least one run".into()))?;
    let (parameter, _) = swept(first)?;
    let mut values = Vec::with_capacity(runs.len());
    for r in runs {
        let (p, v) = swept(r)?;
        if p != parameter {
            return Err(AnalysisError::Degenerate(format!(
                "{} sweeps '{p}' but {} sweeps '{parameter}'; give each sweep its own --sweep",
                r.meta.path.display(),
                first.meta.path.display()
            )));
        }
        values.push(v);
    }
    // The noisy task: the one regression task of a noise sweep.
    let noisy_task = if parameter == "noise" {
        match first.meta.regression_tasks.as_slice() {
            [t] => Some(t.clone()),
            _ => None,
        }
    } else {
        None
    };
    let mut out_runs = Vec::with_capacity(runs.len());
    for (r, &value) in runs.iter().zip(&values) {
        let noisy = match &noisy_task {
            None => None,
            Some(name) => Some(noisy(r, name)?),
        };
        let all: Vec<f64> = r.importance.data().transpose().iter().copied().collect();
        out_runs.push(SweepRun {
            run: r.name.to_string(),
            value,
            seed: r.meta.seed,
            epoch: r.meta.epoch,
            test_mean_f1: r.meta.test_mean_f1,
            noisy,
            gates: distribution_of(r.name, &all, bins, None),
        });
    }
    let mut distinct: Vec<f64> = values.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let points: Vec<SweepPoint> = distinct
        .iter()
        .map(|&value| {
            let idx: Vec<usize> = (0..out_runs.len())
                .filter(|&i| out_runs[i].value == value)
                .collect();
            let of = |f: &dyn Fn(&SweepRun) -> Option<f64>| {
                mean(idx.iter().filter_map(|&i| f(&out_runs[i])))
            };
            let pooled: Vec<f64> = idx
                .iter()
                .flat_map(|&i| {
                    runs[i]
                        .importance
                        .data()
                        .transpose()
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                })
                .collect();
            SweepPoint {
                value,
                test_mean_f1: of(&|r| r.test_mean_f1),
                noisy_capacity: of(&|r| r.noisy.as_ref().map(|n| n.capacity.capacity)),
                noisy_shared: of(&|r| r.noisy.as_ref().map(|n| n.capacity.shared)),
                noisy_independent: of(&|r| r.noisy.as_ref().map(|n| n.capacity.independent)),
                noisy_nearest_similarity: of(&|r| r.noisy.as_ref().map(|n| n.nearest_similarity)),
                gates: distribution_of(
                    &format!("{parameter} = {}", fmt_value(value)),
                    &pooled,
                    bins,
                    None,
                ),
                runs: idx,
            }
        })
        .collect();
    let trend = |f: fn(&SweepPoint) -> Option<f64>| {
        let v: Option<Vec<f64>> = points.iter().map(f).collect();
        v.and_then(|v| Trend::of(&v))
    };
    let best_f1_value = points
        .iter()
        .filter_map(|p| p.test_mean_f1.map(|f| (p.value, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, _)| v);
    Ok(SweepReport {
        independent_trend: trend(|p| p.noisy_independent),
        f1_trend: trend(|p| p.test_mean_f1),
        parameter,
        noisy_task,
        runs: out_runs,
        points,
        best_f1_value,
    })
}

/// A swept value as people write it: `0.5`, `3`, `1000`.
pub fn fmt_value(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn noisy(r: &SweepRunInput<'_>, name: &str) -> Result<NoisyTask, AnalysisError> {
    let t = r.importance.task_index(name).ok_or_else(|| {
        AnalysisError::TaskMismatch(format!(
            "the noisy task '{name}' (mtl.regression_tasks) is not among the tasks of {}",
            r.meta.path.display()
        ))
    })?;
    let cap = capacity(r.importance);
    let capacity = cap
        .tasks
        .get(t)
        .cloned()
        .ok_or_else(|| AnalysisError::Degenerate(format!("no capacity for task '{name}'")))?;
    let sim = cosine_similarity(r.importance);
    let nearest = (0..sim.n_tasks())
        .filter(|&j| j != t)
        .filter_map(|j| sim.get(t, j).map(|s| (j, s)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let (nearest_task, nearest_similarity) = match nearest {
        Some((j, s)) => (sim.tasks.get(j).cloned().unwrap_or_default(), s),
        None => (String::new(), f64::NAN),
    };
    Ok(NoisyTask {
        capacity,
        nearest_task,
        nearest_similarity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;
    use std::path::PathBuf;

    fn meta(file: &str, key: &str, value: f64, f1: Option<f64>, regression: &[&str]) -> RunMeta {
        RunMeta {
            path: PathBuf::from(file),
            sweep: vec![(key.to_string(), value)],
            epoch: Some(3),
            best_epoch: Some(3),
            selection: None,
            test_mean_f1: f1,
            val_mean_f1: None,
            regression_tasks: regression.iter().map(|s| s.to_string()).collect(),
            seed: Some(0),
        }
    }

    fn im(v: &[f64]) -> ImportanceMatrix {
        let names = vec!["a".to_string(), "b".into(), "noisy".into()];
        ImportanceMatrix::single_layer(names, "l", DMatrix::from_row_slice(3, 2, v)).unwrap()
    }

    #[test]
    fn runs_of_one_value_are_averaged_and_values_sorted() {
        let m = [
            meta("r2.safetensors", "noise", 2.0, Some(0.8), &["noisy"]),
            meta("r0a.safetensors", "noise", 0.0, Some(0.6), &["noisy"]),
            meta("r0b.safetensors", "noise", 0.0, None, &["noisy"]),
        ];
        // The noisy task equals `a` at ξ = 0 (no independent capacity) and
        // is orthogonal to both others at ξ = 2 (all independent).
        let ims = [
            im(&[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]),
            im(&[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]),
            im(&[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]),
        ];
        let names = ["r2", "r0a", "r0b"];
        let runs: Vec<SweepRunInput> = (0..3)
            .map(|i| SweepRunInput {
                name: names[i],
                meta: &m[i],
                importance: &ims[i],
            })
            .collect();
        let r = sweep(&runs, &GateStatsParams::new(4).unwrap()).unwrap();
        assert_eq!(r.noisy_task.as_deref(), Some("noisy"));
        let values: Vec<f64> = r.points.iter().map(|p| p.value).collect();
        assert_eq!(values, [0.0, 2.0]);
        assert_eq!(r.points[0].runs, [1, 2]);
        // F1 averaged over the runs that have it.
        assert_eq!(r.points[0].test_mean_f1, Some(0.6));
        assert_eq!(r.points[0].noisy_independent, Some(0.0));
        assert!((r.points[1].noisy_independent.unwrap() - 0.5).abs() < 1e-12);
        // Gates pooled over both runs of ξ = 0.
        assert_eq!(r.points[0].gates.n, 12);
        let t = r.independent_trend.unwrap();
        assert!(t.monotone_rising());
        assert_eq!(r.best_f1_value, Some(2.0));
    }

    #[test]
    fn a_noisy_task_missing_from_a_run_is_named() {
        let m = meta("x.safetensors", "noise", 1.0, None, &["size"]);
        let i = im(&[1.0; 6]);
        let e = sweep(
            &[SweepRunInput {
                name: "x",
                meta: &m,
                importance: &i,
            }],
            &GateStatsParams::new(4).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'size'") && e.contains("x.safetensors"), "{e}");
    }

    #[test]
    fn trends_and_value_text() {
        let t = Trend::of(&[1.0, 1.0, 2.0]).unwrap();
        assert_eq!((t.steps, t.rising, t.falling), (2, 1, 0));
        assert!(!t.monotone_rising(), "a tie is not a rise");
        assert!(Trend::of(&[]).is_none());
        assert!(!Trend::of(&[3.0]).unwrap().monotone_rising());
        assert_eq!(fmt_value(0.5), "0.5");
        assert_eq!(fmt_value(1000.0), "1000");
        assert_eq!(fmt_value(0.0), "0");
    }
}
