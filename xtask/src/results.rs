//! `results.parquet`: one row per trial of a run, for `compare` and for other tools.
//!
//! Columns: `trial`, `model`, `stage`, `model_kind`, `status`, `error` (Utf8); the test
//! metrics `roc_auc`, `average_precision`, `f1`, `precision`, `recall`, `precision_at_k`,
//! `recall_at_1pct_fpr` and `validation_average_precision` (Float64, null unless ok);
//! `best_epoch`, `epochs_run` (UInt32); `train_seconds`, `evaluate_seconds` (Float64);
//! `train_key`, `evaluate_key` (Utf8); and one Utf8 column `p.STAGE.KEY` per parameter,
//! holding the JSON encoding of its value (null where the parameter does not apply).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};

use crate::run::Trial;

/// The test metrics written per trial, in column order.
pub const METRICS: [&str; 7] = [
    "roc_auc",
    "average_precision",
    "f1",
    "precision",
    "recall",
    "precision_at_k",
    "recall_at_1pct_fpr",
];

/// Returns every parameter of a trial as `STAGE.KEY` paths with JSON-encoded values: the
/// train stage's own parameters and the swept parameters of upstream stages.
pub fn trial_parameters(trial: &Trial) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::new();
    if let serde_json::Value::Object(map) = &trial.params {
        for (key, value) in map {
            parameters.insert(format!("{}.{key}", trial.stage), value.to_string());
        }
    }
    for (path, value) in &trial.varied {
        parameters.insert(path.clone(), value.to_string());
    }
    parameters
}

/// Writes the results table of a run.
pub fn write(path: &Path, trials: &[Trial]) -> anyhow::Result<()> {
    let parameters: Vec<BTreeMap<String, String>> = trials.iter().map(trial_parameters).collect();
    let names: BTreeSet<&String> = parameters.iter().flat_map(|p| p.keys()).collect();

    let text = |f: &dyn Fn(&Trial) -> Option<String>| -> ArrayRef {
        Arc::new(trials.iter().map(f).collect::<StringArray>())
    };
    let number = |f: &dyn Fn(&Trial) -> Option<f64>| -> ArrayRef {
        Arc::new(trials.iter().map(f).collect::<Float64Array>())
    };
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut push = |name: &str, data_type: DataType, column: ArrayRef| {
        fields.push(Field::new(name, data_type, true));
        columns.push(column);
    };
    push("trial", DataType::Utf8, text(&|t| Some(t.evaluation.clone())));
    push("model", DataType::Utf8, text(&|t| Some(t.name.clone())));
    push("stage", DataType::Utf8, text(&|t| Some(t.stage.clone())));
    push("model_kind", DataType::Utf8, text(&|t| Some(t.model.clone())));
    push("status", DataType::Utf8, text(&|t| Some(t.status.to_string())));
    push("error", DataType::Utf8, text(&|t| t.error.clone()));
    for metric in METRICS {
        push(metric, DataType::Float64, number(&|t| t.metrics.get(metric).copied()));
    }
    push(
        "validation_average_precision",
        DataType::Float64,
        number(&|t| t.validation_average_precision),
    );
    let epochs = |f: fn((u32, u32)) -> u32| -> ArrayRef {
        Arc::new(trials.iter().map(|t| t.epochs.map(f)).collect::<UInt32Array>())
    };
    push("best_epoch", DataType::UInt32, epochs(|(best, _)| best));
    push("epochs_run", DataType::UInt32, epochs(|(_, run)| run));
    push("train_seconds", DataType::Float64, number(&|t| Some(t.seconds.0)));
    push("evaluate_seconds", DataType::Float64, number(&|t| Some(t.seconds.1)));
    push("train_key", DataType::Utf8, text(&|t| t.keys.0.clone()));
    push("evaluate_key", DataType::Utf8, text(&|t| t.keys.1.clone()));
    for name in names {
        let column: StringArray = parameters.iter().map(|p| p.get(name).cloned()).collect();
        push(&format!("p.{name}"), DataType::Utf8, Arc::new(column));
    }

    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let temporary = path.with_extension("parquet.partial");
    common::write_parquet(&temporary, &batch)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
