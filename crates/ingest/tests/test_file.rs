//! Reading a separate test file beside the training file: `test.parquet` and
//! `test_summary.json`, column names and types that follow the training file, and the errors
//! for a test file that does not match it.
//!
//! Each test writes a small generated pair of files into a temporary directory and ingests them
//! through `resolve`, `resolve_test` and `run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::array::{UInt8Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use common::{DatasetSummary, LabelCounts, NoProgress};
use ingest::{Error, IngestConfig, IngestOutput, Registry};

/// A training file and a test file in one temporary directory.
struct Pair {
    dir: tempfile::TempDir,
    training: PathBuf,
    test: PathBuf,
}

impl Pair {
    fn new(training_name: &str, training: &[u8], test_name: &str, test: &[u8]) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let training_path = dir.path().join(training_name);
        let test_path = dir.path().join(test_name);
        std::fs::write(&training_path, training).unwrap();
        std::fs::write(&test_path, test).unwrap();
        Pair { dir, training: training_path, test: test_path }
    }

    /// Returns the configuration `settings` (TOML without `path` and `test`) reading this pair.
    fn config(&self, settings: &str) -> IngestConfig {
        let mut config: IngestConfig = toml::from_str(settings).unwrap();
        config.path = Some(self.training.clone());
        config.test =
            Some(ingest::TestFile { path: Some(self.test.clone()), ..test_file_defaults() });
        config
    }
}

fn test_file_defaults() -> ingest::TestFile {
    ingest::TestFile { dataset: None, path: None, sha256: None, format: None }
}

fn empty_registry() -> Registry {
    Registry::parse("", Path::new("empty.toml")).unwrap()
}

/// The output directory of a successful ingest, with its two tables.
struct Output {
    dir: tempfile::TempDir,
    result: IngestOutput,
    data: RecordBatch,
    test: RecordBatch,
}

impl Output {
    fn test_summary(&self) -> &DatasetSummary {
        self.result.test_summary.as_ref().unwrap()
    }
}

fn try_run(config: &IngestConfig) -> ingest::Result<Output> {
    let registry = empty_registry();
    let source = ingest::resolve(config, &registry, Path::new("unused"), &NoProgress)?;
    let test_source = ingest::resolve_test(config, &registry, Path::new("unused"), &NoProgress)?;
    let dir = tempfile::tempdir().unwrap();
    let result = ingest::run(config, &source, test_source.as_ref(), dir.path(), &NoProgress)?;
    let data = common::read_parquet(&dir.path().join(ingest::DATA_FILE)).unwrap();
    let test = common::read_parquet(&dir.path().join(ingest::TEST_DATA_FILE)).unwrap();
    Ok(Output { dir, result, data, test })
}

fn run(config: &IngestConfig) -> Output {
    try_run(config).unwrap()
}

fn run_error(config: &IngestConfig) -> String {
    match try_run(config) {
        Ok(_) => panic!("ingesting the pair succeeded"),
        Err(error) => error.to_string(),
    }
}

fn numbers(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let column = batch.column_by_name(column).unwrap();
    column.as_any().downcast_ref::<Float64Array>().unwrap().iter().collect()
}

fn texts(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(column).unwrap();
    let texts = column.as_any().downcast_ref::<StringArray>().unwrap();
    texts.iter().map(|text| text.map(str::to_string)).collect()
}

fn row_ids(batch: &RecordBatch) -> Vec<u64> {
    let column = batch.column_by_name("_row_id").unwrap();
    column.as_any().downcast_ref::<UInt64Array>().unwrap().values().to_vec()
}

fn labels(batch: &RecordBatch) -> Vec<u8> {
    let column = batch.column_by_name("_label").unwrap();
    column.as_any().downcast_ref::<UInt8Array>().unwrap().values().to_vec()
}

fn kinds(summary: &DatasetSummary) -> Vec<(&str, &str)> {
    summary.columns.iter().map(|column| (column.name.as_str(), column.kind.as_str())).collect()
}

const LABEL_RULE: &str = r#"label = { column = "label", anomaly = ["attack"], normal = ["ok"] }"#;

