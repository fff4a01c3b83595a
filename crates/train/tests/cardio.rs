//! Trains every kind of detector on the ODDS cardio data (1,831 rows, 21 standardised
//! features, 176 outliers) through `train::run`, scores it through `evaluate::run`, which
//! reloads the saved model, and checks that the test ROC-AUC is clearly better than chance.
//!
//! The data is read from the shared data folder beside the repository. When it is missing,
//! the test fails if `CI=true` and otherwise prints a note and passes.

use std::path::{Path, PathBuf};

use candle_core::Device;
use common::{FeatureTable, NoProgress};
use evaluate::EvaluateConfig;
use train::TrainConfig;

/// The shared data folder.
const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

/// Lowest test ROC-AUC accepted; chance is 0.5.
const MIN_ROC_AUC: f64 = 0.8;

/// One trial: a name and the train stage's parameters.
const TRIALS: [(&str, &str); 9] = [
    ("mlp", "model = \"mlp\""),
    ("mlp focal", "model = \"mlp\"\nloss = \"focal\"\nfocal_alpha = 0.25"),
    ("autoencoder", "model = \"autoencoder\""),
    ("vae", "model = \"vae\""),
    ("vae elbo", "model = \"vae\"\nscore = \"elbo\""),
    ("deep_svdd", "model = \"deep_svdd\""),
    ("isolation_forest", "model = \"isolation_forest\""),
    ("pca", "model = \"pca\""),
    ("pca standardized", "model = \"pca\"\nstandardize = true"),
];

/// Returns the path of cardio.csv, or `None` (after a note) when it is missing outside CI.
fn cardio_path() -> Option<PathBuf> {
    let path = Path::new(DATA_DIR).join("odds/cardio.csv");
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing; CI needs the shared data folder", path.display());
    }
    eprintln!("note: {} is missing, so the cardio check is skipped", path.display());
    None
}

/// Reads cardio.csv (`x0..x20`, then the label `y`) and splits it by row number: rows with
/// `i % 5 == 3` validate, `i % 5 == 4` test, the rest train. The outliers are the last rows of
/// the file, so each split gets about a fifth of them.
fn write_splits(path: &Path, dir: &Path) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let features: Vec<String> =
        headers.iter().take(headers.len() - 1).map(str::to_string).collect();
    assert_eq!(headers.get(headers.len() - 1), Some("y"));
    let empty = || FeatureTable {
        features: features.clone(),
        row_ids: Vec::new(),
        labels: Vec::new(),
        values: Vec::new(),
    };
    let mut splits = [empty(), empty(), empty()];
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let split = match i % 5 {
            3 => 1,
            4 => 2,
            _ => 0,
        };
        let table = &mut splits[split];
        table.row_ids.push(i as u64);
        let label: f64 = record[features.len()].parse().unwrap();
        table.labels.push(u8::from(label == 1.0));
        for value in record.iter().take(features.len()) {
            table.values.push(value.parse::<f32>().unwrap());
        }
    }
    for (table, name) in splits.iter().zip(["train", "validation", "test"]) {
        table.write(&dir.join(format!("{name}.parquet"))).unwrap();
    }
}

/// Trains one trial into `out` and returns its test ROC-AUC.
fn train_and_evaluate(config: &TrainConfig, splits: &Path, out: &Path) -> f64 {
    let model_dir = out.join("train");
    let evaluate_dir = out.join("evaluate");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::fs::create_dir_all(&evaluate_dir).unwrap();
    train::run(config, 42, &Device::Cpu, splits, &model_dir, "cardio", &NoProgress).unwrap();
    let evaluation =
        evaluate::run(&EvaluateConfig::default(), &model_dir, splits, &evaluate_dir, &Device::Cpu)
            .unwrap();
    evaluation.test.roc_auc
}

#[test]
fn every_detector_beats_chance_on_cardio() {
    let Some(path) = cardio_path() else { return };
    let dir = tempfile::tempdir().unwrap();
    let splits = dir.path().join("splits");
    std::fs::create_dir_all(&splits).unwrap();
    write_splits(&path, &splits);

    let mut failures = Vec::new();
    for (name, text) in TRIALS {
        let config: TrainConfig = toml::from_str(text).unwrap();
        let out = dir.path().join(name.replace(' ', "-"));
        let roc_auc = train_and_evaluate(&config, &splits, &out);
        eprintln!("cardio test ROC-AUC of {name}: {roc_auc:.4}");
        if roc_auc <= MIN_ROC_AUC {
            failures.push(format!("{name}: {roc_auc:.4}"));
        }

        // The same seed must give the same saved model, byte for byte.
        let again = dir.path().join(format!("{}-again", name.replace(' ', "-")));
        assert_eq!(train_and_evaluate(&config, &splits, &again), roc_auc, "{name}");
        let weights = |dir: &Path| std::fs::read(dir.join("train/model.safetensors")).unwrap();
        assert!(weights(&out) == weights(&again), "{name}: weights differ between runs");
    }
    assert!(failures.is_empty(), "ROC-AUC at most {MIN_ROC_AUC}: {failures:?}");
}

#[test]
fn one_pass_models_have_one_history_row() {
    let Some(path) = cardio_path() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_splits(&path, dir.path());
    for model in ["isolation_forest", "pca"] {
        let config: TrainConfig = toml::from_str(&format!("model = \"{model}\"")).unwrap();
        let out = dir.path().join(model);
        std::fs::create_dir_all(&out).unwrap();
        let summary =
            train::run(&config, 7, &Device::Cpu, dir.path(), &out, model, &NoProgress).unwrap();
        assert_eq!((summary.best_epoch, summary.epochs_run), (1, 1), "{model}");
        assert!(!summary.stopped_early, "{model}");
        assert!(summary.best_validation_ap > 0.0, "{model}");

        let history = common::read_parquet(&out.join("history.parquet")).unwrap();
        assert_eq!(history.num_rows(), 1, "{model}");
        for column in ["train_loss", "validation_loss", "validation_ap"] {
            let values = history
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap();
            assert!(values.value(0).is_finite(), "{model} {column}: {}", values.value(0));
        }
    }
}
