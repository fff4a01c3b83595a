//! `cargo xtask bench` (or `bench all`): every speed measurement against its Python
//! reference, in one invocation.
//!
//! Each measurement runs the Rust side and the reference as separate processes, alternating
//! (the side that goes first rotates every round), `--runs` times each. Throughputs are timed
//! inside each process around the measured work only, so interpreter start-up and imports
//! are excluded from them. Whole-process wall time, CPU time and peak memory come from
//! `wait4` and are reported separately. The table shows medians.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::process::{Measured, measure};

/// The virtual environment of the Python reference, relative to the repository root.
pub const VENV: &str = "bench/.venv";
/// The reference script, relative to the repository root.
const REFERENCE: &str = "bench/reference.py";
/// The experiment whose data the training, scoring and ingest measurements use.
const KDD_CONFIG: &str = "bench/kdd.toml";
/// The end-to-end experiment.
const FRAUD_CONFIG: &str = "configs/fraud.toml";

/// Arguments of `bench` and `bench all`.
#[derive(Debug, Clone, clap::Args)]
pub struct SpeedArgs {
    /// Directory holding the dataset files.
    #[arg(long, env = "ANOMALY_DATA_DIR", default_value = ingest::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Timed runs of each side of each measurement.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Training epochs per timed run.
    #[arg(long, default_value_t = 2)]
    pub epochs: u32,
    /// Measurements to run (default: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Section>,
    /// A quick check that every measurement runs: one run each, one epoch, the fraud sample
    /// as training data, and no Python side unless its environment already exists.
    #[arg(long)]
    pub smoke: bool,
    /// Do not create the Python environment when it is missing; skip the reference instead.
    #[arg(long)]
    pub no_setup: bool,
    /// Run only our side, even when the Python environment exists.
    #[arg(long)]
    pub no_reference: bool,
    /// The device of the training and scoring measurements, for both sides: `cpu`, `cuda`
    /// or `cuda:N` (needs a binary built with CUDA and PyTorch with CUDA).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The Python interpreter of the reference, such as a system Python that already has
    /// PyTorch, instead of the environment in `bench/.venv`.
    #[arg(long)]
    pub python: Option<PathBuf>,
}

/// One group of measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Training throughput of the MLP and the autoencoder.
    Train,
    /// Scoring throughput of the same models.
    Score,
    /// KDD Cup 1999 10 % from gzip CSV to Parquet.
    Ingest,
    /// The fraud experiment end to end, and its sweep throughput.
    Fraud,
    /// The no-op cached re-run.
    Cache,
}

/// Medians of one side of a measurement.
#[derive(Debug, Clone, Default)]
struct Side {
    /// The in-process throughput of each run (rows per second) or its seconds.
    values: Vec<f64>,
    wall: Vec<f64>,
    cpu: Vec<f64>,
    peak_mib: Vec<f64>,
}

impl Side {
    fn push(&mut self, value: f64, measured: &Measured) {
        self.values.push(value);
        self.wall.push(measured.wall);
        self.cpu.push(measured.cpu);
        self.peak_mib.push(measured.peak_mib);
    }
}

/// A comparison line of the main table.
struct Comparison {
    name: String,
    unit: &'static str,
    ours: Side,
    /// The reference as the targets define it: PyTorch with 2 threads, pyarrow, pandas.
    reference: Option<Side>,
    /// PyTorch with 1 thread, for the measurements where that is faster on small models.
    reference_one_thread: Option<Side>,
    /// When set, smaller values are better (seconds) and the speed-up is reference/ours.
    lower_is_better: bool,
    target: Option<f64>,
}

impl Comparison {
    fn speedup(&self) -> Option<f64> {
        self.speedup_over(self.reference.as_ref()?)
    }

    fn speedup_over(&self, reference: &Side) -> Option<f64> {
        let ours = median(&self.ours.values);
        let theirs = median(&reference.values);
        Some(if self.lower_is_better { theirs / ours } else { ours / theirs })
    }
}

