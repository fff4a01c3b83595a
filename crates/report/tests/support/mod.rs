//! Realistic artifacts of a finished run, written the way the upstream stages write them, for
//! the report tests and the `demo` example.
//!
//! Scores are drawn from seeded distributions: a logistic of two normals for an MLP and two
//! log-normals for an autoencoder. The metrics and curves are computed from those scores by
//! the plain reference formulas below, so `metrics.json` agrees with the scores.
//!
//! A sweep is a run whose models name their stage and varied parameters; [`sweep_spec`] builds
//! one whose trials differ in how well they separate the classes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{Field, Schema};
use common::{
    ColumnSummary, Confusion, DatasetSummary, Evaluation, LabelCounts, Metrics, PreprocessSummary,
    Threshold, TrainingSummary, write_json, write_parquet,
};
use report::{FailedTrial, ModelInput, ReportInput};
use serde_json::Value;

/// Kind of model whose artifacts are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Scores are probabilities.
    Mlp,
    /// Scores are reconstruction errors.
    Autoencoder,
}

/// One model of a generated run.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    pub kind: Kind,
    /// Train stage of a sweep trial; empty outside a sweep.
    pub stage: String,
    /// Swept parameters of a sweep trial.
    pub varied: BTreeMap<String, Value>,
    /// Added to the mean logit (MLP) or log error (autoencoder) of the anomalies, so a larger
    /// value separates the classes better. Zero keeps the default distributions.
    pub anomaly_shift: f64,
    /// Added to `anomaly_shift` on the test split only, so that a trial can look better or
    /// worse on test than on validation.
    pub test_shift: f64,
    /// Epochs run, or `None` for the run's `epochs`.
    pub epochs: Option<u32>,
}

impl ModelSpec {
    /// Returns a model that is not part of a sweep.
    pub fn new(name: &str, kind: Kind) -> Self {
        ModelSpec {
            name: name.to_string(),
            kind,
            stage: String::new(),
            varied: BTreeMap::new(),
            anomaly_shift: 0.0,
            test_shift: 0.0,
            epochs: None,
        }
    }
}

/// Shape of a generated run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Raw columns, the label column included.
    pub columns: usize,
    /// Rows in each of the validation and test splits.
    pub split_rows: usize,
    /// Share of anomalies in every split.
    pub anomaly_rate: f64,
    /// Epochs run by every model.
    pub epochs: u32,
    pub models: Vec<ModelSpec>,
    /// Sweep trials that failed; they have no artifacts.
    pub failed: Vec<FailedTrial>,
    pub seed: u64,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            columns: 31,
            split_rows: 1000,
            anomaly_rate: 0.09,
            epochs: 30,
            models: vec![
                ModelSpec::new("mlp", Kind::Mlp),
                ModelSpec::new("autoencoder", Kind::Autoencoder),
            ],
            failed: Vec::new(),
            seed: 42,
        }
    }
}

