//! `cargo xtask`: runs anomaly-detection experiments declared in TOML files.
//!
//! `cargo xtask experiment FILE` validates the experiment file, expands its sweep, runs every
//! stage that the cache does not already hold (independent stages in parallel), and prints a
//! metrics table and the report's path, or with `--json` a JSON summary only. `compare`
//! ranks and diffs the trials of runs, `cache ls` and `cache gc` inspect and prune the stage
//! cache, and `bench` measures speed and detection quality.

mod bench;
mod cache;
mod compare;
mod output;
mod results;
mod run;
mod slurm;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::{PlainProgress, Progress, TerminalProgress};
use xtask::{experiment, sweep};

use crate::experiment::{ConfigError, Experiment};
use crate::run::{Executor, ExitClass, RunOptions, StageFailure};
use crate::slurm::ExecutorKind;

/// Anomaly-detection experiments: ingest, preprocess, train, evaluate and report.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    /// Log more detail on stderr (repeat for more); `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment file, reusing every stage the cache already holds.
    Experiment(ExperimentArgs),
    /// Rank the trials of a run, or show what changed between two runs.
    Compare(compare::CompareArgs),
    /// Inspect or prune the stage cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Measure speed, each number beside a reference run in the same invocation.
    Bench(BenchArgs),
    /// List the devices this binary can train on: the CPU, and CUDA GPUs when built with CUDA.
    Devices {
        /// Print a JSON object instead of a list.
        #[arg(long)]
        json: bool,
    },
    /// Run one stage instance of a Slurm array job; the Slurm executor submits this.
    #[command(hide = true)]
    Stage(StageArgs),
}

#[derive(Debug, clap::Args)]
struct StageArgs {
    /// The plan file of the array job, written by `xtask experiment --executor slurm`.
    plan: PathBuf,
    /// Entry of the plan file to run (0-based).
    #[arg(long, env = "SLURM_ARRAY_TASK_ID")]
    task: usize,
}

/// Arguments of `bench`: a subcommand, or the options of `bench all` without one.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    all: bench::SpeedArgs,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Run every speed measurement against the Python reference (the default).
    All(bench::SpeedArgs),
    /// Create bench/.venv with the Python reference's packages.
    Setup,
    /// Run one side of a speed measurement (used by `bench all`).
    #[command(subcommand, hide = true)]
    Worker(bench::WorkerCommand),
    /// Time a cold run of an experiment against its no-op re-run on a filled cache.
    Cache(bench::CacheBenchArgs),
    /// Run the intrusion and ODDS experiments and print the detection-quality table.
    Quality(bench::QualityArgs),
}

