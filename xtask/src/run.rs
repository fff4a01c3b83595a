//! Runs an expanded experiment against the stage cache, in parallel where the graph allows.
//!
//! Every stage instance has a key computed before anything runs (see `common::Manifest`). An
//! instance whose key has a valid cache entry is reused. Any other runs into a temporary
//! directory, which is published into the cache only when the stage succeeds. A failed instance is
//! recorded with its reason and the instances downstream of it are skipped; independent
//! instances go on. Each run gets `RUNS_DIR/NAME/TIMESTAMP/` with a link per instance to its
//! cache entry, `results.parquet` (one row per trial) and `run.json`, written last.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use common::{InputRef, Manifest, Progress, StageKind, StageOutput, Unit};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, KeyRecord, Lookup};
use crate::experiment::{Experiment, StageParams};
use crate::sweep::{self, Instance};

mod slurm;

pub use slurm::run_task;

/// Process exit codes, one per class of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitClass {
    /// A failure with no more specific class, such as an I/O error.
    Other = 1,
    /// An invalid experiment file or command line.
    Config = 2,
    /// Input data that cannot be used: missing file, checksum mismatch, malformed values.
    Data = 3,
    /// Training failed, for example because the loss diverged.
    Training = 4,
    /// A signal cancelled the run (128 + SIGINT, as shells report it).
    Cancelled = 130,
}

/// A stage that failed, with the class that picks the exit code.
#[derive(Debug)]
pub struct StageFailure {
    /// Name of the stage instance.
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
        write!(f, "{} stage `{}` failed: {}", self.kind, self.stage, one_line(&self.source))
    }
}

/// Joins an error and its causes into one line, leaving out a cause whose text the message
/// already contains (library errors often repeat their source in their own message).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

impl std::error::Error for StageFailure {}

/// Locations and limits of a run.
pub struct RunOptions<'a> {
    /// Directory holding the dataset files named in the registry.
    pub data_dir: PathBuf,
    /// The dataset registry.
    pub registry: PathBuf,
    /// Parent directory of all runs.
    pub runs_dir: PathBuf,
    /// The stage cache.
    pub cache_dir: PathBuf,
    /// Stage instances run at once.
    pub jobs: usize,
    /// Stages to rerun even when cached, with everything downstream.
    pub force: Vec<String>,
    /// The progress sink.
    pub progress: &'a dyn Progress,
    /// The executor of the instances.
    pub executor: Executor,
}

/// The executor of a run's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    /// Threads of this process, `RunOptions::jobs` at once.
    Local,
    /// Slurm array jobs, one per kind of stage and level of the stage graph.
    Slurm {
        /// The maximum number of array tasks running at once (`sbatch --array=...%N`).
        max_running: Option<usize>,
    },
}

/// The planned action for one instance.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Instance name.
    pub name: String,
    /// Kind of stage.
    pub kind: StageKind,
    /// `cached`, `run`, or `fail` for parameters out of range.
    pub action: &'static str,
    /// The reason it runs or fails.
    pub reason: Option<String>,
    /// Its key, when known before running.
    pub key: Option<String>,
}

/// The outcome of one instance.
#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    /// Instance name.
    pub name: String,
    /// Kind of the stage.
    pub kind: StageKind,
    /// `ran`, `cached`, `failed` or `skipped`.
    pub status: &'static str,
    /// Wall time in seconds (0 for cached and skipped instances).
    pub seconds: f64,
    /// The key, if it was computed.
    pub key: Option<String>,
    /// The failure or the reason for skipping.
    pub error: Option<String>,
}

/// One trained and evaluated model.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Name of the train instance.
    pub name: String,
    /// Name of the evaluate instance.
    pub evaluation: String,
    /// Name of the train stage this is an instance of.
    pub stage: String,
    /// `mlp` or `autoencoder`.
    pub model: String,
    /// `ok`, `failed` or `skipped`.
    pub status: &'static str,
    /// The failure, when not ok.
    pub error: Option<String>,
    /// The train stage's parameters.
    pub params: serde_json::Value,
    /// Swept values of this trial, by dotted path.
    pub varied: BTreeMap<String, serde_json::Value>,
    /// Test-split metrics, when ok.
    pub metrics: BTreeMap<&'static str, f64>,
    /// Validation average precision, when ok.
    pub validation_average_precision: Option<f64>,
    /// Best and run epochs, when ok.
    pub epochs: Option<(u32, u32)>,
    /// The device the model was trained on, such as `cpu` or `cuda:0`, when ok.
    pub device: Option<String>,
    /// Seconds of the train and evaluate instances.
    pub seconds: (f64, f64),
    /// Keys of the train and evaluate instances.
    pub keys: (Option<String>, Option<String>),
}

