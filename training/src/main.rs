//! `mtl-train`: parse and check arguments, load the data, train each seed
//! (progress on stderr), or evaluate or diagnose a checkpoint. Exit codes: 0 ok,
//! 1 input or training error, 2 usage error.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use candle_core::Device;
use clap::Parser;

use mtl_train::checkpoint::LoadedCheckpoint;
use mtl_train::cli::{
    Against, Cli, Command, DiagnoseOutputs, GpuCheckSettings, TrainSettings, UsageError,
};
use mtl_train::data::shapes::{self, ShapesParams};
use mtl_train::data::{Dataset, celeba};
use mtl_train::diagnose::DiagnoseParams;
use mtl_train::metrics::{TaskScore, mean_regression_mse, mean_scores};
use mtl_train::reload;
use mtl_train::sweep::Sweep;
use mtl_train::train::{Progress, RunPaths, evaluate, train_seed};

// candle allocates every activation and gradient afresh; with glibc's
// allocator the large ones are mmap'd and unmapped each step, and page
// faults plus zeroing took more than half of a shapes-cnn step. mimalloc
// keeps freed memory for reuse once purging is off (below).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never hand freed pages back to the OS: a training step frees and
/// re-allocates the same buffers, and returned pages come back as page
/// faults and zeroing (14 155 faults in 4 shapes-cnn steps by default,
/// 760 with this). Memory stays at the process's peak.
fn keep_freed_memory() {
    // SAFETY: sets a plain integer option; called first thing in `main`,
    // before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let command = match cli.command.check() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<UsageError>() {
                eprintln!("error: {u}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn device() -> Result<Device> {
    let tf32 = tf32_from_env()?;
    if cfg!(feature = "cuda") {
        return cuda_device(tf32);
    }
    Ok(Device::Cpu)
}

/// `MTL_TRAIN_TF32=1`: f32 matrix multiplies on CUDA (convolutions
/// included) in TF32, as PyTorch's convolutions run by default. Unset or 0:
/// full f32, candle's default.
fn tf32_from_env() -> Result<bool> {
    match std::env::var("MTL_TRAIN_TF32").as_deref() {
        Err(_) | Ok("0") => Ok(false),
        Ok("1") => Ok(true),
        Ok(other) => {
            Err(UsageError(format!("MTL_TRAIN_TF32 must be 0 or 1, got '{other}'")).into())
        }
    }
}

/// CUDA device 0, with TF32 matrix multiplies or not.
fn cuda_device(tf32: bool) -> Result<Device> {
    let device = Device::new_cuda(0).context(
        "opening CUDA device 0 (needs a GPU and a build with --features cuda: training/scripts/build-cuda.sh)",
    )?;
    candle_core::cuda::set_gemm_reduced_precision_f32(tf32);
    Ok(device)
}

/// `gpucheck`: one step on the CPU's fused kernels and on the other
/// backend, every tensor compared; an error when any differs beyond its
/// tolerance.
fn gpucheck(s: &GpuCheckSettings) -> Result<()> {
    use mtl_train::gpucheck::{Backend, compare_backends};
    let reference = Backend {
        device: Device::Cpu,
        fused: true,
    };
    let other = match s.against {
        // The tolerances assume full f32 on both sides.
        Against::Cuda => Backend {
            device: cuda_device(false)?,
            fused: true,
        },
        Against::CpuUnfused => Backend {
            device: Device::Cpu,
            fused: false,
        },
    };
    let p = &s.params;
    println!(
        "{} {:?} T={} batch {}: {} against {}",
        p.model,
        p.dtype,
        p.tasks,
        p.batch_size,
        reference.label(),
        other.label()
    );
    let rows = compare_backends(p, &reference, &other)?;
    // The Adam step's "diff" is each backend's distance from the expected
    // update, in units of lr (src/gpucheck.rs).
    println!("| norm | stage | tensor | max abs diff | max abs ref | rel | tol | ok |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3e} | {:.3e} | {:.2e} | {:.0e} | {} |",
            r.norm,
            r.stage.name(),
            r.name,
            r.max_abs,
            r.scale,
            r.relative(),
            r.tolerance,
            if r.ok() { "ok" } else { "MISMATCH" }
        );
    }
    let bad = rows.iter().filter(|r| !r.ok()).count();
    if bad > 0 {
        bail!(
            "{bad} of {} tensors differ between {} and {} beyond their tolerance",
            rows.len(),
            reference.label(),
            other.label()
        );
    }
    let tol = mtl_train::gpucheck::Tolerances::for_dtype(p.dtype);
    println!(
        "all {} tensors agree within tolerance (forward {:.0e}, gradients {:.0e}, Adam step {:.0e}·lr)",
        rows.len(),
        tol.forward,
        tol.gradient,
        tol.step
    );
    Ok(())
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Shapes {
            data,
            noises,
            train,
        } => {
            let sweep = Sweep {
                alphas: train.alphas.clone(),
                noises,
                seeds: train.seeds.clone(),
            };
            // One dataset per noise level.
            for noise in &sweep.noises {
                let p = ShapesParams {
                    size_noise: *noise,
                    ..data.clone()
                };
                let dataset = shapes::generate(&p).map_err(|e| UsageError(e.to_string()))?;
                train_all(&dataset, &sweep, *noise, &train)?;
            }
            Ok(())
        }
        Command::ShapesExport { data, dir } => export_shapes(&data, &dir),
        Command::Celeba { dir, limit, train } => {
            eprintln!("loading CelebA from {} …", dir.display());
            let dataset = celeba::load(&dir, limit)?;
            let sweep = Sweep {
                alphas: train.alphas.clone(),
                noises: vec![None],
                seeds: train.seeds.clone(),
            };
            train_all(&dataset, &sweep, None, &train)
        }
        Command::Bench(p) => {
            let times = mtl_train::bench::time_steps(&p, &device()?)?;
            let chunk = match p.task_chunk.filter(|&k| k < p.tasks) {
                Some(k) if p.norm.is_task_specific() => format!(" chunk {k}"),
                _ => String::new(),
            };
            println!(
                "candle{} {} {} T={}{chunk} batch {} image {}: median step {:.1} ms over {} steps ({:.0} img/s)",
                if p.unfused { " (unfused)" } else { "" },
                p.model,
                p.norm,
                p.tasks,
                p.batch_size,
                p.image_size,
                1000.0 * mtl_train::bench::median(&times),
                times.len(),
                p.batch_size as f64 / mtl_train::bench::median(&times).max(1e-9)
            );
            Ok(())
        }
        Command::Eval {
            checkpoint,
            data,
            test_split,
            batch_size,
            limit,
        } => eval(&checkpoint, data.as_deref(), test_split, batch_size, limit),
        Command::Diagnose { params, out } => diagnose(&params, &out),
        Command::Gpucheck(s) => gpucheck(&s),
    }
}

