//! The preprocess stage: splits an ingested table and fits a transform on its training split.
//!
//! Reads `data.parquet`, and `test.parquet` when there is one, from an ingest stage. Writes
//! `train.parquet`, `validation.parquet` and `test.parquet` (feature tables of Float32
//! columns), `transform.json` (the fitted [`Transform`]) and `preprocess.json` (a
//! [`common::PreprocessSummary`]).
//!
//! Without `test.parquet`, the three splits are cut from `data.parquet`. With it, the test
//! split is every row of `test.parquet`, and train and validation are cut from `data.parquet`.
//!
//! Everything fitted (medians, means, standard deviations, the kept categories) comes from
//! the training rows only. Validation and test rows are transformed with those values and
//! never influence them.

mod categorical;
mod config;
mod error;
mod split;
mod table;
mod transform;

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use common::{LABEL, LabelCounts, PreprocessSummary, ROW_ID};

pub use categorical::{MISSING_CATEGORY, OTHER_CATEGORY, OneHotTransform, OrdinalTransform};
pub use config::{DEFAULT_MAX_CATEGORIES, Encoding, PreprocessConfig, Scaling, SplitFractions};
pub use error::{Error, Result};
pub use split::{Splits, TEST_FILE_SUFFIX};
pub use table::{ColumnValues, FeatureColumn, InputColumn, InputTable};
pub use transform::{FeatureTransform, NumericTransform, Transform};

/// Version of the stage implementation; bump it when its outputs change for the same inputs.
pub const VERSION: u32 = 4;

/// File name of the ingested table in an ingest stage's directory.
pub const DATA_FILE: &str = "data.parquet";

/// File name of the ingested test file in an ingest stage's directory, present only when the
/// ingest stage read a separate test file.
pub const TEST_DATA_FILE: &str = "test.parquet";

/// Splits the ingested table in `ingest_dir`, fits the transform on the training split and
/// writes the three feature tables, `transform.json` and `preprocess.json` into `out_dir`.
pub fn run(
    config: &PreprocessConfig,
    seed: u64,
    ingest_dir: &Path,
    out_dir: &Path,
) -> Result<PreprocessSummary> {
    config.validate()?;
    let data_path = ingest_dir.join(DATA_FILE);
    let batch = common::read_parquet(&data_path)?;
    let features = select_features(config, &batch, &data_path)?;
    reject_id_like(config, &batch, &features, &data_path)?;
    let data = InputTable::from_batch(&batch, &features, &data_path)?;
    let test_path = ingest_dir.join(TEST_DATA_FILE);
    let test = match test_path.exists() {
        true => Some(InputTable::read(&test_path, &features)?),
        false => None,
    };

    // With `deduplicate`, only the first of each group of identical rows is split.
    let kept: Option<Vec<usize>> = match config.deduplicate {
        true => Some(first_occurrences(&batch, &features, &data_path)?),
        false => None,
    };
    let splits = split_rows(config, seed, &batch, &data, test.as_ref(), kept.as_deref())?;
    let test_table = test.as_ref().unwrap_or(&data);
    splits.check_classes(&data.labels, &test_table.labels)?;

    let transform = Transform::fit(config, &data, &splits.train)?;

    let mut summary = PreprocessSummary {
        features: transform.feature_names(),
        dropped: config.drop.clone(),
        split_method: splits.method.clone(),
        splits: BTreeMap::new(),
        imputed: BTreeMap::new(),
        duplicates_of_training: BTreeMap::new(),
        deduplicated: kept.as_ref().map_or(0, |kept| (data.rows() - kept.len()) as u64),
    };
    let mut training_rows = std::collections::HashSet::new();
    let parts = [
        ("train", &data, &splits.train),
        ("validation", &data, &splits.validation),
        ("test", test_table, &splits.test),
    ];
    for (name, table, rows) in parts {
        let (features, imputed) = transform.apply(table, rows)?;
        features.write(&out_dir.join(format!("{name}.parquet")))?;
        // Equal raw rows transform to equal feature vectors, so comparing the written
        // features finds held-out rows that repeat a training row.
        let row_bits =
            |i: usize| -> Vec<u32> { features.row(i).iter().map(|v| v.to_bits()).collect() };
        if name == "train" {
            training_rows.extend((0..features.rows()).map(row_bits));
        } else {
            let repeated =
                (0..features.rows()).filter(|&i| training_rows.contains(&row_bits(i))).count();
            summary.duplicates_of_training.insert(name.to_string(), repeated as u64);
        }
        let positives = features.positives() as u64;
        let counts = LabelCounts { normal: features.rows() as u64 - positives, anomaly: positives };
        summary.splits.insert(name.to_string(), counts);
        summary.imputed.insert(name.to_string(), imputed);
    }

    common::write_json(&out_dir.join("transform.json"), &transform)?;
    common::write_json(&out_dir.join("preprocess.json"), &summary)?;
    Ok(summary)
}

