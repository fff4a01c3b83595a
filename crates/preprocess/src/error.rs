//! Error type of the preprocess stage.

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
        /// What is wrong and what is allowed.
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
    /// A text column would be used as a feature.
    #[error("{}: column `{column}` has type {data_type}, but features must be numeric; add it to `drop` in the preprocess stage", path.display())]
    NonNumericColumn {
        /// The ingested table.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// Every column was dropped.
    #[error("{}: no feature columns are left after dropping; keep at least one column", path.display())]
    NoFeatures {
        /// The ingested table.
        path: PathBuf,
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
    #[error("column `{column}`, row {row_id}: {problem}")]
    InvalidValue {
        /// The column.
        column: String,
        /// The row's `_row_id`.
        row_id: u64,
        /// What is wrong and what to do.
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
