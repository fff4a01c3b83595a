//! The preprocess stage end to end on a small generated pair of headerless files, which the
//! real ingest stage reads. The tests cover categorical encodings with pooling and unseen
//! categories, the split of a training file beside a separate test file, `transform.json`
//! round trips, and constant columns.
//!
//! The expected categories are counted in each test from the generated rows and the training
//! split's `_row_id`s, independently of the code under test.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::{FeatureTable, NoProgress, PreprocessSummary};
use ingest::{IngestConfig, Registry, TestFile};
use preprocess::{Encoding, FeatureTransform, PreprocessConfig, Scaling, Transform};

const COLUMNS: [&str; 8] =
    ["duration", "protocol", "service", "flag", "bytes", "constant", "label", "difficulty"];

/// One generated row, in `COLUMNS` order.
struct Row {
    duration: u32,
    protocol: &'static str,
    service: &'static str,
    flag: &'static str,
    bytes: Option<f64>,
    label: &'static str,
}

impl Row {
    fn line(&self) -> String {
        let bytes = self.bytes.map(|bytes| bytes.to_string()).unwrap_or_default();
        let Row { duration, protocol, service, flag, label, .. } = self;
        format!("{duration},{protocol},{service},{flag},{bytes},0,{label},{}\n", 21 - duration)
    }
}

/// Returns 40 training rows with the services http (20), private (10), smtp (6) and ftp (4).
/// Every fifth row is an attack, and row 7 has no `bytes`.
fn training_rows() -> Vec<Row> {
    (0..40)
        .map(|i| Row {
            duration: i % 3,
            protocol: ["tcp", "udp", "icmp"][i as usize % 3],
            service: match i {
                0..20 => "http",
                20..30 => "private",
                30..36 => "smtp",
                _ => "ftp",
            },
            flag: if i % 4 == 0 { "REJ" } else { "SF" },
            bytes: (i != 7).then_some(f64::from(i) * 10.5),
            label: match i % 10 {
                0 => "neptune",
                5 => "smurf",
                _ => "normal",
            },
        })
        .collect()
}

/// Returns 8 test rows, with the service `tftp_u` and the flag `RSTO` that training never
/// has, and a missing service.
fn test_rows() -> Vec<Row> {
    let services = ["http", "tftp_u", "smtp", "private", "", "http", "ftp", "tftp_u"];
    services
        .iter()
        .enumerate()
        .map(|(i, &service)| Row {
            duration: i as u32 % 2,
            protocol: ["tcp", "udp"][i % 2],
            service,
            flag: if i == 3 { "RSTO" } else { "SF" },
            bytes: Some(i as f64),
            label: if i % 2 == 0 { "normal" } else { "mscan" },
        })
        .collect()
}

fn text(rows: &[Row]) -> String {
    rows.iter().map(Row::line).collect()
}

/// Writes the generated pair, ingests it and returns the ingest output directory.
fn ingest_pair(dir: &Path) -> PathBuf {
    let training = dir.join("train.txt");
    let test = dir.join("test.txt");
    std::fs::write(&training, text(&training_rows())).unwrap();
    std::fs::write(&test, text(&test_rows())).unwrap();

    let mut config: IngestConfig =
        toml::from_str(r#"label = { column = "label", normal = ["normal"] }"#).unwrap();
    config.header = false;
    config.columns = Some(COLUMNS.iter().map(|name| name.to_string()).collect());
    config.path = Some(training);
    config.test = Some(TestFile { dataset: None, path: Some(test), sha256: None, format: None });

    let registry = Registry::parse("", Path::new("empty.toml")).unwrap();
    let data_dir = Path::new("unused");
    let source = ingest::resolve(&config, &registry, data_dir, &NoProgress).unwrap();
    let test_source = ingest::resolve_test(&config, &registry, data_dir, &NoProgress).unwrap();
    let out = dir.join("ingest");
    std::fs::create_dir(&out).unwrap();
    ingest::run(&config, &source, test_source.as_ref(), &out, &NoProgress).unwrap();
    out
}

/// The outputs of one preprocess run.
struct Preprocessed {
    out: PathBuf,
    summary: PreprocessSummary,
    train: FeatureTable,
    validation: FeatureTable,
    test: FeatureTable,
}

impl Preprocessed {
    fn transform(&self) -> Transform {
        common::read_json(&self.out.join("transform.json")).unwrap()
    }
}

fn preprocess(dir: &Path, ingest_dir: &Path, config: &PreprocessConfig) -> Preprocessed {
    let out = dir.join("preprocess");
    std::fs::create_dir(&out).unwrap();
    let summary = preprocess::run(config, 42, ingest_dir, &out).unwrap();
    let read = |name: &str| FeatureTable::read(&out.join(format!("{name}.parquet"))).unwrap();
    Preprocessed {
        summary,
        train: read("train"),
        validation: read("validation"),
        test: read("test"),
        out,
    }
}

fn config(encoding: Encoding, max_categories: usize) -> PreprocessConfig {
    PreprocessConfig {
        drop: vec!["difficulty".into()],
        encoding,
        max_categories,
        ..PreprocessConfig::default()
    }
}

/// Returns the value of one named column in one row.
fn value(table: &FeatureTable, row: usize, column: &str) -> f32 {
    let position = table.features.iter().position(|name| name == column);
    table.row(row)[position.unwrap_or_else(|| panic!("no feature {column}"))]
}

/// Counts the services of the training split's rows, most frequent first, ties by name.
fn ranked_training_services(train: &FeatureTable) -> Vec<&'static str> {
    let rows = training_rows();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for &row_id in &train.row_ids {
        *counts.entry(rows[row_id as usize].service).or_default() += 1;
    }
    let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.into_iter().map(|(service, _)| service).collect()
}