/// Returns a sweep of 12 trials over two stages. Stage `mlp` crosses five learning rates with
/// `split.log1p` off and on, and its trial with learning rate 0.01 without `log1p` fails.
/// Stage `autoencoder` has `split.log1p` off and on. Every trial of a stage also sets its
/// batch size to the same value, so only `mlp.learning_rate` and `split.log1p` vary. The
/// anomalies separate best at learning rate 0.001 and with `log1p` on. Trials `mlp#2` and
/// `autoencoder#1` separate them better on test than on validation, so that choosing on test
/// picks a different best trial overall and in stage `autoencoder` than choosing on
/// validation.
pub fn small_sweep() -> RunSpec {
    let mut models = Vec::new();
    let mut failed = Vec::new();
    let mut trial = 0;
    for log1p in [false, true] {
        for rate in [0.0001, 0.0003, 0.001, 0.003, 0.01] {
            trial += 1;
            let name = format!("mlp#{trial}");
            let varied = BTreeMap::from([
                ("mlp.batch_size".to_string(), Value::from(256)),
                ("mlp.learning_rate".to_string(), Value::from(rate)),
                ("split.log1p".to_string(), Value::from(log1p)),
            ]);
            if rate == 0.01 && !log1p {
                let reason = "training loss became NaN at epoch 3".to_string();
                failed.push(FailedTrial { name, stage: "mlp".into(), varied, reason });
                continue;
            }
            let distance = (rate / 0.001_f64).log10().abs();
            models.push(ModelSpec {
                stage: "mlp".into(),
                varied,
                anomaly_shift: -1.4 - 1.1 * distance + if log1p { 0.6 } else { 0.0 },
                test_shift: if trial == 2 { 1.5 } else { 0.0 },
                epochs: Some(18 + (trial as u32 * 7) % 13),
                ..ModelSpec::new(&name, Kind::Mlp)
            });
        }
    }
    for (trial, log1p) in [false, true].into_iter().enumerate() {
        let varied = BTreeMap::from([
            ("autoencoder.batch_size".to_string(), Value::from(512)),
            ("split.log1p".to_string(), Value::from(log1p)),
        ]);
        models.push(ModelSpec {
            stage: "autoencoder".into(),
            varied,
            anomaly_shift: if log1p { -0.3 } else { -0.6 },
            test_shift: if log1p { 0.0 } else { 0.6 },
            ..ModelSpec::new(&format!("autoencoder#{}", trial + 1), Kind::Autoencoder)
        });
    }
    RunSpec { models, failed, ..RunSpec::default() }
}

/// Returns a random sweep of `trials` trials: about four in five of stage `mlp` over learning
/// rate (log-uniform from 1e-5 to 0.1), dropout, hidden layers and `split.log1p`, the rest of
/// stage `autoencoder` over learning rate, bottleneck width and `split.log1p`. Every 97th
/// trial fails. The splits have `split_rows` rows, so a small value keeps generation fast.
pub fn large_sweep(trials: usize, split_rows: usize) -> RunSpec {
    let mut rng = Rng::new(7);
    let mut models = Vec::new();
    let mut failed = Vec::new();
    for trial in 1..=trials {
        let rate = 10f64.powf(-5.0 + 4.0 * rng.uniform());
        let log1p = rng.uniform() < 0.5;
        let is_mlp = rng.uniform() < 0.8;
        let stage = if is_mlp { "mlp" } else { "autoencoder" };
        let mut varied = BTreeMap::from([
            (format!("{stage}.learning_rate"), Value::from(rate)),
            ("split.log1p".to_string(), Value::from(log1p)),
        ]);
        let distance = (rate / 0.001_f64).log10().abs();
        let mut shift = -1.2 - 0.6 * distance + if log1p { 0.4 } else { 0.0 };
        if is_mlp {
            let dropout = (rng.uniform() * 50.0).round() / 100.0;
            let hidden = [
                serde_json::json!([32]),
                serde_json::json!([64, 32]),
                serde_json::json!([128, 64]),
            ][(rng.next_u64() % 3) as usize]
                .clone();
            shift -= 2.0 * (dropout - 0.2).abs();
            varied.insert("mlp.dropout".into(), Value::from(dropout));
            varied.insert("mlp.hidden".into(), hidden);
        } else {
            let bottleneck = [4, 8, 16][(rng.next_u64() % 3) as usize];
            shift += if bottleneck == 8 { 0.3 } else { 0.0 };
            varied.insert("autoencoder.bottleneck".into(), Value::from(bottleneck));
        }

        let name = format!("{stage}#{trial}");
        if trial % 97 == 0 {
            let reason = format!("validation loss became NaN at epoch {}", 2 + trial % 5);
            failed.push(FailedTrial { name, stage: stage.into(), varied, reason });
            continue;
        }
        let kind = if is_mlp { Kind::Mlp } else { Kind::Autoencoder };
        models.push(ModelSpec {
            stage: stage.into(),
            varied,
            anomaly_shift: shift,
            epochs: Some(12 + (rng.next_u64() % 28) as u32),
            ..ModelSpec::new(&name, kind)
        });
    }
    RunSpec { split_rows, models, failed, ..RunSpec::default() }
}

