//! Capacity allocation (paper 000, §5.1, eq. 4–5): each task's total
//! capacity `C_t = (1/F) Σ_i I[t,i]` and its split into a part shared with
//! the other tasks (`‖P_A I_t‖/‖I_t‖ · C_t`) and an independent part
//! (`‖I_t − P_A I_t‖/‖I_t‖ · C_t`), where `P_A` projects onto the span of the
//! other tasks' importance vectors.
//!
//! All T projections come from one thin SVD of the `T × F` matrix, so the
//! cost is `O(T²F + T³)`, and linearly dependent tasks (identical tasks, `T > F`) are
//! handled by a pseudo-inverse instead of the paper's `(AᵀA)⁻¹`.

use nalgebra::{DMatrix, QR};

use super::kernels::left_svd_of_transpose;

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

/// Singular values of the row-normalized matrix below
/// `max(T, F) · ε · σ_max` count as zero (numpy's `matrix_rank` and
/// `lstsq(rcond=None)` default).
fn rank_tolerance(t: usize, f: usize, sigma_max: f64) -> f64 {
    t.max(f) as f64 * f64::EPSILON * sigma_max
}

/// A row counts as independent of the others when its unit vector `e_t`
/// lies in the task-space range of `N`, i.e. `1 − P_tt` is at rounding
/// level. A dependent row `N_t = Σ c_s N_s` has `1 − P_tt ≥ 1 / (1 + Σ c_s²)`,
/// so the test must be tight to catch dependencies with large coefficients
/// (common when `T > F`). Rounding moves the kept subspace by an angle of
/// about `ε σ_max / σ_min` (σ_min: smallest kept singular value), which
/// perturbs `1 − P_tt` of an independent row by at most about that angle
/// (in fact its square); `T` times it, floored at 1e-12, is the tolerance.
fn range_tolerance(t: usize, sigma_max: f64, sigma_min_kept: f64) -> f64 {
    let angle = f64::EPSILON * sigma_max / sigma_min_kept;
    (t as f64 * angle).max(1e-12)
}

/// Squared ratios below this are indistinguishable from rounding (about
/// `ε` relative), so they are set to 0.
const SNAP_TOL: f64 = 1e-14;

/// Eq. 4–5 for every task at once.
///
/// Method: the split ratio `‖I_t^⊥‖ / ‖I_t‖` does not change when any row is
/// rescaled, so rows are first normalized to unit length (zero rows stay
/// zero; they span nothing). With the SVD `N = U Σ Vᵀ` (computed by `left_svd`, below),
/// `G = N Nᵀ = U Σ² Uᵀ`, its pseudo-inverse `G⁺ = U Σ⁻² Uᵀ` and
/// `P = G G⁺ = U Uᵀ` (kept singular triplets only) projects onto the range
/// of `N` in task space. If `P_tt = 1`, row `t` is independent of the others
/// and `‖N_t^⊥‖² = 1 / (G⁺)_tt`; otherwise `N_t` lies in the span of the
/// other rows and `‖N_t^⊥‖ = 0`. Then `shared² = ‖N_t‖² − ‖N_t^⊥‖²`.
/// Working with `Σ` rather than eigenvalues of `G` keeps the rank decision
/// at numpy's resolution instead of its square root.
///
/// Degenerate cases: a zero row gets capacity, shared and independent 0;
/// a single task has no others to share with, so it is all independent.
/// With `identity` gates `C_t` may be negative; both parts then carry its
/// sign (they are `C_t` scaled by a ratio in `[0, 1]`).
pub fn capacity(im: &ImportanceMatrix) -> CapacityReport {
    capacity_of(im.tasks(), im.data().as_slice())
}

