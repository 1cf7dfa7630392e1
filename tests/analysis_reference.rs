//! Reference tests of `mtl_inspect::analysis` against numpy / scipy /
//! sklearn. Each test names the script in `tests/reference/` that printed its
//! numbers; rerun the script to regenerate them. No Python at test time.

use mtl_inspect::analysis::similarity::SimilarityMatrix;
use mtl_inspect::analysis::{
    AnalysisError, capacity, clusters, filter_groups, gate_stats, similarity, specialization,
    stability,
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
    type Want = [(usize, [usize; 4]); 3];
    let cases: [(f64, Want); 2] = [
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
    let r = gate_stats::gate_distribution(&im7(), &gate_stats::GateStatsParams::new(5).unwrap());
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
#[allow(clippy::approx_constant)] // 2.718 is data, not e
fn gate_distribution_outside_unit_range_matches_numpy() {
    let data2 = [
        -0.223, 0.221, 0.128, -2.45, 0.152, 2.718, -3.094, 1.719, 0.239, -1.283, 4.001, 1.525,
        -2.399, 0.149, 1.153, -0.378, 1.366, -0.133,
    ];
    let r = gate_stats::gate_distribution(
        &im(2, 9, &data2),
        &gate_stats::GateStatsParams::new(4).unwrap(),
    );
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
    assert_eq!(r.exact_permutations, Some(120));
}

// tests/reference/bootstrap.py: "SIM0-SIM1" line. The random Mantel test
// (8! = 40320 > N relabellings, so it samples) must agree with the exact
// p-value from enumerating every relabelling, within Monte Carlo error:
// N = 20000 gives a standard error of sqrt(p(1 - p)/N) = 0.0035; 5 of them
// are allowed. (A p-value in [1/(N+1), 1] holds by construction and proved
// nothing.)
#[test]
fn stability_random_mantel_agrees_with_exact_enumeration() {
    let runs = sim_runs(&[("a", &SIM0), ("b", &SIM1)]);
    let n = 20_000;
    let p = stability::StabilityParams::new(n, 9).unwrap();
    let r = stability::stability(&runs, &p).unwrap();
    assert_eq!(r.exact_permutations, None);
    assert_close(
        r.pairs[0].spearman.unwrap(),
        0.0240831964969896,
        1e-13,
        "rho",
    );
    let (exact, got) = (0.44719742063492063, r.pairs[0].p_value.unwrap());
    let se = (exact * (1.0 - exact) / n as f64).sqrt();
    assert!(
        (got - exact).abs() < 5.0 * se,
        "random Mantel p {got} vs exact {exact} (se {se})"
    );
    // seeded: the same seed gives the same p, another seed (almost surely)
    // another one
    assert_eq!(r, stability::stability(&runs, &p).unwrap());
    let other =
        stability::stability(&runs, &stability::StabilityParams::new(n, 10).unwrap()).unwrap();
    assert_ne!(other.pairs[0].p_value, r.pairs[0].p_value);
    let none = stability::stability(
        &stab_runs(),
        &stability::StabilityParams::new(0, 9).unwrap(),
    )
    .unwrap();
    assert!(none.pairs.iter().all(|q| q.p_value.is_none()));
}

// tests/reference/bootstrap.py: "percentile" line (np.percentile, linear).
#[test]
fn bootstrap_percentile_matches_numpy() {
    let mut v = vec![0.31, 0.7, 0.12, 0.55, 0.9, 0.44, 0.61];
    v.sort_by(f64::total_cmp);
    for (q, want) in [
        (0.025, 0.1485),
        (0.975, 0.8699999999999999),
        (0.5, 0.55),
        (0.0, 0.12),
        (1.0, 0.9),
    ] {
        assert_close(
            stability::percentile(&v, q).unwrap(),
            want,
            1e-15,
            "percentile",
        );
    }
    assert_eq!(stability::percentile(&[], 0.5), None);
    let iv = stability::percentile_interval(v.clone()).unwrap();
    assert_close(iv.low, 0.1485, 1e-15, "interval low");
    assert_close(iv.high, 0.8699999999999999, 1e-15, "interval high");
    assert_eq!(iv.replicates, 7);
}

// tests/reference/bootstrap.py: "resampled mean" lines: the mean Spearman
// over pairs of positions of a draw of runs, pairs of the same run left out.
#[test]
fn bootstrap_resampled_mean_matches_numpy() {
    let m = vec![
        vec![Some(1.0), Some(0.6), Some(0.5), Some(0.7)],
        vec![Some(0.6), Some(1.0), Some(0.4), None],
        vec![Some(0.5), Some(0.4), Some(1.0), Some(0.8)],
        vec![Some(0.7), None, Some(0.8), Some(1.0)],
    ];
    assert_close(
        stability::resampled_mean(&m, &[0, 0, 2, 3]).unwrap(),
        0.64,
        1e-15,
        "mean",
    );
    assert_eq!(stability::resampled_mean(&m, &[1, 1, 3, 3]), None);
    assert_eq!(stability::resampled_mean(&m, &[2, 2, 2, 2]), None);
}

// tests/reference/bootstrap.py, "Grouped jackknife of a pair": the
// replicates of two runs for a given partition of their filters (group b =
// order[b::10]), scipy's spearmanr of every combination, and the interval.
#[test]
fn grouped_jackknife_interval_matches_scipy() {
    use mtl_inspect::analysis::stability::jackknife::{RunReplicates, pair_interval};
    let (t, f) = (8usize, 40usize);
    let run = |phase: f64| {
        DMatrix::from_fn(t, f, |i, j| {
            let (ti, fj) = (i as f64, j as f64);
            0.5 + 0.3 * (0.37 * (ti + 1.0) * (fj + 1.0) + phase).sin()
                + 0.15 * (1.1 * fj + (i % 3) as f64).cos()
        })
    };
    let (a, b) = (run(0.0), run(0.2));
    let groups = |step: usize, shift: usize| -> Vec<Vec<usize>> {
        let order: Vec<usize> = (0..f).map(|k| (step * k + shift) % f).collect();
        (0..10)
            .map(|g| order.iter().skip(g).step_by(10).copied().collect())
            .collect()
    };
    let ra = RunReplicates::from_groups(&a, &(&a * a.transpose()), &groups(7, 3));
    let rb = RunReplicates::from_groups(&b, &(&b * b.transpose()), &groups(11, 5));
    let ci = pair_interval(0.9978106185002736, &ra, &rb).unwrap();
    assert_eq!(ci.replicates, 100);
    assert_close(ci.mean, 0.839567597153804, 1e-12, "replicate mean");
    assert_close(ci.low, 0.4940669882556469, 1e-12, "low");
    assert_close(ci.high, 1.0, 0.0, "high (clipped)");
    // the observed statistic, through the public API
    let names: Vec<String> = (0..t).map(|i| format!("t{i}")).collect();
    let ia = ImportanceMatrix::single_layer(names.clone(), "l", a).unwrap();
    let ib = ImportanceMatrix::single_layer(names, "l", b).unwrap();
    let p = stability::StabilityParams::new(0, 0).unwrap();
    let r =
        stability::stability_of_importance(&[("a".into(), &ia), ("b".into(), &ib)], &p).unwrap();
    assert_close(
        r.pairs[0].spearman.unwrap(),
        0.9978106185002736,
        1e-12,
        "rho",
    );
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

// tests/reference/clusters.py: sim0, sim1, sim2 (cosine similarities of
// three noisy runs, symmetrized, 8 tasks, no tied distances).
const SIM0: [f64; 64] = [
    0.9999999999999998,
    0.6784699198483456,
    0.5623251233116874,
    0.63386669785097,
    0.6313893801576139,
    0.6303519239736727,
    0.5598403731995177,
    0.6095060722957856,
    0.6784699198483456,
    1.0,
    0.5259300765708547,
    0.5029077591517617,
    0.46247534676913804,
    0.6783137704462681,
    0.5546133210422385,
    0.6325334513201726,
    0.5623251233116874,
    0.5259300765708547,
    0.9999999999999997,
    0.657353375616523,
    0.7370591099226458,
    0.5872218876287473,
    0.6066693606266381,
    0.6653278464332399,
    0.63386669785097,
    0.5029077591517617,
    0.657353375616523,
    1.0000000000000002,
    0.5171455710501788,
    0.5037740524622379,
    0.5261858579903036,
    0.6492663153975812,
    0.6313893801576139,
    0.46247534676913804,
    0.7370591099226458,
    0.5171455710501788,
    1.0000000000000002,
    0.5923583069636946,
    0.6151156180091815,
    0.5927688775046278,
    0.6303519239736727,
    0.6783137704462681,
    0.5872218876287473,
    0.5037740524622379,
    0.5923583069636946,
    1.0000000000000002,
    0.7362234527951905,
    0.7917183536929157,
    0.5598403731995177,
    0.5546133210422385,
    0.6066693606266381,
    0.5261858579903036,
    0.6151156180091815,
    0.7362234527951905,
    1.0,
    0.6226791548744166,
    0.6095060722957856,
    0.6325334513201726,
    0.6653278464332399,
    0.6492663153975812,
    0.5927688775046278,
    0.7917183536929157,
    0.6226791548744166,
    1.0,
];
const SIM1: [f64; 64] = [
    1.0000000000000002,
    0.6380259102020012,
    0.5329628371726799,
    0.5230239816614762,
    0.39343100603159686,
    0.47225200794801536,
    0.6319612987545346,
    0.5566041942697841,
    0.6380259102020012,
    1.0,
    0.5441546617737111,
    0.6843563053285805,
    0.6261474159922283,
    0.6003324177705396,
    0.5871551081769099,
    0.6653468948688768,
    0.5329628371726799,
    0.5441546617737111,
    0.9999999999999998,
    0.5746954348164561,
    0.7063019652517598,
    0.7051723036153464,
    0.6696655288931342,
    0.6293824166208681,
    0.5230239816614762,
    0.6843563053285805,
    0.5746954348164561,
    1.0,
    0.6328875809235981,
    0.538684090539865,
    0.6827194096438421,
    0.5361040061476914,
    0.39343100603159686,
    0.6261474159922283,
    0.7063019652517598,
    0.6328875809235981,
    0.9999999999999999,
    0.5504944673942175,
    0.7004347453847737,
    0.5838373147400726,
    0.47225200794801536,
    0.6003324177705396,
    0.7051723036153464,
    0.538684090539865,
    0.5504944673942175,
    1.0000000000000002,
    0.5934605157076807,
    0.6581903571415644,
    0.6319612987545346,
    0.5871551081769099,
    0.6696655288931342,
    0.6827194096438421,
    0.7004347453847737,
    0.5934605157076807,
    0.9999999999999998,
    0.6557543271285996,
    0.5566041942697841,
    0.6653468948688768,
    0.6293824166208681,
    0.5361040061476914,
    0.5838373147400726,
    0.6581903571415644,
    0.6557543271285996,
    0.9999999999999997,
];
const SIM2: [f64; 64] = [
    1.0000000000000002,
    0.5559299640119926,
    0.6786642823714375,
    0.5961961271734192,
    0.49347252089242,
    0.6507508618627338,
    0.7692393262028969,
    0.6869025589671677,
    0.5559299640119926,
    0.9999999999999998,
    0.58548847675779,
    0.5860647595201377,
    0.5051385158527537,
    0.5643458577955038,
    0.7052534689862768,
    0.39037816801720604,
    0.6786642823714375,
    0.58548847675779,
    0.9999999999999999,
    0.6494559501683969,
    0.61884650023146,
    0.6047587967033448,
    0.6637802137133806,
    0.7167621446377757,
    0.5961961271734192,
    0.5860647595201377,
    0.6494559501683969,
    0.9999999999999998,
    0.8392131826051347,
    0.6115123737770634,
    0.6687287404849054,
    0.5668797425470796,
    0.49347252089242,
    0.5051385158527537,
    0.61884650023146,
    0.8392131826051347,
    0.9999999999999999,
    0.5683175510876727,
    0.6055929776001724,
    0.5473467079098092,
    0.6507508618627338,
    0.5643458577955038,
    0.6047587967033448,
    0.6115123737770634,
    0.5683175510876727,
    0.9999999999999999,
    0.6615150389655686,
    0.7084105608749359,
    0.7692393262028969,
    0.7052534689862768,
    0.6637802137133806,
    0.6687287404849054,
    0.6055929776001724,
    0.6615150389655686,
    1.0,
    0.5474989352617468,
    0.6869025589671677,
    0.39037816801720604,
    0.7167621446377757,
    0.5668797425470796,
    0.5473467079098092,
    0.7084105608749359,
    0.5474989352617468,
    1.0,
];

fn t8() -> Vec<String> {
    names(8)
}

fn check_linkage(
    method: clusters::Linkage,
    z: &[f64],
    leaves: &[usize],
    cut3: &[usize],
    cut2: &[usize],
) {
    let d = DMatrix::from_fn(8, 8, |i, j| {
        if i == j {
            0.0
        } else {
            (1.0 - SIM0[i * 8 + j]).max(0.0)
        }
    });
    let dend = clusters::linkage(&d, method);
    assert_eq!(dend.steps.len(), 7);
    for (s, row) in dend.steps.iter().zip(z.chunks(4)) {
        assert_eq!(
            (s.a, s.b, s.size),
            (row[0] as usize, row[1] as usize, row[3] as usize),
            "{method}"
        );
        assert_close(s.distance, row[2], 1e-12, &format!("{method} height"));
    }
    assert_eq!(dend.leaves, leaves, "{method} leaves");
    assert_eq!(clusters::cut(&dend, 3), cut3, "{method} cut 3");
    assert_eq!(clusters::cut(&dend, 2), cut2, "{method} cut 2");
    assert_eq!(
        clusters::cut(&dend, 8),
        (0..8).collect::<Vec<_>>(),
        "{method} cut 8"
    );
    assert_eq!(clusters::cut(&dend, 1), vec![0; 8], "{method} cut 1");
}

// tests/reference/clusters.py: "average" lines (scipy linkage, leaves_list,
// fcluster maxclust 3 and 2, canonical labels).
#[test]
fn linkage_average_matches_scipy() {
    let z = [
        5.0,
        7.0,
        0.20828164630708434,
        2.0,
        2.0,
        4.0,
        0.2629408900773542,
        2.0,
        6.0,
        8.0,
        0.32054869616519643,
        3.0,
        0.0,
        1.0,
        0.3215300801516544,
        2.0,
        10.0,
        11.0,
        0.38914018128705746,
        5.0,
        3.0,
        9.0,
        0.41275052666664913,
        3.0,
        12.0,
        13.0,
        0.42282783287811493,
        8.0,
    ];
    check_linkage(
        clusters::Linkage::Average,
        &z,
        &[6, 5, 7, 0, 1, 3, 2, 4],
        &[0, 0, 1, 2, 1, 0, 0, 0],
        &[0, 0, 1, 1, 1, 0, 0, 0],
    );
}

// tests/reference/clusters.py: "complete" lines (scipy linkage, leaves_list,
// fcluster maxclust 3 and 2, canonical labels).
#[test]
fn linkage_complete_matches_scipy() {
    let z = [
        5.0,
        7.0,
        0.20828164630708434,
        2.0,
        2.0,
        4.0,
        0.2629408900773542,
        2.0,
        0.0,
        1.0,
        0.3215300801516544,
        2.0,
        6.0,
        8.0,
        0.3773208451255834,
        3.0,
        9.0,
        11.0,
        0.4127781123712527,
        5.0,
        3.0,
        12.0,
        0.49622594753776206,
        6.0,
        10.0,
        13.0,
        0.537524653230862,
        8.0,
    ];
    check_linkage(
        clusters::Linkage::Complete,
        &z,
        &[0, 1, 3, 2, 4, 6, 5, 7],
        &[0, 0, 1, 2, 1, 1, 1, 1],
        &[0, 0, 1, 1, 1, 1, 1, 1],
    );
}

// tests/reference/clusters.py: "single" lines (scipy linkage, leaves_list,
// fcluster maxclust 3 and 2, canonical labels).
#[test]
fn linkage_single_matches_scipy() {
    let z = [
        5.0,
        7.0,
        0.20828164630708434,
        2.0,
        2.0,
        4.0,
        0.2629408900773542,
        2.0,
        6.0,
        8.0,
        0.2637765472048095,
        3.0,
        0.0,
        1.0,
        0.3215300801516544,
        2.0,
        10.0,
        11.0,
        0.32168622955373194,
        5.0,
        9.0,
        12.0,
        0.33467215356676006,
        7.0,
        3.0,
        13.0,
        0.34264662438347704,
        8.0,
    ];
    check_linkage(
        clusters::Linkage::Single,
        &z,
        &[3, 2, 4, 6, 5, 7, 0, 1],
        &[0, 0, 1, 2, 1, 0, 0, 0],
        &[0, 0, 0, 1, 0, 0, 0, 0],
    );
}

// tests/reference/clusters.py: "ward" lines (scipy linkage, leaves_list,
// fcluster maxclust 3 and 2, canonical labels).
#[test]
fn linkage_ward_matches_scipy() {
    let z = [
        5.0,
        7.0,
        0.20828164630708434,
        2.0,
        2.0,
        4.0,
        0.2629408900773542,
        2.0,
        0.0,
        1.0,
        0.3215300801516544,
        2.0,
        6.0,
        8.0,
        0.35614460071472925,
        3.0,
        3.0,
        9.0,
        0.4589743296529149,
        3.0,
        10.0,
        11.0,
        0.4876294018022362,
        5.0,
        12.0,
        13.0,
        0.5627381655208826,
        8.0,
    ];
    check_linkage(
        clusters::Linkage::Ward,
        &z,
        &[3, 2, 4, 0, 1, 6, 5, 7],
        &[0, 0, 1, 1, 1, 2, 2, 2],
        &[0, 0, 1, 1, 1, 0, 0, 0],
    );
}

// tests/reference/clusters.py: "weighted" lines (scipy linkage, leaves_list,
// fcluster maxclust 3 and 2, canonical labels).
#[test]
fn linkage_weighted_matches_scipy() {
    let z = [
        5.0,
        7.0,
        0.20828164630708434,
        2.0,
        2.0,
        4.0,
        0.2629408900773542,
        2.0,
        6.0,
        8.0,
        0.32054869616519643,
        3.0,
        0.0,
        1.0,
        0.3215300801516544,
        2.0,
        9.0,
        10.0,
        0.3898441405247564,
        5.0,
        11.0,
        12.0,
        0.428509221241375,
        7.0,
        3.0,
        13.0,
        0.43115576217595275,
        8.0,
    ];
    check_linkage(
        clusters::Linkage::Weighted,
        &z,
        &[3, 0, 1, 2, 4, 6, 5, 7],
        &[0, 0, 1, 2, 1, 1, 1, 1],
        &[0, 0, 0, 1, 0, 0, 0, 0],
    );
}

// tests/reference/clusters.py: "run labels", "cooccurrence", "representative"
// (average linkage, K = 3). The co-occurrence (thirds) has ties, so scipy's
// own representative partition depends on the task order (this one for 139
// of 200 relabellings, /tmp-free check: tiebreak.py's scipy section); here
// the ties are broken by the mean similarity and give the same partition.
// ARI: sklearn.metrics.adjusted_rand_score(run, rep); confidence: numpy
// mean of co[i, mates] (a task alone: share of runs where it is alone).
#[test]
fn cluster_runs_matches_scipy() {
    let runs: Vec<(String, similarity::SimilarityMatrix)> =
        [("r0", &SIM0), ("r1", &SIM1), ("r2", &SIM2)]
            .iter()
            .map(|(n, s)| {
                (
                    n.to_string(),
                    similarity::SimilarityMatrix {
                        tasks: t8(),
                        matrix: s.chunks(8).map(|r| r.to_vec()).collect(),
                        zero_norm_tasks: vec![],
                    },
                )
            })
            .collect();
    let p = clusters::ClusterParams::new(3, clusters::Linkage::Average).unwrap();
    let r = clusters::cluster_runs(&runs, &p).unwrap();
    let want_runs: [Vec<usize>; 3] = [
        vec![0, 0, 1, 2, 1, 0, 0, 0],
        vec![0, 1, 2, 1, 2, 2, 2, 2],
        vec![0, 1, 0, 2, 2, 0, 0, 0],
    ];
    for (rc, want) in r.runs.iter().zip(&want_runs) {
        assert_eq!(&rc.labels, want, "{}", rc.run);
    }
    let co = [
        1.0,
        0.3333333333333333,
        0.3333333333333333,
        0.0,
        0.0,
        0.6666666666666666,
        0.6666666666666666,
        0.6666666666666666,
        0.3333333333333333,
        1.0,
        0.0,
        0.3333333333333333,
        0.0,
        0.3333333333333333,
        0.3333333333333333,
        0.3333333333333333,
        0.3333333333333333,
        0.0,
        1.0,
        0.0,
        0.6666666666666666,
        0.6666666666666666,
        0.6666666666666666,
        0.6666666666666666,
        0.0,
        0.3333333333333333,
        0.0,
        1.0,
        0.3333333333333333,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.6666666666666666,
        0.3333333333333333,
        1.0,
        0.3333333333333333,
        0.3333333333333333,
        0.3333333333333333,
        0.6666666666666666,
        0.3333333333333333,
        0.6666666666666666,
        0.0,
        0.3333333333333333,
        1.0,
        1.0,
        1.0,
        0.6666666666666666,
        0.3333333333333333,
        0.6666666666666666,
        0.0,
        0.3333333333333333,
        1.0,
        1.0,
        1.0,
        0.6666666666666666,
        0.3333333333333333,
        0.6666666666666666,
        0.0,
        0.3333333333333333,
        1.0,
        1.0,
        1.0,
    ];
    for i in 0..8 {
        for j in 0..8 {
            assert_close(
                r.cooccurrence.matrix[i][j],
                co[i * 8 + j],
                1e-15,
                "co-occurrence",
            );
        }
    }
    let rep: Vec<usize> = vec![0, 1, 0, 2, 0, 0, 0, 0];
    let mut want_clusters: Vec<Vec<String>> = vec![vec![]; 3];
    for (t, &l) in rep.iter().enumerate() {
        want_clusters[l].push(format!("t{t}"));
    }
    assert_eq!(r.clusters, want_clusters);
    assert_eq!(r.k, 3);
    assert_eq!(
        clusters::adjusted_rand_index(&clusters::cut(&r.dendrogram, 3), &rep),
        1.0
    );
    let ari = [0.15577889447236182, 0.5778894472361809, 0.5778894472361809];
    for (rc, want) in r.runs.iter().zip(ari) {
        assert_close(rc.ari, want, 1e-15, "ARI to the representative clusters");
    }
    let confidence = [
        0.4666666666666666,
        0.3333333333333333,
        0.5999999999999999,
        0.3333333333333333,
        0.3333333333333333,
        0.7333333333333333,
        0.7333333333333333,
        0.7333333333333333,
    ];
    for (c, want) in r.confidence.iter().zip(confidence) {
        assert_close(
            c.confidence,
            want,
            1e-15,
            &format!("confidence of {}", c.task),
        );
    }
    assert_eq!(r.confidence[3].cluster, 2);
    assert!(r.ties.is_empty());
    assert_eq!((r.cut.clusters, r.cut.merges), (3, 5));
    assert_eq!(r.cut.height, Some(r.dendrogram.steps[4].distance));
    assert_eq!(r.cut.next_height, Some(r.dendrogram.steps[5].distance));
}

// tests/reference/tiebreak.py: "reference_case" lines. An independent
// Python implementation of the tie-breaking rule on 12 tasks, 5 runs
// (co-occurrence in fifths) and a mean similarity rounded to 0.05: the
// same merges (ids, heights, deciding key) and the same cuts.
#[test]
fn tiebreak_matches_python_reference() {
    let labels: [[usize; 12]; 5] = [
        [0, 0, 0, 1, 3, 1, 2, 2, 2, 3, 3, 3],
        [0, 0, 3, 1, 0, 1, 2, 2, 2, 3, 3, 3],
        [0, 1, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3],
        [0, 0, 0, 1, 1, 1, 2, 3, 2, 3, 3, 2],
        [0, 0, 0, 1, 0, 2, 2, 2, 2, 3, 3, 3],
    ];
    let ms = [
        1.0,
        0.2,
        0.5,
        0.35000000000000003,
        0.5,
        0.8,
        0.35000000000000003,
        0.25,
        0.4,
        0.4,
        0.65,
        0.6000000000000001,
        0.2,
        1.0,
        0.5,
        0.75,
        0.30000000000000004,
        0.2,
        0.25,
        0.7000000000000001,
        0.5,
        0.30000000000000004,
        0.55,
        0.30000000000000004,
        0.5,
        0.5,
        1.0,
        0.4,
        0.65,
        0.45,
        0.25,
        0.30000000000000004,
        0.8500000000000001,
        0.8500000000000001,
        0.7000000000000001,
        0.4,
        0.35000000000000003,
        0.75,
        0.4,
        1.0,
        0.4,
        0.25,
        0.8500000000000001,
        0.5,
        0.35000000000000003,
        0.4,
        0.6000000000000001,
        0.30000000000000004,
        0.5,
        0.30000000000000004,
        0.65,
        0.4,
        1.0,
        0.6000000000000001,
        0.65,
        0.25,
        0.5,
        0.25,
        0.55,
        0.45,
        0.8,
        0.2,
        0.45,
        0.25,
        0.6000000000000001,
        1.0,
        0.45,
        0.6000000000000001,
        0.2,
        0.8500000000000001,
        0.55,
        0.75,
        0.35000000000000003,
        0.25,
        0.25,
        0.8500000000000001,
        0.65,
        0.45,
        1.0,
        0.45,
        0.55,
        0.5,
        0.2,
        0.8,
        0.25,
        0.7000000000000001,
        0.30000000000000004,
        0.5,
        0.25,
        0.6000000000000001,
        0.45,
        1.0,
        0.75,
        0.30000000000000004,
        0.8500000000000001,
        0.35000000000000003,
        0.4,
        0.5,
        0.8500000000000001,
        0.35000000000000003,
        0.5,
        0.2,
        0.55,
        0.75,
        1.0,
        0.4,
        0.8500000000000001,
        0.30000000000000004,
        0.4,
        0.30000000000000004,
        0.8500000000000001,
        0.4,
        0.25,
        0.8500000000000001,
        0.5,
        0.30000000000000004,
        0.4,
        1.0,
        0.65,
        0.45,
        0.65,
        0.55,
        0.7000000000000001,
        0.6000000000000001,
        0.55,
        0.55,
        0.2,
        0.8500000000000001,
        0.8500000000000001,
        0.65,
        1.0,
        0.35000000000000003,
        0.6000000000000001,
        0.30000000000000004,
        0.4,
        0.30000000000000004,
        0.45,
        0.75,
        0.8,
        0.35000000000000003,
        0.30000000000000004,
        0.45,
        0.35000000000000003,
        1.0,
    ];
    let n = 12;
    let d1 = DMatrix::from_fn(n, n, |i, j| {
        let together = labels.iter().filter(|l| l[i] == l[j]).count();
        if i == j {
            0.0
        } else {
            1.0 - together as f64 / 5.0
        }
    });
    let d2 = DMatrix::from_fn(n, n, |i, j| if i == j { 0.0 } else { 1.0 - ms[i * n + j] });
    use clusters::MergeRule::{Distance as D, Profile as P, Secondary as S};
    #[allow(clippy::type_complexity)]
    let want: [(
        clusters::Linkage,
        Vec<(usize, usize, f64, clusters::MergeRule)>,
        [[usize; 12]; 5],
    ); 5] = [
        (
            clusters::Linkage::Average,
            vec![
                (9, 10, 0.0, S),
                (6, 8, 0.0, D),
                (7, 13, 0.19999999999999996, S),
                (0, 2, 0.19999999999999996, S),
                (3, 5, 0.19999999999999996, D),
                (1, 15, 0.3, D),
                (11, 12, 0.4, D),
                (4, 16, 0.6, S),
                (14, 18, 0.7777777777777778, D),
                (17, 19, 0.8222222222222221, D),
                (20, 21, 0.9500000000000001, D),
            ],
            [
                [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2],
                [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 4],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 5],
            ],
        ),
        (
            clusters::Linkage::Complete,
            vec![
                (9, 10, 0.0, S),
                (6, 8, 0.0, D),
                (0, 2, 0.19999999999999996, S),
                (7, 13, 0.19999999999999996, S),
                (3, 5, 0.19999999999999996, D),
                (11, 12, 0.4, S),
                (1, 4, 0.4, S),
                (14, 18, 0.8, P),
                (16, 17, 1.0, S),
                (15, 19, 1.0, S),
                (20, 21, 1.0, D),
            ],
            [
                [0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1],
                [0, 0, 0, 1, 0, 1, 2, 2, 2, 1, 1, 1],
                [0, 0, 0, 1, 0, 1, 2, 2, 2, 3, 3, 3],
                [0, 1, 0, 2, 1, 2, 3, 3, 3, 4, 4, 4],
                [0, 1, 0, 2, 3, 2, 4, 4, 4, 5, 5, 5],
            ],
        ),
        (
            clusters::Linkage::Single,
            vec![
                (9, 10, 0.0, S),
                (6, 8, 0.0, D),
                (7, 13, 0.19999999999999996, S),
                (0, 2, 0.19999999999999996, S),
                (1, 15, 0.19999999999999996, S),
                (3, 5, 0.19999999999999996, D),
                (4, 16, 0.4, S),
                (11, 12, 0.4, D),
                (14, 19, 0.6, S),
                (17, 18, 0.6, D),
                (20, 21, 0.8, D),
            ],
            [
                [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                [0, 0, 0, 1, 0, 1, 2, 2, 2, 2, 2, 2],
                [0, 0, 0, 1, 0, 1, 2, 2, 2, 3, 3, 3],
                [0, 0, 0, 1, 0, 1, 2, 2, 2, 3, 3, 4],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 5],
            ],
        ),
        (
            clusters::Linkage::Ward,
            vec![
                (9, 10, 0.0, S),
                (6, 8, 0.0, D),
                (0, 2, 0.19999999999999996, S),
                (3, 5, 0.19999999999999996, D),
                (7, 13, 0.23094010767585024, D),
                (1, 14, 0.34641016151377546, D),
                (11, 12, 0.46188021535170065, D),
                (4, 15, 0.6831300510639732, D),
                (16, 18, 1.3114877048604003, D),
                (17, 19, 1.346600658448277, D),
                (20, 21, 1.7962924780409972, D),
            ],
            [
                [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2],
                [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 4],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 5],
            ],
        ),
        (
            clusters::Linkage::Weighted,
            vec![
                (9, 10, 0.0, S),
                (6, 8, 0.0, D),
                (7, 13, 0.19999999999999996, S),
                (0, 2, 0.19999999999999996, S),
                (3, 5, 0.19999999999999996, D),
                (1, 15, 0.3, D),
                (11, 12, 0.4, D),
                (4, 17, 0.55, D),
                (16, 19, 0.75, D),
                (14, 18, 0.8, D),
                (20, 21, 0.94375, D),
            ],
            [
                [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2],
                [0, 0, 0, 1, 0, 1, 2, 2, 2, 3, 3, 3],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 4],
                [0, 0, 0, 1, 2, 1, 3, 3, 3, 4, 4, 5],
            ],
        ),
    ];
    for (method, steps, cuts) in want {
        let d = clusters::linkage_with_secondary(&d1, &d2, method);
        assert!(d.order_ties.is_empty(), "{method}");
        assert_eq!(d.steps.len(), steps.len());
        for (s, (a, b, h, rule)) in d.steps.iter().zip(&steps) {
            assert_eq!((s.a, s.b, s.decided_by), (*a, *b, *rule), "{method}: {s:?}");
            assert_close(s.distance, *h, 1e-12, &format!("{method} height"));
        }
        for (k, want) in (2..=6).zip(cuts) {
            assert_eq!(clusters::cut(&d, k), want, "{method} k = {k}");
        }
    }
}

