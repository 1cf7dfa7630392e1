//! No file crashes the reader: mutated copies of the PyTorch corpus
//! (`fixtures/torch/`) go through the whole reading path (format sniffing,
//! zip directory, pickle machine, tensor views, discovery, importance), and
//! mutated `data.pkl` pickles go straight through the pickle machine. Every
//! input must end in `Ok` or an error — a panic fails the test.
//!
//! A short run is part of `cargo test`; the long one is by hand:
//! `MTL_FUZZ_FILES=200000 MTL_FUZZ_PICKLES=1000000 cargo test --release --test reader_fuzz -- --ignored`.

mod common;

use std::io::Read;

use common::fixture;
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DiscoverParams, discover_gates};
use mtl_inspect::checkpoint::format::pickle::{self, PersistentIds};
use mtl_inspect::importance::from_gates::ImportanceParams;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn corpus_files() -> Vec<Vec<u8>> {
    let dir = fixture("torch");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["pt", "pth", "ckpt", "safetensors", "pkl"].contains(&e))
        })
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The `data.pkl` of every zip in the corpus.
fn corpus_pickles(files: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files {
        let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(&f[..])) else {
            continue;
        };
        for i in 0..z.len() {
            let mut e = z.by_index(i).unwrap();
            if e.name().ends_with("data.pkl") {
                let mut b = Vec::new();
                e.read_to_end(&mut b).unwrap();
                out.push(b);
            }
        }
    }
    out
}

fn mutate(rng: &mut Xoshiro256PlusPlus, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    let edits = 1 + rng.gen_range(0..4);
    for _ in 0..edits {
        if b.is_empty() {
            b.push(rng.r#gen());
            continue;
        }
        let at = rng.gen_range(0..b.len());
        match rng.gen_range(0..7) {
            0 => b[at] = rng.r#gen(),
            1 => b[at] ^= 1 << rng.gen_range(0..8),
            2 => b.truncate(at),
            3 => {
                let n = rng.gen_range(1..16).min(b.len() - at);
                b.drain(at..at + n);
            }
            4 => {
                let v: u8 = rng.r#gen();
                for _ in 0..rng.gen_range(1..8) {
                    b.insert(at, v);
                }
            }
            5 => {
                // Interesting integers: lengths and counts at their extremes.
                let v: [u8; 4] = [0xff, 0xff, 0xff, 0x7f];
                for (k, x) in v.iter().enumerate() {
                    if at + k < b.len() {
                        b[at + k] = *x;
                    }
                }
            }
            _ => {
                // Copy a chunk from elsewhere in the file.
                let from = rng.gen_range(0..b.len());
                let n = rng.gen_range(1..32).min(b.len() - from);
                let chunk = b[from..from + n].to_vec();
                let at = at.min(b.len());
                b.splice(at..at, chunk);
            }
        }
    }
    b
}

fn read_all_the_way(path: &std::path::Path) {
    if let Ok(c) = Checkpoint::open(path)
        && let Ok(g) = discover_gates(&c, &DiscoverParams::default())
    {
        let _ = g.importance(&ImportanceParams::default());
        let _ = g.importance(&ImportanceParams {
            gate: Some(mtl_inspect::GateKind::Abs),
            allow_nonfinite: true,
        });
    }
}

fn fuzz(files_n: usize, pickles_n: usize, seed: u64) -> (usize, usize) {
    let files = corpus_files();
    let pickles = corpus_pickles(&files);
    assert!(files.len() >= 20 && pickles.len() >= 15);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt");
    for _ in 0..files_n {
        let src = &files[rng.gen_range(0..files.len())];
        std::fs::write(&path, mutate(&mut rng, src)).unwrap();
        read_all_the_way(&path);
    }
    for _ in 0..pickles_n {
        let src = &pickles[rng.gen_range(0..pickles.len())];
        let m = mutate(&mut rng, src);
        let _ = pickle::load(&m, PersistentIds::TorchStorage);
        let _ = pickle::load(&m, PersistentIds::None);
    }
    (files_n, pickles_n)
}

#[test]
fn mutated_corpus_files_never_crash_the_reader() {
    fuzz(1_500, 30_000, 1);
}

#[test]
#[ignore = "long fuzz run; see the module docs"]
fn mutated_corpus_files_never_crash_the_reader_long() {
    let n = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let seed = n("MTL_FUZZ_SEED", 7) as u64;
    let (f, p) = fuzz(
        n("MTL_FUZZ_FILES", 100_000),
        n("MTL_FUZZ_PICKLES", 1_000_000),
        seed,
    );
    eprintln!("fuzzed {f} mutated files and {p} mutated pickles (seed {seed}): no panic");
}
