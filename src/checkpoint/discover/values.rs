//! A norm layer's raw gate parameters, `T × C` column-major, kept in the
//! precision the file stores them.
//!
//! Half-precision gates (F16, BF16: the common case for large models) stay
//! two bytes a value until the gate function turns them into importances:
//! at 500 tasks × 100 000 filters that is 100 MB a run instead of 400 MB of
//! f64, one pass over the file's bytes instead of four over f64 copies, and
//! the sigmoid comes from a table of all 65 536 bit patterns. F32 and F64
//! gates are decoded to f64 as before.

use nalgebra::DMatrix;
use safetensors::tensor::Dtype;

use crate::importance::GateKind;

/// Which 16-bit float the bit patterns are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    F16,
    Bf16,
}

impl Half {
    pub fn of(dtype: Dtype) -> Option<Half> {
        match dtype {
            Dtype::F16 => Some(Half::F16),
            Dtype::BF16 => Some(Half::Bf16),
            _ => None,
        }
    }

    pub fn to_f64(self, bits: u16) -> f64 {
        match self {
            Half::F16 => half::f16::from_bits(bits).to_f64(),
            Half::Bf16 => half::bf16::from_bits(bits).to_f64(),
        }
    }

    /// Infinity or NaN: the exponent field is all ones.
    pub fn is_nonfinite(self, bits: u16) -> bool {
        match self {
            Half::F16 => bits & 0x7C00 == 0x7C00,
            Half::Bf16 => bits & 0x7F80 == 0x7F80,
        }
    }

    /// σ of every bit pattern ([`GateKind::apply`] of the decoded value, so
    /// a table entry is the same number the direct path gives), built once
    /// per process.
    fn sigmoid_table(self) -> &'static [f64] {
        use std::sync::OnceLock;
        static F16: OnceLock<Vec<f64>> = OnceLock::new();
        static BF16: OnceLock<Vec<f64>> = OnceLock::new();
        let cell = match self {
            Half::F16 => &F16,
            Half::Bf16 => &BF16,
        };
        cell.get_or_init(|| {
            (0..=u16::MAX)
                .map(|b| GateKind::Sigmoid.apply(self.to_f64(b)))
                .collect()
        })
    }
}

/// The raw values of one layer, row `t` = task `t`.
#[derive(Debug, Clone, PartialEq)]
pub enum GateValues {
    /// 16-bit patterns, column-major `rows × cols`.
    Half {
        kind: Half,
        bits: Vec<u16>,
        rows: usize,
        cols: usize,
    },
    /// Decoded to f64 (F32 and F64 files, strided tensors, mixed dtypes).
    Wide(DMatrix<f64>),
}

/// Columns per tile of the transposes: a tile of 500 tasks stays in L2.
const TILE: usize = 64;
/// Values per parallel task at least, so small layers stay on one thread.
const PARALLEL_MIN_VALUES: usize = 1 << 16;

impl GateValues {
    /// Builds the column-major matrix from `rows.len()` rows of `cols`
    /// values each, given as the file's little-endian bytes of `kind`
    /// (a row shorter than `cols` is padded with zeros, as the f64 path
    /// does). Transposed in tiles of columns, so writes stride by `T` only
    /// inside a cache-sized block.
    pub fn from_half_rows(kind: Half, rows: &[&[u8]], cols: usize) -> GateValues {
        let t = rows.len();
        let mut bits = vec![0u16; t * cols];
        if t > 0 {
            use rayon::prelude::*;
            // Tiles in parallel when there are enough values to pay for it
            // (a CelebA layer of 40 × 512 is not).
            let tile_len = TILE * t;
            bits.par_chunks_mut(tile_len)
                .with_min_len((PARALLEL_MIN_VALUES / tile_len).max(1))
                .enumerate()
                .for_each(|(tile, out)| {
                    let c0 = tile * TILE;
                    let width = out.len() / t;
                    for (r, row) in rows.iter().enumerate() {
                        let have = (row.len() / 2).saturating_sub(c0).min(width);
                        let src = &row[2 * c0..2 * (c0 + have)];
                        for (k, b) in src.chunks_exact(2).enumerate() {
                            out[k * t + r] = u16::from_le_bytes([b[0], b[1]]);
                        }
                    }
                });
        }
        GateValues::Half {
            kind,
            bits,
            rows: t,
            cols,
        }
    }

    pub fn nrows(&self) -> usize {
        match self {
            GateValues::Half { rows, .. } => *rows,
            GateValues::Wide(m) => m.nrows(),
        }
    }

    pub fn ncols(&self) -> usize {
        match self {
            GateValues::Half { cols, .. } => *cols,
            GateValues::Wide(m) => m.ncols(),
        }
    }

    /// The value of task `row` at filter `col`.
    pub fn get(&self, row: usize, col: usize) -> f64 {
        match self {
            GateValues::Half {
                kind, bits, rows, ..
            } => kind.to_f64(bits[col * rows + row]),
            GateValues::Wide(m) => m[(row, col)],
        }
    }

