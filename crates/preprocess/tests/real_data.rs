//! Ingest and preprocess of the real NSL-KDD files in the shared data folder beside the
//! repository: the 20 % training subset `KDDTrain+_20Percent.txt` as the training file and
//! `KDDTest+.txt.gz` as the test file.
//!
//! The figures were computed independently with Python's `csv` module from the same files.
//! The training file has 25,192 rows and the test file 22,544. The service `tftp_u` occurs
//! once in the test file (0-based row 12163) and never in the training file. The columns
//! `num_outbound_cmds` and `is_host_login` are 0 in every training row, and `is_host_login`
//! is 1 in 11 test rows.
//! When the data folder is missing, each test prints a note and passes, except under CI
//! (`CI=true`), where it fails.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray};

use common::{FeatureTable, NoProgress};
use ingest::{IngestConfig, LabelRule, Registry, TestFile};
use preprocess::{Encoding, FeatureTransform, PreprocessConfig, Scaling, Transform};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");
const REGISTRY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/registry.toml");

/// The 41 KDD Cup 1999 feature names, in file order, from `kddcup.names`.
const KDD_FEATURES: [&str; 41] = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
];

/// The test file's only row with the service `tftp_u`, which training never has.
const TFTP_U_ROW: usize = 12_163;

/// Returns the shared data folder, or `None` (after a note) when it is missing outside CI.
fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(DATA_DIR);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the shared data folder {} is missing, and CI requires it", dir.display());
    }
    eprintln!("note: skipping, because the shared data folder {} is missing", dir.display());
    None
}

/// Ingests the NSL-KDD pair into `dir/ingest` and returns that directory.
fn ingest_nsl_kdd(data_dir: &Path, dir: &Path) -> PathBuf {
    let mut columns: Vec<String> = KDD_FEATURES.iter().map(|name| name.to_string()).collect();
    columns.extend(["label".to_string(), "difficulty".to_string()]);
    let mut config = IngestConfig::from_dataset(
        "nsl-kdd-train-20-percent",
        LabelRule::new("label", &[]).with_normal(&["normal"]),
    );
    config.header = false;
    config.columns = Some(columns);
    config.test = Some(TestFile {
        dataset: Some("nsl-kdd-test".to_string()),
        path: None,
        sha256: None,
        format: None,
    });

    let registry = Registry::load(Path::new(REGISTRY)).unwrap();
    let source = ingest::resolve(&config, &registry, data_dir, &NoProgress).unwrap();
    let test_source = ingest::resolve_test(&config, &registry, data_dir, &NoProgress).unwrap();
    let out = dir.join("ingest");
    std::fs::create_dir(&out).unwrap();
    ingest::run(&config, &source, test_source.as_ref(), &out, &NoProgress).unwrap();
    out
}

/// The three preprocessed splits and the transform.
struct Splits {
    train: FeatureTable,
    validation: FeatureTable,
    test: FeatureTable,
    transform: Transform,
}

fn preprocess(ingest_dir: &Path, dir: &Path, config: &PreprocessConfig) -> Splits {
    let out = dir.join("preprocess");
    std::fs::create_dir(&out).unwrap();
    let summary = preprocess::run(config, 42, ingest_dir, &out).unwrap();
    assert_eq!(summary.split_method, "stratified+test-file");
    assert_eq!(summary.dropped, ["difficulty"]);
    let read = |name: &str| FeatureTable::read(&out.join(format!("{name}.parquet"))).unwrap();
    Splits {
        train: read("train"),
        validation: read("validation"),
        test: read("test"),
        transform: common::read_json(&out.join("transform.json")).unwrap(),
    }
}

fn nsl_kdd_config(encoding: Encoding) -> PreprocessConfig {
    PreprocessConfig {
        drop: vec!["difficulty".into()],
        categorical: vec!["protocol_type".into(), "service".into(), "flag".into()],
        encoding,
        ..PreprocessConfig::default()
    }
}

fn column(table: &FeatureTable, name: &str) -> usize {
    table.features.iter().position(|feature| feature == name).unwrap()
}

/// Reads the `service` column of an ingested table.
fn services(path: &Path) -> Vec<String> {
    let batch = common::read_parquet(path).unwrap();
    let column = batch.column_by_name("service").unwrap();
    let texts = column.as_any().downcast_ref::<StringArray>().unwrap();
    texts.iter().map(|text| text.unwrap().to_string()).collect()
}

