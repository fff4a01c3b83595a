//! One-pass fitting of the isolation forest and PCA, which have no epochs.

use std::time::Instant;

use common::{FeatureTable, Progress, Unit};
use model::{Detector, ModelSpec};

use crate::{
    EpochRecord, Error, Result, SCORING_BATCH, TrainConfig, Trained, training_rows, validation_sum,
};

/// Fits the model on the selected training rows and scores both splits once, for a history
/// of one row whose losses are mean scores (see [`EpochRecord`]).
pub(crate) fn fit(
    config: &TrainConfig,
    seed: u64,
    spec: &ModelSpec,
    train: &FeatureTable,
    validation: &FeatureTable,
    name: &str,
    progress: &dyn Progress,
) -> Result<Trained> {
    let started = Instant::now();
    let mut task = progress.task(name, Some(1), Unit::Epochs);
    let keep = training_rows(config, train)?;
    let mut values = Vec::with_capacity(keep.len() * train.width());
    for &i in &keep {
        values.extend_from_slice(train.row(i));
    }

    let detector = Detector::fit(spec, &values, seed).map_err(|e| match e {
        model::Error::InvalidData(problem) => Error::Data(problem),
        other => Error::Model(other),
    })?;

    let train_scores = detector.score_rows(&values, SCORING_BATCH)?;
    let validation_scores = detector.score_rows(&validation.values, SCORING_BATCH)?;
    let (validation_sum, validation_rows) =
        validation_sum(config, &validation_scores, &validation.labels);
    let validation_ap =
        evaluate::metrics::average_precision(&validation.labels, &validation_scores)
            .unwrap_or(f64::NAN);
    let record = EpochRecord {
        epoch: 1,
        train_loss: train_scores.iter().sum::<f64>() / train_scores.len() as f64,
        validation_loss: validation_sum / validation_rows.max(1) as f64,
        validation_ap,
        seconds: started.elapsed().as_secs_f64(),
    };

    let fitted = if let Some(forest) = detector.isolation_forest() {
        format!("{} trees on {} rows each", forest.trees(), forest.sample_size())
    } else if let Some(pca) = detector.pca() {
        format!(
            "{} components ({:.1} % of the variance)",
            pca.components(),
            100.0 * pca.explained_variance()
        )
    } else {
        unreachable!("Detector::fit builds an isolation forest or PCA")
    };
    task.set(1, &format!("mean score {:.4}  val AP {validation_ap:.4}", record.train_loss));
    task.finish(&format!("{fitted}, val AP {validation_ap:.4}"));
    Ok(Trained {
        detector,
        history: vec![record],
        best: record,
        training_rows: keep.len(),
        stopped_early: false,
    })
}
