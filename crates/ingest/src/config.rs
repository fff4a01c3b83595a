//! The ingest configuration: which file to read, how to parse it, how to type its columns and
//! which values of the label column mark an anomaly.
//!
//! The caller deserialises [`IngestConfig`] from the experiment file's TOML. This module reads
//! and writes no files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// The spellings of a missing value used when `missing` is not set.
pub const DEFAULT_MISSING: [&str; 7] = ["", "NA", "N/A", "NaN", "nan", "null", "?"];

/// Parameters of the ingest stage.
///
/// Exactly one of `dataset` and `path` is set. Every other key has a default, so the smallest
/// configuration is a dataset name and a label rule:
///
/// ```toml
/// dataset = "creditcard-sample"
/// label = { column = "Class", anomaly = ["1"], normal = ["0"] }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Name of a dataset in the registry. The file is looked up in the data directory and
    /// verified against the registered size and sha256. Default: none.
    #[serde(default)]
    pub dataset: Option<String>,
    /// A file to read as is, for data that is not in the registry. A relative path is taken
    /// relative to the working directory. Default: none.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Expected sha256 of the file at `path`, hex encoded. A file with another checksum is
    /// rejected. Only valid together with `path`. Default: none, so the file is hashed and the
    /// hash recorded but not checked.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The file's encoding. Default: from the file name, `parquet` for `.parquet` and
    /// `.pq`, `csv.gz` for `.gz`, and `csv` otherwise.
    #[serde(default)]
    pub format: Option<Format>,
    /// Whether the first line of a CSV file names the columns. Default: `true`.
    #[serde(default = "default_header")]
    pub header: bool,
    /// Column names in file order. For a headerless file they name the columns. For a file
    /// with a header, or a Parquet file, they must equal the file's names. Default: the file's
    /// header, or `column_1`, `column_2`, ... for a headerless file.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Declared column types. An undeclared CSV column is `int` when every non-missing value
    /// is an integer literal, `float` when every one parses as a number, and `string`
    /// otherwise. An undeclared Parquet column takes its type from the file. Default: empty.
    #[serde(default)]
    pub types: BTreeMap<String, ColumnKind>,
    /// The field delimiter of a CSV file, one ASCII character. Default: `,`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// The spellings of a missing value in a CSV file, compared with the value after leading
    /// and trailing whitespace is removed. Default: [`DEFAULT_MISSING`].
    #[serde(default = "default_missing")]
    pub missing: Vec<String>,
    /// The label column and the values that mark an anomaly. Required.
    pub label: LabelRule,
    /// A separate test file, read with every setting above except `dataset`, `path`, `sha256`
    /// and `format`, which it gives itself. Its columns must equal the main file's, and each
    /// column keeps the type that the main file gives it. Default: none, so the preprocess
    /// stage cuts its test split from the main file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestFile>,
}

/// The test file of `test = { ... }`: where it is and how it is encoded.
///
/// Exactly one of `dataset` and `path` is set, as for the main file:
///
/// ```toml
/// test = { dataset = "nsl-kdd-test" }
/// test = { path = "test.csv", sha256 = "..." }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Name of a dataset in the registry. Default: none.
    #[serde(default)]
    pub dataset: Option<String>,
    /// A file to read as is. A relative path is taken relative to the working directory.
    /// Default: none.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Expected sha256 of the file at `path`, hex encoded. Default: none, so the file is
    /// hashed and the hash recorded but not checked.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The test file's encoding. Default: from the test file's name, as for the main file.
    /// The main file's `format` does not apply, because the two files may be compressed
    /// differently.
    #[serde(default)]
    pub format: Option<Format>,
}