#[derive(Debug, clap::Args)]
struct Locations {
    /// Directory holding the dataset files, laid out as the registry's `file` paths.
    #[arg(long, env = "ANOMALY_DATA_DIR", default_value = ingest::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// The dataset registry.
    #[arg(long, default_value = ingest::DEFAULT_REGISTRY)]
    registry: PathBuf,
    /// Directory of the content-addressed stage cache.
    #[arg(long, env = "ANOMALY_CACHE_DIR", default_value = ".cache")]
    cache_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ExperimentArgs {
    /// The experiment file, such as configs/fraud.toml.
    config: PathBuf,
    #[command(flatten)]
    locations: Locations,
    /// Directory under which each run gets its own folder.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Override a value of the experiment file, such as `-S mlp.learning_rate=0.003` or
    /// `-S experiment.seed=7` (repeatable); the run records its overrides.
    #[arg(short = 'S', value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Stages run at once (default: the number of cores divided by RAYON_NUM_THREADS); with
    /// Slurm, the most array tasks running at once (default: no limit).
    #[arg(long, short, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// The executor of the stages: `local` threads or `slurm` array jobs (default: the
    /// experiment file's `executor`, else `local`).
    #[arg(long, value_enum)]
    executor: Option<ExecutorKind>,
    /// Rerun this stage and everything downstream even if cached (repeatable).
    #[arg(long, value_name = "STAGE")]
    force: Vec<String>,
    /// Print the plan (which stages are cached and why the others must run) and stop.
    #[arg(long)]
    dry_run: bool,
    /// Print only a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// List cache entries with their stage, kind and size.
    Ls {
        #[arg(long, env = "ANOMALY_CACHE_DIR", default_value = ".cache")]
        cache_dir: PathBuf,
    },
    /// Remove entries that none of the given experiments reference (default: configs/*.toml).
    Gc {
        /// Experiment files whose current stages are kept.
        experiments: Vec<PathBuf>,
        #[command(flatten)]
        locations: Locations,
        /// List what would be removed without removing it.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    keep_freed_memory();
    let threads = limit_threads();

    let result = match cli.command {
        Command::Experiment(args) => experiment(args, threads),
        Command::Cache(CacheCommand::Ls { cache_dir }) => output::cache_ls(&cache_dir),
        Command::Cache(CacheCommand::Gc { experiments, locations, dry_run }) => {
            cache_gc(experiments, locations, dry_run)
        }
        Command::Compare(args) => compare::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench_command(args).map(|()| ExitCode::SUCCESS),
        Command::Devices { json } => output::print_devices(json).map(|()| ExitCode::SUCCESS),
        Command::Stage(args) => run::run_task(&args.plan, args.task, threads),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", run::one_line(&error));
            ExitCode::from(exit_class(&error) as u8)
        }
    }
}

fn bench_command(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        None => bench::speed(&args.all),
        Some(BenchCommand::All(args)) => bench::speed(&args),
        Some(BenchCommand::Setup) => bench::setup(),
        Some(BenchCommand::Worker(command)) => bench::worker(&command),
        Some(BenchCommand::Cache(args)) => bench::cache(&args),
        Some(BenchCommand::Quality(args)) => bench::quality(&args),
    }
}

fn progress() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(TerminalProgress::new())
    } else {
        Box::new(PlainProgress::new())
    }
}

fn experiment(args: ExperimentArgs, threads: usize) -> anyhow::Result<ExitCode> {
    let experiment = Experiment::load(&args.config, &args.set)?;
    let progress = progress();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let executor = match args.executor.or(experiment.meta.executor).unwrap_or_default() {
        ExecutorKind::Local => Executor::Local,
        ExecutorKind::Slurm => Executor::Slurm { max_running: args.jobs.map(|jobs| jobs as usize) },
    };
    let options = RunOptions {
        data_dir: args.locations.data_dir,
        registry: args.locations.registry,
        runs_dir: args.runs_dir,
        cache_dir: args.locations.cache_dir,
        jobs: args.jobs.map_or((cores / threads).max(1), |jobs| jobs as usize),
        force: args.force,
        progress: progress.as_ref(),
        executor,
    };
    if !args.json {
        // Name the device that `auto` (or the file's setting) resolves to, once per run.
        let setting = &experiment.meta.device;
        eprintln!(
            "device: {} (device = \"{}\")",
            sweep::resolved_device(setting),
            String::from(setting.clone())
        );
    }
    let plan = run::plan(&experiment, &options, !args.dry_run)?;
    if args.dry_run {
        if args.json {
            output::print_plan_json(&plan.planned)?
        } else {
            output::print_plan(&plan.planned)?
        }
        return Ok(ExitCode::SUCCESS);
    }
    let record = plan.execute()?;
    if args.json {
        output::print_json(&record)?
    } else {
        output::print_table(&record)?
    }
    for (_, message) in &record.failures {
        eprintln!("error: {message}");
    }
    Ok(match record.failures.first() {
        Some((class, _)) => ExitCode::from(*class as u8),
        None => ExitCode::SUCCESS,
    })
}

