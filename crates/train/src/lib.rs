//! The train stage: minibatch training of an MLP classifier or an autoencoder.
//!
//! Reads `train.parquet` and `validation.parquet` from a preprocess stage. Writes
//! `model.safetensors` (the weights of the best epoch), `model.json` (the
//! [`model::ModelSpec`]), `history.parquet` (one row per epoch: `epoch`, `train_loss`,
//! `validation_loss`, `validation_ap`, `seconds`) and `training.json` (a
//! [`common::TrainingSummary`]).
//!
//! The classifier minimises a weighted BCE with logits; the autoencoder minimises the mean
//! squared reconstruction error, by default on the normal training rows only. After every
//! epoch the model scores the whole validation split; early stopping watches the validation
//! average precision and keeps the weights of the best epoch. The seed decides the initial
//! weights, the batch order and the dropout masks.

mod config;
mod error;
mod loss;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Float64Array, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use common::{FeatureTable, Progress, TrainingSummary, Unit};
use model::{Detector, Dropout, ModelKind};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub use config::{AutoWeight, OptimizerKind, PositiveWeight, TrainConfig, TrainOn};
pub use error::{Error, Result};
pub use loss::{mse, weighted_bce_with_logits};

/// Version of the stage implementation; bump it when its outputs change for the same inputs.
pub const VERSION: u32 = 1;

/// Rows scored at once when the model scores the validation split.
const SCORING_BATCH: usize = 8192;

/// One row of `history.parquet`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: u32,
    /// Mean training loss over the epoch's batches, weighted by batch size.
    pub train_loss: f64,
    /// Loss on the validation split (for a `normal`-trained autoencoder, its normal rows).
    pub validation_loss: f64,
    /// Average precision of the validation scores (NaN when every score is equal).
    pub validation_ap: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// The training rows and targets as tensors on the training device.
struct TrainingData {
    x: Tensor,
    targets: Tensor,
    weights: Tensor,
    rows: usize,
}

/// Trains a model on the splits in `preprocess_dir` and writes its artifacts into `out_dir`.
///
/// `name` labels the progress task. Fails with [`Error::Diverged`] as soon as a batch loss is
/// not finite, so no broken model is ever written.
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
    let detector = Detector::new(&spec, device, seed)?;
    let data = training_data(config, &train, device)?;
    let validation_x =
        Tensor::from_slice(&validation.values, (validation.rows(), validation.width()), device)?;
    let params = ParamsAdamW {
        lr: config.learning_rate,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: config.weight_decay,
    };
    let mut optimizer = AdamW::new(detector.vars(), params)?;
    let mut dropout = Dropout::new(config.dropout, seed.wrapping_add(1));
    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(2));
    let mut order: Vec<u32> = (0..data.rows as u32).collect();

    let mut task = progress.task(name, Some(u64::from(config.epochs)), Unit::Epochs);
    let mut history = Vec::new();
    let mut best: Option<(EpochRecord, Vec<Tensor>)> = None;
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        order.shuffle(&mut shuffle_rng);
        let mut loss_sum = 0f64;
        for (batch, indices) in order.chunks(config.batch_size).enumerate() {
            let indices = Tensor::from_slice(indices, indices.len(), device)?;
            let x = data.x.index_select(&indices, 0)?;
            let output = detector.forward(&x, Some(&mut dropout))?;
            let loss = match spec.kind {
                ModelKind::Mlp => {
                    let targets = data.targets.index_select(&indices, 0)?;
                    let weights = data.weights.index_select(&indices, 0)?;
                    weighted_bce_with_logits(&output, &targets, &weights)?
                }
                ModelKind::Autoencoder => mse(&output, &x)?,
            };
            let value = loss.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(Error::Diverged { epoch, batch: batch + 1, loss: value });
            }
            loss_sum += f64::from(value) * indices.elem_count() as f64;
            optimizer.backward_step(&loss)?;
        }

        let (validation_loss, validation_ap) =
            validate(config, &detector, &validation, &validation_x, &data)?;
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / data.rows as f64,
            validation_loss,
            validation_ap,
            seconds: started.elapsed().as_secs_f64(),
        };
        if !record.validation_loss.is_finite() {
            return Err(Error::Diverged { epoch, batch: 0, loss: record.validation_loss as f32 });
        }
        history.push(record);
        task.set(
            u64::from(epoch),
            &format!(
                "loss {:.4}  val loss {:.4}  val AP {:.4}",
                record.train_loss, validation_loss, validation_ap
            ),
        );

        let improved =
            best.as_ref().is_none_or(|(b, _)| rank(validation_ap) > rank(b.validation_ap));
        if improved {
            let weights = detector
                .vars()
                .iter()
                .map(|var| var.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?;
            best = Some((record, weights));
        }
        let best_epoch = best.as_ref().map_or(epoch, |(b, _)| b.epoch);
        if config.patience > 0 && epoch - best_epoch >= config.patience {
            break;
        }
    }

    let (best_record, best_weights) = best.expect("at least one epoch runs");
    for (var, weights) in detector.vars().iter().zip(&best_weights) {
        var.set(weights)?;
    }
    let epochs_run = history.len() as u32;
    task.finish(&format!(
        "{epochs_run} epochs, best epoch {} (val AP {:.4})",
        best_record.epoch, best_record.validation_ap
    ));

    detector.save(&out_dir.join("model.safetensors"))?;
    common::write_json(&out_dir.join("model.json"), &spec)?;
    common::write_parquet(&out_dir.join("history.parquet"), &history_batch(&history))?;
    let summary = TrainingSummary {
        model_kind: spec.kind.as_str().to_string(),
        best_epoch: best_record.epoch,
        epochs_run,
        stopped_early: epochs_run < config.epochs,
        best_validation_ap: best_record.validation_ap,
        training_rows: data.rows as u64,
        parameters: spec.parameter_count(),
        device: model::device_name(device),
    };
    common::write_json(&out_dir.join("training.json"), &summary)?;
    Ok(summary)
}