// tests/reference/clusters.py: "ari" lines (sklearn adjusted_rand_score).
#[test]
fn ari_matches_sklearn() {
    assert_close(
        clusters::adjusted_rand_index(&[0, 0, 1, 1, 2, 2], &[0, 0, 1, 2, 2, 2]),
        0.4444444444444444,
        1e-15,
        "ari",
    );
    assert_close(
        clusters::adjusted_rand_index(&[0, 1, 2, 0, 1, 2, 0, 1], &[1, 1, 0, 0, 2, 2, 1, 0]),
        -0.14285714285714285,
        1e-15,
        "ari",
    );
    assert_close(
        clusters::adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[3, 3, 3, 3, 3, 3]),
        0.0,
        1e-15,
        "ari",
    );
    assert_close(
        clusters::adjusted_rand_index(&[0, 1, 2, 3], &[0, 0, 1, 1]),
        0.0,
        1e-15,
        "ari",
    );
}

fn sim_runs(list: &[(&str, &[f64; 64])]) -> Vec<(String, SimilarityMatrix)> {
    list.iter()
        .map(|(n, s)| (n.to_string(), sim_matrix(8, &s[..], &T8)))
        .collect()
}

const T8: [&str; 8] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];

#[test]
fn cluster_runs_one_run_is_that_runs_clustering() {
    for method in clusters::Linkage::ALL {
        let p = clusters::ClusterParams::new(3, method).unwrap();
        let r = clusters::cluster_runs(&sim_runs(&[("only", &SIM1)]), &p).unwrap();
        let labels = &r.runs[0].labels;
        let rep = clusters::cut(&r.dendrogram, 3);
        assert_eq!(&rep, labels, "{method}");
        // the heights shown are the run's own (1 − cosine), not 0/1
        assert_eq!(r.dendrogram, r.runs[0].dendrogram, "{method}");
        assert_eq!(r.runs[0].ari, 1.0);
        assert!(
            r.cooccurrence
                .matrix
                .iter()
                .flatten()
                .all(|&v| v == 0.0 || v == 1.0)
        );
        // clusters are ordered by first member, members in task order
        let firsts: Vec<&String> = r.clusters.iter().map(|c| &c[0]).collect();
        let mut sorted = firsts.clone();
        sorted.sort_by_key(|t| t[1..].parse::<usize>().unwrap());
        assert_eq!(firsts, sorted);
    }
}

