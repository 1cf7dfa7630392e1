//! Half-precision gates are kept as bit patterns until the gate function
//! (src/checkpoint/discover/values.rs); large layers take their evidence
//! from a histogram of the patterns and their sigmoids from a table. Every
//! F16 and BF16 value is exactly an F32, so the same gates written as F32
//! (read through the f64 path) must give the same importance matrix, bit
//! for bit, the same evidence and the same errors.

mod common;

use common::*;
use mtl_inspect::GateKind;
use mtl_inspect::checkpoint::discover::{DiscoverParams, GateValues, Gates};
use mtl_inspect::importance::from_gates::{GateError, ImportanceParams};
use safetensors::tensor::Dtype;

/// Deterministic logits spread over (-6, 6), with ties and both zeros.
fn logits(t: usize, c: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..t)
        .map(|_| {
            (0..c)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                    let x = 12.0 * u - 6.0;
                    if s.is_multiple_of(97) { -0.0 } else { x }
                })
                .collect()
        })
        .collect()
}

fn half_bytes(v: &[f32], dtype: Dtype) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| match dtype {
            Dtype::F16 => half::f16::from_f32(x).to_le_bytes(),
            _ => half::bf16::from_f32(x).to_le_bytes(),
        })
        .collect()
}

fn to_half(x: f32, dtype: Dtype) -> f32 {
    match dtype {
        Dtype::F16 => half::f16::from_f32(x).to_f32(),
        _ => half::bf16::from_f32(x).to_f32(),
    }
}

/// The same per-task (ModuleList) checkpoint twice: in `dtype` and as the
/// F32 of the rounded values. Layers: 8 192 filters (40 tasks: 327 680
/// values, past the histogram threshold), 7 and 300 filters.
fn pair(
    dir: &std::path::Path,
    dtype: Dtype,
    edit: impl Fn(&mut [Vec<Vec<f32>>]),
) -> (Gates, Gates) {
    let t = 40;
    let mut layers: Vec<Vec<Vec<f32>>> = [(8192, 1), (7, 2), (300, 3)]
        .iter()
        .map(|&(c, seed)| {
            logits(t, c, seed)
                .into_iter()
                .map(|row| row.into_iter().map(|x| to_half(x, dtype)).collect())
                .collect()
        })
        .collect();
    edit(&mut layers);
    let names = ["enc.0.bns", "enc.1.bns", "enc.2.bns"];
    let mut half = Vec::new();
    let mut wide = Vec::new();
    for (name, rows) in names.iter().zip(&layers) {
        for (i, row) in rows.iter().enumerate() {
            let n = format!("{name}.{i}.weight");
            half.push(T {
                name: n.clone(),
                dtype,
                shape: vec![row.len()],
                bytes: half_bytes(row, dtype),
            });
            wide.push(f32s(&n, &[row.len()], row));
        }
    }
    let (ph, pw) = (dir.join("half.safetensors"), dir.join("f32.safetensors"));
    write(&ph, &half, &[]);
    write(&pw, &wide, &[]);
    let p = DiscoverParams::default();
    (gates(&ph, &p).unwrap(), gates(&pw, &p).unwrap())
}

#[test]
fn half_gates_equal_their_f32_copy_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for dtype in [Dtype::F16, Dtype::BF16] {
        let (h, w) = pair(dir.path(), dtype, |_| {});
        assert!(
            h.layers
                .iter()
                .all(|l| matches!(l.raw, GateValues::Half { .. })),
            "{dtype:?} gates are kept as bit patterns"
        );
        assert!(
            w.layers
                .iter()
                .all(|l| matches!(l.raw, GateValues::Wide(_)))
        );
        for (a, b) in h.layers.iter().zip(&w.layers) {
            // Counts and the median from the histogram (first layer) and
            // from the decoded values (the others) equal the f64 path's.
            assert_eq!(a.evidence.values, b.evidence.values, "{}", a.name);
            assert_eq!(a.evidence.negative, b.evidence.negative, "{}", a.name);
            assert_eq!(a.evidence.near_one, b.evidence.near_one, "{}", a.name);
            assert_eq!(
                a.evidence.median.to_bits(),
                b.evidence.median.to_bits(),
                "{}",
                a.name
            );
            assert_eq!(a.raw.get(17, 5), b.raw.get(17, 5));
        }
        for gate in [None, Some(GateKind::Abs), Some(GateKind::Identity)] {
            let p = ImportanceParams {
                gate,
                allow_nonfinite: false,
            };
            let (ih, iw) = (h.importance(&p).unwrap().0, w.importance(&p).unwrap().0);
            assert_eq!(ih.layers(), iw.layers());
            let same = ih
                .data()
                .iter()
                .zip(iw.data().iter())
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{dtype:?} {gate:?}: importances differ");
        }
    }
}

#[test]
fn nonfinite_half_gates_are_named_or_dropped_as_in_f32() {
    let dir = tempfile::tempdir().unwrap();
    for dtype in [Dtype::F16, Dtype::BF16] {
        let (h, w) = pair(dir.path(), dtype, |layers| {
            layers[0][3][4000] = f32::INFINITY;
            layers[0][9][4000] = f32::NAN;
            layers[2][39][299] = f32::NEG_INFINITY;
        });
        let strict = ImportanceParams::default();
        let err = h.importance(&strict).unwrap_err();
        match &err {
            GateError::NonFinite {
                layer,
                task,
                filter,
                value,
                ..
            } => {
                assert_eq!(
                    (layer.as_str(), task.as_str(), *filter),
                    ("enc.0.bns", "task_3", 4000)
                );
                assert_eq!(*value, f64::INFINITY);
            }
            e => panic!("{dtype:?}: expected NonFinite, got {e}"),
        }
        let msg = |e: GateError| e.to_string().split_once(": ").unwrap().1.to_string();
        assert_eq!(msg(err), msg(w.importance(&strict).unwrap_err()));
        let lenient = ImportanceParams {
            gate: None,
            allow_nonfinite: true,
        };
        let ((ih, dh), (iw, dw)) = (
            h.importance(&lenient).unwrap(),
            w.importance(&lenient).unwrap(),
        );
        assert_eq!(dh, dw);
        assert_eq!(dh[0].filters, [4000]);
        assert_eq!(dh[1].filters, [299]);
        assert_eq!(ih.n_filters(), 8192 + 7 + 300 - 2);
        assert!(
            ih.data()
                .iter()
                .zip(iw.data().iter())
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
    }
}
