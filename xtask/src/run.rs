//! Runs the stages of an experiment in order, each into its own published directory.
//!
//! A run lives in `RUNS_DIR/NAME/TIMESTAMP/`, with one directory per stage named after the
//! stage and a `run.json` record written last. Each stage writes into a temporary directory
//! that is published only when the stage succeeds (see `common::StageOutput`), so a failed
//! or killed run never leaves a stage directory that looks complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use common::{InputRef, Manifest, Progress, StageKind, StageOutput, Unit};
use serde::Serialize;

use crate::experiment::{Experiment, Stage, StageParams};

/// Process exit codes, one per class of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// A failure with no more specific class, such as an I/O error.
    Other = 1,
    /// An invalid experiment file or command line.
    Config = 2,
    /// Input data that cannot be used: missing file, checksum mismatch, malformed values.
    Data = 3,
    /// Training failed, for example because the loss diverged.
    Training = 4,
}

/// A stage that failed, with the class that picks the exit code.
#[derive(Debug)]
pub struct StageFailure {
    /// Name of the stage.
    pub stage: String,
    /// Kind of the stage.
    pub kind: StageKind,
    /// Class of the failure.
    pub class: ExitClass,
    /// The underlying error.
    pub source: anyhow::Error,
}

impl std::fmt::Display for StageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stage `{}` failed: {:#}", self.kind, self.stage, self.source)
    }
}

impl std::error::Error for StageFailure {}

/// Where a run reads data and writes results.
pub struct RunOptions<'a> {
    /// Directory holding the dataset files named in the registry.
    pub data_dir: PathBuf,
    /// The dataset registry.
    pub registry: PathBuf,
    /// Parent directory of all runs.
    pub runs_dir: PathBuf,
    /// Where progress goes.
    pub progress: &'a dyn Progress,
}

/// What happened to one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    /// Name of the stage.
    pub name: String,
    /// Kind of the stage.
    pub kind: StageKind,
    /// `ran`.
    pub status: &'static str,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The stage's key.
    pub key: String,
    /// Its output directory.
    pub dir: PathBuf,
}

/// One trained and evaluated model, as listed in the JSON summary.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Name of the train stage.
    pub name: String,
    /// `mlp` or `autoencoder`.
    pub model: String,
    /// `ok`.
    pub status: &'static str,
    /// The train stage's parameters.
    pub params: serde_json::Value,
    /// Test-split metrics.
    pub metrics: BTreeMap<&'static str, f64>,
}

/// The record of a finished run, written as `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The experiment's name.
    pub experiment: String,
    /// The experiment file.
    pub config: PathBuf,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The HTML report, if the experiment has a report stage.
    pub report: Option<PathBuf>,
    /// Every stage in the order it ran.
    pub stages: Vec<StageRecord>,
    /// Every evaluated model.
    pub trials: Vec<Trial>,
}

/// Runs every stage of `experiment` and returns the run's record.
pub fn run_experiment(
    experiment: &Experiment,
    options: &RunOptions<'_>,
) -> anyhow::Result<RunRecord> {
    let run_dir = new_run_dir(&options.runs_dir, &experiment.meta.name)?;
    tracing::info!(run_dir = %run_dir.display(), "starting run");
    let mut runner =
        Runner { experiment, options, run_dir, done: BTreeMap::new(), records: Vec::new() };
    for stage in &experiment.stages {
        runner.run_stage(stage)?;
    }

    let trials = runner.trials()?;
    let report = experiment
        .stages
        .iter()
        .find(|stage| stage.kind() == StageKind::Report)
        .map(|stage| runner.run_dir.join(&stage.name).join(report::REPORT_FILE));
    let record = RunRecord {
        experiment: experiment.meta.name.clone(),
        config: experiment.path.clone(),
        run_dir: runner.run_dir.clone(),
        report,
        stages: runner.records,
        trials,
    };
    let path = record.run_dir.join("run.json");
    let temporary = record.run_dir.join(".run.json.partial");
    common::write_json(&temporary, &record)?;
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(record)
}