/// Orders average precisions for early stopping, with NaN (constant scores) below any value.
fn rank(ap: f64) -> f64 {
    if ap.is_nan() { f64::NEG_INFINITY } else { ap }
}

/// Selects the training rows and builds the target and weight columns.
fn training_data(
    config: &TrainConfig,
    train: &FeatureTable,
    device: &Device,
) -> Result<TrainingData> {
    let width = train.width();
    let keep: Vec<usize> = match (config.model, config.train_on.unwrap_or_default()) {
        (ModelKind::Autoencoder, TrainOn::Normal) => {
            (0..train.rows()).filter(|&i| train.labels[i] == 0).collect()
        }
        _ => (0..train.rows()).collect(),
    };
    if keep.is_empty() {
        return Err(Error::Data("the training split has no rows to learn from".into()));
    }
    let mut values = Vec::with_capacity(keep.len() * width);
    for &i in &keep {
        values.extend_from_slice(train.row(i));
    }
    let labels: Vec<f32> = keep.iter().map(|&i| f32::from(train.labels[i])).collect();
    let positive_weight =
        match config.positive_weight.unwrap_or(PositiveWeight::Auto(AutoWeight::Auto)) {
            PositiveWeight::Fixed(weight) => weight,
            PositiveWeight::Auto(_) => {
                let positives = labels.iter().filter(|&&y| y == 1.0).count();
                if config.model == ModelKind::Mlp && positives == 0 {
                    return Err(Error::Data(
                        "the training split has no anomalies, so a classifier cannot learn them"
                            .into(),
                    ));
                }
                (labels.len() - positives) as f64 / positives.max(1) as f64
            }
        };
    let weights: Vec<f32> =
        labels.iter().map(|&y| if y == 1.0 { positive_weight as f32 } else { 1.0 }).collect();
    let rows = keep.len();
    Ok(TrainingData {
        x: Tensor::from_vec(values, (rows, width), device)?,
        targets: Tensor::from_vec(labels, (rows, 1), device)?,
        weights: Tensor::from_vec(weights, (rows, 1), device)?,
        rows,
    })
}

/// Returns the validation loss and the validation average precision.
fn validate(
    config: &TrainConfig,
    detector: &Detector,
    validation: &FeatureTable,
    validation_x: &Tensor,
    data: &TrainingData,
) -> Result<(f64, f64)> {
    let mut loss_sum = 0f64;
    let mut loss_rows = 0usize;
    let mut scores = Vec::with_capacity(validation.rows());
    let positive_weight =
        match config.positive_weight.unwrap_or(PositiveWeight::Auto(AutoWeight::Auto)) {
            PositiveWeight::Fixed(weight) => weight as f32,
            PositiveWeight::Auto(_) => data.weights.max_all()?.to_scalar::<f32>()?,
        };
    for start in (0..validation.rows()).step_by(SCORING_BATCH) {
        let len = SCORING_BATCH.min(validation.rows() - start);
        let x = validation_x.narrow(0, start, len)?;
        let labels = &validation.labels[start..start + len];
        let output = detector.forward(&x, None)?;
        match config.model {
            ModelKind::Mlp => {
                let targets: Vec<f32> = labels.iter().map(|&y| f32::from(y)).collect();
                let weights: Vec<f32> =
                    labels.iter().map(|&y| if y == 1 { positive_weight } else { 1.0 }).collect();
                let targets = Tensor::from_vec(targets, (len, 1), x.device())?;
                let weights = Tensor::from_vec(weights, (len, 1), x.device())?;
                let loss =
                    weighted_bce_with_logits(&output, &targets, &weights)?.to_scalar::<f32>()?;
                loss_sum += f64::from(loss) * len as f64;
                loss_rows += len;
                scores.extend(candle_nn::ops::sigmoid(&output)?.squeeze(1)?.to_vec1::<f32>()?);
            }
            ModelKind::Autoencoder => {
                let errors = (output - &x)?.sqr()?.mean(1)?.to_vec1::<f32>()?;
                let normal_only = config.train_on.unwrap_or_default() == TrainOn::Normal;
                for (error, &label) in errors.iter().zip(labels) {
                    if !normal_only || label == 0 {
                        loss_sum += f64::from(*error);
                        loss_rows += 1;
                    }
                }
                scores.extend(errors);
            }
        }
    }
    let scores: Vec<f64> = scores.into_iter().map(f64::from).collect();
    let ap = evaluate::metrics::average_precision(&validation.labels, &scores).unwrap_or(f64::NAN);
    Ok((loss_sum / loss_rows.max(1) as f64, ap))
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
