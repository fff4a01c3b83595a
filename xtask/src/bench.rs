//! `cargo xtask bench`: speed and quality benchmarks.
//!
//! `bench` (or `bench all`) runs every speed measurement against the Python reference (module
//! `speed`). `bench quality` prints the detection-quality table. `bench cache` times a cold
//! run of an experiment against its no-op re-run: both are measured as whole processes of this same binary, alternating, each cold run on
//! a fresh empty cache and each re-run on the cache the cold run filled. The command prints
//! the medians side by side with their ratio.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

mod process;
mod speed;
mod worker;

pub use speed::{SpeedArgs, run as speed, setup};
pub use worker::{WorkerCommand, run as worker};

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
    let result = time_runs(args, &binary, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Alternates cold runs and no-op re-runs under `scratch` and prints the table.
fn time_runs(
    args: &CacheBenchArgs,
    binary: &std::path::Path,
    scratch: &std::path::Path,
) -> anyhow::Result<()> {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut stages = 0;
    let mut trials = 0;
    for round in 0..args.runs.max(1) {
        let work = scratch.join(format!("round-{round}"));
        let run = |label: &str| -> anyhow::Result<(f64, serde_json::Value)> {
            let started = Instant::now();
            let output = Command::new(binary)
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

/// Arguments of `bench quality`.
#[derive(Debug, clap::Args)]
pub struct QualityArgs {
    /// Directory holding the dataset files.
    #[arg(long, env = "ANOMALY_DATA_DIR", default_value = ingest::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Directory of the stage cache; stages already computed are reused.
    #[arg(long, env = "ANOMALY_CACHE_DIR", default_value = ".cache")]
    pub cache_dir: PathBuf,
    /// Parent directory of the runs.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

/// One trial of a quality run, as read from the JSON summary.
struct QualityTrial {
    name: String,
    stage: String,
    model: String,
    dataset: Option<String>,
    validation_ap: f64,
    metrics: serde_json::Value,
}

impl QualityTrial {
    fn metric(&self, key: &str) -> f64 {
        self.metrics[key].as_f64().unwrap_or(f64::NAN)
    }
}

/// The condition a quality target sets on a metric.
enum Goal {
    /// No target: the value is reported.
    Reported,
    /// At least this value.
    AtLeast(f64),
    /// Within 0.02 of a published figure.
    Near(f64),
}

/// One row of the quality table.
struct Target<'a> {
    benchmark: &'static str,
    detector: &'static str,
    metric: &'static str,
    goal: Goal,
    trial: Option<&'a QualityTrial>,
}

impl<'a> Target<'a> {
    fn at_least(
        benchmark: &'static str,
        detector: &'static str,
        metric: &'static str,
        value: f64,
        trial: Option<&'a QualityTrial>,
    ) -> Self {
        Target { benchmark, detector, metric, goal: Goal::AtLeast(value), trial }
    }

    fn reported(
        benchmark: &'static str,
        detector: &'static str,
        metric: &'static str,
        trial: Option<&'a QualityTrial>,
    ) -> Self {
        Target { benchmark, detector, metric, goal: Goal::Reported, trial }
    }

    fn near(
        benchmark: &'static str,
        detector: &'static str,
        published: f64,
        trial: Option<&'a QualityTrial>,
    ) -> Self {
        Target { benchmark, detector, metric: "roc_auc", goal: Goal::Near(published), trial }
    }

    fn met(&self, value: f64) -> bool {
        match self.goal {
            Goal::Reported => true,
            Goal::AtLeast(bound) => value >= bound,
            Goal::Near(published) => (value - published).abs() <= 0.02,
        }
    }

    fn describe(&self) -> String {
        match self.goal {
            Goal::Reported => "reported".into(),
            Goal::AtLeast(bound) => format!(">= {bound:.2}"),
            Goal::Near(published) => format!("{published} ± 0.02 (PyOD)"),
        }
    }
}

/// Runs `configs/intrusion.toml` and `configs/odds.toml` and prints the quality table as
/// Markdown: each target with the value reached, then every trial.
///
/// Where several trials compete for a target (a sweep, or several deep detectors), the one
/// with the best validation average precision is chosen, so the test split never picks.
pub fn quality(args: &QualityArgs) -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("cannot find the running binary")?;
    let mut trials = Vec::new();
    let mut runs = Vec::new();
    for config in ["configs/intrusion.toml", "configs/odds.toml"] {
        let output = Command::new(&binary)
            .arg("experiment")
            .arg(config)
            .arg("--data-dir")
            .arg(&args.data_dir)
            .arg("--cache-dir")
            .arg(&args.cache_dir)
            .arg("--runs-dir")
            .arg(&args.runs_dir)
            .arg("--json")
            .output()
            .context("cannot start the experiment")?;
        anyhow::ensure!(
            output.status.success(),
            "{config} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        runs.push(format!("{config}: {}", summary["run_dir"].as_str().unwrap_or("?")));
        for trial in summary["trials"].as_array().into_iter().flatten() {
            trials.push(QualityTrial {
                name: trial["name"].as_str().unwrap_or_default().to_string(),
                stage: trial["stage"].as_str().unwrap_or_default().to_string(),
                model: trial["model"].as_str().unwrap_or_default().to_string(),
                dataset: trial["varied"]["data.dataset"].as_str().map(str::to_string),
                validation_ap: trial["validation_average_precision"]
                    .as_f64()
                    .unwrap_or(f64::NEG_INFINITY),
                metrics: trial["metrics"].clone(),
            });
        }
    }

    let best = |filter: &dyn Fn(&QualityTrial) -> bool| -> Option<&QualityTrial> {
        trials
            .iter()
            .filter(|t| filter(t))
            .max_by(|a, b| a.validation_ap.total_cmp(&b.validation_ap))
    };
    let deep = ["autoencoder", "vae", "deep_svdd"];
    let odds = |name: &'static str| move |t: &QualityTrial| t.dataset.as_deref() == Some(name);
    let cardio = |t: &QualityTrial| odds("odds-cardio")(t);
    let shuttle = |t: &QualityTrial| odds("odds-shuttle")(t);
    let thyroid = |t: &QualityTrial| odds("odds-thyroid")(t);
    let is_deep = |t: &QualityTrial| deep.contains(&t.model.as_str());
    let targets = [
        Target::at_least(
            "KDD Cup 99 10 %, DAGMM protocol",
            "autoencoder",
            "f1",
            0.94,
            best(&|t| t.stage == "dagmm-autoencoder"),
        ),
        Target::at_least(
            "NSL-KDD, KDDTrain+ to KDDTest+",
            "autoencoder",
            "roc_auc",
            0.90,
            best(&|t| t.stage == "nsl-autoencoder"),
        ),
        Target::reported(
            "NSL-KDD, KDDTrain+ to KDDTest+",
            "mlp (supervised)",
            "roc_auc",
            best(&|t| t.stage == "nsl-mlp"),
        ),
        Target::reported(
            "KDD Cup 99, 10 % to corrected",
            "autoencoder",
            "roc_auc",
            best(&|t| t.stage == "kdd-autoencoder"),
        ),
        Target::at_least(
            "ODDS cardio",
            "best deep detector",
            "roc_auc",
            0.93,
            best(&|t| cardio(t) && is_deep(t)),
        ),
        Target::at_least(
            "ODDS shuttle",
            "best deep detector",
            "roc_auc",
            0.97,
            best(&|t| shuttle(t) && is_deep(t)),
        ),
        Target::reported(
            "ODDS thyroid",
            "best deep detector",
            "roc_auc",
            best(&|t| thyroid(t) && is_deep(t)),
        ),
        Target::near(
            "ODDS cardio",
            "isolation forest",
            0.92,
            best(&|t| cardio(t) && t.model == "isolation_forest"),
        ),
        Target::near(
            "ODDS shuttle",
            "isolation forest",
            0.997,
            best(&|t| shuttle(t) && t.model == "isolation_forest"),
        ),
    ];

    let mut out = std::io::stdout().lock();
    writeln!(out, "| benchmark | detector | test metric | value | target | met |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for target in &targets {
        let Target { benchmark, detector, metric, trial, .. } = target;
        let Some(trial) = trial else {
            writeln!(
                out,
                "| {benchmark} | {detector} | {metric} | no trial | {} | no |",
                target.describe()
            )?;
            continue;
        };
        let value = trial.metric(metric);
        let met = match target.goal {
            Goal::Reported => "-",
            _ if target.met(value) => "yes",
            _ => "no",
        };
        writeln!(
            out,
            "| {benchmark} | {detector} (`{}`) | {metric} | {value:.4} | {} | {met} |",
            trial.name,
            target.describe()
        )?;
    }

    writeln!(out, "\nEvery trial (test split):\n")?;
    writeln!(
        out,
        "| data | trial | detector | ROC-AUC | average precision | F1 | validation AP |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for trial in &trials {
        let run = trial.dataset.as_deref().unwrap_or("intrusion");
        writeln!(
            out,
            "| {run} | `{}` | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
            trial.name,
            trial.model,
            trial.metric("roc_auc"),
            trial.metric("average_precision"),
            trial.metric("f1"),
            trial.validation_ap
        )?;
    }
    writeln!(out, "\nRuns: {}", runs.join("; "))?;
    Ok(())
}