/// Runs the selected measurements and prints the tables.
pub fn run(args: &SpeedArgs) -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("cannot find the running binary")?;
    let scratch = std::env::temp_dir().join(format!("anomaly-speed-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = run_in(args, &binary, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_in(args: &SpeedArgs, binary: &Path, scratch: &Path) -> anyhow::Result<()> {
    let runs = if args.smoke { 1 } else { args.runs.max(1) };
    let epochs = if args.smoke { 1 } else { args.epochs.max(1) };
    let selected = |section: Section| args.only.is_empty() || args.only.contains(&section);
    let python = python(args)?;
    let mut out = std::io::stdout().lock();
    describe_machine(&mut out, python.as_deref(), runs, epochs)?;

    let mut comparisons = Vec::new();
    let mut notes = Vec::new();
    // The fraud experiment runs first: its split also gives the smoke mode's training data.
    let fraud_split = fraud_split(binary, args, scratch)?;
    let split_dir =
        if args.smoke { fraud_split.clone() } else { kdd_split(binary, args, scratch)? };

    if selected(Section::Train) {
        for (model, widths) in [("mlp", "64,32"), ("autoencoder", "16,8")] {
            for batch in [256, 1024] {
                let target = if batch == 256 { 3.0 } else { 1.5 };
                let work = ["--model", model, "--widths", widths];
                let settings = [
                    format!("--batch={batch}"),
                    format!("--epochs={epochs}"),
                    format!("--split-dir={}", split_dir.display()),
                ];
                let sides = implementations(python.as_deref(), true);
                let mut results = alternate(runs, &sides, |side| {
                    let mut command = match side {
                        Implementation::Ours => {
                            let mut command = Command::new(binary);
                            command.args(["bench", "worker", "train"]);
                            command
                        }
                        Implementation::Reference(threads) => {
                            reference_command(python.as_deref(), "train", threads)
                        }
                    };
                    command.args(work).args(&settings).arg(format!("--device={}", args.device));
                    let measured = measure(&mut command, &format!("{model} training"))?;
                    let rate = measured.json()?["rows_per_second"].as_f64().unwrap_or(f64::NAN);
                    Ok((rate, measured))
                })?
                .into_iter();
                let ours = results.next().expect("ours always runs");
                let reference = results.next();
                let reference_one_thread = results.next();
                comparisons.push(Comparison {
                    name: format!("train {model} ({widths}), batch {batch}"),
                    unit: "rows/s",
                    ours,
                    reference,
                    reference_one_thread,
                    lower_is_better: false,
                    target: Some(target),
                });
            }
        }
    }

    if selected(Section::Score) {
        for (model, widths) in [("mlp", "64,32"), ("autoencoder", "16,8")] {
            let settings = [
                "--model".to_string(),
                model.to_string(),
                "--widths".to_string(),
                widths.to_string(),
                "--batch=8192".to_string(),
                format!("--split-dir={}", split_dir.display()),
            ];
            let sides = implementations(python.as_deref(), true);
            let mut results = alternate(runs, &sides, |side| {
                let mut command = match side {
                    Implementation::Ours => {
                        let mut command = Command::new(binary);
                        command.args(["bench", "worker", "score"]);
                        command
                    }
                    Implementation::Reference(threads) => {
                        reference_command(python.as_deref(), "score", threads)
                    }
                };
                command.args(&settings).arg(format!("--device={}", args.device));
                let measured = measure(&mut command, &format!("{model} scoring"))?;
                let rate = measured.json()?["rows_per_second"].as_f64().unwrap_or(f64::NAN);
                Ok((rate, measured))
            })?
            .into_iter();
            let ours = results.next().expect("ours always runs");
            let reference = results.next();
            let reference_one_thread = results.next();
            comparisons.push(Comparison {
                name: format!("score {model} ({widths}), chunks of 8192 rows"),
                unit: "rows/s",
                ours,
                reference,
                reference_one_thread,
                lower_is_better: false,
                target: Some(2.0),
            });
        }
    }

    if selected(Section::Ingest) {
        let (rows, note) = ingest_measurements(binary, args, scratch, python.as_deref(), runs)?;
        comparisons.extend(rows);
        notes.push(note);
    }

    let mut fraud_metrics = None;
    if selected(Section::Fraud) {
        let (comparison, sweep, metrics) =
            fraud_measurements(binary, args, scratch, python.as_deref(), runs, &fraud_split)?;
        comparisons.push(comparison);
        comparisons.push(sweep);
        fraud_metrics = Some(metrics);
    }

    print_tables(&mut out, &comparisons)?;
    for note in &notes {
        writeln!(out, "\n{note}")?;
    }
    if let Some(metrics) = fraud_metrics {
        writeln!(out)?;
        out.write_all(metrics.as_bytes())?;
    }
    drop(out);

    if selected(Section::Cache) {
        let mut out = std::io::stdout().lock();
        writeln!(out, "\nNo-op cached re-run of {FRAUD_CONFIG}:\n")?;
        drop(out);
        super::cache(&super::CacheBenchArgs {
            config: PathBuf::from(FRAUD_CONFIG),
            data_dir: args.data_dir.clone(),
            runs,
        })?;
    }
    Ok(())
}

/// Runs `one(side)` for every side `runs` times, rotating which side goes first every round,
/// and collects the values per side, in the order of `sides`.
fn alternate<S: Copy>(
    runs: usize,
    sides: &[S],
    mut one: impl FnMut(S) -> anyhow::Result<(f64, Measured)>,
) -> anyhow::Result<Vec<Side>> {
    let mut results = vec![Side::default(); sides.len()];
    for round in 0..runs {
        for offset in 0..sides.len() {
            let index = (round + offset) % sides.len();
            let (value, measured) = one(sides[index])?;
            results[index].push(value, &measured);
        }
    }
    Ok(results)
}

/// The implementation a measurement runs: ours, or the reference with a thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Implementation {
    Ours,
    Reference(usize),
}

