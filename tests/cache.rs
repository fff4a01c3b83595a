//! End-to-end tests of the stage cache and sweeps: what reruns after which change, crash and
//! corruption recovery, concurrent runs and failing trials.
//!
//! Every test runs the real `xtask` binary on the real credit-card sample with a private
//! cache. When `../shared/data` is missing the tests print a note and pass, except under
//! `CI=true`, where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod support;

use support::{repo_root, shared_data};

/// A private work folder with a cache, a runs folder and a copy of an experiment file.
struct Workspace {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Workspace {
    fn new(data: PathBuf) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let config = fs::read_to_string(repo_root().join("configs/fraud.toml")).unwrap();
        fs::write(dir.path().join("fraud.toml"), config).unwrap();
        Workspace { dir, data }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("fraud.toml")
    }

    fn edit_config(&self, from: &str, to: &str) {
        let text = fs::read_to_string(self.config()).unwrap();
        assert!(text.contains(from), "the config has no `{from}`");
        fs::write(self.config(), text.replace(from, to)).unwrap();
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("experiment")
            .arg(self.config())
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--runs-dir")
            .arg(self.dir.path().join("runs"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--json")
            .args(extra)
            .current_dir(repo_root())
            .env_remove("RUST_LOG");
        command
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().expect("the xtask binary runs")
    }

    fn run_ok(&self, extra: &[&str]) -> serde_json::Value {
        let output = self.run(extra);
        assert!(
            output.status.success(),
            "experiment failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    }
}

/// Returns stage name to status from a run summary.
fn statuses(summary: &serde_json::Value) -> BTreeMap<String, String> {
    let stages = summary["stages"].as_array().expect("a run summary lists stages");
    stages
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Returns the stages that ran, sorted.
fn ran(summary: &serde_json::Value) -> Vec<String> {
    statuses(summary)
        .into_iter()
        .filter(|(_, status)| status == "ran")
        .map(|(name, _)| name)
        .collect()
}

/// Returns trial name to test average precision.
fn average_precisions(summary: &serde_json::Value) -> BTreeMap<String, f64> {
    summary["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["metrics"]["average_precision"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Returns stage name to planned action from `--dry-run --json`.
fn plan(workspace: &Workspace) -> BTreeMap<String, (String, Option<String>)> {
    let summary = workspace.run_ok(&["--dry-run"]);
    summary["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_string();
            let action = p["action"].as_str().unwrap().to_string();
            (name, (action, p["reason"].as_str().map(str::to_string)))
        })
        .collect()
}

#[test]
fn unchanged_rerun_computes_nothing() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    let first = workspace.run_ok(&[]);
    assert_eq!(ran(&first).len(), statuses(&first).len());

    assert!(plan(&workspace).values().all(|(action, _)| action == "cached"));
    let second = workspace.run_ok(&[]);
    assert!(ran(&second).is_empty(), "{:?}", ran(&second));
    assert!(statuses(&second).values().all(|status| status == "cached"));
    assert_eq!(average_precisions(&first), average_precisions(&second));
}

#[test]
fn one_changed_value_reruns_only_its_trials() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    workspace.run_ok(&[]);

    // The grid's last axis varies fastest, so trials 2 and 4 are the ones with 60 epochs.
    workspace.edit_config("\"autoencoder.epochs\" = [30, 60]", "\"autoencoder.epochs\" = [30, 61]");
    let expected =
        ["autoencoder#2", "autoencoder#4", "autoencoder-eval#2", "autoencoder-eval#4", "report"];
    let planned = plan(&workspace);
    let to_run: Vec<&String> =
        planned.iter().filter(|(_, (action, _))| action == "run").map(|(name, _)| name).collect();
    assert_eq!(to_run, expected);
    let reason = planned["autoencoder#2"].1.as_deref().unwrap();
    assert!(reason.contains("epochs (60 -> 61)"), "{reason}");
    assert_eq!(planned["autoencoder-eval#2"].1.as_deref(), Some("input changed: autoencoder#2"));

    assert_eq!(ran(&workspace.run_ok(&[])), expected);
}

#[test]
fn reformatted_file_changes_no_key() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    workspace.run_ok(&[]);

    // Reorder keys, add whitespace and comments, and spell a number differently.
    workspace.edit_config(
        "kind = \"train\"\ninputs = [\"split\"]\nmodel = \"mlp\"\nhidden = [64, 32]",
        "hidden = [ 64,   32 ]   # widths\nmodel = \"mlp\"\n\ninputs = [\"split\"]\nkind = \"train\"",
    );
    workspace
        .edit_config("learning_rate = 0.001\nweight_decay", "learning_rate = 1e-3\nweight_decay");
    assert!(plan(&workspace).values().all(|(action, _)| action == "cached"));
}

#[test]
fn raw_data_change_invalidates_everything() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data.clone());
    let copy = workspace.dir.path().join("sample.csv");
    fs::copy(data.join("creditcard/creditcard_sample.csv"), &copy).unwrap();
    workspace
        .edit_config("dataset = \"creditcard-sample\"", &format!("path = \"{}\"", copy.display()));
    workspace.run_ok(&[]);
    assert!(plan(&workspace).values().all(|(action, _)| action == "cached"));

    // Drop the last row: same columns, different content.
    let text = fs::read_to_string(&copy).unwrap();
    let trimmed = text.trim_end().rsplit_once('\n').unwrap().0;
    fs::write(&copy, format!("{trimmed}\n")).unwrap();
    let planned = plan(&workspace);
    assert!(planned.values().all(|(action, _)| action == "run"), "{planned:?}");
    assert_eq!(planned["data"].1.as_deref(), Some("raw data changed"));
}

#[test]
fn forced_stage_reruns_with_downstream() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    workspace.run_ok(&[]);
    let summary = workspace.run_ok(&["--force", "autoencoder"]);
    let expected: Vec<String> = (1..=4)
        .flat_map(|n| [format!("autoencoder#{n}"), format!("autoencoder-eval#{n}")])
        .chain(["report".to_string()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ran(&summary), expected);
}

#[test]
fn corrupted_entry_is_rebuilt() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    let first = workspace.run_ok(&[]);

