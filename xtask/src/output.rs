//! What the `experiment` command prints on stdout: a metrics table, or a JSON summary.

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use crate::run::RunRecord;

/// Prints the JSON summary: `run_dir`, `report`, `stages` and `trials`.
pub fn print_json(record: &RunRecord) -> anyhow::Result<()> {
    let stages: Vec<_> = record
        .stages
        .iter()
        .map(|s| json!({"name": s.name, "kind": s.kind, "status": s.status, "seconds": s.seconds, "key": s.key}))
        .collect();
    let summary = json!({
        "run_dir": record.run_dir,
        "report": record.report,
        "stages": stages,
        "trials": record.trials,
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &summary).context("cannot write to stdout")?;
    writeln!(stdout).context("cannot write to stdout")?;
    Ok(())
}

/// Prints one line per model with its test metrics, then the report's path.
pub fn print_table(record: &RunRecord) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let width = record.trials.iter().map(|t| t.name.len()).max().unwrap_or(5).max(5);
    writeln!(out)?;
    writeln!(
        out,
        "{:<width$}  {:<11}  {:>7}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}  {:>8}",
        "model", "kind", "ROC-AUC", "AP", "F1", "prec", "recall", "P@k", "R@1%FPR"
    )?;
    for trial in &record.trials {
        let m = |key: &str| trial.metrics.get(key).copied().unwrap_or(f64::NAN);
        writeln!(
            out,
            "{:<width$}  {:<11}  {:>7.4}  {:>7.4}  {:>6.3}  {:>6.3}  {:>6.3}  {:>6.3}  {:>8.3}",
            trial.name,
            trial.model,
            m("roc_auc"),
            m("average_precision"),
            m("f1"),
            m("precision"),
            m("recall"),
            m("precision_at_k"),
            m("recall_at_1pct_fpr"),
        )?;
    }
    writeln!(
        out,
        "\nTest split; F1, precision and recall at the threshold chosen on the validation split."
    )?;
    writeln!(out, "run:    {}", record.run_dir.display())?;
    if let Some(report) = &record.report {
        writeln!(out, "report: {}", report.display())?;
    }
    Ok(())
}
