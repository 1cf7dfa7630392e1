//! Task similarity (paper 000, §5.2 and App. C): the `T × T` matrix
//! `S[i,j] = I_i·I_j / (‖I_i‖ ‖I_j‖)` of cosine similarities between task
//! importance vectors, and the alignment of several runs' matrices by task
//! name that stability and clustering need.

use nalgebra::DMatrix;

use crate::importance::ImportanceMatrix;

use super::AnalysisError;

/// Cosine similarities between tasks, rows and columns in `tasks` order.
///
/// Invariants: symmetric, every entry in `[-1, 1]`, diagonal exactly 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimilarityMatrix {
    pub tasks: Vec<String>,
    pub matrix: Vec<Vec<f64>>,
    /// Tasks whose importance vector is all zeros (possible with `abs` or
    /// `identity` gates). Cosine is undefined for them; we set their
    /// similarity to every other task to 0 (they share no importance with
    /// anyone) and keep 1 on the diagonal so the matrix stays a valid
    /// similarity. Listed here so reports can flag them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zero_norm_tasks: Vec<String>,
}

impl SimilarityMatrix {
    pub fn n_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// `S[i][j]`, or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        self.matrix.get(i).and_then(|r| r.get(j)).copied()
    }

    /// Entries above the diagonal, row by row (`(0,1), (0,2), …, (1,2), …`),
    /// the same order as scipy's `squareform` / `np.triu_indices(T, 1)`.
    pub fn upper_triangle(&self) -> Vec<f64> {
        let n = self.n_tasks();
        let mut out = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        for i in 0..n {
            for j in i + 1..n {
                out.push(self.get(i, j).unwrap_or(0.0));
            }
        }
        out
    }

    /// The same matrix with rows and columns in the order of `order`
    /// (task names); `None` if the task sets differ.
    pub fn reorder(&self, order: &[String]) -> Option<SimilarityMatrix> {
        if order.len() != self.tasks.len() {
            return None;
        }
        let idx: Vec<usize> = order
            .iter()
            .map(|n| self.tasks.iter().position(|t| t == n))
            .collect::<Option<_>>()?;
        let matrix = idx
            .iter()
            .map(|&i| idx.iter().map(|&j| self.get(i, j).unwrap_or(0.0)).collect())
            .collect();
        let zero_norm_tasks = order
            .iter()
            .filter(|t| self.zero_norm_tasks.contains(t))
            .cloned()
            .collect();
        Some(SimilarityMatrix {
            tasks: order.to_vec(),
            matrix,
            zero_norm_tasks,
        })
    }
}

/// Cosine similarity between every pair of task rows of `im`.
///
/// Computed from the Gram matrix `G = I Iᵀ` (`O(T²F)`), then clamped to
/// `[-1, 1]` against rounding; the diagonal is set to exactly 1. Zero rows:
/// see [`SimilarityMatrix::zero_norm_tasks`].
pub fn cosine_similarity(im: &ImportanceMatrix) -> SimilarityMatrix {
    similarity_from_gram(im.tasks(), &super::kernels::gram(im.data()))
}

/// [`cosine_similarity`] from the Gram matrix `I Iᵀ` of the task rows.
pub(crate) fn similarity_from_gram(tasks: &[String], gram: &DMatrix<f64>) -> SimilarityMatrix {
    let (matrix, zero) = cosine_from_gram(gram);
    let zero_norm_tasks = tasks
        .iter()
        .zip(&zero)
        .filter(|(_, z)| **z)
        .map(|(n, _)| n.clone())
        .collect();
    SimilarityMatrix {
        tasks: tasks.to_vec(),
        matrix,
        zero_norm_tasks,
    }
}

/// The cosine matrix of the rows of `A` from their Gram matrix `G = A Aᵀ`,
/// and which rows are all zero (similarity 0 to every other row, 1 to
/// themselves).
pub(crate) fn cosine_from_gram(gram: &DMatrix<f64>) -> (Vec<Vec<f64>>, Vec<bool>) {
    let t = gram.nrows();
    let norms: Vec<f64> = (0..t).map(|i| gram[(i, i)].max(0.0).sqrt()).collect();
    let zero: Vec<bool> = norms.iter().map(|&n| n == 0.0).collect();
    // Read G above the diagonal only, so the result is symmetric bit for bit.
    let matrix = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| {
                    let (a, b) = (i.min(j), i.max(j));
                    if a == b {
                        1.0
                    } else if zero[a] || zero[b] {
                        0.0
                    } else {
                        (gram[(a, b)] / (norms[a] * norms[b])).clamp(-1.0, 1.0)
                    }
                })
                .collect()
        })
        .collect();
    (matrix, zero)
}