/// A splitmix64 generator: deterministic, and enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a uniform value in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Returns a standard normal value (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Writes every artifact of a run into `dir` and returns the report input naming them.
pub fn write_run(dir: &Path, title: &str, spec: &RunSpec) -> ReportInput {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng::new(spec.seed);
    let positives = (spec.split_rows as f64 * spec.anomaly_rate).round() as usize;
    let labels: Vec<u8> = (0..spec.split_rows).map(|i| u8::from(i < positives)).collect();

    let dataset = dir.join("summary.json");
    write_json(&dataset, &dataset_summary(spec, positives)).unwrap();
    let preprocess = dir.join("preprocess.json");
    write_json(&preprocess, &preprocess_summary(spec, positives)).unwrap();

    let models = spec
        .models
        .iter()
        .map(|model| write_model(&dir.join(&model.name), model, spec, &labels, &mut rng))
        .collect();
    ReportInput {
        title: title.to_string(),
        dataset,
        preprocess,
        models,
        failed: spec.failed.clone(),
    }
}

fn dataset_summary(spec: &RunSpec, split_positives: usize) -> DatasetSummary {
    let train_rows = 3 * spec.split_rows as u64;
    let rows = train_rows + 2 * spec.split_rows as u64;
    let anomaly = 3 * split_positives as u64 + 2 * split_positives as u64;
    let mut columns = vec![ColumnSummary { name: "Time".into(), kind: "float".into(), nulls: 0 }];
    for i in 1..spec.columns.saturating_sub(2) {
        let nulls = if i == 3 { 20 } else { 0 };
        columns.push(ColumnSummary { name: format!("V{i}"), kind: "float".into(), nulls });
    }
    columns.push(ColumnSummary { name: "Amount".into(), kind: "float".into(), nulls: 5 });
    columns.push(ColumnSummary { name: "Class".into(), kind: "int".into(), nulls: 0 });
    DatasetSummary {
        dataset: Some("creditcard-sample".into()),
        source: "data/creditcard-sample.csv.gz".into(),
        sha256: "76274b691b16a6c49d3f159c883398e03ccd6d1d7e8e1f0e5bd4b8b9c0e7c2a1".into(),
        rows,
        columns,
        label_column: "Class".into(),
        label_counts: LabelCounts { normal: rows - anomaly, anomaly },
        label_values: BTreeMap::from([("0".into(), rows - anomaly), ("1".into(), anomaly)]),
        duplicate_rows: 17,
    }
}

fn preprocess_summary(spec: &RunSpec, split_positives: usize) -> PreprocessSummary {
    let split = |rows: usize, positives: usize| LabelCounts {
        normal: (rows - positives) as u64,
        anomaly: positives as u64,
    };
    let n = spec.split_rows;
    let features: Vec<String> = (1..spec.columns.saturating_sub(2))
        .map(|i| format!("V{i}"))
        .chain(["Amount".into()])
        .collect();
    PreprocessSummary {
        features,
        dropped: vec!["Time".into()],
        split_method: "stratified".into(),
        splits: BTreeMap::from([
            ("train".into(), split(3 * n, 3 * split_positives)),
            ("validation".into(), split(n, split_positives)),
            ("test".into(), split(n, split_positives)),
        ]),
        imputed: BTreeMap::from([
            ("train".into(), BTreeMap::from([("V3".into(), 12), ("Amount".into(), 3)])),
            ("validation".into(), BTreeMap::from([("V3".into(), 3)])),
            ("test".into(), BTreeMap::from([("V3".into(), 5), ("Amount".into(), 2)])),
        ]),
        duplicates_of_training: BTreeMap::from([("validation".into(), 4), ("test".into(), 3)]),
        deduplicated: 0,
    }
}

