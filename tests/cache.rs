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

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn shared_data() -> Option<PathBuf> {
    let path = repo_root().join("../shared/data");
    if path.join("creditcard/creditcard_sample.csv").is_file() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing; CI must provide the shared data folder", path.display());
    }
    eprintln!("note: {} is missing, so this test checks nothing", path.display());
    None
}

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
fn killed_runs_leave_a_usable_cache() {
    let Some(data) = shared_data() else { return };
    let reference = Workspace::new(data.clone());
    let expected = average_precisions(&reference.run_ok(&[]));

    let workspace = Workspace::new(data);
    // Kill points spread over the whole run, which takes about a second here: ingest,
    // training, evaluation and the report.
    for delay_ms in [30u64, 120, 250, 400, 600, 800] {
        let mut child =
            workspace.command(&[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
    }
    let summary = workspace.run_ok(&[]);
    assert_eq!(average_precisions(&summary), expected);
    let cache = workspace.dir.path().join("cache/stages");
    for entry in fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            assert!(path.join("manifest.json").is_file(), "{} has no manifest", path.display());
        }
    }
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

/// Returns the stage name of each published entry, by key, from the entries' manifests.
fn stage_names(stages: &Path) -> BTreeMap<String, String> {
    let (published, _) = list_entries(stages);
    published
        .into_iter()
        .map(|key| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&fs::read(stages.join(&key).join("manifest.json")).unwrap())
                    .unwrap();
            (key, manifest["stage"].as_str().unwrap().to_string())
        })
        .collect()
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

#[test]
fn twenty_kill_points_leave_identical_results() {
    let Some(data) = shared_data() else { return };

    // One uninterrupted run gives the expected results and the duration over which the kill
    // points are spread, and a second, fully cached run the fixed cost of a run (start,
    // planning, verifying the cache). The durations only place the kill points and are never
    // asserted on.
    let reference = Workspace::new(data.clone());
    let started = std::time::Instant::now();
    let expected = reference.run_ok(&[]);
    let duration = started.elapsed();
    let started = std::time::Instant::now();
    reference.run_ok(&[]);
    let overhead = started.elapsed();
    let expected_metrics = trial_metrics(&expected);
    let expected_models = model_hashes(&expected);
    assert_eq!(expected_metrics.len(), 12, "the fraud sweep has 12 trials");
    assert_eq!(expected_models.len(), 12, "every trial writes model.safetensors");

    // Twenty kill points at fractions 0.02..=0.98 of that duration, dealt out to four rounds so
    // that each round covers the whole run: round r kills at points r, r + 4, ..., r + 16.
    // Every kill within a round resumes the same workspace, on the cache that the runs killed
    // before it filled in part. A resumed run starts where the previous kill point left off, so
    // after a kill at fraction a it is killed the fixed cost plus (b - a) of the duration after
    // it starts, for the next point b. Work in progress at a kill is lost, so the resumed runs
    // rarely get to the end, and the late points land in training, evaluation and the report.
    // A round ends with a run that must complete. The next round starts a fresh workspace, so
    // that its first kill lands in ingest or early training again.
    // NOTE: which stage each kill interrupts depends on the machine's speed and load. The test
    // logs it, and `--nocapture` shows the log.
    const POINTS: usize = 20;
    const ROUNDS: usize = 4;
    let fraction = |point: usize| 0.02 + 0.96 * point as f64 / (POINTS - 1) as f64;
    for round in 0..ROUNDS {
        let workspace = Workspace::new(data.clone());
        let stages = workspace.dir.path().join("cache/stages");
        let mut previous = 0.0;
        let mut kills = Vec::new();
        for point in (round..POINTS).step_by(ROUNDS) {
            let mut delay = duration.mul_f64(fraction(point) - previous);
            if previous > 0.0 {
                delay += overhead;
            }
            previous = fraction(point);
            let (_, hidden_before) = list_entries(&stages);
            let mut child =
                workspace.command(&[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            std::thread::sleep(delay);
            // `Child::kill` sends SIGKILL on Unix; the run may have finished already.
            let _ = child.kill();
            let status = child.wait().unwrap();
            let (published, hidden) = list_entries(&stages);
            let interrupted: Vec<String> = hidden.difference(&hidden_before).cloned().collect();
            kills.push((point, delay, status, published.len(), interrupted));
            assert_every_entry_has_a_manifest(&stages);
        }

        let summary = workspace.run_ok(&[]);
        assert_eq!(summary["status"], "ok");
        assert_eq!(trial_metrics(&summary), expected_metrics, "round {round}");
        assert_eq!(model_hashes(&summary), expected_models, "round {round}");
        assert_every_entry_has_a_manifest(&stages);

        // Name the stages that each kill interrupted, from the keys in the leftover folders'
        // names (`.KEY.partial-PID`), for the log of where the kill points landed.
        let names = stage_names(&stages);
        for (point, delay, status, published, interrupted) in kills {
            let interrupted: Vec<&str> = interrupted
                .iter()
                .map(|leftover| {
                    let key = leftover.trim_start_matches('.').split('.').next().unwrap();
                    names.get(key).map_or(leftover.as_str(), String::as_str)
                })
                .collect();
            eprintln!(
                "round {round}, point {point} at {:.2} (+{delay:?}): {status}, {published} \
                 entries published, interrupted {interrupted:?}",
                fraction(point)
            );
        }
    }
}
