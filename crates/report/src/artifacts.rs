//! Loading of the run's artifacts into the values the page is built from.
//!
//! Reads the JSON summaries with [`common::read_json`] and the Parquet tables with
//! [`common::read_parquet`], and checks the columns against the artifact contract. Of the
//! tables it keeps what the report shows: the whole training history, the test scores split
//! by class, and the test ROC and precision-recall curves.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, Float64Array, StringArray, UInt8Array, UInt32Array};
use common::table::typed_column;
use common::{DatasetSummary, Evaluation, LABEL, PreprocessSummary, SCORE, SPLIT, TrainingSummary};
use plotters::style::RGBColor;

use crate::charts::model_color;
use crate::{Error, FailedTrial, ModelInput, ReportInput, Result, sweep};

/// The split whose scores and curves are charted.
pub(crate) const TEST_SPLIT: &str = "test";

/// Everything one report shows.
pub(crate) struct Run<'a> {
    /// Experiment name.
    pub title: &'a str,
    pub dataset: DatasetSummary,
    pub preprocess: PreprocessSummary,
    pub models: Vec<Model<'a>>,
    pub failed: &'a [FailedTrial],
    /// Whether the models are the trials of a sweep: a model has varied parameters or a trial
    /// failed.
    pub is_sweep: bool,
}

/// The artifacts of one model.
pub(crate) struct Model<'a> {
    /// Train stage or trial name.
    pub name: &'a str,
    /// Train stage the trial is an instance of, `name` when the stage is not swept.
    pub stage: &'a str,
    /// Swept parameters by dotted path.
    pub varied: &'a BTreeMap<String, serde_json::Value>,
    /// Colour of the model in every chart and table.
    pub color: RGBColor,
    pub params: &'a serde_json::Value,
    pub training: TrainingSummary,
    /// One entry per epoch, ordered by epoch.
    pub history: Vec<Epoch>,
    pub evaluation: Evaluation,
    pub test_scores: ClassScores,
    /// Test ROC curve as (false-positive rate, true-positive rate) points, in file order.
    pub roc: Vec<(f64, f64)>,
    /// Test precision-recall curve as (recall, precision) points, in file order.
    pub pr: Vec<(f64, f64)>,
}

impl Model<'_> {
    /// Returns the validation average precision from `metrics.json`. Every choice of a best
    /// model or trial is made on this value, so that the test metrics reported for the chosen
    /// ones did not take part in choosing them.
    pub(crate) fn validation_ap(&self) -> f64 {
        self.evaluation.validation.average_precision
    }
}

/// One row of `history.parquet`; a null value is read as NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Epoch {
    /// 1-based epoch number.
    pub epoch: u32,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub validation_ap: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
}

/// Scores of one split, by label.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClassScores {
    pub normal: Vec<f64>,
    pub anomaly: Vec<f64>,
}

/// Reads every artifact named in `input`.
pub(crate) fn load(input: &ReportInput) -> Result<Run<'_>> {
    let dataset = read_json(&input.dataset, || "dataset summary".to_string())?;
    let preprocess = read_json(&input.preprocess, || "preprocess summary".to_string())?;
    let mut models = input
        .models
        .iter()
        .enumerate()
        .map(|(index, model)| load_model(model, model_color(index)))
        .collect::<Result<Vec<_>>>()?;

    let is_sweep = !input.failed.is_empty() || input.models.iter().any(|m| !m.varied.is_empty());
    if is_sweep {
        sweep::color_by_stage(&mut models, &input.failed);
    }
    Ok(Run { title: &input.title, dataset, preprocess, models, failed: &input.failed, is_sweep })
}

