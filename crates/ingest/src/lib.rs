//! The ingest stage: turns one raw file into a typed Parquet table with a label.
//!
//! [`Registry`] reads the dataset registry (`data/registry.toml`). [`resolve`] finds the file
//! an [`IngestConfig`] names, in the data directory or at a path of its own, downloads a
//! missing registered file when the registry has a URL for it, and verifies its size and sha256.
//! [`run`] reads the verified CSV, gzip CSV or Parquet file and writes two files into the
//! output directory:
//!
//! - `data.parquet`: `_row_id` (UInt64, the row's 0-based position in the file), `_label`
//!   (UInt8, 1 for an anomaly), then every column of the file except the label column, numbers
//!   as Float64 and text as Utf8, with nulls for missing values;
//! - `summary.json`: a [`common::DatasetSummary`] with the source and its sha256, the row
//!   count, each column's type and null count, the label counts and duplicate rows.
//!
//! The caller publishes the output directory, and this crate only writes files into it.

mod config;
mod csv_input;
mod download;
mod error;
mod label;
mod parquet_input;
mod registry;
mod source;
mod table;

use std::path::Path;

use common::{DatasetSummary, Progress};

pub use config::{ColumnKind, DEFAULT_MISSING, Format, IngestConfig, LabelRule};
pub use error::{Error, Location, Result};
pub use registry::{DEFAULT_REGISTRY, DatasetEntry, Registry};
pub use source::{DEFAULT_DATA_DIR, Source, resolve};

/// Version of the ingest implementation. Bump it whenever the output files can change for the
/// same input and configuration.
pub const VERSION: u32 = 1;

/// File name of the table in the output directory.
pub const DATA_FILE: &str = "data.parquet";

/// File name of the summary in the output directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// Reads `source` as `config` describes and writes `data.parquet` and `summary.json` into
/// `out_dir`, which must exist.
///
/// The format is `config.format`, or else chosen from the file name by [`Format::from_path`].
/// The file is not hashed again, because `source` is trusted to come from [`resolve`].
pub fn run(
    config: &IngestConfig,
    source: &Source,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<DatasetSummary> {
    config.validate()?;
    let format = match config.format {
        Some(format) => format,
        None => Format::from_path(&source.path)?,
    };
    config.check_format(format)?;

    let data_path = out_dir.join(DATA_FILE);
    let ingested = match format {
        Format::Csv => csv_input::read(&source.path, false, config, &data_path, progress)?,
        Format::CsvGz => csv_input::read(&source.path, true, config, &data_path, progress)?,
        Format::Parquet => parquet_input::read(&source.path, config, &data_path, progress)?,
    };

    let summary = DatasetSummary {
        dataset: source.dataset.clone(),
        source: source.path.display().to_string(),
        sha256: source.sha256.clone(),
        rows: ingested.rows,
        columns: ingested.columns,
        label_column: config.label.column.clone(),
        label_counts: ingested.label_counts,
        label_values: ingested.label_values,
        duplicate_rows: ingested.duplicate_rows,
    };
    common::write_json(&out_dir.join(SUMMARY_FILE), &summary)?;
    tracing::info!(
        source = summary.source.as_str(),
        rows = summary.rows,
        anomalies = summary.label_counts.anomaly,
        duplicate_rows = summary.duplicate_rows,
        "ingested"
    );
    Ok(summary)
}
