//! Slurm's command-line tools as the Slurm executor uses them: `sbatch` submits an array job,
//! `squeue` follows its tasks, `scontrol` (or `sacct` once the controller has forgotten the
//! job) reports how a task ended, and `scancel` cancels. The commands find the cluster the
//! usual way, through `SLURM_CONF` or `/etc/slurm/slurm.conf`.
//!
//! SIGINT, SIGTERM and SIGHUP cancel every array job this process has submitted and not yet
//! seen finish; a second signal exits at once.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use anyhow::Context;

pub use xtask::executor::{ExecutorKind, SlurmResources};

/// Set by the first cancelling signal.
static CANCEL_REQUESTED: AtomicBool = AtomicBool::new(false);
/// Array jobs submitted by this process that may still have tasks queued or running.
static ACTIVE_JOBS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The run was cancelled by a signal, and its Slurm jobs with it.
#[derive(Debug)]
pub struct Cancelled {
    /// Ids of the array jobs that `scancel` was sent to.
    pub jobs: Vec<String>,
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.jobs.is_empty() {
            write!(f, "the run was cancelled before any Slurm job was submitted")
        } else {
            write!(f, "the run was cancelled, and with it Slurm jobs {}", self.jobs.join(", "))
        }
    }
}

impl std::error::Error for Cancelled {}

/// Installs the signal handler that cancels this process's Slurm jobs (once per process).
pub fn install_cancel_handler() -> anyhow::Result<()> {
    static INSTALL: Once = Once::new();
    let mut result = Ok(());
    INSTALL.call_once(|| {
        result = ctrlc::set_handler(on_signal).context("cannot install the signal handler");
    });
    result
}

fn on_signal() {
    if CANCEL_REQUESTED.swap(true, Ordering::SeqCst) {
        eprintln!("second interrupt: exiting without waiting for Slurm");
        std::process::exit(130);
    }
    let jobs = active_jobs();
    if jobs.is_empty() {
        eprintln!("cancelling the run");
        return;
    }
    eprintln!("cancelling the run: scancel {}", jobs.join(" "));
    if let Err(error) = cancel(&jobs) {
        eprintln!("error: {error:#}");
    }
}

/// Returns whether a cancelling signal has arrived.
pub fn cancel_requested() -> bool {
    CANCEL_REQUESTED.load(Ordering::SeqCst)
}

/// Returns the array jobs submitted by this process that have not been seen to finish.
pub fn active_jobs() -> Vec<String> {
    ACTIVE_JOBS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

/// Marks an array job as finished, so that a later signal does not cancel it.
pub fn forget_job(job: &str) {
    ACTIVE_JOBS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(|j| j != job);
}

/// An array job to submit.
pub struct ArrayRequest<'a> {
    /// `--job-name`.
    pub name: String,
    /// The batch script each task runs.
    pub script: &'a Path,
    /// Number of tasks, numbered from 0.
    pub tasks: usize,
    /// The maximum number of tasks running at once, if limited.
    pub max_running: Option<usize>,
    /// Log file of each task, with `%a` standing for the task number.
    pub log_pattern: &'a Path,
    /// Working directory of the tasks.
    pub workdir: &'a Path,
    /// Partition, time, CPUs, memory and the other settings.
    pub resources: &'a SlurmResources,
}

impl ArrayRequest<'_> {
    /// Returns the `sbatch` arguments for this request.
    pub fn args(&self) -> Vec<String> {
        let mut array = format!("--array=0-{}", self.tasks.saturating_sub(1));
        if let Some(limit) = self.max_running {
            array.push_str(&format!("%{limit}"));
        }
        let mut args = vec![
            "--parsable".to_string(),
            array,
            format!("--job-name={}", self.name),
            format!("--output={}", self.log_pattern.display()),
            format!("--chdir={}", self.workdir.display()),
        ];
        args.extend(self.resources.sbatch_args());
        args.push(self.script.display().to_string());
        args
    }
}

/// Submits an array job and returns its id.
pub fn submit(request: &ArrayRequest<'_>) -> anyhow::Result<String> {
    let args = request.args();
    tracing::info!(command = format!("sbatch {}", args.join(" ")), "submitting array job");
    let stdout = run("sbatch", &args)?;
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let job = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("sbatch printed `{}` where a job id was expected", stdout.trim());
    }
    ACTIVE_JOBS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(job.clone());
    Ok(job)
}

/// One array task as `squeue` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedTask {
    /// Job state, such as `PENDING`, `RUNNING` or `COMPLETED`.
    pub state: String,
    /// Slurm's reason for a pending task's wait, such as `Resources` or `Priority`.
    pub reason: String,
    /// The node it runs or ran on.
    pub node: String,
}

/// Lists the tasks of an array job that the controller still records, by task number.
///
/// Finished tasks stay listed (with states such as `COMPLETED`) until the controller purges
/// them, `MinJobAge` seconds after they end; a task missing from the list has ended.
pub fn queue(job: &str) -> anyhow::Result<BTreeMap<usize, QueuedTask>> {
    let args = ["--noheader", "--array", "--states=all", "--jobs", job, "--format=%i|%T|%r|%N"];
    let stdout = run("squeue", &args)?;
    Ok(parse_queue(job, &stdout))
}

fn parse_queue(job: &str, stdout: &str) -> BTreeMap<usize, QueuedTask> {
    let mut tasks = BTreeMap::new();
    for line in stdout.lines() {
        let fields: Vec<&str> = line.trim().split('|').collect();
        let [id, state, reason, node] = fields[..] else { continue };
        let Some(numbers) = id.strip_prefix(job).and_then(|rest| rest.strip_prefix('_')) else {
            continue;
        };
        let task = QueuedTask {
            state: state.to_string(),
            reason: reason.to_string(),
            node: node.to_string(),
        };
        for number in task_numbers(numbers) {
            tasks.insert(number, task.clone());
        }
    }
    tasks
}

