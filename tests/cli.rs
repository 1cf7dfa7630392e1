//! The real binary on real files: output formats, exit codes, messages.

mod common;

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;

fn bin() -> Command {
    Command::cargo_bin("mtl-inspect").unwrap()
}

fn fx(rel: &str) -> String {
    fixture(rel).display().to_string()
}

#[test]
fn help_lists_every_command() {
    let out = bin()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for c in [
        "inspect",
        "capacity",
        "similarity",
        "specialization",
        "stability",
        "cluster",
        "filter-groups",
        "gates",
    ] {
        assert!(text.contains(c), "--help lacks {c}:\n{text}");
    }
}

#[test]
fn inspect_table_json_csv() {
    bin()
        .args(["inspect", &fx("layouts/tsbn_module_list_f64.safetensors")])
        .assert()
        .success()
        // A bias beside logits that are half negative: σBN, from evidence.
        .stdout(predicate::str::contains(
            "has a bias, but 50% of the weights are negative",
        ))
        .stdout(predicate::str::contains("encoder.2.bns"))
        .stdout(predicate::str::contains("shift (bias) of a per-task norm"));
    let out = bin()
        .args([
            "inspect",
            &fx("layouts/stacked_f16.safetensors"),
            "--format",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["layout"], "stacked");
    assert_eq!(v["dtype"], "F16");
    assert_eq!(v["tasks"].as_array().unwrap().len(), 5);
    assert_eq!(v["layers"][2]["filters"], 8);
    bin()
        .args([
            "inspect",
            &fx("layouts/module_dict_bf16.safetensors"),
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "layer,filters,dtype,gate,share_negative,share_near_1\nencoder.0.norms,4,BF16,sigmoid,0.65,0.1\n",
        ));
}

#[test]
fn tasks_file_names_module_list_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("tasks.txt");
    std::fs::write(&t, "seg\ndepth\nnormals\nedges\nkeypoints\n").unwrap();
    bin()
        .args([
            "inspect",
            &fx("layouts/module_list_f32.safetensors"),
            "--tasks",
        ])
        .arg(&t)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "seg, depth, normals, edges, keypoints",
        ));
}

#[test]
fn input_errors_exit_1_with_the_file_named() {
    bin()
        .args(["inspect", "no/such/file.safetensors"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such/file.safetensors"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("conv.safetensors");
    write(&p, &[f32s("conv.weight", &[1], &[1.0])], &[]);
    bin()
        .arg("inspect")
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no task-specific norm layers found",
        ));
}

