//! Parquet and JSON helpers, and the feature table exchanged by `preprocess`, `train` and
//! `evaluate`.
//!
//! Every Parquet file the pipeline writes is zstd-compressed. A feature table has the columns
//! `_row_id` (UInt64), `_label` (UInt8) and one Float32 column per feature, in a fixed order.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Array, RecordBatch, UInt8Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, LABEL, ROW_ID, Result};

/// Returns the writer properties used for every Parquet file: zstd level 1.
pub fn writer_properties() -> WriterProperties {
    writer_properties_builder().build()
}

/// Returns a builder of [`writer_properties`], for a writer that changes more settings.
pub fn writer_properties_builder() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")))
}

/// Writes one record batch to a new Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    tracing::debug!(path = %path.display(), rows = batch.num_rows(), "writing parquet");
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let parquet_error = |source| Error::Parquet { path: path.to_path_buf(), source };
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(writer_properties()))
        .map_err(parquet_error)?;
    writer.write(batch).map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Ok(())
}

/// Reads a whole Parquet file into one record batch.
pub fn read_parquet(path: &Path) -> Result<RecordBatch> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let parquet_error = |source| Error::Parquet { path: path.to_path_buf(), source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(64 * 1024).build().map_err(parquet_error)?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| Error::Arrow { path: path.to_path_buf(), source })?;
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|source| Error::Arrow { path: path.to_path_buf(), source })
}

/// Writes a value as pretty-printed JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    std::fs::write(path, json).map_err(|e| Error::io(path, e))
}

/// Reads a JSON file into a value.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|source| Error::Json { path: path.to_path_buf(), source })
}

/// Returns the named column downcast to `T`, or an error naming the file and column.
pub fn typed_column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
    expected: &str,
    path: &Path,
) -> Result<&'a T> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::Column {
        path: path.to_path_buf(),
        column: name.to_string(),
        problem: "is missing".to_string(),
    })?;
    column.as_any().downcast_ref::<T>().ok_or_else(|| Error::Column {
        path: path.to_path_buf(),
        column: name.to_string(),
        problem: format!("has type {} where {expected} was expected", column.data_type()),
    })
}

/// A numeric feature matrix with row ids and labels, stored row-major as `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// Feature names in column order.
    pub features: Vec<String>,
    /// Row ids from the ingested table.
    pub row_ids: Vec<u64>,
    /// Labels: 1 for an anomaly, 0 for a normal row.
    pub labels: Vec<u8>,
    /// Row-major values, `row_ids.len() * features.len()` of them.
    pub values: Vec<f32>,
}

impl FeatureTable {
    /// Returns the number of rows.
    pub fn rows(&self) -> usize {
        self.row_ids.len()
    }

    /// Returns the number of feature columns.
    pub fn width(&self) -> usize {
        self.features.len()
    }

    /// Returns the values of one row.
    pub fn row(&self, index: usize) -> &[f32] {
        let width = self.width();
        &self.values[index * width..(index + 1) * width]
    }

    /// Returns the number of anomalous rows.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&label| label == 1).count()
    }

    /// Builds the Arrow record batch for this table.
    pub fn to_batch(&self) -> RecordBatch {
        let mut fields = vec![
            Field::new(ROW_ID, DataType::UInt64, false),
            Field::new(LABEL, DataType::UInt8, false),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(self.row_ids.clone())),
            Arc::new(UInt8Array::from(self.labels.clone())),
        ];
        let width = self.width();
        for (j, name) in self.features.iter().enumerate() {
            fields.push(Field::new(name, DataType::Float32, false));
            let column: Float32Array =
                (0..self.rows()).map(|i| self.values[i * width + j]).collect();
            columns.push(Arc::new(column));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .expect("columns are built to match the schema")
    }

    /// Writes the table to a Parquet file.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_parquet(path, &self.to_batch())
    }

    /// Reads a feature table written by [`write`](Self::write).
    pub fn read(path: &Path) -> Result<FeatureTable> {
        let batch = read_parquet(path)?;
        let row_ids =
            typed_column::<UInt64Array>(&batch, ROW_ID, "UInt64", path)?.values().to_vec();
        let labels = typed_column::<UInt8Array>(&batch, LABEL, "UInt8", path)?.values().to_vec();
        let features: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|name| name != ROW_ID && name != LABEL)
            .collect();
        let rows = row_ids.len();
        let width = features.len();
        let mut values = vec![0f32; rows * width];
        for (j, name) in features.iter().enumerate() {
            let column = typed_column::<Float32Array>(&batch, name, "Float32", path)?;
            for (i, value) in column.values().iter().enumerate() {
                values[i * width + j] = *value;
            }
        }
        Ok(FeatureTable { features, row_ids, labels, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_table_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let table = FeatureTable {
            features: vec!["a".into(), "b".into()],
            row_ids: vec![3, 7, 9],
            labels: vec![0, 1, 0],
            values: vec![1.0, 2.0, -3.5, 4.25, f32::MIN_POSITIVE, 6.0],
        };
        table.write(&path).unwrap();
        assert_eq!(FeatureTable::read(&path).unwrap(), table);
    }

    #[test]
    fn missing_column_names_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float32, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Float32Array::from(vec![1.0f32]))]).unwrap();
        write_parquet(&path, &batch).unwrap();
        let error = FeatureTable::read(&path).unwrap_err().to_string();
        assert!(error.contains("t.parquet"), "{error}");
        assert!(error.contains("`_row_id` is missing"), "{error}");
    }
}
