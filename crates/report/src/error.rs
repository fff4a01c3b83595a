//! Error type of the report stage.

use std::path::PathBuf;

/// Result alias used across the report stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures while reading the run's artifacts or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input artifact is missing or could not be parsed; the source names the file.
    #[error("failed to read the {input}: {source}")]
    Input {
        /// Description of the input, such as "training summary of model `mlp`".
        input: String,
        /// The underlying failure, naming the path.
        source: common::Error,
    },
    /// An input artifact was read but its contents break the artifact contract.
    #[error("{}: {problem} (run the stage that wrote it again)", path.display())]
    Invalid {
        /// The file whose contents are invalid.
        path: PathBuf,
        /// Description of the problem.
        problem: String,
    },
    /// plotters failed to draw a chart.
    #[error("failed to draw the {chart} chart: {message}")]
    Chart {
        /// The chart being drawn.
        chart: String,
        /// The plotters error.
        message: String,
    },
    /// The report file or its directory could not be written.
    #[error("failed to write {}: {source}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
}