/// The rule that turns the label column into `_label` (1 for an anomaly, 0 for a normal row).
///
/// With only `anomaly` listed, every other value is normal. With only `normal` listed, every
/// other value is an anomaly. With both, a value in neither list is an error.
///
/// A value and a listed value match when both parse as numbers and are equal, so `1` matches
/// `1.0`. Otherwise they match when they are equal after surrounding whitespace is removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRule {
    /// The label column. It is not written to `data.parquet` as a feature.
    pub column: String,
    /// Values that mark an anomaly. Numbers may be written bare: `anomaly = [1]`. Default:
    /// empty, which requires `normal`.
    #[serde(default, deserialize_with = "label_values")]
    pub anomaly: Vec<String>,
    /// Values that mark a normal row. Default: none.
    #[serde(default, deserialize_with = "optional_label_values")]
    pub normal: Option<Vec<String>>,
}

/// The encoding of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// Delimited text, UTF-8, with an optional byte-order mark.
    #[serde(rename = "csv")]
    Csv,
    /// Delimited text compressed with gzip, possibly in several members.
    #[serde(rename = "csv.gz")]
    CsvGz,
    /// An Apache Parquet file.
    #[serde(rename = "parquet")]
    Parquet,
}

/// The type of a column, as declared in `types` or inferred from the data.
///
/// Numbers of both kinds are stored as Float64 in `data.parquet`, so an integer beyond 2^53
/// loses precision. The kind is recorded in `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// A floating-point number.
    Float,
    /// A whole number.
    Int,
    /// Text.
    String,
}

impl ColumnKind {
    /// Returns the name used in configurations and in `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Float => "float",
            ColumnKind::Int => "int",
            ColumnKind::String => "string",
        }
    }

    /// Returns whether the column is stored as Float64.
    pub fn is_numeric(self) -> bool {
        self != ColumnKind::String
    }
}

impl Format {
    /// Returns the name used in configurations.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::CsvGz => "csv.gz",
            Format::Parquet => "parquet",
        }
    }

    /// Chooses the format from a file name: `.parquet` and `.pq` are Parquet, `.gz` is gzip
    /// CSV, other compressed or archive extensions are rejected, and anything else is CSV.
    pub fn from_path(path: &Path) -> Result<Format> {
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match extension.as_str() {
            "parquet" | "pq" => Ok(Format::Parquet),
            "gz" => Ok(Format::CsvGz),
            "zip" | "bz2" | "xz" | "zst" | "7z" | "tar" => Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "`.{extension}` files are not supported; decompress the file to CSV, or \
                     recompress it with gzip"
                ),
            }),
            _ => Ok(Format::Csv),
        }
    }
}

impl IngestConfig {
    /// Creates a configuration for a registered dataset with every other key at its default.
    pub fn from_dataset(name: impl Into<String>, label: LabelRule) -> Self {
        IngestConfig { dataset: Some(name.into()), ..IngestConfig::with_defaults(label) }
    }

    /// Creates a configuration for a file of one's own with every other key at its default.
    pub fn from_path(path: impl Into<PathBuf>, label: LabelRule) -> Self {
        IngestConfig { path: Some(path.into()), ..IngestConfig::with_defaults(label) }
    }

    fn with_defaults(label: LabelRule) -> Self {
        IngestConfig {
            dataset: None,
            path: None,
            sha256: None,
            format: None,
            header: default_header(),
            columns: None,
            types: BTreeMap::new(),
            delimiter: default_delimiter(),
            missing: default_missing(),
            label,
            test: None,
        }
    }

    /// Returns the configuration that reads the test file, or `None` without `test`.
    ///
    /// It is this configuration with `dataset`, `path`, `sha256` and `format` taken from
    /// `test` and without `test` itself, so [`crate::resolve`] finds and verifies the test
    /// file through it like any main file.
    pub fn test_file_config(&self) -> Option<IngestConfig> {
        let test = self.test.as_ref()?;
        Some(IngestConfig {
            dataset: test.dataset.clone(),
            path: test.path.clone(),
            sha256: test.sha256.clone(),
            format: test.format,
            test: None,
            ..self.clone()
        })
    }