#[test]
fn test_file_becomes_the_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    let output = preprocess(dir.path(), &ingest_dir, &config(Encoding::OneHot, 20));

    assert_eq!(output.summary.split_method, "stratified+test-file");
    // At 0.6 : 0.2, that is 3 : 1, the 32 normal rows split into 24 and 8, and the 8 attacks
    // into 6 and 2.
    assert_eq!(output.train.rows(), 30);
    assert_eq!(output.validation.rows(), 10);
    assert_eq!(output.train.positives(), 6);
    assert_eq!(output.validation.positives(), 2);
    assert_eq!(output.test.rows(), 8);
    assert_eq!(output.test.row_ids, (0..8).collect::<Vec<u64>>());
    assert_eq!(output.test.labels, [0, 1, 0, 1, 0, 1, 0, 1]);
    let mut training_ids: Vec<u64> =
        output.train.row_ids.iter().chain(&output.validation.row_ids).copied().collect();
    training_ids.sort_unstable();
    assert_eq!(training_ids, (0..40).collect::<Vec<u64>>());
    let counts = &output.summary.splits;
    assert_eq!(counts["test"].normal + counts["test"].anomaly, 8);
}

#[test]
fn onehot_pools_rare_and_unseen_categories() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    let output = preprocess(dir.path(), &ingest_dir, &config(Encoding::OneHot, 2));

    let ranked = ranked_training_services(&output.train);
    assert_eq!(ranked.len(), 4);
    let kept_services = &ranked[..2];
    let mut expected = vec!["duration".to_string()];
    // Every protocol and flag fits in 2 categories except protocol's third, which is pooled.
    let transform = output.transform();
    let FeatureTransform::OneHot(protocol) = &transform.features[1] else { panic!() };
    assert_eq!(protocol.pooled, 1);
    expected.extend(protocol.categories.iter().map(|category| format!("protocol={category}")));
    expected.push("protocol=__other".into());
    expected.extend(kept_services.iter().map(|service| format!("service={service}")));
    expected.push("service=__other".into());
    expected.extend(["flag=SF", "flag=REJ", "flag=__other", "bytes", "constant"].map(String::from));
    assert_eq!(output.summary.features, expected);
    assert_eq!(output.test.features, expected);

    // Each test row has exactly one service column set: its own if kept, else `__other` for
    // pooled services, `tftp_u` (never seen) and the missing service.
    for (row, test_row) in test_rows().iter().enumerate() {
        let own = kept_services.iter().find(|service| **service == test_row.service);
        for service in kept_services {
            let expected = f32::from(own == Some(service));
            assert_eq!(value(&output.test, row, &format!("service={service}")), expected);
        }
        let other = f32::from(own.is_none());
        assert_eq!(value(&output.test, row, "service=__other"), other, "test row {row}");
    }
    assert_eq!(value(&output.test, 1, "service=__other"), 1.0);
    assert_eq!(value(&output.test, 3, "flag=__other"), 1.0);

    // One-hot columns keep their 0 and 1 in every split, unscaled.
    for table in [&output.train, &output.validation, &output.test] {
        for (j, name) in table.features.iter().enumerate() {
            if name.contains('=') {
                assert!((0..table.rows()).all(|i| matches!(table.row(i)[j], 0.0 | 1.0)), "{name}");
            }
        }
    }
}

#[test]
fn ordinal_codes_unseen_categories_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    let config = PreprocessConfig { scaling: Scaling::None, ..config(Encoding::Ordinal, 2) };
    let output = preprocess(dir.path(), &ingest_dir, &config);

    let names = ["duration", "protocol", "service", "flag", "bytes", "constant"];
    assert_eq!(output.summary.features, names);
    // Ordinal encoding keeps all 4 training services despite `max_categories = 2`.
    let ranked = ranked_training_services(&output.train);
    for (row, test_row) in test_rows().iter().enumerate() {
        let code = ranked.iter().position(|service| *service == test_row.service);
        let expected = code.map_or(0.0, |code| (code + 1) as f32);
        assert_eq!(value(&output.test, row, "service"), expected, "test row {row}");
    }
    assert_eq!(value(&output.test, 1, "service"), 0.0);
    assert_eq!(value(&output.test, 4, "service"), 0.0);
    assert_eq!(value(&output.test, 3, "flag"), 0.0);
}