#[test]
fn cluster_runs_errors_name_the_problem() {
    let p = clusters::ClusterParams::new(9, clusters::Linkage::Average).unwrap();
    let err = clusters::cluster_runs(&sim_runs(&[("a", &SIM0)]), &p).unwrap_err();
    assert!(matches!(err, AnalysisError::Param { name: "k", .. }));
    assert!(
        err.to_string().contains('9') && err.to_string().contains("T = 8"),
        "{err}"
    );
    let p = clusters::ClusterParams::new(2, clusters::Linkage::Average).unwrap();
    assert!(clusters::cluster_runs(&[], &p).is_err());
    let mut runs = sim_runs(&[("a", &SIM0), ("b", &SIM1)]);
    runs[1].1.tasks[0] = "other".into();
    let err = clusters::cluster_runs(&runs, &p).unwrap_err();
    assert!(matches!(err, AnalysisError::TaskMismatch(_)), "{err}");
}

#[test]
fn cluster_runs_identical_tasks_and_one_task() {
    // all tasks identical: every distance 0, one merge height, one cluster
    let ones = sim_matrix(3, &[1.0; 9], &["x", "y", "z"]);
    let p = clusters::ClusterParams::new(2, clusters::Linkage::Ward).unwrap();
    let r = clusters::cluster_runs(&[("a".into(), ones)], &p).unwrap();
    assert_eq!(
        r.clusters,
        vec![vec!["x".to_string(), "y".into(), "z".into()]]
    );
    let one = sim_matrix(1, &[1.0], &["x"]);
    let p = clusters::ClusterParams::new(1, clusters::Linkage::Average).unwrap();
    let r = clusters::cluster_runs(&[("a".into(), one.clone()), ("b".into(), one)], &p).unwrap();
    assert_eq!(r.clusters, vec![vec!["x".to_string()]]);
    assert_eq!(r.cooccurrence.matrix, vec![vec![1.0]]);
}

