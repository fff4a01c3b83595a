//! The train stage: fits one detector on the training split.
//!
//! Reads `train.parquet` and `validation.parquet` from a preprocess stage. Writes
//! `model.safetensors` (the fitted state, see [`model::Detector`] for its layout per kind),
//! `model.json` (the [`model::ModelSpec`]), `history.parquet` (one row per epoch: `epoch`,
//! `train_loss`, `validation_loss`, `validation_ap`, `seconds`) and `training.json` (a
//! [`common::TrainingSummary`]).
//!
//! Networks train by minibatch gradient descent over epochs (module `epochs`). The MLP
//! minimises a weighted BCE or focal loss with logits, and the autoencoder the mean squared
//! reconstruction error. The VAE minimises that error plus `beta` times the KL divergence, and
//! Deep SVDD the mean squared distance to its centre. After every epoch the model scores the
//! whole validation split. Early stopping watches the validation average precision and keeps
//! the weights of the best epoch. The seed decides the initial weights, the batch order, the
//! dropout masks and the VAE's noise.
//!
//! The isolation forest and PCA are fitted in one pass (module `one_pass`), and their history
//! has a single row, epoch 1, whose losses are mean scores (see [`EpochRecord`]).
//!
//! Every kind but the MLP learns from the normal training rows only, or from every training
//! row without labels when `train_on = "all"` (the isolation forest's default).

mod config;
mod epochs;
mod error;
mod loss;
mod one_pass;
mod optimizer;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use candle_core::Device;
use common::{FeatureTable, Progress, TrainingSummary};
use model::{Detector, ModelKind};

pub use config::{AutoWeight, LossKind, OptimizerKind, PositiveWeight, TrainConfig, TrainOn};
pub use epochs::Trainer;
pub use error::{Error, Result};
pub use loss::{mse, svdd_loss, vae_loss, weighted_bce_with_logits, weighted_focal_with_logits};

/// Version of the stage implementation; bump it when its outputs change for the same inputs.
pub const VERSION: u32 = 1;

/// Rows scored at once when the model scores the validation split.
const SCORING_BATCH: usize = 8192;

/// One row of `history.parquet`.
///
/// For the isolation forest and PCA, which have no training loss, the single row (epoch 1)
/// contains mean anomaly scores instead. `train_loss` is the mean over the training rows the
/// model was fitted on. `validation_loss` is the mean over the validation rows of the same
/// kind, which are the normal ones unless `train_on = "all"`. For PCA these are mean squared
/// reconstruction errors, as for the autoencoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: u32,
    /// Mean training loss over the epoch's batches, weighted by batch size.
    pub train_loss: f64,
    /// Loss on the validation split (for a detector trained on normal rows, its normal rows).
    pub validation_loss: f64,
    /// Average precision of the validation scores (NaN when every score is equal).
    pub validation_ap: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// A fitted detector and how its training went.
struct Trained {
    detector: Detector,
    history: Vec<EpochRecord>,
    best: EpochRecord,
    training_rows: usize,
    stopped_early: bool,
}

/// Trains a model on the splits in `preprocess_dir` and writes its artifacts into `out_dir`.
///
/// `name` labels the progress task. Fails with [`Error::Diverged`] at the end of the first
/// epoch in which a batch loss is not finite, so no broken model is ever written.
pub fn run(
    config: &TrainConfig,
    seed: u64,
    device: &Device,
    preprocess_dir: &Path,
    out_dir: &Path,
    name: &str,
    progress: &dyn Progress,
) -> Result<TrainingSummary> {
    config.validate()?;
    let train = FeatureTable::read(&preprocess_dir.join("train.parquet"))?;
    let validation = FeatureTable::read(&preprocess_dir.join("validation.parquet"))?;
    if train.features != validation.features {
        return Err(Error::Data(
            "train and validation splits have different feature columns".into(),
        ));
    }

    let spec = config.spec(train.features.clone());
    // Some limits depend on the number of features, such as PCA's `components`.
    spec.validate().map_err(|e| Error::InvalidConfig {
        key: if config.components.is_some() { "components" } else { "model" },
        problem: e.to_string(),
    })?;
    let trained = if config.model.is_network() {
        epochs::train(config, seed, device, &spec, &train, &validation, name, progress)?
    } else {
        one_pass::fit(config, seed, &spec, &train, &validation, name, progress)?
    };

    trained.detector.save(&out_dir.join("model.safetensors"))?;
    common::write_json(&out_dir.join("model.json"), &spec)?;
    common::write_parquet(&out_dir.join("history.parquet"), &history_batch(&trained.history))?;
    let summary = TrainingSummary {
        model_kind: spec.kind().as_str().to_string(),
        best_epoch: trained.best.epoch,
        epochs_run: trained.history.len() as u32,
        stopped_early: trained.stopped_early,
        best_validation_ap: trained.best.validation_ap,
        training_rows: trained.training_rows as u64,
        parameters: trained.detector.parameter_count(),
        device: model::device_name(trained.detector.device()),
    };
    common::write_json(&out_dir.join("training.json"), &summary)?;
    Ok(summary)
}

/// Returns the indices of the training rows the model learns from: every row for the MLP,
/// otherwise the normal rows or every row as `train_on` selects.
fn training_rows(config: &TrainConfig, train: &FeatureTable) -> Result<Vec<usize>> {
    let keep: Vec<usize> = match (config.model, config.train_on()) {
        (ModelKind::Mlp, _) | (_, TrainOn::All) => (0..train.rows()).collect(),
        (_, TrainOn::Normal) => (0..train.rows()).filter(|&i| train.labels[i] == 0).collect(),
    };
    if keep.is_empty() {
        return Err(Error::Data("the training split has no rows to learn from".into()));
    }
    Ok(keep)
}

/// Returns the sum of `losses` over the validation rows that count towards the validation
/// loss, and their number: the normal rows for a detector trained on normal rows, every row
/// otherwise.
fn validation_sum(config: &TrainConfig, losses: &[f64], labels: &[u8]) -> (f64, usize) {
    let normal_only = config.model != ModelKind::Mlp && config.train_on() == TrainOn::Normal;
    let mut sum = 0f64;
    let mut rows = 0usize;
    for (loss, &label) in losses.iter().zip(labels) {
        if !normal_only || label == 0 {
            sum += loss;
            rows += 1;
        }
    }
    (sum, rows)
}

/// Builds the `history.parquet` table.
fn history_batch(history: &[EpochRecord]) -> RecordBatch {
    let column = |f: fn(&EpochRecord) -> f64| {
        Arc::new(Float64Array::from_iter_values(history.iter().map(f)))
    };
    let schema = Schema::new(vec![
        Field::new("epoch", DataType::UInt32, false),
        Field::new("train_loss", DataType::Float64, false),
        Field::new("validation_loss", DataType::Float64, false),
        Field::new("validation_ap", DataType::Float64, false),
        Field::new("seconds", DataType::Float64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt32Array::from_iter_values(history.iter().map(|r| r.epoch))),
            column(|r| r.train_loss),
            column(|r| r.validation_loss),
            column(|r| r.validation_ap),
            column(|r| r.seconds),
        ],
    )
    .expect("columns match the schema")
}
