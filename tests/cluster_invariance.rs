//! The clusters do not depend on the order of the tasks or the runs or on
//! task names (docs/METHODS.md, "Choices the paper leaves open": ties). Runs that
//! disagree give a co-occurrence full of exact ties (multiples of 1/R);
//! scipy and kodama break them by input order, so relabelling tasks changed
//! the representative partition. These tests relabel, rename and reorder,
//! and require one partition for every linkage.

mod report_data;

use std::collections::BTreeSet;

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::analysis::clusters::{self, ClusterParams, ClusterReport, Linkage};
use mtl_inspect::analysis::similarity::{SimilarityMatrix, cosine_similarity};
use nalgebra::DMatrix;
use report_data::Rng;

/// A partition as a set of sets of task names.
fn partition(r: &ClusterReport) -> BTreeSet<BTreeSet<String>> {
    r.clusters
        .iter()
        .map(|c| c.iter().cloned().collect())
        .collect()
}

/// A random permutation of 0..n (Fisher–Yates on the seeded test RNG).
fn permutation(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// `runs` with tasks in the order `perm` (new position i holds old task
/// perm[i]), every task renamed by `rename`, and the runs in `run_order`.
fn relabel(
    runs: &[(String, SimilarityMatrix)],
    perm: &[usize],
    rename: &dyn Fn(&str) -> String,
    run_order: &[usize],
) -> Vec<(String, SimilarityMatrix)> {
    run_order
        .iter()
        .map(|&r| {
            let (name, s) = &runs[r];
            let tasks = perm.iter().map(|&i| rename(&s.tasks[i])).collect();
            let matrix = perm
                .iter()
                .map(|&i| perm.iter().map(|&j| s.matrix[i][j]).collect())
                .collect();
            (
                name.clone(),
                SimilarityMatrix {
                    tasks,
                    matrix,
                    zero_norm_tasks: vec![],
                },
            )
        })
        .collect()
}

/// Relabels `runs` `trials` times (task order, task names, run order) and
/// requires the representative partition (mapped back to the original
/// names) to be the one of the original order, for every linkage.
fn assert_invariant(runs: &[(String, SimilarityMatrix)], k: usize, seed: u64, trials: usize) {
    let mut rng = Rng(seed);
    let t = runs[0].1.n_tasks();
    for method in Linkage::ALL {
        let p = ClusterParams::new(k, method).unwrap();
        let base = clusters::cluster_runs(runs, &p).unwrap();
        assert!(base.ties.is_empty(), "{method}: {:?}", base.ties);
        let want = partition(&base);
        for trial in 0..trials {
            let perm = permutation(&mut rng, t);
            let run_order = permutation(&mut rng, runs.len());
            let salt = rng.next_u64() % 1000;
            // names whose sorted order is unrelated to the original
            let rename = |s: &str| format!("{:03}:{s}", (s.len() as u64 * 7919 + salt) % 997);
            let back = |s: &str| {
                s.split_once(':')
                    .map_or(s.to_string(), |(_, n)| n.to_string())
            };
            let got =
                clusters::cluster_runs(&relabel(runs, &perm, &rename, &run_order), &p).unwrap();
            assert!(
                got.ties.is_empty(),
                "{method}, trial {trial}: {:?}",
                got.ties
            );
            let got: BTreeSet<BTreeSet<String>> = got
                .clusters
                .iter()
                .map(|c| c.iter().map(|n| back(n)).collect())
                .collect();
            assert_eq!(
                got, want,
                "{method}: relabelling {trial} changed the partition"
            );
        }
    }
}

/// The representative clustering itself, 200 times: the co-occurrence and
/// the mean similarity of `runs` with the tasks permuted must give the
/// permuted partition of the original order, for every linkage. Returns,
/// per linkage, in how many of the same permutations kodama's partition
/// (ties broken by input order, as scipy does) changed: the proof that the
/// data are tie-sensitive and the test could fail.
fn assert_linkage_invariant(
    runs: &[(String, SimilarityMatrix)],
    k: usize,
    seed: u64,
) -> Vec<usize> {
    let r =
        clusters::cluster_runs(runs, &ClusterParams::new(k, Linkage::Average).unwrap()).unwrap();
    let co = &r.cooccurrence.matrix;
    let t = co.len();
    let mean = |i: usize, j: usize| {
        runs.iter().map(|(_, s)| s.matrix[i][j]).sum::<f64>() / runs.len() as f64
    };
    let dist = |perm: &[usize], f: &dyn Fn(usize, usize) -> f64| {
        DMatrix::from_fn(t, t, |i, j| {
            if i == j {
                0.0
            } else {
                1.0 - f(perm[i], perm[j])
            }
        })
    };
    let groups = |labels: &[usize], perm: &[usize]| -> BTreeSet<BTreeSet<usize>> {
        let mut g: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); t];
        for (i, &l) in labels.iter().enumerate() {
            g[l].insert(perm[i]);
        }
        g.into_iter().filter(|s| !s.is_empty()).collect()
    };
    let mut rng = Rng(seed);
    let id: Vec<usize> = (0..t).collect();
    let mut scipy_like_changes = Vec::new();
    for method in Linkage::ALL {
        let d = clusters::linkage_with_secondary(
            &dist(&id, &|i, j| co[i][j]),
            &dist(&id, &mean),
            method,
        );
        let want = groups(&clusters::cut(&d, k), &id);
        let kodama_base = kodama_partition(co, &id, method, k);
        let mut changed = 0;
        for trial in 0..200 {
            let perm = permutation(&mut rng, t);
            let d = clusters::linkage_with_secondary(
                &dist(&perm, &|i, j| co[i][j]),
                &dist(&perm, &mean),
                method,
            );
            assert_eq!(
                groups(&clusters::cut(&d, k), &perm),
                want,
                "{method}: permutation {trial} changed the partition"
            );
            changed += usize::from(kodama_partition(co, &perm, method, k) != kodama_base);
        }
        scipy_like_changes.push(changed);
    }
    scipy_like_changes
}