/// Returns the services of the training split's rows, and the test rows whose service is not
/// among them.
fn training_services(ingest_dir: &Path, train: &FeatureTable) -> (HashSet<String>, Vec<usize>) {
    let data = services(&ingest_dir.join("data.parquet"));
    let seen: HashSet<String> = train.row_ids.iter().map(|&id| data[id as usize].clone()).collect();
    let test = services(&ingest_dir.join("test.parquet"));
    let unseen = (0..test.len()).filter(|&i| !seen.contains(&test[i])).collect();
    (seen, unseen)
}

#[test]
fn nsl_kdd_onehot_maps_unseen_service_to_other() {
    let Some(data_dir) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_nsl_kdd(&data_dir, dir.path());
    let splits = preprocess(&ingest_dir, dir.path(), &nsl_kdd_config(Encoding::OneHot));

    assert_eq!(splits.train.rows() + splits.validation.rows(), 25_192);
    assert_eq!(splits.test.rows(), 22_544);
    // 11,743 training attacks split 0.75 : 0.25 within their class.
    assert_eq!(splits.train.positives() + splits.validation.positives(), 11_743);
    assert_eq!(splits.test.positives(), 12_833);
    for table in [&splits.train, &splits.validation, &splits.test] {
        assert!(table.values.iter().all(|value| value.is_finite()));
    }

    // 3 protocols and 11 flags fit under the cap of 20; the training file's 66 services do
    // not, and the cap pools those of the training split beyond the 20 most frequent.
    let (seen, unseen) = training_services(&ingest_dir, &splits.train);
    assert!(unseen.contains(&TFTP_U_ROW));
    let FeatureTransform::OneHot(service) = &splits.transform.features[2] else { panic!() };
    assert_eq!(service.name, "service");
    assert_eq!(service.categories.len(), 20);
    assert_eq!(service.pooled, seen.len() - 20);
    assert!(!service.categories.iter().any(|category| category == "tftp_u"));
    let width = 1 + (3 + 1) + (20 + 1) + (11 + 1) + 37;
    assert_eq!(splits.test.width(), width);
    assert!(splits.test.features.iter().all(|name| name != "difficulty" && name != "label"));

    let other = column(&splits.test, "service=__other");
    assert_eq!(splits.test.row(TFTP_U_ROW)[other], 1.0);
    let kept_columns: Vec<usize> = service
        .categories
        .iter()
        .map(|category| column(&splits.test, &format!("service={category}")))
        .collect();
    assert!(kept_columns.iter().all(|&j| splits.test.row(TFTP_U_ROW)[j] == 0.0));
    // Every row sets exactly one service column.
    for i in 0..splits.test.rows() {
        let row = splits.test.row(i);
        let ones: f32 = kept_columns.iter().map(|&j| row[j]).sum::<f32>() + row[other];
        assert_eq!(ones, 1.0, "test row {i}");
    }

    // The training constants scale to 0 in training, and test values pass through with std 1.
    let outbound = column(&splits.train, "num_outbound_cmds");
    let host_login = column(&splits.train, "is_host_login");
    for table in [&splits.train, &splits.validation] {
        assert!((0..table.rows()).all(|i| table.row(i)[outbound] == 0.0));
        assert!((0..table.rows()).all(|i| table.row(i)[host_login] == 0.0));
    }
    let ones = (0..splits.test.rows()).filter(|&i| splits.test.row(i)[host_login] == 1.0).count();
    assert_eq!(ones, 11);
}

#[test]
fn nsl_kdd_ordinal_codes_unseen_service_as_zero() {
    let Some(data_dir) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ingest_dir = ingest_nsl_kdd(&data_dir, dir.path());
    let config = PreprocessConfig { scaling: Scaling::None, ..nsl_kdd_config(Encoding::Ordinal) };
    let splits = preprocess(&ingest_dir, dir.path(), &config);

    assert_eq!(splits.train.rows() + splits.validation.rows(), 25_192);
    assert_eq!(splits.test.rows(), 22_544);
    assert_eq!(splits.test.width(), 41);
    for table in [&splits.train, &splits.validation, &splits.test] {
        assert!(table.values.iter().all(|value| value.is_finite()));
    }
    let service = column(&splits.test, "service");
    assert_eq!(splits.test.row(TFTP_U_ROW)[service], 0.0);
    // Code 0 marks exactly the test rows whose service the training split lacks: `tftp_u`,
    // and any rare training service that the seeded split put in validation only.
    let (_, unseen) = training_services(&ingest_dir, &splits.train);
    let unknown: Vec<usize> =
        (0..splits.test.rows()).filter(|&i| splits.test.row(i)[service] == 0.0).collect();
    assert_eq!(unknown, unseen);
    // Every training row has a known service, so a code from 1 up.
    assert!((0..splits.train.rows()).all(|i| splits.train.row(i)[service] >= 1.0));
}
