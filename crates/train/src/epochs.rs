//! Minibatch training of the networks (MLP, autoencoder, VAE, Deep SVDD) over epochs, with
//! validation after every epoch and early stopping on the validation average precision.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::ParamsAdamW;
use common::{FeatureTable, Progress, Unit};
use model::{Detector, Dropout, GaussianNoise, ModelSpec, Network};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::loss::{mse, svdd_loss, vae_loss, weighted_bce_with_logits, weighted_focal_with_logits};
use crate::optimizer::Adam;
use crate::{
    EpochRecord, Error, LossKind, PositiveWeight, Result, SCORING_BATCH, TrainConfig, Trained,
    training_rows, validation_sum,
};

/// The training rows and targets as tensors on the training device.
struct TrainingData {
    x: Tensor,
    targets: Tensor,
    weights: Tensor,
    rows: usize,
}

/// The sources of randomness while training, each from its own seed.
struct Randomness {
    dropout: Dropout,
    shuffle: ChaCha8Rng,
    noise: GaussianNoise,
}

/// A network with its optimiser and training rows, trained one epoch at a time.
///
/// [`train`] drives it with validation and early stopping. Benchmarks call
/// [`epoch`](Self::epoch) directly to time the training steps alone.
pub struct Trainer {
    config: TrainConfig,
    detector: Detector,
    optimizer: Adam,
    data: TrainingData,
    randomness: Randomness,
    order: Vec<u32>,
}

impl Trainer {
    /// Builds the network of `spec` and its optimiser, and moves the training rows that
    /// `config` selects onto `device`.
    ///
    /// The seed decides the initial weights (`seed`), the dropout masks (`seed + 1`), the
    /// batch order (`seed + 2`) and the VAE's reparameterisation noise (`seed + 3`).
    pub fn new(
        config: &TrainConfig,
        seed: u64,
        device: &Device,
        spec: &ModelSpec,
        train: &FeatureTable,
    ) -> Result<Trainer> {
        let mut detector = Detector::new(spec, device, seed)?;
        let data = training_data(config, train, device)?;
        if let Some(Network::DeepSvdd(svdd)) = detector.network_mut() {
            svdd.init_center(&data.x, SCORING_BATCH)?;
        }
        let params = ParamsAdamW {
            lr: config.learning_rate(),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: config.weight_decay(),
        };
        let optimizer = Adam::new(detector.vars(), params)?;
        let randomness = Randomness {
            dropout: Dropout::new(config.dropout(), seed.wrapping_add(1)),
            shuffle: ChaCha8Rng::seed_from_u64(seed.wrapping_add(2)),
            noise: GaussianNoise::new(seed.wrapping_add(3)),
        };
        let order: Vec<u32> = (0..data.rows as u32).collect();
        Ok(Trainer { config: config.clone(), detector, optimizer, data, randomness, order })
    }

    /// Returns the number of training rows.
    pub fn rows(&self) -> usize {
        self.data.rows
    }

    /// Returns the model being trained.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Runs one epoch of minibatch steps over a fresh shuffle of the training rows and
    /// returns the mean training loss, weighted by batch size.
    ///
    /// Batch losses stay on the device and are read back once, after the last step, so that
    /// no step waits for the device. Fails with [`Error::Diverged`] naming the first batch
    /// whose loss is not finite. The rest of the epoch's steps have run by then, with
    /// non-finite weights, which the caller must discard.
    pub fn epoch(&mut self, epoch: u32) -> Result<f64> {
        let device = self.data.x.device().clone();
        let network = self.detector.network().expect("Detector::new builds a network");
        self.order.shuffle(&mut self.randomness.shuffle);
        let batch_size = self.config.batch_size();
        let mut losses = Vec::with_capacity(self.order.len().div_ceil(batch_size));
        for indices in self.order.chunks(batch_size) {
            let indices = Tensor::from_slice(indices, indices.len(), &device)?;
            let x = self.data.x.index_select(&indices, 0)?;
            let loss =
                batch_loss(&self.config, network, &self.data, &indices, &x, &mut self.randomness)?;
            self.optimizer.backward_step(&loss)?;
            losses.push(loss.detach());
        }
        let values = Tensor::stack(&losses, 0)?.to_vec1::<f32>()?;
        let mut loss_sum = 0f64;
        for (batch, (value, indices)) in
            values.iter().zip(self.order.chunks(batch_size)).enumerate()
        {
            if !value.is_finite() {
                return Err(Error::Diverged { epoch, batch: batch + 1, loss: *value });
            }
            loss_sum += f64::from(*value) * indices.len() as f64;
        }
        Ok(loss_sum / self.data.rows as f64)
    }
}

