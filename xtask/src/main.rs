//! `cargo xtask`: runs anomaly-detection experiments declared in TOML files.
//!
//! `cargo xtask experiment FILE` validates the experiment file, runs its stages (ingest,
//! preprocess, train, evaluate, report) into a new run directory, and prints a metrics table
//! and the report's path, or with `--json` a JSON summary only.

mod experiment;
mod output;
mod run;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::{PlainProgress, Progress, TerminalProgress};

use crate::experiment::{ConfigError, Experiment};
use crate::run::{ExitClass, RunOptions, StageFailure};

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
    /// Run every stage of an experiment file into a new run directory.
    Experiment(ExperimentArgs),
}

#[derive(Debug, clap::Args)]
struct ExperimentArgs {
    /// The experiment file, such as configs/fraud.toml.
    config: PathBuf,
    /// Directory holding the dataset files, laid out as the registry's `file` paths.
    #[arg(long, env = "ANOMALY_DATA_DIR", default_value = ingest::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// The dataset registry.
    #[arg(long, default_value = ingest::DEFAULT_REGISTRY)]
    registry: PathBuf,
    /// Directory under which each run gets its own folder.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Print only a JSON summary on stdout (run directory, report, per-model metrics).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    limit_threads();

    let result = match cli.command {
        Command::Experiment(args) => experiment(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_class(&error) as u8)
        }
    }
}

fn experiment(args: ExperimentArgs) -> anyhow::Result<()> {
    let experiment = Experiment::load(&args.config)?;
    let progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(TerminalProgress::new())
    } else {
        Box::new(PlainProgress::new())
    };
    let options = RunOptions {
        data_dir: args.data_dir,
        registry: args.registry,
        runs_dir: args.runs_dir,
        progress: progress.as_ref(),
    };
    let record = run::run_experiment(&experiment, &options)?;
    if args.json {
        output::print_json(&record)?;
    } else {
        output::print_table(&record)?;
    }
    Ok(())
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
        .with_target(false)
        .init();
}

/// Runs Candle's CPU kernels on one thread unless `RAYON_NUM_THREADS` is set.
///
/// The models here are small, and for matrices of this size a second thread costs more in
/// synchronisation than it saves; the cores are better used by parallel trials.
fn limit_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: called at the start of `main`, before any other thread exists, so no thread
        // can read the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", "1");
        }
    }
}