/// Seven runs of 40 tasks in 10 planted groups, each run moving a quarter
/// of the tasks to other groups: every run's clusters are clear (within
/// 0.8–0.9, between 0.3–0.4), but they disagree, so the co-occurrence takes
/// the values 0, 1/7, …, 1 with many ties.
fn disagreeing_runs(seed: u64) -> Vec<(String, SimilarityMatrix)> {
    let mut rng = Rng(seed);
    let t = 40;
    let base: Vec<u64> = (0..t).map(|i| (i % 10) as u64).collect();
    (0..7)
        .map(|r| {
            let labels: Vec<u64> = base
                .iter()
                .map(|&l| {
                    if rng.f() < 0.25 {
                        rng.next_u64() % 10
                    } else {
                        l
                    }
                })
                .collect();
            let mut m = vec![vec![1.0; t]; t];
            for i in 0..t {
                for j in i + 1..t {
                    let v = if labels[i] == labels[j] { 0.8 } else { 0.3 } + 0.1 * rng.f();
                    m[i][j] = v;
                    m[j][i] = v;
                }
            }
            (
                format!("run{r}"),
                SimilarityMatrix {
                    tasks: report_data::celeba(),
                    matrix: m,
                    zero_norm_tasks: vec![],
                },
            )
        })
        .collect()
}

