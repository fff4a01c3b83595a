//! Reading a Parquet input, one record batch at a time.
//!
//! Column types come from the file: integer and boolean columns are `int`, floating-point and
//! decimal columns `float`, and text columns `string`. A declaration in `types` converts a
//! column: a number to text, a float to `int` (every value must be whole), or text to a number
//! by parsing each value, where the `missing` spellings mark nulls. Floating-point NaN values
//! become nulls. The label column may be text or numeric. A numeric label is compared as a
//! number and counted under its shortest decimal spelling, such as `1` for `1.0`.
//!
//! Reads the input file; writes `data.parquet` through the [`TableWriter`].

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use common::{Progress, Unit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::{ColumnKind, IngestConfig};
use crate::csv_input::{MissingValues, parse_number, parse_whole};
use crate::error::Location;
use crate::label::LabelMatcher;
use crate::table::{
    BATCH_ROWS, Ingested, Layout, TableWriter, TrainingFile, check_columns, compare_columns,
};
use crate::{Error, Result};

/// Reads a Parquet file into `data_path`.
///
/// A test file is read with `training` set: its columns must have the training file's names,
/// and each column is converted to the training file's kind instead of its stored type's.
pub(crate) fn read(
    path: &Path,
    config: &IngestConfig,
    data_path: &Path,
    training: Option<TrainingFile<'_>>,
    progress: &dyn Progress,
) -> Result<Ingested> {
    let parquet_error = |source| Error::Parquet { path: path.to_path_buf(), source };
    let arrow_error = |source| Error::Arrow { path: path.to_path_buf(), source };

    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let schema = builder.schema().clone();

    let names: Vec<String> = schema.fields().iter().map(|field| field.name().clone()).collect();
    if let Some(declared) = &config.columns {
        compare_columns(path, declared, &names)?;
    }
    if let Some(training) = training {
        training.check_names(path, &names)?;
    }
    let label = check_columns(path, &names, config)?;
    let mut stored = Vec::with_capacity(names.len());
    for field in schema.fields() {
        let kind = stored_kind(field.data_type()).ok_or_else(|| Error::Unsupported {
            path: path.to_path_buf(),
            message: format!(
                "column `{}` has type {}, which ingest does not read; convert it to a number or \
                 text column",
                field.name(),
                field.data_type()
            ),
        })?;
        stored.push(kind);
    }
    let kinds: Vec<ColumnKind> = match training {
        Some(training) => training.layout.kinds.clone(),
        None => names
            .iter()
            .zip(&stored)
            .map(|(name, kind)| config.types.get(name).copied().unwrap_or(*kind))
            .collect(),
    };
    if total_rows == 0 {
        return Err(Error::Empty { path: path.to_path_buf(), problem: "the file has no rows" });
    }

    let layout = Layout { names, kinds, label };
    let features = layout.features();
    let mut writer = TableWriter::create(data_path, &features)?;
    let mut labels = LabelMatcher::new(&config.label);
    let missing = MissingValues::new(&config.missing);
    let file_name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    let mut task = progress.task(&format!("read {file_name}"), Some(total_rows), Unit::Rows);

    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(parquet_error)?;
    let mut first_row = 0u64;
    for batch in reader {
        let batch = batch.map_err(arrow_error)?;
        let column = |position: usize| ColumnInput {
            path,
            name: &layout.names[position],
            values: batch.column(position),
            first_row,
            missing: &missing,
            training: training
                .filter(|_| !config.types.contains_key(&layout.names[position]))
                .map(|training| training.path),
        };
        let label_ids = column(layout.label).label_ids(&mut labels)?;
        let mut values = Vec::with_capacity(features.len());
        for position in (0..layout.names.len()).filter(|&position| position != layout.label) {
            values.push(column(position).convert(stored[position], layout.kinds[position])?);
        }
        writer.write(values, &label_ids, &labels)?;
        first_row += batch.num_rows() as u64;
        task.set(first_row, "");
    }
    task.finish(&format!("{first_row} rows"));
    writer.finish(layout, &labels)
}

/// Returns the kind of a stored Arrow type, or `None` for types ingest does not read.
fn stored_kind(data_type: &DataType) -> Option<ColumnKind> {
    match data_type {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Some(ColumnKind::Int),
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Some(ColumnKind::Float),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(ColumnKind::String),
        DataType::Dictionary(_, values) => stored_kind(values),
        _ => None,
    }
}

/// One column of one record batch.
struct ColumnInput<'a> {
    path: &'a Path,
    name: &'a str,
    values: &'a ArrayRef,
    /// The 0-based position of the batch's first row in the file.
    first_row: u64,
    missing: &'a MissingValues,
    /// The training file, when this is a test file and the column's kind comes from the
    /// training file rather than from `types`.
    training: Option<&'a Path>,
}

