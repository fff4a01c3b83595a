//! Error type of the preprocess stage. Reads and writes no files.

use std::path::PathBuf;

/// Result alias of the preprocess stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures while splitting, fitting or transforming.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the ingested table or writing an output failed.
    #[error(transparent)]
    Artifact(#[from] common::Error),
    /// A configuration value is out of range.
    #[error("invalid preprocess setting `{key}`: {problem}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// The problem and the allowed values.
        problem: String,
    },
    /// A column named in the configuration is not in the table.
    #[error(
        "column `{column}` named in `{key}` is not in the ingested table; available columns: {available}"
    )]
    UnknownColumn {
        /// The setting that names the column.
        key: &'static str,
        /// The missing column.
        column: String,
        /// The columns that exist.
        available: String,
    },
    /// A column that must contain numbers contains something else, or a feature column has a
    /// type that is neither numbers nor text.
    #[error("{}: column `{column}` has type {data_type}, which is neither numbers nor text as features need; add it to `drop` in the preprocess stage", path.display())]
    NonNumericColumn {
        /// The ingested table.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// A table lacks a column that the transform or the training table has.
    #[error("{}: no column `{column}`, which the transform needs; ingest the file with the same columns as the training data", path.display())]
    MissingColumn {
        /// The table read.
        path: PathBuf,
        /// The missing column.
        column: String,
    },
    /// Two output columns would get the same name.
    #[error(
        "the encoding of column `{column}` writes a feature named `{name}`, which another feature already has; rename one of the columns, or drop one"
    )]
    DuplicateFeature {
        /// The repeated output column name.
        name: String,
        /// The input column whose output repeats it.
        column: String,
    },
    /// A table's feature columns differ from those the transform was fitted on.
    #[error("{}: the table's feature columns ({found}) differ from the transform's ({expected}); transform a table with the columns and column types the transform was fitted on", path.display())]
    TransformMismatch {
        /// The table read.
        path: PathBuf,
        /// The transform's input columns.
        expected: String,
        /// The table's feature columns.
        found: String,
    },
    /// Every column was dropped.
    #[error("{}: no feature columns are left after dropping; keep at least one column", path.display())]
    NoFeatures {
        /// The ingested table.
        path: PathBuf,
    },
    /// The label rule marks every row, or no row, as an anomaly.
    #[error(
        "the label rule marks {anomalies} of {rows} rows as anomalies; a detector needs both classes: check `label.anomaly` and `label.normal` in the ingest stage against the label values in its summary.json"
    )]
    OneClass {
        /// Anomalous rows.
        anomalies: usize,
        /// All rows.
        rows: usize,
    },
    /// A feature column has a distinct value in every row, like a row identifier.
    #[error(
        "column `{column}` has a distinct value in each of its {rows} rows, like a row identifier, which lets a model memorise rows instead of learning; add it to `drop`, or to `keep_distinct` if it really is a feature"
    )]
    IdLikeColumn {
        /// The column.
        column: String,
        /// Rows in the table.
        rows: usize,
    },
    /// A split lacks one of the two classes, so its metrics are undefined.
    #[error(
        "the {split} split has {anomalies} anomalies and {normal} normal rows; every split needs both classes: use more data, change the split fractions, or use a stratified split"
    )]
    MissingClass {
        /// The split.
        split: &'static str,
        /// Anomalous rows in it.
        anomalies: usize,
        /// Normal rows in it.
        normal: usize,
    },
    /// A value cannot be transformed into a finite float32.
    #[error(
        "column `{column}`, row {row_id} (0-based `_row_id`, counting data rows only): {problem}"
    )]
    InvalidValue {
        /// The column.
        column: String,
        /// The row's `_row_id`.
        row_id: u64,
        /// The problem and the fix.
        problem: String,
    },
    /// The training split has no usable value in a column.
    #[error(
        "column `{column}` has no values in the training split, so nothing can be fitted; add it to `drop`"
    )]
    EmptyColumn {
        /// The column.
        column: String,
    },
}