    /// Every value as f64, column-major (a copy for half precision).
    pub fn to_f64(&self) -> std::borrow::Cow<'_, [f64]> {
        match self {
            GateValues::Half { kind, bits, .. } => bits
                .iter()
                .map(|&b| kind.to_f64(b))
                .collect::<Vec<_>>()
                .into(),
            GateValues::Wide(m) => m.as_slice().into(),
        }
    }

    /// Drops the values and keeps the shape's column count (see
    /// `Gates::release_values`).
    pub fn release(&mut self) {
        let cols = self.ncols();
        *self = GateValues::Wide(DMatrix::zeros(0, cols));
    }

    /// The first non-finite value of column `col`: its row and value.
    pub fn nonfinite_in_column(&self, col: usize) -> Option<(usize, f64)> {
        match self {
            GateValues::Half {
                kind, bits, rows, ..
            } => bits[col * rows..(col + 1) * rows]
                .iter()
                .position(|&b| kind.is_nonfinite(b))
                .map(|r| (r, kind.to_f64(bits[col * rows + r]))),
            GateValues::Wide(m) => {
                let c = m.column(col);
                c.iter().position(|x| !x.is_finite()).map(|r| (r, c[r]))
            }
        }
    }

    /// Whether any value is infinite or NaN.
    pub fn any_nonfinite(&self) -> bool {
        use rayon::prelude::*;
        match self {
            // Chunks of 64 Ki values: a small layer is one task, not many.
            GateValues::Half { kind, bits, .. } => bits
                .par_chunks(PARALLEL_MIN_VALUES)
                .any(|c| c.iter().any(|&b| kind.is_nonfinite(b))),
            GateValues::Wide(m) => m
                .as_slice()
                .par_chunks(PARALLEL_MIN_VALUES)
                .any(|c| c.iter().any(|x| !x.is_finite())),
        }
    }

    /// Writes `gate(value)` for every value into `out` (column-major, the
    /// same length), in parallel chunks of columns. With `table`, sigmoids
    /// of half precision come from the table of all bit patterns; each case
    /// is its own loop, so nothing is dispatched per value.
    pub fn apply_gate(&self, gate: GateKind, table: bool, out: &mut [f64]) {
        use rayon::prelude::*;
        let chunk = (self.nrows() * 256).max(PARALLEL_MIN_VALUES);
        match self {
            GateValues::Half { kind, bits, .. } => {
                let kind = *kind;
                match gate {
                    GateKind::Sigmoid if table => {
                        let t = kind.sigmoid_table();
                        out.par_chunks_mut(chunk)
                            .zip(bits.par_chunks(chunk))
                            .for_each(|(o, b)| {
                                for (o, &b) in o.iter_mut().zip(b) {
                                    *o = t[b as usize];
                                }
                            });
                    }
                    _ => out
                        .par_chunks_mut(chunk)
                        .zip(bits.par_chunks(chunk))
                        .for_each(|(o, b)| {
                            for (o, &b) in o.iter_mut().zip(b) {
                                *o = gate.apply(kind.to_f64(b));
                            }
                        }),
                }
            }
            GateValues::Wide(m) => out
                .par_chunks_mut(chunk)
                .zip(m.as_slice().par_chunks(chunk))
                .for_each(|(o, r)| {
                    for (o, &x) in o.iter_mut().zip(r) {
                        *o = gate.apply(x);
                    }
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(v: &[u16]) -> Vec<u8> {
        v.iter().flat_map(|b| b.to_le_bytes()).collect()
    }

    #[test]
    fn half_rows_transpose_to_column_major() {
        // 3 tasks × 130 filters: more than two tiles, the last one partial.
        let (t, c) = (3, 130);
        let rows: Vec<Vec<u8>> = (0..t)
            .map(|r| le(&(0..c).map(|k| (r * 1000 + k) as u16).collect::<Vec<_>>()))
            .collect();
        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let GateValues::Half { bits, .. } = GateValues::from_half_rows(Half::F16, &refs, c) else {
            panic!("half rows give half values")
        };
        for r in 0..t {
            for k in 0..c {
                assert_eq!(bits[k * t + r], (r * 1000 + k) as u16, "row {r} col {k}");
            }
        }
    }

    #[test]
    fn short_rows_are_zero_padded() {
        let a = le(&[0x3C00, 0x4000]); // 1, 2
        let b = le(&[0x3C00]);
        let v = GateValues::from_half_rows(Half::F16, &[&a, &b], 2);
        assert_eq!(v.get(0, 1), 2.0);
        assert_eq!(v.get(1, 1), 0.0);
    }

    #[test]
    fn gates_and_nonfinite_match_the_f64_path() {
        // Every F16 and BF16 pattern: the table, |x| and the non-finite test
        // agree with decoding to f64 first.
        for kind in [Half::F16, Half::Bf16] {
            let all: Vec<u16> = (0..=u16::MAX).collect();
            let bytes = le(&all);
            let v = GateValues::from_half_rows(kind, &[&bytes], all.len());
            let wide = GateValues::Wide(DMatrix::from_fn(1, all.len(), |_, c| kind.to_f64(all[c])));
            for gate in [GateKind::Sigmoid, GateKind::Abs, GateKind::Identity] {
                let mut a = vec![0.0; all.len()];
                let mut b = vec![0.0; all.len()];
                v.apply_gate(gate, true, &mut a);
                wide.apply_gate(gate, true, &mut b);
                for (k, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                        "{kind:?} {gate} pattern {k:#06x}: {x} vs {y}"
                    );
                }
            }
            for (c, &b) in all.iter().enumerate() {
                assert_eq!(
                    v.nonfinite_in_column(c).is_some(),
                    !kind.to_f64(b).is_finite(),
                    "{kind:?} pattern {c:#06x}"
                );
            }
        }
    }
}