/// Draws one score per label for a model of `kind`, with the anomalies' mean moved by
/// `shift` on the logit or log scale.
fn draw_scores(kind: Kind, shift: f64, labels: &[u8], rng: &mut Rng) -> Vec<f64> {
    labels
        .iter()
        .map(|&label| match (kind, label) {
            (Kind::Mlp, 0) => logistic(-3.2 + 1.3 * rng.normal()),
            (Kind::Mlp, _) => logistic(1.4 + shift + 1.8 * rng.normal()),
            (Kind::Autoencoder, 0) => (-3.0 + 0.7 * rng.normal()).exp(),
            (Kind::Autoencoder, _) => (-1.5 + shift + 1.1 * rng.normal()).exp(),
        })
        .collect()
}

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn write_model(
    dir: &Path,
    spec: &ModelSpec,
    run: &RunSpec,
    labels: &[u8],
    rng: &mut Rng,
) -> ModelInput {
    std::fs::create_dir_all(dir).unwrap();
    let validation = draw_scores(spec.kind, spec.anomaly_shift, labels, rng);
    let test = draw_scores(spec.kind, spec.anomaly_shift + spec.test_shift, labels, rng);
    let threshold = max_f1_threshold(&validation, labels);
    let evaluation = Evaluation {
        model_kind: kind_name(spec.kind).into(),
        score: match spec.kind {
            Kind::Mlp => "probability".into(),
            Kind::Autoencoder => "reconstruction_error".into(),
        },
        threshold: Threshold { value: threshold, rule: "max_f1".into(), target_recall: None },
        validation: metrics(&validation, labels, threshold),
        test: metrics(&test, labels, threshold),
    };

    let epochs = spec.epochs.unwrap_or(run.epochs);
    let final_ap = evaluation.validation.average_precision;
    let history = history(spec.kind, epochs, final_ap, spec.anomaly_shift, rng);
    let best = history.iter().max_by(|a, b| a.3.total_cmp(&b.3)).unwrap();
    let training = TrainingSummary {
        model_kind: kind_name(spec.kind).into(),
        best_epoch: best.0,
        best_validation_ap: best.3,
        epochs_run: epochs,
        stopped_early: true,
        training_rows: match spec.kind {
            Kind::Mlp => 3 * run.split_rows as u64,
            Kind::Autoencoder => (3.0 * run.split_rows as f64 * (1.0 - run.anomaly_rate)) as u64,
        },
        parameters: match spec.kind {
            Kind::Mlp => 4_097,
            Kind::Autoencoder => 3_934,
        },
        device: "cpu".into(),
    };
    let params = match spec.kind {
        Kind::Mlp => serde_json::json!({
            "model": {"kind": "mlp", "hidden": [64, 32], "dropout": 0.1},
            "optimizer": {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.0001},
            "batch_size": 256, "max_epochs": 60, "patience": 8, "seed": 7,
        }),
        Kind::Autoencoder => serde_json::json!({
            "model": {"kind": "autoencoder", "hidden": [24, 8, 24]},
            "optimizer": {"name": "adam", "learning_rate": 0.002},
            "batch_size": 512, "max_epochs": 60, "patience": 8, "seed": 7, "train_on": "normal",
        }),
    };

    let input = ModelInput {
        name: spec.name.clone(),
        stage: spec.stage.clone(),
        varied: spec.varied.clone(),
        params,
        training: dir.join("training.json"),
        history: dir.join("history.parquet"),
        metrics: dir.join("metrics.json"),
        scores: dir.join("scores.parquet"),
        curves: dir.join("curves.parquet"),
    };
    write_json(&input.training, &training).unwrap();
    write_json(&input.metrics, &evaluation).unwrap();
    write_history(&input.history, &history);
    write_scores(&input.scores, labels, &validation, &test);
    write_curves(&input.curves, labels, &validation, &test);
    input
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Mlp => "mlp",
        Kind::Autoencoder => "autoencoder",
    }
}

/// Returns (epoch, train loss, validation loss, validation AP, seconds) per epoch: losses
/// that fall and level off, a validation loss that rises again late, and an AP that climbs to
/// about `final_ap`. A positive `shift` lowers the loss floor by 2% per unit.
fn history(
    kind: Kind,
    epochs: u32,
    final_ap: f64,
    shift: f64,
    rng: &mut Rng,
) -> Vec<(u32, f64, f64, f64, f64)> {
    let (scale, floor) = match kind {
        Kind::Mlp => (0.35, 0.06),
        Kind::Autoencoder => (0.9, 0.32),
    };
    let floor = floor * (1.0 - 0.02 * shift);
    (1..=epochs)
        .map(|epoch| {
            let e = f64::from(epoch);
            let train = floor + scale * (-e / 6.0).exp() + 0.004 * rng.normal();
            let overfit = 0.0025 * (e - 0.6 * f64::from(epochs)).max(0.0);
            let validation =
                floor * 1.1 + scale * (-e / 7.0).exp() + overfit + 0.006 * rng.normal();
            let ap =
                (final_ap * (1.0 - 0.8 * (-e / 4.0).exp()) + 0.01 * rng.normal()).clamp(0.0, 1.0);
            (epoch, train, validation, ap, 1.8 + 0.2 * rng.uniform())
        })
        .collect()
}

