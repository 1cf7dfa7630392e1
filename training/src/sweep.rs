//! Sweeps: the cartesian product of the swept values — the gate
//! learning-rate multiplier α (paper §7.1, App. D) and the noise ξ of
//! shapes' size task (App. E) — and the seeds. A value that varies within
//! the sweep names each run's files (`a100`, `noise0.5`) and is recorded in
//! `mtl.sweep`, so the runs of one sweep never share a file; a value given
//! once leaves the names as they were (`shapes_tssbn_seed0`).

use std::collections::BTreeMap;

/// The values to sweep, each list non-empty and without repeats (checked by
/// `cli`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub alphas: Vec<f64>,
    /// Noise of the size task; `[None]` without the task.
    pub noises: Vec<Option<f64>>,
    pub seeds: Vec<u64>,
}

/// One run of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepRun {
    pub alpha: f64,
    pub noise: Option<f64>,
    pub seed: u64,
}

impl Sweep {
    /// Every combination, noise-major (one generated dataset per noise
    /// level), then α, then seed.
    pub fn runs(&self) -> Vec<SweepRun> {
        let mut out = Vec::with_capacity(self.noises.len() * self.alphas.len() * self.seeds.len());
        for &noise in &self.noises {
            for &alpha in &self.alphas {
                for &seed in &self.seeds {
                    out.push(SweepRun { alpha, noise, seed });
                }
            }
        }
        out
    }

    /// The swept values of `run` that vary in this sweep, by flag name
    /// (`alpha`, `noise`); empty when nothing varies.
    pub fn varying(&self, run: &SweepRun) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        if self.alphas.len() > 1 {
            m.insert("alpha".to_string(), run.alpha);
        }
        if self.noises.len() > 1
            && let Some(xi) = run.noise
        {
            m.insert("noise".to_string(), xi);
        }
        m
    }

    /// The file-name label of `run`: `a<α>` and `noise<ξ>` for the values
    /// that vary, joined by `_` (`a100_noise0.5`); empty when nothing
    /// varies. Distinct values print distinctly (shortest round-trip
    /// decimal), so distinct runs get distinct labels.
    pub fn label(&self, run: &SweepRun) -> String {
        let v = self.varying(run);
        let mut parts = Vec::new();
        if let Some(a) = v.get("alpha") {
            parts.push(format!("a{a}"));
        }
        if let Some(xi) = v.get("noise") {
            parts.push(format!("noise{xi}"));
        }
        parts.join("_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_labels_are_distinct_and_single_values_unlabelled() {
        let s = Sweep {
            alphas: vec![1.0, 100.0],
            noises: vec![Some(0.0), Some(0.5), Some(3.0)],
            seeds: vec![0, 1],
        };
        let runs = s.runs();
        assert_eq!(runs.len(), 12);
        let labels: std::collections::BTreeSet<String> = runs
            .iter()
            .map(|r| format!("{}_seed{}", s.label(r), r.seed))
            .collect();
        assert_eq!(labels.len(), 12);
        assert_eq!(s.label(&runs[2]), "a100_noise0");
        assert_eq!(
            s.label(&SweepRun {
                alpha: 100.0,
                noise: Some(0.5),
                seed: 0
            }),
            "a100_noise0.5"
        );
        let single = Sweep {
            alphas: vec![100.0],
            noises: vec![Some(0.5)],
            seeds: vec![0, 1],
        };
        assert!(single.runs().iter().all(|r| single.label(r).is_empty()));
        assert!(single.varying(&single.runs()[0]).is_empty());
        let only_alpha = Sweep {
            alphas: vec![1.0, 10.0],
            noises: vec![None],
            seeds: vec![0],
        };
        assert_eq!(only_alpha.label(&only_alpha.runs()[1]), "a10");
    }
}
