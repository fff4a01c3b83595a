//! Training and scoring on every device the binary can use: always the CPU, and every CUDA GPU
//! that responds when the binary is built with `--features cuda` (`scripts/build-cuda.sh`).
//! The same checks run on each device, and with a GPU the CPU and GPU results of the fraud
//! sweep must agree within float tolerance.
//!
//! The tests read the credit-card sample from `../shared/data` (or `ANOMALY_DATA_DIR`);
//! without it they print a note and pass, except under `CI=true`, where they fail.
//! `XTASK_BIN` and `XTASK_REPO` point a copied test binary at another binary and checkout
//! (`scripts/gpu-check.sh` uses them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::{repo_root, shared_data};

/// Returns the binary under test: `XTASK_BIN` when set, else the one Cargo built beside this test.
fn binary() -> PathBuf {
    std::env::var_os("XTASK_BIN").map_or_else(|| env!("CARGO_BIN_EXE_xtask").into(), PathBuf::from)
}

fn xtask(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(repo_root())
        .env_remove("RUST_LOG")
        .output()
        .expect("the xtask binary runs")
}

/// Returns `xtask devices --json`: whether the binary has CUDA, and the usable devices.
fn devices() -> (bool, Vec<String>) {
    let output = xtask(&["devices", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let devices = listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    (listing["cuda_built"].as_bool().unwrap(), devices)
}

/// Runs the fraud sweep on `device` with a private cache and returns the JSON summary.
fn fraud_on(device: &str, data: &Path, work: &Path) -> serde_json::Value {
    let device_setting = format!("experiment.device=\"{device}\"");
    let output = xtask(&[
        "experiment",
        "configs/fraud.toml",
        "--data-dir",
        data.to_str().unwrap(),
        "--runs-dir",
        work.join("runs").to_str().unwrap(),
        "--cache-dir",
        work.join("cache").to_str().unwrap(),
        "-S",
        &device_setting,
        "--json",
    ]);
    assert!(
        output.status.success(),
        "the fraud sweep failed on {device}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Returns trial name to (model, ROC-AUC, average precision, device).
fn trial_results(summary: &serde_json::Value) -> BTreeMap<String, (String, f64, f64, String)> {
    summary["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                (
                    t["model"].as_str().unwrap().to_string(),
                    t["metrics"]["roc_auc"].as_f64().unwrap(),
                    t["metrics"]["average_precision"].as_f64().unwrap(),
                    t["device"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn devices_start_with_cpu() {
    let (cuda_built, devices) = devices();
    assert_eq!(devices.first().map(String::as_str), Some("cpu"));
    if !cuda_built {
        assert_eq!(devices, ["cpu"], "a binary without CUDA lists only the CPU");
    }
}

#[test]
fn fraud_sweep_agrees_across_devices() {
    let Some(data) = shared_data() else { return };
    let (_, devices) = devices();
    let work = tempfile::tempdir().unwrap();
    let mut results = BTreeMap::new();
    for device in &devices {
        let summary = fraud_on(device, &data, &work.path().join(device.replace(':', "-")));
        assert_eq!(summary["status"], "ok", "{device}");
        let trials = trial_results(&summary);
        assert_eq!(trials.len(), 12, "the fraud sweep has 12 trials");
        for (name, (model, roc_auc, average_precision, trained_on)) in &trials {
            assert_eq!(trained_on, device, "{name} was trained on {trained_on}, not {device}");
            // The floors of the fraud study (README): every trial separates fraud well.
            let floor = if model == "mlp" { 0.97 } else { 0.95 };
            assert!(*roc_auc >= floor, "{name} on {device}: ROC-AUC {roc_auc} < {floor}");
            assert!(*average_precision > 0.5, "{name} on {device}: AP {average_precision}");
        }
        results.insert(device.clone(), trials);
    }

    // A GPU adds floats in another order, so its weights differ in the last bits and its
    // metrics differ a little. A larger gap means that a device computes something else.
    let cpu = &results["cpu"];
    for (device, trials) in results.iter().filter(|(device, _)| *device != "cpu") {
        for (name, (_, roc_auc, average_precision, _)) in trials {
            let (_, cpu_roc_auc, cpu_average_precision, _) = &cpu[name];
            assert!(
                (roc_auc - cpu_roc_auc).abs() <= 0.01,
                "{name}: ROC-AUC {roc_auc} on {device} against {cpu_roc_auc} on the CPU"
            );
            assert!(
                (average_precision - cpu_average_precision).abs() <= 0.02,
                "{name}: AP {average_precision} on {device} against {cpu_average_precision} on \
                 the CPU"
            );
        }
        eprintln!("{device} agrees with the CPU on {} trials", trials.len());
    }
}

#[test]
fn missing_gpu_fails_clearly() {
    let Some(data) = shared_data() else { return };
    let (cuda_built, devices) = devices();
    // The ordinal after the last usable GPU never works, whatever the machine has.
    let missing = format!("cuda:{}", devices.len() - 1);
    let work = tempfile::tempdir().unwrap();
    let setting = format!("experiment.device=\"{missing}\"");
    let output = xtask(&[
        "experiment",
        "configs/fraud.toml",
        "--data-dir",
        data.to_str().unwrap(),
        "--runs-dir",
        work.path().join("runs").to_str().unwrap(),
        "--cache-dir",
        work.path().join("cache").to_str().unwrap(),
        "-S",
        &setting,
    ]);
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(last.contains(&missing), "{last}");
    if cuda_built {
        assert!(last.contains("nvidia-smi"), "{last}");
    } else {
        assert!(last.contains("--features cuda"), "{last}");
    }
    assert!(last.contains("device = \"cpu\""), "{last}");
}
