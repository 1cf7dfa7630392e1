//! Reference tests of `mtl_inspect::analysis` against numpy / scipy /
//! sklearn. Each test names the script in `tests/reference/` that printed its
//! numbers; rerun the script to regenerate them. No Python at test time.

use mtl_inspect::analysis::similarity::SimilarityMatrix;
use mtl_inspect::analysis::{
    AnalysisError, capacity, gate_stats, similarity, specialization, stability,
};
use mtl_inspect::importance::{ImportanceMatrix, LayerSpan};
use nalgebra::DMatrix;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

fn im(rows: usize, cols: usize, data: &[f64]) -> ImportanceMatrix {
    ImportanceMatrix::single_layer(names(rows), "l", DMatrix::from_row_slice(rows, cols, data))
        .unwrap()
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tol {tol})");
}

fn check_capacity(rows: usize, cols: usize, data: &[f64], expected: &[(f64, f64, f64)]) {
    let r = capacity::capacity(&im(rows, cols, data));
    assert_eq!(r.tasks.len(), expected.len());
    for (c, &(cap, shared, indep)) in r.tasks.iter().zip(expected) {
        assert_close(c.capacity, cap, 1e-12, "capacity");
        assert_close(c.shared, shared, 1e-9, "shared");
        assert_close(c.independent, indep, 1e-9, "independent");
        assert_close(
            c.capacity.powi(2),
            c.shared.powi(2) + c.independent.powi(2),
            1e-12,
            "C²",
        );
    }
}

// tests/reference/capacity.py, case "random" (per-task np.linalg.lstsq).
#[test]
fn capacity_random_matches_numpy_lstsq() {
    let data = [
        0.774, 0.4389, 0.8586, 0.6974, 0.0942, 0.9756, 0.7611, 0.7861, 0.1281, 0.4504, 0.3708,
        0.9268, 0.6439, 0.8228, 0.4434, 0.2272, 0.5546, 0.0638, 0.8276, 0.6317, 0.7581, 0.3545,
        0.9707, 0.8931, 0.7784, 0.1946, 0.4667, 0.0438,
    ];
    let expected = [
        (0.6571142857142858, 0.6049164746791542, 0.25666172903559237),
        (0.5898428571428571, 0.5709069574667429, 0.14825600169475495),
        (0.5009142857142858, 0.48182454896719934, 0.136967973063809),
        (0.5288285714285714, 0.4379416556301606, 0.29642328556153835),
    ];
    check_capacity(4, 7, &data, &expected);
}

// tests/reference/capacity.py, case "more_tasks_than_filters".
#[test]
fn capacity_more_tasks_than_filters_matches_numpy() {
    let data = [
        0.1543, 0.683, 0.7448, 0.9675, 0.3258, 0.3705, 0.4696, 0.1895, 0.1299, 0.4757, 0.2269,
        0.6698, 0.4372, 0.8327, 0.7003,
    ];
    let expected = [
        (
            0.5273666666666667,
            0.5273666666666664,
            3.8845308875531235e-16,
        ),
        (0.5546, 0.5546000000000006, 5.898752902809297e-16),
        (0.263, 0.26300000000000007, 7.64786315803158e-17),
        (
            0.45746666666666663,
            0.4574666666666666,
            2.7307980158156497e-16,
        ),
        (
            0.6567333333333334,
            0.6567333333333337,
            5.456330785613099e-16,
        ),
    ];
    check_capacity(5, 3, &data, &expected);
    assert_eq!(capacity::capacity(&im(5, 3, &data)).rank, 3);
}

