//! Error type of the model crate.

use std::path::PathBuf;

/// Result alias of the model crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures while building, running, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Candle operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The model specification is inconsistent.
    #[error("invalid model specification: {0}")]
    InvalidSpec(String),
    /// The rows given to fit a model cannot define it.
    #[error("cannot fit the model: {0}")]
    InvalidData(String),
    /// The requested device is not available.
    #[error("device `{requested}` is not available: {reason}")]
    Device {
        /// The device as written in the configuration.
        requested: String,
        /// The reason it cannot be used and the fix.
        reason: String,
    },
    /// Saved weights could not be read or do not fit the specification.
    #[error("{}: cannot load weights: {reason}", path.display())]
    Weights {
        /// The safetensors file.
        path: PathBuf,
        /// The failure.
        reason: String,
    },
}
