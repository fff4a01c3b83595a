//! The Slurm executor: runs the instances of a plan as Slurm array jobs, and the `stage`
//! subcommand that each array task runs.
//!
//! The instances are grouped in levels of the stage graph (ingest, preprocess, the trials,
//! their evaluations, the report). For each level the orchestrator checks the cache, and
//! the instances it does not hold are written into a plan file and submitted as one array
//! job per stage kind, one task per instance. The next level starts when every task of
//! the level has ended, because its keys depend on the manifests the level publishes.
//!
//! A task rebuilds its instance from the experiment text in the plan file, checks that the
//! key it computes equals the submitted key, and runs the instance exactly as a local run
//! does: under the key's lock in the shared cache, publishing the entry by an atomic
//! rename. It writes a small result file that the orchestrator reads. A task that writes
//! none (killed for time or memory, or cancelled) is reported with Slurm's state and the
//! tail of its log.
//!
//! Files of a run live in `CACHE/slurm/EXPERIMENT/RUN/`: `LEVEL-KIND.json` (the plan),
//! `LEVEL-KIND.sh` (the batch script), `logs/LEVEL-KIND-TASK.log` and
//! `results/LEVEL-KIND-TASK.json`. The folder is removed when every task succeeded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::{Manifest, StageKind, Task, Unit};
use model::DeviceChoice;
use serde::{Deserialize, Serialize};

use super::{
    ExitClass, Outcome, Outcomes, Plan, RunOptions, StageFailure, resolve_ingest, stage_version,
};
use crate::cache::{Cache, KeyRecord, Lookup};
use crate::experiment::{Experiment, ExperimentMeta, StageParams};
use crate::slurm::{self as commands, ArrayRequest, Cancelled};
use crate::sweep::{self, Instance};

/// Layout version of plan and result files; a task rejects a plan of another version.
const PLAN_FORMAT: u32 = 1;
/// Lines of a failed task's log shown on stderr.
const LOG_TAIL_LINES: usize = 20;
/// First and longest wait between two `squeue` calls.
const POLL_INTERVAL: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(10));
/// Consecutive failed `squeue` calls after which the run stops waiting.
const MAX_QUEUE_ERRORS: u32 = 30;
/// How long a cancelled run waits for its tasks to leave the queue.
const CANCEL_WAIT: Duration = Duration::from_secs(60);
/// How long the orchestrator waits for files that tasks on other nodes wrote to become
/// visible. NFS clients cache directory lookups, misses included, for up to `acdirmax`
/// seconds (60 by default on Linux), so a new file can stay invisible for that long.
const VISIBILITY_WAIT: Duration = Duration::from_secs(60);

/// The plan file of one array job, read by each of its tasks.
#[derive(Debug, Serialize, Deserialize)]
struct ArrayPlan {
    /// [`PLAN_FORMAT`].
    format: u32,
    /// The experiment file as given on the command line, for messages.
    experiment: PathBuf,
    /// The experiment file's text when the run started.
    text: String,
    /// The `-S` overrides of the run.
    overrides: Vec<String>,
    /// The working directory of the submitting process, which tasks change to, so that
    /// relative paths name the same files and are recorded as given, as in a local run.
    workdir: PathBuf,
    /// Absolute path of the shared cache.
    cache_dir: PathBuf,
    /// The data directory as given.
    data_dir: PathBuf,
    /// The dataset registry as given.
    registry: PathBuf,
    /// The run directory, named in the report's progress message.
    run_dir: PathBuf,
    /// The folder of the result files, `NAME-TASK.json`.
    results_dir: PathBuf,
    /// The file name stem shared by the plan, script, logs and results of this array.
    name: String,
    /// One entry per array task.
    tasks: Vec<TaskSpec>,
}

