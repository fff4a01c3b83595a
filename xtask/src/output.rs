//! Command output on stdout: metrics tables, plans, cache listings and JSON.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::cache::Cache;
use crate::run::{Planned, RunRecord};

/// Prints the JSON summary: `run_dir`, `report`, `status`, `stages` and `trials`.
pub fn print_json(record: &RunRecord) -> anyhow::Result<()> {
    let stages: Vec<_> = record
        .stages
        .iter()
        .map(|s| json!({"name": s.name, "kind": s.kind, "status": s.status, "seconds": s.seconds, "key": s.key, "error": s.error}))
        .collect();
    let trials: Vec<_> = record
        .trials
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "stage": t.stage,
                "model": t.model,
                "status": t.status,
                "error": t.error,
                "params": t.params,
                "varied": t.varied,
                "metrics": t.metrics,
                "validation_average_precision": t.validation_average_precision,
                "device": t.device,
            })
        })
        .collect();
    let summary = json!({
        "run_dir": record.run_dir,
        "report": record.report,
        "reports": record.reports,
        "status": record.status,
        "seconds": record.seconds,
        "overrides": record.overrides,
        "stages": stages,
        "trials": trials,
    });
    write_json(&summary)
}

/// Prints the devices this binary can train on, one per line, or as JSON:
/// `{"cuda_built": bool, "devices": ["cpu", "cuda:0", ...]}`.
pub fn print_devices(json: bool) -> anyhow::Result<()> {
    let devices = model::available_devices();
    if json {
        return write_json(&json!({"cuda_built": model::CUDA_BUILT, "devices": devices}));
    }
    let mut stdout = std::io::stdout().lock();
    for device in &devices {
        writeln!(stdout, "{device}").context("cannot write to stdout")?;
    }
    if !model::CUDA_BUILT {
        writeln!(
            stdout,
            "(built without CUDA; scripts/build-cuda.sh builds a binary that can use NVIDIA GPUs)"
        )
        .context("cannot write to stdout")?;
    }
    Ok(())
}

fn write_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).context("cannot write to stdout")?;
    writeln!(stdout).context("cannot write to stdout")?;
    Ok(())
}

/// Prints one line per trial with its test metrics, a count of stages run and cached, and
/// the report's path.
pub fn print_table(record: &RunRecord) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let width = record.trials.iter().map(|t| t.name.len()).max().unwrap_or(5).max(5);
    writeln!(out)?;
    writeln!(
        out,
        "{:<width$}  {:<16}  {:>7}  {:>7}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}  {:>8}",
        "model", "kind", "val AP", "ROC-AUC", "AP", "F1", "prec", "recall", "P@k", "R@1%FPR"
    )?;
    let mut trials: Vec<_> = record.trials.iter().collect();
    trials.sort_by(|a, b| {
        let ap =
            |t: &crate::run::Trial| t.validation_average_precision.unwrap_or(f64::NEG_INFINITY);
        ap(b).total_cmp(&ap(a))
    });
    for trial in trials {
        if trial.status != "ok" {
            writeln!(
                out,
                "{:<width$}  {:<16}  {} ({})",
                trial.name,
                trial.model,
                trial.status,
                trial.error.as_deref().unwrap_or("")
            )?;
            continue;
        }
        let m = |key: &str| trial.metrics.get(key).copied().unwrap_or(f64::NAN);
        writeln!(
            out,
            "{:<width$}  {:<16}  {:>7.4}  {:>7.4}  {:>7.4}  {:>6.3}  {:>6.3}  {:>6.3}  {:>6.3}  {:>8.3}",
            trial.name,
            trial.model,
            trial.validation_average_precision.unwrap_or(f64::NAN),
            m("roc_auc"),
            m("average_precision"),
            m("f1"),
            m("precision"),
            m("recall"),
            m("precision_at_k"),
            m("recall_at_1pct_fpr"),
        )?;
    }
    let count = |status: &str| record.stages.iter().filter(|s| s.status == status).count();
    writeln!(
        out,
        "\nSorted by validation average precision (val AP); the other columns are test-split metrics,\nwith F1, precision and recall at the threshold chosen on the validation split."
    )?;
    writeln!(
        out,
        "stages: {} ran, {} cached, {} failed, {} skipped ({:.2} s)",
        count("ran"),
        count("cached"),
        count("failed"),
        count("skipped"),
        record.seconds
    )?;
    writeln!(out, "run:    {}", record.run_dir.display())?;
    for report in &record.reports {
        writeln!(out, "report: {}", report.display())?;
    }
    Ok(())
}