#[test]
fn test_file_gets_its_own_table_and_summary() {
    let training = "bytes,proto,rate,label\n10,tcp,0.5,ok\n20,udp,1.5,attack\n30,tcp,2,ok\n";
    let test = "bytes,proto,rate,label\n5,icmp,1,attack\n,tcp,NA,ok\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let output = run(&pair.config(LABEL_RULE));

    assert_eq!(output.data.schema(), output.test.schema());
    assert_eq!(row_ids(&output.data), [0, 1, 2]);
    assert_eq!(row_ids(&output.test), [0, 1]);
    assert_eq!(labels(&output.test), [1, 0]);
    assert_eq!(numbers(&output.test, "bytes"), [Some(5.0), None]);
    assert_eq!(texts(&output.test, "proto"), [Some("icmp".to_string()), Some("tcp".to_string())]);
    assert_eq!(numbers(&output.test, "rate"), [Some(1.0), None]);

    let summary = &output.result.summary;
    assert_eq!(summary.rows, 3);
    assert_eq!(summary.source, pair.training.display().to_string());
    let test_summary = output.test_summary();
    assert_eq!(test_summary.rows, 2);
    assert_eq!(test_summary.source, pair.test.display().to_string());
    assert_eq!(test_summary.label_counts, LabelCounts { normal: 1, anomaly: 1 });
    assert_eq!(test_summary.columns[0].nulls, 1);
    assert_eq!(test_summary.columns[2].nulls, 1);
    // `bytes` has only whole numbers in both files, and `rate` has fractions only in the
    // training file. The test file's columns keep the training file's kinds all the same.
    let expected = [("bytes", "int"), ("proto", "string"), ("rate", "float"), ("label", "string")];
    assert_eq!(kinds(summary), expected);
    assert_eq!(kinds(test_summary), expected);

    let written: DatasetSummary =
        common::read_json(&output.dir.path().join(ingest::SUMMARY_FILE)).unwrap();
    assert_eq!(&written, summary);
    let written: DatasetSummary =
        common::read_json(&output.dir.path().join(ingest::TEST_SUMMARY_FILE)).unwrap();
    assert_eq!(&written, test_summary);
}

#[test]
fn without_test_file_nothing_else_is_written() {
    let training = "x,label\n1,ok\n2,attack\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    std::fs::write(&path, training).unwrap();
    let mut config: IngestConfig = toml::from_str(LABEL_RULE).unwrap();
    config.path = Some(path);

    let registry = empty_registry();
    let source = ingest::resolve(&config, &registry, Path::new("unused"), &NoProgress).unwrap();
    let test_source =
        ingest::resolve_test(&config, &registry, Path::new("unused"), &NoProgress).unwrap();
    assert_eq!(test_source, None);
    let out = tempfile::tempdir().unwrap();
    let result = ingest::run(&config, &source, None, out.path(), &NoProgress).unwrap();
    assert_eq!(result.test_summary, None);
    let mut files: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [ingest::DATA_FILE, ingest::SUMMARY_FILE]);
}

#[test]
fn test_value_must_fit_training_type() {
    let training = "count,label\n1,ok\n2,attack\n";
    let test = "count,label\n3,ok\n2.5,attack\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let error = run_error(&pair.config(LABEL_RULE));
    let expected = format!(
        "{}: line 3, column `count`: value `2.5` is not a whole number, which the column must \
         be because of its values in the training file {}",
        pair.test.display(),
        pair.training.display()
    );
    assert!(error.contains(&expected), "{error}");
    assert!(error.contains("declare the column's type in `types`"), "{error}");

    // Declaring the type reads both files as floats.
    let output = run(&pair.config(&format!("types = {{ count = \"float\" }}\n{LABEL_RULE}")));
    assert_eq!(numbers(&output.test, "count"), [Some(3.0), Some(2.5)]);
    assert_eq!(kinds(output.test_summary())[0], ("count", "float"));
}

#[test]
fn text_in_numeric_test_column_is_an_error() {
    let training = "rate,label\n0.5,ok\n1.5,attack\n";
    let test = "rate,label\n0.25,ok\nhigh,attack\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let error = run_error(&pair.config(LABEL_RULE));
    assert!(error.contains("test.csv: line 3, column `rate`: value `high` is not a number"));
}

#[test]
fn declared_type_error_keeps_its_message() {
    let training = "rate,label\n0.5,ok\n1.5,attack\n";
    let test = "rate,label\nhigh,ok\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let config = pair.config(&format!("types = {{ rate = \"float\" }}\n{LABEL_RULE}"));
    let error = try_run(&config).err().unwrap();
    assert!(matches!(error, Error::InvalidValue { .. }), "{error:?}");
    assert!(error.to_string().contains("test.csv: line 2, column `rate`"), "{error}");
}

