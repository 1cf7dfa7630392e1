//! A generated dataset written in forms other frameworks read
//! (`mtl-train shapes --export DIR`, issue 22), so that a baseline trained
//! elsewhere (LibMTL, plain PyTorch) sees exactly the data mtl-train trains
//! on:
//!
//! ```text
//! DIR/shapes.npz                  train_images val_images test_images  float32 [N, 3, S, S], byte/255
//!                                 train_labels val_labels test_labels  float32 [N, T] in {0, 1}
//!                                 tasks                                <U… [T], the task names
//! DIR/tasks.txt                   the task names, one a line
//! DIR/list_attr_celeba.txt        CelebA's attribute file (labels ±1), rows in split order
//! DIR/list_eval_partition.txt     CelebA's partition file (0 train, 1 val, 2 test)
//! DIR/img_align_celeba/NNNNNN.png the images, lossless, S×S RGB, numbered from 000001
//! ```
//!
//! The images in the npz are what the trainer feeds the network
//! ([`super::Split::batch`]: byte / 255 as f32, channels first); the PNGs
//! hold the bytes. The text files and `img_align_celeba/` are the flat
//! CelebA layout [`super::celeba`] reads, so `mtl-train celeba --data DIR`
//! trains on the same labels and splits (its reader resizes every image to
//! 64×64, as for CelebA). The npz is a zip of `.npy` files (NPY format 1.0,
//! stored uncompressed), what `numpy.load` reads. Only binary tasks: the
//! CelebA attribute file has no place for a real-valued target.
//!
//! Everything is returned as bytes; the caller writes the files.

use std::io::{Cursor, Write};
use std::path::PathBuf;

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::{Dataset, Split, TaskKind};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "task '{task}' is a regression task; the export writes binary labels only (the CelebA attribute file holds ±1); export without --regression-task/--noise"
    )]
    RegressionTask { task: String },
    #[error(
        "task name '{task}' contains white space or is empty; the CelebA attribute file separates names by spaces"
    )]
    BadTaskName { task: String },
    #[error("writing the npz archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("encoding image {index} as PNG: {reason}")]
    Png { index: usize, reason: String },
    #[error("the {split} split holds {len} samples but {have} image bytes")]
    BadSplit {
        split: &'static str,
        len: usize,
        have: usize,
    },
}

/// One file to write: its path relative to the export folder and its bytes.
pub type ExportFile = (PathBuf, Vec<u8>);

/// Name of the archive in the export folder.
pub const NPZ_NAME: &str = "shapes.npz";
/// Folder of the PNG images (CelebA's flat layout).
pub const IMAGE_DIR: &str = "img_align_celeba";

/// Every file of the export, in a fixed order.
pub fn files(data: &Dataset) -> Result<Vec<ExportFile>, ExportError> {
    check(data)?;
    let mut out = vec![
        (PathBuf::from(NPZ_NAME), npz(data)?),
        (PathBuf::from("tasks.txt"), tasks_txt(data).into_bytes()),
    ];
    out.extend(celeba_layout(data)?);
    Ok(out)
}

fn check(data: &Dataset) -> Result<(), ExportError> {
    for (task, kind) in data.tasks.iter().zip(&data.kinds) {
        if *kind == TaskKind::Regression {
            return Err(ExportError::RegressionTask { task: task.clone() });
        }
        if task.is_empty() || task.chars().any(char::is_whitespace) {
            return Err(ExportError::BadTaskName { task: task.clone() });
        }
    }
    for (split, s) in splits(data) {
        if s.images.len() != s.len * data.image_len() {
            return Err(ExportError::BadSplit {
                split,
                len: s.len,
                have: s.images.len(),
            });
        }
    }
    Ok(())
}

fn splits(data: &Dataset) -> [(&'static str, &Split); 3] {
    [
        ("train", &data.train),
        ("val", &data.val),
        ("test", &data.test),
    ]
}

fn tasks_txt(data: &Dataset) -> String {
    data.tasks.iter().map(|t| format!("{t}\n")).collect()
}

/// An NPY 1.0 file: magic, version, header length (u16 LE), the header
/// dict padded with spaces to a multiple of 64 bytes and ended by `\n`,
/// then the C-order data.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // 6 magic + 2 version + 2 length bytes precede the header.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    // The header of a few numbers never reaches 65535 bytes.
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(f32::to_le_bytes).collect()
}