    let run_dir = PathBuf::from(first["run_dir"].as_str().unwrap());
    let history = fs::canonicalize(run_dir.join("mlp#1/history.parquet")).unwrap();
    let mut bytes = fs::read(&history).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&history, bytes).unwrap();

    let planned = plan(&workspace);
    assert!(planned["mlp#1"].1.as_deref().unwrap().contains("corrupted"), "{planned:?}");
    let second = workspace.run_ok(&[]);
    assert_eq!(ran(&second), ["mlp#1"]);
    assert_eq!(average_precisions(&first), average_precisions(&second));
}

#[test]
fn concurrent_runs_compute_each_stage_once() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    let spawn = || {
        workspace
            .command(&["--jobs", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let summaries: Vec<serde_json::Value> = outputs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            serde_json::from_slice(&o.stdout).unwrap()
        })
        .collect();

    let first = statuses(&summaries[0]);
    let second = statuses(&summaries[1]);
    for (stage, status) in &first {
        let other = &second[stage];
        let runs = [status, other].iter().filter(|s| s.as_str() == "ran").count();
        assert_eq!(runs, 1, "{stage} ran {runs} times ({status}, {other})");
    }
    assert_eq!(average_precisions(&summaries[0]), average_precisions(&summaries[1]));
}

#[test]
fn failing_trial_does_not_stop_the_sweep() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    // A learning rate this large overflows float32 on the first steps.
    workspace.edit_config(
        "\"mlp.learning_rate\" = [0.0003, 0.001]",
        "\"mlp.learning_rate\" = [0.0003, 1e30]",
    );
    let output = workspace.run(&[]);
    assert_eq!(output.status.code(), Some(4), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "failed");

    let trials = summary["trials"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> =
        trials.iter().filter(|t| t["status"] == "failed").collect();
    assert_eq!(failed.len(), 4, "the four MLP trials with the huge learning rate fail");
    for trial in &failed {
        assert_eq!(trial["params"]["learning_rate"], 1e30);
        let error = trial["error"].as_str().unwrap();
        assert!(error.contains("diverged"), "{error}");
        assert!(error.contains("epoch"), "{error}");
    }
    assert_eq!(trials.iter().filter(|t| t["status"] == "ok").count(), 8);
    let report = PathBuf::from(
        summary["report"].as_str().expect("the report covers the trials that completed"),
    );
    let html = fs::read_to_string(report).unwrap();
    assert!(html.contains("diverged"), "the report lists the failed trials with their reason");
}