// tests/reference/capacity.py, case "duplicated_rows" (rows 0 and 2 equal).
#[test]
fn capacity_duplicated_rows_matches_numpy() {
    let data = [
        0.3124, 0.8323, 0.8048, 0.3875, 0.2883, 0.6825, 0.1398, 0.1999, 0.0074, 0.7869, 0.6649,
        0.7052, 0.3124, 0.8323, 0.8048, 0.3875, 0.2883, 0.6825, 0.4711, 0.5652, 0.765, 0.6347,
        0.5536, 0.5592,
    ];
    let expected = [
        (0.5513, 0.5512999999999998, 3.222775328532526e-16),
        (
            0.41735000000000005,
            0.34254980517055167,
            0.23841277960213728,
        ),
        (0.5513, 0.5513, 1.0467087667665453e-16),
        (0.5914666666666667, 0.5729572616004013, 0.14680869918757203),
    ];
    check_capacity(4, 6, &data, &expected);
    let r = capacity::capacity(&im(4, 6, &data));
    assert_eq!(r.rank, 3);
    assert_eq!(r.tasks[0].independent, 0.0);
    assert_eq!(r.tasks[2].independent, 0.0);
}

// tests/reference/capacity.py, case "combination_row" (row 2 = 0.3 row 0 + 0.7 row 1).
#[test]
fn capacity_linear_combination_matches_numpy() {
    let data = [
        0.304,
        0.0308,
        0.4367,
        0.2146,
        0.4085,
        0.8534,
        0.2339,
        0.0583,
        0.2814,
        0.2936,
        0.6619,
        0.557,
        0.25493,
        0.05005,
        0.32799,
        0.26990000000000003,
        0.58588,
        0.64592,
    ];
    let expected = [
        (
            0.3746666666666667,
            0.3746666666666671,
            5.625809777234882e-16,
        ),
        (
            0.34768333333333334,
            0.3476833333333334,
            6.287025331072787e-17,
        ),
        (
            0.3557783333333333,
            0.35577833333333336,
            1.212627580883179e-16,
        ),
    ];
    check_capacity(3, 6, &data, &expected);
}

#[test]
fn capacity_is_unchanged_by_filter_permutation_and_row_order() {
    let data = [
        0.774, 0.4389, 0.8586, 0.6974, 0.0942, 0.9756, 0.7611, 0.7861, 0.1281, 0.4504, 0.3708,
        0.9268, 0.6439, 0.8228, 0.4434, 0.2272, 0.5546, 0.0638, 0.8276, 0.6317, 0.7581,
    ];
    let m = DMatrix::from_row_slice(3, 7, &data);
    let perm = [6, 2, 4, 0, 1, 5, 3];
    let p = DMatrix::from_fn(3, 7, |r, c| m[(r, perm[c])]);
    let a = capacity::capacity(&ImportanceMatrix::single_layer(names(3), "l", m.clone()).unwrap());
    let b = capacity::capacity(&ImportanceMatrix::single_layer(names(3), "l", p).unwrap());
    for (x, y) in a.tasks.iter().zip(&b.tasks) {
        assert_close(x.shared, y.shared, 1e-12, "shared");
        assert_close(x.independent, y.independent, 1e-12, "independent");
    }
    let swapped = ImportanceMatrix::single_layer(names(3), "l", m).unwrap();
    let swapped = swapped
        .reorder_tasks(&["t2".into(), "t0".into(), "t1".into()])
        .unwrap();
    let c = capacity::capacity(&swapped);
    assert_close(
        c.tasks[0].independent,
        a.tasks[2].independent,
        1e-12,
        "reordered",
    );
}

#[test]
fn capacity_json_shape() {
    let r = capacity::capacity(&im(2, 2, &[1.0, 0.0, 0.0, 1.0]));
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["rank"], 2);
    assert_eq!(v["tasks"][0]["task"], "t0");
    for key in ["capacity", "shared", "independent"] {
        assert!(v["tasks"][1][key].is_number(), "{key}");
    }
}

// tests/reference/similarity_specialization_gates.py (rng seed 7).
const DATA7: [f64; 40] = [
    0.6251, 0.8972, 0.7757, 0.2252, 0.3002, 0.8736, 0.0053, 0.8212, 0.7971, 0.4679, 0.303, 0.2784,
    0.2549, 0.4451, 0.5045, 0.5535, 0.9955, 0.7927, 0.6222, 0.989, 0.2153, 0.1602, 0.6125, 0.0439,
    0.0357, 0.5149, 0.4662, 0.9172, 0.6292, 0.5141, 0.4969, 0.2475, 0.0118, 0.1924, 0.692, 0.2006,
    0.3695, 0.0037, 0.83, 0.1545,
];