#[test]
fn tie_heavy_co_occurrence_gives_one_partition_for_every_relabelling() {
    for seed in [4, 9] {
        let runs = disagreeing_runs(seed);
        let r = clusters::cluster_runs(&runs, &ClusterParams::new(10, Linkage::Average).unwrap())
            .unwrap();
        let fractional = r
            .cooccurrence
            .matrix
            .iter()
            .flatten()
            .filter(|&&v| v > 0.0 && v < 1.0)
            .count();
        assert!(
            fractional > 100,
            "runs should disagree ({fractional} fractional entries)"
        );
        // the secondary key did decide merges the co-occurrence tied
        assert!(
            r.dendrogram
                .steps
                .iter()
                .any(|s| s.decided_by == clusters::MergeRule::Secondary)
        );
        let kodama = assert_linkage_invariant(&runs, 10, seed);
        // average, complete and weighted: input-order tie-breaking changes
        // the partition for some relabellings of these runs (single
        // linkage's partitions never depend on tie order)
        assert!(
            kodama[0] > 0 && kodama[1] > 0 && kodama[4] > 0,
            "seed {seed}: kodama changed its partition in {kodama:?} of 200 relabellings per linkage"
        );
        assert_invariant(&runs, 10, seed, 20);
    }
}

/// The committed CelebA-shaped runs, perturbed so that they disagree: run r
/// swaps the gates of six pairs of tasks in different planted groups, as a
/// run that learned other relations would.
fn perturbed_celeba() -> Vec<(String, ImportanceMatrix)> {
    (0..7)
        .map(|r| {
            let run = report_data::load(&format!("celeba40/run{r}.safetensors"));
            let im = &run.importance;
            let mut data = im.data().clone();
            for s in 0..6 {
                let (a, b) = ((5 * r + 11 * s) % 40, (5 * r + 11 * s + 17) % 40);
                data.swap_rows(a, b);
            }
            let m = ImportanceMatrix::single_layer(im.tasks().to_vec(), "all", data).unwrap();
            (run.name, m)
        })
        .collect()
}

#[test]
fn perturbed_fixture_runs_disagree_and_cluster_alike_in_every_order() {
    let runs: Vec<(String, SimilarityMatrix)> = perturbed_celeba()
        .iter()
        .map(|(n, im)| (n.clone(), cosine_similarity(im)))
        .collect();
    let r =
        clusters::cluster_runs(&runs, &ClusterParams::new(10, Linkage::Average).unwrap()).unwrap();
    assert!(
        r.cooccurrence
            .matrix
            .iter()
            .flatten()
            .any(|&v| v > 0.0 && v < 1.0),
        "the perturbed runs should disagree"
    );
    assert!(r.runs.iter().any(|rc| rc.ari < 1.0));
    let kodama = assert_linkage_invariant(&runs, 10, 7);
    assert!(
        kodama.iter().filter(|&&c| c > 0).count() >= 4,
        "kodama changed its partition in {kodama:?} of 200 relabellings per linkage"
    );
    assert_invariant(&runs, 10, 7, 20);
}

#[test]
fn similarity_of_relabelled_tasks_is_the_relabelled_similarity_bit_for_bit() {
    // The representative clusters can only be order-invariant if the
    // similarity matrices they start from are: reordering the importance
    // rows (as --tasks or ModuleDict key order does) must permute the
    // cosine matrix exactly.
    let run = report_data::load("celeba40/run0.safetensors");
    let im = &run.importance;
    let s = cosine_similarity(im);
    let perm = permutation(&mut Rng(3), im.n_tasks());
    let data = DMatrix::from_fn(im.n_tasks(), im.n_filters(), |i, f| im.data()[(perm[i], f)]);
    let names = perm.iter().map(|&i| im.tasks()[i].clone()).collect();
    let p = cosine_similarity(&ImportanceMatrix::single_layer(names, "all", data).unwrap());
    for (i, &pi) in perm.iter().enumerate() {
        for (j, &pj) in perm.iter().enumerate() {
            assert_eq!(
                p.matrix[i][j].to_bits(),
                s.matrix[pi][pj].to_bits(),
                "({i},{j})"
            );
        }
    }
}

fn one_run(names: &[&str], m: Vec<Vec<f64>>) -> Vec<(String, SimilarityMatrix)> {
    vec![(
        "only".into(),
        SimilarityMatrix {
            tasks: names.iter().map(|s| s.to_string()).collect(),
            matrix: m,
            zero_norm_tasks: vec![],
        },
    )]
}