/// Returns, for every stage of a run, the blake3 hashes of its weights, scores and metrics.
fn output_hashes(summary: &serde_json::Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let run_dir = PathBuf::from(summary["run_dir"].as_str().unwrap());
    let mut hashes = BTreeMap::new();
    for (stage, _) in statuses(summary) {
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(run_dir.join(&stage).join("manifest.json")).unwrap())
                .unwrap();
        let files: BTreeMap<String, String> = manifest["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                let path = f["path"].as_str().unwrap();
                [
                    "model.safetensors",
                    "metrics.json",
                    "scores.parquet",
                    "train.parquet",
                    "transform.json",
                ]
                .contains(&path)
            })
            .map(|f| {
                (f["path"].as_str().unwrap().to_string(), f["blake3"].as_str().unwrap().to_string())
            })
            .collect();
        hashes.insert(stage, files);
    }
    hashes
}

#[test]
fn parallel_and_serial_runs_are_identical() {
    let Some(data) = shared_data() else { return };
    let serial = Workspace::new(data.clone());
    let parallel = Workspace::new(data);
    let serial = output_hashes(&serial.run_ok(&["--jobs", "1"]));
    let parallel = output_hashes(&parallel.run_ok(&["--jobs", "2"]));
    assert!(serial.values().any(|files| files.contains_key("model.safetensors")));
    assert_eq!(serial, parallel);
}

#[test]
fn out_of_range_trial_fails_alone() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    workspace.edit_config("\"autoencoder.epochs\" = [30, 60]", "\"autoencoder.epochs\" = [30, 0]");
    let output = workspace.run(&[]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let trials = summary["trials"].as_array().unwrap();
    let failed: Vec<&str> = trials
        .iter()
        .filter(|t| t["status"] == "failed")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["autoencoder#2", "autoencoder#4"]);
    let error =
        trials.iter().find(|t| t["name"] == "autoencoder#2").unwrap()["error"].as_str().unwrap();
    assert!(error.contains("epochs"), "{error}");
    assert_eq!(trials.iter().filter(|t| t["status"] == "ok").count(), 10);
}

#[test]
fn seed_change_reruns_seeded_stages() {
    let Some(data) = shared_data() else { return };
    let workspace = Workspace::new(data);
    let first = workspace.run_ok(&[]);
    let second = workspace.run_ok(&["-S", "experiment.seed=7"]);
    let statuses = statuses(&second);
    // Ingest does not use the seed; the split and everything after it does.
    assert_eq!(statuses["data"], "cached");
    assert!(
        statuses.iter().filter(|(name, _)| *name != "data").all(|(_, status)| status == "ran"),
        "{statuses:?}"
    );
    assert_ne!(average_precisions(&first), average_precisions(&second));
}

