//! The ingest stage: turns one raw file, and optionally a separate test file, into typed
//! Parquet tables with a label.
//!
//! [`Registry`] reads the dataset registry (`data/registry.toml`). [`resolve`] finds the file
//! an [`IngestConfig`] names, in the data directory or at a path of its own, downloads a
//! missing registered file when the registry has a URL for it, and verifies its size and sha256.
//! [`resolve_test`] does the same for the test file of `test = { ... }`. [`run`] reads the
//! verified CSV, gzip CSV or Parquet files and writes into the output directory:
//!
//! - `data.parquet`: `_row_id` (UInt64, the row's 0-based position in the file), `_label`
//!   (UInt8, 1 for an anomaly), then every column of the file except the label column, numbers
//!   as Float64 and text as Utf8, with nulls for missing values;
//! - `summary.json`: a [`common::DatasetSummary`] with the source and its sha256, the row
//!   count, each column's type and null count, the label counts and duplicate rows;
//! - with a test file, `test.parquet` and `test_summary.json`: the same for the test file,
//!   with the training file's columns and column types, and `_row_id` counted from 0 in the
//!   test file.
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

use crate::table::{Ingested, TrainingFile};

pub use config::{ColumnKind, DEFAULT_MISSING, Format, IngestConfig, LabelRule, TestFile};
pub use error::{Error, Location, Result};
pub use registry::{DEFAULT_REGISTRY, DatasetEntry, Registry};
pub use source::{DEFAULT_DATA_DIR, Source, resolve, resolve_test};

/// Version of the ingest implementation. Bump it whenever the output files can change for the
/// same input and configuration.
pub const VERSION: u32 = 2;

/// File name of the table in the output directory.
pub const DATA_FILE: &str = "data.parquet";

/// File name of the summary in the output directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// File name of the test file's table in the output directory, written only with a test file.
pub const TEST_DATA_FILE: &str = "test.parquet";

/// File name of the test file's summary in the output directory, written only with a test
/// file.
pub const TEST_SUMMARY_FILE: &str = "test_summary.json";

/// The summaries that [`run`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOutput {
    /// The main (training) file's summary, as written to `summary.json`.
    pub summary: DatasetSummary,
    /// The test file's summary, as written to `test_summary.json`, when there is a test file.
    pub test_summary: Option<DatasetSummary>,
}

/// Reads `source`, and `test_source` when the configuration has `test`, as `config`
/// describes, and writes `data.parquet` and `summary.json`, and `test.parquet` and
/// `test_summary.json` for the test file, into `out_dir`, which must exist.
///
/// `test_source` must be the result of [`resolve_test`]: `Some` exactly when `config.test` is
/// set. Each file's format is its configured `format`, or else chosen from its name by
/// [`Format::from_path`]. The files are not hashed again, because the sources are trusted to
/// come from [`resolve`] and [`resolve_test`].
pub fn run(
    config: &IngestConfig,
    source: &Source,
    test_source: Option<&Source>,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<IngestOutput> {
    config.validate()?;
    let test_config = config.test_file_config();
    match (&test_config, test_source) {
        (Some(_), None) => {
            return Err(Error::Config(
                "`test` is set but no test file was given to ingest; pass the source that \
                 `resolve_test` returns"
                    .to_string(),
            ));
        }
        (None, Some(test_source)) => {
            return Err(Error::Config(format!(
                "a test file {} was given but `test` is not set; set `test` in the ingest \
                 configuration, or read the file as a main file",
                test_source.path.display()
            )));
        }
        _ => {}
    }

    let data = read_file(config, source, &out_dir.join(DATA_FILE), None, progress)?;
    let summary = dataset_summary(config, source, &data);
    common::write_json(&out_dir.join(SUMMARY_FILE), &summary)?;
    log_summary(&summary, "ingested");

    let mut test_summary = None;
    if let (Some(test_config), Some(test_source)) = (&test_config, test_source) {
        let training = TrainingFile { path: &source.path, layout: &data.layout };
        let test_path = out_dir.join(TEST_DATA_FILE);
        let test = read_file(test_config, test_source, &test_path, Some(training), progress)?;
        let summary = dataset_summary(test_config, test_source, &test);
        common::write_json(&out_dir.join(TEST_SUMMARY_FILE), &summary)?;
        log_summary(&summary, "ingested the test file");
        test_summary = Some(summary);
    }
    Ok(IngestOutput { summary, test_summary })
}

/// Reads one file in the format that `config` gives or its name implies.
fn read_file(
    config: &IngestConfig,
    source: &Source,
    data_path: &Path,
    training: Option<TrainingFile<'_>>,
    progress: &dyn Progress,
) -> Result<Ingested> {
    let format = match config.format {
        Some(format) => format,
        None => Format::from_path(&source.path)?,
    };
    config.check_format(format)?;
    let path = &source.path;
    match format {
        Format::Csv => csv_input::read(path, false, config, data_path, training, progress),
        Format::CsvGz => csv_input::read(path, true, config, data_path, training, progress),
        Format::Parquet => parquet_input::read(path, config, data_path, training, progress),
    }
}

fn dataset_summary(config: &IngestConfig, source: &Source, ingested: &Ingested) -> DatasetSummary {
    DatasetSummary {
        dataset: source.dataset.clone(),
        source: source.path.display().to_string(),
        sha256: source.sha256.clone(),
        rows: ingested.rows,
        columns: ingested.columns.clone(),
        label_column: config.label.column.clone(),
        label_counts: ingested.label_counts,
        label_values: ingested.label_values.clone(),
        duplicate_rows: ingested.duplicate_rows,
    }
}

fn log_summary(summary: &DatasetSummary, message: &str) {
    tracing::info!(
        source = summary.source.as_str(),
        rows = summary.rows,
        anomalies = summary.label_counts.anomaly,
        duplicate_rows = summary.duplicate_rows,
        "{message}"
    );
}