/// [`capacity`] of the `T × F` matrix stored column-major in `data`
/// (`T = tasks.len()`): a whole matrix, or one layer's contiguous block of
/// columns ([`ImportanceMatrix::layer_slice`]).
pub fn capacity_of(tasks: &[String], data: &[f64]) -> CapacityReport {
    let t = tasks.len();
    let f = data.len().checked_div(t).unwrap_or(0);
    // Nᵀ (F × T, column-major): each task's row of I as a contiguous
    // column, the layout the QR wants. Sums and norms are taken there.
    let mut nt = crate::importance::transpose_tiled(data, f, t);
    let mut sums = vec![0.0; t];
    let mut norms = vec![0.0; t];
    let mut unit_sq = vec![0.0; t];
    for (r, col) in nt.chunks_exact_mut(f.max(1)).take(t).enumerate() {
        sums[r] = col.iter().sum::<f64>();
        norms[r] = col.iter().map(|x| x * x).sum::<f64>().sqrt();
        let inv = if norms[r] > 0.0 { 1.0 / norms[r] } else { 0.0 };
        col.iter_mut().for_each(|x| *x *= inv);
        unit_sq[r] = col.iter().map(|x| x * x).sum();
    }
    let (sigma, u) = left_svd_of_transpose(&mut nt, f, t).unwrap_or_else(|| {
        // faer's SVD did not converge (never seen on finite input): fall
        // back to the one-sided Jacobi SVD below, slower but certain.
        let unit = DMatrix::from_fn(t, f, |r, c| {
            if norms[r] > 0.0 {
                data[c * t + r] / norms[r]
            } else {
                0.0
            }
        });
        left_svd(&unit)
    });
    drop(nt);
    let sigma_max = sigma.iter().copied().fold(0.0_f64, f64::max);
    let tol = rank_tolerance(t, f, sigma_max);
    let kept: Vec<usize> = (0..sigma.len().min(u.ncols()))
        .filter(|&k| sigma_max > 0.0 && sigma[k] > tol)
        .collect();
    let sigma_min_kept = kept.iter().map(|&k| sigma[k]).fold(f64::INFINITY, f64::min);
    let range_tol = range_tolerance(t, sigma_max, sigma_min_kept);

    let tasks = tasks
        .iter()
        .enumerate()
        .map(|(row, name)| {
            let cap = sums[row] / f as f64;
            if norms[row] == 0.0 {
                return TaskCapacity {
                    task: name.clone(),
                    capacity: cap,
                    shared: 0.0,
                    independent: 0.0,
                };
            }
            // P_tt = Σ_k u_tk², (G⁺)_tt = Σ_k u_tk² / σ_k² over kept triplets.
            let (p_tt, ginv_tt) = kept.iter().fold((0.0, 0.0), |(p, g), &k| {
                let v = u[(row, k)];
                (p + v * v, g + v * v / (sigma[k] * sigma[k]))
            });
            // ‖N_t‖² is 1 only up to rounding; dividing by the computed value
            // keeps exactly orthogonal rows exactly orthogonal.
            let indep_sq = if t == 1 {
                1.0
            } else if 1.0 - p_tt < range_tol && ginv_tt > 0.0 {
                (1.0 / ginv_tt / unit_sq[row]).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // Squared parts below the working precision are rounding.
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

/// `U` and `Σ` of `N = U Σ Vᵀ` for a `T × F` matrix, to full relative
/// accuracy, in `O(T²F + T³)`.
///
/// Householder QR of `Nᵀ = Q R` reduces the problem to `M = Rᵀ`
/// (`T × min(T, F)`, same Gram matrix `N Nᵀ = M Mᵀ`), then one-sided
/// (Hestenes) Jacobi rotations orthogonalize the rows of `M`: `Jᵀ M = Σ Wᵀ`,
/// so `U = J` and `σ_k` are the row norms. nalgebra's own SVD is not used:
/// in 0.35 it loses accuracy when small non-zero singular values are
/// present (nalgebra issue #1172), which is exactly the near-dependent case
/// this module must get right; squaring into `N Nᵀ` and using an
/// eigendecomposition would halve the resolution instead.
fn left_svd(n: &DMatrix<f64>) -> (Vec<f64>, DMatrix<f64>) {
    let t = n.nrows();
    let mut m = QR::new(n.transpose()).r().transpose();
    let mut u = DMatrix::<f64>::identity(t, t);
    const MAX_SWEEPS: usize = 100;
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..t {
            for q in p + 1..t {
                let alpha = m.row(p).norm_squared();
                let beta = m.row(q).norm_squared();
                let gamma = m.row(p).dot(&m.row(q));
                if gamma == 0.0 || gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                // rotation that zeroes the (p, q) entry of M Mᵀ
                let zeta = (beta - alpha) / (2.0 * gamma);
                let tan = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let cos = 1.0 / (1.0 + tan * tan).sqrt();
                let sin = cos * tan;
                rotate_rows(&mut m, p, q, cos, sin);
                // M = Rᵀ M', so U accumulates the transposed rotations on its
                // columns.
                rotate_cols(&mut u, p, q, cos, sin);
            }
        }
        if !rotated {
            break;
        }
    }
    let sigma = m.row_iter().map(|r| r.norm()).collect();
    (sigma, u)
}

/// `(col_p, col_q) ← (c·col_p − s·col_q, s·col_p + c·col_q)`.
fn rotate_cols(m: &mut DMatrix<f64>, p: usize, q: usize, cos: f64, sin: f64) {
    for r in 0..m.nrows() {
        let (a, b) = (m[(r, p)], m[(r, q)]);
        m[(r, p)] = cos * a - sin * b;
        m[(r, q)] = sin * a + cos * b;
    }
}

/// `(row_p, row_q) ← (c·row_p − s·row_q, s·row_p + c·row_q)`.
fn rotate_rows(m: &mut DMatrix<f64>, p: usize, q: usize, cos: f64, sin: f64) {
    for c in 0..m.ncols() {
        let (a, b) = (m[(p, c)], m[(q, c)]);
        m[(p, c)] = cos * a - sin * b;
        m[(q, c)] = sin * a + cos * b;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jacobi_fallback_agrees_with_the_faer_path() {
        // The fallback runs only if faer's SVD does not converge; check it
        // gives the same Σ and U Σ² Uᵀ on a near-dependent matrix (row 3 is
        // row 0 plus 1e-9 of noise).
        let n = nalgebra::DMatrix::from_fn(4, 50, |i, j| {
            let base = |r: usize| (((r + 2) * (j + 5)) % 13) as f64 / 13.0 + 0.1;
            if i == 3 {
                base(0) + 1e-9 * ((j % 7) as f64 - 3.0)
            } else {
                base(i)
            }
        });
        let (s1, u1) = left_svd(&n);
        let mut nt: Vec<f64> = n.transpose().as_slice().to_vec();
        let (s2, u2) = left_svd_of_transpose(&mut nt, 50, 4).unwrap();
        let mut s1s = s1.clone();
        s1s.sort_by(|a, b| b.total_cmp(a));
        for (a, b) in s1s.iter().zip(&s2) {
            assert!((a - b).abs() <= 1e-12 * s2[0], "{a} vs {b}");
        }
        let gram = |s: &[f64], u: &nalgebra::DMatrix<f64>, i: usize, j: usize| -> f64 {
            (0..s.len())
                .map(|k| u[(i, k)] * s[k] * s[k] * u[(j, k)])
                .sum()
        };
        for i in 0..4 {
            for j in 0..4 {
                assert!(
                    (gram(&s1, &u1, i, j) - gram(&s2, &u2, i, j)).abs() < 1e-12 * s2[0] * s2[0]
                );
            }
        }
    }

    use super::*;

    fn im(rows: usize, cols: usize, v: &[f64]) -> ImportanceMatrix {
        let names = (0..rows).map(|i| format!("t{i}")).collect();
        ImportanceMatrix::single_layer(names, "l", DMatrix::from_row_slice(rows, cols, v)).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // shared and independent against an independent computation: one
    // least-squares projection per task (shared² = C² − independent² holds
    // by construction here, so it proves nothing by itself).
    //   I = np.array([[0.1,0.9,0.3,0.5],[0.7,0.2,0.8,0.4],[0.3,0.3,0.3,0.9]])
    //   A = np.delete(I, t, axis=0).T; proj = A @ np.linalg.lstsq(A, I[t], rcond=None)[0]
    //   C = I[t].mean(); shared = |proj|/|I[t]|*C; independent = |I[t]-proj|/|I[t]|*C
    #[test]
    fn shared_and_independent_match_numpy_lstsq() {
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
        let want = [
            (0.45, 0.3377884700047404, 0.29731960838776944),
            (0.525, 0.381197063896806, 0.36099002545285697),
            (
                0.44999999999999996,
                0.37685232030965526,
                0.24593155282970267,
            ),
        ];
        for (c, (cap, shared, independent)) in r.tasks.iter().zip(want) {
            assert!(close(c.capacity, cap), "{c:?}");
            assert!(close(c.shared, shared), "{c:?} shared vs numpy {shared}");
            assert!(
                close(c.independent, independent),
                "{c:?} independent vs numpy {independent}"
            );
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