/// The record of a finished run, written as `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The experiment's name.
    pub experiment: String,
    /// The experiment file.
    pub config: PathBuf,
    /// `-S` overrides applied.
    pub overrides: Vec<String>,
    /// `ok` or `failed`.
    pub status: &'static str,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The first HTML report, if one was written.
    pub report: Option<PathBuf>,
    /// Every HTML report written, one per report stage.
    pub reports: Vec<PathBuf>,
    /// Wall time of the whole run in seconds.
    pub seconds: f64,
    /// Every instance in plan order.
    pub stages: Vec<StageRecord>,
    /// Every evaluated model.
    pub trials: Vec<Trial>,
    /// Failures with their exit class, first first.
    #[serde(skip)]
    pub failures: Vec<(ExitClass, String)>,
}

/// A planned experiment: instances with keys, ready to run or to print.
pub struct Plan<'a> {
    experiment: &'a Experiment,
    options: &'a RunOptions<'a>,
    cache: Cache,
    instances: Vec<Instance>,
    sources: BTreeMap<usize, ingest::Source>,
    test_sources: BTreeMap<usize, ingest::Source>,
    data_hashes: BTreeMap<usize, String>,
    keys: Vec<Option<KeyRecord>>,
    forced: BTreeSet<usize>,
    /// The plan of every instance.
    pub planned: Vec<Planned>,
}

/// Expands the experiment, resolves its data files and computes every key.
///
/// With `download` false a missing data file is not fetched; its ingest stage and everything
/// downstream is planned to run with an unknown key.
pub fn plan<'a>(
    experiment: &'a Experiment,
    options: &'a RunOptions<'a>,
    download: bool,
) -> anyhow::Result<Plan<'a>> {
    let mut instances =
        sweep::expand(experiment).map_err(|(span, message)| experiment.error_at(span, &message))?;
    if matches!(options.executor, Executor::Slurm { .. }) {
        slurm::pin_devices(&mut instances, &experiment.meta);
    }
    let cache = Cache::open(&options.cache_dir)?;
    for name in &options.force {
        if !experiment.stages.iter().any(|s| &s.name == name) {
            let names: Vec<&str> = experiment.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(experiment
                .error_at(
                    0..0,
                    &format!(
                        "--force {name}: there is no stage `{name}`; stages: {}",
                        names.join(", ")
                    ),
                )
                .without_position()
                .into());
        }
    }

    let mut sources = BTreeMap::new();
    let mut test_sources = BTreeMap::new();
    let mut data_hashes = BTreeMap::new();
    for (index, instance) in instances.iter().enumerate() {
        let (main, test, hash) = resolve_ingest(&cache, instance, options, download)?;
        if let Some(hash) = hash {
            data_hashes.insert(index, hash);
        }
        if let Some(main) = main {
            sources.insert(index, main);
        }
        if let Some(test) = test {
            test_sources.insert(index, test);
        }
    }

    let mut keys: Vec<Option<KeyRecord>> = Vec::with_capacity(instances.len());
    let mut forced = BTreeSet::new();
    for (index, instance) in instances.iter().enumerate() {
        if options.force.contains(&instance.stage)
            || instance.inputs.iter().any(|i| forced.contains(i))
        {
            forced.insert(index);
        }
        let record = key_record(instance, &instances, &keys, data_hashes.get(&index).cloned());
        keys.push(record);
    }

    let mut planned = Vec::with_capacity(instances.len());
    for (index, instance) in instances.iter().enumerate() {
        let record = keys[index].as_ref();
        let (action, reason) = match record {
            _ if instance.invalid.is_some() => ("fail", instance.invalid.clone()),
            None => ("run", Some("its data file is not downloaded yet".to_string())),
            Some(_) if forced.contains(&index) => ("run", Some("forced".to_string())),
            Some(record) => match cache.lookup(&record.key) {
                Lookup::Valid(_) => ("cached", None),
                Lookup::Corrupt(reason) => {
                    ("run", Some(format!("cache entry is corrupted ({reason})")))
                }
                Lookup::Missing => {
                    let reason = match cache.key_record(&experiment.meta.name, &instance.id) {
                        Some(previous) => record
                            .change_from(&previous)
                            .unwrap_or_else(|| "cache entry was removed".into()),
                        None => "not run before".into(),
                    };
                    ("run", Some(reason))
                }
            },
        };
        planned.push(Planned {
            name: instance.id.clone(),
            kind: instance.kind(),
            action,
            reason,
            key: record.map(|r| r.key.clone()),
        });
    }
    Ok(Plan {
        experiment,
        options,
        cache,
        instances,
        sources,
        test_sources,
        data_hashes,
        keys,
        forced,
        planned,
    })
}

