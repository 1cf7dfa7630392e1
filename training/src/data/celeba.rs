//! CelebA from disk (the 40-attribute benchmark of paper §6, App. F.1), in
//! either common layout:
//!
//! ```text
//! DIR/Anno/list_attr_celeba.txt  DIR/Eval/list_eval_partition.txt  DIR/Img/img_align_celeba/*.jpg
//! DIR/list_attr_celeba.txt       DIR/list_eval_partition.txt       DIR/img_align_celeba/*.jpg
//! ```
//!
//! Labels may be ±1 or 0/1; partitions 0/1/2 are train/val/test and the two
//! files' rows must name the same images in the same order. Images are
//! decoded and resized to 64×64 in parallel, without normalisation (the
//! FAMO/FairGrad setup).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rayon::prelude::*;

use super::{Dataset, Split};

pub const IMAGE_SIZE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum CelebaError {
    #[error(
        "no CelebA annotations in {}: expected Anno/list_attr_celeba.txt (official layout) or list_attr_celeba.txt (flat layout)",
        dir.display()
    )]
    NotFound { dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {reason}", path.display())]
    BadRow {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(
        "{} and {} disagree at row {row}: '{attr}' vs '{part}'; the two files must list the same images in the same order",
        attr_path.display(), part_path.display()
    )]
    Mismatch {
        attr_path: PathBuf,
        part_path: PathBuf,
        row: usize,
        attr: String,
        part: String,
    },
    #[error("cannot decode image {}: {reason}", path.display())]
    Image { path: PathBuf, reason: String },
    #[error("CelebA split '{split}' is empty in {}", dir.display())]
    EmptySplit { dir: PathBuf, split: &'static str },
}

/// The three files' paths.
#[derive(Debug, Clone, PartialEq)]
pub struct CelebaLayout {
    pub attrs: PathBuf,
    pub partition: PathBuf,
    pub images: PathBuf,
}

impl CelebaLayout {
    pub fn detect(dir: &Path) -> Result<Self, CelebaError> {
        let nested = CelebaLayout {
            attrs: dir.join("Anno").join("list_attr_celeba.txt"),
            partition: dir.join("Eval").join("list_eval_partition.txt"),
            images: dir.join("Img").join("img_align_celeba"),
        };
        let flat = CelebaLayout {
            attrs: dir.join("list_attr_celeba.txt"),
            partition: dir.join("list_eval_partition.txt"),
            images: dir.join("img_align_celeba"),
        };
        for layout in [nested, flat] {
            if layout.attrs.is_file() {
                return Ok(layout);
            }
        }
        Err(CelebaError::NotFound {
            dir: dir.to_path_buf(),
        })
    }
}

fn read(path: &Path) -> Result<String, CelebaError> {
    std::fs::read_to_string(path).map_err(|source| CelebaError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Rows of the attribute file: `(image file, labels in {0, 1})`.
pub type AttributeRows = Vec<(String, Vec<u8>)>;

/// Attribute names and rows.
pub fn parse_attributes(path: &Path) -> Result<(Vec<String>, AttributeRows), CelebaError> {
    let text = read(path)?;
    let bad = |line: usize, reason: String| CelebaError::BadRow {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, count) = lines
        .next()
        .ok_or_else(|| bad(1, "empty file; expected the image count".into()))?;
    let count: usize = count.trim().parse().map_err(|_| {
        bad(
            1,
            format!("expected the image count, found '{}'", count.trim()),
        )
    })?;
    let (_, header) = lines
        .next()
        .ok_or_else(|| bad(2, "missing the attribute-name line".into()))?;
    let names: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let mut rows = Vec::with_capacity(count);
    for (i, line) in lines {
        let mut fields = line.split_whitespace();
        let file = fields.next().unwrap_or_default().to_string();
        let mut labels = Vec::with_capacity(names.len());
        for f in fields {
            labels.push(match f {
                "1" => 1,
                "-1" | "0" => 0,
                other => {
                    return Err(bad(
                        i + 1,
                        format!("label '{other}' for {file}; expected 1, -1 or 0"),
                    ));
                }
            });
        }
        if labels.len() != names.len() {
            return Err(bad(
                i + 1,
                format!(
                    "{} labels for {file}, but the header names {} attributes",
                    labels.len(),
                    names.len()
                ),
            ));
        }
        rows.push((file, labels));
    }
    if rows.len() != count {
        return Err(bad(
            1,
            format!(
                "the header announces {count} images but {} rows follow",
                rows.len()
            ),
        ));
    }
    Ok((names, rows))
}

/// Rows `(file, partition)`.
pub fn parse_partition(path: &Path) -> Result<Vec<(String, u8)>, CelebaError> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(file), Some(p), None) = (f.next(), f.next(), f.next()) else {
            return Err(CelebaError::BadRow {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("expected '<file> <0|1|2>', found '{line}'"),
            });
        };
        let p = match p {
            "0" => 0,
            "1" => 1,
            "2" => 2,
            other => {
                return Err(CelebaError::BadRow {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: format!("partition '{other}'; expected 0 (train), 1 (val) or 2 (test)"),
                });
            }
        };
        rows.push((file.to_string(), p));
    }
    Ok(rows)
}

