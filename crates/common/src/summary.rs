//! The JSON sidecar files that stages write beside their Parquet tables.
//!
//! These types are the contract between a stage that writes a sidecar and every later stage
//! or report that reads it, so they live here rather than in the writing crate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `summary.json` of an ingest stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Registry name of the dataset, if it came from the registry.
    pub dataset: Option<String>,
    /// The raw file that was read, as given or resolved.
    pub source: String,
    /// sha256 of the raw file, hex encoded.
    pub sha256: String,
    /// Number of data rows.
    pub rows: u64,
    /// Every column of the raw file, the label column included, in file order.
    pub columns: Vec<ColumnSummary>,
    /// The label column.
    pub label_column: String,
    /// Rows labelled normal (0) and anomalous (1).
    pub label_counts: LabelCounts,
    /// Count of each raw label value.
    pub label_values: BTreeMap<String, u64>,
    /// Rows that repeat an earlier row exactly (every column, the label included).
    pub duplicate_rows: u64,
}

/// One column of an ingested table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// `float`, `int` or `string`, as declared or inferred.
    #[serde(rename = "type")]
    pub kind: String,
    /// Missing values in the column.
    pub nulls: u64,
}

/// Rows per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCounts {
    /// Rows labelled normal.
    pub normal: u64,
    /// Rows labelled anomalous.
    pub anomaly: u64,
}

/// `preprocess.json` of a preprocess stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessSummary {
    /// Feature columns written, in order.
    pub features: Vec<String>,
    /// Columns removed before fitting, the configured ones and any found constant.
    pub dropped: Vec<String>,
    /// The split method: `stratified`, `random` or `time:<column>`.
    pub split_method: String,
    /// Rows and positives per split, keyed by split name.
    pub splits: BTreeMap<String, LabelCounts>,
    /// Values imputed with the training median, per split and column (zero counts omitted).
    pub imputed: BTreeMap<String, BTreeMap<String, u64>>,
    /// Rows of the validation and test splits whose features equal those of a training row,
    /// per split: a measure of how much the held-out splits repeat the training data.
    #[serde(default)]
    pub duplicates_of_training: BTreeMap<String, u64>,
    /// Duplicate rows removed before splitting (with `deduplicate = true`).
    #[serde(default)]
    pub deduplicated: u64,
}

/// `training.json` of a train stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The detector: `mlp`, `autoencoder`, `vae`, `deep_svdd`, `isolation_forest` or `pca`.
    pub model_kind: String,
    /// The epoch (1-based) whose weights were kept.
    pub best_epoch: u32,
    /// Epochs actually run.
    pub epochs_run: u32,
    /// Whether early stopping ended training before the configured epochs.
    pub stopped_early: bool,
    /// Validation average precision at the best epoch.
    pub best_validation_ap: f64,
    /// Rows trained on (for the autoencoder by default only the normal training rows).
    pub training_rows: u64,
    /// Size of the fitted model: weights of a network, nodes of a forest, or the entries of
    /// the mean and components of a PCA.
    pub parameters: u64,
    /// Device the model was trained on, such as `cpu` or `cuda:0`.
    pub device: String,
}

/// `metrics.json` of an evaluate stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The detector, as in [`TrainingSummary::model_kind`].
    pub model_kind: String,
    /// The meaning of the score: `probability`, `reconstruction_error`, `negative_elbo`,
    /// `squared_distance`, `isolation_score` or `standardized_reconstruction_error`.
    pub score: String,
    /// The decision threshold, chosen on the validation split.
    pub threshold: Threshold,
    /// Metrics on the validation split.
    pub validation: Metrics,
    /// Metrics on the test split.
    pub test: Metrics,
}

/// A decision threshold and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Scores at or above this value are flagged as anomalies.
    pub value: f64,
    /// `max_f1` or `target_recall`.
    pub rule: String,
    /// The recall asked for when `rule` is `target_recall`.
    pub target_recall: Option<f64>,
}

/// Metrics of one split, all computed from scores and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows scored.
    pub rows: u64,
    /// Anomalous rows.
    pub positives: u64,
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Average precision (area under the step-wise precision-recall curve).
    pub average_precision: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Precision among the `k` highest scores, with `k` the number of positives.
    pub precision_at_k: f64,
    /// Highest recall reached with a false-positive rate of at most 1 %.
    pub recall_at_1pct_fpr: f64,
    /// Confusion matrix at the threshold.
    pub confusion: Confusion,
}

/// Counts of a confusion matrix, anomaly being the positive class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Anomalies flagged.
    pub tp: u64,
    /// Normal rows flagged.
    pub fp: u64,
    /// Normal rows not flagged.
    pub tn: u64,
    /// Anomalies missed.
    #[serde(rename = "fn")]
    pub fn_: u64,
}