/// Returns the sides to measure: ours, the reference with 2 threads and, where
/// `with_one_thread`, the reference with 1 thread; only ours without a Python environment.
fn implementations(python: Option<&Path>, with_one_thread: bool) -> Vec<Implementation> {
    let mut sides = vec![Implementation::Ours];
    if python.is_some() {
        sides.push(Implementation::Reference(2));
        if with_one_thread {
            sides.push(Implementation::Reference(1));
        }
    }
    sides
}

/// Returns a command running the reference script's `subcommand` with `threads` threads.
fn reference_command(python: Option<&Path>, subcommand: &str, threads: usize) -> Command {
    let mut command = Command::new(python.expect("the reference runs only with an environment"));
    command.arg(REFERENCE).arg(subcommand).arg(format!("--threads={threads}"));
    // PyTorch sizes its OpenMP pool from these when they are set; keep them equal to the
    // thread count given.
    command.env("OMP_NUM_THREADS", threads.to_string());
    command.env("MKL_NUM_THREADS", threads.to_string());
    command
}

/// Finds the reference's Python, creating its environment first unless `--smoke`,
/// `--no-setup` or `--no-reference` is given.
fn python(args: &SpeedArgs) -> anyhow::Result<Option<PathBuf>> {
    if args.no_reference {
        return Ok(None);
    }
    if let Some(python) = &args.python {
        return Ok(Some(python.clone()));
    }
    let python = Path::new(VENV).join("bin/python");
    if python.exists() {
        return Ok(Some(python));
    }
    if args.smoke || args.no_setup {
        eprintln!("note: {VENV} does not exist, so the Python reference is skipped");
        return Ok(None);
    }
    setup()?;
    Ok(Some(python))
}