#[test]
fn cluster_runs_align_by_task_name_and_serialize() {
    let order = [7usize, 2, 0, 5, 1, 6, 3, 4];
    let names: Vec<&str> = order.iter().map(|&i| T8[i]).collect();
    let flat: Vec<f64> = order
        .iter()
        .flat_map(|&i| order.iter().map(move |&j| SIM1[i * 8 + j]))
        .collect();
    let p = clusters::ClusterParams::new(3, clusters::Linkage::Complete).unwrap();
    let straight = clusters::cluster_runs(&sim_runs(&[("a", &SIM0), ("b", &SIM1)]), &p).unwrap();
    let mut runs = sim_runs(&[("a", &SIM0)]);
    runs.push(("b".into(), sim_matrix(8, &flat, &names)));
    let shuffled = clusters::cluster_runs(&runs, &p).unwrap();
    assert_eq!(straight.clusters, shuffled.clusters);
    assert_eq!(straight.cooccurrence, shuffled.cooccurrence);
    let v: serde_json::Value = serde_json::to_value(&straight).unwrap();
    assert_eq!(v["linkage"], "complete");
    assert_eq!(v["k"], 3);
    assert!(v["dendrogram"]["steps"][0]["distance"].is_number());
    assert_eq!(v["runs"][1]["run"], "b");
}