/// Returns trial name to its whole test-metrics object.
fn trial_metrics(summary: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    summary["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["metrics"].clone()))
        .collect()
}

/// Returns stage name to the blake3 of its `model.safetensors`, read from the manifests of the
/// run's train stages.
fn model_hashes(summary: &serde_json::Value) -> BTreeMap<String, String> {
    output_hashes(summary)
        .into_iter()
        .filter_map(|(stage, files)| {
            files.get("model.safetensors").map(|hash| (stage, hash.clone()))
        })
        .collect()
}

/// Returns the published entries and the `.`-prefixed leftovers in a cache's `stages/` folder.
fn list_entries(stages: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(stages) else { return Default::default() };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .partition(|name| !name.starts_with('.'))
}

/// Asserts that every path below `stages/`, outside a `.`-prefixed folder, is a stage folder
/// with a manifest that lists each of its files with the file's size.
fn assert_every_entry_has_a_manifest(stages: &Path) {
    for entry in fs::read_dir(stages).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        assert!(path.is_dir(), "{} is a file outside any stage folder", path.display());
        let manifest = path.join("manifest.json");
        assert!(manifest.is_file(), "{} has no manifest", path.display());
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
        let listed: BTreeMap<String, u64> = manifest["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["bytes"].as_u64().unwrap()))
            .collect();
        for file in fs::read_dir(&path).unwrap() {
            let file = file.unwrap().path();
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            if file_name == "manifest.json" {
                continue;
            }
            let bytes = listed.get(&file_name);
            assert!(bytes.is_some(), "{} is not in its manifest", file.display());
            assert_eq!(
                bytes.copied(),
                Some(fs::metadata(&file).unwrap().len()),
                "{} differs in size from its manifest",
                file.display()
            );
        }
    }
}

/// Asserts that every file of every published entry has the size and blake3 hash that its
/// manifest records, so that no entry contains a file that a kill cut short.
fn assert_entries_match_their_hashes(stages: &Path) {
    for key in list_entries(stages).0 {
        let dir = stages.join(&key);
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        for output in manifest["outputs"].as_array().unwrap() {
            let path = dir.join(output["path"].as_str().unwrap());
            let bytes = fs::read(&path).unwrap();
            assert_eq!(Some(bytes.len() as u64), output["bytes"].as_u64(), "{}", path.display());
            let hash = blake3::hash(&bytes).to_hex().to_string();
            assert_eq!(Some(hash.as_str()), output["blake3"].as_str(), "{}", path.display());
        }
    }
}

/// The part of a run that a kill point targets, recognised by a line of the run's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// The ingest stage: reading the CSV and writing `data.parquet`.
    Ingest,
    /// A training epoch, after the progress line of the epoch before it.
    Epoch,
    /// Any Parquet write: ingested data, splits, training history, scores, curves, results.
    ParquetWrite,
    /// The report stage: charts and HTML.
    Report,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::Ingest, Phase::Epoch, Phase::ParquetWrite, Phase::Report];

    /// Returns whether a line of the run's stderr marks the start of this phase.
    fn starts_at(self, line: &str) -> bool {
        match self {
            Phase::Ingest => line.contains("running stage") && line.contains("kind=ingest"),
            Phase::Epoch => line.contains(": epoch ") && line.contains("val AP"),
            Phase::ParquetWrite => line.contains("writing parquet"),
            Phase::Report => line.contains("running stage") && line.contains("kind=report"),
        }
    }

    /// Returns the maximum wait between the marking line and the kill. Brief phases get a
    /// short wait, so that the kill lands inside them, and training about one epoch. The
    /// report gets half its time in the uninterrupted run (`report`).
    fn max_delay(self, report: Duration) -> Duration {
        match self {
            Phase::Ingest => Duration::from_millis(10),
            Phase::Epoch => Duration::from_millis(8),
            Phase::ParquetWrite => Duration::from_millis(2),
            Phase::Report => report / 2,
        }
    }
}

/// The log filter under which the runs report the lines that `Phase` recognises.
const KILL_LOG: &str = "xtask=debug,common=debug,ingest=debug";

/// Runs the experiment in `workspace` until the `occurrence`-th line that starts `phase`,
/// waits `delay` and sends SIGKILL. Returns whether the kill ended the process, which is
/// false when the run finished before the kill point.
fn kill_at(workspace: &Workspace, phase: Phase, occurrence: usize, delay: Duration) -> bool {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;

    let mut child = workspace
        .command(&[])
        .env("RUST_LOG", KILL_LOG)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = 0;
    for line in stderr.lines() {
        let Ok(line) = line else { break };
        if phase.starts_at(&line) {
            if seen == occurrence {
                std::thread::sleep(delay);
                // `Child::kill` sends SIGKILL on Unix.
                let _ = child.kill();
                break;
            }
            seen += 1;
        }
    }
    child.wait().unwrap().signal() == Some(9)
}

/// Runs the whole experiment and returns its JSON summary and the number of lines of each
/// phase in its log.
fn phase_counts(workspace: &Workspace) -> (serde_json::Value, BTreeMap<Phase, usize>) {
    let output = workspace.command(&[]).env("RUST_LOG", KILL_LOG).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let log = String::from_utf8_lossy(&output.stderr);
    let counts = Phase::ALL
        .iter()
        .map(|&phase| (phase, log.lines().filter(|l| phase.starts_at(l)).count()))
        .collect();
    (serde_json::from_slice(&output.stdout).expect("stdout is JSON"), counts)
}