/// Creates `bench/.venv` and installs `bench/requirements.txt` into it with pip.
pub fn setup() -> anyhow::Result<()> {
    eprintln!("creating {VENV} and installing bench/requirements.txt (about 5 GB with torch)");
    let status = Command::new("python3")
        .args(["-m", "venv", VENV])
        .status()
        .context("cannot run python3; install Python 3.10 or newer")?;
    anyhow::ensure!(status.success(), "python3 -m venv {VENV} failed");
    let status = Command::new(Path::new(VENV).join("bin/pip"))
        .args(["install", "-r", "bench/requirements.txt"])
        .status()
        .context("cannot run pip")?;
    anyhow::ensure!(status.success(), "pip install -r bench/requirements.txt failed");
    Ok(())
}

/// Prints the machine, the versions and the settings of this invocation.
fn describe_machine(
    out: &mut impl Write,
    python: Option<&Path>,
    runs: usize,
    epochs: u32,
) -> anyhow::Result<()> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let kib = text.lines().next()?.split_whitespace().nth(1)?.parse::<f64>().ok()?;
            Some(format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown memory".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    writeln!(
        out,
        "machine: {cpu}, {cores} cores, {memory}; load average at start: {}",
        load.trim()
    )?;
    writeln!(out, "ours: this binary (candle 0.11, arrow/parquet 60.1), release build")?;
    match python {
        Some(python) => {
            let output = Command::new(python)
                .args([
                    "-c",
                    "import sys, torch, numpy, pandas, pyarrow, sklearn; print(f'Python {sys.version.split()[0]}, torch {torch.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, scikit-learn {sklearn.__version__}')",
                ])
                .output()
                .context("cannot run the reference's Python")?;
            writeln!(out, "reference: {}", String::from_utf8_lossy(&output.stdout).trim())?;
        }
        None => writeln!(out, "reference: skipped")?,
    }
    writeln!(out, "runs per side: {runs} (alternating), training epochs per run: {epochs}\n")?;
    Ok(())
}

/// Runs an experiment with a fresh cache under `scratch` and returns its JSON summary.
fn experiment(
    binary: &Path,
    config: &str,
    args: &SpeedArgs,
    work: &Path,
) -> anyhow::Result<(serde_json::Value, Measured)> {
    let mut command = Command::new(binary);
    command
        .arg("experiment")
        .arg(config)
        .arg("--data-dir")
        .arg(&args.data_dir)
        .arg("--runs-dir")
        .arg(work.join("runs"))
        .arg("--cache-dir")
        .arg(work.join("cache"))
        .arg("--json");
    let measured = measure(&mut command, config)?;
    Ok((measured.json()?, measured))
}

/// Runs the KDD experiment once and returns its preprocess stage directory.
fn kdd_split(binary: &Path, args: &SpeedArgs, scratch: &Path) -> anyhow::Result<PathBuf> {
    let (summary, _) = experiment(binary, KDD_CONFIG, args, &scratch.join("kdd"))?;
    let run_dir = summary["run_dir"].as_str().context("the summary has no run_dir")?;
    Ok(std::fs::canonicalize(Path::new(run_dir).join("split"))?)
}

/// Runs the fraud experiment once and returns its preprocess stage directory, whose split
/// the reference reuses.
fn fraud_split(binary: &Path, args: &SpeedArgs, scratch: &Path) -> anyhow::Result<PathBuf> {
    let (summary, _) = experiment(binary, FRAUD_CONFIG, args, &scratch.join("fraud-split"))?;
    let run_dir = summary["run_dir"].as_str().context("the summary has no run_dir")?;
    Ok(std::fs::canonicalize(Path::new(run_dir).join("split"))?)
}

