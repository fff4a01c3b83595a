//! Error type of the train stage.

/// Result alias of the train stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures while training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the splits or writing an output failed.
    #[error(transparent)]
    Artifact(#[from] common::Error),
    /// Building, running or saving the model failed.
    #[error(transparent)]
    Model(#[from] model::Error),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A parameter is out of range or does not apply to the model kind.
    #[error("invalid train setting `{key}`: {problem}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// The problem and the fix.
        problem: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged: the loss is {loss} at epoch {epoch}, batch {batch}; lower the learning rate or check the features for extreme values"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: u32,
        /// 1-based batch within the epoch.
        batch: usize,
        /// The loss value.
        loss: f32,
    },
    /// The splits do not fit together or lack rows needed for training.
    #[error("cannot train: {0}")]
    Data(String),
}