#[test]
fn numbers_in_text_column_stay_text() {
    let training = "code,label\nA7,ok\nB2,attack\n";
    let test = "code,label\n17,ok\n2.50,attack\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let output = run(&pair.config(LABEL_RULE));
    assert_eq!(texts(&output.test, "code"), [Some("17".to_string()), Some("2.50".to_string())]);
}

#[test]
fn renamed_test_column_names_first_difference() {
    let training = "a,b,label\n1,2,ok\n";
    let test = "a,c,label\n1,2,ok\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let error = run_error(&pair.config(LABEL_RULE));
    let expected = format!(
        "{}: the test file's columns differ from the training file's at column 2: the test \
         file has `c` where the training file {} has `b`",
        pair.test.display(),
        pair.training.display()
    );
    assert!(error.contains(&expected), "{error}");
}

#[test]
fn extra_test_column_is_an_error() {
    let training = "a,label\n1,ok\n";
    let test = "a,label,b\n1,ok,2\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let error = run_error(&pair.config(LABEL_RULE));
    assert!(error.contains("at column 3: the test file has `b` where the training file"));
    assert!(error.contains("has no column"), "{error}");
}

#[test]
fn headerless_pair_without_names_compares_widths() {
    let pair = Pair::new("train.txt", b"1,2,ok\n3,4,attack\n", "test.txt", b"1,ok\n");
    let config = pair.config(
        r#"
        header = false
        label = { column = "column_3", normal = ["ok"] }
        "#,
    );
    let error = run_error(&config);
    let expected = format!(
        "at column 3: the test file has no column where the training file {} has `column_3`",
        pair.training.display()
    );
    assert!(error.contains(&expected), "{error}");
}

#[test]
fn headerless_pair_with_declared_columns_and_gzip_test() {
    // The training file is plain text and the test file gzip, as NSL-KDD's files are: each
    // file's format comes from its own name.
    let training = "0,tcp,http,normal,21\n0,udp,private,neptune,19\n";
    let test = "2,icmp,ecr_i,smurf,18\n0,tcp,tftp_u,normal,21\n0,tcp,http,mscan,11\n";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(test.as_bytes()).unwrap();
    let test = encoder.finish().unwrap();
    let pair = Pair::new("train.txt", training.as_bytes(), "test.txt.gz", &test);
    let config = pair.config(
        r#"
        header = false
        columns = ["duration", "protocol_type", "service", "label", "difficulty"]
        label = { column = "label", normal = ["normal"] }
        "#,
    );
    let output = run(&config);

    assert_eq!(output.test_summary().rows, 3);
    assert_eq!(labels(&output.test), [1, 0, 1]);
    assert_eq!(output.test_summary().label_counts, LabelCounts { normal: 1, anomaly: 2 });
    assert_eq!(numbers(&output.test, "duration"), [Some(2.0), Some(0.0), Some(0.0)]);
    let services = texts(&output.test, "service");
    assert_eq!(services[1].as_deref(), Some("tftp_u"));
    assert_eq!(numbers(&output.test, "difficulty"), [Some(18.0), Some(21.0), Some(11.0)]);
    assert!(output.test.schema().field_with_name("label").is_err());
}

#[test]
fn test_label_outside_both_lists_names_test_file() {
    let training = "x,label\n1,ok\n2,attack\n";
    let test = "x,label\n1,ok\n2,unknown\n";
    let pair = Pair::new("train.csv", training.as_bytes(), "test.csv", test.as_bytes());
    let error = run_error(&pair.config(LABEL_RULE));
    assert!(error.contains("test.csv: line 3: label `unknown` in column `label`"), "{error}");
}