/// Decodes one image to 64×64 RGB bytes, channels first.
fn load_image(path: &Path) -> Result<Vec<u8>, CelebaError> {
    let img = image::open(path).map_err(|e| CelebaError::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let rgb = image::imageops::resize(
        &img.to_rgb8(),
        IMAGE_SIZE as u32,
        IMAGE_SIZE as u32,
        FilterType::Triangle,
    );
    let s = IMAGE_SIZE * IMAGE_SIZE;
    let mut out = vec![0u8; 3 * s];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * s + i] = px.0[c];
        }
    }
    Ok(out)
}

/// Loads CelebA from `dir`, at most `limit` images per split.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Dataset, CelebaError> {
    let layout = CelebaLayout::detect(dir)?;
    let (names, attrs) = parse_attributes(&layout.attrs)?;
    let parts = parse_partition(&layout.partition)?;
    if parts.len() != attrs.len() {
        return Err(CelebaError::Mismatch {
            attr_path: layout.attrs.clone(),
            part_path: layout.partition.clone(),
            row: attrs.len().min(parts.len()) + 1,
            attr: format!("{} rows", attrs.len()),
            part: format!("{} rows", parts.len()),
        });
    }
    let mut members: [Vec<usize>; 3] = Default::default();
    for (row, ((af, _), (pf, p))) in attrs.iter().zip(&parts).enumerate() {
        if af != pf {
            return Err(CelebaError::Mismatch {
                attr_path: layout.attrs.clone(),
                part_path: layout.partition.clone(),
                row: row + 1,
                attr: af.clone(),
                part: pf.clone(),
            });
        }
        let m = &mut members[usize::from(*p)];
        if limit.is_none_or(|l| m.len() < l) {
            m.push(row);
        }
    }
    let t = names.len();
    let load_split = |rows: &[usize], split: &'static str| -> Result<Split, CelebaError> {
        if rows.is_empty() {
            return Err(CelebaError::EmptySplit {
                dir: dir.to_path_buf(),
                split,
            });
        }
        let images: Vec<Vec<u8>> = rows
            .par_iter()
            .map(|&r| load_image(&layout.images.join(&attrs[r].0)))
            .collect::<Result<_, _>>()?;
        let mut labels = Vec::with_capacity(rows.len() * t);
        for &r in rows {
            labels.extend(attrs[r].1.iter().map(|&v| f32::from(v)));
        }
        Ok(Split {
            images: images.concat(),
            labels,
            len: rows.len(),
        })
    };
    let [train, val, test] = &members;
    let mut provenance = BTreeMap::new();
    provenance.insert("dir".into(), dir.display().to_string());
    if let Some(l) = limit {
        provenance.insert("limit".into(), l.to_string());
    }
    Ok(Dataset {
        name: "celeba".into(),
        kinds: vec![super::TaskKind::Binary; names.len()],
        tasks: names,
        image_size: IMAGE_SIZE,
        train: load_split(train, "train")?,
        val: load_split(val, "val")?,
        test: load_split(test, "test")?,
        provenance,
    })
}
