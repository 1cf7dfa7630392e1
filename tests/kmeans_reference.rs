//! k-means against scikit-learn: from the same initial centres, the Lloyd
//! iterations of `mtl_inspect::analysis::kmeans` give scikit-learn's
//! labels, inertia and iteration count on the filter profiles of a
//! CelebA-shaped fixture. The numbers are `tests/reference/kmeans_lloyd.json`,
//! printed by `tests/reference/kmeans_lloyd.py` (no Python at test time).

mod common;

use common::{fixture, importance};
use mtl_inspect::analysis::filter_groups::{FilterGroupParams, filter_groups};
use mtl_inspect::analysis::kmeans::{LloydParams, Points, lloyd};
use mtl_inspect::checkpoint::discover::DiscoverParams;
use mtl_inspect::importance::from_gates::ImportanceParams;
use serde_json::Value;

/// The filter-groups input: live filters' importances divided by their
/// column sums, one profile after another.
fn profiles(dead_threshold: f64) -> (usize, Vec<f64>) {
    let im = importance(
        &fixture("celeba40/run0.safetensors"),
        &DiscoverParams::default(),
        &ImportanceParams::default(),
    )
    .unwrap();
    let t = im.n_tasks();
    let mut out = Vec::new();
    for col in im.data().as_slice().chunks(t) {
        let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = col.iter().sum();
        if max >= dead_threshold && sum > 0.0 {
            out.extend(col.iter().map(|v| v / sum));
        }
    }
    (t, out)
}

#[test]
fn lloyd_from_given_centres_is_scikit_learns() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/reference/kmeans_lloyd.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let (t, data) = profiles(0.1);
    let points = Points::new(t, &data);
    assert_eq!(
        points.len() as u64,
        reference["live_filters"].as_u64().unwrap()
    );
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let k = case["k"].as_u64().unwrap() as usize;
        let tol = case["tol"].as_f64().unwrap();
        let init: Vec<f64> = case["init"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| points.point(i.as_u64().unwrap() as usize).to_vec())
            .collect();
        let fit = lloyd(&points, &init, &LloydParams { max_iter: 300, tol });
        let want: Vec<usize> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap() as usize)
            .collect();
        let differ = fit.labels.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "k = {k}, tol = {tol}: {differ} labels differ");
        let inertia = case["inertia"].as_f64().unwrap();
        assert!(
            (fit.inertia - inertia).abs() <= 1e-10 * inertia,
            "k = {k}, tol = {tol}: inertia {} vs {inertia}",
            fit.inertia
        );
        assert_eq!(
            fit.iterations as u64,
            case["n_iter"].as_u64().unwrap(),
            "k = {k}, tol = {tol}: iterations"
        );
    }
}

#[test]
fn filter_groups_are_a_fixed_point_of_lloyd() {
    // Every live filter is nearest its own group's centroid, and each
    // centroid is its members' mean: what Lloyd run to convergence gives.
    let im = importance(
        &fixture("celeba40/run0.safetensors"),
        &DiscoverParams::default(),
        &ImportanceParams::default(),
    )
    .unwrap();
    let t = im.n_tasks();
    let r = filter_groups(&im, &FilterGroupParams::new(8, 3, 0.1).unwrap()).unwrap();
    let (_, data) = profiles(0.1);
    let live: Vec<usize> = (0..im.n_filters())
        .filter(|&c| r.assignments[c].is_some())
        .collect();
    assert_eq!(live.len() * t, data.len());
    let mut inertia = 0.0;
    for (i, &c) in live.iter().enumerate() {
        let x = &data[i * t..(i + 1) * t];
        let d = |g: &Vec<f64>| x.iter().zip(g).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
        let own = d(&r.groups[r.assignments[c].unwrap()].centroid);
        inertia += own;
        for g in &r.groups {
            assert!(
                own <= d(&g.centroid) + 1e-12,
                "filter {c} is nearer another group"
            );
        }
    }
    assert!((inertia - r.inertia).abs() <= 1e-9 * r.inertia);
    // Same seed, same groups; the report is deterministic.
    let again = filter_groups(&im, &FilterGroupParams::new(8, 3, 0.1).unwrap()).unwrap();
    assert_eq!(r, again);
}
