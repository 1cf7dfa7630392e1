//! Per-run results summarized across runs (seeds): the mean, spread and a
//! 95 % interval of each task's capacity (paper §5.1, Fig. 3 drawn as the
//! mean of several runs) and the mean share of specialized filters per
//! layer (§5.3, Fig. 4), and the depth curves (capacity split and mean
//! off-diagonal similarity per layer, [`super::depth`]) over runs. The
//! renderers draw these; they do not compute them.

use std::collections::HashMap;

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::AnalysisError;
use super::capacity::CapacityReport;
use super::depth::DepthCurves;
use super::specialization::SpecializationReport;

/// Confidence level of [`Spread`]'s interval.
pub const LEVEL: f64 = 0.95;

/// One quantity over `n` runs.
///
/// The interval is Student's t interval for the mean,
/// `mean ± t_{0.975, n−1} · sd / √n` with the sample standard deviation
/// (`ddof = 1`), as `scipy.stats.t.interval(0.95, n − 1, mean, sem)`: it
/// treats runs (seeds) as independent draws and says where the mean over
/// all seeds probably lies, not where one run will fall (that is
/// `min`–`max`). `None` with fewer than 2 runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    pub sd: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl Spread {
    /// Summary of `values` (NaN for an empty slice).
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (min, max) = if n == 0 {
            (f64::NAN, f64::NAN)
        } else {
            (min, max)
        };
        let sd = (n >= 2).then(|| {
            let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        let half = sd.and_then(|sd| {
            let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
            Some(t.inverse_cdf(0.5 + LEVEL / 2.0) * sd / (n as f64).sqrt())
        });
        Spread {
            n,
            mean,
            sd,
            min,
            max,
            ci_low: half.map(|h| mean - h),
            ci_high: half.map(|h| mean + h),
        }
    }
}

/// One task's capacity and its parts across runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskCapacitySpread {
    pub task: String,
    pub capacity: Spread,
    pub shared: Spread,
    pub independent: Spread,
}

/// Capacity of every task across runs, in the first run's task order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CapacityAcrossRuns {
    pub runs: Vec<String>,
    pub level: f64,
    pub tasks: Vec<TaskCapacitySpread>,
}

/// [`Spread`] of capacity, shared and independent capacity per task; runs
/// are matched by task name.
///
/// Errors: no runs, or a run lacking one of the first run's tasks.
pub fn capacity_across_runs(
    runs: &[(String, &CapacityReport)],
) -> Result<CapacityAcrossRuns, AnalysisError> {
    let Some((first_name, first)) = runs.first() else {
        return Err(AnalysisError::Param {
            name: "runs",
            value: "0".into(),
            expected: "at least one capacity result".into(),
        });
    };
    let by_name: Vec<HashMap<&str, &super::capacity::TaskCapacity>> = runs
        .iter()
        .map(|(_, r)| r.tasks.iter().map(|t| (t.task.as_str(), t)).collect())
        .collect();
    let mut tasks = Vec::with_capacity(first.tasks.len());
    for t in &first.tasks {
        let mut rows = Vec::with_capacity(runs.len());
        for ((name, _), m) in runs.iter().zip(&by_name) {
            match m.get(t.task.as_str()) {
                Some(c) => rows.push(*c),
                None => {
                    return Err(AnalysisError::TaskMismatch(format!(
                        "run '{name}' has no task '{}' that run '{first_name}' has",
                        t.task
                    )));
                }
            }
        }
        let col = |f: fn(&super::capacity::TaskCapacity) -> f64| {
            Spread::of(&rows.iter().map(|c| f(c)).collect::<Vec<_>>())
        };
        tasks.push(TaskCapacitySpread {
            task: t.task.clone(),
            capacity: col(|c| c.capacity),
            shared: col(|c| c.shared),
            independent: col(|c| c.independent),
        });
    }
    Ok(CapacityAcrossRuns {
        runs: runs.iter().map(|(n, _)| n.clone()).collect(),
        level: LEVEL,
        tasks,
    })
}

/// Share of specialized filters per layer (the first run's layers, in
/// order) across runs; `None` for a layer some run lacks.
pub fn specialization_across_runs(runs: &[&SpecializationReport]) -> Vec<(String, Option<Spread>)> {
    let Some(first) = runs.first() else {
        return vec![];
    };
    first
        .layers
        .iter()
        .map(|l| {
            let v: Option<Vec<f64>> = runs
                .iter()
                .map(|r| {
                    r.layers
                        .iter()
                        .find(|x| x.layer == l.layer)
                        .map(|x| x.fraction)
                })
                .collect();
            (l.layer.clone(), v.map(|v| Spread::of(&v)))
        })
        .collect()
}

/// One layer's depth-curve values over runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerDepthSpread {
    pub layer: String,
    pub filters: usize,
    /// Mean over tasks of the layer's own capacity, shared and independent
    /// parts, each summarized over runs.
    pub capacity: Spread,
    pub shared: Spread,
    pub independent: Spread,
    /// Mean off-diagonal similarity over runs (`null` with one task).
    pub similarity: Option<Spread>,
}

