//! The Slurm executor on a real one-node Slurm cluster, started by the test from Debian's
//! packages (`munge`, `slurmctld`, `slurmd`, `slurm-client`) in a temporary directory.
//!
//! The cluster's daemons run as root and listen on 127.0.0.1 only, on free ports. A guard
//! stops them by process id when the test ends, also when it fails. Without the Slurm
//! packages, root or the shared data the test prints a note and passes, except under
//! `CI=true`, where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::RecordBatchReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Programs the test needs: the daemons and the client commands the executor runs.
const PROGRAMS: [&str; 8] =
    ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Prints why the test checks nothing, or fails under `CI=true`, where everything it needs
/// is installed.
fn unavailable(reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{reason}; CI must provide it (see .ci/run)");
    }
    eprintln!("note: {reason}, so this test checks nothing");
}

/// Finds a program on `PATH` or in the `sbin` folders, where Debian puts the daemons.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        == Some("0")
}

/// Returns two different TCP ports on 127.0.0.1 that nothing listens on now.
fn free_ports() -> (u16, u16) {
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (first.local_addr().unwrap().port(), second.local_addr().unwrap().port())
}

/// Sends SIGTERM to a child, waits up to five seconds, then kills it.
fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A one-node cluster: munged, slurmctld and slurmd, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Cluster {
    /// Starts the daemons and waits until the node accepts jobs.
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // munged requires that every user can traverse to its socket.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().to_path_buf();
        for sub in ["munge", "state", "spool", "log"] {
            fs::create_dir(root.join(sub)).unwrap();
            fs::set_permissions(root.join(sub), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut cluster = Cluster { conf: root.join("slurm.conf"), dir, daemons: Vec::new() };

        let key = root.join("munge/munge.key");
        create_munge_key(&key);
        let socket = root.join("munge/munge.socket");
        let munged = Command::new(find_program("munged").unwrap())
            .arg("--foreground")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--pid-file={}", root.join("munge/munged.pid").display()))
            .arg(format!("--log-file={}", root.join("log/munged.log").display()))
            .arg(format!("--seed-file={}", root.join("munge/munged.seed").display()))
            .stdout(Stdio::null())
            .stderr(fs::File::create(root.join("log/munged.out")).unwrap())
            .spawn()
            .expect("munged starts");
        cluster.daemons.push(munged);
        cluster.wait_for("the munge socket", || socket.exists());

        fs::write(&cluster.conf, slurm_conf(&root, &socket)).unwrap();
        for (daemon, log) in [("slurmctld", "slurmctld.out"), ("slurmd", "slurmd.out")] {
            let child = Command::new(find_program(daemon).unwrap())
                .arg("-D")
                .env("SLURM_CONF", &cluster.conf)
                .stdout(Stdio::null())
                .stderr(fs::File::create(root.join("log").join(log)).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("{daemon} does not start: {e}"));
            cluster.daemons.push(child);
        }
        cluster.wait_for("an idle node", || {
            let output = cluster.command("sinfo", &["--noheader", "--format=%T"]);
            String::from_utf8_lossy(&output.stdout).trim() == "idle"
        });
        cluster
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs a Slurm client command against this cluster.
    fn command(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program).args(args).env("SLURM_CONF", &self.conf).output().unwrap()
    }

    /// Returns the ids of the jobs the controller records, finished ones included.
    fn job_ids(&self) -> BTreeSet<String> {
        let output = self.command("squeue", &["--noheader", "--states=all", "--format=%i"]);
        String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
    }

    /// Returns the number of jobs pending or running.
    fn active_jobs(&self) -> usize {
        let output = self.command("squeue", &["--noheader", "--format=%i"]);
        String::from_utf8_lossy(&output.stdout).lines().count()
    }

    /// Returns the daemons' log files, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in fs::read_dir(self.dir.path().join("log")).unwrap().flatten() {
            let content = fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            text.push_str(&format!("--- {}\n{tail}\n", entry.path().display()));
        }
        text
    }

    /// Runs `xtask` with this cluster's configuration, returning its output.
    fn xtask(&self, args: &[&str]) -> Output {
        self.xtask_command(args).output().expect("the xtask binary runs")
    }

    fn xtask_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .current_dir(repo_root())
            .env("SLURM_CONF", &self.conf)
            .env_remove("RUST_LOG")
            .env_remove("RAYON_NUM_THREADS");
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("scancel", &["--user=root"]);
        // Stop slurmd first so that it does not try to reach a stopped controller.
        for daemon in self.daemons.iter_mut().rev() {
            stop(daemon);
        }
    }
}

