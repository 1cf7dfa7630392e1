//! Filter specialization (paper 000, §5.3 "Filter groups", Fig. 4 left): filter `i` is
//! specialized for task `t'` when its normalized importance
//! `I[t',i] / Σ_t I[t,i]` exceeds a threshold `τ` (the paper uses 0.5).
//! Counted per layer and over the whole network.

use crate::importance::ImportanceMatrix;

use super::AnalysisError;

/// The threshold `τ`, checked to lie strictly between 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecializationParams {
    tau: f64,
}

impl SpecializationParams {
    pub fn new(tau: f64) -> Result<Self, AnalysisError> {
        if tau.is_nan() || tau <= 0.0 || tau >= 1.0 {
            return Err(AnalysisError::Param {
                name: "tau",
                value: tau.to_string(),
                expected: "0 < tau < 1 (the paper uses 0.5)".into(),
            });
        }
        Ok(Self { tau })
    }

    pub fn tau(&self) -> f64 {
        self.tau
    }
}

impl Default for SpecializationParams {
    /// `τ = 0.5`, the paper's choice: at most one task per filter.
    fn default() -> Self {
        Self { tau: 0.5 }
    }
}

/// Number of specialized filters per task, in task order.
/// Serializes as a JSON object `{task: count}` keeping task order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskCounts(Vec<(String, usize)>);

impl TaskCounts {
    pub fn new(counts: Vec<(String, usize)>) -> Self {
        Self(counts)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.0.iter().map(|(t, c)| (t.as_str(), *c))
    }
    pub fn get(&self, task: &str) -> Option<usize> {
        self.0.iter().find(|(t, _)| t == task).map(|(_, c)| *c)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_slice(&self) -> &[(String, usize)] {
        &self.0
    }
}

impl serde::Serialize for TaskCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (t, c) in &self.0 {
            m.serialize_entry(t, c)?;
        }
        m.end()
    }
}

/// Specialization counts of one layer (or of the whole network in
/// [`SpecializationReport::total`], where `layer` is `"total"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerSpecialization {
    pub layer: String,
    pub filters: usize,
    /// Filters specialized for at least one task (each filter counted once).
    pub specialized: usize,
    /// `specialized / filters` (0 for a layer without filters).
    pub fraction: f64,
    /// Filters specialized for each task. With `τ < 0.5` one filter can
    /// exceed `τ` for several tasks and is then counted once for each, so the
    /// counts may sum to more than `specialized`.
    pub per_task: TaskCounts,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpecializationReport {
    pub tau: f64,
    pub layers: Vec<LayerSpecialization>,
    pub total: LayerSpecialization,
}

/// Count specialized filters per layer and in total.
///
/// A filter whose importances sum to 0 (or less, possible with `identity`
/// gates) has no meaningful normalized importance and is never specialized.
/// With negative importances the ratio can exceed 1; it is used as is.
pub fn specialization(im: &ImportanceMatrix, p: &SpecializationParams) -> SpecializationReport {
    let data = im.data();
    let t = im.n_tasks();
    // per filter: which tasks exceed τ
    let hits: Vec<Vec<bool>> = (0..im.n_filters())
        .map(|c| {
            let col = data.column(c);
            let sum: f64 = col.sum();
            if sum <= 0.0 {
                return vec![false; t];
            }
            col.iter().map(|&v| v / sum > p.tau).collect()
        })
        .collect();
    let count = |layer: &str, cols: &[Vec<bool>]| {
        let specialized = cols.iter().filter(|h| h.iter().any(|&b| b)).count();
        let per_task = im
            .tasks()
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let n = cols
                    .iter()
                    .filter(|h| h.get(k).copied().unwrap_or(false))
                    .count();
                (name.clone(), n)
            })
            .collect();
        LayerSpecialization {
            layer: layer.to_string(),
            filters: cols.len(),
            specialized,
            fraction: if cols.is_empty() {
                0.0
            } else {
                specialized as f64 / cols.len() as f64
            },
            per_task: TaskCounts(per_task),
        }
    };
    let layers = im
        .layers()
        .iter()
        .map(|l| count(&l.name, hits.get(l.range()).unwrap_or(&[])))
        .collect();
    SpecializationReport {
        tau: p.tau,
        layers,
        total: count("total", &hits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importance::LayerSpan;
    use nalgebra::DMatrix;

    fn im2(v: &[f64], spans: &[(&str, usize)]) -> ImportanceMatrix {
        let f = v.len() / 2;
        let mut start = 0;
        let layers = spans
            .iter()
            .map(|(n, len)| {
                let s = LayerSpan {
                    name: n.to_string(),
                    start,
                    len: *len,
                };
                start += len;
                s
            })
            .collect();
        ImportanceMatrix::new(
            vec!["a".into(), "b".into()],
            layers,
            DMatrix::from_row_slice(2, f, v),
        )
        .unwrap()
    }

    #[test]
    fn params_are_validated() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let e = SpecializationParams::new(bad).unwrap_err();
            assert!(e.to_string().contains("tau"), "{e}");
        }
        assert_eq!(SpecializationParams::new(0.3).unwrap().tau(), 0.3);
    }

    #[test]
    fn counts_per_layer_and_total() {
        // filters: (0.9,0.1) a; (0.5,0.5) none; (0,0) none; (0.2,0.8) b
        let m = im2(
            &[0.9, 0.5, 0.0, 0.2, 0.1, 0.5, 0.0, 0.8],
            &[("l1", 2), ("l2", 2)],
        );
        let r = specialization(&m, &SpecializationParams::default());
        assert_eq!(r.layers[0].specialized, 1);
        assert_eq!(r.layers[0].per_task.get("a"), Some(1));
        assert_eq!(r.layers[1].specialized, 1);
        assert_eq!(r.layers[1].per_task.get("b"), Some(1));
        assert_eq!(r.total.specialized, 2);
        assert_eq!(r.total.fraction, 0.5);
        let json = serde_json::to_string(&r.total.per_task).unwrap();
        assert_eq!(json, r#"{"a":1,"b":1}"#);
    }

    #[test]
    fn low_tau_counts_filter_once_but_for_each_task() {
        let m = im2(&[0.5, 0.5], &[("l", 1)]);
        let r = specialization(&m, &SpecializationParams::new(0.4).unwrap());
        assert_eq!(r.total.specialized, 1);
        assert_eq!(r.total.per_task.iter().map(|(_, c)| c).sum::<usize>(), 2);
    }

    #[test]
    fn one_task_every_positive_filter_is_specialized() {
        let m = ImportanceMatrix::single_layer(
            vec!["a".into()],
            "l",
            DMatrix::from_row_slice(1, 3, &[0.1, 0.0, 0.7]),
        )
        .unwrap();
        let r = specialization(&m, &SpecializationParams::default());
        assert_eq!(r.total.specialized, 2);
    }

    #[test]
    fn empty_layer_has_zero_fraction() {
        let m = im2(&[0.9, 0.1], &[("empty", 0), ("l", 1)]);
        let r = specialization(&m, &SpecializationParams::default());
        assert_eq!((r.layers[0].filters, r.layers[0].fraction), (0, 0.0));
    }
}
