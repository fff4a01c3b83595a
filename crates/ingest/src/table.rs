//! The output table: the checks on column names shared by every input format, and the writer
//! of `data.parquet`, which takes typed feature columns in batches and adds `_row_id` and
//! `_label` while counting nulls per column and duplicate rows.
//!
//! Writes `data.parquet`, zstd-compressed with the writer properties every stage uses.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt8Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use common::{ColumnSummary, LABEL, LabelCounts, ROW_ID};
use parquet::arrow::ArrowWriter;

use crate::config::{ColumnKind, IngestConfig, check_names};
use crate::label::LabelMatcher;
use crate::{Error, Result};

/// Rows parsed and written per batch.
pub(crate) const BATCH_ROWS: usize = 16_384;

/// The figures a reader collects for `summary.json`.
#[derive(Debug)]
pub(crate) struct Ingested {
    /// Every column of the input, the label column included, in file order.
    pub columns: Vec<ColumnSummary>,
    pub rows: u64,
    pub label_counts: LabelCounts,
    pub label_values: std::collections::BTreeMap<String, u64>,
    pub duplicate_rows: u64,
    /// The columns as read, which a test file read after this one must match.
    pub layout: Layout,
}

/// The input's columns in file order, with their kinds and the position of the label column.
#[derive(Debug)]
pub(crate) struct Layout {
    pub names: Vec<String>,
    pub kinds: Vec<ColumnKind>,
    pub label: usize,
}

impl Layout {
    /// Returns the names and kinds of every column except the label column.
    pub(crate) fn features(&self) -> Vec<(String, ColumnKind)> {
        self.names
            .iter()
            .zip(&self.kinds)
            .enumerate()
            .filter(|(position, _)| *position != self.label)
            .map(|(_, (name, kind))| (name.clone(), *kind))
            .collect()
    }
}

/// The training file, whose column names and types a test file must follow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrainingFile<'a> {
    pub path: &'a Path,
    pub layout: &'a Layout,
}

impl TrainingFile<'_> {
    /// Checks that the test file at `path` has the training file's column names, in order.
    pub(crate) fn check_names(&self, path: &Path, names: &[String]) -> Result<()> {
        let expected = &self.layout.names;
        for position in 0..expected.len().max(names.len()) {
            let (training_name, test_name) = (expected.get(position), names.get(position));
            if training_name != test_name {
                return Err(Error::TestColumnsMismatch {
                    path: path.to_path_buf(),
                    training: self.path.to_path_buf(),
                    position: position + 1,
                    expected: quoted(training_name),
                    found: quoted(test_name),
                });
            }
        }
        Ok(())
    }

    /// Returns the kind a column of the test file is read as: the declared type, else the
    /// training file's kind. The label column is read as text unless declared, because only
    /// the label rule applies to it.
    pub(crate) fn kind(&self, config: &IngestConfig, position: usize) -> ColumnKind {
        let name = &self.layout.names[position];
        match config.types.get(name) {
            Some(kind) => *kind,
            None if position == self.layout.label => ColumnKind::String,
            None => self.layout.kinds[position],
        }
    }
}

/// Writes a column name in backticks, or `no column` past the end of a list.
fn quoted(name: Option<&String>) -> String {
    match name {
        Some(name) => format!("`{name}`"),
        None => "no column".to_string(),
    }
}

/// Checks the input's column names against the configuration and returns the position of the
/// label column.
pub(crate) fn check_columns(path: &Path, names: &[String], config: &IngestConfig) -> Result<usize> {
    check_names(names)
        .map_err(|message| Error::InvalidColumns { path: path.to_path_buf(), message })?;
    let missing = |column: &str, setting| Error::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        setting,
        available: names.to_vec(),
        hint: delimiter_hint(names, config.delimiter),
    };
    for column in config.types.keys() {
        if !names.contains(column) {
            return Err(missing(column, "`types`"));
        }
    }
    names
        .iter()
        .position(|name| *name == config.label.column)
        .ok_or_else(|| missing(&config.label.column, "`label.column`"))
}

