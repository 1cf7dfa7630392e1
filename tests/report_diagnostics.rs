//! `report --diagnostics … --sweep …` on the committed shapes fixtures: the
//! new sections, their figures and CSVs exist, and the page states the
//! numbers of the inputs (diagonal share of the pruning matrix, the noisy
//! task's independent capacity per ξ, F1 per α, cosine spreads).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fx(rel: &str) -> String {
    root().join(rel).display().to_string()
}

fn glob(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

fn fast() -> [&'static str; 6] {
    ["--permutations", "0", "--bootstrap", "0", "--groups", "0"]
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The text of the `<section id="…">` of the page.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = page[at..].find("</section>").unwrap();
    &page[at..at + end]
}

#[test]
fn diagnostics_and_sweeps_add_their_sections_with_their_numbers() {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("mtl-inspect").unwrap();
    cmd.arg("report")
        .arg(fx("fixtures/shapes/shapes_tssbn_seed0.safetensors"))
        .arg(fx("fixtures/shapes/shapes_tssbn_seed1.safetensors"))
        .args(["--k", "4", "--out"])
        .arg(out.path())
        .args(fast())
        .arg("--diagnostics")
        .arg(fx("training/diagnostics/shapes_tssbn_seed0.json"))
        .arg(fx("training/diagnostics/shapes_bn_seed0.json"))
        .arg("--sweep")
        .args(glob("fixtures/sweeps/noise"))
        .arg(fx("fixtures/sweeps/alpha"));
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.path();
    for f in [
        "diagnostics-files.csv",
        "gradient-cosines.svg",
        "gradient-cosines.csv",
        "avgnorm-weights.svg",
        "gradient-norms.svg",
        "gradient-norms.csv",
        "gradient-imbalance.csv",
        "pruning-shapes_tssbn_seed0-importance.svg",
        "pruning-shapes_tssbn_seed0-specialization.svg",
        "pruning-shapes_tssbn_seed0-specialization.csv",
        "pruning-shapes_tssbn_seed0.csv",
        "sweep-noise-capacity.svg",
        "sweep-noise-f1.svg",
        "sweep-noise.csv",
        "sweep-noise-files.csv",
        "diagnostics-runs.csv",
        "sweep-alpha-gates.svg",
        "sweep-alpha-f1.svg",
        "sweep-alpha.csv",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let page = read(dir, "index.html");
    // The original sections are still there, before the new ones.
    assert!(page.find("id=\"capacity\"").unwrap() < page.find("id=\"gradients\"").unwrap());

    let g = section(&page, "gradients");
    // Both architectures side by side in every scope's violins.
    for row in [
        "overall · TSσBN",
        "overall · HPS",
        "features.2.conv.weight · HPS",
    ] {
        assert!(g.contains(row), "{row} not in the cosine figure");
    }
    // The spreads from the files, and the comparison with the paper.
    assert!(
        g.contains("std 0.197") && g.contains("std 0.483"),
        "cosine spreads"
    );
    assert!(
        g.contains("As paper 000 reports, TSσBN"),
        "comparison with the paper"
    );
    // AvgNorm imbalance: max/min of the mean norms 1.568 (TSσBN), 1.502 (HPS).
    assert!(g.contains("max/min of the mean norms 1.568"), "imbalance");
    assert!(g.contains("1.502"), "HPS imbalance");
    assert!(g.contains("--diagnostics"), "how the files were found");

    let p = section(&page, "pruning");
    assert!(
        p.contains("Diagonal share by evaluated task 0.320 (p = 1e-4"),
        "specialization share and p-value"
    );
    assert!(
        p.contains("Diagonal share by evaluated task 0.062"),
        "importance share"
    );
    assert!(p.contains("not diagonal-dominant"), "honest verdict");
    assert!(p.contains("HPS (shapes_bn_seed0): pruning was not measured"));

    let n = section(&page, "sweep-noise");
    assert!(
        n.contains("0.098 at ξ = 0") && n.contains("0.156 at ξ = 3"),
        "independent capacity per ξ"
    );
    assert!(
        n.contains("rises in 3 of 4 steps and falls in 1"),
        "trend stated honestly"
    );
    assert!(
        n.contains("Unlike Fig. 10, shared capacity does not fall"),
        "disagreement"
    );
    let a = section(&page, "sweep-alpha");
    assert!(a.contains("F1 peaks at α = 100"), "α peak");
    assert!(a.contains("0.768 at α = 1"), "F1 at α = 1");
    assert!(
        a.contains("α = 1000: 32 % below 0.1, 67 % above 0.9"),
        "gates at α = 1000"
    );

    // The CSVs hold the same numbers at full precision.
    let csv = read(dir, "sweep-noise.csv");
    assert!(csv.contains("0.0978081538"), "{csv}");
    let csv = read(dir, "pruning-shapes_tssbn_seed0.csv");
    assert!(csv.contains("0.319792"), "{csv}");
}

#[test]
fn a_diagnose_file_beside_a_checkpoint_is_picked_up_and_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("shapes_tssbn_seed0.safetensors");
    std::fs::copy(fx("fixtures/shapes/shapes_tssbn_seed0.safetensors"), &ckpt).unwrap();
    for f in ["shapes_tssbn_seed0.json", "shapes_tssbn_seed0.conflict.csv"] {
        std::fs::copy(
            root().join("training/diagnostics").join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    let out = tmp.path().join("out");
    let o = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .arg("report")
        .arg(&ckpt)
        .arg("--out")
        .arg(&out)
        .args(fast())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("using diagnostics"));
    let page = read(&out, "index.html");
    assert!(section(&page, "gradients").contains("auto: beside shapes_tssbn_seed0.safetensors"));

    let out2 = tmp.path().join("out2");
    let o = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .arg("report")
        .arg(&ckpt)
        .arg("--out")
        .arg(&out2)
        .args(fast())
        .arg("--no-auto-diagnostics")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!read(&out2, "index.html").contains("id=\"gradients\""));
}

#[test]
fn a_bad_diagnostics_file_fails_with_exit_1_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("other.json");
    std::fs::write(&bad, br#"{"schema":"something/else","schema_version":1}"#).unwrap();
    let o = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .arg("report")
        .arg(fx("fixtures/shapes/shapes_tssbn_seed0.safetensors"))
        .arg("--out")
        .arg(tmp.path().join("out"))
        .args(fast())
        .arg("--diagnostics")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other.json") && err.contains("not an mtl-train diagnose file"),
        "{err}"
    );
    // A checkpoint without mtl.sweep given to --sweep.
    let o = Command::cargo_bin("mtl-inspect")
        .unwrap()
        .arg("report")
        .arg(fx("fixtures/shapes/shapes_tssbn_seed0.safetensors"))
        .arg("--out")
        .arg(tmp.path().join("out"))
        .args(fast())
        .arg("--sweep")
        .arg(fx("fixtures/shapes/shapes_tssbn_seed1.safetensors"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shapes_tssbn_seed1.safetensors") && err.contains("no mtl.sweep"),
        "{err}"
    );
}