fn load_model(input: &ModelInput, color: RGBColor) -> Result<Model<'_>> {
    let name = input.name.as_str();
    let stage = if input.stage.is_empty() { name } else { input.stage.as_str() };
    let training: TrainingSummary =
        read_json(&input.training, || format!("training summary of model `{name}`"))?;
    let evaluation: Evaluation =
        read_json(&input.metrics, || format!("metrics of model `{name}`"))?;

    let history = read_history(&input.history, name)?;
    let test_scores = read_test_scores(&input.scores, name)?;
    let (roc, pr) = read_test_curves(&input.curves, name)?;
    Ok(Model {
        name,
        stage,
        varied: &input.varied,
        color,
        params: &input.params,
        training,
        history,
        evaluation,
        test_scores,
        roc,
        pr,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    describe: impl FnOnce() -> String,
) -> Result<T> {
    common::read_json(path).map_err(|source| Error::Input { input: describe(), source })
}

fn read_history(path: &Path, model: &str) -> Result<Vec<Epoch>> {
    let input = || format!("training history of model `{model}`");
    let fail = |source| Error::Input { input: input(), source };
    let batch = common::read_parquet(path).map_err(fail)?;

    let epochs = typed_column::<UInt32Array>(&batch, "epoch", "UInt32", path).map_err(fail)?;
    let float = |name| typed_column::<Float64Array>(&batch, name, "Float64", path).map_err(fail);
    let train_loss = float("train_loss")?;
    let validation_loss = float("validation_loss")?;
    let validation_ap = float("validation_ap")?;
    let seconds = float("seconds")?;
    if epochs.null_count() > 0 {
        return Err(invalid(path, "column `epoch` has null values"));
    }

    let value = |column: &Float64Array, row| {
        if column.is_null(row) { f64::NAN } else { column.value(row) }
    };
    let mut history: Vec<Epoch> = (0..batch.num_rows())
        .map(|row| Epoch {
            epoch: epochs.value(row),
            train_loss: value(train_loss, row),
            validation_loss: value(validation_loss, row),
            validation_ap: value(validation_ap, row),
            seconds: value(seconds, row),
        })
        .collect();
    history.sort_by_key(|epoch| epoch.epoch);
    if history.is_empty() {
        return Err(invalid(path, "the history has no epochs"));
    }
    Ok(history)
}

fn read_test_scores(path: &Path, model: &str) -> Result<ClassScores> {
    let fail = |source| Error::Input { input: format!("scores of model `{model}`"), source };
    let batch = common::read_parquet(path).map_err(fail)?;
    let splits = typed_column::<StringArray>(&batch, SPLIT, "Utf8", path).map_err(fail)?;
    let labels = typed_column::<UInt8Array>(&batch, LABEL, "UInt8", path).map_err(fail)?;
    let scores = typed_column::<Float64Array>(&batch, SCORE, "Float64", path).map_err(fail)?;

    let mut test = ClassScores::default();
    for row in 0..batch.num_rows() {
        if splits.is_null(row) || splits.value(row) != TEST_SPLIT {
            continue;
        }
        let score = if scores.is_null(row) { f64::NAN } else { scores.value(row) };
        match (labels.is_null(row), labels.value(row)) {
            (false, 0) => test.normal.push(score),
            (false, 1) => test.anomaly.push(score),
            (true, _) => return Err(invalid(path, format!("`{LABEL}` is null in row {row}"))),
            (false, other) => {
                let problem = format!("`{LABEL}` is {other} in row {row}, expected 0 or 1");
                return Err(invalid(path, problem));
            }
        }
    }
    if test.normal.is_empty() && test.anomaly.is_empty() {
        return Err(invalid(path, format!("no rows have `{SPLIT}` equal to `{TEST_SPLIT}`")));
    }
    Ok(test)
}

type Curve = Vec<(f64, f64)>;

/// Returns the test ROC and precision-recall curves.
fn read_test_curves(path: &Path, model: &str) -> Result<(Curve, Curve)> {
    let fail = |source| Error::Input { input: format!("curves of model `{model}`"), source };
    let batch = common::read_parquet(path).map_err(fail)?;
    let splits = typed_column::<StringArray>(&batch, SPLIT, "Utf8", path).map_err(fail)?;
    let curves = typed_column::<StringArray>(&batch, "curve", "Utf8", path).map_err(fail)?;
    let xs = typed_column::<Float64Array>(&batch, "x", "Float64", path).map_err(fail)?;
    let ys = typed_column::<Float64Array>(&batch, "y", "Float64", path).map_err(fail)?;

    let mut roc = Vec::new();
    let mut pr = Vec::new();
    for row in 0..batch.num_rows() {
        if splits.is_null(row) || splits.value(row) != TEST_SPLIT || curves.is_null(row) {
            continue;
        }
        if xs.is_null(row) || ys.is_null(row) {
            continue;
        }
        let point = (xs.value(row), ys.value(row));
        match curves.value(row) {
            "roc" => roc.push(point),
            "pr" => pr.push(point),
            _ => {}
        }
    }
    for (curve, points) in [("roc", &roc), ("pr", &pr)] {
        if points.is_empty() {
            let problem = format!("no points for curve `{curve}` of split `{TEST_SPLIT}`");
            return Err(invalid(path, problem));
        }
    }
    Ok((roc, pr))
}

fn invalid(path: &Path, problem: impl Into<String>) -> Error {
    Error::Invalid { path: path.to_path_buf(), problem: problem.into() }
}
