//! Capacity allocation (paper 000, §5.1, eq. 4–5): each task's total
//! capacity `C_t = (1/F) Σ_i I[t,i]` and its split into a part shared with
//! the other tasks (`‖P_A I_t‖/‖I_t‖ · C_t`) and an independent part
//! (`‖I_t − P_A I_t‖/‖I_t‖ · C_t`), where `P_A` projects onto the span of the
//! other tasks' importance vectors.
//!
//! All T projections come from one `T × T` eigendecomposition, so the cost is
//! `O(T²F + T³)`, and linearly dependent tasks (identical tasks, `T > F`) are
//! handled by a pseudo-inverse instead of the paper's `(AᵀA)⁻¹`.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::importance::ImportanceMatrix;

/// One task's capacity and its split; `capacity² = shared² + independent²`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskCapacity {
    pub task: String,
    /// `C_t`, the mean importance of the task over all filters.
    pub capacity: f64,
    /// `‖P_A I_t‖ / ‖I_t‖ · C_t`.
    pub shared: f64,
    /// `‖I_t − P_A I_t‖ / ‖I_t‖ · C_t`.
    pub independent: f64,
}

/// Capacities of all tasks in task order, and the numerical rank of `I`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CapacityReport {
    pub tasks: Vec<TaskCapacity>,
    /// Rank of the importance matrix (number of linearly independent task
    /// vectors) at the tolerance used for the projections.
    pub rank: usize,
}

/// Eigenvalues of the row-normalized Gram matrix below
/// `RANK_RTOL · max(T, F) · ε · λ_max` count as zero. The Gram matrix squares
/// the singular values, so its eigenvalues carry absolute errors of about
/// `ε · λ_max`; the extra factor keeps rounding noise out of the rank.
const RANK_RTOL: f64 = 16.0;

/// A row counts as independent of the others when its unit vector `e_t`
/// lies in the range of the Gram matrix, i.e. `1 − P_tt` is below this.
/// Rows are normalized first, so this is a scale-free angle test.
const RANGE_TOL: f64 = 1e-8;

/// Squared ratios below this are indistinguishable from rounding in the
/// Gram matrix (about `ε` relative), so they are set to 0. Consequently a
/// part smaller than about `1e-7 · C_t` is reported as 0.
const SNAP_TOL: f64 = 1e-14;