/// Splits the rows: all three splits from `data`, or train and validation from `data` and the
/// test split from `test`.
fn split_rows(
    config: &PreprocessConfig,
    seed: u64,
    batch: &RecordBatch,
    data: &InputTable,
    test: Option<&InputTable>,
    kept: Option<&[usize]>,
) -> Result<Splits> {
    let fractions = match test {
        Some(_) => {
            if config.split.test > 0.0 {
                tracing::warn!(
                    test_fraction = config.split.test,
                    "the ingest stage has a test file, so `split.test` is ignored and the main \
                     file is split into train and validation only"
                );
            }
            Splits::train_validation_fractions(&config.split)
        }
        None if config.split.test == 0.0 => {
            return Err(Error::InvalidConfig {
                key: "split",
                problem: "the test fraction is 0, which leaves no test rows; set a test \
                          fraction, or give the ingest stage a `test` file"
                    .into(),
            });
        }
        None => config.split,
    };
    let all: Vec<usize>;
    let kept = match kept {
        Some(kept) => kept,
        None => {
            all = (0..data.rows()).collect();
            &all
        }
    };
    let splits = match &config.time_column {
        Some(column) => {
            let times = table::numeric_column(batch, column, &data.path)?;
            let times: Vec<Option<f64>> = kept.iter().map(|&i| times[i]).collect();
            Splits::by_time(&times, &fractions, column)?
        }
        None => {
            let labels: Vec<u8> = kept.iter().map(|&i| data.labels[i]).collect();
            Splits::random(&labels, &fractions, config.stratify, seed)
        }
    };
    let splits = splits.of_subset(kept);
    Ok(match test {
        Some(test) => splits.with_test_file(test.rows()),
        None => splits,
    })
}

/// Rejects a feature column that has a distinct integer or text value in every row.
fn reject_id_like(
    config: &PreprocessConfig,
    batch: &RecordBatch,
    features: &[FeatureColumn],
    path: &Path,
) -> Result<()> {
    let rows = batch.num_rows();
    if rows < config::ID_LIKE_MIN_ROWS {
        return Ok(());
    }
    for feature in features.iter().filter(|f| !config.keep_distinct.contains(&f.name)) {
        let column = batch.column_by_name(&feature.name).expect("selected columns exist");
        let distinct = if column.data_type().is_numeric() {
            let values = table::numeric_column(batch, &feature.name, path)?;
            let mut seen = std::collections::HashSet::with_capacity(rows);
            values.iter().all(|v| v.is_some_and(|v| v.fract() == 0.0 && seen.insert(v.to_bits())))
        } else if let Some(text) = column.as_any().downcast_ref::<arrow::array::StringArray>() {
            let mut seen = std::collections::HashSet::with_capacity(rows);
            text.iter().all(|v| v.is_some_and(|v| seen.insert(v)))
        } else {
            false
        };
        if distinct {
            return Err(Error::IdLikeColumn { column: feature.name.clone(), rows });
        }
    }
    Ok(())
}

/// Returns the positions of the rows that do not repeat an earlier row in every feature
/// column and the label.
fn first_occurrences(
    batch: &RecordBatch,
    features: &[FeatureColumn],
    path: &Path,
) -> Result<Vec<usize>> {
    let mut columns = Vec::with_capacity(features.len() + 1);
    for name in features.iter().map(|f| f.name.as_str()).chain([LABEL]) {
        let column = batch.column_by_name(name).expect("selected columns exist");
        columns.push(column.clone());
    }
    let fields =
        columns.iter().map(|c| arrow::row::SortField::new(c.data_type().clone())).collect();
    let arrow_error = |source| common::Error::Arrow { path: path.to_path_buf(), source };
    let converter = arrow::row::RowConverter::new(fields).map_err(arrow_error)?;
    let rows = converter.convert_columns(&columns).map_err(arrow_error)?;
    let mut seen = std::collections::HashSet::new();
    Ok((0..rows.num_rows()).filter(|&i| seen.insert(rows.row(i).as_ref().to_vec())).collect())
}

/// Returns the feature columns in table order: every column but the reserved ones and the
/// dropped ones. Text columns and the columns listed in `categorical` are categorical.
fn select_features(
    config: &PreprocessConfig,
    batch: &RecordBatch,
    path: &Path,
) -> Result<Vec<FeatureColumn>> {
    let schema = batch.schema();
    let available: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| *name != ROW_ID && *name != LABEL)
        .collect();
    let keys =
        [("drop", &config.drop), ("log1p", &config.log1p), ("categorical", &config.categorical)];
    for (key, names) in keys {
        for name in names {
            if !available.contains(&name.as_str()) {
                return Err(Error::UnknownColumn {
                    key,
                    column: name.clone(),
                    available: available.join(", "),
                });
            }
        }
    }
    if let Some(column) = &config.time_column
        && !available.contains(&column.as_str())
    {
        return Err(Error::UnknownColumn {
            key: "time_column",
            column: column.clone(),
            available: available.join(", "),
        });
    }

    let mut features = Vec::new();
    for field in schema.fields() {
        let name = field.name();
        if name == ROW_ID || name == LABEL || config.drop.contains(name) {
            continue;
        }
        let categorical = if table::is_text(field.data_type()) {
            if config.log1p.contains(name) {
                return Err(Error::InvalidConfig {
                    key: "log1p",
                    problem: format!(
                        "column `{name}` holds text, which is encoded as categories; remove it \
                         from `log1p`"
                    ),
                });
            }
            true
        } else if field.data_type().is_numeric() {
            config.categorical.contains(name)
        } else {
            return Err(Error::NonNumericColumn {
                path: path.to_path_buf(),
                column: name.clone(),
                data_type: field.data_type().to_string(),
            });
        };
        features.push(FeatureColumn { name: name.clone(), categorical });
    }
    if features.is_empty() {
        return Err(Error::NoFeatures { path: path.to_path_buf() });
    }
    Ok(features)
}