/// Returns the threshold among the scores that maximises F1, flagging scores at or above it.
fn max_f1_threshold(scores: &[f64], labels: &[u8]) -> f64 {
    let positives = labels.iter().filter(|l| **l == 1).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut best = (f64::NEG_INFINITY, 0.5);
    for (score, label) in ranked(scores, labels) {
        if label == 1 {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let f1 = 2.0 * tp / (tp + fp + positives);
        if f1 > best.0 {
            best = (f1, score);
        }
    }
    best.1
}

/// Returns (score, label) pairs ordered by decreasing score.
fn ranked(scores: &[f64], labels: &[u8]) -> Vec<(f64, u8)> {
    let mut pairs: Vec<(f64, u8)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    pairs
}

/// Computes the metrics with the textbook formulas: ROC-AUC as the share of
/// (anomaly, normal) pairs ranked correctly, ties counting half, and average precision as the
/// mean precision at each anomaly's rank.
fn metrics(scores: &[f64], labels: &[u8], threshold: f64) -> Metrics {
    let anomalies: Vec<f64> =
        scores.iter().zip(labels).filter(|(_, l)| **l == 1).map(|(s, _)| *s).collect();
    let normals: Vec<f64> =
        scores.iter().zip(labels).filter(|(_, l)| **l == 0).map(|(s, _)| *s).collect();
    let mut correct = 0.0;
    for a in &anomalies {
        for n in &normals {
            correct += if a > n {
                1.0
            } else if a == n {
                0.5
            } else {
                0.0
            };
        }
    }
    let roc_auc = correct / (anomalies.len() * normals.len()) as f64;

    let pairs = ranked(scores, labels);
    let (mut tp, mut ap_sum) = (0u64, 0.0);
    for (rank, (_, label)) in pairs.iter().enumerate() {
        if *label == 1 {
            tp += 1;
            ap_sum += tp as f64 / (rank + 1) as f64;
        }
    }
    let positives = anomalies.len() as u64;
    let average_precision = ap_sum / positives as f64;
    let precision_at_k = pairs.iter().take(anomalies.len()).filter(|(_, l)| *l == 1).count() as f64
        / positives as f64;

    let mut recall_at_1pct_fpr: f64 = 0.0;
    let (mut tp, mut fp) = (0u64, 0u64);
    for (_, label) in &pairs {
        if *label == 1 {
            tp += 1
        } else {
            fp += 1
        }
        if fp as f64 / normals.len() as f64 <= 0.01 {
            recall_at_1pct_fpr = recall_at_1pct_fpr.max(tp as f64 / positives as f64);
        }
    }

    let flagged = |s: &f64| *s >= threshold;
    let tp = anomalies.iter().filter(|s| flagged(s)).count() as u64;
    let fp = normals.iter().filter(|s| flagged(s)).count() as u64;
    let confusion = Confusion { tp, fp, tn: normals.len() as u64 - fp, fn_: positives - tp };
    let precision = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 0.0 };
    let recall = tp as f64 / positives as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Metrics {
        rows: scores.len() as u64,
        positives,
        roc_auc,
        average_precision,
        precision,
        recall,
        f1,
        precision_at_k,
        recall_at_1pct_fpr,
        confusion,
    }
}

