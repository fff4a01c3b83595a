//! The evaluate stage: scores the validation and test splits with a trained model and
//! computes metrics from the scores.
//!
//! Reads `model.json` and `model.safetensors` from a train stage and `validation.parquet` and
//! `test.parquet` from its preprocess stage. Every kind of detector is reloaded and scored
//! through [`model::Detector`]. Writes `scores.parquet`, `curves.parquet` and
//! `metrics.json` (a [`common::Evaluation`]). The threshold is chosen on the validation split
//! and only then applied to the test split.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray, UInt8Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use candle_core::Device;
use common::{Evaluation, FeatureTable, LABEL, ROW_ID, SCORE, SPLIT, Threshold};
use model::{Detector, ModelSpec};
use serde::{Deserialize, Serialize};

use crate::metrics::{self, MetricsError};

/// Version of the stage implementation; bump it when its outputs change for the same inputs.
pub const VERSION: u32 = 2;

/// Rows scored at once.
const SCORING_BATCH: usize = 8192;

/// Parameters of an evaluate stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluateConfig {
    /// Choose the threshold as the highest one reaching this recall on the validation split,
    /// instead of the one with maximum validation F1 (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_recall: Option<f64>,
    /// Maximum points kept per ROC or precision-recall curve in `curves.parquet`
    /// (default 400).
    pub curve_points: usize,
}

impl EvaluateConfig {
    /// Checks the value ranges.
    pub fn validate(&self) -> Result<()> {
        if let Some(target) = self.target_recall
            && !(target > 0.0 && target <= 1.0)
        {
            return Err(Error::InvalidConfig {
                key: "target_recall",
                problem: format!("{target} is outside (0, 1]; give a recall such as 0.9"),
            });
        }
        if self.curve_points < 2 {
            return Err(Error::InvalidConfig {
                key: "curve_points",
                problem: format!(
                    "{} is too few; a curve needs at least 2 points",
                    self.curve_points
                ),
            });
        }
        Ok(())
    }
}

impl Default for EvaluateConfig {
    fn default() -> Self {
        EvaluateConfig { target_recall: None, curve_points: 400 }
    }
}

/// Failures of the evaluate stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading inputs or writing outputs failed.
    #[error(transparent)]
    Artifact(#[from] common::Error),
    /// The model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] model::Error),
    /// A metric is undefined for these scores.
    #[error("{split} split: {source}")]
    Metrics {
        /// The split whose scores were rejected.
        split: &'static str,
        /// Why.
        source: MetricsError,
    },
    /// A parameter is out of range.
    #[error("invalid evaluate setting `{key}`: {problem}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// The problem.
        problem: String,
    },
    /// The model and the data do not fit together.
    #[error("{0}")]
    Mismatch(String),
}

/// Result alias of the evaluate stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Scores the validation and test splits of `preprocess_dir` with the model in `model_dir`
/// and writes scores, curves and metrics into `out_dir`.
pub fn run(
    config: &EvaluateConfig,
    model_dir: &Path,
    preprocess_dir: &Path,
    out_dir: &Path,
    device: &Device,
) -> Result<Evaluation> {
    config.validate()?;
    let spec: ModelSpec = common::read_json(&model_dir.join("model.json"))?;
    let detector = Detector::load(&spec, &model_dir.join("model.safetensors"), device)?;

    let mut scored = Vec::new();
    for split in ["validation", "test"] {
        let path = preprocess_dir.join(format!("{split}.parquet"));
        let table = FeatureTable::read(&path)?;
        if table.features != spec.features() {
            return Err(Error::Mismatch(format!(
                "{}: feature columns differ from those the model was trained on; rerun the train stage on this preprocess output",
                path.display()
            )));
        }
        let scores = detector.score_rows(&table.values, SCORING_BATCH)?;
        scored.push((split, table, scores));
    }

    let (_, validation, validation_scores) = &scored[0];
    let metric_error = |split| move |source| Error::Metrics { split, source };
    let threshold = match config.target_recall {
        Some(target) => Threshold {
            value: metrics::threshold_for_recall(&validation.labels, validation_scores, target)
                .map_err(metric_error("validation"))?,
            rule: "target_recall".into(),
            target_recall: Some(target),
        },
        None => Threshold {
            value: metrics::best_f1_threshold(&validation.labels, validation_scores)
                .map_err(metric_error("validation"))?,
            rule: "max_f1".into(),
            target_recall: None,
        },
    };
    let validation_metrics =
        metrics::compute(&validation.labels, validation_scores, threshold.value)
            .map_err(metric_error("validation"))?;
    let (_, test, test_scores) = &scored[1];
    let test_metrics = metrics::compute(&test.labels, test_scores, threshold.value)
        .map_err(metric_error("test"))?;

    common::write_parquet(&out_dir.join("scores.parquet"), &scores_batch(&scored))?;
    common::write_parquet(
        &out_dir.join("curves.parquet"),
        &curves_batch(&scored, config.curve_points)?,
    )?;
    let evaluation = Evaluation {
        model_kind: spec.kind().as_str().to_string(),
        score: spec.score_name().to_string(),
        threshold,
        validation: validation_metrics,
        test: test_metrics,
    };
    common::write_json(&out_dir.join("metrics.json"), &evaluation)?;
    Ok(evaluation)
}