#[test]
fn usage_errors_exit_2() {
    bin()
        .args([
            "inspect",
            &fx("layouts/stacked_f16.safetensors"),
            "--layers",
            "(unclosed",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--layers '(unclosed' is not a valid regular expression",
        ));
    bin()
        .args([
            "inspect",
            &fx("layouts/stacked_f16.safetensors"),
            "--format",
            "xml",
        ])
        .assert()
        .code(2);
    bin().arg("frobnicate").assert().code(2);
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = bin()
        .args(args)
        .args(["--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("layouts/reference.json")).unwrap())
        .unwrap()
}

// Reference: fixtures/make_fixtures.py computes capacity with one
// np.linalg.lstsq projection per task and similarity with numpy, on the
// same gates the fixtures store.
#[test]
fn capacity_json_matches_numpy_on_every_layout() {
    let r = reference();
    let tasks = fx("layouts/tasks.txt");
    for f in ["module_list_f32", "module_dict_bf16", "stacked_f16"] {
        let v = json_of(&[
            "capacity",
            &fx(&format!("layouts/{f}.safetensors")),
            "--tasks",
            &tasks,
        ]);
        for (got, want) in v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .zip(r["capacity"].as_array().unwrap())
        {
            assert_eq!(got["task"], want["task"], "{f}");
            for k in ["capacity", "shared", "independent"] {
                let (g, w) = (got[k].as_f64().unwrap(), want[k].as_f64().unwrap());
                assert!((g - w).abs() < 1e-12, "{f} {k}: {g} vs numpy {w}");
            }
        }
        assert_eq!(v["checkpoint"]["gate"], "sigmoid");
    }
}

#[test]
fn similarity_json_and_csv_match_numpy() {
    let r = reference();
    let v = json_of(&["similarity", &fx("layouts/stacked_f16.safetensors")]);
    let want = r["similarity"].as_array().unwrap();
    for (i, row) in v["matrix"].as_array().unwrap().iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            let w = want[i][j].as_f64().unwrap();
            assert!((x.as_f64().unwrap() - w).abs() < 1e-12, "({i},{j})");
        }
    }
    let out = bin()
        .args([
            "similarity",
            &fx("layouts/stacked_f16.safetensors"),
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("task,segmentation,depth,normals,edges,keypoints")
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first[0], "segmentation");
    assert_eq!(first[1].parse::<f64>().unwrap(), 1.0);
    assert!((first[2].parse::<f64>().unwrap() - want[0][1].as_f64().unwrap()).abs() < 1e-15);
}

fn output(args: &[&str], format: &str) -> String {
    let out = bin()
        .args(args)
        .args(["--format", format])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// CSV rows (header first) split on commas (no field here holds one).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A CSV cell and a JSON number are the same f64 (serde_json's default
/// float parser may be one ulp off; both writers print round-trip digits).
fn same(cell: &str, v: &serde_json::Value) -> bool {
    let (a, b) = (cell.parse::<f64>().unwrap(), num(v));
    (a - b).abs() <= 2.0 * f64::EPSILON * a.abs().max(b.abs())
}

/// Every command in every format on a real checkpoint, checked on content:
/// the three formats carry the same numbers (CSV at full precision equals
/// JSON, the table shows them to 4 decimals), every task/layer/pair is
/// there, and capacity agrees with an independent path (C_t is the mean
/// importance, which `gates` computes separately).
#[test]
fn every_command_agrees_across_formats() {
    let one = fx("celeba40/run0.safetensors");
    let two = fx("celeba40/run1.safetensors");
    let tasks: Vec<String> =
        serde_json::from_value(json_of(&["similarity", &one])["tasks"].clone()).unwrap();
    assert_eq!(tasks.len(), 40);

    // capacity: JSON = CSV = table, and C_t = the mean importance of `gates`
    let args = ["capacity", one.as_str()];
    let (j, c, t) = (json_of(&args), output(&args, "csv"), output(&args, "table"));
    let gates = json_of(&["gates", &one]);
    let rows = csv_rows(&c);
    assert_eq!(rows[0], ["task", "capacity", "shared", "independent"]);
    assert_eq!(rows.len(), 41);
    for ((task, row), g) in j["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&rows[1..])
        .zip(gates["per_task"].as_array().unwrap())
    {
        assert_eq!(row[0], task["task"].as_str().unwrap());
        for (k, cell) in ["capacity", "shared", "independent"].iter().zip(&row[1..]) {
            assert!(
                same(cell, &task[*k]),
                "{k} of {}: {cell} vs {}",
                row[0],
                task[*k]
            );
        }
        assert_eq!(g["label"], task["task"]);
        assert!(
            (num(&g["mean"]) - num(&task["capacity"])).abs() < 1e-12,
            "{}: capacity is not the mean importance",
            row[0]
        );
        assert!(
            t.contains(&format!("{:.4}", num(&task["shared"]))),
            "table lacks {}'s shared",
            row[0]
        );
    }

    // similarity: the full matrix in CSV equals JSON
    let args = ["similarity", one.as_str()];
    let (j, c) = (json_of(&args), output(&args, "csv"));
    let rows = csv_rows(&c);
    assert_eq!(rows[0][1..], tasks[..]);
    for (i, row) in rows[1..].iter().enumerate() {
        for (jx, cell) in row[1..].iter().enumerate() {
            assert!(same(cell, &j["matrix"][i][jx]), "({i},{jx}): {cell}");
        }
    }
    assert_eq!(rows.len(), 41);

    // specialization: one row per layer plus total, in both formats
    let args = ["specialization", one.as_str()];
    let (j, c, t) = (json_of(&args), output(&args, "csv"), output(&args, "table"));
    let rows = csv_rows(&c);
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(rows.len(), layers.len() + 2);
    assert_eq!(
        rows[0][..4],
        ["layer", "filters", "specialized", "fraction"]
    );
    for (l, row) in layers.iter().zip(&rows[1..]) {
        assert_eq!(row[0], l["layer"].as_str().unwrap());
        assert!(same(&row[2], &l["specialized"]));
        assert!(t.contains(l["layer"].as_str().unwrap()));
    }

    // stability: the pair's numbers, its interval around the replicates
    let args = [
        "stability",
        one.as_str(),
        two.as_str(),
        "--permutations",
        "20",
        "--bootstrap",
        "40",
    ];
    let (j, c, t) = (json_of(&args), output(&args, "csv"), output(&args, "table"));
    let rows = csv_rows(&c);
    assert_eq!(
        rows[0],
        [
            "run_a",
            "run_b",
            "spearman",
            "p_value",
            "ci_low",
            "ci_high",
            "replicate_mean"
        ]
    );
    let pair = &j["pairs"][0];
    for (k, cell) in ["spearman", "p_value"].iter().zip(&rows[1][2..4]) {
        assert!(same(cell, &pair[*k]), "{k}: {cell}");
    }
    assert!(same(&rows[1][4], &pair["ci"]["low"]));
    // grouped jackknife: every pair of left-out filter groups (10 × 10)
    assert_eq!(num(&pair["ci"]["replicates"]), 100.0);
    assert!(num(&pair["ci"]["low"]) <= num(&pair["ci"]["high"]));
    assert!(t.contains(&format!("{:.4}", num(&pair["spearman"]))));
    assert!(t.contains(&format!("mean {:.4}", num(&j["mean"]))));

    // cluster: every task once, with the cluster and confidence of JSON
    let args = ["cluster", one.as_str(), two.as_str(), "--k", "10"];
    let (j, c, t) = (json_of(&args), output(&args, "csv"), output(&args, "table"));
    let rows = csv_rows(&c);
    assert_eq!(rows[0], ["task", "cluster", "confidence"]);
    assert_eq!(rows.len(), 41);
    for row in &rows[1..] {
        let conf = j["confidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["task"] == row[0].as_str())
            .unwrap();
        assert_eq!(
            row[1].parse::<f64>().unwrap(),
            num(&conf["cluster"]) + 1.0,
            "{}",
            row[0]
        );
        assert!(same(&row[2], &conf["confidence"]));
        let members = j["clusters"][conf["cluster"].as_u64().unwrap() as usize]
            .as_array()
            .unwrap();
        assert!(members.iter().any(|m| m == row[0].as_str()));
        assert!(t.contains(&format!("{} ({:.2})", row[0], num(&conf["confidence"]))));
    }
    for r in j["runs"].as_array().unwrap() {
        assert!(t.contains(&format!("{:.4}", num(&r["ari"]))));
    }

    // filter-groups: group sizes agree and add up to the live filters
    let args = ["filter-groups", one.as_str(), "--k", "6"];
    let (j, c) = (json_of(&args), output(&args, "csv"));
    let rows = csv_rows(&c);
    let groups = j["groups"].as_array().unwrap();
    assert_eq!(rows.len(), groups.len() + 1);
    let mut total = num(&j["dead"]) as usize;
    for (g, row) in groups.iter().zip(&rows[1..]) {
        assert!(same(&row[1], &g["size"]));
        total += g["size"].as_u64().unwrap() as usize;
    }
    assert_eq!(total, 2880);

    // gates: per task and overall rows agree
    let args = ["gates", one.as_str()];
    let (j, c) = (json_of(&args), output(&args, "csv"));
    let rows = csv_rows(&c);
    assert_eq!(rows.len(), 42);
    for (d, row) in j["per_task"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&j["overall"]])
        .zip(&rows[1..])
    {
        assert_eq!(row[0], d["label"].as_str().unwrap());
        assert!(same(&row[2], &d["mean"]));
    }
}

#[test]
fn capacity_of_several_runs_summarizes_them() {
    // scipy.stats.t.interval(0.95, n - 1, mean, sem) over the runs' own
    // capacity values, recomputed here from each run's single-run JSON.
    let runs: Vec<String> = (0..3)
        .map(|i| fx(&format!("celeba40/run{i}.safetensors")))
        .collect();
    let mut args = vec!["capacity"];
    args.extend(runs.iter().map(String::as_str));
    let j = json_of(&args);
    assert_eq!(j["runs"].as_array().unwrap().len(), 3);
    let singles: Vec<serde_json::Value> = runs.iter().map(|r| json_of(&["capacity", r])).collect();
    // t_{0.975, 2} = scipy.stats.t.ppf(0.975, 2)
    let t975 = 4.302652729749462;
    for (i, task) in j["across_runs"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let v: Vec<f64> = singles
            .iter()
            .map(|s| num(&s["tasks"][i]["capacity"]))
            .collect();
        assert_eq!(task["task"], singles[0]["tasks"][i]["task"]);
        let mean = v.iter().sum::<f64>() / 3.0;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let c = &task["capacity"];
        assert!((num(&c["mean"]) - mean).abs() < 1e-14);
        assert!((num(&c["ci_low"]) - (mean - t975 * sd / 3f64.sqrt())).abs() < 1e-12);
        assert!((num(&c["ci_high"]) - (mean + t975 * sd / 3f64.sqrt())).abs() < 1e-12);
        assert_eq!(
            num(&c["min"]),
            v.iter().copied().fold(f64::INFINITY, f64::min)
        );
    }
    let c = output(&args, "csv");
    assert!(c.starts_with("task,capacity_mean,capacity_sd,capacity_min,capacity_max,capacity_ci_low,capacity_ci_high,shared_mean"));
    assert_eq!(c.lines().count(), 41);
}

#[test]
fn parameter_errors_exit_2_and_name_the_flag() {
    let one = fx("celeba40/run0.safetensors");
    bin()
        .args(["specialization", &one, "--tau", "1.5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--tau"));
    bin()
        .args(["specialization", &one, "--tau", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--tau"));
    bin()
        .args(["cluster", &one, "--k", "41"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("41").and(predicate::str::contains("40")));
    bin().args(["cluster", &one, "--k", "0"]).assert().code(2);
    bin().args(["stability", &one]).assert().code(2);
    bin()
        .args(["gates", &one, "--bins", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--bins"));
}

#[test]
fn runs_with_different_tasks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    let g = || f32s("l.gamma", &[3, 2], &[0.1, 0.9, 0.3, 0.5, 0.2, 0.7]);
    write(
        &a,
        &[g()],
        &[
            ("mtl.layers", "[\"l\"]"),
            ("mtl.tasks", "[\"x\",\"y\",\"z\"]"),
        ],
    );
    write(
        &b,
        &[g()],
        &[
            ("mtl.layers", "[\"l\"]"),
            ("mtl.tasks", "[\"x\",\"y\",\"w\"]"),
        ],
    );
    for extra in [vec!["stability"], vec!["cluster", "--k", "2"]] {
        bin().args(&extra).args([&a, &b]).assert().code(1).stderr(
            predicate::str::contains("same tasks")
                .and(predicate::str::contains("\"z\"").or(predicate::str::contains("z"))),
        );
    }
}

#[test]
fn cluster_recovers_the_planted_groups_of_the_celeba_fixture() {
    // fixtures/make_fixtures.py plants the 10 groups of the paper's Table 5.
    let runs: Vec<String> = (0..7)
        .map(|i| fx(&format!("celeba40/run{i}.safetensors")))
        .collect();
    let mut args = vec!["cluster"];
    args.extend(runs.iter().map(String::as_str));
    args.extend(["--k", "10"]);
    let v = json_of(&args);
    let groups: Vec<Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(fixture("celeba40/groups.json")).unwrap())
            .unwrap();
    let mut got: Vec<Vec<String>> = serde_json::from_value(v["clusters"].clone()).unwrap();
    let mut want = groups.clone();
    for g in got.iter_mut().chain(want.iter_mut()) {
        g.sort();
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn every_analysis_agrees_across_layouts_and_dtypes() {
    // The four layout fixtures store the same gates (exact in every dtype),
    // so every result must be identical once tasks are named alike.
    let tasks = fx("layouts/tasks.txt");
    let cmds: Vec<Vec<&str>> = vec![
        vec!["capacity"],
        vec!["similarity"],
        vec!["specialization", "--tau", "0.3"],
        vec!["filter-groups", "--k", "3"],
        vec!["gates"],
    ];
    for c in &cmds {
        let mut results = Vec::new();
        for (f, extra) in [
            ("module_list_f32", vec![]),
            ("module_dict_bf16", vec![]),
            ("stacked_f16", vec![]),
            ("tsbn_module_list_f64", vec!["--gate", "sigmoid"]),
        ] {
            let p = fx(&format!("layouts/{f}.safetensors"));
            let mut args: Vec<&str> = vec![c[0], &p];
            args.extend(&c[1..]);
            args.extend(["--tasks", &tasks]);
            args.extend(extra);
            let mut v = json_of(&args);
            v.as_object_mut().unwrap().remove("checkpoint");
            // Layer paths differ by layout (bns / norms / tsbn): compare the rest.
            let text = v
                .to_string()
                .replace(".norms", ".bns")
                .replace(".tsbn", ".bns");
            results.push((f, serde_json::from_str::<serde_json::Value>(&text).unwrap()));
        }
        for (f, v) in &results[1..] {
            assert_eq!(
                v, &results[0].1,
                "{} differs between {} and {f}",
                c[0], results[0].0
            );
        }
    }
}

#[test]
fn runs_with_different_layers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    let rows = vec![vec![0.1f32, 0.9, 0.3], vec![0.5, 0.2, 0.7]];
    write(
        &a,
        &module_list(
            &[("enc.bns", rows.clone()), ("mid.bns", rows.clone())],
            false,
        ),
        &[],
    );
    write(
        &b,
        &module_list(&[("dec.bns", rows.clone()), ("mid.bns", rows)], false),
        &[],
    );
    bin()
        .arg("stability")
        .args([&a, &b])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("same layers").and(predicate::str::contains("'enc.bns'")));
}

#[test]
fn report_writes_a_page_and_fails_early_on_a_bad_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let copy = dir.path().join("again.safetensors");
    std::fs::copy(fixture("layouts/stacked_f16.safetensors"), &copy).unwrap();
    bin()
        .args(["report", &fx("layouts/stacked_f16.safetensors")])
        .arg(&copy)
        .args(["--k", "2", "--permutations", "0", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("index.html"));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("stacked_f16.safetensors"));
    // --out is a file: refused before any checkpoint is read (the checkpoint
    // does not even exist).
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    bin()
        .args(["report", "missing.safetensors", "--out"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a file"));
    bin()
        .args([
            "report",
            &fx("layouts/stacked_f16.safetensors"),
            "--k",
            "9",
            "--out",
        ])
        .arg(dir.path().join("rep2"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("9"));
    // Runs are read one at a time: a run of another architecture is found
    // when it is read, and refused with both names.
    bin()
        .args([
            "report",
            &fx("layouts/stacked_f16.safetensors"),
            &fx("celeba40/run0.safetensors"),
            "--out",
        ])
        .arg(dir.path().join("rep3"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("differ")
                .and(predicate::str::contains("stacked_f16.safetensors"))
                .and(predicate::str::contains("run0.safetensors")),
        );
}

#[test]
fn export_writes_the_tidy_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tidy.csv");
    bin()
        .args([
            "export",
            &fx("layouts/stacked_f16.safetensors"),
            &fx("layouts/tsbn_module_list_f64.safetensors"),
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("run,layer,filter,task,gate,importance"));
    // 2 runs × 18 filters × 5 tasks.
    assert_eq!(lines.count(), 2 * 18 * 5);
    bin()
        .args([
            "export",
            &fx("layouts/stacked_f16.safetensors"),
            "--out",
            "x.txt",
        ])
        .assert()
        .code(2);
    // A failed export leaves no empty file behind.
    let bad = dir.path().join("bad.csv");
    bin()
        .args(["export", "missing.safetensors", "--out"])
        .arg(&bad)
        .assert()
        .code(1);
    assert!(!bad.exists());
}

// The shapes fixtures were trained by mtl-train (fixtures/README.md): the
// representative clusters of the five TSσBN seeds must be the dataset's
// four object groups (the task-name prefix) and their similarity matrices
// must be stable across seeds: the scientific self-test of
// training/scripts/selftest.py.
#[test]
fn shapes_fixtures_cluster_into_their_object_groups() {
    let runs: Vec<String> = (0..5)
        .map(|i| fx(&format!("shapes/shapes_tssbn_seed{i}.safetensors")))
        .collect();
    let mut args = vec!["cluster"];
    args.extend(runs.iter().map(String::as_str));
    args.extend(["--k", "4"]);
    let v = json_of(&args);
    let clusters: Vec<Vec<String>> = serde_json::from_value(v["clusters"].clone()).unwrap();
    assert_eq!(clusters.len(), 4);
    for c in &clusters {
        let group = c[0].split('_').next().unwrap();
        assert_eq!(c.len(), 4, "{c:?}");
        assert!(
            c.iter().all(|t| t.starts_with(&format!("{group}_"))),
            "{c:?}"
        );
    }
    // The self-test's stability target: the paper reports a mean Spearman
    // of 0.8 across seeds on CelebA; the shapes data is graded so that it
    // can be reached (training/src/data/shapes.rs).
    let mut args = vec!["stability", "--permutations", "0", "--bootstrap", "0"];
    args.extend(runs.iter().map(String::as_str));
    let v = json_of(&args);
    let mean = v["mean"].as_f64().unwrap();
    assert!(mean >= 0.8, "mean Spearman across seeds {mean}");
    bin()
        .args(["inspect", &fx("shapes/shapes_bn_seed0.safetensors")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("hard-parameter-sharing"));
    bin()
        .args(["inspect", &fx("shapes/shapes_tsbn_seed0.safetensors")])
        .assert()
        .success()
        .stdout(predicate::str::contains("importance = |weight|"));
}

#[test]
fn diff_out_writes_a_page_with_the_same_numbers_as_the_text_diff() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("diff");
    let (a, b) = (
        fx("celeba40/run0.safetensors"),
        fx("celeba40/run1.safetensors"),
    );
    bin()
        .args(["diff", &a, &b, "--top", "5", "--tau", "0.1", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("index.html"));
    let read = |f: &str| {
        std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f} not written: {e}"))
    };
    let page = read("index.html");
    for id in [
        "summary",
        "tasks",
        "layers",
        "pairs",
        "owners",
        "provenance",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    assert!(page.contains("id=\"fig-diff-tasks\"") && page.contains("id=\"fig-diff-layers\""));
    assert!(!page.contains("<script"));
    read("diff-tasks.svg");
    read("diff-layers.svg");
    // The page's per-task table is the text command's CSV, byte for byte.
    let csv = output(&["diff", &a, &b, "--tau", "0.1"], "csv");
    assert_eq!(read("diff-tasks.csv"), csv);
    let json = json_of(&["diff", &a, &b, "--top", "5", "--tau", "0.1"]);
    assert_eq!(csv_rows(&read("diff-pairs.csv")).len(), 1 + 5);
    let owners = json["owner_changes"].as_array().unwrap().len();
    // 40 tasks share most filters: at τ = 0.1 a few owners change.
    assert!(owners > 0, "the fixture runs should differ in some owners");
    assert_eq!(csv_rows(&read("diff-owners.csv")).len(), 1 + owners);
    let layers = csv_rows(&read("diff-layers.csv"));
    let json_layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1 + json_layers.len());
    for (row, l) in layers[1..].iter().zip(json_layers) {
        assert_eq!(row[0], l["layer"].as_str().unwrap());
        assert!(same(&row[2], &l["delta_mean_capacity"]));
        assert!(same(&row[5], &l["owner_changes"]));
    }
    // --title needs --out; --out must be a directory; a page has no
    // --format (it was silently ignored).
    bin()
        .args(["diff", &a, &b, "--title", "x"])
        .assert()
        .code(2);
    bin()
        .args(["diff", &a, &b, "--format", "csv", "--out"])
        .arg(dir.path().join("page"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    bin()
        .args(["diff", &a, &b, "--out"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a file"));
}