/// Writes a munge key with `mungekey`, or `create-munge-key` on older munge versions.
fn create_munge_key(path: &Path) {
    let mut command = match find_program("mungekey") {
        Some(program) => {
            let mut command = Command::new(program);
            command.arg("--create").arg(format!("--keyfile={}", path.display()));
            command
        }
        None => {
            let program = find_program("create-munge-key").expect("mungekey or create-munge-key");
            let mut command = Command::new(program);
            command.arg("-f").arg(path);
            command
        }
    };
    let created = command.status().unwrap();
    assert!(created.success(), "cannot create the munge key {}", path.display());
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// Returns a `slurm.conf` for one node with this machine's CPUs and half its memory.
fn slurm_conf(root: &Path, munge_socket: &Path) -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim().split('.').next().unwrap().to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let memory = kib / 1024 / 2;
    let (ctld_port, slurmd_port) = free_ports();
    let dir = root.display();
    format!(
        "ClusterName=xtasktest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
MessageTimeout=10
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=600
KillWait=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
        socket = munge_socket.display(),
    )
}

/// Returns the fraud study with Slurm settings for every kind and for train stages.
fn experiment_text() -> String {
    let text = fs::read_to_string(repo_root().join("configs/fraud.toml")).unwrap();
    format!(
        "{text}\n[experiment.slurm]\ntime = \"00:10:00\"\ncpus = 1\nmemory = \"1G\"\n\n\
         [experiment.slurm.train]\npartition = \"test\"\nmemory = 1024\n"
    )
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr: {}", stderr_of(output)))
}

/// Returns the statuses of the stages in a JSON summary, by stage name.
fn statuses(summary: &serde_json::Value) -> BTreeMap<String, String> {
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Returns the trials of a JSON summary by name.
fn trials(summary: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    summary["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Returns the arguments of `xtask experiment` with the given cache and runs directories
/// and `--json`.
fn experiment_args(config: &Path, data: &Path, work: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "experiment".to_string(),
        config.display().to_string(),
        "--data-dir".into(),
        data.display().to_string(),
        "--cache-dir".into(),
        work.join("cache").display().to_string(),
        "--runs-dir".into(),
        work.join("runs").display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Runs `xtask experiment` and waits for it.
fn run_experiment(
    cluster: &Cluster,
    config: &Path,
    data: &Path,
    work: &Path,
    extra: &[&str],
) -> Output {
    let args = experiment_args(config, data, work, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cluster.xtask(&args)
}

/// A run of `xtask experiment` in the background, with stdout and stderr in files.
struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    /// Starts `xtask experiment` without waiting; `name` names its output files in `work`.
    fn start(
        cluster: &Cluster,
        name: &str,
        config: &Path,
        data: &Path,
        work: &Path,
        extra: &[&str],
    ) -> Background {
        let args = experiment_args(config, data, work, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fs::create_dir_all(work).unwrap();
        let stdout = work.join(format!("{name}.stdout"));
        let stderr = work.join(format!("{name}.stderr"));
        let child = cluster
            .xtask_command(&args)
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("the xtask binary starts");
        Background { child, stdout, stderr }
    }

    /// Waits up to `limit` for the run to exit and returns its output.
    fn wait(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                stop(&mut self.child);
                panic!("the run did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        Output {
            status,
            stdout: fs::read(&self.stdout).unwrap(),
            stderr: fs::read(&self.stderr).unwrap(),
        }
    }
}

/// Reads a Parquet file's columns by name, leaving out those whose name contains
/// `seconds` (wall times differ between any two runs).
fn parquet_columns(path: &Path) -> BTreeMap<String, Vec<arrow::array::ArrayData>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let mut columns: BTreeMap<String, Vec<arrow::array::ArrayData>> = BTreeMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if !field.name().contains("seconds") {
                columns.entry(field.name().clone()).or_default().push(column.to_data());
            }
        }
    }
    columns
}

/// Removes the fields that record wall times or this run's paths from a JSON value.
fn without_timings(value: &mut serde_json::Value, run_dir: &str) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|key, _| !key.contains("seconds") && key != "created_unix");
            for item in map.values_mut() {
                without_timings(item, run_dir);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                without_timings(item, run_dir);
            }
        }
        serde_json::Value::String(text) if !run_dir.is_empty() => {
            *text = text.replace(run_dir, "RUN")
        }
        _ => {}
    }
}