/// Builds `scores.parquet`: one row per scored row of every split.
fn scores_batch(scored: &[(&'static str, FeatureTable, Vec<f64>)]) -> RecordBatch {
    let mut row_ids: Vec<u64> = Vec::new();
    let mut splits: Vec<&str> = Vec::new();
    let mut labels: Vec<u8> = Vec::new();
    let mut scores: Vec<f64> = Vec::new();
    for (split, table, split_scores) in scored {
        row_ids.extend(&table.row_ids);
        splits.extend(std::iter::repeat_n(*split, table.rows()));
        labels.extend(&table.labels);
        scores.extend(split_scores);
    }
    let schema = Schema::new(vec![
        Field::new(ROW_ID, DataType::UInt64, false),
        Field::new(SPLIT, DataType::Utf8, false),
        Field::new(LABEL, DataType::UInt8, false),
        Field::new(SCORE, DataType::Float64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt64Array::from(row_ids)),
            Arc::new(StringArray::from(splits)),
            Arc::new(UInt8Array::from(labels)),
            Arc::new(Float64Array::from(scores)),
        ],
    )
    .expect("columns match the schema")
}

/// Builds `curves.parquet`: thinned ROC and precision-recall curves of every split.
fn curves_batch(
    scored: &[(&'static str, FeatureTable, Vec<f64>)],
    max_points: usize,
) -> Result<RecordBatch> {
    let mut splits = Vec::new();
    let mut curves = Vec::new();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut thresholds = Vec::new();
    for (split, table, scores) in scored {
        let metric_error = |source| Error::Metrics { split, source };
        let roc = metrics::roc_curve(&table.labels, scores).map_err(metric_error)?;
        let pr = metrics::precision_recall_curve(&table.labels, scores).map_err(metric_error)?;
        // The PR curve's last point (recall 0, precision 1) has no threshold.
        let pr_thresholds: Vec<f64> =
            pr.thresholds.iter().copied().chain([f64::INFINITY]).collect();
        for (curve, x, y, t) in [
            ("roc", &roc.fpr, &roc.tpr, &roc.thresholds),
            ("pr", &pr.recall, &pr.precision, &pr_thresholds),
        ] {
            for i in metrics::thin_curve(x, y, max_points) {
                splits.push(*split);
                curves.push(curve);
                xs.push(x[i]);
                ys.push(y[i]);
                thresholds.push(t[i]);
            }
        }
    }
    let schema = Schema::new(vec![
        Field::new(SPLIT, DataType::Utf8, false),
        Field::new("curve", DataType::Utf8, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
        Field::new("threshold", DataType::Float64, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(splits)),
            Arc::new(StringArray::from(curves)),
            Arc::new(Float64Array::from(xs)),
            Arc::new(Float64Array::from(ys)),
            Arc::new(Float64Array::from(thresholds)),
        ],
    )
    .expect("columns match the schema"))
}
