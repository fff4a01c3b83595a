//! Report stage: turns the artifacts of one experiment run into a single self-contained HTML
//! page.
//!
//! It reads the ingest `summary.json`, the preprocess `preprocess.json` and, for every trained
//! model, `training.json`, `history.parquet`, `metrics.json`, `scores.parquet` and
//! `curves.parquet`. It writes `report.html`: tables of the dataset, the splits and the
//! metrics, and charts of the training history, the ROC and precision-recall curves and the
//! score distributions. The charts are SVG drawn by plotters and inlined, so the page needs no
//! network access, font files or JavaScript. The output depends only on the inputs, with no
//! timestamps, so the same inputs give a byte-identical report.
//!
//! The models may be the trials of a hyperparameter sweep, which is the case when a model has
//! varied parameters or a trial failed. Then the page adds a sweep section that ranks every
//! trial, and the per-model sections show only the best trial of each stage and the overall
//! top 3.
//!
//! Every best model or trial, and every ranking, is chosen by validation average precision
//! (`validation.average_precision` in `metrics.json`). The page reports the test metrics of
//! the chosen ones, which took no part in the choice and so are not biased upwards by it.

mod artifacts;
mod charts;
mod error;
mod format;
mod page;
mod sweep;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};

/// Version of the report stage; bump it with any change to the HTML written for the same inputs.
pub const VERSION: u32 = 4;

/// File name of the report inside the output directory.
pub const REPORT_FILE: &str = "report.html";

/// Paths of every artifact that goes into one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportInput {
    /// Experiment name, shown as the page title.
    pub title: String,
    /// `summary.json` of the ingest stage ([`common::DatasetSummary`]).
    pub dataset: PathBuf,
    /// `preprocess.json` of the preprocess stage ([`common::PreprocessSummary`]).
    pub preprocess: PathBuf,
    /// The trained models, in the order they are listed and coloured.
    pub models: Vec<ModelInput>,
    /// Trials that failed (NaN loss, bad parameter, ...), listed in the sweep section with their
    /// reason.
    #[serde(default)]
    pub failed: Vec<FailedTrial>,
}

/// Paths of the artifacts of one trained and evaluated model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInput {
    /// Name of the train stage, such as `mlp`, or of the sweep trial, such as `mlp#3`.
    pub name: String,
    /// Name of the train stage in the experiment file that this trial is an instance of, such
    /// as `mlp` for the trials `mlp#1` to `mlp#8`. Equal to `name` when the stage is not
    /// swept. An empty string, the serde default, is read as `name`.
    #[serde(default)]
    pub stage: String,
    /// The swept parameters of this trial and their values, keyed by dotted path such as
    /// `mlp.learning_rate` or `split.log1p` (empty when nothing is swept).
    #[serde(default)]
    pub varied: BTreeMap<String, serde_json::Value>,
    /// Parameters of the train stage, shown in the report.
    pub params: serde_json::Value,
    /// `training.json` of the train stage ([`common::TrainingSummary`]).
    pub training: PathBuf,
    /// `history.parquet` of the train stage: `epoch` (UInt32), `train_loss`, `validation_loss`,
    /// `validation_ap` and `seconds` (Float64).
    pub history: PathBuf,
    /// `metrics.json` of the evaluate stage ([`common::Evaluation`]).
    pub metrics: PathBuf,
    /// `scores.parquet` of the evaluate stage: `_row_id` (UInt64), `split` (Utf8), `_label`
    /// (UInt8) and `score` (Float64).
    pub scores: PathBuf,
    /// `curves.parquet` of the evaluate stage: `split` and `curve` (Utf8), `x`, `y` and
    /// `threshold` (Float64).
    pub curves: PathBuf,
}

/// A sweep trial that produced no model to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedTrial {
    /// Name of the trial, such as `mlp#4`.
    pub name: String,
    /// Name of the train stage the trial is an instance of, like [`ModelInput::stage`].
    #[serde(default)]
    pub stage: String,
    /// The swept parameters of the trial, like [`ModelInput::varied`].
    #[serde(default)]
    pub varied: BTreeMap<String, serde_json::Value>,
    /// Reason the trial failed, such as `training loss became NaN at epoch 3`.
    pub reason: String,
}

/// Reads every artifact named in `input`, writes `out_dir/report.html` and returns its path.
///
/// `out_dir` is created if it does not exist. A missing or malformed artifact gives an error
/// naming the file, and no report is written.
pub fn run(input: &ReportInput, out_dir: &Path) -> Result<PathBuf> {
    let run = artifacts::load(input)?;
    let html = page::render(&run)?;

    std::fs::create_dir_all(out_dir)
        .map_err(|source| Error::Write { path: out_dir.to_path_buf(), source })?;
    let path = out_dir.join(REPORT_FILE);
    std::fs::write(&path, html).map_err(|source| Error::Write { path: path.clone(), source })?;
    tracing::info!(
        path = %path.display(),
        models = input.models.len(),
        failed = input.failed.len(),
        "wrote report",
    );
    Ok(path)
}