/// Prints the plan: one line per stage instance with its action and reason.
pub fn print_plan(planned: &[Planned]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let width = planned.iter().map(|p| p.name.len()).max().unwrap_or(5).max(5);
    for item in planned {
        let reason = item.reason.as_deref().map(|r| format!("  ({r})")).unwrap_or_default();
        writeln!(
            out,
            "{:<width$}  {:<10}  {:<6}{reason}",
            item.name,
            item.kind.as_str(),
            item.action
        )?;
    }
    let count = |action: &str| planned.iter().filter(|p| p.action == action).count();
    writeln!(
        out,
        "\nstages: {} to run, {} cached, {} to fail on invalid parameters",
        count("run"),
        count("cached"),
        count("fail")
    )?;
    Ok(())
}

/// Prints the plan as JSON.
pub fn print_plan_json(planned: &[Planned]) -> anyhow::Result<()> {
    write_json(&json!({ "plan": planned }))
}

/// Lists every cache entry.
pub fn cache_ls(cache_dir: &Path) -> anyhow::Result<std::process::ExitCode> {
    let cache = Cache::open(cache_dir)?;
    let entries = cache.entries()?;
    let mut out = std::io::stdout().lock();
    let mut total = 0u64;
    writeln!(out, "{:<16}  {:<10}  {:<24}  {:>10}", "key", "kind", "stage", "size")?;
    for entry in &entries {
        total += entry.bytes;
        let (kind, stage) = match &entry.manifest {
            Some(manifest) => (manifest.kind.as_str().to_string(), manifest.stage.clone()),
            None => ("-".into(), "(incomplete)".into()),
        };
        let key: String = entry.key.chars().take(16).collect();
        writeln!(out, "{key:<16}  {kind:<10}  {stage:<24}  {:>10}", human_bytes(entry.bytes))?;
    }
    writeln!(
        out,
        "\n{} entries, {} in {}",
        entries.len(),
        human_bytes(total),
        cache.root().display()
    )?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Removes (or with `dry_run` lists) entries whose key is not in `keep`, and leftovers of
/// killed processes.
pub fn cache_gc(
    cache_dir: &Path,
    keep: &BTreeSet<String>,
    experiments: &[PathBuf],
    dry_run: bool,
) -> anyhow::Result<()> {
    let cache = Cache::open(cache_dir)?;
    let mut out = std::io::stdout().lock();
    let mut removed = 0u64;
    let mut count = 0usize;
    for entry in cache.entries()? {
        let leftover = entry.key.starts_with('.') && !being_written(&cache, &entry.key);
        if keep.contains(&entry.key) || (entry.key.starts_with('.') && !leftover) {
            continue;
        }
        let what = entry
            .manifest
            .as_ref()
            .map_or("incomplete".to_string(), |m| format!("{} {}", m.kind, m.stage));
        writeln!(
            out,
            "{} {} ({what}, {})",
            if dry_run { "would remove" } else { "removed" },
            entry.key,
            human_bytes(entry.bytes)
        )?;
        if !dry_run {
            std::fs::remove_dir_all(&entry.dir)
                .with_context(|| format!("cannot remove {}", entry.dir.display()))?;
            let _ = std::fs::remove_file(
                cache.root().join("locks").join(format!("{}.lock", entry.key)),
            );
        }
        removed += entry.bytes;
        count += 1;
    }
    let names: Vec<String> = experiments.iter().map(|p| p.display().to_string()).collect();
    writeln!(
        out,
        "{} {count} entries ({}); kept {} referenced by {}",
        if dry_run { "would remove" } else { "removed" },
        human_bytes(removed),
        keep.len(),
        names.join(", ")
    )?;
    Ok(())
}

/// Returns whether a temporary directory (`.KEY.partial-HOST-PID` or `.KEY.removing-...`)
/// belongs to a stage being written. Writers hold the key's lock, which works across the
/// machines that share the cache, where a process id would not.
fn being_written(cache: &Cache, name: &str) -> bool {
    let key = name.trim_start_matches('.').split('.').next().unwrap_or_default();
    cache.is_locked(key)
}

/// Formats a byte count with a binary prefix.
pub fn human_bytes(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if value < 1024.0 || unit == "GiB" {
            return if unit == "B" { format!("{bytes} B") } else { format!("{value:.1} {unit}") };
        }
        value /= 1024.0;
    }
    unreachable!("the loop returns at GiB")
}