// tests/reference/filter_groups.py: 4 tasks x 40 filters (layers 0..15,
// 15..40), sklearn KMeans(4, n_init=10, random_state=0) on live profiles.
const FG_DATA: [f64; 160] = [
    0.0469, 0.068, 0.7709, 0.0421, 0.9034, 0.0611, 0.7764, 0.9179, 0.8928, 0.0398, 0.0628, 0.8988,
    0.7701, 0.0385, 0.0365, 0.0715, 0.0355, 0.8219, 0.0202, 0.9234, 0.8215, 0.0556, 0.0339, 0.8828,
    0.0561, 0.0283, 0.8925, 0.0246, 0.0307, 0.8726, 0.0212, 0.9138, 0.8069, 0.7815, 0.8876, 0.021,
    0.0614, 0.0607, 0.8865, 0.064, 0.8179, 0.8004, 0.826, 0.0771, 0.0344, 0.0478, 0.8115, 0.0316,
    0.0628, 0.0445, 0.8209, 0.0775, 0.7952, 0.0365, 0.0331, 0.8197, 0.0495, 0.7867, 0.7817, 0.0488,
    0.7902, 0.0642, 0.0301, 0.0322, 0.8232, 0.0436, 0.0624, 0.0474, 0.0363, 0.0518, 0.8034, 0.0515,
    0.7849, 0.8294, 0.0466, 0.0348, 0.785, 0.0501, 0.0493, 0.7851, 0.0341, 0.0504, 0.7751, 0.894,
    0.0645, 0.8833, 0.8081, 0.0434, 0.0568, 0.0262, 0.0441, 0.039, 0.8079, 0.0298, 0.0181, 0.0284,
    0.9032, 0.7968, 0.0405, 0.0473, 0.8176, 0.9001, 0.0108, 0.0229, 0.041, 0.0257, 0.0405, 0.0201,
    0.0199, 0.0486, 0.0494, 0.0538, 0.8032, 0.8148, 0.0357, 0.9217, 0.0239, 0.9029, 0.0753, 0.0316,
    0.7892, 0.7842, 0.8207, 0.0762, 0.0605, 0.0585, 0.7926, 0.0679, 0.0765, 0.0531, 0.8032, 0.0441,
    0.8261, 0.0538, 0.0515, 0.8016, 0.0264, 0.7734, 0.8257, 0.06, 0.7939, 0.0614, 0.053, 0.033,
    0.792, 0.0688, 0.0694, 0.0645, 0.051, 0.07, 0.8059, 0.0495, 0.8103, 0.8273, 0.0228, 0.0298,
    0.7815, 0.0472, 0.0321, 0.7894,
];