/// Trains a network and returns it with the weights of the best epoch.
///
/// The seed is used as [`Trainer::new`] describes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train(
    config: &TrainConfig,
    seed: u64,
    device: &Device,
    spec: &ModelSpec,
    train: &FeatureTable,
    validation: &FeatureTable,
    name: &str,
    progress: &dyn Progress,
) -> Result<Trained> {
    let mut trainer = Trainer::new(config, seed, device, spec, train)?;
    let validation_x =
        Tensor::from_slice(&validation.values, (validation.rows(), validation.width()), device)?;

    let epochs = config.epochs();
    let mut task = progress.task(name, Some(u64::from(epochs)), Unit::Epochs);
    let mut history = Vec::new();
    let mut best: Option<(EpochRecord, Vec<Tensor>)> = None;
    for epoch in 1..=epochs {
        let started = Instant::now();
        let train_loss = trainer.epoch(epoch)?;
        let network = trainer.detector.network().expect("Detector::new builds a network");
        let (validation_loss, validation_ap) =
            validate(config, network, validation, &validation_x, &trainer.data)?;
        let record = EpochRecord {
            epoch,
            train_loss,
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
            let weights = trainer
                .detector
                .vars()
                .iter()
                .map(|var| var.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?;
            best = Some((record, weights));
        }
        let best_epoch = best.as_ref().map_or(epoch, |(b, _)| b.epoch);
        if config.patience() > 0 && epoch - best_epoch >= config.patience() {
            break;
        }
    }

    let (best_record, best_weights) = best.expect("at least one epoch runs");
    let detector = trainer.detector;
    for (var, weights) in detector.vars().iter().zip(&best_weights) {
        var.set(weights)?;
    }
    let epochs_run = history.len() as u32;
    task.finish(&format!(
        "{epochs_run} epochs, best epoch {} (val AP {:.4})",
        best_record.epoch, best_record.validation_ap
    ));
    Ok(Trained {
        detector,
        history,
        best: best_record,
        training_rows: trainer.data.rows,
        stopped_early: epochs_run < epochs,
    })
}

/// Orders average precisions for early stopping, with NaN (constant scores) below any value.
fn rank(ap: f64) -> f64 {
    if ap.is_nan() { f64::NEG_INFINITY } else { ap }
}

/// Returns the loss of one minibatch `x`, whose rows are `indices` of the training data.
fn batch_loss(
    config: &TrainConfig,
    network: &Network,
    data: &TrainingData,
    indices: &Tensor,
    x: &Tensor,
    randomness: &mut Randomness,
) -> Result<Tensor> {
    let dropout = Some(&mut randomness.dropout);
    match network {
        Network::Mlp(mlp) => {
            let output = mlp.forward(x, dropout)?;
            let targets = data.targets.index_select(indices, 0)?;
            let weights = data.weights.index_select(indices, 0)?;
            classifier_loss(config, &output, &targets, &weights)
        }
        Network::Autoencoder(autoencoder) => mse(&autoencoder.forward(x, dropout)?, x),
        Network::Vae(vae) => {
            let noise = randomness.noise.sample((x.dim(0)?, vae.latent_dim()), x.device())?;
            vae_loss(&vae.forward(x, Some(&noise), dropout)?, x, vae.beta())
        }
        Network::DeepSvdd(svdd) => svdd_loss(&svdd.squared_distances(&svdd.forward(x, dropout)?)?),
    }
}

/// Returns the classifier's loss, BCE or focal as configured.
fn classifier_loss(
    config: &TrainConfig,
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
) -> Result<Tensor> {
    match config.loss() {
        LossKind::Bce => weighted_bce_with_logits(logits, targets, weights),
        LossKind::Focal => weighted_focal_with_logits(
            logits,
            targets,
            weights,
            config.focal_gamma(),
            config.focal_alpha,
        ),
    }
}

/// Selects the training rows and builds the target and weight columns.
fn training_data(
    config: &TrainConfig,
    train: &FeatureTable,
    device: &Device,
) -> Result<TrainingData> {
    let width = train.width();
    let keep = training_rows(config, train)?;
    let mut values = Vec::with_capacity(keep.len() * width);
    for &i in &keep {
        values.extend_from_slice(train.row(i));
    }
    let labels: Vec<f32> = keep.iter().map(|&i| f32::from(train.labels[i])).collect();
    let positive_weight = match config.positive_weight() {
        PositiveWeight::Fixed(weight) => weight,
        PositiveWeight::Auto(_) => {
            let positives = labels.iter().filter(|&&y| y == 1.0).count();
            if config.model == model::ModelKind::Mlp && positives == 0 {
                return Err(Error::Data(
                    "the training split has no anomalies, so a classifier cannot learn them".into(),
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
///
/// The validation loss is the training objective without dropout or noise. For the
/// classifier it is the loss over every row. For the other networks it is the mean per-row
/// loss over the rows that [`validation_sum`] counts: the reconstruction error, the VAE loss at
/// the latent mean, or the squared distance to the centre.
fn validate(
    config: &TrainConfig,
    network: &Network,
    validation: &FeatureTable,
    validation_x: &Tensor,
    data: &TrainingData,
) -> Result<(f64, f64)> {
    let mut loss_sum = 0f64;
    let mut loss_rows = 0usize;
    let mut scores = Vec::with_capacity(validation.rows());
    let positive_weight = match config.positive_weight() {
        PositiveWeight::Fixed(weight) => weight as f32,
        PositiveWeight::Auto(_) => data.weights.max_all()?.to_scalar::<f32>()?,
    };
    for start in (0..validation.rows()).step_by(SCORING_BATCH) {
        let len = SCORING_BATCH.min(validation.rows() - start);
        let x = validation_x.narrow(0, start, len)?;
        let labels = &validation.labels[start..start + len];
        if let Network::Mlp(mlp) = network {
            let output = mlp.forward(&x, None)?;
            let targets: Vec<f32> = labels.iter().map(|&y| f32::from(y)).collect();
            let weights: Vec<f32> =
                labels.iter().map(|&y| if y == 1 { positive_weight } else { 1.0 }).collect();
            let targets = Tensor::from_vec(targets, (len, 1), x.device())?;
            let weights = Tensor::from_vec(weights, (len, 1), x.device())?;
            let loss = classifier_loss(config, &output, &targets, &weights)?.to_scalar::<f32>()?;
            loss_sum += f64::from(loss) * len as f64;
            loss_rows += len;
            scores.extend(candle_nn::ops::sigmoid(&output)?.squeeze(1)?.to_vec1::<f32>()?);
        } else {
            let losses: Vec<f64> =
                row_losses(network, &x)?.to_vec1::<f32>()?.into_iter().map(f64::from).collect();
            let (sum, rows) = validation_sum(config, &losses, labels);
            loss_sum += sum;
            loss_rows += rows;
            scores.extend(network.score(&x)?.to_vec1::<f32>()?);
        }
    }
    let scores: Vec<f64> = scores.into_iter().map(f64::from).collect();
    let ap = evaluate::metrics::average_precision(&validation.labels, &scores).unwrap_or(f64::NAN);
    Ok((loss_sum / loss_rows.max(1) as f64, ap))
}

/// Returns the deterministic per-row loss of a network other than the MLP, shape `(rows,)`.
fn row_losses(network: &Network, x: &Tensor) -> Result<Tensor> {
    let losses = match network {
        Network::Mlp(_) => unreachable!("the classifier's validation loss is computed per batch"),
        Network::Autoencoder(autoencoder) => (autoencoder.forward(x, None)? - x)?.sqr()?.mean(1)?,
        Network::Vae(vae) => {
            let output = vae.forward(x, None, None)?;
            let reconstruction = (output.reconstruction - x)?.sqr()?.mean(1)?;
            let kl = model::kl_divergence(&output.mean, &output.log_variance)?;
            (reconstruction + kl.affine(vae.beta(), 0.0)?)?
        }
        Network::DeepSvdd(svdd) => svdd.squared_distances(&svdd.forward(x, None)?)?,
    };
    Ok(losses)
}
