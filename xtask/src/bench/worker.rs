//! `cargo xtask bench worker ...`: the Rust side of each speed measurement, run as its own
//! process so that it is timed and measured like the Python reference.
//!
//! Each worker prints one JSON object on stdout with the seconds of the timed section.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use common::{FeatureTable, NoProgress};

use crate::experiment::{Experiment, StageParams};

/// A measurement run in its own process.
#[derive(Debug, clap::Subcommand)]
pub enum WorkerCommand {
    /// Time training epochs of the MLP or the autoencoder.
    Train(ModelArgs),
    /// Time scoring every training row with a freshly initialised model.
    Score(ModelArgs),
    /// Time the ingest stage of an experiment file on its data file.
    Ingest(IngestArgs),
}

/// Arguments of the training and scoring workers.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// A preprocess stage directory holding `train.parquet`.
    #[arg(long)]
    pub split_dir: PathBuf,
    /// `mlp` or `autoencoder`.
    #[arg(long)]
    pub model: String,
    /// Hidden widths of the MLP or encoder widths of the autoencoder, such as `64,32`.
    #[arg(long)]
    pub widths: String,
    /// Rows per minibatch (training) or per scored chunk (scoring).
    #[arg(long)]
    pub batch: usize,
    /// Training epochs.
    #[arg(long, default_value_t = 2)]
    pub epochs: u32,
    /// Seed of the initial weights and the batch order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The device: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl ModelArgs {
    /// Opens the device the measurement runs on.
    fn device(&self) -> anyhow::Result<Device> {
        let choice = model::DeviceChoice::try_from(self.device.clone())
            .map_err(|message| anyhow::anyhow!(message))?;
        Ok(model::select_device(&choice)?)
    }
}

/// Arguments of the ingest worker.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Experiment file whose first ingest stage is run.
    #[arg(long)]
    pub config: PathBuf,
    /// The data file to read.
    #[arg(long)]
    pub input: PathBuf,
    /// Directory to write `data.parquet` and `summary.json` into.
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs one worker and prints its JSON result.
pub fn run(command: &WorkerCommand) -> anyhow::Result<()> {
    let result = match command {
        WorkerCommand::Train(args) => train(args)?,
        WorkerCommand::Score(args) => score(args)?,
        WorkerCommand::Ingest(args) => ingest(args)?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{result}")?;
    Ok(())
}

/// Builds the train configuration of the benchmarked networks: AdamW without weight decay,
/// learning rate 0.001, no dropout, and every row trained on.
fn train_config(args: &ModelArgs, epochs: u32) -> anyhow::Result<train::TrainConfig> {
    let widths_key = match args.model.as_str() {
        "mlp" => "hidden",
        "autoencoder" => "encoder",
        other => anyhow::bail!("unknown model `{other}`; use mlp or autoencoder"),
    };
    let mut text = format!(
        "model = \"{}\"\n{widths_key} = [{}]\nbatch_size = {}\nepochs = {epochs}\n",
        args.model, args.widths, args.batch
    );
    if args.model == "autoencoder" {
        text.push_str("train_on = \"all\"\n");
    }
    let config: train::TrainConfig = toml::from_str(&text).context("invalid model settings")?;
    config.validate()?;
    Ok(config)
}

fn train(args: &ModelArgs) -> anyhow::Result<serde_json::Value> {
    let table = FeatureTable::read(&args.split_dir.join("train.parquet"))?;
    let config = train_config(args, args.epochs)?;
    let spec = config.spec(table.features.clone());
    let mut trainer = train::Trainer::new(&config, args.seed, &args.device()?, &spec, &table)?;
    let started = Instant::now();
    let mut losses = Vec::new();
    for epoch in 1..=args.epochs {
        losses.push(trainer.epoch(epoch)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let rows = trainer.rows();
    Ok(serde_json::json!({
        "seconds": seconds,
        "rows": rows,
        "features": table.width(),
        "epochs": args.epochs,
        "rows_per_second": (rows * args.epochs as usize) as f64 / seconds,
        "losses": losses,
    }))
}

fn score(args: &ModelArgs) -> anyhow::Result<serde_json::Value> {
    let table = FeatureTable::read(&args.split_dir.join("train.parquet"))?;
    let config = train_config(args, 1)?;
    let spec = config.spec(table.features.clone());
    let device = args.device()?;
    let detector = model::Detector::new(&spec, &device, args.seed)?;
    // On the CPU, one thread per core, each running Candle's kernels on one thread (`main`
    // sets RAYON_NUM_THREADS to 1), as the reference runs PyTorch on as many threads. A GPU
    // gets its chunks from one thread.
    let threads = if device.is_cpu() {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    // A first, untimed pass warms up caches and the allocator, as in the reference.
    detector.score_rows_on_threads(&table.values, args.batch, threads)?;
    let started = Instant::now();
    let scores = detector.score_rows_on_threads(&table.values, args.batch, threads)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "seconds": seconds,
        "rows": table.rows(),
        "rows_per_second": table.rows() as f64 / seconds,
        "score_sum": scores.iter().sum::<f64>(),
        "threads": threads,
    }))
}

fn ingest(args: &IngestArgs) -> anyhow::Result<serde_json::Value> {
    let experiment = Experiment::load(&args.config, &[])?;
    let config = experiment
        .stages
        .iter()
        .find_map(|stage| match &stage.params {
            StageParams::Ingest(config) => Some(config.clone()),
            _ => None,
        })
        .with_context(|| format!("{} has no ingest stage", args.config.display()))?;
    let bytes = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?
        .len();
    // The checksum is not verified here, as the Python readers do not verify it either; the
    // experiment command verifies it before ingesting.
    let source = ingest::Source {
        path: args.input.clone(),
        sha256: String::new(),
        bytes,
        dataset: config.dataset.clone(),
    };
    std::fs::create_dir_all(&args.output)?;
    let started = Instant::now();
    let output = ingest::run(&config, &source, None, &args.output, &NoProgress)?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = output.summary.rows;
    Ok(serde_json::json!({
        "seconds": seconds,
        "rows": rows,
        "rows_per_second": rows as f64 / seconds,
    }))
}