fn im7() -> ImportanceMatrix {
    let layers = vec![
        LayerSpan {
            name: "l0".into(),
            start: 0,
            len: 4,
        },
        LayerSpan {
            name: "l1".into(),
            start: 4,
            len: 6,
        },
    ];
    ImportanceMatrix::new(names(4), layers, DMatrix::from_row_slice(4, 10, &DATA7)).unwrap()
}

// similarity_specialization_gates.py: sklearn cosine_similarity(I).
#[test]
fn similarity_matches_sklearn() {
    let sim = [
        1.0,
        0.7281852685517392,
        0.8481305847431893,
        0.6339969836317961,
        0.7281852685517392,
        1.0,
        0.8611062472542395,
        0.6925604642143718,
        0.8481305847431893,
        0.8611062472542395,
        1.0000000000000002,
        0.5227058788524404,
        0.6339969836317961,
        0.6925604642143718,
        0.5227058788524404,
        1.0,
    ];
    let s = similarity::cosine_similarity(&im7());
    for i in 0..4 {
        for j in 0..4 {
            let want = if i == j { 1.0 } else { sim[i * 4 + j] };
            assert_close(s.matrix[i][j], want, 1e-14, "cosine");
        }
        assert_eq!(s.matrix[i][i], 1.0);
    }
    let v: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert!(v.get("zero_norm_tasks").is_none());
    assert_eq!(v["tasks"][3], "t3");
    assert_eq!(v["matrix"][1][1], 1.0);
}

// similarity_specialization_gates.py: "tau=0.5 ..." and "tau=0.3 ..." lines.
#[test]
fn specialization_matches_numpy() {
    let cases: [(f64, [(usize, [usize; 4]); 3]); 2] = [
        (
            0.5,
            [(1, [1, 0, 0, 0]), (1, [0, 1, 0, 0]), (2, [1, 1, 0, 0])],
        ),
        (
            0.3,
            [(4, [3, 1, 1, 1]), (5, [2, 4, 1, 1]), (9, [5, 5, 2, 2])],
        ),
    ];
    for (tau, want) in cases {
        let p = specialization::SpecializationParams::new(tau).unwrap();
        let r = specialization::specialization(&im7(), &p);
        let got = [&r.layers[0], &r.layers[1], &r.total];
        for (g, (spec, per_task)) in got.iter().zip(want) {
            assert_eq!(g.specialized, spec, "tau {tau} layer {}", g.layer);
            let counts: Vec<usize> = g.per_task.iter().map(|(_, c)| c).collect();
            assert_eq!(counts, per_task, "tau {tau} layer {}", g.layer);
        }
        assert_eq!(r.total.filters, 10);
        assert_close(r.total.fraction, want[2].0 as f64 / 10.0, 0.0, "fraction");
    }
    let r = specialization::specialization(&im7(), &Default::default());
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["tau"], 0.5);
    assert_eq!(v["total"]["per_task"]["t0"], 1);
    assert_eq!(v["layers"][1]["layer"], "l1");
}

fn check_distribution(d: &gate_stats::Distribution, want: &[f64; 11], counts: &[usize]) {
    let got = [
        d.mean,
        d.std,
        d.min,
        d.q05,
        d.q25,
        d.median,
        d.q75,
        d.q95,
        d.max,
        d.below_0_1,
        d.above_0_9,
    ];
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(*g, *w, 1e-12, &format!("{} stat {k}", d.label));
    }
    assert_eq!(d.histogram.counts, counts, "{}", d.label);
}

