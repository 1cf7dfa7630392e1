//! Render benchmark: the report for the seven committed CelebA-shaped runs
//! (40 tasks × 2880 filters each). The analyses run once, untimed apart
//! from a single reported figure; `build_report` (every SVG, CSV and the
//! page) is timed over several repetitions.
//!
//!     cargo bench --bench report_render
//!
//! Prints the median and minimum render time and the size of index.html.

#[path = "../tests/report_data/mod.rs"]
mod report_data;

use std::time::Instant;

use mtl_inspect::report::build_report;

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let t = Instant::now();
    let runs = report_data::celeba_runs(7);
    let load = t.elapsed();
    let t = Instant::now();
    let inputs = report_data::inputs(&runs, 10, true);
    let analyses = t.elapsed();
    let mut times = Vec::new();
    let mut html = 0;
    let mut total = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let files = build_report(&inputs).expect("report");
        times.push(t.elapsed().as_secs_f64());
        html = files
            .iter()
            .find(|(n, _)| n == "index.html")
            .map_or(0, |(_, b)| b.len());
        total = files.iter().map(|(_, b)| b.len()).sum::<usize>();
    }
    times.sort_by(f64::total_cmp);
    println!("load 7 checkpoints:      {:8.3} s", load.as_secs_f64());
    println!("analyses (once):         {:8.3} s", analyses.as_secs_f64());
    println!(
        "build_report median of 7: {:7.3} s (min {:.3} s)",
        times[times.len() / 2],
        times[0]
    );
    println!(
        "index.html: {:.2} MB; all files: {:.2} MB",
        html as f64 / 1e6,
        total as f64 / 1e6
    );
}
