//! The preprocess stage: splits an ingested table and fits a transform on its training split.
//!
//! Reads `data.parquet` from an ingest stage. Writes `train.parquet`, `validation.parquet` and
//! `test.parquet` (feature tables of Float32 columns), `transform.json` (the fitted
//! [`Transform`]) and `preprocess.json` (a [`common::PreprocessSummary`]).
//!
//! Everything fitted (medians, means, standard deviations) comes from the training rows only;
//! validation and test rows are transformed with those values and never influence them.

mod config;
mod error;
mod split;
mod transform;

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, Float64Array, RecordBatch, UInt8Array};
use arrow::datatypes::DataType;
use common::{LABEL, LabelCounts, PreprocessSummary, ROW_ID};

pub use config::{PreprocessConfig, Scaling, SplitFractions};
pub use error::{Error, Result};
pub use split::Splits;
pub use transform::{FeatureTransform, Transform};

/// Version of the stage implementation; bump it when its outputs change for the same inputs.
pub const VERSION: u32 = 1;

/// Splits the ingested table in `ingest_dir`, fits the transform on the training split and
/// writes the three feature tables, `transform.json` and `preprocess.json` into `out_dir`.
pub fn run(
    config: &PreprocessConfig,
    seed: u64,
    ingest_dir: &Path,
    out_dir: &Path,
) -> Result<PreprocessSummary> {
    config.validate()?;
    let data_path = ingest_dir.join("data.parquet");
    let batch = common::read_parquet(&data_path)?;
    let features = select_features(config, &batch, &data_path)?;

    let labels = common::table::typed_column::<UInt8Array>(&batch, LABEL, "UInt8", &data_path)?
        .values()
        .to_vec();
    let splits = match &config.time_column {
        Some(column) => {
            let times = numeric_column(&batch, column, &data_path)?;
            Splits::by_time(&times, &config.split, column)?
        }
        None => Splits::random(&labels, &config.split, config.stratify, seed),
    };
    splits.check_classes(&labels)?;

    let columns: Vec<(String, Vec<Option<f64>>)> = features
        .iter()
        .map(|name| Ok((name.clone(), numeric_column(&batch, name, &data_path)?)))
        .collect::<Result<_>>()?;
    let row_ids = common::table::typed_column::<arrow::array::UInt64Array>(
        &batch, ROW_ID, "UInt64", &data_path,
    )?
    .values()
    .to_vec();
    let transform = Transform::fit(config, &columns, &splits.train, &row_ids)?;

    let mut summary = PreprocessSummary {
        features: transform.feature_names(),
        dropped: config.drop.clone(),
        split_method: splits.method.clone(),
        splits: BTreeMap::new(),
        imputed: BTreeMap::new(),
    };
    for (name, rows) in splits.named() {
        let (table, imputed) = transform.apply(&columns, rows, &row_ids, &labels)?;
        table.write(&out_dir.join(format!("{name}.parquet")))?;
        let positives = table.positives() as u64;
        let counts = LabelCounts { normal: table.rows() as u64 - positives, anomaly: positives };
        summary.splits.insert(name.to_string(), counts);
        summary.imputed.insert(name.to_string(), imputed);
    }

    common::write_json(&out_dir.join("transform.json"), &transform)?;
    common::write_json(&out_dir.join("preprocess.json"), &summary)?;
    Ok(summary)
}

/// Returns the feature columns in table order: every column but the reserved ones and the
/// dropped ones. Text columns that are not dropped are an error.
fn select_features(
    config: &PreprocessConfig,
    batch: &RecordBatch,
    path: &Path,
) -> Result<Vec<String>> {
    let schema = batch.schema();
    let available: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| *name != ROW_ID && *name != LABEL)
        .collect();
    for (key, names) in [("drop", &config.drop), ("log1p", &config.log1p)] {
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
        if !matches!(field.data_type(), DataType::Float64 | DataType::Float32 | DataType::Int64) {
            return Err(Error::NonNumericColumn {
                path: path.to_path_buf(),
                column: name.clone(),
                data_type: field.data_type().to_string(),
            });
        }
        features.push(name.clone());
    }
    if features.is_empty() {
        return Err(Error::NoFeatures { path: path.to_path_buf() });
    }
    Ok(features)
}

/// Reads a numeric column as optional f64 values (None for nulls).
fn numeric_column(batch: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<f64>>> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::UnknownColumn {
        key: "column",
        column: name.to_string(),
        available: String::new(),
    })?;
    let column =
        arrow::compute::cast(column, &DataType::Float64).map_err(|_| Error::NonNumericColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            data_type: column.data_type().to_string(),
        })?;
    let column = column.as_any().downcast_ref::<Float64Array>().expect("cast to Float64");
    Ok(column.iter().collect())
}
