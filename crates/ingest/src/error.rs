//! The error type of the ingest stage.
//!
//! Every variant names the file and, where one applies, the line or row, the column and the
//! value that failed, and its message ends with what to do about it. Reads and writes no
//! files.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::LabelRule;

/// Result alias of the ingest crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The position of a value in an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a text file. For a record that spans lines, the line it starts on.
    Line(u64),
    /// A 1-based data row of a Parquet file.
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Row(row) => write!(f, "row {row}"),
        }
    }
}

/// Failures of the registry lookup, the download, the checksum check or the reading of a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },

    /// The registry file is not valid TOML or does not follow the registry format.
    #[error("invalid dataset registry {}: {message}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// The problem, naming the key.
        message: String,
    },

    /// The configuration names a dataset that the registry does not list.
    #[error(
        "dataset `{name}` is not in the registry {}; registered datasets: {}; add a \
         `[datasets.{name}]` table to the registry, or set `path` to read a file of your own",
        registry.display(),
        known.join(", ")
    )]
    UnknownDataset {
        /// The requested name.
        name: String,
        /// The registry file.
        registry: PathBuf,
        /// The names the registry lists.
        known: Vec<String>,
    },

    /// The ingest configuration is inconsistent.
    #[error("invalid ingest configuration: {0}")]
    Config(String),

    /// A registered dataset is missing from the data directory and has no download URL.
    #[error(
        "dataset `{dataset}` not found at {} and the registry has no download URL for it; \
         place the file there, or pass --data-dir DIR pointing at a folder that holds {}",
        path.display(),
        file.display()
    )]
    DatasetMissing {
        /// The registry name.
        dataset: String,
        /// The expected location of the file.
        path: PathBuf,
        /// The file's path relative to the data directory.
        file: PathBuf,
    },

    /// A file given by `path` or `test.path` does not exist.
    #[error("input file {} not found; check `{setting}` in the ingest configuration", path.display())]
    FileMissing {
        /// The path as configured.
        path: PathBuf,
        /// The configuration key that gives the path: `path` or `test.path`.
        setting: &'static str,
    },

    /// Downloading a missing dataset failed.
    #[error(
        "dataset `{dataset}` not found at {} and the download from {url} failed: {reason}; \
         download it yourself and place it there, or pass --data-dir DIR pointing at a folder \
         that holds {}",
        path.display(),
        file.display()
    )]
    Download {
        /// The registry name.
        dataset: String,
        /// The final location of the file.
        path: PathBuf,
        /// The file's path relative to the data directory.
        file: PathBuf,
        /// The URL that was tried.
        url: String,
        /// The cause of the failure.
        reason: String,
    },

    /// A file's size differs from the registered size.
    #[error("{} is {actual} bytes but {expected} bytes were expected; {fix}", path.display())]
    SizeMismatch {
        /// The file checked.
        path: PathBuf,
        /// The registered size.
        expected: u64,
        /// The size found.
        actual: u64,
        /// The fix to apply.
        fix: String,
    },

    /// A file's sha256 differs from the registered or configured checksum.
    #[error("{} has sha256 {actual} but {expected} was expected; {fix}", path.display())]
    ChecksumMismatch {
        /// The file checked.
        path: PathBuf,
        /// The registered or configured sha256.
        expected: String,
        /// The sha256 computed from the file.
        actual: String,
        /// The fix to apply.
        fix: String,
    },

    /// A CSV file is malformed at a line: a ragged row, invalid UTF-8 or a broken quote.
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        /// The input file.
        path: PathBuf,
        /// The 1-based line the record starts on.
        line: u64,
        /// The problem and its fix.
        message: String,
    },

    /// A value does not fit the declared or inferred type of its column.
    #[error(
        "{}: {location}, column `{column}`: value `{value}` is not {expected}; declare the \
         column as string in `types`, or add the spelling to `missing`",
        path.display()
    )]
    InvalidValue {
        /// The input file.
        path: PathBuf,
        /// The line or row of the value.
        location: Location,
        /// The column name.
        column: String,
        /// The value as written in the file.
        value: String,
        /// The required kind of value, such as `a number`.
        expected: &'static str,
    },

    /// A value of the test file does not fit the type that the training file gives its column.
    #[error(
        "{}: {location}, column `{column}`: value `{value}` is not {expected}, which the column \
         must be because of its values in the training file {}; declare the column's type in \
         `types` so that both files are read alike, or add the spelling to `missing`",
        path.display(),
        training.display()
    )]
    TestValue {
        /// The test file. Boxed, like `training`, to keep [`Error`] small.
        path: Box<Path>,
        /// The line or row of the value.
        location: Location,
        /// The column name.
        column: String,
        /// The value as written in the file.
        value: String,
        /// The required kind of value, such as `a number`.
        expected: &'static str,
        /// The training file, whose values decided the column's type.
        training: Box<Path>,
    },

    /// A label value matches neither `label.anomaly` nor `label.normal`.
    #[error(
        "{}: {location}: label `{value}` in column `{}` is neither an anomaly value ({}) nor a \
         normal value ({}); add it to `label.anomaly` or `label.normal`, or remove \
         `label.normal` to treat every other value as normal",
        path.display(),
        rule.column,
        rule.anomaly.join(", "),
        rule.normal.as_deref().unwrap_or_default().join(", ")
    )]
    UnknownLabel {
        /// The input file.
        path: PathBuf,
        /// The line or row of the value.
        location: Location,
        /// The label value, trimmed.
        value: String,
        /// The configured label rule.
        rule: Box<LabelRule>,
    },

    /// A row has no value in the label column.
    #[error(
        "{}: {location}: the label column `{column}` has the missing value {value:?}; every \
         row needs a label, so fill it in or remove the row",
        path.display()
    )]
    MissingLabel {
        /// The input file.
        path: PathBuf,
        /// The line or row.
        location: Location,
        /// The label column.
        column: String,
        /// The value as written, one of the `missing` spellings.
        value: String,
    },

    /// The configuration names a column that the file does not have.
    #[error(
        "{}: no column `{column}` (named in {setting}); available columns: {}{hint}",
        path.display(),
        available.join(", ")
    )]
    MissingColumn {
        /// The input file.
        path: PathBuf,
        /// The column that was looked for.
        column: String,
        /// The configuration key that names it, such as `label.column`.
        setting: &'static str,
        /// The columns the file has.
        available: Vec<String>,
        /// A suggestion, such as another delimiter, or nothing.
        hint: String,
    },

    /// The file's header differs from the declared `columns`.
    #[error(
        "{}: the file's columns differ from `columns` at column {position}: the file has \
         {found} where `columns` has {declared}; make `columns` match the file, or remove \
         `columns` to use the file's own names",
        path.display()
    )]
    HeaderMismatch {
        /// The input file.
        path: PathBuf,
        /// The 1-based position of the first difference.
        position: usize,
        /// The declared name in backticks, or `no column` past the end of the list.
        declared: String,
        /// The file's name in backticks, or `no column` past the end of the file's columns.
        found: String,
    },

    /// The test file's columns differ from the training file's.
    #[error(
        "{}: the test file's columns differ from the training file's at column {position}: the \
         test file has {found} where the training file {} has {expected}; both files need the \
         same columns in the same order",
        path.display(),
        training.display()
    )]
    TestColumnsMismatch {
        /// The test file.
        path: PathBuf,
        /// The training file.
        training: PathBuf,
        /// The 1-based position of the first difference.
        position: usize,
        /// The training file's name in backticks, or `no column` past its last column.
        expected: String,
        /// The test file's name in backticks, or `no column` past its last column.
        found: String,
    },

    /// The column names cannot be used: empty, repeated or reserved.
    #[error("{}: {message}", path.display())]
    InvalidColumns {
        /// The input file.
        path: PathBuf,
        /// The wrong name and its fix.
        message: String,
    },

    /// The file contains no data rows.
    #[error(
        "{}: {problem}; ingest needs at least one data row, after a header line unless \
         `header = false`",
        path.display()
    )]
    Empty {
        /// The input file.
        path: PathBuf,
        /// `the file is empty` or `the file has a header but no data rows`.
        problem: &'static str,
    },

    /// The file's format, compression or a column type is not supported.
    #[error("{}: {message}", path.display())]
    Unsupported {
        /// The input file.
        path: PathBuf,
        /// The unsupported feature and the alternative.
        message: String,
    },

    /// A Parquet input could not be read.
    #[error("{}: invalid Parquet: {source}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying failure.
        source: parquet::errors::ParquetError,
    },

    /// An Arrow conversion of a Parquet input failed.
    #[error("{}: {source}", path.display())]
    Arrow {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying failure.
        source: arrow::error::ArrowError,
    },

    /// Writing `data.parquet` or `summary.json` failed.
    #[error(transparent)]
    Artifact(#[from] common::Error),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