/// Depth curves of every run and their summary over runs, in the first
/// run's layer order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DepthAcrossRuns {
    pub runs: Vec<String>,
    pub level: f64,
    /// Each run's own curves, in run order.
    pub per_run: Vec<DepthCurves>,
    pub layers: Vec<LayerDepthSpread>,
}

/// [`Spread`] of each layer's depth-curve values over runs; runs are
/// matched by layer name.
///
/// Errors: no runs, or a run lacking one of the first run's layers.
pub fn depth_across_runs(runs: &[(String, DepthCurves)]) -> Result<DepthAcrossRuns, AnalysisError> {
    let Some((first_name, first)) = runs.first() else {
        return Err(AnalysisError::Param {
            name: "runs",
            value: "0".into(),
            expected: "at least one run's depth curves".into(),
        });
    };
    let mut layers = Vec::with_capacity(first.layers.len());
    for l in &first.layers {
        let mut rows = Vec::with_capacity(runs.len());
        for (name, d) in runs {
            match d.layers.iter().find(|x| x.layer == l.layer) {
                Some(x) => rows.push(x),
                None => {
                    return Err(AnalysisError::LayerMismatch(format!(
                        "run '{name}' has no layer '{}' that run '{first_name}' has",
                        l.layer
                    )));
                }
            }
        }
        let col = |f: fn(&super::depth::LayerDepth) -> f64| {
            Spread::of(&rows.iter().map(|x| f(x)).collect::<Vec<_>>())
        };
        let sims: Option<Vec<f64>> = rows.iter().map(|x| x.mean_off_diagonal).collect();
        layers.push(LayerDepthSpread {
            layer: l.layer.clone(),
            filters: l.filters,
            capacity: col(|x| x.mean_capacity),
            shared: col(|x| x.mean_shared),
            independent: col(|x| x.mean_independent),
            similarity: sims.map(|v| Spread::of(&v)),
        });
    }
    Ok(DepthAcrossRuns {
        runs: runs.iter().map(|(n, _)| n.clone()).collect(),
        level: LEVEL,
        per_run: runs.iter().map(|(_, d)| d.clone()).collect(),
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // scipy.stats.t.interval(0.95, 3, loc=np.mean(x), scale=scipy.stats.sem(x))
    // for x = [0.31, 0.25, 0.4, 0.28]:
    // (0.20687695354425079, 0.4131230464557493); np.std(x, ddof=1) = 0.06480740698407861
    #[test]
    fn t_interval_matches_scipy() {
        let s = Spread::of(&[0.31, 0.25, 0.4, 0.28]);
        assert!((s.mean - 0.31).abs() < 1e-15);
        assert!((s.sd.unwrap() - 0.06480740698407861).abs() < 1e-15);
        assert!((s.ci_low.unwrap() - 0.20687695354425079).abs() < 1e-12);
        assert!((s.ci_high.unwrap() - 0.4131230464557493).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.n), (0.25, 0.4, 4));
    }

    #[test]
    fn one_run_has_no_interval() {
        let s = Spread::of(&[0.5]);
        assert_eq!((s.mean, s.sd, s.ci_low, s.ci_high), (0.5, None, None, None));
        assert!(Spread::of(&[]).mean.is_nan());
    }

    fn curves(layers: &[(&str, f64, Option<f64>)]) -> DepthCurves {
        DepthCurves {
            layers: layers
                .iter()
                .map(|&(l, c, s)| super::super::depth::LayerDepth {
                    layer: l.into(),
                    filters: 4,
                    mean_capacity: c,
                    mean_shared: c / 2.0,
                    mean_independent: c / 4.0,
                    mean_off_diagonal: s,
                })
                .collect(),
        }
    }

    #[test]
    fn depth_curves_are_summarized_per_layer_by_name() {
        // The second run lists its layers in another order: matched by name.
        let runs = vec![
            (
                "r0".to_string(),
                curves(&[("a", 0.2, Some(0.9)), ("b", 0.4, Some(0.5))]),
            ),
            (
                "r1".to_string(),
                curves(&[("b", 0.6, Some(0.3)), ("a", 0.4, Some(0.7))]),
            ),
        ];
        let d = depth_across_runs(&runs).unwrap();
        assert_eq!(d.layers.len(), 2);
        let (a, b) = (&d.layers[0], &d.layers[1]);
        assert_eq!(a.layer, "a");
        assert!((a.capacity.mean - 0.3).abs() < 1e-15);
        assert_eq!((a.capacity.min, a.capacity.max), (0.2, 0.4));
        assert!((b.shared.mean - 0.25).abs() < 1e-15);
        let s = b.similarity.as_ref().unwrap();
        assert!((s.mean - 0.4).abs() < 1e-15 && s.min == 0.3 && s.max == 0.5);
        assert_eq!(d.per_run.len(), 2);

        let missing = vec![
            ("r0".to_string(), curves(&[("a", 0.2, None)])),
            ("r1".to_string(), curves(&[("c", 0.2, None)])),
        ];
        assert!(matches!(
            depth_across_runs(&missing),
            Err(AnalysisError::LayerMismatch(_))
        ));
        // One task: no similarity, still a capacity curve.
        let one = depth_across_runs(&missing[..1]).unwrap();
        assert!(one.layers[0].similarity.is_none());
        assert!(depth_across_runs(&[]).is_err());
    }
}