/// Finds the raw files of an ingest instance and returns them with the hash that enters its
/// key. The hash is unknown until every file the instance names is resolved, and other kinds
/// get nothing.
fn resolve_ingest(
    cache: &Cache,
    instance: &Instance,
    options: &RunOptions<'_>,
    download: bool,
) -> anyhow::Result<(Option<ingest::Source>, Option<ingest::Source>, Option<String>)> {
    let StageParams::Ingest(config) = &instance.params else { return Ok((None, None, None)) };
    // A forced ingest stage hashes its files again instead of trusting size and time.
    let trust = !options.force.contains(&instance.stage);
    let main = resolve_source(cache, config, &instance.id, options, download, trust)?;
    let test = match config.test_file_config() {
        Some(test_config) => {
            resolve_source(cache, &test_config, &instance.id, options, download, trust)?
        }
        None => None,
    };
    let hash = match (&main, &test, config.test.is_some()) {
        (Some(main), None, false) => Some(main.sha256.clone()),
        (Some(main), Some(test), true) => Some(format!("{}+{}", main.sha256, test.sha256)),
        _ => None,
    };
    Ok((main, test, hash))
}

/// Returns the version constant of a stage kind's implementation.
fn stage_version(kind: StageKind) -> u32 {
    match kind {
        StageKind::Ingest => ingest::VERSION,
        StageKind::Preprocess => preprocess::VERSION,
        StageKind::Train => train::VERSION,
        StageKind::Evaluate => evaluate::VERSION,
        StageKind::Report => report::VERSION,
    }
}

/// Computes the key record of an instance from its inputs' records, or `None` when an
/// input's key (or the raw data's hash) is not known.
fn key_record(
    instance: &Instance,
    instances: &[Instance],
    keys: &[Option<KeyRecord>],
    data: Option<String>,
) -> Option<KeyRecord> {
    if instance.kind() == StageKind::Ingest && data.is_none() {
        return None;
    }
    let mut inputs = BTreeMap::new();
    for &input in &instance.inputs {
        inputs.insert(instances[input].id.clone(), keys[input].as_ref()?.key.clone());
    }
    Some(make_record(instance, inputs, data))
}

fn make_record(
    instance: &Instance,
    inputs: BTreeMap<String, String>,
    data: Option<String>,
) -> KeyRecord {
    let params = instance.key_params.clone();
    let version = stage_version(instance.kind());
    let input_keys: Vec<&str> = inputs.values().map(String::as_str).collect();
    let extra = data.as_deref().unwrap_or_default().as_bytes();
    let key = Manifest::compute_key(instance.kind(), version, &params, &input_keys, extra);
    KeyRecord { key, version, params, inputs, data }
}

/// Finds an ingest stage's raw file, trusting a remembered hash when the file's size and
/// modification time are unchanged, and otherwise hashing (and if needed downloading) it.
fn resolve_source(
    cache: &Cache,
    config: &ingest::IngestConfig,
    stage: &str,
    options: &RunOptions<'_>,
    download: bool,
    trust_known_hash: bool,
) -> anyhow::Result<Option<ingest::Source>> {
    let failure = |class, source: anyhow::Error| StageFailure {
        stage: stage.to_string(),
        kind: StageKind::Ingest,
        class,
        source,
    };
    let registry = ingest::Registry::load(&options.registry)
        .map_err(|e| failure(ExitClass::Config, e.into()))?;
    let (path, expected) = match (&config.dataset, &config.path) {
        (Some(name), _) => {
            let entry = registry.get(name).map_err(|e| failure(ExitClass::Config, e.into()))?;
            (options.data_dir.join(&entry.file), Some(entry.sha256.clone()))
        }
        (None, Some(path)) => (path.clone(), config.sha256.clone()),
        (None, None) => {
            return Err(
                failure(ExitClass::Config, anyhow::anyhow!("set `dataset` or `path`")).into()
            );
        }
    };
    if trust_known_hash
        && let Some(sha256) = cache.known_hash(&path)
        && expected.as_ref().is_none_or(|e| e.eq_ignore_ascii_case(&sha256))
    {
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default();
        return Ok(Some(ingest::Source { path, sha256, bytes, dataset: config.dataset.clone() }));
    }
    if !download && !path.exists() {
        return Ok(None);
    }
    let source = ingest::resolve(config, &registry, &options.data_dir, options.progress)
        .map_err(|e| failure(ExitClass::Data, e.into()))?;
    cache.remember_hash(&source.path, &source.sha256)?;
    Ok(Some(source))
}