fn fg_im() -> ImportanceMatrix {
    let layers = vec![
        LayerSpan {
            name: "l0".into(),
            start: 0,
            len: 15,
        },
        LayerSpan {
            name: "l1".into(),
            start: 15,
            len: 25,
        },
    ];
    ImportanceMatrix::new(names(4), layers, DMatrix::from_row_slice(4, 40, &FG_DATA)).unwrap()
}

// tests/reference/filter_groups.py: sk_labels, "inertia", "group size" lines.
#[test]
fn filter_groups_match_sklearn_kmeans() {
    let sk_labels: Vec<usize> = vec![
        2, 2, 3, 0, 1, 0, 3, 1, 1, 2, 1, 3, 2, 0, 3, 2, 1, 3, 0, 1, 2, 1, 1, 2, 1, 3, 3, 1, 0, 2,
        0, 1, 2,
    ];
    let want: [(usize, [f64; 4]); 4] = [
        (
            11,
            [
                0.8565585351231597,
                0.04745608046364616,
                0.04555476589541904,
                0.050430618517775194,
            ],
        ),
        (
            9,
            [
                0.030946400785282935,
                0.4753247508628804,
                0.022532433147864933,
                0.4711964152039718,
            ],
        ),
        (
            7,
            [
                0.24729501858005434,
                0.25060767315463583,
                0.2505876728814647,
                0.2515096353838451,
            ],
        ),
        (
            6,
            [
                0.04354482710482582,
                0.05103315261834282,
                0.8583383371904866,
                0.047083683086344835,
            ],
        ),
    ];
    let p =
        filter_groups::FilterGroupParams::new(4, 0, filter_groups::DEFAULT_DEAD_THRESHOLD).unwrap();
    let r = filter_groups::filter_groups(&fg_im(), &p).unwrap();
    assert_eq!(r.dead, 7);
    assert_eq!(
        r.dead_per_layer,
        vec![("l0".to_string(), 3), ("l1".to_string(), 4)]
    );
    let live: Vec<usize> = r.assignments.iter().flatten().copied().collect();
    assert_eq!(live.len(), 33);
    assert_eq!(clusters::adjusted_rand_index(&live, &sk_labels), 1.0);
    assert_close(r.inertia, 0.025716962234887043, 1e-12, "inertia");
    assert_eq!(r.groups.len(), 4);
    for (g, (size, centroid)) in r.groups.iter().zip(want) {
        assert_eq!(g.size, size);
        for (a, b) in g.centroid.iter().zip(centroid) {
            assert_close(*a, b, 1e-12, "centroid");
        }
        assert_eq!(g.per_layer.iter().map(|(_, n)| n).sum::<usize>(), size);
    }
    use filter_groups::GroupKind::*;
    let kinds: Vec<_> = r.groups.iter().map(|g| g.kind).collect();
    assert_eq!(kinds, vec![TaskSpecific, Mixed, Generic, TaskSpecific]);
    assert_eq!(r.groups[0].dominant_tasks[0].0, "t0");
    let mixed: Vec<&str> = r.groups[1]
        .dominant_tasks
        .iter()
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(mixed, vec!["t1", "t3"]);
}