/// Removes the hashes and sizes of the files that record wall times from a manifest.
fn forget_timed_hashes(manifest: &mut serde_json::Value) {
    for output in manifest["outputs"].as_array_mut().unwrap() {
        if matches!(output["path"].as_str(), Some("history.parquet" | "report.html")) {
            let map = output.as_object_mut().unwrap();
            map.remove("blake3");
            map.remove("bytes");
        }
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks that a Slurm run directory contains the same results as a local one, apart from
/// wall times and paths.
fn assert_same_run(local: &Path, slurm: &Path) {
    let names = |dir: &Path| -> BTreeSet<String> {
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
    };
    assert_eq!(names(local), names(slurm), "the run directories hold different entries");
    for name in names(local) {
        let (a, b) = (local.join(&name), slurm.join(&name));
        if !a.is_symlink() {
            continue;
        }
        let key = |link: &Path| fs::read_link(link).unwrap().file_name().unwrap().to_owned();
        assert_eq!(key(&a), key(&b), "{name} links to entries of different keys");
        for entry in fs::read_dir(&a).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let (fa, fb) = (a.join(&file), b.join(&file));
            match file.as_str() {
                "manifest.json" => {
                    let (mut ma, mut mb) = (read_json(&fa), read_json(&fb));
                    for manifest in [&mut ma, &mut mb] {
                        without_timings(manifest, "");
                        forget_timed_hashes(manifest);
                    }
                    assert_eq!(ma, mb, "{name}/manifest.json differs beyond timings");
                }
                // Both record wall times: the history per epoch, the report in its tables.
                "history.parquet" => {
                    assert_eq!(parquet_columns(&fa), parquet_columns(&fb), "{name}/{file}");
                }
                "report.html" => {}
                _ => assert!(fs::read(&fa).unwrap() == fs::read(&fb).unwrap(), "{name}/{file}"),
            }
        }
    }
    assert_eq!(
        parquet_columns(&local.join("results.parquet")),
        parquet_columns(&slurm.join("results.parquet")),
        "results.parquet differs beyond timings"
    );
    let (mut ra, mut rb) = (read_json(&local.join("run.json")), read_json(&slurm.join("run.json")));
    without_timings(&mut ra, local.to_str().unwrap());
    without_timings(&mut rb, slurm.to_str().unwrap());
    assert_eq!(ra, rb, "run.json differs beyond timings and paths");
}

#[test]
fn fraud_sweep_runs_on_slurm() {
    let data = repo_root().join("../shared/data");
    if !data.join("creditcard/creditcard_sample.csv").is_file() {
        return unavailable(&format!("{} is missing", data.display()));
    }
    if let Some(missing) = PROGRAMS.iter().find(|p| find_program(p).is_none()) {
        return unavailable(&format!(
            "`{missing}` is not installed (apt-get install slurmctld slurmd slurm-client munge)"
        ));
    }
    if !is_root() {
        return unavailable("the test cluster's daemons must run as root");
    }
    let started = Instant::now();
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("fraud.toml");
    fs::write(&config, experiment_text()).unwrap();
    let local_work = work.path().join("local");
    let slurm_work = work.path().join("slurm");

    // The same sweep locally and on Slurm.
    let local = run_experiment(&cluster, &config, &data, &local_work, &[]);
    assert!(local.status.success(), "local run failed: {}", stderr_of(&local));
    let local = summary(&local);
    let jobs_before = cluster.job_ids();
    let output = run_experiment(&cluster, &config, &data, &slurm_work, &["--executor", "slurm"]);
    assert!(
        output.status.success(),
        "Slurm run failed: {}\n{}",
        stderr_of(&output),
        cluster.logs()
    );
    let slurm = summary(&output);
    let submitted: BTreeSet<String> = cluster.job_ids().difference(&jobs_before).cloned().collect();
    assert!(!submitted.is_empty(), "the Slurm run submitted no job");
    for (name, status) in statuses(&slurm) {
        assert_eq!(status, "ran", "{name} did not run on Slurm");
    }
    let (local_trials, slurm_trials) = (trials(&local), trials(&slurm));
    assert_eq!(slurm_trials.len(), 12);
    for (name, trial) in &slurm_trials {
        assert_eq!(trial["status"], "ok", "{name}");
        assert_eq!(trial["metrics"], local_trials[name]["metrics"], "metrics of {name}");
    }
    let local_run = PathBuf::from(local["run_dir"].as_str().unwrap());
    let slurm_run = PathBuf::from(slurm["run_dir"].as_str().unwrap());
    assert_same_run(&local_run, &slurm_run);
    let table = |run: &Path| {
        let output = cluster.xtask(&["compare", run.to_str().unwrap()]);
        assert!(output.status.success(), "compare failed: {}", stderr_of(&output));
        String::from_utf8_lossy(&output.stdout).replace(run.to_str().unwrap(), "RUN")
    };
    assert_eq!(table(&local_run), table(&slurm_run), "the comparison tables differ");
    let jobs_dir = slurm_work.join("cache/slurm/fraud");
    assert!(!jobs_dir.exists(), "the job files of a successful run were kept");

    // A second run finds every stage in the cache and submits nothing.
    let jobs_before = cluster.job_ids();
    let output = run_experiment(&cluster, &config, &data, &slurm_work, &["--executor", "slurm"]);
    assert!(output.status.success(), "cached Slurm run failed: {}", stderr_of(&output));
    for (name, status) in statuses(&summary(&output)) {
        assert_eq!(status, "cached", "{name} was not taken from the cache");
    }
    assert_eq!(cluster.job_ids(), jobs_before, "a fully cached run submitted jobs");

    // A learning rate that makes training diverge fails its trials; the others complete.
    let diverging = work.path().join("diverging.toml");
    let text = experiment_text().replace(
        "\"mlp.learning_rate\" = [0.0003, 0.001]",
        "\"mlp.learning_rate\" = [0.001, 1e30]",
    );
    assert!(text.contains("1e30"), "the sweep line of configs/fraud.toml changed");
    fs::write(&diverging, text).unwrap();
    let output = run_experiment(&cluster, &diverging, &data, &slurm_work, &["--executor", "slurm"]);
    assert_eq!(output.status.code(), Some(4), "stderr: {}", stderr_of(&output));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("Slurm task "), "no failed task is named: {stderr}");
    assert!(stderr.contains("training diverged"), "the reason is missing: {stderr}");
    assert!(stderr.contains("lines of "), "the log tail is missing: {stderr}");
    assert!(stderr.contains("    | xtask stage: task "), "the log tail is missing: {stderr}");
    let diverged = summary(&output);
    let by_status = |status: &str| {
        trials(&diverged).into_values().filter(|t| t["status"] == status).collect::<Vec<_>>()
    };
    assert_eq!(by_status("failed").len(), 4);
    assert_eq!(by_status("ok").len(), 8);
    for trial in by_status("failed") {
        let error = trial["error"].as_str().unwrap();
        assert!(error.contains("lower the learning rate"), "{error}");
    }
    let kept = fs::read_dir(&jobs_dir).map(|dir| dir.count()).unwrap_or(0);
    assert_eq!(kept, 1, "the job files of the failed run were not kept");

    // Two runs that race on the same new keys compute each of them once.
    let seed = ["--executor", "slurm", "-S", "experiment.seed=7"];
    let first = Background::start(&cluster, "first", &config, &data, &slurm_work, &seed);
    let second = Background::start(&cluster, "second", &config, &data, &slurm_work, &seed);
    let limit = Duration::from_secs(300);
    let (first, second) = (first.wait(limit), second.wait(limit));
    assert!(first.status.success(), "first racing run failed: {}", stderr_of(&first));
    assert!(second.status.success(), "second racing run failed: {}", stderr_of(&second));
    let (first, second) = (statuses(&summary(&first)), statuses(&summary(&second)));
    for (name, status) in &first {
        if name == "data" {
            continue;
        }
        let pair = BTreeSet::from([status.as_str(), second[name].as_str()]);
        assert_eq!(pair, BTreeSet::from(["cached", "ran"]), "{name} ran {pair:?}");
    }

    // Interrupting a run cancels its jobs.
    let endless = ["--executor", "slurm", "-S", "mlp.epochs=100000", "-S", "mlp.patience=100000"];
    let run = Background::start(&cluster, "endless", &config, &data, &slurm_work, &endless);
    cluster.wait_for("a running training task", || {
        let output = cluster.command("squeue", &["--noheader", "--states=RUNNING", "--format=%j"]);
        String::from_utf8_lossy(&output.stdout).contains("xtask-fraud-train")
    });
    let status = Command::new("kill").arg("-INT").arg(run.child.id().to_string()).status().unwrap();
    assert!(status.success());
    let output = run.wait(Duration::from_secs(90));
    assert_eq!(output.status.code(), Some(130), "stderr: {}", stderr_of(&output));
    assert!(stderr_of(&output).contains("cancelled"), "stderr: {}", stderr_of(&output));
    assert_eq!(cluster.active_jobs(), 0, "jobs survived the cancelled run");
    eprintln!("the Slurm test took {:.0} s", started.elapsed().as_secs_f64());
}