fn cache_gc(
    experiments: Vec<PathBuf>,
    locations: Locations,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let experiments = if experiments.is_empty() {
        let mut found: Vec<PathBuf> = std::fs::read_dir("configs")
            .map_err(|e| {
                anyhow::anyhow!("cannot list configs/: {e}; name the experiment files to keep")
            })?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "toml"))
            .collect();
        found.sort();
        found
    } else {
        experiments
    };
    let progress = common::NoProgress;
    let mut keep = std::collections::BTreeSet::new();
    for path in &experiments {
        let experiment = Experiment::load(path, &[])?;
        // Slurm tasks can get another device than this host has, so a file set up for Slurm
        // keeps the keys of both executors.
        let mut executors = vec![Executor::Local];
        if experiment.meta.executor == Some(ExecutorKind::Slurm) || experiment.meta.slurm.is_some()
        {
            executors.push(Executor::Slurm { max_running: None });
        }
        let mut planned = Vec::new();
        for executor in executors {
            let options = RunOptions {
                data_dir: locations.data_dir.clone(),
                registry: locations.registry.clone(),
                runs_dir: PathBuf::from("runs"),
                cache_dir: locations.cache_dir.clone(),
                jobs: 1,
                force: Vec::new(),
                progress: &progress,
                executor,
            };
            planned.extend(run::plan(&experiment, &options, false)?.planned);
        }
        // A stage whose key cannot be computed now (its data file is not in the data
        // directory) keeps the entry of the key it had when it last ran.
        let cache = crate::cache::Cache::open(&locations.cache_dir)?;
        let mut unknown = std::collections::BTreeSet::new();
        for item in &planned {
            match &item.key {
                Some(key) => {
                    keep.insert(key.clone());
                }
                None => {
                    unknown.insert(item.name.clone());
                    if let Some(record) = cache.key_record(&experiment.meta.name, &item.name) {
                        keep.insert(record.key);
                    }
                }
            }
        }
        if !unknown.is_empty() {
            eprintln!(
                "note: {}: {} stages need a data file that is not in {}; their entries from the last run are kept",
                path.display(),
                unknown.len(),
                locations.data_dir.display()
            );
        }
    }
    output::cache_gc(&locations.cache_dir, &keep, &experiments, dry_run)?;
    Ok(ExitCode::SUCCESS)
}

/// Returns the exit class of an error, from the first classified error in its chain.
fn exit_class(error: &anyhow::Error) -> ExitClass {
    for cause in error.chain() {
        if cause.is::<ConfigError>() {
            return ExitClass::Config;
        }
        if let Some(failure) = cause.downcast_ref::<StageFailure>() {
            return failure.class;
        }
        if cause.is::<slurm::Cancelled>() {
            return ExitClass::Cancelled;
        }
    }
    ExitClass::Other
}

/// Sends `tracing` diagnostics to stderr at a level set by `-v` or `RUST_LOG`.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Runs Candle's CPU kernels on one thread unless `RAYON_NUM_THREADS` is set, and returns
/// the threads each stage uses.
///
/// The models here are small, and for matrices of this size a second thread costs more in
/// synchronisation than it saves. The cores are better used by stages running in parallel.
fn limit_threads() -> usize {
    if let Some(threads) =
        std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok())
    {
        return threads.max(1);
    }
    // SAFETY: called at the start of `main`, before any other thread exists, so no thread
    // can read the environment concurrently.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    1
}

/// Keeps freed tensor memory in the process for reuse (glibc only).
///
/// By default glibc serves every allocation above its mmap threshold (128 KiB, raised
/// dynamically up to 32 MiB) with a fresh `mmap` and returns it with `munmap`. A scoring
/// batch allocates tensors of a few MiB per operation, and with two scoring threads the page
/// faults and TLB shootdowns of that churn made two threads slower than one. A fixed
/// threshold of 64 MiB and a trim threshold of 128 MiB keep those blocks on the heap.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mallopt` only changes allocator settings; it is called at the start of `main`,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