/// numpy's fixed-width unicode `<U{L}`: each string as L UTF-32LE code
/// points, zero-padded.
fn unicode_npy(strings: &[String]) -> Vec<u8> {
    let width = strings
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut data = Vec::with_capacity(strings.len() * width * 4);
    for s in strings {
        let n = s.chars().count();
        for c in s.chars() {
            data.extend_from_slice(&u32::from(c).to_le_bytes());
        }
        data.extend(std::iter::repeat_n(0u8, (width - n) * 4));
    }
    npy(&format!("<U{width}"), &[strings.len()], &data)
}

/// The npz archive (keys in the module docs).
pub fn npz(data: &Dataset) -> Result<Vec<u8>, ExportError> {
    let s = data.image_size;
    let t = data.tasks.len();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for (split, sp) in splits(data) {
        let images = f32_bytes(sp.images.iter().map(|&b| f32::from(b) / 255.0));
        entries.push((
            format!("{split}_images.npy"),
            npy("<f4", &[sp.len, 3, s, s], &images),
        ));
        entries.push((
            format!("{split}_labels.npy"),
            npy("<f4", &[sp.len, t], &f32_bytes(sp.labels.iter().copied())),
        ));
    }
    entries.push(("tasks.npy".into(), unicode_npy(&data.tasks)));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(bytes.len() >= u32::MAX as usize);
        zip.start_file(name, options)?;
        zip.write_all(&bytes)
            .map_err(|e| ExportError::Zip(zip::result::ZipError::Io(e)))?;
    }
    Ok(zip.finish()?.into_inner())
}

/// The flat CelebA layout: attribute and partition files and one PNG per
/// image, train then val then test.
pub fn celeba_layout(data: &Dataset) -> Result<Vec<ExportFile>, ExportError> {
    let s = data.image_size;
    let il = data.image_len();
    let t = data.tasks.len();
    let total: usize = splits(data).iter().map(|(_, sp)| sp.len).sum();
    let mut attrs = format!("{total}\n{}\n", data.tasks.join(" "));
    let mut parts = String::new();
    let mut images = Vec::with_capacity(total);
    let mut index = 0;
    for (p, (_, sp)) in splits(data).iter().enumerate() {
        for i in 0..sp.len {
            index += 1;
            let file = format!("{index:06}.png");
            let labels = &sp.labels[i * t..(i + 1) * t];
            attrs.push_str(&file);
            for &v in labels {
                attrs.push_str(if v > 0.5 { " 1" } else { " -1" });
            }
            attrs.push('\n');
            parts.push_str(&format!("{file} {p}\n"));
            let chw = &sp.images[i * il..(i + 1) * il];
            images.push((PathBuf::from(IMAGE_DIR).join(&file), png(chw, s, index)?));
        }
    }
    let mut out = vec![
        (PathBuf::from("list_attr_celeba.txt"), attrs.into_bytes()),
        (PathBuf::from("list_eval_partition.txt"), parts.into_bytes()),
    ];
    out.extend(images);
    Ok(out)
}

/// One channels-first RGB image as PNG bytes.
fn png(chw: &[u8], s: usize, index: usize) -> Result<Vec<u8>, ExportError> {
    use image::ImageEncoder;
    let plane = s * s;
    let mut hwc = vec![0u8; 3 * plane];
    for p in 0..plane {
        for c in 0..3 {
            hwc[3 * p + c] = chw[c * plane + p];
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&hwc, s as u32, s as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| ExportError::Png {
            index,
            reason: e.to_string(),
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let b = npy("<f4", &[2, 3], &[0u8; 24]);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(h.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(h.ends_with('\n'));
        assert_eq!(b.len(), 10 + hl + 24);
        let one = npy("<f4", &[5], &[]);
        let hl = u16::from_le_bytes([one[8], one[9]]) as usize;
        assert!(
            std::str::from_utf8(&one[10..10 + hl])
                .unwrap()
                .contains("'shape': (5,)")
        );
    }

    #[test]
    fn unicode_array_is_utf32_padded() {
        let b = unicode_npy(&["ab".into(), "c".into()]);
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert!(
            std::str::from_utf8(&b[10..10 + hl])
                .unwrap()
                .contains("'descr': '<U2'")
        );
        let d = &b[10 + hl..];
        assert_eq!(d, &[97, 0, 0, 0, 98, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0]);
    }
}
