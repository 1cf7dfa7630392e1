//! The Gram floor of issue 21: for each run given on the command line, the
//! time to read it (checkpoint → importance matrix) and the time of its
//! `T × T` Gram product `I Iᵀ` alone (`analysis::kernels::gram`, the same
//! symmetric product `similarity`, `stability` and `cluster` use), each
//! the median of `REPEATS` products on the matrix already in memory.
//! Prints one line per run and the totals, to set beside the wall time of
//! `capacity` + `stability` + `cluster` on the same runs:
//!
//!     cargo bench --bench gram_floor -- RUN.safetensors... [--repeats N]
//!
//! Without runs (as `cargo bench` runs every bench) it prints its usage.

use std::path::PathBuf;
use std::time::Instant;

use mtl_inspect::analysis::kernels::gram;
use mtl_inspect::runs::{ReadSettings, load};

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut repeats = 3;
    if let Some(i) = args.iter().position(|a| a == "--repeats") {
        repeats = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(3);
        args.drain(i..(i + 2).min(args.len()));
    }
    let runs: Vec<PathBuf> = args.into_iter().map(PathBuf::from).collect();
    if runs.is_empty() {
        println!("usage: cargo bench --bench gram_floor -- RUN.safetensors... [--repeats N]");
        return;
    }
    let (mut read_total, mut gram_total) = (0.0, 0.0);
    for path in &runs {
        let t = Instant::now();
        let run = match load(path, &ReadSettings::default()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        };
        let read = t.elapsed().as_secs_f64();
        let mut times: Vec<f64> = (0..repeats.max(1))
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(gram(run.importance.data()));
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let g = times[times.len() / 2];
        let (t, f) = (run.importance.n_tasks(), run.importance.n_filters());
        println!(
            "{}: {t} x {f}, read {read:.3} s, Gram {g:.3} s (median of {})",
            path.display(),
            times.len()
        );
        read_total += read;
        gram_total += g;
    }
    println!(
        "{} runs: read {read_total:.2} s, Gram products {gram_total:.2} s, together {:.2} s",
        runs.len(),
        read_total + gram_total
    );
}