/// Suggests another delimiter when the whole header was read as one column that contains
/// a common delimiter, as happens when a comma-separated file is read with `delimiter = ";"`.
fn delimiter_hint(names: &[String], delimiter: char) -> String {
    let [only] = names else {
        return String::new();
    };
    [',', ';', '\t', '|']
        .into_iter()
        .filter(|candidate| *candidate != delimiter)
        .find(|candidate| only.contains(*candidate))
        .map(|candidate| {
            let escaped = candidate.escape_default();
            format!(
                "; the header was read as one column that contains `{escaped}`: if the file is \
                 separated by `{escaped}`, set `delimiter = \"{escaped}\"` in the ingest stage"
            )
        })
        .unwrap_or_default()
}

/// Checks that the input's column names equal the declared `columns`.
pub(crate) fn compare_columns(path: &Path, declared: &[String], found: &[String]) -> Result<()> {
    for position in 0..declared.len().max(found.len()) {
        let (expected, actual) = (declared.get(position), found.get(position));
        if expected != actual {
            return Err(Error::HeaderMismatch {
                path: path.to_path_buf(),
                position: position + 1,
                declared: quoted(expected),
                found: quoted(actual),
            });
        }
    }
    Ok(())
}

/// Streams batches of rows into `data.parquet`.
pub(crate) struct TableWriter {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    nulls: Vec<u64>,
    /// The digest of every row written, counted into duplicates when the table is finished.
    row_hashes: Vec<u128>,
    rows: u64,
}

impl TableWriter {
    /// Creates `path` for a table with the given feature columns, in order.
    pub(crate) fn create(path: &Path, features: &[(String, ColumnKind)]) -> Result<Self> {
        let mut fields = vec![
            Field::new(ROW_ID, DataType::UInt64, false),
            Field::new(LABEL, DataType::UInt8, false),
        ];
        for (name, kind) in features {
            let data_type = if kind.is_numeric() { DataType::Float64 } else { DataType::Utf8 };
            fields.push(Field::new(name, data_type, true));
        }
        let schema = Arc::new(Schema::new(fields));

        tracing::debug!(path = %path.display(), "writing parquet");
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        // Row groups of one batch each keep the writer's buffer, and so the memory of a
        // streaming ingest, to one batch instead of the default of about a million rows.
        let properties = common::table::writer_properties_builder()
            .set_max_row_group_row_count(Some(BATCH_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .map_err(|source| parquet_error(path, source))?;
        Ok(TableWriter {
            path: path.to_path_buf(),
            schema,
            writer,
            nulls: vec![0; features.len()],
            row_hashes: Vec::new(),
            rows: 0,
        })
    }

    /// Writes one batch: the feature columns (Float64 or Utf8, as declared in
    /// [`create`](Self::create)) and the label id of each row.
    pub(crate) fn write(
        &mut self,
        features: Vec<ArrayRef>,
        label_ids: &[u32],
        labels: &LabelMatcher,
    ) -> Result<()> {
        let classes = label_ids.iter().map(|&id| labels.class(id)).collect();
        self.write_classes(features, label_ids, classes)
    }

    /// Writes one batch like [`write`](Self::write), with the class (1 = anomaly) of each
    /// row already looked up, so that no [`LabelMatcher`] is needed.
    pub(crate) fn write_classes(
        &mut self,
        features: Vec<ArrayRef>,
        label_ids: &[u32],
        classes: Vec<u8>,
    ) -> Result<()> {
        let rows = label_ids.len();
        if rows == 0 {
            return Ok(());
        }
        for (nulls, column) in self.nulls.iter_mut().zip(&features) {
            *nulls += column.null_count() as u64;
        }
        self.count_duplicates(&features, label_ids);

        let row_ids: UInt64Array = (self.rows..self.rows + rows as u64).collect();
        let label_values = UInt8Array::from(classes);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(row_ids), Arc::new(label_values)];
        columns.extend(features);
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|source| common::Error::Arrow { path: self.path.clone(), source })?;
        self.writer.write(&batch).map_err(|source| parquet_error(&self.path, source))?;
        self.rows += rows as u64;
        Ok(())
    }