#[test]
fn ordinal_unknown_code_is_scaled_with_training_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    let output = preprocess(dir.path(), &ingest_dir, &config(Encoding::Ordinal, 20));

    let ranked = ranked_training_services(&output.train);
    let rows = training_rows();
    let codes: Vec<f64> = output
        .train
        .row_ids
        .iter()
        .map(|&id| {
            let service = rows[id as usize].service;
            (ranked.iter().position(|s| *s == service).unwrap() + 1) as f64
        })
        .collect();
    let mean = codes.iter().sum::<f64>() / codes.len() as f64;
    let variance = codes.iter().map(|code| (code - mean).powi(2)).sum::<f64>() / codes.len() as f64;
    let unknown = ((0.0 - mean) / variance.sqrt()) as f32;
    assert!((value(&output.test, 1, "service") - unknown).abs() < 1e-6);
}

#[test]
fn transform_json_reproduces_every_split() {
    for encoding in [Encoding::OneHot, Encoding::Ordinal] {
        let dir = tempfile::tempdir().unwrap();
        let ingest_dir = ingest_pair(dir.path());
        let output = preprocess(dir.path(), &ingest_dir, &config(encoding, 2));
        let transform = output.transform();

        // The test split is the whole ingested test file.
        let (test, _) = transform.apply_file(&ingest_dir.join("test.parquet")).unwrap();
        assert_eq!(test, output.test, "{encoding:?}");

        // Train and validation are rows of the training file, picked by `_row_id`.
        let (all, _) = transform.apply_file(&ingest_dir.join("data.parquet")).unwrap();
        for split in [&output.train, &output.validation] {
            for (i, &row_id) in split.row_ids.iter().enumerate() {
                assert_eq!(all.row(row_id as usize), split.row(i), "{encoding:?} {row_id}");
            }
        }

        // Writing the parsed transform again gives the same JSON.
        let text = std::fs::read_to_string(output.out.join("transform.json")).unwrap();
        assert_eq!(serde_json::to_string_pretty(&transform).unwrap(), text);
    }
}

#[test]
fn constant_column_scales_to_zero_not_nan() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    let output = preprocess(dir.path(), &ingest_dir, &config(Encoding::OneHot, 20));
    for table in [&output.train, &output.validation, &output.test] {
        assert!(table.values.iter().all(|value| value.is_finite()));
        assert!((0..table.rows()).all(|i| value(table, i, "constant") == 0.0));
    }
    let imputed: BTreeMap<String, u64> = output.summary.imputed.values().flatten().fold(
        BTreeMap::new(),
        |mut total, (column, count)| {
            *total.entry(column.clone()).or_default() += count;
            total
        },
    );
    // Row 7's `bytes` is missing. The missing test service is a category, so it is not imputed.
    assert_eq!(imputed, BTreeMap::from([("bytes".to_string(), 1)]));
}

#[test]
fn declared_numeric_column_is_categorical() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    let config =
        PreprocessConfig { categorical: vec!["duration".into()], ..config(Encoding::OneHot, 20) };
    let output = preprocess(dir.path(), &ingest_dir, &config);
    let names: Vec<&str> = output.summary.features.iter().map(String::as_str).take(4).collect();
    assert_eq!(names[3], "duration=__other");
    let mut durations: Vec<&str> = names[..3].to_vec();
    durations.sort_unstable();
    assert_eq!(durations, ["duration=0", "duration=1", "duration=2"]);
}

#[test]
fn zero_test_fraction_needs_test_file() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    std::fs::remove_file(ingest_dir.join("test.parquet")).unwrap();
    let mut config = config(Encoding::OneHot, 20);
    config.split = toml::from_str("train = 0.8\nvalidation = 0.2").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let error = preprocess::run(&config, 1, &ingest_dir, &out).unwrap_err().to_string();
    assert!(error.contains("the test fraction is 0, which leaves no test rows"), "{error}");
}

#[test]
fn without_test_file_all_splits_come_from_data() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_pair(dir.path());
    std::fs::remove_file(ingest_dir.join("test.parquet")).unwrap();
    let output = preprocess(dir.path(), &ingest_dir, &config(Encoding::OneHot, 20));
    assert_eq!(output.summary.split_method, "stratified");
    assert_eq!(output.train.rows() + output.validation.rows() + output.test.rows(), 40);
}
