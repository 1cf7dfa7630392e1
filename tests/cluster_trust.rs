//! The report's cluster section says when the runs' clusters can be read:
//! a boxed warning above the table when the runs disagree (independently
//! initialised shapes heads, fixtures/shapes_independent), a note that they
//! agree when they do (the tied-head shapes fixtures), and a note that one
//! run cannot be judged. Thresholds: `analysis::cluster_trust`, derived from
//! the shapes study (training/README.md, "Do the groups survive a standard
//! start?").

mod common;

use assert_cmd::Command;
use common::*;

/// The cluster section of the report of `runs` with k = 4 (an HTML
/// fragment).
fn cluster_section(runs: &[String]) -> String {
    cluster_section_k(runs, "4")
}

fn cluster_section_k(runs: &[String], k: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    Command::cargo_bin("mtl-inspect")
        .unwrap()
        .arg("report")
        .args(runs)
        .args([
            "--k",
            k,
            "--permutations",
            "0",
            "--bootstrap",
            "0",
            "--groups",
            "0",
        ])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    let start = page
        .find("<section id=\"clusters\">")
        .expect("a cluster section");
    let end = start + page[start..].find("</section>").unwrap();
    page[start..end].to_string()
}

fn runs(folder: &str, stem: &str, seeds: std::ops::Range<u64>) -> Vec<String> {
    seeds
        .map(|s| {
            fixture(&format!("{folder}/{stem}{s}.safetensors"))
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn runs_that_disagree_get_a_warning_above_the_clusters() {
    let section = cluster_section(&runs("shapes_independent", "shapes_tssbn_seed", 100..105));
    let warning = section.find("<p class=\"warning\"").expect("a warning");
    let table = section.find("clusters.csv").expect("the clusters table");
    assert!(warning < table, "the warning comes before the table");
    assert!(
        section.contains("put different tasks together"),
        "{section}"
    );
    assert!(
        section.contains("mean cluster confidence 0.705"),
        "{section}"
    );
}

#[test]
fn runs_that_find_the_same_clusters_but_order_pairs_differently_get_a_note() {
    // The planted CelebA-shaped fixtures: every run has the planted groups
    // (confidence 1) but the pairs outside them are each run's noise
    // (mean Spearman 0.66).
    let section = cluster_section_k(&runs("celeba40", "run", 0..7), "10");
    assert!(!section.contains("class=\"warning\""), "{section}");
    assert!(section.contains("put the same tasks together"), "{section}");
}

#[test]
fn runs_that_agree_get_no_warning() {
    let section = cluster_section(&runs("shapes", "shapes_tssbn_seed", 0..5));
    assert!(!section.contains("class=\"warning\""), "{section}");
    assert!(section.contains("The 5 runs agree"), "{section}");
}

#[test]
fn one_run_cannot_be_judged() {
    let section = cluster_section(&runs("shapes", "shapes_tssbn_seed", 0..1));
    assert!(!section.contains("class=\"warning\""));
    assert!(
        section.contains("One run: whether these clusters"),
        "{section}"
    );
}