#[test]
fn filter_groups_are_deterministic_and_independent_of_filter_order() {
    let p = filter_groups::FilterGroupParams::new(4, 7, 0.1).unwrap();
    let a = filter_groups::filter_groups(&fg_im(), &p).unwrap();
    let b = filter_groups::filter_groups(&fg_im(), &p).unwrap();
    assert_eq!(a, b);
    let m = DMatrix::from_row_slice(4, 40, &FG_DATA);
    let rev = DMatrix::from_fn(4, 40, |r, c| m[(r, 39 - c)]);
    let rev_im = ImportanceMatrix::single_layer(names(4), "l", rev).unwrap();
    let c = filter_groups::filter_groups(&rev_im, &p).unwrap();
    let fwd: Vec<Option<usize>> = a.assignments.clone();
    let back: Vec<Option<usize>> = c.assignments.iter().rev().copied().collect();
    assert_eq!(fwd, back);
    let v: serde_json::Value = serde_json::to_value(&a).unwrap();
    assert_eq!(v["groups"][0]["kind"], "task_specific");
    assert_eq!(v["groups"][2]["kind"], "generic");
}

#[test]
fn filter_groups_errors_and_degenerate_inputs() {
    // k above the live filters
    let p = filter_groups::FilterGroupParams::new(34, 0, 0.1).unwrap();
    let e = filter_groups::filter_groups(&fg_im(), &p).unwrap_err();
    assert!(e.to_string().contains("33 live filters"), "{e}");
    // identical profiles: one distinct point cannot make two groups
    let same = im(2, 5, &[0.5; 10]);
    let p2 = filter_groups::FilterGroupParams::new(2, 0, 0.1).unwrap();
    let e = filter_groups::filter_groups(&same, &p2).unwrap_err();
    assert!(e.to_string().contains("1 distinct"), "{e}");
    let p1 = filter_groups::FilterGroupParams::new(1, 0, 0.1).unwrap();
    let r = filter_groups::filter_groups(&same, &p1).unwrap();
    assert_eq!((r.groups.len(), r.groups[0].size, r.dead), (1, 5, 0));
    assert_eq!(r.groups[0].kind, filter_groups::GroupKind::Generic);
    assert_eq!(r.inertia, 0.0);
    // all dead / zero columns
    let zero = im(2, 3, &[0.0; 6]);
    assert!(filter_groups::filter_groups(&zero, &p1).is_err());
    // one task
    let one = im(1, 3, &[0.2, 0.9, 0.5]);
    let r = filter_groups::filter_groups(&one, &p1).unwrap();
    assert_eq!(r.groups[0].kind, filter_groups::GroupKind::TaskSpecific);
    assert_eq!(r.groups[0].centroid, vec![1.0]);
}