#[test]
fn a_tie_no_data_can_break_is_reported_with_its_candidates() {
    // b is as close to a as to c, and a and c are interchangeable: merging
    // {a, b} or {b, c} first is a coin toss no data can make, and k = 2
    // keeps the choice. The result is reported as order-dependent.
    let m = vec![
        vec![1.0, 0.8, 0.4],
        vec![0.8, 1.0, 0.8],
        vec![0.4, 0.8, 1.0],
    ];
    let p = ClusterParams::new(2, Linkage::Average).unwrap();
    let r = clusters::cluster_runs(&one_run(&["a", "b", "c"], m.clone()), &p).unwrap();
    assert_eq!(r.ties.len(), 1, "{:?}", r.ties);
    let tie = &r.ties[0];
    assert_eq!(tie.run.as_deref(), Some("only"));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        tie.candidates,
        vec![[s(&["a"]), s(&["b"])], [s(&["b"]), s(&["c"])]]
    );
    assert!((tie.height - 0.2).abs() < 1e-12);
    // and it is honest: the reversed order does give the other clusters
    let rev = clusters::cluster_runs(
        &one_run(
            &["c", "b", "a"],
            vec![
                m[2].iter().rev().copied().collect(),
                m[1].iter().rev().copied().collect(),
                m[0].iter().rev().copied().collect(),
            ],
        ),
        &p,
    )
    .unwrap();
    assert_ne!(partition(&r), partition(&rev));
    assert_eq!(rev.ties.len(), 1);

    // four interchangeable tasks: every merge is a tie, but k = 2 cannot be
    // met without splitting them arbitrarily, so they merge together (as
    // scipy's fcluster does) and no order-dependent result is reported
    let eq = vec![vec![0.5; 4]; 4];
    let r = clusters::cluster_runs(
        &one_run(&["w", "x", "y", "z"], eq),
        &ClusterParams::new(2, Linkage::Ward).unwrap(),
    )
    .unwrap();
    assert_eq!(r.clusters.len(), 1);
    assert_eq!(r.cut.clusters, 1);
    assert!(r.ties.is_empty());
    assert!(!r.runs[0].dendrogram.order_ties.is_empty());
}

/// Partition of `1 − co` (tasks permuted by `perm`) by kodama, which breaks
/// ties by input order as scipy does, cut like scipy's fcluster maxclust;
/// members mapped back to the original task indices.
fn kodama_partition(
    co: &[Vec<f64>],
    perm: &[usize],
    method: Linkage,
    k: usize,
) -> BTreeSet<BTreeSet<usize>> {
    let t = co.len();
    let mut condensed = Vec::new();
    for i in 0..t {
        for j in i + 1..t {
            condensed.push(1.0 - co[perm[i]][perm[j]]);
        }
    }
    let m = match method {
        Linkage::Average => kodama::Method::Average,
        Linkage::Complete => kodama::Method::Complete,
        Linkage::Single => kodama::Method::Single,
        Linkage::Ward => kodama::Method::Ward,
        Linkage::Weighted => kodama::Method::Weighted,
    };
    let d = kodama::linkage(&mut condensed, t, m);
    let steps: Vec<clusters::MergeStep> = d
        .steps()
        .iter()
        .map(|s| clusters::MergeStep {
            a: s.cluster1.min(s.cluster2),
            b: s.cluster1.max(s.cluster2),
            distance: s.dissimilarity,
            size: s.size,
            secondary: None,
            decided_by: clusters::MergeRule::Distance,
        })
        .collect();
    let dend = clusters::Dendrogram {
        steps,
        leaves: (0..t).collect(),
        order_ties: vec![],
    };
    let labels = clusters::cut(&dend, k);
    let mut g: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); t];
    for (i, &l) in labels.iter().enumerate() {
        g[l].insert(perm[i]);
    }
    g.into_iter().filter(|s| !s.is_empty()).collect()
}