#[test]
fn parquet_test_file_follows_training_types() {
    let training = "count,rate,code,label\n1,0.5,a,ok\n2,1.5,b,attack\n";
    let schema = Arc::new(Schema::new(vec![
        Field::new("count", DataType::Float64, true),
        Field::new("rate", DataType::Int64, true),
        Field::new("code", DataType::Int64, true),
        Field::new("label", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(4.0), None])),
        Arc::new(Int64Array::from(vec![3, 4])),
        Arc::new(Int64Array::from(vec![7, 8])),
        Arc::new(StringArray::from(vec!["ok", "attack"])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let pair = Pair::new("train.csv", training.as_bytes(), "test.parquet", b"");
    common::write_parquet(&pair.test, &batch).unwrap();

    let output = run(&pair.config(LABEL_RULE));
    assert_eq!(output.data.schema(), output.test.schema());
    assert_eq!(numbers(&output.test, "count"), [Some(4.0), None]);
    assert_eq!(numbers(&output.test, "rate"), [Some(3.0), Some(4.0)]);
    assert_eq!(texts(&output.test, "code"), [Some("7".to_string()), Some("8".to_string())]);
    assert_eq!(labels(&output.test), [0, 1]);

    // A fraction in a column that the training file makes `int` names the Parquet row.
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(4.0), Some(0.5)])),
        Arc::new(Int64Array::from(vec![3, 4])),
        Arc::new(Int64Array::from(vec![7, 8])),
        Arc::new(StringArray::from(vec!["ok", "attack"])),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    common::write_parquet(&pair.test, &batch).unwrap();
    let error = run_error(&pair.config(LABEL_RULE));
    assert!(error.contains("test.parquet: row 2, column `count`: value `0.5` is not a whole"));
    assert!(error.contains("because of its values in the training file"), "{error}");
}

#[test]
fn run_needs_test_source_exactly_with_test() {
    let pair = Pair::new("train.csv", b"x,label\n1,ok\n", "test.csv", b"x,label\n2,ok\n");
    let config = pair.config(LABEL_RULE);
    let registry = empty_registry();
    let source = ingest::resolve(&config, &registry, Path::new("unused"), &NoProgress).unwrap();
    let out = tempfile::tempdir().unwrap();
    let error = ingest::run(&config, &source, None, out.path(), &NoProgress).unwrap_err();
    assert!(error.to_string().contains("`test` is set but no test file was given"), "{error}");

    let mut without_test = config.clone();
    without_test.test = None;
    let error =
        ingest::run(&without_test, &source, Some(&source), out.path(), &NoProgress).unwrap_err();
    assert!(error.to_string().contains("but `test` is not set"), "{error}");
}

#[test]
fn missing_test_path_names_test_key() {
    let pair = Pair::new("train.csv", b"x,label\n1,ok\n", "test.csv", b"");
    let mut config = pair.config(LABEL_RULE);
    let missing = pair.dir.path().join("absent.csv");
    config.test.as_mut().unwrap().path = Some(missing.clone());
    let registry = empty_registry();
    let error = ingest::resolve_test(&config, &registry, Path::new("unused"), &NoProgress)
        .unwrap_err()
        .to_string();
    let expected = format!("input file {} not found; check `test.path`", missing.display());
    assert!(error.contains(&expected), "{error}");
}

#[test]
fn test_sha256_is_checked() {
    let pair = Pair::new("train.csv", b"x,label\n1,ok\n", "test.csv", b"x,label\n2,ok\n");
    let mut config = pair.config(LABEL_RULE);
    config.test.as_mut().unwrap().sha256 = Some("0".repeat(64));
    let registry = empty_registry();
    let error = ingest::resolve_test(&config, &registry, Path::new("unused"), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(error.contains("update `test.sha256` in the ingest configuration"), "{error}");
}

#[test]
fn registered_test_dataset_resolves() {
    let test = b"x,label\n2,ok\n";
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(data_dir.path().join("set")).unwrap();
    std::fs::write(data_dir.path().join("set/test.csv"), test).unwrap();
    // sha256 of the 13 bytes above, computed with `printf 'x,label\n2,ok\n' | sha256sum`.
    let registry_text = format!(
        "[datasets.small-test]\nfile = \"set/test.csv\"\nsha256 = \"{}\"\nbytes = {}\n\
         licence = \"none\"\ncitation = \"none\"\ndescription = \"generated\"\n",
        "4f3e920b7bdc62762df4a5d5419d956a722fb7eb4bb2e643dd99dedc68ef9075",
        test.len()
    );
    let registry = Registry::parse(&registry_text, Path::new("registry.toml")).unwrap();
    let mut config: IngestConfig = toml::from_str(LABEL_RULE).unwrap();
    config.path = Some("train.csv".into());
    config.test =
        Some(ingest::TestFile { dataset: Some("small-test".to_string()), ..test_file_defaults() });
    let source =
        ingest::resolve_test(&config, &registry, data_dir.path(), &NoProgress).unwrap().unwrap();
    assert_eq!(source.dataset.as_deref(), Some("small-test"));
    assert_eq!(source.path, data_dir.path().join("set/test.csv"));
}