// similarity_specialization_gates.py: "gate edges", "task k:", "all:" lines
// (np.quantile linear, np.std ddof=0, np.histogram with range (0, 1)).
#[test]
fn gate_distribution_matches_numpy() {
    let r = gate_stats::gate_distribution(&im7(), 5);
    let edges = [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0];
    for d in r.per_task.iter().chain([&r.overall]) {
        assert_eq!(d.histogram.edges, edges);
    }
    let want: [([f64; 11], [usize; 5]); 5] = [
        (
            [
                0.5788500000000001,
                0.2965574994836583,
                0.0053,
                0.104255,
                0.342125,
                0.7003999999999999,
                0.815175,
                0.88658,
                0.8972,
                0.1,
                0.0,
            ],
            [1, 2, 1, 3, 3],
        ),
        (
            [
                0.57388,
                0.2616392394118283,
                0.2549,
                0.265475,
                0.33852499999999996,
                0.5289999999999999,
                0.7500749999999999,
                0.992575,
                0.9955,
                0.0,
                0.2,
            ],
            [0, 3, 3, 2, 2],
        ),
        (
            [
                0.41091999999999995,
                0.27308155485129343,
                0.0357,
                0.03939,
                0.173975,
                0.49015,
                0.5881000000000001,
                0.7875999999999996,
                0.9172,
                0.2,
                0.1,
            ],
            [3, 1, 3, 2, 1],
        ),
        (
            [
                0.31989,
                0.26276325637348913,
                0.0037,
                0.007345,
                0.16397499999999998,
                0.22405,
                0.46505,
                0.7678999999999998,
                0.83,
                0.2,
                0.0,
            ],
            [4, 3, 1, 1, 1],
        ),
        (
            [
                0.470885,
                0.2952453255768836,
                0.0037,
                0.011475,
                0.222725,
                0.4824,
                0.7129249999999999,
                0.9207899999999998,
                0.9955,
                0.125,
                0.075,
            ],
            [8, 9, 8, 8, 7],
        ),
    ];
    for (d, (w, c)) in r.per_task.iter().chain([&r.overall]).zip(&want) {
        check_distribution(d, w, c);
    }
    assert_eq!(r.overall.n, 40);
    assert_eq!(r.overall.label, "all");
}

// similarity_specialization_gates.py: "data2" and the lines after it
// (values outside [0, 1]: np.histogram(J, bins=4) range [min, max]).
#[test]
fn gate_distribution_outside_unit_range_matches_numpy() {
    let data2 = [
        -0.223, 0.221, 0.128, -2.45, 0.152, 2.718, -3.094, 1.719, 0.239, -1.283, 4.001, 1.525,
        -2.399, 0.149, 1.153, -0.378, 1.366, -0.133,
    ];
    let r = gate_stats::gate_distribution(&im(2, 9, &data2), 4);
    let edges = [
        -3.094,
        -1.3202499999999997,
        0.45350000000000046,
        2.227250000000001,
        4.001,
    ];
    for (g, w) in r.overall.histogram.edges.iter().zip(edges) {
        assert_close(*g, w, 1e-15, "edge");
    }
    assert_eq!(r.overall.histogram.counts, vec![3, 9, 4, 2]);
    assert_eq!(r.per_task[0].histogram.counts, vec![2, 5, 1, 1]);
    assert_eq!(r.per_task[1].histogram.counts, vec![1, 4, 3, 1]);
    let q0 = [-2.8364, -0.223, 0.152, 0.239, 2.3183999999999996];
    let q1 = [-1.9526, -0.378, 0.149, 1.366, 3.0105999999999993];
    for (d, q, sd) in [
        (&r.per_task[0], q0, 1.7021007354384894),
        (&r.per_task[1], q1, 1.7427433106781907),
    ] {
        let got = [d.q05, d.q25, d.median, d.q75, d.q95];
        for (g, w) in got.iter().zip(q) {
            assert_close(*g, w, 1e-12, "quantile");
        }
        assert_close(d.std, sd, 1e-12, "std");
    }
}

