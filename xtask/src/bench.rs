//! `cargo xtask bench cache`: times a cold run of an experiment against its no-op re-run.
//!
//! Both are measured as whole processes of this same binary, alternating, each cold run on
//! a fresh empty cache and each re-run on the cache the cold run filled. The command prints
//! the medians side by side with their ratio.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

/// Arguments of `bench cache`.
#[derive(Debug, clap::Args)]
pub struct CacheBenchArgs {
    /// The experiment file to time.
    #[arg(default_value = "configs/fraud.toml")]
    pub config: PathBuf,
    /// Directory holding the dataset files.
    #[arg(long, env = "ANOMALY_DATA_DIR", default_value = ingest::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Timed repetitions of each kind of run.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// Runs the benchmark and prints its table.
pub fn cache(args: &CacheBenchArgs) -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("cannot find the running binary")?;
    let scratch = std::env::temp_dir().join(format!("anomaly-bench-{}", std::process::id()));
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut stages = 0;
    let mut trials = 0;
    for round in 0..args.runs.max(1) {
        let work = scratch.join(format!("round-{round}"));
        let run = |label: &str| -> anyhow::Result<(f64, serde_json::Value)> {
            let started = Instant::now();
            let output = Command::new(&binary)
                .arg("experiment")
                .arg(&args.config)
                .arg("--data-dir")
                .arg(&args.data_dir)
                .arg("--runs-dir")
                .arg(work.join("runs"))
                .arg("--cache-dir")
                .arg(work.join("cache"))
                .arg("--json")
                .output()
                .context("cannot start the experiment")?;
            let seconds = started.elapsed().as_secs_f64();
            anyhow::ensure!(
                output.status.success(),
                "the {label} run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Ok((seconds, serde_json::from_slice(&output.stdout)?))
        };
        let (seconds, summary) = run("cold")?;
        cold.push(seconds);
        let ran = count_status(&summary, "ran");
        stages = summary["stages"].as_array().map_or(0, Vec::len);
        trials = summary["trials"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(ran == stages, "the cold run reused {} cached stages", stages - ran);

        let (seconds, summary) = run("no-op")?;
        warm.push(seconds);
        anyhow::ensure!(
            count_status(&summary, "cached") == stages,
            "the re-run computed stages again"
        );
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove {}", work.display()))?;
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let mut out = std::io::stdout().lock();
    let cold_median = median(&mut cold);
    let warm_median = median(&mut warm);
    writeln!(
        out,
        "experiment {} ({stages} stages, {trials} trials), {} runs each",
        args.config.display(),
        args.runs
    )?;
    writeln!(out, "{:<32} {:>10} {:>10} {:>10}", "whole process", "median s", "min s", "max s")?;
    for (label, times, middle) in [
        ("cold run (empty cache)", &cold, cold_median),
        ("no-op re-run (all cached)", &warm, warm_median),
    ] {
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        let max = times.iter().copied().fold(0.0, f64::max);
        writeln!(out, "{label:<32} {middle:>10.3} {min:>10.3} {max:>10.3}")?;
    }
    writeln!(out, "{:<32} {:>10.1}x", "cold / no-op", cold_median / warm_median)?;
    Ok(())
}

fn count_status(summary: &serde_json::Value, status: &str) -> usize {
    summary["stages"]
        .as_array()
        .map_or(0, |stages| stages.iter().filter(|s| s["status"] == status).count())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}
