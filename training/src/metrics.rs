//! Per-task binary classification metrics, the CelebA convention: F1 of the
//! positive class at threshold 0.5 (logit 0) and accuracy. F1 is 0 when a
//! task has no positives and none are predicted (scikit-learn's
//! `zero_division=0`).

/// Confusion counts of one task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Counts {
    pub fn f1(&self) -> f64 {
        let denom = 2 * self.tp + self.fp + self.fn_;
        if denom == 0 {
            0.0
        } else {
            2.0 * self.tp as f64 / denom as f64
        }
    }

    pub fn accuracy(&self) -> f64 {
        let n = self.tp + self.fp + self.tn + self.fn_;
        if n == 0 {
            0.0
        } else {
            (self.tp + self.tn) as f64 / n as f64
        }
    }
}

/// Accumulates counts for `T` tasks over batches.
#[derive(Debug, Clone)]
pub struct TaskMetrics {
    pub counts: Vec<Counts>,
}

/// F1 and accuracy of one task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskScore {
    pub f1: f64,
    pub accuracy: f64,
}

impl TaskMetrics {
    pub fn new(tasks: usize) -> Self {
        TaskMetrics {
            counts: vec![Counts::default(); tasks],
        }
    }

    /// Adds a batch of logits and {0, 1} labels, both `[N, T]` row-major.
    pub fn add(&mut self, logits: &[f32], labels: &[f32]) {
        let t = self.counts.len();
        for (row_l, row_y) in logits.chunks(t).zip(labels.chunks(t)) {
            for ((c, &z), &y) in self.counts.iter_mut().zip(row_l).zip(row_y) {
                match (z > 0.0, y > 0.5) {
                    (true, true) => c.tp += 1,
                    (true, false) => c.fp += 1,
                    (false, false) => c.tn += 1,
                    (false, true) => c.fn_ += 1,
                }
            }
        }
    }

    pub fn scores(&self) -> Vec<TaskScore> {
        self.counts
            .iter()
            .map(|c| TaskScore {
                f1: c.f1(),
                accuracy: c.accuracy(),
            })
            .collect()
    }
}

/// Mean F1 and mean accuracy over tasks.
pub fn mean_scores(scores: &[TaskScore]) -> TaskScore {
    let n = scores.len().max(1) as f64;
    TaskScore {
        f1: scores.iter().map(|s| s.f1).sum::<f64>() / n,
        accuracy: scores.iter().map(|s| s.accuracy).sum::<f64>() / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_and_accuracy_match_sklearn() {
        // y = [1,1,0,0,1], pred = [1,0,0,1,1]:
        // sklearn f1_score = 0.6667, accuracy_score = 0.6
        let mut m = TaskMetrics::new(1);
        m.add(&[2.0, -1.0, -3.0, 0.5, 1.0], &[1.0, 1.0, 0.0, 0.0, 1.0]);
        let s = m.scores()[0];
        assert!((s.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.accuracy - 0.6).abs() < 1e-12);
    }

    #[test]
    fn no_positives_gives_zero_f1() {
        let mut m = TaskMetrics::new(1);
        m.add(&[-1.0, -2.0], &[0.0, 0.0]);
        assert_eq!(m.scores()[0].f1, 0.0);
        assert_eq!(m.scores()[0].accuracy, 1.0);
    }
}