fn sim_matrix(t: usize, flat: &[f64], tasks: &[&str]) -> SimilarityMatrix {
    SimilarityMatrix {
        tasks: tasks.iter().map(|s| s.to_string()).collect(),
        matrix: flat.chunks(t).map(|r| r.to_vec()).collect(),
        zero_norm_tasks: vec![],
    }
}

// tests/reference/stability.py: matrices a, b, c (5 tasks, ties inside).
const STAB_A: [f64; 25] = [
    1.0, 0.2, 0.8, 0.6, 0.1, 0.2, 1.0, 0.2, 0.7, 0.1, 0.8, 0.2, 1.0, 0.6, 0.7, 0.6, 0.7, 0.6, 1.0,
    0.3, 0.1, 0.1, 0.7, 0.3, 1.0,
];
const STAB_B: [f64; 25] = [
    1.0,
    0.5,
    0.8,
    0.6,
    0.30000000000000004,
    0.5,
    1.0,
    0.30000000000000004,
    0.7999999999999999,
    0.1,
    0.8,
    0.30000000000000004,
    1.0,
    0.5,
    0.39999999999999997,
    0.6,
    0.7999999999999999,
    0.5,
    1.0,
    0.3,
    0.30000000000000004,
    0.1,
    0.39999999999999997,
    0.3,
    1.0,
];
const STAB_C: [f64; 25] = [
    1.0, 0.7, 0.3, 0.9, 0.3, 0.7, 1.0, 0.6, 0.2, 0.2, 0.3, 0.6, 1.0, 0.9, 0.2, 0.9, 0.2, 0.9, 1.0,
    0.6, 0.3, 0.2, 0.2, 0.6, 1.0,
];
const T5: [&str; 5] = ["t0", "t1", "t2", "t3", "t4"];

fn stab_runs() -> Vec<(String, SimilarityMatrix)> {
    vec![
        ("A".into(), sim_matrix(5, &STAB_A, &T5)),
        ("B".into(), sim_matrix(5, &STAB_B, &T5)),
        ("C".into(), sim_matrix(5, &STAB_C, &T5)),
    ]
}

// tests/reference/stability.py: last line, scipy.stats.spearmanr with ties.
#[test]
fn spearman_with_ties_matches_scipy() {
    let x = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5];
    let y = [2.0, 1.0, 4.0, 4.0, 3.0, 9.0, 9.0, 0.0];
    assert_close(
        stability::spearman(&x, &y).unwrap(),
        0.7889568540593018,
        1e-14,
        "rho",
    );
}

#[test]
fn spearman_invariants() {
    let x = [0.3, -1.0, 2.5, 2.5, 7.0, 0.0];
    let y = [1.0, 0.2, 0.9, 3.0, 2.0, -4.0];
    let rho = stability::spearman(&x, &y).unwrap();
    let mono: Vec<f64> = x.iter().map(|v| (v * 3.0).exp() + 1.0).collect();
    assert_close(
        stability::spearman(&mono, &y).unwrap(),
        rho,
        1e-14,
        "monotone map",
    );
    let rev: Vec<f64> = x.iter().map(|v| -v).collect();
    assert_close(
        stability::spearman(&rev, &y).unwrap(),
        -rho,
        1e-14,
        "reversed ranks",
    );
    assert_eq!(stability::spearman(&x, &x), Some(1.0));
}

// tests/reference/stability.py: "A-B", "A-C", "B-C" lines (exact Mantel by
// itertools.permutations over 5! = 120 relabelings).
#[test]
fn stability_exact_mantel_matches_itertools_enumeration() {
    let p = stability::StabilityParams::new(120, 1).unwrap();
    let r = stability::stability(&stab_runs(), &p).unwrap();
    let want = [
        ("A", "B", 0.7716196392887873, 0.008333333333333333),
        ("A", "C", -0.08777817641854944, 0.5833333333333334),
        ("B", "C", 0.17136035300853691, 0.2916666666666667),
    ];
    assert_eq!(r.pairs.len(), 3);
    for (pair, (a, b, rho, pv)) in r.pairs.iter().zip(want) {
        assert_eq!((pair.a.as_str(), pair.b.as_str()), (a, b));
        assert_close(pair.spearman.unwrap(), rho, 1e-14, "rho");
        assert_close(pair.p_value.unwrap(), pv, 1e-15, "exact p");
    }
    let mean = (0.7716196392887873 - 0.08777817641854944 + 0.17136035300853691) / 3.0;
    assert_close(r.mean.unwrap(), mean, 1e-14, "mean");
    assert_close(r.min.unwrap(), -0.08777817641854944, 1e-14, "min");
    assert_eq!(r.matrix[0][1], r.matrix[1][0]);
    assert_eq!(r.matrix[2][2], Some(1.0));
}

