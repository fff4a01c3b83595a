//! Error type for the artifact helpers.

use std::path::PathBuf;

/// Result alias used across the artifact helpers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures while reading or writing stage artifacts.
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
    /// A Parquet file could not be read or written.
    #[error("{}: invalid Parquet: {source}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying failure.
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed while building or reading a table.
    #[error("{}: {source}", path.display())]
    Arrow {
        /// The file being built or read.
        path: PathBuf,
        /// The underlying failure.
        source: arrow::error::ArrowError,
    },
    /// A JSON sidecar could not be parsed or written.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The underlying failure.
        source: serde_json::Error,
    },
    /// A stage directory is missing its manifest or does not match it.
    #[error("{}: incomplete or corrupted stage output: {reason}; delete the directory and run the stage again", path.display())]
    Corrupt {
        /// The stage directory.
        path: PathBuf,
        /// The mismatch found.
        reason: String,
    },
    /// A table lacks a column that the contract requires, or has it with the wrong type.
    #[error("{}: column `{column}` {problem}", path.display())]
    Column {
        /// The Parquet file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The problem with it.
        problem: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
