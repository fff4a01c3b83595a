//! The artifact contract shared by every pipeline stage.
//!
//! Stages never pass data through memory. Each one writes a directory of files (Parquet
//! tables, small JSON sidecars, safetensors weights) and a `manifest.json` that lists them
//! with their sizes and blake3 hashes. A directory without a valid manifest is incomplete and
//! is never read. This crate contains the reserved column names, the manifest, the atomic
//! publishing of a stage directory, Parquet and JSON helpers, and the progress interface.

pub mod error;
pub mod manifest;
pub mod progress;
pub mod summary;
pub mod table;

pub use error::{Error, Result};
pub use manifest::{FileEntry, InputRef, Manifest, StageKind, StageOutput, hostname, process_tag};
pub use progress::{NoProgress, PlainProgress, Progress, Task, TerminalProgress, Unit};
pub use summary::{
    ColumnSummary, Confusion, DatasetSummary, Evaluation, LabelCounts, Metrics, PreprocessSummary,
    Threshold, TrainingSummary,
};
pub use table::{FeatureTable, read_json, read_parquet, write_json, write_parquet};

/// Column holding the position of a row in the ingested file (0-based, header excluded).
pub const ROW_ID: &str = "_row_id";
/// Column holding the label: 1 for an anomaly, 0 for a normal row.
pub const LABEL: &str = "_label";
/// Column naming the split (`train`, `validation` or `test`) a score row belongs to.
pub const SPLIT: &str = "split";
/// Column holding an anomaly score; higher means more anomalous.
pub const SCORE: &str = "score";

/// The three splits that `preprocess` writes, in the order they are reported.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];
