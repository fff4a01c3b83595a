//! The ingested table as preprocess reads it: row ids, labels, and each feature column either
//! as numbers or as category names.
//!
//! Reads `data.parquet` or `test.parquet` of an ingest stage; writes nothing.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt8Array, UInt64Array};
use arrow::datatypes::{DataType, Float64Type};
use common::{LABEL, ROW_ID};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A feature column to read, and whether it is read as categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// Column name in the ingested table.
    pub name: String,
    /// Whether the column's values are category names rather than numbers.
    pub categorical: bool,
}

/// The rows of an ingested table with the feature columns that preprocess uses.
#[derive(Debug, Clone)]
pub struct InputTable {
    /// The Parquet file the table was read from, for messages.
    pub path: PathBuf,
    /// `_row_id` of every row.
    pub row_ids: Vec<u64>,
    /// `_label` of every row: 1 for an anomaly, 0 for a normal row.
    pub labels: Vec<u8>,
    /// The feature columns, in the order they were requested.
    pub columns: Vec<InputColumn>,
}

/// One feature column of an [`InputTable`].
#[derive(Debug, Clone)]
pub struct InputColumn {
    /// Column name.
    pub name: String,
    /// The values, one per row.
    pub values: ColumnValues,
}

/// The values of a feature column.
#[derive(Debug, Clone)]
pub enum ColumnValues {
    /// Numbers, with `None` for a missing value.
    Numbers(Vec<Option<f64>>),
    /// Category names, with nulls for missing values.
    Categories(StringArray),
}

impl InputTable {
    /// Reads the feature columns `features` of the ingested table at `path`.
    pub fn read(path: &Path, features: &[FeatureColumn]) -> Result<InputTable> {
        let batch = common::read_parquet(path)?;
        InputTable::from_batch(&batch, features, path)
    }

    /// Takes the feature columns `features` from a batch read from `path`.
    pub fn from_batch(
        batch: &RecordBatch,
        features: &[FeatureColumn],
        path: &Path,
    ) -> Result<InputTable> {
        let row_ids =
            common::table::typed_column::<UInt64Array>(batch, ROW_ID, "UInt64", path)?.values();
        let labels = common::table::typed_column::<UInt8Array>(batch, LABEL, "UInt8", path)?;
        let mut columns = Vec::with_capacity(features.len());
        for feature in features {
            let values = if feature.categorical {
                ColumnValues::Categories(category_column(batch, &feature.name, path)?)
            } else {
                ColumnValues::Numbers(numeric_column(batch, &feature.name, path)?)
            };
            columns.push(InputColumn { name: feature.name.clone(), values });
        }
        Ok(InputTable {
            path: path.to_path_buf(),
            row_ids: row_ids.to_vec(),
            labels: labels.values().to_vec(),
            columns,
        })
    }

    /// Returns the number of rows.
    pub fn rows(&self) -> usize {
        self.row_ids.len()
    }
}

/// Returns whether a column of this type is text, which is always categorical.
pub(crate) fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// Reads a numeric column as optional f64 values (`None` for nulls).
pub(crate) fn numeric_column(
    batch: &RecordBatch,
    name: &str,
    path: &Path,
) -> Result<Vec<Option<f64>>> {
    let column = column(batch, name, path)?;
    if !column.data_type().is_numeric() {
        return Err(non_numeric(name, column.data_type(), path));
    }
    let numbers = arrow::compute::cast(column, &DataType::Float64)
        .map_err(|_| non_numeric(name, column.data_type(), path))?;
    Ok(numbers.as_primitive::<Float64Type>().iter().collect())
}

/// Reads a column as category names: text as it is, and numbers written by
/// [`number_category`].
fn category_column(batch: &RecordBatch, name: &str, path: &Path) -> Result<StringArray> {
    let column = column(batch, name, path)?;
    if is_text(column.data_type()) {
        let texts = arrow::compute::cast(column, &DataType::Utf8)
            .map_err(|source| common::Error::Arrow { path: path.to_path_buf(), source })?;
        return Ok(texts.as_string::<i32>().clone());
    }
    let numbers = numeric_column(batch, name, path)?;
    Ok(numbers.into_iter().map(|number| number.map(number_category)).collect())
}

/// Writes a number as a category name: Rust's shortest `f64` form, such as `1` or `0.5`, with
/// `-0` written as `0`.
pub(crate) fn number_category(number: f64) -> String {
    if number == 0.0 { "0".to_string() } else { number.to_string() }
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::MissingColumn {
        path: path.to_path_buf(),
        column: name.to_string(),
    })?;
    Ok(column.as_ref())
}

fn non_numeric(name: &str, data_type: &DataType, path: &Path) -> Error {
    Error::NonNumericColumn {
        path: path.to_path_buf(),
        column: name.to_string(),
        data_type: data_type.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_short_category_names() {
        assert_eq!(number_category(1.0), "1");
        assert_eq!(number_category(-0.0), "0");
        assert_eq!(number_category(0.5), "0.5");
        assert_eq!(number_category(-3.0), "-3");
    }
}
