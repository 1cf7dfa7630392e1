//! The sweep analysis (analysis::sweep) and the gradient-cosine
//! distributions (analysis::gradient_conflict) against numpy, on the
//! committed sweep fixtures and diagnose files. The values come from
//! `tests/reference/sweep.py` (numpy lstsq projection for eq. 4–5, numpy
//! linear quantiles); its output is pasted below.

use std::path::{Path, PathBuf};

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::analysis::gate_stats::GateStatsParams;
use mtl_inspect::analysis::gradient_conflict::conflict_distributions;
use mtl_inspect::analysis::sweep::{SweepRunInput, sweep};
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DiscoverParams, discover_gates};
use mtl_inspect::diagnostics::{RunMeta, read_diagnostics};
use mtl_inspect::importance::from_gates::ImportanceParams;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_dir(dir: &str) -> Vec<(String, RunMeta, ImportanceMatrix)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    // Any order: the analysis sorts by the swept value.
    paths.sort();
    paths.reverse();
    paths
        .iter()
        .map(|p| {
            let c = Checkpoint::open(p).unwrap();
            let g = discover_gates(&c, &DiscoverParams::default()).unwrap();
            let (im, _) = g.importance(&ImportanceParams::default()).unwrap();
            let meta = RunMeta::from_metadata(p, &g.metadata).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, meta, im)
        })
        .collect()
}

fn inputs(runs: &[(String, RunMeta, ImportanceMatrix)]) -> Vec<SweepRunInput<'_>> {
    runs.iter()
        .map(|(name, meta, importance)| SweepRunInput {
            name,
            meta,
            importance,
        })
        .collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: {got} vs numpy {want}");
}

#[test]
fn noise_sweep_capacity_of_the_noisy_task_matches_numpy() {
    // (ξ, capacity, shared, independent, nearest task, cosine, test_mean_f1)
    let want = [
        (
            0.0,
            0.556261453258,
            0.547595077968,
            0.097808153887,
            "topleft_large",
            0.975852864631,
            0.908262,
        ),
        (
            0.5,
            0.572800855610,
            0.560458044070,
            0.118269188822,
            "topleft_large",
            0.972194522239,
            0.904825,
        ),
        (
            1.0,
            0.569473707233,
            0.557607387015,
            0.115647331036,
            "topleft_large",
            0.973000994995,
            0.908952,
        ),
        (
            2.0,
            0.563089635228,
            0.544330645681,
            0.144132180565,
            "topleft_large",
            0.960985713577,
            0.909806,
        ),
        (
            3.0,
            0.570062232679,
            0.548183661049,
            0.156414906216,
            "topleft_large",
            0.954256957665,
            0.907632,
        ),
    ];
    let runs = load_dir("fixtures/sweeps/noise");
    let r = sweep(&inputs(&runs), &GateStatsParams::new(40).unwrap()).unwrap();
    assert_eq!(r.parameter, "noise");
    assert_eq!(r.noisy_task.as_deref(), Some("topleft_size"));
    assert_eq!(r.points.len(), want.len());
    for (p, w) in r.points.iter().zip(want) {
        assert_eq!(p.value, w.0);
        assert_eq!(p.runs.len(), 1);
        let run = &r.runs[p.runs[0]];
        let n = run.noisy.as_ref().unwrap();
        let what = format!("ξ = {}", w.0);
        close(n.capacity.capacity, w.1, 1e-9, &format!("{what} capacity"));
        close(n.capacity.shared, w.2, 1e-9, &format!("{what} shared"));
        close(
            n.capacity.independent,
            w.3,
            1e-9,
            &format!("{what} independent"),
        );
        assert_eq!(n.nearest_task, w.4);
        close(n.nearest_similarity, w.5, 1e-9, &format!("{what} cosine"));
        close(p.test_mean_f1.unwrap(), w.6, 0.0, &format!("{what} F1"));
        // Invariant: C² = shared² + independent².
        close(
            n.capacity.shared.hypot(n.capacity.independent),
            n.capacity.capacity,
            1e-12,
            "C² = shared² + independent²",
        );
        assert_eq!(p.noisy_independent, Some(n.capacity.independent));
    }
    // Rises overall, but ξ = 0.5 → 1 falls (as fixtures/README says).
    let t = r.independent_trend.as_ref().unwrap();
    assert_eq!((t.steps, t.rising, t.falling), (4, 3, 1));
    assert!(!t.monotone_rising());
}

