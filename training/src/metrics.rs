//! Per-task metrics. Binary tasks follow the CelebA convention: F1 of the
//! positive class at threshold 0.5 (logit 0) and accuracy; F1 is 0 when a
//! task has no positives and none are predicted (scikit-learn's
//! `zero_division=0`). Regression tasks (shapes' size task, paper App. E)
//! get the mean squared error of the raw output and R² against the split's
//! own targets. The mean F1 that selects the best epoch and sums up a run
//! is over the binary tasks only: a regression task has no F1.

use crate::data::TaskKind;

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

/// Sums of one regression task: count, squared error, targets, squared
/// targets (f64, so 10⁵ standardised targets lose nothing that matters).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ErrorSums {
    pub n: u64,
    pub sse: f64,
    pub sum_y: f64,
    pub sum_y2: f64,
}

impl ErrorSums {
    pub fn mse(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sse / self.n as f64
        }
    }

    /// 1 − SSE/SST. Constant targets (SST = 0) follow scikit-learn's
    /// `r2_score` (`force_finite`): 1 for a perfect prediction, else 0.
    pub fn r2(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let sst = self.sum_y2 - self.sum_y * self.sum_y / self.n as f64;
        if sst <= 0.0 {
            if self.sse == 0.0 { 1.0 } else { 0.0 }
        } else {
            1.0 - self.sse / sst
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Accumulator {
    Binary(Counts),
    Regression(ErrorSums),
}

/// Accumulates the metrics of `T` tasks over batches.
#[derive(Debug, Clone)]
pub struct TaskMetrics {
    acc: Vec<Accumulator>,
}

/// The score of one task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TaskScore {
    Binary { f1: f64, accuracy: f64 },
    Regression { mse: f64, r2: f64 },
}

impl TaskScore {
    /// F1 of a binary task; `None` for a regression task.
    pub fn f1(&self) -> Option<f64> {
        match self {
            TaskScore::Binary { f1, .. } => Some(*f1),
            TaskScore::Regression { .. } => None,
        }
    }
}

impl TaskMetrics {
    pub fn new(kinds: &[TaskKind]) -> Self {
        TaskMetrics {
            acc: kinds
                .iter()
                .map(|k| match k {
                    TaskKind::Binary => Accumulator::Binary(Counts::default()),
                    TaskKind::Regression => Accumulator::Regression(ErrorSums::default()),
                })
                .collect(),
        }
    }

    /// Adds a batch of outputs (logits of binary tasks, predictions of
    /// regression tasks) and labels, both `[N, T]` row-major.
    pub fn add(&mut self, outputs: &[f32], labels: &[f32]) {
        let t = self.acc.len();
        for (row_z, row_y) in outputs.chunks(t).zip(labels.chunks(t)) {
            for ((a, &z), &y) in self.acc.iter_mut().zip(row_z).zip(row_y) {
                match a {
                    Accumulator::Binary(c) => match (z > 0.0, y > 0.5) {
                        (true, true) => c.tp += 1,
                        (true, false) => c.fp += 1,
                        (false, false) => c.tn += 1,
                        (false, true) => c.fn_ += 1,
                    },
                    Accumulator::Regression(e) => {
                        let (z, y) = (f64::from(z), f64::from(y));
                        e.n += 1;
                        e.sse += (z - y) * (z - y);
                        e.sum_y += y;
                        e.sum_y2 += y * y;
                    }
                }
            }
        }
    }

    pub fn scores(&self) -> Vec<TaskScore> {
        self.acc
            .iter()
            .map(|a| match a {
                Accumulator::Binary(c) => TaskScore::Binary {
                    f1: c.f1(),
                    accuracy: c.accuracy(),
                },
                Accumulator::Regression(e) => TaskScore::Regression {
                    mse: e.mse(),
                    r2: e.r2(),
                },
            })
            .collect()
    }
}

/// Means over the binary tasks of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanScores {
    pub f1: f64,
    pub accuracy: f64,
    /// How many tasks the means are over (regression tasks are left out).
    pub binary_tasks: usize,
}