    /// Checks the keys that can be checked without the file: the choice of source, the
    /// checksum's form, the delimiter, the declared columns and the label rule.
    pub fn validate(&self) -> Result<()> {
        check_source(&self.dataset, &self.path, &self.sha256, "")?;
        if let Some(test) = &self.test {
            check_source(&test.dataset, &test.path, &test.sha256, "test.")?;
            if let Some(format) = test.format {
                self.check_format(format)?;
            }
        }

        if !self.delimiter.is_ascii() || matches!(self.delimiter, '"' | '\n' | '\r') {
            return Err(Error::Config(format!(
                "`delimiter = {:?}` cannot be used; the delimiter must be one ASCII character \
                 other than a quote or a line break, such as \",\", \";\" or \"\\t\"",
                self.delimiter
            )));
        }

        if let Some(format) = self.format {
            self.check_format(format)?;
        }

        if let Some(columns) = &self.columns {
            check_names(columns)
                .map_err(|message| Error::Config(format!("`columns`: {message}")))?;
        }

        self.label.validate()
    }

    /// Checks the keys that depend on the input format, which [`crate::run`] may only learn
    /// from the file name.
    pub(crate) fn check_format(&self, format: Format) -> Result<()> {
        if format == Format::Parquet && !self.header {
            return Err(config_error(
                "`header = false` does not apply to Parquet files, whose columns are always \
                 named; remove it",
            ));
        }
        Ok(())
    }
}

impl LabelRule {
    /// Creates a rule where the listed values mark an anomaly and every other value is normal.
    /// With an empty list, call [`with_normal`](Self::with_normal) to list the normal values
    /// instead.
    pub fn new(column: impl Into<String>, anomaly: &[&str]) -> Self {
        LabelRule {
            column: column.into(),
            anomaly: anomaly.iter().map(|value| value.to_string()).collect(),
            normal: None,
        }
    }

    /// Sets the values that mark a normal row. Any other value is then an error when `anomaly`
    /// lists values, and an anomaly when it is empty.
    pub fn with_normal(mut self, normal: &[&str]) -> Self {
        self.normal = Some(normal.iter().map(|value| value.to_string()).collect());
        self
    }