#[test]
fn stability_random_mantel_is_seeded_and_bounded() {
    let p = stability::StabilityParams::new(50, 9).unwrap();
    let r1 = stability::stability(&stab_runs(), &p).unwrap();
    let r2 = stability::stability(&stab_runs(), &p).unwrap();
    assert_eq!(r1, r2);
    for pair in &r1.pairs {
        let pv = pair.p_value.unwrap();
        assert!(pv >= 1.0 / 51.0 && pv <= 1.0, "{pv}");
    }
    // A vs B is strongly related: few random relabelings reach its rho.
    assert!(r1.pairs[0].p_value.unwrap() < 0.2);
    let none = stability::stability(
        &stab_runs(),
        &stability::StabilityParams::new(0, 9).unwrap(),
    )
    .unwrap();
    assert!(none.pairs.iter().all(|q| q.p_value.is_none()));
}

#[test]
fn stability_aligns_runs_by_task_name() {
    // B with tasks listed in another order must give the same answer.
    let order = [3usize, 0, 4, 1, 2];
    let names: Vec<&str> = order.iter().map(|&i| T5[i]).collect();
    let flat: Vec<f64> = order
        .iter()
        .flat_map(|&i| order.iter().map(move |&j| STAB_B[i * 5 + j]))
        .collect();
    let mut runs = stab_runs();
    runs[1].1 = sim_matrix(5, &flat, &names);
    let p = stability::StabilityParams::new(0, 0).unwrap();
    let r = stability::stability(&runs, &p).unwrap();
    assert_close(
        r.pairs[0].spearman.unwrap(),
        0.7716196392887873,
        1e-14,
        "aligned rho",
    );
}

#[test]
fn stability_errors_name_the_problem() {
    let p = stability::StabilityParams::default();
    let one = &stab_runs()[..1];
    assert!(matches!(
        stability::stability(one, &p),
        Err(AnalysisError::Param { name: "runs", .. })
    ));
    let mut runs = stab_runs();
    runs[2].1.tasks[4] = "smiling".into();
    let err = stability::stability(&runs, &p).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, AnalysisError::TaskMismatch(_)));
    assert!(
        msg.contains("'C'") && msg.contains("'A'") && msg.contains("t4") && msg.contains("smiling"),
        "{msg}"
    );
}

#[test]
fn stability_degenerate_triangles() {
    // two tasks: a one-entry triangle has no ranks to correlate
    let two = vec![
        (
            "a".into(),
            sim_matrix(2, &[1.0, 0.5, 0.5, 1.0], &["x", "y"]),
        ),
        (
            "b".into(),
            sim_matrix(2, &[1.0, 0.2, 0.2, 1.0], &["x", "y"]),
        ),
    ];
    let r = stability::stability(&two, &stability::StabilityParams::default()).unwrap();
    assert_eq!(
        (r.pairs[0].spearman, r.pairs[0].p_value, r.mean),
        (None, None, None)
    );
    // constant (identical-task) matrices
    let ones = sim_matrix(3, &[1.0; 9], &["x", "y", "z"]);
    let runs = vec![("a".into(), ones.clone()), ("b".into(), ones)];
    let r = stability::stability(&runs, &stability::StabilityParams::default()).unwrap();
    assert_eq!(r.pairs[0].spearman, None);
    assert_eq!(r.matrix[0][0], None);
}