/// Align several runs' similarity matrices to the first run's task order.
///
/// Errors: fewer than `min_runs` runs (`Param`), or a run whose task set
/// differs from the first run's (`TaskMismatch`, naming both runs and the
/// tasks missing on each side).
pub fn align_runs(
    runs: &[(String, SimilarityMatrix)],
    min_runs: usize,
) -> Result<Vec<SimilarityMatrix>, AnalysisError> {
    if runs.len() < min_runs {
        return Err(AnalysisError::Param {
            name: "runs",
            value: runs.len().to_string(),
            expected: format!("at least {min_runs} similarity matrices; pass more runs"),
        });
    }
    let Some((first_name, first)) = runs.first() else {
        return Err(AnalysisError::Param {
            name: "runs",
            value: "0".into(),
            expected: "at least one similarity matrix".into(),
        });
    };
    for (name, s) in runs {
        if s.matrix.len() != s.tasks.len() || s.matrix.iter().any(|r| r.len() != s.tasks.len()) {
            return Err(AnalysisError::Degenerate(format!(
                "similarity matrix of run '{name}' is not {n}×{n} for its {n} tasks",
                n = s.tasks.len()
            )));
        }
    }
    let order = &first.tasks;
    let mut out = Vec::with_capacity(runs.len());
    for (name, s) in runs {
        match s.reorder(order) {
            Some(r) => out.push(r),
            None => {
                let missing_here: Vec<&str> = order
                    .iter()
                    .filter(|t| !s.tasks.contains(t))
                    .map(String::as_str)
                    .collect();
                let extra_here: Vec<&str> = s
                    .tasks
                    .iter()
                    .filter(|t| !order.contains(t))
                    .map(String::as_str)
                    .collect();
                return Err(AnalysisError::TaskMismatch(format!(
                    "run '{name}' lacks [{}] that run '{first_name}' has, and has [{}] that run '{first_name}' lacks ({} vs {} tasks)",
                    missing_here.join(", "),
                    extra_here.join(", "),
                    s.tasks.len(),
                    order.len()
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn im(rows: usize, cols: usize, v: &[f64]) -> ImportanceMatrix {
        let names = (0..rows).map(|i| format!("t{i}")).collect();
        ImportanceMatrix::single_layer(names, "l", DMatrix::from_row_slice(rows, cols, v)).unwrap()
    }

    // Every entry, both triangles and the diagonal, against numpy's full
    // matrix (the code computes one triangle and sets the diagonal, so
    // checking symmetry and a unit diagonal on its output proves nothing):
    //   I = np.array([[0.1,0.9,0.3,0.5],[0.7,0.2,0.8,0.4],[0.3,0.3,0.3,0.9]])
    //   n = np.sqrt(np.diag(I @ I.T)); S = (I @ I.T) / np.outer(n, n)
    #[test]
    fn every_entry_matches_numpy_full_matrix() {
        let s = cosine_similarity(&im(
            3,
            4,
            &[
                0.1, 0.9, 0.3, 0.5, //
                0.7, 0.2, 0.8, 0.4, //
                0.3, 0.3, 0.3, 0.9,
            ],
        ));
        let numpy = [
            0.9999999999999998,
            0.5555130626447873,
            0.7504787743864562,
            0.5555130626447873,
            1.0000000000000002,
            0.7259079527665504,
            0.7504787743864562,
            0.7259079527665504,
            0.9999999999999998,
        ];
        for i in 0..3 {
            for j in 0..3 {
                let (got, want) = (s.matrix[i][j], numpy[i * 3 + j]);
                assert!(
                    (got - want).abs() < 1e-15,
                    "({i},{j}): {got} vs numpy {want}"
                );
            }
        }
        assert!(s.zero_norm_tasks.is_empty());
    }

    #[test]
    fn zero_rows_are_flagged_and_zero() {
        let s = cosine_similarity(&im(3, 2, &[0.0, 0.0, 1.0, 2.0, 0.0, 0.0]));
        assert_eq!(s.zero_norm_tasks, vec!["t0".to_string(), "t2".to_string()]);
        assert_eq!(s.matrix[0][1], 0.0);
        assert_eq!(s.matrix[0][2], 0.0);
        assert_eq!(s.matrix[0][0], 1.0);
        assert!(s.matrix.iter().flatten().all(|v| v.is_finite()));
    }

    #[test]
    fn identical_and_scaled_rows_have_similarity_one() {
        let s = cosine_similarity(&im(2, 3, &[0.2, 0.4, 0.6, 0.1, 0.2, 0.3]));
        assert_eq!(s.matrix[0][1], 1.0);
    }

    #[test]
    fn one_task() {
        let s = cosine_similarity(&im(1, 3, &[0.2, 0.4, 0.6]));
        assert_eq!(s.matrix, vec![vec![1.0]]);
        assert!(s.upper_triangle().is_empty());
    }

    #[test]
    fn reorder_and_mismatch() {
        let s = cosine_similarity(&im(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]));
        let order: Vec<String> = ["t2", "t0", "t1"].iter().map(|s| s.to_string()).collect();
        let r = s.reorder(&order).unwrap();
        assert_eq!(r.matrix[0][1], s.matrix[2][0]);
        let mut other = s.clone();
        other.tasks[1] = "zz".into();
        let err = align_runs(&[("a".into(), s.clone()), ("b".into(), other)], 2).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("t1") && msg.contains("zz") && msg.contains("'a'") && msg.contains("'b'"),
            "{msg}"
        );
        assert!(matches!(
            align_runs(&[("a".into(), s)], 2),
            Err(AnalysisError::Param { .. })
        ));
    }
}