    fn validate(&self) -> Result<()> {
        if self.column.trim().is_empty() {
            return Err(config_error("`label.column` is empty; name the label column"));
        }
        let normal_listed = self.normal.as_ref().is_some_and(|normal| !normal.is_empty());
        if self.anomaly.is_empty() && !normal_listed {
            return Err(config_error(
                "`label.anomaly` and `label.normal` are both empty; list the label values that \
                 mark an anomaly, or those that mark a normal row",
            ));
        }
        if let Some(normal) = &self.normal {
            for value in normal {
                let both = self.anomaly.iter().find(|anomaly| label_values_match(anomaly, value));
                if let Some(anomaly) = both {
                    return Err(Error::Config(format!(
                        "label value `{value}` in `label.normal` matches `{anomaly}` in \
                         `label.anomaly`; a value can only be in one list"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Compares two label values: as numbers when both parse as numbers, else as trimmed text.
pub(crate) fn label_values_match(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Checks that column names are non-empty, unique and not reserved, returning the first
/// problem found.
pub(crate) fn check_names(names: &[String]) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (index, name) in names.iter().enumerate() {
        let position = index + 1;
        if name.trim().is_empty() {
            return Err(format!("column {position} has an empty name; give every column a name"));
        }
        if name == common::ROW_ID || name == common::LABEL {
            return Err(format!(
                "column {position} is named `{name}`, which ingest reserves for its own output; \
                 rename the column"
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(format!(
                "column {position} repeats the name `{name}`; give every column a distinct name"
            ));
        }
    }
    Ok(())
}

/// Returns whether `text` is a sha256 digest written as 64 hexadecimal digits.
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Checks that exactly one of `dataset` and `path` is set and that `sha256` goes with a
/// `path` and is well formed. `prefix` is `""` for the main file and `"test."` for the test
/// file, so that messages name the key as written.
fn check_source(
    dataset: &Option<String>,
    path: &Option<PathBuf>,
    sha256: &Option<String>,
    prefix: &str,
) -> Result<()> {
    match (dataset, path) {
        (Some(_), Some(_)) => {
            return Err(Error::Config(format!(
                "both `{prefix}dataset` and `{prefix}path` are set; keep `{prefix}dataset` for \
                 a registered dataset or `{prefix}path` for a file of your own"
            )));
        }
        (None, None) => {
            return Err(Error::Config(format!(
                "neither `{prefix}dataset` nor `{prefix}path` is set; set `{prefix}dataset` to \
                 a registry name or `{prefix}path` to a file"
            )));
        }
        (Some(name), None) if name.trim().is_empty() => {
            return Err(Error::Config(format!(
                "`{prefix}dataset` is empty; set it to a registry name"
            )));
        }
        _ => {}
    }

    if let Some(sha256) = sha256 {
        if path.is_none() {
            return Err(Error::Config(format!(
                "`{prefix}sha256` is only valid with `{prefix}path`; a registered dataset is \
                 verified against the checksum in the registry"
            )));
        }
        if !is_sha256_hex(sha256) {
            return Err(Error::Config(format!(
                "`{prefix}sha256 = \"{sha256}\"` is not 64 hexadecimal digits; copy the output \
                 of `sha256sum FILE`"
            )));
        }
    }
    Ok(())
}

fn config_error(message: &str) -> Error {
    Error::Config(message.to_string())
}

fn default_header() -> bool {
    true
}

fn default_delimiter() -> char {
    ','
}

fn default_missing() -> Vec<String> {
    DEFAULT_MISSING.iter().map(|spelling| spelling.to_string()).collect()
}

/// Reads a list of label values, each written as text or as a bare number.
fn label_values<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct LabelValue(String);

    impl<'de> Deserialize<'de> for LabelValue {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(LabelValueVisitor)
        }
    }

    struct LabelValueVisitor;

    impl Visitor<'_> for LabelValueVisitor {
        type Value = LabelValue;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a label value written as a string or a number")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<LabelValue, E> {
            Ok(LabelValue(value.to_string()))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<LabelValue, E> {
            Ok(LabelValue(value.to_string()))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<LabelValue, E> {
            Ok(LabelValue(value.to_string()))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<LabelValue, E> {
            Ok(LabelValue(value.to_string()))
        }
    }

    let values = Vec::<LabelValue>::deserialize(deserializer)?;
    Ok(values.into_iter().map(|LabelValue(text)| text).collect())
}

fn optional_label_values<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    label_values(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<IngestConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_fill_every_optional_key() {
        let config = parse(
            r#"
            dataset = "creditcard-sample"
            label = { column = "Class", anomaly = ["1"] }
            "#,
        )
        .unwrap();
        assert_eq!(
            config,
            IngestConfig::from_dataset("creditcard-sample", LabelRule::new("Class", &["1"]))
        );
        assert!(config.header);
        assert_eq!(config.delimiter, ',');
        assert_eq!(config.missing, DEFAULT_MISSING);
        assert_eq!(config.format, None);
        config.validate().unwrap();
    }

    #[test]
    fn every_key_parses() {
        let config = parse(
            r#"
            path = "mine.txt.gz"
            sha256 = "03f9faa6d17e910ee343bdf4c211c6135bd622d8ae4aa6eacb246309ddcc0e95"
            format = "csv.gz"
            header = false
            columns = ["a", "b", "kind"]
            types = { a = "float", b = "int", kind = "string" }
            delimiter = ";"
            missing = ["", "-"]
            label = { column = "kind", anomaly = [1, 2.5, "x"], normal = ["0"] }
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.format, Some(Format::CsvGz));
        assert_eq!(config.delimiter, ';');
        assert_eq!(config.types["b"], ColumnKind::Int);
        assert_eq!(config.label.anomaly, ["1", "2.5", "x"]);
        assert_eq!(config.label.normal, Some(vec!["0".to_string()]));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = parse(
            r#"
            dataset = "creditcard-sample"
            delimeter = ";"
            label = { column = "Class", anomaly = ["1"] }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `delimeter`"), "{error}");
    }

    #[test]
    fn label_value_must_be_text_or_number() {
        let error = parse(
            r#"
            dataset = "creditcard-sample"
            label = { column = "Class", anomaly = [true] }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("expected a label value written as a string or a number"),
            "{error}"
        );
    }

    #[test]
    fn unknown_label_key_is_rejected() {
        let error = parse(
            r#"
            dataset = "creditcard-sample"
            label = { column = "Class", anomalies = ["1"] }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `anomalies`"), "{error}");
    }

    #[test]
    fn source_must_be_exactly_one() {
        let mut config = IngestConfig::from_dataset("x", LabelRule::new("y", &["1"]));
        config.path = Some("file.csv".into());
        let both = config.validate().unwrap_err().to_string();
        assert!(both.contains("both `dataset` and `path`"), "{both}");

        config.dataset = None;
        config.path = None;
        let neither = config.validate().unwrap_err().to_string();
        assert!(neither.contains("neither `dataset` nor `path`"), "{neither}");
    }

    #[test]
    fn sha256_needs_path_and_hex() {
        let mut config = IngestConfig::from_dataset("x", LabelRule::new("y", &["1"]));
        config.sha256 = Some("ab".repeat(32));
        let with_dataset = config.validate().unwrap_err().to_string();
        assert!(with_dataset.contains("only valid with `path`"), "{with_dataset}");

        let mut config = IngestConfig::from_path("file.csv", LabelRule::new("y", &["1"]));
        config.sha256 = Some("xyz".into());
        let malformed = config.validate().unwrap_err().to_string();
        assert!(malformed.contains("`sha256 = \"xyz\"`"), "{malformed}");
    }

    #[test]
    fn delimiter_must_be_ascii() {
        let mut config = IngestConfig::from_path("file.csv", LabelRule::new("y", &["1"]));
        config.delimiter = 'é';
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("one ASCII character"), "{error}");
    }

    #[test]
    fn label_rule_needs_one_list() {
        let rule = LabelRule::new("y", &[]);
        let error = IngestConfig::from_path("f.csv", rule).validate().unwrap_err().to_string();
        assert!(error.contains("both empty"), "{error}");

        let normal_only = LabelRule::new("y", &[]).with_normal(&["normal"]);
        IngestConfig::from_path("f.csv", normal_only).validate().unwrap();
    }

    #[test]
    fn label_lists_must_not_overlap() {
        let rule = LabelRule::new("y", &["1"]).with_normal(&["0", "1.0"]);
        let error = IngestConfig::from_path("f.csv", rule).validate().unwrap_err().to_string();
        assert!(error.contains("`1.0` in `label.normal` matches `1`"), "{error}");
    }

    #[test]
    fn declared_columns_must_be_distinct_and_unreserved() {
        let mut config = IngestConfig::from_path("f.csv", LabelRule::new("y", &["1"]));
        config.columns = Some(vec!["a".into(), "y".into(), "a".into()]);
        let repeated = config.validate().unwrap_err().to_string();
        assert!(repeated.contains("column 3 repeats the name `a`"), "{repeated}");

        config.columns = Some(vec!["_label".into(), "y".into()]);
        let reserved = config.validate().unwrap_err().to_string();
        assert!(reserved.contains("`_label`, which ingest reserves"), "{reserved}");
    }

    #[test]
    fn label_values_compare_as_numbers_or_trimmed_text() {
        assert!(label_values_match("1", "1.0"));
        assert!(label_values_match(" 1 ", "1e0"));
        assert!(!label_values_match("1", "0"));
        assert!(label_values_match(" normal ", "normal"));
        assert!(!label_values_match("normal.", "normal"));
    }

    #[test]
    fn test_file_inherits_reading_settings() {
        let config = parse(
            r#"
            path = "KDDTrain+_20Percent.txt"
            header = false
            columns = ["service", "label"]
            delimiter = ";"
            label = { column = "label", normal = ["normal"] }
            test = { dataset = "nsl-kdd-test" }
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let test = config.test_file_config().unwrap();
        assert_eq!(test.dataset.as_deref(), Some("nsl-kdd-test"));
        assert_eq!(test.path, None);
        assert_eq!(test.test, None);
        assert!(!test.header);
        assert_eq!(test.columns, config.columns);
        assert_eq!(test.delimiter, ';');
        assert_eq!(test.label, config.label);
    }

    #[test]
    fn test_file_keeps_its_own_format_and_sha256() {
        let config = parse(
            r#"
            path = "train.csv"
            format = "csv"
            label = { column = "y", anomaly = [1] }
            test = { path = "test.data", sha256 = "03f9faa6d17e910ee343bdf4c211c6135bd622d8ae4aa6eacb246309ddcc0e95", format = "csv.gz" }
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let test = config.test_file_config().unwrap();
        assert_eq!(test.path, Some(PathBuf::from("test.data")));
        assert_eq!(test.format, Some(Format::CsvGz));
        assert_eq!(test.sha256.as_deref().map(str::len), Some(64));
    }

    #[test]
    fn test_file_source_is_validated() {
        let mut config = IngestConfig::from_path("train.csv", LabelRule::new("y", &["1"]));
        let test = TestFile { dataset: None, path: None, sha256: None, format: None };
        config.test = Some(test.clone());
        let neither = config.validate().unwrap_err().to_string();
        assert!(neither.contains("neither `test.dataset` nor `test.path`"), "{neither}");

        config.test = Some(TestFile {
            dataset: Some("d".into()),
            sha256: Some("ab".repeat(32)),
            ..test.clone()
        });
        let sha256 = config.validate().unwrap_err().to_string();
        assert!(sha256.contains("`test.sha256` is only valid with `test.path`"), "{sha256}");

        config.test = Some(TestFile { path: Some("t.parquet".into()), ..test });
        config.header = false;
        config.test.as_mut().unwrap().format = Some(Format::Parquet);
        let format = config.validate().unwrap_err().to_string();
        assert!(format.contains("`header = false` does not apply to Parquet"), "{format}");
    }

    #[test]
    fn unknown_test_key_is_rejected() {
        let error = parse(
            r#"
            dataset = "nsl-kdd-train"
            label = { column = "label", normal = ["normal"] }
            test = { dataset = "nsl-kdd-test", header = false }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `header`"), "{error}");
    }

    #[test]
    fn absent_test_is_not_serialised() {
        // The orchestrator keys the cache on the configuration as JSON, so a configuration
        // without `test` must serialise as it did before the key existed.
        let config = IngestConfig::from_dataset("d", LabelRule::new("y", &["1"]));
        let json = serde_json::to_value(&config).unwrap();
        assert!(json.get("test").is_none(), "{json}");
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.csv")).unwrap(), Format::Csv);
        assert_eq!(Format::from_path(Path::new("KDDTest+.txt")).unwrap(), Format::Csv);
        assert_eq!(Format::from_path(Path::new("x.txt.gz")).unwrap(), Format::CsvGz);
        assert_eq!(Format::from_path(Path::new("x.GZ")).unwrap(), Format::CsvGz);
        assert_eq!(Format::from_path(Path::new("t.parquet")).unwrap(), Format::Parquet);
        assert_eq!(Format::from_path(Path::new("noextension")).unwrap(), Format::Csv);
        let error = Format::from_path(Path::new("x.zip")).unwrap_err().to_string();
        assert!(error.contains("`.zip` files are not supported"), "{error}");
    }
}