#[test]
fn alpha_sweep_gate_distributions_and_f1_match_numpy() {
    // (α, q05, q25, median, q75, q95, below_0_1, above_0_9, mean, std, test_mean_f1)
    let want = [
        (
            1.0,
            0.468798972232,
            0.490066005919,
            0.508322309832,
            0.530717955316,
            0.541191700203,
            0.0,
            0.0,
            0.508752472554,
            0.023890314910,
            0.767648,
        ),
        (
            10.0,
            0.233817076833,
            0.402338134300,
            0.554608187017,
            0.735335117430,
            0.798348513216,
            0.0,
            0.0,
            0.554732495493,
            0.187102761381,
            0.871234,
        ),
        (
            100.0,
            0.021231211817,
            0.177392530195,
            0.577745146140,
            0.984632900890,
            0.993808341339,
            0.164062500000,
            0.380580357143,
            0.568326041915,
            0.384134478707,
            0.908991,
        ),
        (
            1000.0,
            0.000033865934,
            0.000924548969,
            0.999592621282,
            0.999895372358,
            0.999988630988,
            0.320312500000,
            0.665178571429,
            0.672419338868,
            0.465177540335,
            0.889630,
        ),
    ];
    let runs = load_dir("fixtures/sweeps/alpha");
    let r = sweep(&inputs(&runs), &GateStatsParams::new(40).unwrap()).unwrap();
    assert_eq!(r.parameter, "alpha");
    assert_eq!(r.noisy_task, None);
    assert!(r.runs.iter().all(|x| x.noisy.is_none()));
    assert_eq!(r.points.len(), 4);
    for (p, w) in r.points.iter().zip(want) {
        assert_eq!(p.value, w.0);
        let g = &p.gates;
        let what = format!("α = {}", w.0);
        assert_eq!(g.n, 16 * 56, "{what}");
        for (got, want, name) in [
            (g.q05, w.1, "q05"),
            (g.q25, w.2, "q25"),
            (g.median, w.3, "median"),
            (g.q75, w.4, "q75"),
            (g.q95, w.5, "q95"),
            (g.below_0_1, w.6, "below 0.1"),
            (g.above_0_9, w.7, "above 0.9"),
            (g.mean, w.8, "mean"),
            (g.std, w.9, "std"),
        ] {
            close(got, want, 1e-9, &format!("{what} {name}"));
        }
        close(p.test_mean_f1.unwrap(), w.10, 0.0, &format!("{what} F1"));
        assert_eq!(g.histogram.counts.iter().sum::<usize>(), g.n);
    }
    assert_eq!(r.best_f1_value, Some(100.0));
}

#[test]
fn runs_of_different_sweeps_or_without_one_are_refused() {
    let mut noise = load_dir("fixtures/sweeps/noise");
    let alpha = load_dir("fixtures/sweeps/alpha");
    let mixed = [&noise[0], &alpha[0]];
    let inp: Vec<SweepRunInput> = mixed
        .iter()
        .map(|(n, m, i)| SweepRunInput {
            name: n,
            meta: m,
            importance: i,
        })
        .collect();
    let e = sweep(&inp, &GateStatsParams::new(10).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("sweeps 'alpha'") && e.contains("--sweep"), "{e}");
    noise[0].1.sweep.clear();
    let e = sweep(&inputs(&noise[..1]), &GateStatsParams::new(10).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no mtl.sweep metadata") && e.contains(".safetensors"),
        "{e}"
    );
    assert!(sweep(&[], &GateStatsParams::new(10).unwrap()).is_err());
}

#[test]
fn cosine_distributions_from_the_csv_match_numpy_and_the_json_summary() {
    // (file, n, q05, q25, median, q75, q95, share_negative, std)
    let want = [
        (
            "shapes_bn_seed0",
            1920,
            -0.756588876500,
            -0.441779700000,
            -0.052518283000,
            0.367908775000,
            0.766187966500,
            0.526041666667,
            0.483460697476,
        ),
        (
            "shapes_tssbn_seed0",
            1920,
            -0.255341766500,
            -0.057468421750,
            0.022141776500,
            0.127047812500,
            0.428471315000,
            0.420312500000,
            0.196941023095,
        ),
    ];
    for w in want {
        let path = root()
            .join("training/diagnostics")
            .join(format!("{}.json", w.0));
        let d = read_diagnostics(Path::new(&path)).unwrap();
        let c = conflict_distributions(&d, w.0).unwrap();
        let o = &c.scopes[0];
        assert_eq!(o.scope, "overall");
        let x = &o.distribution;
        assert_eq!(x.n, w.1);
        for (got, want, name) in [
            (x.q05, w.2, "q05"),
            (x.q25, w.3, "q25"),
            (x.median, w.4, "median"),
            (x.q75, w.5, "q75"),
            (x.q95, w.6, "q95"),
            (o.share_negative, w.7, "share negative"),
            (x.std, w.8, "std"),
        ] {
            close(got, want, 1e-12, &format!("{} {name}", w.0));
        }
        // mtl-train's own summary (6 significant digits) agrees.
        let p = &d.overall().unwrap().conflict.pooled;
        close(x.median, p.median.unwrap(), 5e-6, "median vs json");
        close(x.std, p.std.unwrap(), 5e-6, "std vs json");
        close(
            o.share_negative,
            p.share_negative.unwrap(),
            5e-6,
            "share vs json",
        );
        assert_eq!(x.histogram.edges.first(), Some(&-1.0));
        assert_eq!(x.histogram.edges.last(), Some(&1.0));
        assert_eq!(x.histogram.counts.iter().sum::<usize>(), w.1);
    }
}