/// The instance one array task runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaskSpec {
    /// Instance name, such as `mlp#3`.
    instance: String,
    /// The key the orchestrator computed; the task refuses to run under another.
    key: String,
    /// Keys of the completed inputs, by instance name.
    inputs: BTreeMap<String, String>,
    /// Trials that did not complete, which a report lists.
    failed: Vec<report::FailedTrial>,
    /// Whether `--force` applies to this instance.
    force: bool,
}

/// The result file of a task, read by the orchestrator.
#[derive(Debug, Serialize, Deserialize)]
struct TaskResult {
    /// [`PLAN_FORMAT`].
    format: u32,
    /// Instance name.
    instance: String,
    /// Host name of the node.
    host: String,
    /// `ran`, `cached` or `failed`.
    status: String,
    /// Wall time of the instance in seconds.
    seconds: f64,
    /// Class of the failure, when failed.
    class: Option<ExitClass>,
    /// The failure as one line, when failed.
    reason: Option<String>,
}

/// An instance waiting to be submitted, or submitted and running.
struct Pending {
    index: usize,
    spec: TaskSpec,
}

/// One submitted array job and what is known about its tasks.
struct ArrayJob {
    /// Slurm's job id, or the reason `sbatch` failed.
    id: Result<String, String>,
    name: String,
    kind: StageKind,
    tasks: Vec<Pending>,
    /// The last state `squeue` listed for each task.
    states: BTreeMap<usize, commands::QueuedTask>,
    done: bool,
    progress: Box<dyn Task>,
    summary: String,
}

/// Changes the `auto` device in the keys of train and evaluate instances to the device their
/// Slurm tasks get: `cuda:0` when the kind's `gres` requests a GPU, else `cpu`.
///
/// The submitting host is often a login node without the GPUs of the compute nodes, so
/// resolving `auto` there would name the wrong device. An explicit device is kept.
pub(super) fn pin_devices(instances: &mut [Instance], meta: &ExperimentMeta) {
    let config = meta.slurm.clone().unwrap_or_default();
    for instance in instances {
        let choice = match &instance.params {
            StageParams::Train(config) => config.device.clone().unwrap_or(meta.device.clone()),
            StageParams::Evaluate(_) => meta.device.clone(),
            _ => continue,
        };
        if choice != DeviceChoice::Auto {
            continue;
        }
        let device =
            if config.resources(instance.kind()).requests_gpu() { "cuda:0" } else { "cpu" };
        if let Some(params) = instance.key_params.as_object_mut() {
            params.insert("device".into(), device.into());
        }
    }
}