#[test]
fn random_kill_points_leave_identical_results() {
    let Some(data) = shared_data() else { return };

    // An uninterrupted run gives the expected results and how often each phase's log line
    // appears, from which the kill points are drawn.
    let reference = Workspace::new(data.clone());
    let (expected, counts) = phase_counts(&reference);
    let expected_metrics = trial_metrics(&expected);
    let expected_models = model_hashes(&expected);
    assert_eq!(expected_metrics.len(), 12, "the fraud sweep has 12 trials");
    assert_eq!(expected_models.len(), 12, "every trial writes model.safetensors");
    for phase in Phase::ALL {
        assert!(counts[&phase] > 0, "no log line marks {phase:?}: {counts:?}");
    }
    let report_stage = expected["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stage| stage["kind"] == "report")
        .expect("the fraud study has a report stage");
    let report_time = Duration::from_secs_f64(report_stage["seconds"].as_f64().unwrap());

    // The seed is printed, and `KILL_SEED=N` replays the same kill points.
    let seed = std::env::var("KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
    });
    eprintln!("kill points drawn with KILL_SEED={seed}");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);

    // Six kill points per phase, each at a random occurrence of the phase's line and a random
    // delay after it. Each point kills a run on a fresh cache, or on a cache that an earlier
    // kill already filled in part. Then a run must complete with the results of the
    // uninterrupted run, on a cache whose every entry matches its hashes.
    let mut landed: BTreeMap<Phase, usize> = BTreeMap::new();
    for (point, phase) in Phase::ALL.iter().cycle().take(24).enumerate() {
        use rand::Rng;
        let phase = *phase;
        let workspace = Workspace::new(data.clone());
        let stages = workspace.dir.path().join("cache/stages");
        let mut kills = Vec::new();
        // The earlier kill may not cache any work that the targeted phase needs to redo:
        // before the report any phase, before anything else a kill in ingest.
        if rng.random_bool(0.5) {
            let early = match phase {
                Phase::Report => Phase::ALL[rng.random_range(0..Phase::ALL.len())],
                _ => Phase::Ingest,
            };
            let occurrence = rng.random_range(0..counts[&early]);
            let delay = rng.random_range(Duration::ZERO..=early.max_delay(report_time));
            kills.push((early, occurrence, delay, kill_at(&workspace, early, occurrence, delay)));
            assert_every_entry_has_a_manifest(&stages);
        }
        // An ingest published before the earlier kill writes no Parquet file again, so the
        // last Parquet write is never a target.
        let occurrences = match phase {
            Phase::ParquetWrite => counts[&phase] - 1,
            _ => counts[&phase],
        };
        let occurrence = rng.random_range(0..occurrences);
        let delay = rng.random_range(Duration::ZERO..=phase.max_delay(report_time));
        let killed = kill_at(&workspace, phase, occurrence, delay);
        kills.push((phase, occurrence, delay, killed));
        if killed {
            *landed.entry(phase).or_default() += 1;
        }
        assert_every_entry_has_a_manifest(&stages);
        assert_entries_match_their_hashes(&stages);

        let summary = workspace.run_ok(&[]);
        let context = format!("point {point} (KILL_SEED={seed}), kills {kills:?}");
        assert_eq!(summary["status"], "ok", "{context}");
        assert_eq!(trial_metrics(&summary), expected_metrics, "{context}");
        assert_eq!(model_hashes(&summary), expected_models, "{context}");
        let report = PathBuf::from(summary["report"].as_str().unwrap());
        assert!(fs::read_to_string(report).unwrap().contains("</html>"), "{context}");
        assert_every_entry_has_a_manifest(&stages);
        assert_entries_match_their_hashes(&stages);
        // A killed run leaves its run folder without `run.json`, which is written last, so
        // nothing takes that folder for a finished run.
        for run in fs::read_dir(workspace.dir.path().join("runs/fraud")).unwrap() {
            let run = run.unwrap().path();
            if run.join("run.json").is_file() {
                let record: serde_json::Value =
                    serde_json::from_slice(&fs::read(run.join("run.json")).unwrap()).unwrap();
                assert!(run.join("results.parquet").is_file(), "{}: {context}", run.display());
                assert!(record.get("status").is_some(), "{}: {context}", run.display());
            }
        }
        eprintln!("point {point}: {kills:?}");
    }
    // Most targeted kills land before the run ends. At least four must land in every phase,
    // so that the 24 points cover ingest, training, Parquet writes and the report.
    for phase in Phase::ALL {
        let count = landed.get(&phase).copied().unwrap_or(0);
        assert!(
            count >= 4,
            "only {count} kills landed in {phase:?} (KILL_SEED={seed}): {landed:?}"
        );
    }
}