// tests/reference/capacity.py, case "near_identical": tasks differing by
// ~1% around 0.5. The independent parts are small and must still be exact
// (nalgebra 0.35's SVD gets them wrong in the 4th digit; see capacity.rs).
#[test]
fn capacity_near_identical_tasks_matches_numpy() {
    let data = [
        0.48841955178011554,
        0.5036478505244751,
        0.5008507509367612,
        0.49447860259464466,
        0.49591781674519037,
        0.5014826361502017,
        0.49083290503350196,
        0.49506523928535573,
        0.5042870179278989,
        0.49489223871335697,
        0.4901216066885169,
        0.513269666266782,
        0.5083965332018823,
        0.48926344204410943,
        0.4968309694518012,
        0.4957968801662645,
        0.5113753758450899,
        0.48850297051220737,
        0.48846088963809053,
        0.5093314316076192,
    ];
    let expected = [
        (
            0.4966629145162374,
            0.49665882248366416,
            0.002016111332117728,
        ),
        (0.4973120074220631, 0.49728040312386296, 0.0056065493069068),
        (
            0.49957644353061836,
            0.49956717158120173,
            0.003043683468975247,
        ),
        (
            0.49869350955385433,
            0.49860087165104766,
            0.009611829168062058,
        ),
    ];
    let r = capacity::capacity(&im(4, 5, &data));
    assert_eq!(r.rank, 4);
    for (c, &(cap, shared, indep)) in r.tasks.iter().zip(&expected) {
        assert_close(c.capacity, cap, 1e-12, "capacity");
        assert_close(c.shared, shared, 1e-12, "shared");
        assert_close(c.independent, indep, 1e-11, "independent");
    }
}

#[test]
fn json_shapes_of_stability_and_gate_reports() {
    let r = stability::stability(
        &stab_runs(),
        &stability::StabilityParams::new(120, 0).unwrap(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    for key in [
        "runs",
        "pairs",
        "mean",
        "min",
        "max",
        "permutations",
        "matrix",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["pairs"][0]["a"], "A");
    assert!(v["pairs"][0]["p_value"].is_number());
    let g = gate_stats::gate_distribution(&im7(), &gate_stats::GateStatsParams::new(5).unwrap());
    let v: serde_json::Value = serde_json::to_value(&g).unwrap();
    assert_eq!(v["overall"]["label"], "all");
    assert_eq!(v["per_task"][0]["histogram"]["counts"][4], 3);
    assert!(v["per_task"][3]["q95"].is_number());
}
