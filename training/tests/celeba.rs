//! The CelebA loader on tiny CelebA-format folders the test writes itself,
//! in both layouts, and its errors; the celeba-cnn architecture.

use std::path::Path;

use assert_cmd::Command;
use candle_core::{DType, Device, Tensor};
use mtl_train::data::celeba::{self, CelebaError};
use mtl_train::layers::{NormKind, NormParams};
use mtl_train::models::{HeadInit, ModelKind, MultiTaskNet};
use mtl_train::vars::{ParamGroupKind, ParamStore};
use predicates::str::contains;

const ATTRS: usize = 40;

/// 6 images: partitions 0,0,0,0,1,2 ... written with ±1 labels.
fn write_celeba(dir: &Path, nested: bool, zero_one: bool) {
    let (anno, eval, img) = if nested {
        (
            dir.join("Anno"),
            dir.join("Eval"),
            dir.join("Img").join("img_align_celeba"),
        )
    } else {
        (
            dir.to_path_buf(),
            dir.to_path_buf(),
            dir.join("img_align_celeba"),
        )
    };
    for d in [&anno, &eval, &img] {
        std::fs::create_dir_all(d).unwrap();
    }
    let names: Vec<String> = (0..ATTRS).map(|a| format!("Attr{a}")).collect();
    let parts = [0, 0, 0, 0, 1, 1, 2, 2];
    let mut attr = format!("{}\n{}\n", parts.len(), names.join(" "));
    let mut part = String::new();
    for (i, p) in parts.iter().enumerate() {
        let file = format!("{:06}.jpg", i + 1);
        let labels: Vec<&str> = (0..ATTRS)
            .map(|a| match ((i + a) % 2 == 0, zero_one) {
                (true, _) => "1",
                (false, true) => "0",
                (false, false) => "-1",
            })
            .collect();
        attr.push_str(&format!("{file}  {}\n", labels.join(" ")));
        part.push_str(&format!("{file} {p}\n"));
        image::RgbImage::from_fn(30, 36, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 7) as u8, (i * 30) as u8])
        })
        .save(img.join(&file))
        .unwrap();
    }
    std::fs::write(anno.join("list_attr_celeba.txt"), attr).unwrap();
    std::fs::write(eval.join("list_eval_partition.txt"), part).unwrap();
}

#[test]
fn both_layouts_load_the_same_data() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_celeba(a.path(), true, false);
    write_celeba(b.path(), false, true);
    let da = celeba::load(a.path(), None).unwrap();
    let db = celeba::load(b.path(), None).unwrap();
    assert_eq!(da.tasks.len(), ATTRS);
    assert_eq!(da.tasks, db.tasks);
    assert_eq!((da.train.len, da.val.len, da.test.len), (4, 2, 2));
    assert_eq!(da.train.images.len(), 4 * 3 * 64 * 64);
    // ±1 and 0/1 label files mean the same thing.
    assert_eq!(da.train.labels, db.train.labels);
    assert_eq!(da.train.images, db.train.images);
    assert_eq!(&da.train.labels[..3], &[1.0, 0.0, 1.0]);
    let limited = celeba::load(a.path(), Some(1)).unwrap();
    assert_eq!((limited.train.len, limited.val.len), (1, 1));
}

#[test]
fn misaligned_rows_and_bad_images_are_reported() {
    let d = tempfile::tempdir().unwrap();
    write_celeba(d.path(), false, false);
    let part = d.path().join("list_eval_partition.txt");
    let text = std::fs::read_to_string(&part)
        .unwrap()
        .replace("000002.jpg", "000099.jpg");
    std::fs::write(&part, text).unwrap();
    let err = celeba::load(d.path(), None).unwrap_err();
    assert!(matches!(err, CelebaError::Mismatch { row: 2, .. }), "{err}");

    let d = tempfile::tempdir().unwrap();
    write_celeba(d.path(), false, false);
    std::fs::write(
        d.path().join("img_align_celeba").join("000003.jpg"),
        b"not a jpeg",
    )
    .unwrap();
    let err = celeba::load(d.path(), None).unwrap_err();
    assert!(err.to_string().contains("000003.jpg"), "{err}");

    let d = tempfile::tempdir().unwrap();
    write_celeba(d.path(), false, false);
    let attr = d.path().join("list_attr_celeba.txt");
    let text = std::fs::read_to_string(&attr)
        .unwrap()
        .replacen(" 1 ", " 2 ", 1);
    std::fs::write(&attr, text).unwrap();
    let err = celeba::load(d.path(), None).unwrap_err();
    assert!(err.to_string().contains("label '2'"), "{err}");

    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        celeba::load(d.path(), None),
        Err(CelebaError::NotFound { .. })
    ));
}

#[test]
fn celeba_cli_trains_on_a_tiny_folder() {
    let d = tempfile::tempdir().unwrap();
    write_celeba(d.path(), true, false);
    let out = d.path().join("runs");
    // shapes-cnn keeps the test fast; celeba-cnn is checked below.
    Command::cargo_bin("mtl-train")
        .unwrap()
        .args([
            "celeba",
            "--model",
            "shapes-cnn",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--quiet",
            "--data",
        ])
        .arg(d.path())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    Command::cargo_bin("mtl-train")
        .unwrap()
        .arg("eval")
        .arg(out.join("celeba_tssbn_seed0.safetensors"))
        .assert()
        .code(2)
        .stderr(contains("pass --data"));
    Command::cargo_bin("mtl-train")
        .unwrap()
        .arg("eval")
        .arg(out.join("celeba_tssbn_seed0.safetensors"))
        .arg("--data")
        .arg(d.path())
        .assert()
        .success()
        .stdout(contains("Attr39\t"));
}

#[test]
fn celeba_cnn_has_nine_norm_layers_and_2880_gates_per_task() {
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let net = MultiTaskNet::new(
        &ModelKind::CelebaCnn.spec(),
        NormKind::TsSigmaBn,
        2,
        NormParams::default(),
        &store.builder(0),
    )
    .unwrap();
    assert_eq!(net.norm_layers().len(), 9);
    let gates: usize = store
        .sorted(ParamGroupKind::Gates)
        .iter()
        .map(|(_, v)| v.dims()[1])
        .sum();
    assert_eq!(gates, 2880);
    let x = Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(net.forward(&x, true).unwrap().dims(), &[2, 2]);
    // PyTorch's default per head: independent U(±1/√512) weights and biases.
    assert_eq!(ModelKind::CelebaCnn.spec().heads, HeadInit::Independent);
    let weights: std::collections::BTreeMap<_, _> =
        store.sorted(ParamGroupKind::Weights).into_iter().collect();
    let w = weights["heads.weight"]
        .as_tensor()
        .to_vec2::<f32>()
        .unwrap();
    let b = weights["heads.bias"].as_tensor().to_vec1::<f32>().unwrap();
    let bound = 1.0 / 512f32.sqrt();
    assert_ne!(w[0], w[1]);
    assert_ne!(b[0], b[1]);
    assert!(w.iter().flatten().chain(&b).all(|v| v.abs() <= bound));
}
