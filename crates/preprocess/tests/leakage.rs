//! Leakage guard: rows outside the training split must have no influence on anything fitted.
//!
//! The test writes an ingested table, preprocesses it, then changes one value of a
//! validation row and one of a test row to an extreme and preprocesses again. The fitted
//! transform and the training split must come out byte for byte the same.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, UInt8Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use common::FeatureTable;
use preprocess::PreprocessConfig;

const ROWS: usize = 400;

fn write_table(dir: &Path, amounts: &[f64]) {
    let schema = Schema::new(vec![
        Field::new(common::ROW_ID, DataType::UInt64, false),
        Field::new(common::LABEL, DataType::UInt8, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("v1", DataType::Float64, true),
    ]);
    let row_ids: Vec<u64> = (0..ROWS as u64).collect();
    let labels: Vec<u8> = (0..ROWS).map(|i| u8::from(i % 200 % 10 == 0)).collect();
    // Row i and row i + 200 share v1 and the label, so repeated amounts repeat whole rows.
    let v1: Vec<Option<f64>> = (0..ROWS)
        .map(|i| if i % 200 % 37 == 5 { None } else { Some((i % 200 % 13) as f64 - 6.0) })
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt64Array::from(row_ids)),
            Arc::new(UInt8Array::from(labels)),
            Arc::new(Float64Array::from(amounts.to_vec())),
            Arc::new(Float64Array::from(v1)),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    common::write_parquet(&dir.join("data.parquet"), &batch).unwrap();
}

fn preprocess(work: &Path, name: &str, amounts: &[f64]) -> std::path::PathBuf {
    let ingest_dir = work.join(format!("{name}-ingest"));
    let out_dir = work.join(format!("{name}-out"));
    write_table(&ingest_dir, amounts);
    std::fs::create_dir_all(&out_dir).unwrap();
    let config = PreprocessConfig { log1p: vec!["amount".into()], ..PreprocessConfig::default() };
    preprocess::run(&config, 7, &ingest_dir, &out_dir).unwrap();
    out_dir
}

#[test]
fn held_out_rows_do_not_change_the_fit() {
    let work = tempfile::tempdir().unwrap();
    let amounts: Vec<f64> = (0..ROWS).map(|i| (i * 7 % 101) as f64).collect();
    let original = preprocess(work.path(), "original", &amounts);

    let validation = FeatureTable::read(&original.join("validation.parquet")).unwrap();
    let test = FeatureTable::read(&original.join("test.parquet")).unwrap();
    let mut changed = amounts.clone();
    changed[validation.row_ids[0] as usize] = 1e12;
    changed[test.row_ids[0] as usize] = 1e12;
    let altered = preprocess(work.path(), "altered", &changed);

    for file in ["transform.json", "train.parquet"] {
        let before = std::fs::read(original.join(file)).unwrap();
        let after = std::fs::read(altered.join(file)).unwrap();
        assert!(before == after, "{file} changed when only held-out rows changed");
    }
    // The altered rows themselves are transformed with the unchanged fit.
    let altered_test = FeatureTable::read(&altered.join("test.parquet")).unwrap();
    assert_eq!(altered_test.row_ids, test.row_ids);
    assert!(altered_test.row(0)[0] > test.row(0)[0]);
}

#[test]
fn training_rows_do_change_the_fit() {
    let work = tempfile::tempdir().unwrap();
    let amounts: Vec<f64> = (0..ROWS).map(|i| (i * 7 % 101) as f64).collect();
    let original = preprocess(work.path(), "original", &amounts);

    let train = FeatureTable::read(&original.join("train.parquet")).unwrap();
    let mut changed = amounts.clone();
    changed[train.row_ids[0] as usize] = 1e12;
    let altered = preprocess(work.path(), "altered", &changed);
    let before = std::fs::read(original.join("transform.json")).unwrap();
    let after = std::fs::read(altered.join("transform.json")).unwrap();
    assert_ne!(before, after, "the check above could not fail if training rows had no effect");
}

#[test]
fn duplicates_across_splits_are_counted_and_removed() {
    let work = tempfile::tempdir().unwrap();
    // The second half of the table repeats the first half exactly (v1 has period 13).
    let amounts: Vec<f64> = (0..ROWS).map(|i| ((i % (ROWS / 2)) * 7 % 101) as f64).collect();
    let table_dir = work.path().join("ingest");
    write_table(&table_dir, &amounts);
    let run = |deduplicate: bool, name: &str| {
        let out = work.path().join(name);
        std::fs::create_dir_all(&out).unwrap();
        let config = PreprocessConfig { deduplicate, ..PreprocessConfig::default() };
        preprocess::run(&config, 7, &table_dir, &out).unwrap()
    };

    let kept = run(false, "kept");
    let repeated: u64 = kept.duplicates_of_training.values().sum();
    assert!(repeated > 0, "{:?}", kept.duplicates_of_training);
    assert_eq!(kept.deduplicated, 0);

    let removed = run(true, "removed");
    assert_eq!(removed.deduplicated, (ROWS / 2) as u64);
    assert_eq!(
        removed.duplicates_of_training.values().sum::<u64>(),
        0,
        "{:?}",
        removed.duplicates_of_training
    );
    let rows: u64 = removed.splits.values().map(|c| c.normal + c.anomaly).sum();
    assert_eq!(rows, (ROWS / 2) as u64);
}

#[test]
fn id_like_column_is_rejected_unless_kept() {
    let work = tempfile::tempdir().unwrap();
    let ids: Vec<f64> = (0..ROWS).map(|i| (10_000 + i) as f64).collect();
    let table_dir = work.path().join("ingest");
    write_table(&table_dir, &ids);
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();

    let error = preprocess::run(&PreprocessConfig::default(), 7, &table_dir, &out).unwrap_err();
    assert!(error.to_string().contains("column `amount` has a distinct value"), "{error}");

    let config =
        PreprocessConfig { keep_distinct: vec!["amount".into()], ..PreprocessConfig::default() };
    preprocess::run(&config, 7, &table_dir, &out).unwrap();
}