/// The result of one instance, sent from a worker thread.
struct Outcome {
    index: usize,
    result: Result<(&'static str, Manifest), StageFailure>,
    seconds: f64,
}

/// The records, manifests and failures of the instances while a run executes.
struct Outcomes {
    /// The record of each instance once it finished, was skipped or (locally) started.
    records: Vec<Option<StageRecord>>,
    /// The manifest of each instance that completed.
    manifests: Vec<Option<Manifest>>,
    /// Failures with their exit class, first first.
    failures: Vec<(ExitClass, String)>,
}

impl Outcomes {
    fn new(count: usize) -> Outcomes {
        Outcomes { records: vec![None; count], manifests: vec![None; count], failures: Vec::new() }
    }

    /// Records an instance as skipped when an input it needs failed or was skipped.
    fn skip_if_blocked(&mut self, plan: &Plan<'_>, index: usize) {
        let instance = &plan.instances[index];
        let incomplete = |i: &&usize| {
            self.records[**i]
                .as_ref()
                .is_some_and(|r| r.status == "failed" || r.status == "skipped")
        };
        // A report goes ahead with the trials that completed, unless none did.
        let failed_input = if instance.kind() == StageKind::Report {
            if instance.inputs.iter().all(|i| incomplete(&i)) {
                instance.inputs.first()
            } else {
                None
            }
        } else {
            instance.inputs.iter().find(incomplete)
        };
        if let Some(&input) = failed_input {
            self.records[index] = Some(StageRecord {
                name: instance.id.clone(),
                kind: instance.kind(),
                status: "skipped",
                seconds: 0.0,
                key: None,
                error: Some(format!("input `{}` did not complete", plan.instances[input].id)),
            });
        }
    }

    /// Returns whether an instance has not started and every input has finished.
    fn is_ready(&self, plan: &Plan<'_>, index: usize) -> bool {
        let finished = |i: &usize| self.records[*i].as_ref().is_some_and(|r| r.status != "running");
        self.records[index].is_none() && plan.instances[index].inputs.iter().all(finished)
    }

    /// Returns the manifests of an instance's completed inputs and the trials that did not
    /// complete, which a report lists.
    fn inputs_of(
        &self,
        plan: &Plan<'_>,
        index: usize,
    ) -> (Vec<(usize, Manifest)>, Vec<report::FailedTrial>) {
        let instance = &plan.instances[index];
        let inputs = instance
            .inputs
            .iter()
            .filter_map(|&i| self.manifests[i].clone().map(|m| (i, m)))
            .collect();
        let failed = instance
            .inputs
            .iter()
            .filter(|&&i| self.manifests[i].is_none())
            .map(|&i| plan.failed_trial(i, &self.records))
            .collect();
        (inputs, failed)
    }

    /// Stores the outcome of an instance that ran or was found in the cache.
    fn record(&mut self, plan: &Plan<'_>, outcome: Outcome) {
        let instance = &plan.instances[outcome.index];
        self.records[outcome.index] = Some(match outcome.result {
            Ok((status, manifest)) => {
                let record = StageRecord {
                    name: instance.id.clone(),
                    kind: instance.kind(),
                    status,
                    seconds: if status == "ran" { outcome.seconds } else { 0.0 },
                    key: Some(manifest.key.clone()),
                    error: None,
                };
                self.manifests[outcome.index] = Some(manifest);
                record
            }
            Err(failure) => {
                let message = format!("{failure}");
                self.failures.push((failure.class, message.clone()));
                StageRecord {
                    name: instance.id.clone(),
                    kind: instance.kind(),
                    status: "failed",
                    seconds: outcome.seconds,
                    key: None,
                    error: Some(one_line(&failure.source)),
                }
            }
        });
    }
}

impl Plan<'_> {
    /// Runs every instance that is not cached and writes the run directory.
    pub fn execute(self) -> anyhow::Result<RunRecord> {
        let started = Instant::now();
        let run_dir = new_run_dir(&self.options.runs_dir, &self.experiment.meta.name)?;
        tracing::info!(run_dir = %run_dir.display(), "starting run");
        let mut outcomes = Outcomes::new(self.instances.len());
        match self.options.executor {
            Executor::Local => self.execute_local(&run_dir, &mut outcomes),
            Executor::Slurm { max_running } => {
                self.execute_slurm(&run_dir, max_running, &mut outcomes)?
            }
        }
        self.finish(run_dir, outcomes, started)
    }

