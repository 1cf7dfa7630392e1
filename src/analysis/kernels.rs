//! Dense kernels of BLAS class for the analyses at hundreds of tasks: the
//! Gram product of the task rows and the thin QR and SVD behind capacity.
//! They run on faer (blocked, multi-threaded, SIMD); nalgebra stays the
//! matrix type of the public API, and these functions view its storage
//! without copying it.
//!
//! Every product here is a sum of non-negative-length dot products computed
//! in f64 with blocked accumulation, as BLAS does: the same numbers numpy
//! gets, to rounding.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::{Accum, Mat, MatRef, Par};
use nalgebra::DMatrix;

/// All cores (rayon's global pool) for products of at least `2²⁶`
/// multiply-adds; smaller ones run on the calling thread, where waking
/// other threads would cost more than it saves (CelebA-sized runs,
/// 40 × 2 880, are a few million).
fn par(work: usize) -> Par {
    if work >= 1 << 26 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// `G = A Aᵀ` for the rows of `a` (`T × F`). Only the lower triangle is
/// computed (half the work) and mirrored, so `G` is symmetric bit for bit.
pub fn gram(a: &DMatrix<f64>) -> DMatrix<f64> {
    gram_of_slice(a.as_slice(), a.nrows())
}

/// [`gram`] of the `t × (len / t)` matrix stored column-major in `data`
/// (a whole matrix, or a contiguous block of its columns).
pub fn gram_of_slice(data: &[f64], t: usize) -> DMatrix<f64> {
    let f = data.len().checked_div(t).unwrap_or(0);
    let mut g = Mat::<f64>::zeros(t, t);
    if f > 0 {
        let v = MatRef::from_column_major_slice(&data[..t * f], t, f);
        matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            v,
            BlockStructure::Rectangular,
            v.transpose(),
            BlockStructure::Rectangular,
            1.0,
            par(t * t * f / 2),
        );
    }
    DMatrix::from_fn(t, t, |i, j| if i >= j { g[(i, j)] } else { g[(j, i)] })
}

/// [`gram`] of the columns `cols` of `a` (gathered into a scratch copy:
/// each column is contiguous, so this is a sequence of short memcpys).
pub fn gram_of_columns(a: &DMatrix<f64>, cols: &[usize]) -> DMatrix<f64> {
    let t = a.nrows();
    let mut sub = Vec::with_capacity(t * cols.len());
    for &c in cols {
        sub.extend_from_slice(a.column(c).as_slice());
    }
    gram(&DMatrix::from_vec(t, cols.len(), sub))
}

/// `U` and `Σ` of `N = U Σ Vᵀ` for a `T × F` matrix given as `Nᵀ`
/// (`F × T`, column-major in `nt`, overwritten: it is factorized in place,
/// so no second copy of the large matrix is made), in `O(T²F + T³)`.
///
/// Householder QR `Nᵀ = Q R` (blocked, faer) reduces the problem to the
/// small `M = Rᵀ` (`T × min(T, F)`, the same Gram matrix `N Nᵀ = M Mᵀ`,
/// so the same left singular vectors and values), whose SVD is faer's
/// (bidiagonalization, divide and conquer; backward stable, like LAPACK's
/// `gesdd` behind numpy's `lstsq`). Singular values are non-increasing;
/// `U` has `min(T, F)` columns.
pub fn left_svd_of_transpose(
    nt: &mut [f64],
    f: usize,
    t: usize,
) -> Option<(Vec<f64>, DMatrix<f64>)> {
    let mut nt = faer::MatMut::from_column_major_slice_mut(nt, f, t);
    let k = f.min(t);
    if k == 0 {
        return Some((Vec::new(), DMatrix::zeros(t, 0)));
    }
    let par = par(2 * f * t * k);
    let bs = recommended_block_size::<f64>(f, t);
    let mut householder = Mat::<f64>::zeros(bs, k);
    let mut buf = MemBuffer::new(qr_in_place_scratch::<f64>(
        f,
        t,
        bs,
        par,
        Default::default(),
    ));
    qr_in_place(
        nt.as_mut(),
        householder.as_mut(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    );
    // M = Rᵀ: R is the upper triangle of the first k rows.
    let m = Mat::<f64>::from_fn(t, k, |i, j| if j <= i { nt[(j, i)] } else { 0.0 });
    let svd = m.thin_svd().ok()?;
    let (u, s) = (svd.U(), svd.S().column_vector());
    let sigma: Vec<f64> = (0..k).map(|i| s[i]).collect();
    let u = DMatrix::from_fn(t, k, |i, j| u[(i, j)]);
    Some((sigma, u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_matches_the_naive_product() {
        // Uneven sizes cross faer's block boundaries.
        let a = DMatrix::from_fn(7, 1031, |i, j| ((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.3);
        let g = gram(&a);
        let naive = &a * a.transpose();
        for i in 0..7 {
            for j in 0..7 {
                assert!((g[(i, j)] - naive[(i, j)]).abs() <= 1e-12 * naive[(i, i)].abs().max(1.0));
                assert_eq!(g[(i, j)].to_bits(), g[(j, i)].to_bits());
            }
        }
    }

    #[test]
    fn left_svd_reconstructs_the_gram_matrix() {
        // N N^T = U Σ² U^T, and U has orthonormal columns.
        let n = DMatrix::from_fn(5, 300, |i, j| (((i + 1) * (j + 3)) % 11) as f64 / 11.0);
        let mut nt: Vec<f64> = n.transpose().as_slice().to_vec();
        let (sigma, u) = left_svd_of_transpose(&mut nt, 300, 5).unwrap();
        assert!(sigma.windows(2).all(|w| w[0] >= w[1]));
        let g = &n * n.transpose();
        for i in 0..5 {
            for j in 0..5 {
                let r: f64 = (0..sigma.len())
                    .map(|k| u[(i, k)] * sigma[k] * sigma[k] * u[(j, k)])
                    .sum();
                assert!(
                    (r - g[(i, j)]).abs() < 1e-10 * g[(0, 0)],
                    "{i},{j}: {r} vs {}",
                    g[(i, j)]
                );
                let o: f64 = (0..5).map(|k| u[(k, i)] * u[(k, j)]).sum();
                assert!((o - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn more_tasks_than_filters() {
        let mut nt: Vec<f64> = (0..8).map(|k| (k % 2 + k / 2) as f64 + 1.0).collect();
        let (sigma, u) = left_svd_of_transpose(&mut nt, 2, 4).unwrap();
        assert_eq!((sigma.len(), u.nrows(), u.ncols()), (2, 4, 2));
    }
}