impl Plan<'_> {
    /// Runs the instances as Slurm array jobs, one level of the stage graph at a time.
    pub(super) fn execute_slurm(
        &self,
        run_dir: &Path,
        max_running: Option<usize>,
        outcomes: &mut Outcomes,
    ) -> anyhow::Result<()> {
        commands::install_cancel_handler()?;
        let run_name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let jobs_dir = commands::absolute(self.cache.root())?
            .join("slurm")
            .join(&self.experiment.meta.name)
            .join(run_name.unwrap_or_default());
        let mut any_failed = false;
        let mut submitted_any = false;
        for (level, indices) in self.levels().into_iter().enumerate() {
            if commands::cancel_requested() {
                return Err(Cancelled { jobs: Vec::new() }.into());
            }
            let (groups, duplicates) = self.collect_level(&indices, run_dir, outcomes);
            if groups.is_empty() && duplicates.is_empty() {
                continue;
            }
            let mut jobs = Vec::new();
            for (kind, tasks) in groups {
                let name = format!("{level}-{kind}");
                submitted_any = true;
                match self.submit(&jobs_dir, &name, kind, tasks, run_dir, max_running) {
                    Ok(job) => jobs.push(job),
                    Err(error) => {
                        // The level cannot complete, so its arrays submitted so far go too.
                        let ids: Vec<String> =
                            jobs.iter().filter_map(|job| job.id.clone().ok()).collect();
                        if let Err(cancel_error) = commands::cancel(&ids) {
                            tracing::warn!("scancel failed: {cancel_error:#}");
                        }
                        return Err(error);
                    }
                }
            }
            self.wait(&mut jobs)?;
            let mut owners = BTreeMap::new();
            for job in jobs {
                any_failed |= self.collect_job(&jobs_dir, job, outcomes, &mut owners);
            }
            for (index, owner, record) in duplicates {
                self.record_duplicate(index, owner, &record, &owners, outcomes)?;
            }
        }
        if submitted_any && !any_failed {
            let _ = std::fs::remove_dir_all(&jobs_dir);
            // Removes the experiment's folder too when no other run keeps files there.
            let _ = jobs_dir.parent().map(std::fs::remove_dir);
        } else if any_failed {
            eprintln!("Slurm plan files and task logs are kept in {}", jobs_dir.display());
        }
        Ok(())
    }

    /// Groups the instance indices by their depth in the stage graph.
    fn levels(&self) -> Vec<Vec<usize>> {
        let mut depth = vec![0usize; self.instances.len()];
        let mut levels: Vec<Vec<usize>> = Vec::new();
        for (index, instance) in self.instances.iter().enumerate() {
            depth[index] = instance.inputs.iter().map(|&i| depth[i] + 1).max().unwrap_or(0);
            if levels.len() <= depth[index] {
                levels.resize(depth[index] + 1, Vec::new());
            }
            levels[depth[index]].push(index);
        }
        levels
    }

    /// Records the instances of a level that need no task (skipped, invalid or cached) and
    /// returns the others by kind, one per key, with the instances that share a key with
    /// one of them as `(index, owner, record)`.
    #[allow(clippy::type_complexity)]
    fn collect_level(
        &self,
        indices: &[usize],
        run_dir: &Path,
        outcomes: &mut Outcomes,
    ) -> (BTreeMap<StageKind, Vec<Pending>>, Vec<(usize, usize, KeyRecord)>) {
        let mut groups: BTreeMap<StageKind, Vec<Pending>> = BTreeMap::new();
        let mut owners: BTreeMap<String, usize> = BTreeMap::new();
        let mut duplicates = Vec::new();
        for &index in indices {
            outcomes.skip_if_blocked(self, index);
            if outcomes.records[index].is_some() {
                continue;
            }
            let instance = &self.instances[index];
            if instance.invalid.is_some() {
                let computed = std::sync::Mutex::new(Default::default());
                let result = self.run_instance(index, &[], Vec::new(), run_dir, &computed);
                outcomes.record(self, Outcome { index, result, seconds: 0.0 });
                continue;
            }
            let (inputs, failed) = outcomes.inputs_of(self, index);
            let record = self.instance_record(index, &inputs, &failed);
            let force = self.forced.contains(&index);
            if !force && let Lookup::Valid(manifest) = self.cache.lookup(&record.key) {
                let written =
                    self.cache.write_key_record(&self.experiment.meta.name, &instance.id, &record);
                let result =
                    written.map(|()| ("cached", manifest)).map_err(|source| StageFailure {
                        stage: instance.id.clone(),
                        kind: instance.kind(),
                        class: ExitClass::Other,
                        source,
                    });
                outcomes.record(self, Outcome { index, result, seconds: 0.0 });
                continue;
            }
            if let Some(&owner) = owners.get(&record.key) {
                duplicates.push((index, owner, record));
                continue;
            }
            owners.insert(record.key.clone(), index);
            let spec = TaskSpec {
                instance: instance.id.clone(),
                key: record.key.clone(),
                inputs: inputs
                    .iter()
                    .map(|(i, m)| (self.instances[*i].id.clone(), m.key.clone()))
                    .collect(),
                failed,
                force,
            };
            groups.entry(instance.kind()).or_default().push(Pending { index, spec });
        }
        (groups, duplicates)
    }

    /// Writes the plan file and batch script of one array and submits it.
    fn submit(
        &self,
        jobs_dir: &Path,
        name: &str,
        kind: StageKind,
        tasks: Vec<Pending>,
        run_dir: &Path,
        max_running: Option<usize>,
    ) -> anyhow::Result<ArrayJob> {
        let results_dir = jobs_dir.join("results");
        let logs_dir = jobs_dir.join("logs");
        for dir in [&results_dir, &logs_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let workdir = std::env::current_dir().context("cannot read the working directory")?;
        let plan = ArrayPlan {
            format: PLAN_FORMAT,
            experiment: self.experiment.path.clone(),
            text: self.experiment.text.to_string(),
            overrides: self.experiment.overrides.clone(),
            workdir: workdir.clone(),
            cache_dir: commands::absolute(self.cache.root())?,
            data_dir: self.options.data_dir.clone(),
            registry: self.options.registry.clone(),
            run_dir: commands::absolute(run_dir)?,
            results_dir,
            name: name.to_string(),
            tasks: tasks.iter().map(|t| t.spec.clone()).collect(),
        };
        let plan_path = jobs_dir.join(format!("{name}.json"));
        crate::cache::write_atomically(&plan_path, &plan)?;
        let script = jobs_dir.join(format!("{name}.sh"));
        let binary = std::env::current_exe().context("cannot find the path of this program")?;
        let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "1".into());
        let threads: usize = threads.parse().unwrap_or(1);
        let text = format!(
            "#!/bin/sh\n\
             # Array task SLURM_ARRAY_TASK_ID runs entry SLURM_ARRAY_TASK_ID of the plan file.\n\
             export RAYON_NUM_THREADS={threads}\n\
             exec {} -v stage {}\n",
            commands::shell_quote(&binary),
            commands::shell_quote(&plan_path)
        );
        std::fs::write(&script, text)
            .with_context(|| format!("cannot write {}", script.display()))?;

        let resources = self.experiment.meta.slurm.clone().unwrap_or_default().resources(kind);
        let log_pattern = logs_dir.join(format!("{name}-%a.log"));
        let request = ArrayRequest {
            name: format!("xtask-{}-{kind}", self.experiment.meta.name),
            script: &script,
            tasks: tasks.len(),
            max_running,
            log_pattern: &log_pattern,
            workdir: &workdir,
            resources: &resources,
        };
        let id = commands::submit(&request).map_err(|e| format!("{e:#}"));
        let title = match &id {
            Ok(job) => format!("slurm {job} {kind}"),
            Err(_) => format!("slurm {kind}"),
        };
        let mut progress =
            self.options.progress.task(&title, Some(tasks.len() as u64), Unit::Tasks);
        match &id {
            Ok(job) => {
                tracing::info!(job = job.as_str(), tasks = tasks.len(), "submitted array job");
                progress.set(0, "submitted");
            }
            Err(error) => progress.finish(&format!("not submitted: {error}")),
        }
        let done = id.is_err();
        Ok(ArrayJob {
            id,
            name: name.to_string(),
            kind,
            tasks,
            states: BTreeMap::new(),
            done,
            progress,
            summary: String::new(),
        })
    }

    /// Follows the array jobs with `squeue` until every task has ended, or cancels them
    /// when a signal arrives.
    fn wait(&self, jobs: &mut [ArrayJob]) -> anyhow::Result<()> {
        let mut interval = POLL_INTERVAL.0;
        let mut errors = 0u32;
        loop {
            if commands::cancel_requested() {
                return Err(self.cancel(jobs));
            }
            let mut changed = false;
            for job in jobs.iter_mut().filter(|job| !job.done) {
                let Ok(id) = job.id.clone() else { continue };
                let queue = match commands::queue(&id) {
                    Ok(queue) => queue,
                    Err(error) => {
                        errors += 1;
                        tracing::warn!(job = id.as_str(), errors, "squeue failed: {error:#}");
                        if errors >= MAX_QUEUE_ERRORS {
                            return Err(error.context(format!(
                                "lost contact with the Slurm controller; job {id} may still run (scancel {id} stops it)"
                            )));
                        }
                        continue;
                    }
                };
                errors = 0;
                changed |= job.update(queue);
            }
            if jobs.iter().all(|job| job.done) {
                return Ok(());
            }
            interval =
                if changed { POLL_INTERVAL.0 } else { (interval * 3 / 2).min(POLL_INTERVAL.1) };
            let until = Instant::now() + interval;
            while Instant::now() < until && !commands::cancel_requested() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Cancels the jobs still running (the signal handler has already sent `scancel`) and
    /// waits a while for them to leave the queue.
    fn cancel(&self, jobs: &mut [ArrayJob]) -> anyhow::Error {
        let ids: Vec<String> =
            jobs.iter().filter(|job| !job.done).filter_map(|job| job.id.clone().ok()).collect();
        if let Err(error) = commands::cancel(&ids) {
            tracing::warn!("scancel failed: {error:#}");
        }
        let deadline = Instant::now() + CANCEL_WAIT;
        for id in &ids {
            while Instant::now() < deadline {
                let active = commands::queue(id)
                    .map(|queue| queue.values().any(|task| !commands::is_final(&task.state)))
                    .unwrap_or(false);
                if !active {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            commands::forget_job(id);
        }
        for job in jobs.iter_mut().filter(|job| !job.done) {
            job.progress.finish("cancelled");
        }
        Cancelled { jobs: ids }.into()
    }

    /// Records the outcome of every task of a finished array job, and prints the reason and
    /// log tail of each failed task. Returns whether a task failed.
    fn collect_job(
        &self,
        jobs_dir: &Path,
        job: ArrayJob,
        outcomes: &mut Outcomes,
        owners: &mut BTreeMap<usize, Result<(), (ExitClass, String)>>,
    ) -> bool {
        let mut any_failed = false;
        let deadline = Instant::now() + VISIBILITY_WAIT;
        let results_dir = jobs_dir.join("results");
        for (task, pending) in job.tasks.iter().enumerate() {
            let instance = &self.instances[pending.index];
            let log = jobs_dir.join("logs").join(format!("{}-{task}.log", job.name));
            let result_path = results_dir.join(format!("{}-{task}.json", job.name));
            // A task that exited by itself has written its result, unless it crashed.
            let exited = job
                .states
                .get(&task)
                .is_none_or(|queued| matches!(queued.state.as_str(), "COMPLETED" | "FAILED"));
            let read_result = || common::read_json::<TaskResult>(&result_path);
            let result = if exited && job.id.is_ok() {
                read_when_visible(&results_dir, deadline, read_result).ok()
            } else {
                read_result().ok()
            };
            let (outcome, failure_note) = match (&job.id, result) {
                (Err(error), _) => {
                    let reason = format!("cannot submit the array job: {error}");
                    (Err((ExitClass::Other, reason)), None)
                }
                (Ok(_), Some(result)) if result.status != "failed" => {
                    let status = if result.status == "ran" { "ran" } else { "cached" };
                    let entry = self.cache.entry_dir(&pending.spec.key);
                    let stages = self.cache.root().join("stages");
                    match read_when_visible(&stages, deadline, || Manifest::load(&entry)) {
                        Ok(manifest) => (Ok((status, manifest, result.seconds)), None),
                        Err(error) => (
                            Err((
                                ExitClass::Other,
                                format!(
                                    "the task reported success but its entry is unreadable: {error}"
                                ),
                            )),
                            None,
                        ),
                    }
                }
                (Ok(id), Some(result)) => {
                    let class = result.class.unwrap_or(ExitClass::Other);
                    let reason = result.reason.unwrap_or_else(|| "no reason recorded".into());
                    let note = format!("Slurm task {id}_{task} failed on {}", result.host);
                    (Err((class, reason)), Some(note))
                }
                (Ok(id), None) => {
                    let (reason, note) = ended_without_result(id, task, &job.kind);
                    (Err((ExitClass::Other, reason)), Some(note))
                }
            };
            let seconds = match &outcome {
                Ok((_, _, seconds)) => *seconds,
                Err(_) => 0.0,
            };
            let result = match outcome {
                Ok((status, manifest, _)) => {
                    owners.insert(pending.index, Ok(()));
                    Ok((status, manifest))
                }
                Err((class, reason)) => {
                    any_failed = true;
                    owners.insert(pending.index, Err((class, reason.clone())));
                    if let Some(note) = failure_note {
                        report_failure(&note, &instance.id, &reason, &log);
                    }
                    Err(StageFailure {
                        stage: instance.id.clone(),
                        kind: instance.kind(),
                        class,
                        source: anyhow::anyhow!(reason),
                    })
                }
            };
            outcomes.record(self, Outcome { index: pending.index, result, seconds });
        }
        let mut progress = job.progress;
        if job.id.is_ok() {
            let failed = job
                .tasks
                .iter()
                .filter(|p| {
                    outcomes.records[p.index].as_ref().is_some_and(|r| r.status == "failed")
                })
                .count();
            progress.finish(&format!("{} tasks ended, {failed} failed", job.tasks.len()));
        }
        any_failed
    }

    /// Records an instance whose key equals that of an instance a task ran: cached when
    /// that task succeeded, failed with its reason otherwise.
    fn record_duplicate(
        &self,
        index: usize,
        owner: usize,
        record: &KeyRecord,
        owners: &BTreeMap<usize, Result<(), (ExitClass, String)>>,
        outcomes: &mut Outcomes,
    ) -> anyhow::Result<()> {
        let instance = &self.instances[index];
        let failure = |class, reason: String| StageFailure {
            stage: instance.id.clone(),
            kind: instance.kind(),
            class,
            source: anyhow::anyhow!(reason),
        };
        let result = match owners.get(&owner) {
            Some(Ok(())) => match self.cache.lookup(&record.key) {
                Lookup::Valid(manifest) => {
                    self.cache.write_key_record(
                        &self.experiment.meta.name,
                        &instance.id,
                        record,
                    )?;
                    Ok(("cached", manifest))
                }
                _ => Err(failure(
                    ExitClass::Other,
                    format!("the entry of `{}` is missing", self.instances[owner].id),
                )),
            },
            Some(Err((class, reason))) => Err(failure(*class, reason.clone())),
            None => Err(failure(ExitClass::Other, "its task did not run".into())),
        };
        outcomes.record(self, Outcome { index, result, seconds: 0.0 });
        Ok(())
    }
}

impl ArrayJob {
    /// Stores the states `squeue` listed and updates the progress line; returns whether
    /// anything changed.
    fn update(&mut self, queue: BTreeMap<usize, commands::QueuedTask>) -> bool {
        let count = self.tasks.len();
        let mut ended = 0;
        let mut running = 0;
        let mut pending = 0;
        let mut reasons = BTreeMap::<String, usize>::new();
        for task in 0..count {
            match queue.get(&task) {
                Some(queued) => {
                    self.states.insert(task, queued.clone());
                    if commands::is_final(&queued.state) {
                        ended += 1;
                    } else if queued.state == "PENDING" {
                        pending += 1;
                        *reasons.entry(queued.reason.clone()).or_default() += 1;
                    } else {
                        running += 1;
                    }
                }
                // The controller has purged a task that ended `MinJobAge` seconds ago.
                None => ended += 1,
            }
        }

        let mut summary = format!("{running} running, {pending} pending");
        reasons.remove("None");
        if !reasons.is_empty() {
            let reasons: Vec<String> = reasons.keys().cloned().collect();
            summary.push_str(&format!(" ({})", reasons.join(", ")));
        }

        let changed = summary != self.summary;
        if changed {
            self.progress.set(ended as u64, &summary);
            self.summary = summary;
        }
        if ended == count {
            self.done = true;
            if let Ok(id) = &self.id {
                commands::forget_job(id);
            }
        }
        changed
    }
}

/// Calls `read` until it succeeds or the deadline passes, opening `dir` between tries so that
/// an NFS client revalidates its cached lookups.
fn read_when_visible<T, E>(
    dir: &Path,
    deadline: Instant,
    mut read: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    loop {
        match read() {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => {
                let _ = std::fs::read_dir(dir).map(|mut entries| entries.next());
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Returns the reason and a note for a task that ended without writing a result, from
/// Slurm's record of how it ended.
fn ended_without_result(job: &str, task: usize, kind: &StageKind) -> (String, String) {
    let Some(end) = commands::task_end(job, task) else {
        let reason = format!(
            "Slurm task {job}_{task} ended without a result, and Slurm no longer records how it ended"
        );
        return (reason, format!("Slurm task {job}_{task} failed"));
    };
    let hint = match end.state.as_str() {
        "TIMEOUT" => format!("; raise `time` in [experiment.slurm.{kind}]"),
        "OUT_OF_MEMORY" => format!("; raise `memory` in [experiment.slurm.{kind}]"),
        _ => String::new(),
    };
    let reason = format!(
        "Slurm task {job}_{task} ended in state {} (exit code {}) without a result{hint}",
        end.state, end.exit_code
    );
    let node = if end.node.is_empty() { "an unknown node".to_string() } else { end.node };
    (reason, format!("Slurm task {job}_{task} failed on {node}"))
}

/// Prints a failed task's reason and the last lines of its log on stderr.
fn report_failure(note: &str, instance: &str, reason: &str, log: &Path) {
    eprintln!("{note} ({instance}): {reason}");
    match commands::log_tail(log, LOG_TAIL_LINES) {
        Some(lines) if !lines.is_empty() => {
            eprintln!("last {} lines of {}:", lines.len(), log.display());
            for line in lines {
                eprintln!("    | {line}");
            }
        }
        _ => eprintln!("its log {} is empty or missing", log.display()),
    }
}

/// Runs one array task: entry `task` of a plan file. Returns the exit code of the instance's
/// failure class, or success.
pub fn run_task(plan_path: &Path, task: usize, threads: usize) -> anyhow::Result<ExitCode> {
    let plan: ArrayPlan = common::read_json(plan_path)
        .with_context(|| format!("cannot read the plan file {}", plan_path.display()))?;
    if plan.format != PLAN_FORMAT {
        anyhow::bail!(
            "{} has plan format {}, and this program reads format {PLAN_FORMAT}; submit with the same xtask binary",
            plan_path.display(),
            plan.format
        );
    }
    let spec = plan.tasks.get(task).with_context(|| {
        format!(
            "{} has {} tasks, so task {task} does not exist",
            plan_path.display(),
            plan.tasks.len()
        )
    })?;

    let host = common::hostname();
    eprintln!(
        "xtask stage: task {task} of {}: instance `{}` with key {} on {host}, {threads} threads",
        plan_path.display(),
        spec.instance,
        spec.key
    );

    let started = Instant::now();
    let outcome = run_spec(&plan, spec);
    let seconds = started.elapsed().as_secs_f64();
    let (status, class, reason) = match outcome {
        Ok(status) => (status.to_string(), None, None),
        Err((class, source)) => {
            let reason = super::one_line(&source);
            eprintln!("error: {reason}");
            ("failed".to_string(), Some(class), Some(reason))
        }
    };

    let result = TaskResult {
        format: PLAN_FORMAT,
        instance: spec.instance.clone(),
        host,
        status,
        seconds,
        class,
        reason,
    };
    let path = plan.results_dir.join(format!("{}-{task}.json", plan.name));
    crate::cache::write_atomically(&path, &result)?;
    Ok(match class {
        Some(class) => ExitCode::from(class as u8),
        None => ExitCode::SUCCESS,
    })
}

/// Rebuilds a task's instance from its plan, checks its key and runs it; returns `ran` or
/// `cached`, or the failure with its class.
fn run_spec(plan: &ArrayPlan, spec: &TaskSpec) -> Result<&'static str, (ExitClass, anyhow::Error)> {
    std::env::set_current_dir(&plan.workdir).map_err(|e| {
        let message = format!(
            "cannot change to the submitting directory {} on this node: {e}; submit from a directory on a filesystem that every node shares",
            plan.workdir.display()
        );
        (ExitClass::Other, anyhow::anyhow!(message))
    })?;

    let experiment = Experiment::parse(&plan.experiment, &plan.text, &plan.overrides)
        .map_err(|e| (ExitClass::Config, e.into()))?;
    let progress = common::PlainProgress::new();
    let options = RunOptions {
        data_dir: plan.data_dir.clone(),
        registry: plan.registry.clone(),
        runs_dir: PathBuf::new(),
        cache_dir: plan.cache_dir.clone(),
        jobs: 1,
        force: Vec::new(),
        progress: &progress,
        executor: super::Executor::Slurm { max_running: None },
    };
    let (task_plan, index) =
        plan_task(&experiment, &options, spec).map_err(|e| (ExitClass::Data, e))?;
    let instance = &task_plan.instances[index];

    if instance.kind() == StageKind::Ingest && !task_plan.data_hashes.contains_key(&index) {
        return Err((
            ExitClass::Data,
            anyhow::anyhow!(
                "a data file of this stage is not readable on this node under {}; the data directory must be on a filesystem that every node shares",
                plan.data_dir.display()
            ),
        ));
    }

    let mut inputs = Vec::new();
    for &input in &instance.inputs {
        let name = &task_plan.instances[input].id;
        let Some(key) = spec.inputs.get(name) else { continue };
        let manifest = Manifest::load(&task_plan.cache.entry_dir(key)).map_err(|e| {
            (ExitClass::Other, anyhow::Error::from(e).context(format!("input `{name}`")))
        })?;
        inputs.push((input, manifest));
    }

    let record = task_plan.instance_record(index, &inputs, &spec.failed);
    if record.key != spec.key {
        return Err((
            ExitClass::Other,
            anyhow::anyhow!(
                "this node computes key {} where the submitting host computed {} (stage version {}): the experiment, the data files or the xtask binary differ between the two; run one binary from a shared filesystem",
                record.key,
                spec.key,
                stage_version(instance.kind())
            ),
        ));
    }

    let computed = std::sync::Mutex::new(Default::default());
    task_plan
        .run_instance(index, &inputs, spec.failed.clone(), &plan.run_dir, &computed)
        .map(|(status, _)| status)
        .map_err(|failure| (failure.class, failure.source))
}

/// Builds a plan that can run a single instance: the expansion and, for an ingest instance,
/// its resolved data files. Keys are computed from the inputs' manifests when it runs.
fn plan_task<'a>(
    experiment: &'a Experiment,
    options: &'a RunOptions<'a>,
    spec: &TaskSpec,
) -> anyhow::Result<(Plan<'a>, usize)> {
    let mut instances =
        sweep::expand(experiment).map_err(|(span, message)| experiment.error_at(span, &message))?;
    pin_devices(&mut instances, &experiment.meta);
    let index = instances
        .iter()
        .position(|instance| instance.id == spec.instance)
        .with_context(|| format!("the experiment has no instance `{}`", spec.instance))?;
    let cache = Cache::open(&options.cache_dir)?;
    let (main, test, hash) = resolve_ingest(&cache, &instances[index], options, false)?;
    let count = instances.len();
    let plan = Plan {
        experiment,
        options,
        cache,
        sources: main.into_iter().map(|source| (index, source)).collect(),
        test_sources: test.into_iter().map(|source| (index, source)).collect(),
        data_hashes: hash.into_iter().map(|hash| (index, hash)).collect(),
        keys: vec![None; count],
        forced: if spec.force { [index].into() } else { Default::default() },
        planned: Vec::new(),
        instances,
    };
    Ok((plan, index))
}