    /// Runs the instances on threads of this process, up to `jobs` at once.
    fn execute_local(&self, run_dir: &Path, outcomes: &mut Outcomes) {
        let count = self.instances.len();
        let mut running = 0usize;
        let computed = std::sync::Mutex::new(BTreeSet::new());

        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::channel::<Outcome>();
            loop {
                // Skip instances whose inputs failed, then start ready ones up to the limit.
                for index in 0..count {
                    if outcomes.records[index].is_none() {
                        outcomes.skip_if_blocked(self, index);
                    }
                }
                let all_done = outcomes.records.iter().all(Option::is_some);
                if all_done && running == 0 {
                    break;
                }
                let mut started_any = false;
                for index in 0..count {
                    if running >= self.options.jobs.max(1) {
                        break;
                    }
                    if !outcomes.is_ready(self, index) {
                        continue;
                    }
                    // Mark as running with a placeholder that the outcome replaces.
                    outcomes.records[index] = Some(StageRecord {
                        name: self.instances[index].id.clone(),
                        kind: self.instances[index].kind(),
                        status: "running",
                        seconds: 0.0,
                        key: None,
                        error: None,
                    });
                    running += 1;
                    started_any = true;
                    let (inputs, failed) = outcomes.inputs_of(self, index);
                    let sender = sender.clone();
                    let computed = &computed;
                    scope.spawn(move || {
                        let started = Instant::now();
                        let result = self.run_instance(index, &inputs, failed, run_dir, computed);
                        let _ = sender.send(Outcome {
                            index,
                            result,
                            seconds: started.elapsed().as_secs_f64(),
                        });
                    });
                }
                if running == 0 && !started_any {
                    break;
                }
                let outcome = receiver.recv().expect("a worker is running");
                running -= 1;
                outcomes.record(self, outcome);
            }
        });
    }

    /// Links the cache entries into the run directory and writes `results.parquet` and
    /// `run.json`.
    fn finish(
        &self,
        run_dir: PathBuf,
        outcomes: Outcomes,
        started: Instant,
    ) -> anyhow::Result<RunRecord> {
        let stages: Vec<StageRecord> =
            outcomes.records.into_iter().map(|r| r.expect("every instance finished")).collect();
        let failures = outcomes.failures;
        self.link_entries(&run_dir, &stages)?;
        let trials = self.trials(&stages)?;
        crate::results::write(&run_dir.join("results.parquet"), &trials)?;
        let reports: Vec<PathBuf> = self
            .instances
            .iter()
            .zip(&stages)
            .filter(|(instance, record)| {
                instance.kind() == StageKind::Report && record.key.is_some()
            })
            .map(|(instance, _)| run_dir.join(&instance.id).join(report::REPORT_FILE))
            .collect();
        let record = RunRecord {
            experiment: self.experiment.meta.name.clone(),
            config: self.experiment.path.clone(),
            overrides: self.experiment.overrides.clone(),
            status: if failures.is_empty() { "ok" } else { "failed" },
            run_dir: run_dir.clone(),
            report: reports.first().cloned(),
            reports,
            seconds: started.elapsed().as_secs_f64(),
            stages,
            trials,
            failures,
        };
        crate::cache::write_atomically(&run_dir.join("run.json"), &record)?;
        Ok(record)
    }

    /// Describes a trial whose evaluate instance did not complete, for the report.
    fn failed_trial(
        &self,
        evaluate: usize,
        records: &[Option<StageRecord>],
    ) -> report::FailedTrial {
        let train = self.instances[evaluate].inputs[0];
        let reason = [train, evaluate]
            .iter()
            .find_map(|&i| {
                records[i]
                    .as_ref()
                    .and_then(|r| (r.status == "failed").then(|| r.error.clone()).flatten())
            })
            .unwrap_or_else(|| "an upstream stage did not complete".into());
        report::FailedTrial {
            name: self.instances[train].id.clone(),
            stage: self.instances[train].stage.clone(),
            varied: self.instances[train].varied.clone(),
            reason,
        }
    }

    /// Returns the cache entry directory of a finished instance's manifest.
    fn dir(&self, manifest: &Manifest) -> PathBuf {
        self.cache.entry_dir(&manifest.key)
    }

    /// Returns the key record of an instance from the manifests of its inputs and the trials
    /// that did not complete. Inputs are known now, so the key is too, even where the plan
    /// could not know it.
    fn instance_record(
        &self,
        index: usize,
        inputs: &[(usize, Manifest)],
        failed: &[report::FailedTrial],
    ) -> KeyRecord {
        let instance = &self.instances[index];
        let mut input_keys: BTreeMap<String, String> =
            inputs.iter().map(|(i, m)| (self.instances[*i].id.clone(), m.key.clone())).collect();
        for trial in failed {
            input_keys.insert(trial.name.clone(), "failed".into());
        }
        match &self.keys[index] {
            Some(record) if record.inputs == input_keys => record.clone(),
            _ => make_record(instance, input_keys, self.data_hashes.get(&index).cloned()),
        }
    }

    /// Runs or reuses one instance; `inputs` are the manifests of its input instances.
    fn run_instance(
        &self,
        index: usize,
        inputs: &[(usize, Manifest)],
        failed: Vec<report::FailedTrial>,
        run_dir: &Path,
        computed: &std::sync::Mutex<BTreeSet<String>>,
    ) -> Result<(&'static str, Manifest), StageFailure> {
        let instance = &self.instances[index];
        let fail = |class, source: anyhow::Error| StageFailure {
            stage: instance.id.clone(),
            kind: instance.kind(),
            class,
            source,
        };
        let other = |e: anyhow::Error| fail(ExitClass::Other, e);
        if let Some(invalid) = &instance.invalid {
            return Err(fail(ExitClass::Config, anyhow::anyhow!("invalid parameters: {invalid}")));
        }

        let record = self.instance_record(index, inputs, &failed);
        let key = record.key.clone();

        let _lock = self.cache.lock(&key).map_err(other)?;
        let forced =
            self.forced.contains(&index) && !computed.lock().expect("not poisoned").contains(&key);
        match self.cache.lookup(&key) {
            Lookup::Valid(manifest) if !forced => {
                self.cache
                    .write_key_record(&self.experiment.meta.name, &instance.id, &record)
                    .map_err(other)?;
                return Ok(("cached", manifest));
            }
            Lookup::Corrupt(reason) => {
                tracing::warn!(
                    stage = instance.id.as_str(),
                    key = key.as_str(),
                    reason = reason.as_str(),
                    "rebuilding a corrupted cache entry"
                );
                self.cache.remove(&key).map_err(other)?;
            }
            _ => {}
        }

        let started = Instant::now();
        tracing::debug!(stage = instance.id.as_str(), kind = %instance.kind(), "running stage");
        let output =
            StageOutput::create(&self.cache.entry_dir(&key)).map_err(|e| other(e.into()))?;
        let rows = self
            .run_stage(index, inputs, failed, output.path(), run_dir)
            .map_err(|(class, e)| fail(class, e))?;
        let manifest = Manifest {
            stage: instance.id.clone(),
            kind: instance.kind(),
            version: record.version,
            key: key.clone(),
            params: record.params.clone(),
            inputs: inputs
                .iter()
                .map(|(i, m)| InputRef { stage: self.instances[*i].id.clone(), key: m.key.clone() })
                .collect(),
            outputs: Vec::new(),
            rows,
            seconds: started.elapsed().as_secs_f64(),
            created_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        let manifest = output.publish(manifest).map_err(|e| other(e.into()))?;
        computed.lock().expect("not poisoned").insert(key);
        self.cache
            .write_key_record(&self.experiment.meta.name, &instance.id, &record)
            .map_err(other)?;
        Ok(("ran", manifest))
    }

    /// Runs the stage function of an instance into `out`; returns row counts for the manifest.
    fn run_stage(
        &self,
        index: usize,
        inputs: &[(usize, Manifest)],
        failed: Vec<report::FailedTrial>,
        out: &Path,
        run_dir: &Path,
    ) -> Result<BTreeMap<String, u64>, (ExitClass, anyhow::Error)> {
        let instance = &self.instances[index];
        let progress = self.options.progress;
        let mut rows = BTreeMap::new();
        let mut task = (instance.kind() != StageKind::Train)
            .then(|| progress.task(&instance.id, None, Unit::Rows));
        let message = match &instance.params {
            StageParams::Ingest(config) => {
                let source = self.sources.get(&index).ok_or_else(|| {
                    (ExitClass::Data, anyhow::anyhow!("the data file was not resolved"))
                })?;
                let test_source = self.test_sources.get(&index);
                if config.test.is_some() && test_source.is_none() {
                    return Err((
                        ExitClass::Data,
                        anyhow::anyhow!("the test file was not resolved"),
                    ));
                }
                let output = ingest::run(config, source, test_source, out, progress)
                    .map_err(|e| (ExitClass::Data, e.into()))?;
                let summary = output.summary;
                rows.insert("data".to_string(), summary.rows);
                if let Some(test) = &output.test_summary {
                    rows.insert("test".to_string(), test.rows);
                }
                format!(
                    "{} rows, {} columns, {} anomalies",
                    summary.rows,
                    summary.columns.len(),
                    summary.label_counts.anomaly
                )
            }
            StageParams::Preprocess(config) => {
                let summary = preprocess::run(
                    config,
                    self.experiment.meta.seed,
                    &self.dir(&inputs[0].1),
                    out,
                )
                .map_err(|e| {
                    let class = if matches!(e, preprocess::Error::InvalidConfig { .. }) {
                        ExitClass::Config
                    } else {
                        ExitClass::Data
                    };
                    (class, e.into())
                })?;
                for (split, counts) in &summary.splits {
                    rows.insert(split.clone(), counts.normal + counts.anomaly);
                }
                summary
                    .splits
                    .iter()
                    .map(|(split, c)| {
                        format!("{split} {} ({} anomalies)", c.normal + c.anomaly, c.anomaly)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            StageParams::Train(config) => {
                let device = self.device(instance).map_err(|e| (ExitClass::Config, e))?;
                let seed = config.seed.unwrap_or(self.experiment.meta.seed);
                let summary = train::run(
                    config,
                    seed,
                    &device,
                    &self.dir(&inputs[0].1),
                    out,
                    &instance.id,
                    progress,
                )
                .map_err(|e| {
                    let class = match e {
                        train::Error::InvalidConfig { .. } => ExitClass::Config,
                        train::Error::Diverged { .. } => ExitClass::Training,
                        train::Error::Data(_) => ExitClass::Data,
                        _ => ExitClass::Other,
                    };
                    (class, e.into())
                })?;
                rows.insert("train".to_string(), summary.training_rows);
                String::new()
            }
            StageParams::Evaluate(config) => {
                let preprocess_key = &inputs[0].1.inputs[0].key;
                let preprocess_dir = self.cache.entry_dir(preprocess_key);
                let device = self.device(instance).map_err(|e| (ExitClass::Config, e))?;
                let evaluation =
                    evaluate::run(config, &self.dir(&inputs[0].1), &preprocess_dir, out, &device)
                        .map_err(|e| (ExitClass::Data, e.into()))?;
                rows.insert("validation".to_string(), evaluation.validation.rows);
                rows.insert("test".to_string(), evaluation.test.rows);
                format!(
                    "test ROC-AUC {:.4}, average precision {:.4}",
                    evaluation.test.roc_auc, evaluation.test.average_precision
                )
            }
            StageParams::Report(config) => {
                let input =
                    self.report_input(inputs, failed, config).map_err(|e| (ExitClass::Other, e))?;
                report::run(&input, out).map_err(|e| (ExitClass::Other, e.into()))?;
                format!("wrote {}", run_dir.join(&instance.id).join(report::REPORT_FILE).display())
            }
        };
        if let Some(task) = task.as_mut() {
            task.finish(&message);
        }
        Ok(rows)
    }

    /// Selects the device that the instance's key names, so that a stage never runs on
    /// another device than its key records (the Slurm executor chooses it for the node that
    /// a task lands on, not for the submitting host).
    fn device(&self, instance: &Instance) -> anyhow::Result<candle_core::Device> {
        let configured = match &instance.params {
            StageParams::Train(config) => config.device.clone(),
            _ => None,
        }
        .unwrap_or_else(|| self.experiment.meta.device.clone());
        let choice = instance
            .key_params
            .get("device")
            .and_then(serde_json::Value::as_str)
            .and_then(|name| model::DeviceChoice::try_from(name.to_string()).ok())
            .unwrap_or(configured);
        let device = model::select_device(&choice)?;
        tracing::info!(
            stage = instance.id.as_str(),
            device = model::device_name(&device),
            "selected device"
        );
        Ok(device)
    }

    /// Collects the files a report reads, following each evaluate instance upstream.
    fn report_input(
        &self,
        inputs: &[(usize, Manifest)],
        failed: Vec<report::FailedTrial>,
        config: &crate::experiment::ReportConfig,
    ) -> anyhow::Result<report::ReportInput> {
        let mut models = Vec::new();
        let mut dataset = None;
        let mut preprocess = None;
        for (input, manifest) in inputs {
            let evaluation = &self.instances[*input];
            let train_index = evaluation.inputs[0];
            let train_instance = &self.instances[train_index];
            let train_key = &manifest.inputs[0].key;
            let train_dir = self.cache.entry_dir(train_key);
            let train_manifest = Manifest::load(&train_dir)?;
            let preprocess_dir = self.cache.entry_dir(&train_manifest.inputs[0].key);
            if preprocess.is_none() {
                let preprocess_manifest = Manifest::load(&preprocess_dir)?;
                dataset = Some(
                    self.cache
                        .entry_dir(&preprocess_manifest.inputs[0].key)
                        .join(ingest::SUMMARY_FILE),
                );
                preprocess = Some(preprocess_dir.join("preprocess.json"));
            }
            let evaluate_dir = self.dir(manifest);
            models.push(report::ModelInput {
                name: train_instance.id.clone(),
                stage: train_instance.stage.clone(),
                varied: train_instance.varied.clone(),
                params: train_instance.params.to_json(),
                training: train_dir.join("training.json"),
                history: train_dir.join("history.parquet"),
                metrics: evaluate_dir.join("metrics.json"),
                scores: evaluate_dir.join("scores.parquet"),
                curves: evaluate_dir.join("curves.parquet"),
            });
        }
        Ok(report::ReportInput {
            title: config.title.clone().unwrap_or_else(|| self.experiment.meta.name.clone()),
            dataset: dataset.context("a report needs at least one evaluated model")?,
            preprocess: preprocess.context("a report needs at least one evaluated model")?,
            models,
            failed,
        })
    }

    /// Links each instance's cache entry into the run directory under the instance's name.
    fn link_entries(&self, run_dir: &Path, stages: &[StageRecord]) -> anyhow::Result<()> {
        let cache_root = std::path::absolute(self.cache.root())?;
        for record in stages {
            let Some(key) = &record.key else { continue };
            let link = run_dir.join(&record.name);
            let target = cache_root.join("stages").join(key);
            std::os::unix::fs::symlink(&target, &link).with_context(|| {
                format!("cannot link {} to {}", link.display(), target.display())
            })?;
        }
        Ok(())
    }

    /// Returns one trial per evaluate instance.
    fn trials(&self, stages: &[StageRecord]) -> anyhow::Result<Vec<Trial>> {
        let mut trials = Vec::new();
        for (index, instance) in self.instances.iter().enumerate() {
            if instance.kind() != StageKind::Evaluate {
                continue;
            }
            let train_index = instance.inputs[0];
            let train = &self.instances[train_index];
            let evaluate_record = &stages[index];
            let train_record = &stages[train_index];
            let mut trial = Trial {
                name: train.id.clone(),
                evaluation: instance.id.clone(),
                stage: train.stage.clone(),
                model: match &train.params {
                    StageParams::Train(config) => config.model.as_str().to_string(),
                    _ => unreachable!("evaluate instances read train instances"),
                },
                status: if matches!(evaluate_record.status, "ran" | "cached") {
                    "ok"
                } else if evaluate_record.status == "failed" || train_record.status == "failed" {
                    "failed"
                } else {
                    "skipped"
                },
                error: train_record.error.clone().or_else(|| evaluate_record.error.clone()),
                params: train.params.to_json(),
                varied: train.varied.clone(),
                metrics: BTreeMap::new(),
                validation_average_precision: None,
                epochs: None,
                device: None,
                seconds: (train_record.seconds, evaluate_record.seconds),
                keys: (train_record.key.clone(), evaluate_record.key.clone()),
            };
            if let (Some(evaluate_key), Some(train_key)) = (&evaluate_record.key, &train_record.key)
            {
                let evaluation: common::Evaluation =
                    common::read_json(&self.cache.entry_dir(evaluate_key).join("metrics.json"))?;
                let training: common::TrainingSummary =
                    common::read_json(&self.cache.entry_dir(train_key).join("training.json"))?;
                let test = &evaluation.test;
                trial.metrics = BTreeMap::from([
                    ("roc_auc", test.roc_auc),
                    ("average_precision", test.average_precision),
                    ("f1", test.f1),
                    ("precision", test.precision),
                    ("recall", test.recall),
                    ("precision_at_k", test.precision_at_k),
                    ("recall_at_1pct_fpr", test.recall_at_1pct_fpr),
                ]);
                trial.validation_average_precision = Some(evaluation.validation.average_precision);
                trial.epochs = Some((training.best_epoch, training.epochs_run));
                trial.device = Some(training.device);
            }
            trials.push(trial);
        }
        Ok(trials)
    }
}

/// Creates `RUNS_DIR/NAME/TIMESTAMP`, adding a suffix if two runs start in the same second.
fn new_run_dir(runs_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let parent = runs_dir.join(name);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    for attempt in 0..1000 {
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