/// Mean F1 and mean accuracy over the binary tasks; regression tasks are
/// left out (0 for both when there is no binary task).
pub fn mean_scores(scores: &[TaskScore]) -> MeanScores {
    let (mut f1, mut accuracy, mut n) = (0.0, 0.0, 0usize);
    for s in scores {
        if let TaskScore::Binary { f1: f, accuracy: a } = s {
            f1 += f;
            accuracy += a;
            n += 1;
        }
    }
    let d = n.max(1) as f64;
    MeanScores {
        f1: f1 / d,
        accuracy: accuracy / d,
        binary_tasks: n,
    }
}

/// Mean squared error over the regression tasks, `None` when there are
/// none (shapes has at most one, its size task).
pub fn mean_regression_mse(scores: &[TaskScore]) -> Option<f64> {
    let mses: Vec<f64> = scores
        .iter()
        .filter_map(|s| match s {
            TaskScore::Regression { mse, .. } => Some(*mse),
            TaskScore::Binary { .. } => None,
        })
        .collect();
    (!mses.is_empty()).then(|| mses.iter().sum::<f64>() / mses.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_and_accuracy_match_sklearn() {
        // y = [1,1,0,0,1], pred = [1,0,0,1,1]:
        // sklearn f1_score = 0.6667, accuracy_score = 0.6
        let mut m = TaskMetrics::new(&[TaskKind::Binary]);
        m.add(&[2.0, -1.0, -3.0, 0.5, 1.0], &[1.0, 1.0, 0.0, 0.0, 1.0]);
        let TaskScore::Binary { f1, accuracy } = m.scores()[0] else {
            panic!("a binary task scores F1")
        };
        assert!((f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((accuracy - 0.6).abs() < 1e-12);
    }

    #[test]
    fn no_positives_gives_zero_f1() {
        let mut m = TaskMetrics::new(&[TaskKind::Binary]);
        m.add(&[-1.0, -2.0], &[0.0, 0.0]);
        assert_eq!(
            m.scores()[0],
            TaskScore::Binary {
                f1: 0.0,
                accuracy: 1.0
            }
        );
    }

    #[test]
    fn regression_matches_sklearn_and_is_left_out_of_mean_f1() {
        // y = np.array([0.5, -1.0, 2.0, 0.0]); p = np.array([0.0, -1.5, 2.5, 1.0])
        // ((y - p)**2).mean() = 0.4375
        // 1 - ((y - p)**2).sum() / ((y - y.mean())**2).sum() = 0.626666…
        // (scikit-learn's mean_squared_error and r2_score give the same)
        let mut m = TaskMetrics::new(&[TaskKind::Binary, TaskKind::Regression]);
        // Two batches: sums accumulate across them.
        m.add(&[1.0, 0.0, -1.0, -1.5], &[1.0, 0.5, 0.0, -1.0]);
        m.add(&[1.0, 2.5, 1.0, 1.0], &[1.0, 2.0, 0.0, 0.0]);
        let s = m.scores();
        let TaskScore::Regression { mse, r2 } = s[1] else {
            panic!("a regression task scores MSE")
        };
        assert!((mse - 0.4375).abs() < 1e-12);
        assert!((r2 - 0.626_666_666_666_666_7).abs() < 1e-12);
        assert_eq!(s[1].f1(), None);
        // F1 of task 0: tp 2, fp 1, fn 0 → 0.8; the mean ignores task 1.
        let mean = mean_scores(&s);
        assert!((mean.f1 - 0.8).abs() < 1e-12);
        assert_eq!(mean.binary_tasks, 1);
        assert_eq!(mean_regression_mse(&s), Some(mse));
    }

    #[test]
    fn constant_targets_follow_sklearn_r2() {
        // r2_score([1, 1], [1, 1]) = 1.0; r2_score([1, 1], [1, 2]) = 0.0
        let mut m = TaskMetrics::new(&[TaskKind::Regression]);
        m.add(&[1.0, 1.0], &[1.0, 1.0]);
        assert_eq!(m.scores()[0], TaskScore::Regression { mse: 0.0, r2: 1.0 });
        let mut m = TaskMetrics::new(&[TaskKind::Regression]);
        m.add(&[1.0, 2.0], &[1.0, 1.0]);
        assert_eq!(m.scores()[0], TaskScore::Regression { mse: 0.5, r2: 0.0 });
        assert_eq!(mean_regression_mse(&[]), None);
    }
}