/// Creates `RUNS_DIR/NAME/TIMESTAMP`, adding a suffix if two runs start in the same second.
fn new_run_dir(runs_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let parent = runs_dir.join(name);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    for attempt in 0..100 {
        let dir = if attempt == 0 {
            parent.join(&stamp)
        } else {
            parent.join(format!("{stamp}-{attempt}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    anyhow::bail!("cannot create a new run directory under {}", parent.display())
}

struct Runner<'a> {
    experiment: &'a Experiment,
    options: &'a RunOptions<'a>,
    run_dir: PathBuf,
    /// Published manifests of the stages run so far, by stage name.
    done: BTreeMap<String, Manifest>,
    records: Vec<StageRecord>,
}

impl Runner<'_> {
    fn dir(&self, stage: &str) -> PathBuf {
        self.run_dir.join(stage)
    }

    /// Returns the output directory of the upstream stage of `kind` reached from `stage`.
    fn upstream_dir(&self, stage: &Stage, kind: StageKind) -> PathBuf {
        let upstream = stage
            .inputs
            .iter()
            .find_map(|input| self.experiment.upstream(input, kind))
            .expect("the experiment was validated, so every stage has its upstream kinds");
        self.dir(&upstream.name)
    }

    fn seed(&self, params: &StageParams) -> u64 {
        match params {
            StageParams::Train(config) => config.seed.unwrap_or(self.experiment.meta.seed),
            _ => self.experiment.meta.seed,
        }
    }

    fn device(&self, stage: &Stage) -> anyhow::Result<candle_core::Device> {
        let choice = match &stage.params {
            StageParams::Train(config) => config.device.clone(),
            _ => None,
        }
        .unwrap_or_else(|| self.experiment.meta.device.clone());
        let device = model::select_device(&choice)?;
        tracing::info!(
            stage = stage.name.as_str(),
            device = model::device_name(&device),
            "selected device"
        );
        Ok(device)
    }

    fn run_stage(&mut self, stage: &Stage) -> Result<(), StageFailure> {
        let started = Instant::now();
        let fail = |class, source: anyhow::Error| StageFailure {
            stage: stage.name.clone(),
            kind: stage.kind(),
            class,
            source,
        };
        let params = stage.params.to_json();
        let inputs: Vec<InputRef> = stage
            .inputs
            .iter()
            .map(|input| InputRef { stage: input.clone(), key: self.done[input].key.clone() })
            .collect();
        let input_keys: Vec<&str> = inputs.iter().map(|input| input.key.as_str()).collect();

        let output = StageOutput::create(&self.dir(&stage.name))
            .map_err(|e| fail(ExitClass::Other, e.into()))?;
        let mut rows = BTreeMap::new();
        let mut task = (stage.kind() != StageKind::Train)
            .then(|| self.options.progress.task(&stage.name, None, Unit::Rows));
        let (key, version, message) = match &stage.params {
            StageParams::Ingest(config) => {
                let registry = ingest::Registry::load(&self.options.registry)
                    .map_err(|e| fail(ExitClass::Config, e.into()))?;
                let source = ingest::resolve(
                    config,
                    &registry,
                    &self.options.data_dir,
                    self.options.progress,
                )
                .map_err(|e| fail(ExitClass::Data, e.into()))?;
                let summary = ingest::run(config, &source, output.path(), self.options.progress)
                    .map_err(|e| fail(ExitClass::Data, e.into()))?;
                rows.insert("data".to_string(), summary.rows);
                let key = Manifest::compute_key(
                    stage.kind(),
                    ingest::VERSION,
                    &params,
                    &[],
                    source.sha256.as_bytes(),
                );
                let message = format!(
                    "{} rows, {} columns, {} anomalies",
                    summary.rows,
                    summary.columns.len(),
                    summary.label_counts.anomaly
                );
                (key, ingest::VERSION, message)
            }
            StageParams::Preprocess(config) => {
                let ingest_dir = self.upstream_dir(stage, StageKind::Ingest);
                let summary =
                    preprocess::run(config, self.seed(&stage.params), &ingest_dir, output.path())
                        .map_err(|e| {
                        let class = if matches!(e, preprocess::Error::InvalidConfig { .. }) {
                            ExitClass::Config
                        } else {
                            ExitClass::Data
                        };
                        fail(class, e.into())
                    })?;
                for (split, counts) in &summary.splits {
                    rows.insert(split.clone(), counts.normal + counts.anomaly);
                }
                let message = summary
                    .splits
                    .iter()
                    .map(|(split, c)| {
                        format!("{split} {} ({} anomalies)", c.normal + c.anomaly, c.anomaly)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    self.key(stage, preprocess::VERSION, &params, &input_keys),
                    preprocess::VERSION,
                    message,
                )
            }
            StageParams::Train(config) => {
                let preprocess_dir = self.upstream_dir(stage, StageKind::Preprocess);
                let device = self.device(stage).map_err(|e| fail(ExitClass::Config, e))?;
                let summary = train::run(
                    config,
                    self.seed(&stage.params),
                    &device,
                    &preprocess_dir,
                    output.path(),
                    &stage.name,
                    self.options.progress,
                )
                .map_err(|e| {
                    let class = match e {
                        train::Error::InvalidConfig { .. } => ExitClass::Config,
                        train::Error::Diverged { .. } => ExitClass::Training,
                        train::Error::Data(_) => ExitClass::Data,
                        _ => ExitClass::Other,
                    };
                    fail(class, e.into())
                })?;
                rows.insert("train".to_string(), summary.training_rows);
                (
                    self.key(stage, train::VERSION, &params, &input_keys),
                    train::VERSION,
                    String::new(),
                )
            }
            StageParams::Evaluate(config) => {
                let model_dir = self.upstream_dir(stage, StageKind::Train);
                let preprocess_dir = self.upstream_dir(stage, StageKind::Preprocess);
                let train_stage = &stage.inputs[0];
                let device = self.device(stage).map_err(|e| fail(ExitClass::Config, e))?;
                let evaluation = evaluate::run(
                    config,
                    train_stage,
                    &model_dir,
                    &preprocess_dir,
                    output.path(),
                    &device,
                )
                .map_err(|e| fail(ExitClass::Data, e.into()))?;
                rows.insert("validation".to_string(), evaluation.validation.rows);
                rows.insert("test".to_string(), evaluation.test.rows);
                let message = format!(
                    "test ROC-AUC {:.4}, average precision {:.4}",
                    evaluation.test.roc_auc, evaluation.test.average_precision
                );
                (
                    self.key(stage, evaluate::VERSION, &params, &input_keys),
                    evaluate::VERSION,
                    message,
                )
            }
            StageParams::Report(config) => {
                let input =
                    self.report_input(stage, config).map_err(|e| fail(ExitClass::Other, e))?;
                let path = report::run(&input, output.path())
                    .map_err(|e| fail(ExitClass::Other, e.into()))?;
                let message = format!(
                    "wrote {}",
                    self.dir(&stage.name).join(path.file_name().unwrap_or_default()).display()
                );
                (self.key(stage, report::VERSION, &params, &input_keys), report::VERSION, message)
            }
        };

        let seconds = started.elapsed().as_secs_f64();
        let manifest = Manifest {
            stage: stage.name.clone(),
            kind: stage.kind(),
            version,
            key: key.clone(),
            params,
            inputs,
            outputs: Vec::new(),
            rows,
            seconds,
            created_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        let manifest = output.publish(manifest).map_err(|e| fail(ExitClass::Other, e.into()))?;
        if let Some(task) = task.as_mut() {
            task.finish(&format!("{message} ({seconds:.1} s)"));
        }
        self.records.push(StageRecord {
            name: stage.name.clone(),
            kind: stage.kind(),
            status: "ran",
            seconds,
            key,
            dir: self.dir(&stage.name),
        });
        self.done.insert(stage.name.clone(), manifest);
        Ok(())
    }

    fn key(
        &self,
        stage: &Stage,
        version: u32,
        params: &serde_json::Value,
        input_keys: &[&str],
    ) -> String {
        Manifest::compute_key(stage.kind(), version, params, input_keys, b"")
    }

    /// Collects the files a report stage reads, following each evaluate stage upstream.
    fn report_input(
        &self,
        stage: &Stage,
        config: &crate::experiment::ReportConfig,
    ) -> anyhow::Result<report::ReportInput> {
        let first = &stage.inputs[0];
        let dataset =
            self.dir(&self.experiment.upstream(first, StageKind::Ingest).expect("validated").name);
        let preprocess = self
            .dir(&self.experiment.upstream(first, StageKind::Preprocess).expect("validated").name);
        let mut models = Vec::new();
        for input in &stage.inputs {
            let train_stage = self.experiment.upstream(input, StageKind::Train).expect("validated");
            let train_dir = self.dir(&train_stage.name);
            let evaluate_dir = self.dir(input);
            models.push(report::ModelInput {
                name: train_stage.name.clone(),
                params: train_stage.params.to_json(),
                training: train_dir.join("training.json"),
                history: train_dir.join("history.parquet"),
                metrics: evaluate_dir.join("metrics.json"),
                scores: evaluate_dir.join("scores.parquet"),
                curves: evaluate_dir.join("curves.parquet"),
            });
        }
        Ok(report::ReportInput {
            title: config.title.clone().unwrap_or_else(|| self.experiment.meta.name.clone()),
            dataset: dataset.join("summary.json"),
            preprocess: preprocess.join("preprocess.json"),
            models,
        })
    }

    /// Returns one trial per evaluate stage, with its test metrics.
    fn trials(&self) -> anyhow::Result<Vec<Trial>> {
        let mut trials = Vec::new();
        for stage in self.experiment.stages.iter().filter(|s| s.kind() == StageKind::Evaluate) {
            let train_stage =
                self.experiment.upstream(&stage.inputs[0], StageKind::Train).expect("validated");
            let evaluation: common::Evaluation =
                common::read_json(&self.dir(&stage.name).join("metrics.json"))?;
            let test = &evaluation.test;
            let metrics = BTreeMap::from([
                ("roc_auc", test.roc_auc),
                ("average_precision", test.average_precision),
                ("f1", test.f1),
                ("precision", test.precision),
                ("recall", test.recall),
                ("precision_at_k", test.precision_at_k),
                ("recall_at_1pct_fpr", test.recall_at_1pct_fpr),
            ]);
            trials.push(Trial {
                name: train_stage.name.clone(),
                model: evaluation.model_kind.clone(),
                status: "ok",
                params: train_stage.params.to_json(),
                metrics,
            });
        }
        Ok(trials)
    }
}
