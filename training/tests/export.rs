//! `mtl-train shapes --export DIR` (issue 22): the npz holds exactly what
//! the trainer feeds the network, the CelebA layout is read back by
//! `data::celeba` (what `mtl-train celeba --data DIR` uses) with the same
//! labels, splits and image bytes, and the CLI refuses a non-empty folder.
//!
//! numpy's own reading of the archive is checked by
//! `reference/read_export.py` (run when `MTL_TEST_PYTHON` names a Python
//! with numpy and Pillow; by hand:
//! `python training/tests/reference/read_export.py DIR`).

use std::io::Read;
use std::path::Path;

use assert_cmd::Command;
use mtl_train::data::export::{self, IMAGE_DIR, NPZ_NAME};
use mtl_train::data::shapes::{self, ShapesParams};
use mtl_train::data::{Dataset, Split, celeba};
use predicates::str::contains;

fn small() -> ShapesParams {
    ShapesParams {
        tasks: 8,
        groups: 2,
        image_size: 24,
        train: 12,
        val: 6,
        test: 5,
        seed: 3,
        ..ShapesParams::default()
    }
}

fn write(data: &Dataset, dir: &Path) {
    for (rel, bytes) in export::files(data).unwrap() {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// A minimal NPY 1.0 reader: (descr, shape, data bytes).
fn parse_npy(b: &[u8]) -> (String, Vec<usize>, Vec<u8>) {
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00", "NPY 1.0 magic");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hl) % 64, 0, "header not 64-byte aligned");
    let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
    let field = |key: &str| {
        let at = h.find(key).unwrap_or_else(|| panic!("no {key} in {h}")) + key.len();
        h[at..].trim_start_matches([':', ' ']).to_string()
    };
    let descr = field("'descr'");
    let descr = descr.split('\'').nth(1).unwrap().to_string();
    assert!(field("'fortran_order'").starts_with("False"));
    let shape = field("'shape'");
    let shape: Vec<usize> = shape[1..shape.find(')').unwrap()]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (descr, shape, b[10 + hl..].to_vec())
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn npz_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(path).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        assert_eq!(e.compression(), zip::CompressionMethod::Stored);
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        out.push((e.name().to_string(), b));
    }
    out
}

fn splits(d: &Dataset) -> [(&'static str, &Split); 3] {
    [("train", &d.train), ("val", &d.val), ("test", &d.test)]
}

#[test]
fn npz_round_trips_the_trainers_tensors() {
    let data = shapes::generate(&small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(&data, dir.path());
    let entries = npz_entries(&dir.path().join(NPZ_NAME));
    let get = |k: &str| {
        entries
            .iter()
            .find(|(n, _)| n == &format!("{k}.npy"))
            .unwrap_or_else(|| panic!("npz has no {k}.npy"))
            .1
            .clone()
    };
    let s = data.image_size;
    let t = data.tasks.len();
    for (name, split) in splits(&data) {
        let (descr, shape, bytes) = parse_npy(&get(&format!("{name}_images")));
        assert_eq!(descr, "<f4");
        assert_eq!(shape, vec![split.len, 3, s, s]);
        // What training feeds the network for these samples.
        let idx: Vec<usize> = (0..split.len).collect();
        let (x, y) = split.batch(&idx, s, t, &candle_core::Device::Cpu).unwrap();
        let x: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(f32s(&bytes), x, "{name} images");
        let (descr, shape, bytes) = parse_npy(&get(&format!("{name}_labels")));
        assert_eq!((descr.as_str(), shape), ("<f4", vec![split.len, t]));
        let y: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(f32s(&bytes), y, "{name} labels");
    }
    let (descr, shape, bytes) = parse_npy(&get("tasks"));
    let width: usize = descr.trim_start_matches("<U").parse().unwrap();
    assert_eq!(shape, vec![t]);
    let names: Vec<String> = bytes
        .chunks_exact(4 * width)
        .map(|c| {
            c.chunks_exact(4)
                .map(|u| u32::from_le_bytes([u[0], u[1], u[2], u[3]]))
                .filter(|&u| u != 0)
                .map(|u| char::from_u32(u).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(names, data.tasks);
    let txt = std::fs::read_to_string(dir.path().join("tasks.txt")).unwrap();
    assert_eq!(txt.lines().collect::<Vec<_>>(), data.tasks);
}

/// The CelebA reader (`mtl-train celeba --data DIR`) sees the same tasks,
/// splits and labels; the PNGs hold the generated bytes exactly (the reader
/// then resizes them to 64×64, as it does CelebA).
#[test]
fn celeba_reader_reads_the_export() {
    let data = shapes::generate(&small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(&data, dir.path());
    let read = celeba::load(dir.path(), None).unwrap();
    assert_eq!(read.tasks, data.tasks);
    assert_eq!(read.image_size, celeba::IMAGE_SIZE);
    let s = data.image_size;
    let il = data.image_len();
    let mut index = 0;
    for ((name, a), (_, b)) in splits(&read).into_iter().zip(splits(&data)) {
        assert_eq!(a.len, b.len, "{name} size");
        assert_eq!(a.labels, b.labels, "{name} labels");
        for i in 0..b.len {
            index += 1;
            let png = dir.path().join(IMAGE_DIR).join(format!("{index:06}.png"));
            let img = image::open(&png).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (s as u32, s as u32));
            let chw = &b.images[i * il..(i + 1) * il];
            for (p, px) in img.pixels().enumerate() {
                for c in 0..3 {
                    assert_eq!(px.0[c], chw[c * s * s + p], "{name} image {i}");
                }
            }
        }
    }
}

#[test]
fn cli_exports_refuses_a_used_folder_and_celeba_trains_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    let args = [
        "shapes",
        "--tasks",
        "4",
        "--groups",
        "2",
        "--image-size",
        "24",
        "--train-size",
        "8",
        "--val-size",
        "4",
        "--test-size",
        "4",
        "--export",
    ];
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args(args)
        .arg(&dir)
        .assert()
        .success();
    for f in [
        NPZ_NAME,
        "tasks.txt",
        "list_attr_celeba.txt",
        "list_eval_partition.txt",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(std::fs::read_dir(dir.join(IMAGE_DIR)).unwrap().count(), 16);
    // Not over an existing export.
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args(args)
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("is not empty"));
    // Export does not train.
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args(args)
        .arg(tmp.path().join("other"))
        .args(["--out", "x"])
        .assert()
        .code(2)
        .stderr(contains("drop --out"));
    // Regression tasks have no place in the attribute file.
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args(args)
        .arg(tmp.path().join("other"))
        .arg("--regression-task")
        .assert()
        .code(2)
        .stderr(contains("binary tasks only"));
    // Training without --out is still refused.
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args(["shapes", "--epochs", "1"])
        .assert()
        .code(2)
        .stderr(contains("--out DIR is required"));
    // `mtl-train celeba --data <export>` trains on it.
    let runs = tmp.path().join("runs");
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args(["celeba", "--data"])
        .arg(&dir)
        .args([
            "--model",
            "shapes-cnn",
            "--norm",
            "bn",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&runs)
        .assert()
        .success();
    assert!(std::fs::read_dir(&runs).unwrap().count() > 0);

    // numpy's reading, when a Python with numpy is named.
    if let Ok(py) = std::env::var("MTL_TEST_PYTHON") {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/reference/read_export.py"
        );
        let out = std::process::Command::new(py)
            .arg(script)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "read_export.py failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("MTL_TEST_PYTHON not set: numpy check of the npz skipped");
    }
}