impl ColumnInput<'_> {
    fn location(&self, index: usize) -> Location {
        Location::Row(self.first_row + index as u64 + 1)
    }

    fn cast(&self, data_type: &DataType) -> Result<ArrayRef> {
        cast(self.values, data_type)
            .map_err(|source| Error::Arrow { path: self.path.to_path_buf(), source })
    }

    /// Converts the column to Float64 (NaN as null) or Utf8, as `kind` requires.
    fn convert(&self, stored: ColumnKind, kind: ColumnKind) -> Result<ArrayRef> {
        match (stored.is_numeric(), kind) {
            (_, ColumnKind::String) => self.cast(&DataType::Utf8),
            (true, kind) => {
                let numbers = self.cast(&DataType::Float64)?;
                let numbers = numbers.as_primitive::<Float64Type>();
                let mut values = Vec::with_capacity(numbers.len());
                for (index, value) in numbers.iter().enumerate() {
                    let value = value.filter(|value| !value.is_nan());
                    if let Some(number) = value
                        && kind == ColumnKind::Int
                        && number.fract() != 0.0
                    {
                        return Err(self.invalid(index, number.to_string(), "a whole number"));
                    }
                    values.push(value);
                }
                Ok(Arc::new(Float64Array::from(values)))
            }
            (false, kind) => {
                let texts = self.cast(&DataType::Utf8)?;
                let texts = texts.as_string::<i32>();
                let mut values = Vec::with_capacity(texts.len());
                for (index, text) in texts.iter().enumerate() {
                    let text = text.map(str::trim).filter(|text| !self.missing.contains(text));
                    let Some(text) = text else {
                        values.push(None);
                        continue;
                    };
                    let (number, expected) = match kind {
                        ColumnKind::Int => (parse_whole(text), "a whole number"),
                        _ => (parse_number(text), "a number"),
                    };
                    let number =
                        number.ok_or_else(|| self.invalid(index, text.to_string(), expected))?;
                    values.push(Some(number));
                }
                Ok(Arc::new(Float64Array::from(values)))
            }
        }
    }

    /// Classifies every label value of the column.
    fn label_ids(&self, labels: &mut LabelMatcher) -> Result<Vec<u32>> {
        let texts: StringArray = match self.values.data_type() {
            data_type if stored_kind(data_type).is_some_and(ColumnKind::is_numeric) => {
                let numbers = self.cast(&DataType::Float64)?;
                numbers
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|value| {
                        value.filter(|value| !value.is_nan()).map(|value| value.to_string())
                    })
                    .collect()
            }
            _ => self.cast(&DataType::Utf8)?.as_string::<i32>().clone(),
        };

        let mut ids = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let text = text.map(str::trim);
            let missing = match text {
                None => Some("null"),
                Some(text) if self.missing.contains(text) => Some(text),
                Some(_) => None,
            };
            if let Some(value) = missing {
                return Err(Error::MissingLabel {
                    path: self.path.to_path_buf(),
                    location: self.location(index),
                    column: self.name.to_string(),
                    value: value.to_string(),
                });
            }
            let text = text.unwrap_or_default();
            let id = labels
                .classify(text)
                .ok_or_else(|| labels.unknown_label(self.path, self.location(index), text))?;
            ids.push(id);
        }
        Ok(ids)
    }

    fn invalid(&self, index: usize, value: String, expected: &'static str) -> Error {
        let (path, location, column) =
            (self.path.to_path_buf(), self.location(index), self.name.to_string());
        match self.training {
            Some(training) => Error::TestValue {
                path: path.into(),
                location,
                column,
                value,
                expected,
                training: training.into(),
            },
            None => Error::InvalidValue { path, location, column, value, expected },
        }
    }
}