/// Eq. 4–5 for every task at once.
///
/// Method: the split ratio `‖I_t^⊥‖ / ‖I_t‖` does not change when any row is
/// rescaled, so rows are first normalized to unit length (zero rows stay
/// zero; they span nothing). With `G = N Nᵀ = V Λ Vᵀ` and `G⁺` its
/// pseudo-inverse, `P = G G⁺` projects onto the range of `N` in task space.
/// If `P_tt = 1`, row `t` is independent of the others and
/// `‖N_t^⊥‖² = 1 / (G⁺)_tt`; otherwise `N_t` lies in the span of the other
/// rows and `‖N_t^⊥‖ = 0`. Then `shared² = 1 − ‖N_t^⊥‖²` (clamped to `[0, 1]`).
///
/// Degenerate cases: a zero row gets capacity, shared and independent 0;
/// a single task has no others to share with, so it is all independent.
/// With `identity` gates `C_t` may be negative; both parts then carry its
/// sign (they are `C_t` scaled by a ratio in `[0, 1]`).
pub fn capacity(im: &ImportanceMatrix) -> CapacityReport {
    let data = im.data();
    let (t, f) = (im.n_tasks(), im.n_filters());
    let norms: Vec<f64> = data.row_iter().map(|r| r.norm()).collect();
    let unit = DMatrix::from_fn(t, f, |r, c| {
        let n = norms[r];
        if n > 0.0 { data[(r, c)] / n } else { 0.0 }
    });
    let gram = &unit * unit.transpose();
    let gram_diag: Vec<f64> = (0..t).map(|k| gram[(k, k)]).collect();
    let eig = SymmetricEigen::new(gram);
    let lambda_max = eig.eigenvalues.iter().copied().fold(0.0_f64, f64::max);
    let tol = RANK_RTOL * (t.max(f) as f64) * f64::EPSILON * lambda_max;
    let kept: Vec<usize> = (0..t)
        .filter(|&k| lambda_max > 0.0 && eig.eigenvalues[k] > tol)
        .collect();

    let tasks = im
        .tasks()
        .iter()
        .enumerate()
        .map(|(row, name)| {
            let cap = data.row(row).sum() / f as f64;
            if norms[row] == 0.0 {
                return TaskCapacity {
                    task: name.clone(),
                    capacity: cap,
                    shared: 0.0,
                    independent: 0.0,
                };
            }
            // P_tt = Σ_k v_tk², (G⁺)_tt = Σ_k v_tk² / λ_k over kept eigenpairs.
            let (p_tt, ginv_tt) = kept.iter().fold((0.0, 0.0), |(p, g), &k| {
                let v = eig.eigenvectors[(row, k)];
                (p + v * v, g + v * v / eig.eigenvalues[k])
            });
            // ‖N_t‖² is 1 only up to rounding; dividing by the computed value
            // keeps exactly orthogonal rows exactly orthogonal.
            let g_tt = gram_diag[row];
            let indep_sq = if t == 1 {
                1.0
            } else if 1.0 - p_tt < RANGE_TOL && ginv_tt > 0.0 {
                (1.0 / ginv_tt / g_tt).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // Squared parts below the Gram matrix's resolution are rounding.
            let shared_sq = match 1.0 - indep_sq {
                s if s < SNAP_TOL => 0.0,
                s => s,
            };
            TaskCapacity {
                task: name.clone(),
                capacity: cap,
                shared: shared_sq.sqrt() * cap,
                independent: indep_sq.sqrt() * cap,
            }
        })
        .collect();
    CapacityReport {
        tasks,
        rank: kept.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn im(rows: usize, cols: usize, v: &[f64]) -> ImportanceMatrix {
        let names = (0..rows).map(|i| format!("t{i}")).collect();
        ImportanceMatrix::single_layer(names, "l", DMatrix::from_row_slice(rows, cols, v)).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pythagoras_holds() {
        let r = capacity(&im(
            3,
            4,
            &[
                0.1, 0.9, 0.3, 0.5, //
                0.7, 0.2, 0.8, 0.4, //
                0.3, 0.3, 0.3, 0.9,
            ],
        ));
        assert_eq!(r.rank, 3);
        for c in &r.tasks {
            assert!(close(
                c.capacity.powi(2),
                c.shared.powi(2) + c.independent.powi(2)
            ));
            assert!(c.shared > 0.0 && c.independent > 0.0);
        }
    }

    #[test]
    fn identical_tasks_have_no_independent_capacity() {
        let r = capacity(&im(2, 3, &[0.2, 0.4, 0.6, 0.2, 0.4, 0.6]));
        assert_eq!(r.rank, 1);
        for c in &r.tasks {
            assert_eq!(c.independent, 0.0);
            assert!(close(c.shared, 0.4));
        }
    }

    #[test]
    fn proportional_tasks_of_very_different_scale_are_dependent() {
        let r = capacity(&im(2, 3, &[0.2, 0.4, 0.6, 2e-7, 4e-7, 6e-7]));
        assert_eq!(r.tasks[0].independent, 0.0);
        assert_eq!(r.tasks[1].independent, 0.0);
    }

    #[test]
    fn orthogonal_tasks_have_no_shared_capacity() {
        let r = capacity(&im(2, 4, &[0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
        assert!(r.tasks[0].shared.abs() < 1e-12);
        assert!(close(r.tasks[0].independent, 0.25));
        assert!(close(r.tasks[1].independent, 0.25));
    }

    #[test]
    fn one_task_is_all_independent() {
        let r = capacity(&im(1, 3, &[0.2, 0.4, 0.6]));
        assert!(close(r.tasks[0].independent, 0.4));
        assert_eq!(r.tasks[0].shared, 0.0);
    }

    #[test]
    fn zero_rows_and_all_zero() {
        let r = capacity(&im(3, 2, &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]));
        assert_eq!(
            (
                r.tasks[0].capacity,
                r.tasks[0].shared,
                r.tasks[0].independent
            ),
            (0.0, 0.0, 0.0)
        );
        assert!(close(r.tasks[1].independent, 0.5));
        assert_eq!(r.rank, 2);
        let z = capacity(&im(2, 2, &[0.0; 4]));
        assert_eq!(z.rank, 0);
        assert!(
            z.tasks
                .iter()
                .all(|c| c.capacity == 0.0 && c.shared == 0.0 && c.independent == 0.0)
        );
    }

    #[test]
    fn more_tasks_than_filters_are_all_dependent() {
        let r = capacity(&im(3, 2, &[0.1, 0.9, 0.8, 0.3, 0.5, 0.5]));
        assert_eq!(r.rank, 2);
        for c in &r.tasks {
            assert_eq!(c.independent, 0.0);
            assert!(close(c.shared, c.capacity));
        }
    }

    #[test]
    fn filter_permutation_does_not_change_result() {
        let a = capacity(&im(2, 4, &[0.1, 0.9, 0.3, 0.5, 0.7, 0.2, 0.8, 0.4]));
        let b = capacity(&im(2, 4, &[0.5, 0.3, 0.1, 0.9, 0.4, 0.8, 0.7, 0.2]));
        for (x, y) in a.tasks.iter().zip(&b.tasks) {
            assert!(close(x.shared, y.shared) && close(x.independent, y.independent));
        }
    }
}