/// Expands `5`, or a pending range such as `[3-7,9%2]`, into task numbers.
fn task_numbers(text: &str) -> Vec<usize> {
    let text = text.trim_start_matches('[').trim_end_matches(']');
    let text = text.split('%').next().unwrap_or_default();
    let mut numbers = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((low, high)) => {
                if let (Ok(low), Ok(high)) = (low.parse::<usize>(), high.parse::<usize>()) {
                    numbers.extend(low..=high);
                }
            }
            None => numbers.extend(part.parse::<usize>().ok()),
        }
    }
    numbers
}

/// Returns whether a job state is final.
pub fn is_final(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "FAILED"
            | "CANCELLED"
            | "TIMEOUT"
            | "OUT_OF_MEMORY"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "REVOKED"
            | "SPECIAL_EXIT"
    )
}

/// The end of an array task, as far as Slurm records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskEnd {
    /// Final state, such as `FAILED` or `TIMEOUT`.
    pub state: String,
    /// `EXIT:SIGNAL`, such as `4:0` or `0:9`.
    pub exit_code: String,
    /// The node it ran on.
    pub node: String,
    /// Slurm's reason, such as `NonZeroExitCode`.
    pub reason: String,
}

/// Asks `scontrol`, then `sacct`, how an array task ended. Returns `None` when neither
/// records the task.
pub fn task_end(job: &str, task: usize) -> Option<TaskEnd> {
    let id = format!("{job}_{task}");
    if let Ok(stdout) = run("scontrol", &["--oneliner", "show", "job", &id]) {
        let field = |name: &str| {
            stdout
                .split_whitespace()
                .find_map(|token| token.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_default()
                .to_string()
        };
        if !field("JobState").is_empty() {
            return Some(TaskEnd {
                state: field("JobState"),
                exit_code: field("ExitCode"),
                node: field("NodeList"),
                reason: field("Reason"),
            });
        }
    }
    // The controller purges a job `MinJobAge` seconds after it ends, but the accounting
    // database, where there is one, keeps it.
    let args = ["--noheader", "--parsable2", "--allocations", "--jobs", &id];
    let stdout = run("sacct", &[&args[..], &["--format=State,ExitCode,NodeList"]].concat()).ok()?;
    let line = stdout.lines().next()?;
    let mut fields = line.split('|');
    Some(TaskEnd {
        state: fields.next()?.split_whitespace().next().unwrap_or_default().to_string(),
        exit_code: fields.next().unwrap_or_default().to_string(),
        node: fields.next().unwrap_or_default().to_string(),
        reason: String::new(),
    })
}

/// Cancels array jobs with `scancel`.
pub fn cancel(jobs: &[String]) -> anyhow::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    run("scancel", jobs).map(|_| ())
}

/// Runs a Slurm command and returns its stdout, or an error with its stderr.
fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> anyhow::Result<String> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "`{program}` was not found: install the Slurm client commands (Debian: slurm-client) or run with --executor local"
            )
        } else {
            anyhow::anyhow!("cannot run `{program}`: {e}")
        }
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!("`{program}` failed ({}): {}", output.status, stderr.trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Returns the last `count` lines of a log file, reading at most its last 64 KiB.
pub fn log_tail(path: &Path, count: usize) -> Option<Vec<String>> {
    const WINDOW: u64 = 64 * 1024;
    let mut file = std::fs::File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(WINDOW))).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    Some(lines[start..].iter().map(|line| line.to_string()).collect())
}

/// Quotes a path for a POSIX shell script.
pub fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Returns the absolute form of a path, for files that tasks on other nodes read.
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_lines_are_parsed() {
        let stdout = "41_3|RUNNING|None|node1\n41_[4-6%2]|PENDING|JobArrayTaskLimit|\n\
                      41_0|COMPLETED|None|node2\n42_1|RUNNING|None|node1\n";
        let tasks = parse_queue("41", stdout);
        let numbers: Vec<usize> = tasks.keys().copied().collect();
        assert_eq!(numbers, [0, 3, 4, 5, 6]);
        assert_eq!(tasks[&3].node, "node1");
        assert_eq!(tasks[&5].reason, "JobArrayTaskLimit");
        assert_eq!(tasks[&0].state, "COMPLETED");
    }

    #[test]
    fn task_number_lists_expand() {
        assert_eq!(task_numbers("7"), [7]);
        assert_eq!(task_numbers("[1-3,5]"), [1, 2, 3, 5]);
        assert_eq!(task_numbers("[0-1%4]"), [0, 1]);
    }

    #[test]
    fn array_request_arguments() {
        let resources = SlurmResources::default();
        let request = ArrayRequest {
            name: "xtask-fraud-train".into(),
            script: Path::new("/jobs/train.sh"),
            tasks: 12,
            max_running: Some(4),
            log_pattern: Path::new("/jobs/logs/train-%a.log"),
            workdir: Path::new("/jobs"),
            resources: &resources,
        };
        let args = request.args();
        assert_eq!(args[1], "--array=0-11%4");
        assert_eq!(args.last().unwrap(), "/jobs/train.sh");
    }

    #[test]
    fn quoted_path_keeps_quotes() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn log_tail_returns_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(log_tail(&path, 2).unwrap(), ["two", "three"]);
        assert!(log_tail(&dir.path().join("missing.log"), 2).is_none());
    }
}