/// Writes `row_id,split` for every row of the three splits of a preprocess stage.
fn write_split_assignment(split_dir: &Path, path: &Path) -> anyhow::Result<()> {
    let mut text = String::from("row_id,split\n");
    for split in ["train", "validation", "test"] {
        let table = common::FeatureTable::read(&split_dir.join(format!("{split}.parquet")))?;
        for row_id in &table.row_ids {
            text.push_str(&format!("{row_id},{split}\n"));
        }
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Times the ingest of KDD Cup 1999 10 % against pyarrow and pandas.
fn ingest_measurements(
    binary: &Path,
    args: &SpeedArgs,
    scratch: &Path,
    python: Option<&Path>,
    runs: usize,
) -> anyhow::Result<(Vec<Comparison>, String)> {
    let registry = ingest::Registry::load(Path::new(ingest::DEFAULT_REGISTRY))?;
    let entry = registry.get("kddcup99-10-percent")?;
    let input = args.data_dir.join(&entry.file);
    let columns = kdd_columns()?;
    let output = scratch.join("ingest");
    let mut ours = Side::default();
    let mut pyarrow = Side::default();
    let mut pandas = Side::default();
    for round in 0..runs {
        let mut sides = vec!["rust"];
        if python.is_some() {
            sides.extend(["pyarrow", "pandas"]);
        }
        let first = round % sides.len();
        sides.rotate_left(first);
        for side in sides {
            let _ = std::fs::remove_dir_all(&output);
            std::fs::create_dir_all(&output)?;
            let mut command = if side == "rust" {
                let mut command = Command::new(binary);
                command
                    .args(["bench", "worker", "ingest", "--config", KDD_CONFIG])
                    .arg("--input")
                    .arg(&input)
                    .arg("--output")
                    .arg(&output);
                command
            } else {
                // Ingest takes no thread count: pyarrow sizes its pool from the cores.
                let mut command = Command::new(python.expect("checked above"));
                command
                    .arg(REFERENCE)
                    .arg("ingest")
                    .arg(format!("--engine={side}"))
                    .arg("--input")
                    .arg(&input)
                    .arg("--output")
                    .arg(output.join("data.parquet"))
                    .arg(format!("--columns={}", columns.join(",")))
                    .arg("--label=label")
                    .arg("--normal=normal.");
                command
            };
            let measured = measure(&mut command, &format!("{side} ingest"))?;
            let seconds = measured.json()?["seconds"].as_f64().unwrap_or(f64::NAN);
            match side {
                "rust" => ours.push(seconds, &measured),
                "pyarrow" => pyarrow.push(seconds, &measured),
                _ => pandas.push(seconds, &measured),
            }
        }
    }
    let uncompressed = gzip_uncompressed_size(&input)? as f64 / 1024.0 / 1024.0;
    let note = format!(
        "ingest input: {} ({:.1} MiB gzip, {uncompressed:.1} MiB uncompressed); peak memory of \
         the Rust ingest process: {:.1} MiB ({:.0} % of the uncompressed size)",
        input.display(),
        entry.bytes as f64 / 1024.0 / 1024.0,
        median(&ours.peak_mib),
        100.0 * median(&ours.peak_mib) / uncompressed
    );
    let name = "ingest KDD Cup 99 10 % to Parquet";
    let mut rows = vec![Comparison {
        name: format!("{name}, against pyarrow"),
        unit: "s",
        ours: ours.clone(),
        reference: python.is_some().then_some(pyarrow),
        reference_one_thread: None,
        lower_is_better: true,
        target: Some(1.0),
    }];
    if python.is_some() {
        rows.push(Comparison {
            name: format!("{name}, against pandas"),
            unit: "s",
            ours,
            reference: Some(pandas),
            reference_one_thread: None,
            lower_is_better: true,
            target: None,
        });
    }
    Ok((rows, note))
}

/// Returns the column names of the KDD experiment's ingest stage.
fn kdd_columns() -> anyhow::Result<Vec<String>> {
    let experiment = crate::experiment::Experiment::load(Path::new(KDD_CONFIG), &[])?;
    experiment
        .stages
        .iter()
        .find_map(|stage| match &stage.params {
            crate::experiment::StageParams::Ingest(config) => config.columns.clone(),
            _ => None,
        })
        .context("the KDD benchmark experiment names no columns")
}

/// Reads the uncompressed size that a single-member gzip file records in its last 4 bytes.
fn gzip_uncompressed_size(path: &Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(bytes.len() >= 4, "{} is too short for gzip", path.display());
    let tail: [u8; 4] = bytes[bytes.len() - 4..].try_into().expect("4 bytes");
    Ok(u64::from(u32::from_le_bytes(tail)))
}

/// Times the fraud experiment end to end against the reference script, and returns the
/// comparison, the sweep throughput and the side-by-side metrics table.
fn fraud_measurements(
    binary: &Path,
    args: &SpeedArgs,
    scratch: &Path,
    python: Option<&Path>,
    runs: usize,
    split_dir: &Path,
) -> anyhow::Result<(Comparison, Comparison, String)> {
    let splits = scratch.join("fraud-splits.csv");
    write_split_assignment(split_dir, &splits)?;
    let csv = args.data_dir.join("creditcard/creditcard_sample.csv");
    let mut last_ours = serde_json::Value::Null;
    let mut last_reference = serde_json::Value::Null;
    let mut trials = 0usize;
    let sides = implementations(python, false);
    let mut results = alternate(runs, &sides, |side| {
        if side == Implementation::Ours {
            let work = scratch.join("fraud");
            let _ = std::fs::remove_dir_all(&work);
            let (summary, measured) = experiment(binary, FRAUD_CONFIG, args, &work)?;
            trials = summary["trials"].as_array().map_or(0, Vec::len);
            last_ours = summary;
            Ok((measured.wall, measured))
        } else {
            let mut command = reference_command(python, "fraud", 2);
            command.arg("--csv").arg(&csv).arg("--splits").arg(&splits);
            let measured = measure(&mut command, "the reference fraud study")?;
            last_reference = measured.json()?;
            Ok((measured.wall, measured))
        }
    })?
    .into_iter();
    let ours = results.next().expect("ours always runs");
    let reference = results.next();
    let per_minute = |side: &Side| Side {
        values: side.values.iter().map(|&s| trials as f64 * 60.0 / s).collect(),
        ..side.clone()
    };
    let sweep = Comparison {
        name: format!("fraud sweep, {trials} trials (whole process)"),
        unit: "trials/min",
        ours: per_minute(&ours),
        reference: reference.as_ref().map(per_minute),
        reference_one_thread: None,
        lower_is_better: false,
        target: None,
    };
    let comparison = Comparison {
        name: format!("fraud experiment end to end ({FRAUD_CONFIG}, cold cache)"),
        unit: "s",
        ours,
        reference,
        reference_one_thread: None,
        lower_is_better: true,
        target: Some(5.0),
    };
    let metrics = fraud_metrics_table(&last_ours, &last_reference)?;
    Ok((comparison, sweep, metrics))
}

/// Prints the test metrics of every fraud trial, ours beside the reference's, matched on the
/// swept parameters.
fn fraud_metrics_table(
    ours: &serde_json::Value,
    reference: &serde_json::Value,
) -> anyhow::Result<String> {
    let mut text = String::from(
        "Fraud test metrics (ours / reference), same split, threshold chosen on validation:\n\n\
         | trial | swept values | ROC-AUC | average precision | F1 | validation AP |\n\
         |---|---|---|---|---|---|\n",
    );
    let empty = Vec::new();
    let reference_trials = reference["trials"].as_array().unwrap_or(&empty);
    let mut differences = Vec::new();
    for trial in ours["trials"].as_array().unwrap_or(&empty) {
        let params = &trial["params"];
        let matched = reference_trials.iter().find(|candidate| {
            candidate["stage"] == trial["stage"]
                && ["learning_rate", "hidden", "positive_weight", "encoder", "epochs"]
                    .iter()
                    .all(|key| params[key] == candidate["params"][key])
        });
        let cell = |ours: f64, theirs: Option<f64>| match theirs {
            Some(theirs) => format!("{ours:.4} / {theirs:.4}"),
            None => format!("{ours:.4} / -"),
        };
        let metric = |value: &serde_json::Value, key: &str| value["metrics"][key].as_f64();
        let mut cells = Vec::new();
        for key in ["roc_auc", "average_precision", "f1"] {
            let mine = metric(trial, key).unwrap_or(f64::NAN);
            let theirs = matched.and_then(|m| metric(m, key));
            if let Some(theirs) = theirs {
                differences.push((key, mine - theirs));
            }
            cells.push(cell(mine, theirs));
        }
        let validation = trial["validation_average_precision"].as_f64().unwrap_or(f64::NAN);
        let theirs = matched.and_then(|m| m["validation_average_precision"].as_f64());
        cells.push(cell(validation, theirs));
        text.push_str(&format!(
            "| {} | {} | {} |\n",
            trial["name"].as_str().unwrap_or("?"),
            serde_json::to_string(&trial["varied"])?,
            cells.join(" | ")
        ));
    }
    for key in ["roc_auc", "average_precision", "f1"] {
        let values: Vec<f64> =
            differences.iter().filter(|(k, _)| *k == key).map(|(_, d)| *d).collect();
        if values.is_empty() {
            continue;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let largest = values.iter().map(|d| d.abs()).fold(0.0, f64::max);
        text.push_str(&format!(
            "\n{key}: mean difference ours - reference {mean:+.4}, largest absolute {largest:.4}"
        ));
    }
    text.push('\n');
    Ok(text)
}

fn print_tables(out: &mut impl Write, comparisons: &[Comparison]) -> anyhow::Result<()> {
    writeln!(
        out,
        "| measurement | unit | ours (median) | reference (median) | speed-up | target | met | PyTorch 1 thread (median) | speed-up over it |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    for comparison in comparisons {
        let ours = median(&comparison.ours.values);
        let reference = comparison.reference.as_ref().map(|side| median(&side.values));
        let speedup = comparison.speedup();
        let (target, met) = match (comparison.target, speedup) {
            (Some(target), Some(speedup)) => {
                (format!(">= {target}x"), if speedup >= target { "yes" } else { "no" })
            }
            (Some(target), None) => (format!(">= {target}x"), "-"),
            (None, _) => ("reported".to_string(), "-"),
        };
        let one_thread = comparison.reference_one_thread.as_ref();
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {target} | {met} | {} | {} |",
            comparison.name,
            comparison.unit,
            format_value(ours),
            reference.map_or("-".into(), format_value),
            speedup.map_or("-".into(), |s| format!("{s:.2}x")),
            one_thread.map_or("-".into(), |side| format_value(median(&side.values))),
            one_thread
                .and_then(|side| comparison.speedup_over(side))
                .map_or("-".into(), |s| format!("{s:.2}x")),
        )?;
    }
    writeln!(
        out,
        "\nWhole processes (medians; peak memory is the child's maximum resident set size):\n"
    )?;
    writeln!(
        out,
        "| measurement | ours wall s | reference wall s | ours CPU s | reference CPU s | ours peak MiB | reference peak MiB |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for comparison in comparisons {
        let ours = &comparison.ours;
        let theirs = comparison.reference.as_ref();
        let of = |side: Option<&Side>, pick: fn(&Side) -> &Vec<f64>| {
            side.map_or("-".to_string(), |side| format!("{:.2}", median(pick(side))))
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            comparison.name,
            of(Some(ours), |s| &s.wall),
            of(theirs, |s| &s.wall),
            of(Some(ours), |s| &s.cpu),
            of(theirs, |s| &s.cpu),
            of(Some(ours), |s| &s.peak_mib),
            of(theirs, |s| &s.peak_mib),
        )?;
    }
    Ok(())
}

fn format_value(value: f64) -> String {
    if value >= 1000.0 { format!("{value:.0}") } else { format!("{value:.3}") }
}

/// Returns the median, or NaN for no values.
fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}