fn write_history(path: &Path, history: &[(u32, f64, f64, f64, f64)]) {
    let float = |pick: fn(&(u32, f64, f64, f64, f64)) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(history.iter().map(pick).collect::<Vec<_>>()))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("epoch", Arc::new(UInt32Array::from(history.iter().map(|h| h.0).collect::<Vec<_>>()))),
        ("train_loss", float(|h| h.1)),
        ("validation_loss", float(|h| h.2)),
        ("validation_ap", float(|h| h.3)),
        ("seconds", float(|h| h.4)),
    ];
    write_batch(path, columns);
}

fn write_scores(path: &Path, labels: &[u8], validation: &[f64], test: &[f64]) {
    let n = labels.len();
    let splits: Vec<&str> =
        std::iter::repeat_n("validation", n).chain(std::iter::repeat_n("test", n)).collect();
    let all_labels: Vec<u8> = labels.iter().chain(labels).copied().collect();
    let scores: Vec<f64> = validation.iter().chain(test).copied().collect();
    write_batch(
        path,
        vec![
            (
                "_row_id",
                Arc::new(UInt64Array::from(
                    (0..2 * n as u64).map(|i| i * 7 + 3).collect::<Vec<_>>(),
                )),
            ),
            ("split", Arc::new(StringArray::from(splits))),
            ("_label", Arc::new(UInt8Array::from(all_labels))),
            ("score", Arc::new(Float64Array::from(scores))),
        ],
    );
}

/// Writes ROC and precision-recall points of both splits, thinned to at most about 200 points
/// per curve as the evaluate stage does.
fn write_curves(path: &Path, labels: &[u8], validation: &[f64], test: &[f64]) {
    let mut rows: Vec<(&str, &str, f64, f64, f64)> = Vec::new();
    for (split, scores) in [("validation", validation), ("test", test)] {
        let pairs = ranked(scores, labels);
        let positives = labels.iter().filter(|l| **l == 1).count() as f64;
        let negatives = labels.len() as f64 - positives;
        let step = (pairs.len() / 200).max(1);
        let (mut tp, mut fp) = (0.0, 0.0);
        rows.push((split, "roc", 0.0, 0.0, f64::INFINITY));
        let mut pr = vec![(split, "pr", 0.0, 1.0, f64::INFINITY)];
        for (i, (score, label)) in pairs.iter().enumerate() {
            if *label == 1 {
                tp += 1.0
            } else {
                fp += 1.0
            }
            if i % step == 0 || i + 1 == pairs.len() {
                rows.push((split, "roc", fp / negatives, tp / positives, *score));
                pr.push((split, "pr", tp / positives, tp / (tp + fp), *score));
            }
        }
        rows.extend(pr);
    }
    write_batch(
        path,
        vec![
            ("split", Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()))),
            ("curve", Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()))),
            ("x", Arc::new(Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()))),
            ("y", Arc::new(Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>()))),
            (
                "threshold",
                Arc::new(Float64Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
            ),
        ],
    );
}

/// Writes named columns as one zstd Parquet file with non-nullable fields.
pub fn write_batch(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), false))
        .collect();
    let arrays = columns.into_iter().map(|(_, array)| array).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    write_parquet(path, &batch).unwrap();
}

/// Checks that every element opened in `html` is closed in order, skipping void elements,
/// self-closing SVG elements, comments and the doctype. Returns the first problem found.
pub fn check_balanced_tags(html: &str) -> Result<(), String> {
    const VOID: [&str; 8] = ["meta", "br", "hr", "img", "input", "link", "col", "wbr"];
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").ok_or("unterminated comment")?;
            rest = &rest[end + 3..];
            continue;
        }
        let end = rest
            .find('>')
            .ok_or_else(|| format!("unterminated tag at `{}`", &rest[..rest.len().min(40)]))?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            match open.pop() {
                Some(expected) if expected == name => {}
                Some(expected) => return Err(format!("`</{name}>` closes `<{expected}>`")),
                None => return Err(format!("`</{name}>` closes nothing")),
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect::<String>()
            .to_ascii_lowercase();
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let close = rest.find("</style>").ok_or("unclosed <style>")?;
            rest = &rest[close + "</style>".len()..];
            continue;
        }
        open.push(name);
    }
    match open.last() {
        Some(name) => Err(format!("`<{name}>` is never closed ({} open)", open.len())),
        None => Ok(()),
    }
}