    /// Reserves room for the digests of `rows` rows, when the caller knows the row count.
    pub(crate) fn reserve(&mut self, rows: u64) {
        self.row_hashes.reserve_exact(usize::try_from(rows).unwrap_or(0));
    }

    /// Hashes every row (all feature values and the label value) for the duplicate count.
    ///
    /// The digests are kept in a list (16 bytes a row) and sorted once at the end, which
    /// needs about half the memory of a hash set of them.
    ///
    /// The hash is 128 bits of blake3, so two different rows collide with probability about
    /// n² / 2^129 for n rows, which is negligible for any file that fits on a disk.
    fn count_duplicates(&mut self, features: &[ArrayRef], label_ids: &[u32]) {
        enum Values<'a> {
            Number(&'a Float64Array),
            Text(&'a StringArray),
        }
        let columns: Vec<Values> = features
            .iter()
            .map(|column| match column.as_any().downcast_ref::<Float64Array>() {
                Some(numbers) => Values::Number(numbers),
                None => Values::Text(
                    column
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .expect("features are Float64 or Utf8"),
                ),
            })
            .collect();

        // Each row is serialised into one buffer and hashed in one call. This gives the same
        // digest as feeding the pieces to a streaming hasher, with far less overhead per value.
        let mut bytes = Vec::new();
        for (row, label_id) in label_ids.iter().enumerate() {
            bytes.clear();
            for column in &columns {
                match column {
                    Values::Number(numbers) if numbers.is_null(row) => bytes.push(0),
                    Values::Text(texts) if texts.is_null(row) => bytes.push(0),
                    Values::Number(numbers) => {
                        // -0.0 equals 0.0 and every NaN is the same missing-like value.
                        let value = numbers.value(row);
                        let value = if value == 0.0 {
                            0.0
                        } else if value.is_nan() {
                            f64::NAN
                        } else {
                            value
                        };
                        bytes.push(1);
                        bytes.extend_from_slice(&value.to_bits().to_le_bytes());
                    }
                    Values::Text(texts) => {
                        let text = texts.value(row).as_bytes();
                        bytes.push(2);
                        bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
                        bytes.extend_from_slice(text);
                    }
                };
            }
            bytes.extend_from_slice(&label_id.to_le_bytes());
            let digest = blake3::hash(&bytes);
            let hash = u128::from_le_bytes(digest.as_bytes()[..16].try_into().expect("16 bytes"));
            self.row_hashes.push(hash);
        }
    }

    /// Closes the Parquet file and summarises the table.
    pub(crate) fn finish(mut self, layout: Layout, labels: &LabelMatcher) -> Result<Ingested> {
        self.writer.close().map_err(|source| parquet_error(&self.path, source))?;
        // A row is a duplicate when its digest equals an earlier one's.
        self.row_hashes.sort_unstable();
        let distinct = 1 + self.row_hashes.windows(2).filter(|pair| pair[0] != pair[1]).count();
        let duplicate_rows = (self.row_hashes.len() - distinct.min(self.row_hashes.len())) as u64;

        let mut feature_nulls = self.nulls.into_iter();
        let columns = layout
            .names
            .iter()
            .zip(&layout.kinds)
            .enumerate()
            .map(|(position, (name, kind))| ColumnSummary {
                name: name.clone(),
                kind: kind.as_str().to_string(),
                nulls: match position == layout.label {
                    true => 0,
                    false => feature_nulls.next().unwrap_or(0),
                },
            })
            .collect();
        Ok(Ingested {
            columns,
            rows: self.rows,
            label_counts: labels.counts(),
            label_values: labels.value_counts(),
            duplicate_rows,
            layout,
        })
    }
}

fn parquet_error(path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Artifact(common::Error::Parquet { path: path.to_path_buf(), source })
}