/// `shapes --export DIR`: generates the data and writes its files (the
/// folder was checked to be new or empty).
fn export_shapes(p: &ShapesParams, dir: &Path) -> Result<()> {
    let dataset = shapes::generate(p).map_err(|e| UsageError(e.to_string()))?;
    let files = mtl_train::data::export::files(&dataset).map_err(|e| UsageError(e.to_string()))?;
    for (rel, bytes) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating export folder {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "wrote {} tasks, {}/{}/{} train/val/test images of {}×{} to {} ({} files: {}, tasks.txt, CelebA layout)",
        dataset.tasks.len(),
        dataset.train.len,
        dataset.val.len,
        dataset.test.len,
        dataset.image_size,
        dataset.image_size,
        dir.display(),
        files.len(),
        mtl_train::data::export::NPZ_NAME
    );
    Ok(())
}

fn diagnose(p: &DiagnoseParams, out: &DiagnoseOutputs) -> Result<()> {
    use mtl_train::diagnose::{DiagnoseProgress, report};
    let device = device()?;
    let tty = std::io::stderr().is_terminal();
    let mut on_progress = |pr: DiagnoseProgress| {
        if !tty {
            return;
        }
        let (what, done, total) = match pr {
            DiagnoseProgress::Gradients { done, total } => ("gradients  ", done, total),
            DiagnoseProgress::Evaluations { done, total } => ("evaluations", done, total),
        };
        let width = 30;
        let filled = done * width / total.max(1);
        eprint!(
            "\r{what} [{}{}] {done}/{total}   ",
            "#".repeat(filled),
            "-".repeat(width - filled)
        );
        if done == total {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    };
    let d = mtl_train::diagnose::run(p, &device, &mut on_progress)
        .with_context(|| format!("diagnosing {}", p.checkpoint.display()))?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let csv = report::CsvNames {
        conflict: name(&out.conflict_csv),
        tasks: name(&out.tasks_csv),
    };
    let json = report::render_json(&report::to_json(&d, &csv));
    for (path, body) in [
        (&out.json, json),
        (&out.conflict_csv, report::conflict_csv(&d)),
        (&out.tasks_csv, report::tasks_csv(&d)),
    ] {
        std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "wrote {}, {} and {}",
        out.json.display(),
        out.conflict_csv.display(),
        out.tasks_csv.display()
    );
    Ok(())
}

/// Trains the runs of `sweep` whose noise level is `noise` on `dataset`.
fn train_all(
    dataset: &Dataset,
    sweep: &Sweep,
    noise: Option<f64>,
    s: &TrainSettings,
) -> Result<()> {
    std::fs::create_dir_all(&s.out)
        .with_context(|| format!("creating output folder {}", s.out.display()))?;
    let device = device()?;
    let tty = std::io::stderr().is_terminal();
    for run in sweep.runs().into_iter().filter(|r| r.noise == noise) {
        let seed = run.seed;
        let label = sweep.label(&run);
        let params = mtl_train::train::TrainParams {
            alpha: run.alpha,
            sweep: sweep.varying(&run),
            ..s.params.clone()
        };
        let paths = RunPaths::labelled(&s.out, &dataset.name, params.norm, &label, seed);
        let resume = (s.resume && paths.last.exists()).then_some(paths.last.as_path());
        if let Some(r) = resume {
            eprintln!("seed {seed}: resuming from {}", r.display());
        }
        let who = if label.is_empty() {
            format!("seed {seed}")
        } else {
            format!("{label} seed {seed}")
        };
        let mut on_progress = |p: Progress| match p {
            Progress::Step {
                epoch,
                epochs,
                step,
                steps,
                loss,
                images_per_sec,
            } if tty && !s.quiet => {
                let width = 30;
                let done = step * width / steps.max(1);
                eprint!(
                    "\r{who} epoch {epoch}/{epochs} [{}{}] {step}/{steps} loss {loss:.4} {images_per_sec:.0} img/s   ",
                    "#".repeat(done),
                    "-".repeat(width - done)
                );
                let _ = std::io::stderr().flush();
            }
            Progress::Step { .. } => {}
            Progress::Epoch(r) if !s.quiet => {
                if tty {
                    eprintln!();
                }
                let mse = r
                    .val_regression_mse
                    .map(|m| format!(", val size MSE {m:.4}"))
                    .unwrap_or_default();
                eprintln!(
                    "{who} epoch {}: train loss {:.4}, val loss {:.4}, val mean F1 {:.4}, acc {:.4}{mse}, {:.0} img/s, {:.1}s",
                    r.epoch,
                    r.train_loss,
                    r.val_loss,
                    r.val_f1,
                    r.val_accuracy,
                    r.images_per_sec,
                    r.seconds
                );
            }
            Progress::Epoch(_) => {}
        };
        let summary = train_seed(
            dataset,
            &params,
            seed,
            &paths,
            resume,
            &device,
            &mut on_progress,
        )
        .with_context(|| format!("training {who}"))?;
        let test = mean_scores(&summary.test);
        let mse = mean_regression_mse(&summary.test)
            .map(|m| format!("\ttest size MSE {m:.4}"))
            .unwrap_or_default();
        println!(
            "{}\t{who}\tbest epoch {}\ttest mean F1 {:.4}\taccuracy {:.4}{mse}\t{:.1}s",
            summary.checkpoint.display(),
            summary.best_epoch,
            test.f1,
            test.accuracy,
            summary.seconds
        );
    }
    Ok(())
}

fn eval(
    path: &Path,
    data: Option<&Path>,
    test_split: bool,
    batch_size: usize,
    limit: Option<usize>,
) -> Result<()> {
    let device = device()?;
    let ckpt = LoadedCheckpoint::open(path, &device)?;
    let (model, norm) = reload::model_and_norm(&ckpt)?;
    let dataset = reload::dataset(&ckpt, None, data, limit)?;
    let m = reload::model(&ckpt, model, norm, dataset.tasks.len(), &device)?;
    let tasks = dataset.tasks.clone();
    let split = if test_split {
        &dataset.test
    } else {
        &dataset.val
    };
    let (loss, scores) = evaluate(&m, &dataset, split, batch_size)?;
    println!("task\tf1\taccuracy");
    for (t, s) in tasks.iter().zip(&scores) {
        if let TaskScore::Binary { f1, accuracy } = s {
            println!("{t}\t{f1:.4}\t{accuracy:.4}");
        }
    }
    let mean = mean_scores(&scores);
    println!("mean\t{:.4}\t{:.4}", mean.f1, mean.accuracy);
    // Regression tasks have no F1; the mean above leaves them out.
    let regression: Vec<_> = tasks
        .iter()
        .zip(&scores)
        .filter_map(|(t, s)| match s {
            TaskScore::Regression { mse, r2 } => Some((t, mse, r2)),
            TaskScore::Binary { .. } => None,
        })
        .collect();
    if !regression.is_empty() {
        println!("task\tmse\tr2");
        for (t, mse, r2) in regression {
            println!("{t}\t{mse:.4}\t{r2:.4}");
        }
    }
    eprintln!("loss {loss:.4} on {} samples", split.len);
    Ok(())
}
