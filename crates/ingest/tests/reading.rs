//! Reading small generated files end to end: CSV dialects, type inference, missing values,
//! labels, duplicates, gzip and Parquet input, and the errors for malformed input.
//!
//! Each test writes its input into a temporary directory, reads it through `resolve` and `run`
//! with `path = ...`, and checks `summary.json`'s contents and `data.parquet`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt8Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use common::{DatasetSummary, NoProgress};
use ingest::{Error, IngestConfig, Registry};

/// The result of ingesting one generated file.
struct Ingested {
    summary: DatasetSummary,
    batch: RecordBatch,
}

impl Ingested {
    fn numbers(&self, column: &str) -> Vec<Option<f64>> {
        let column = self.batch.column_by_name(column).unwrap();
        column.as_any().downcast_ref::<Float64Array>().unwrap().iter().collect()
    }

    fn texts(&self, column: &str) -> Vec<Option<String>> {
        let column = self.batch.column_by_name(column).unwrap();
        let texts = column.as_any().downcast_ref::<StringArray>().unwrap();
        texts.iter().map(|text| text.map(str::to_string)).collect()
    }

    fn labels(&self) -> Vec<u8> {
        let column = self.batch.column_by_name("_label").unwrap();
        column.as_any().downcast_ref::<UInt8Array>().unwrap().values().to_vec()
    }

    fn kind(&self, column: &str) -> &str {
        &self.summary.columns.iter().find(|summary| summary.name == column).unwrap().kind
    }

    fn nulls(&self, column: &str) -> u64 {
        self.summary.columns.iter().find(|summary| summary.name == column).unwrap().nulls
    }
}

/// Writes `contents` to `file_name` in a temporary directory and ingests it with the
/// configuration `settings` (TOML, without `path`, which is added).
fn try_ingest(file_name: &str, contents: &[u8], settings: &str) -> ingest::Result<Ingested> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, contents).unwrap();
    ingest_path(&path, settings)
}

fn ingest_path(path: &Path, settings: &str) -> ingest::Result<Ingested> {
    let mut config: IngestConfig = toml::from_str(settings).unwrap();
    config.path = Some(path.to_path_buf());
    let registry = Registry::parse("", Path::new("empty.toml")).unwrap();
    let source = ingest::resolve(&config, &registry, Path::new("unused"), &NoProgress)?;
    let out = tempfile::tempdir().unwrap();
    let summary = ingest::run(&config, &source, None, out.path(), &NoProgress)?.summary;
    let batch = common::read_parquet(&out.path().join(ingest::DATA_FILE)).unwrap();
    Ok(Ingested { summary, batch })
}

fn ingest(file_name: &str, contents: &[u8], settings: &str) -> Ingested {
    try_ingest(file_name, contents, settings).unwrap()
}

fn ingest_error(file_name: &str, contents: &[u8], settings: &str) -> String {
    match try_ingest(file_name, contents, settings) {
        Ok(_) => panic!("ingesting {file_name} succeeded"),
        Err(error) => error.to_string(),
    }
}

const LABEL_1: &str = r#"label = { column = "label", anomaly = ["1"] }"#;

#[test]
fn quoted_fields_keep_commas_and_newlines() {
    let csv = "id,text,label\n1,\"a, b\",0\n2,\"first line\nsecond line\",1\n3,plain,0\n";
    let table = ingest("quoted.csv", csv.as_bytes(), LABEL_1);
    assert_eq!(table.summary.rows, 3);
    let expected = ["a, b", "first line\nsecond line", "plain"].map(|text| Some(text.to_string()));
    assert_eq!(table.texts("text"), expected);
    assert_eq!(table.numbers("id"), [Some(1.0), Some(2.0), Some(3.0)]);
    assert_eq!(table.labels(), [0, 1, 0]);
}

#[test]
fn quoted_newline_keeps_line_numbers_of_later_rows() {
    // The record after the two-line quoted field starts on line 4.
    let csv = "id,text,label\n1,\"two\nlines\",0\nx,y,0\n";
    let error = ingest_error(
        "lines.csv",
        csv.as_bytes(),
        &format!("types = {{ id = \"int\" }}\n{LABEL_1}"),
    );
    assert!(error.contains("lines.csv: line 4, column `id`: value `x`"), "{error}");
}

#[test]
fn byte_order_mark_is_stripped() {
    let csv = "\u{feff}amount,label\n1.5,0\n2.5,1\n";
    let table = ingest("bom.csv", csv.as_bytes(), LABEL_1);
    assert_eq!(table.summary.columns[0].name, "amount");
    assert_eq!(table.numbers("amount"), [Some(1.5), Some(2.5)]);
}

#[test]
fn crlf_line_endings_are_read() {
    let csv = "a,b,label\r\n1,x,0\r\n2,y,1\r\n";
    let table = ingest("crlf.csv", csv.as_bytes(), LABEL_1);
    assert_eq!(table.summary.rows, 2);
    assert_eq!(table.texts("b"), [Some("x".to_string()), Some("y".to_string())]);
    assert_eq!(table.labels(), [0, 1]);
    assert_eq!(table.kind("a"), "int");
}

#[test]
fn semicolon_delimiter_is_used() {
    let csv = "a;b;label\n1.5;x,y;0\n2.5;z;1\n";
    let table = ingest("semi.csv", csv.as_bytes(), &format!("delimiter = \";\"\n{LABEL_1}"));
    assert_eq!(table.numbers("a"), [Some(1.5), Some(2.5)]);
    assert_eq!(table.texts("b"), [Some("x,y".to_string()), Some("z".to_string())]);
}

#[test]
fn tab_delimiter_is_used() {
    let csv = "a\tlabel\n1\t0\n2\t1\n";
    let table = ingest("tab.tsv", csv.as_bytes(), &format!("delimiter = \"\\t\"\n{LABEL_1}"));
    assert_eq!(table.numbers("a"), [Some(1.0), Some(2.0)]);
}

#[test]
fn header_only_file_is_an_error() {
    let error = ingest_error("header.csv", b"a,label\n", LABEL_1);
    assert!(error.contains("header.csv: the file has a header but no data rows"), "{error}");
}

#[test]
fn empty_file_is_an_error() {
    let error = ingest_error("empty.csv", b"", LABEL_1);
    assert!(error.contains("empty.csv: the file is empty"), "{error}");
    let blank_lines = ingest_error("blank.csv", b"\n\n", LABEL_1);
    assert!(blank_lines.contains("blank.csv: the file is empty"), "{blank_lines}");
}

#[test]
fn missing_label_column_lists_available_columns() {
    let csv = "Time,Amount,label\n1,2,0\n";
    let settings = r#"label = { column = "Class", anomaly = ["1"] }"#;
    let error = ingest_error("nolabel.csv", csv.as_bytes(), settings);
    let expected = "nolabel.csv: no column `Class` (named in `label.column`); available columns: \
                    Time, Amount, label";
    assert!(error.ends_with(expected), "{error}");
}

#[test]
fn undeclared_type_column_is_an_error() {
    let csv = "a,label\n1,0\n";
    let error =
        ingest_error("t.csv", csv.as_bytes(), &format!("types = {{ b = \"int\" }}\n{LABEL_1}"));
    assert!(error.contains("no column `b` (named in `types`); available columns: a, label"));
}

#[test]
fn non_numeric_value_names_line_and_column() {
    let csv = "amount,label\n1.5,0\n2,0\nabc,1\n";
    let settings = format!("types = {{ amount = \"float\" }}\n{LABEL_1}");
    let error = ingest_error("values.csv", csv.as_bytes(), &settings);
    let expected = "values.csv: line 4, column `amount`: value `abc` is not a number; declare the \
                    column as string in `types`, or add the spelling to `missing`";
    assert!(error.ends_with(expected), "{error}");
}

#[test]
fn fraction_in_int_column_is_an_error() {
    let csv = "count,label\n3,0\n3.0,0\n2.5,1\n";
    let settings = format!("types = {{ count = \"int\" }}\n{LABEL_1}");
    let error = ingest_error("ints.csv", csv.as_bytes(), &settings);
    assert!(error.contains("line 4, column `count`: value `2.5` is not a whole number"), "{error}");
}

#[test]
fn types_are_inferred_from_every_value() {
    let csv = "i,f,s,mixed,empty,label\n\
               1,1.5,a,1,,0\n\
               -2,2,b,2,NA,0\n\
               +3,1e3,c,three,,1\n";
    let table = ingest("infer.csv", csv.as_bytes(), LABEL_1);
    assert_eq!(table.kind("i"), "int");
    assert_eq!(table.kind("f"), "float");
    assert_eq!(table.kind("s"), "string");
    assert_eq!(table.kind("mixed"), "string");
    assert_eq!(table.kind("empty"), "float");
    assert_eq!(table.kind("label"), "int");
    assert_eq!(table.numbers("i"), [Some(1.0), Some(-2.0), Some(3.0)]);
    assert_eq!(table.numbers("f"), [Some(1.5), Some(2.0), Some(1000.0)]);
    assert_eq!(table.texts("mixed"), ["1", "2", "three"].map(|text| Some(text.to_string())));
    assert_eq!(table.numbers("empty"), [None, None, None]);
    assert_eq!(table.nulls("empty"), 3);

    let schema = table.batch.schema();
    assert_eq!(schema.field_with_name("i").unwrap().data_type(), &DataType::Float64);
    assert_eq!(schema.field_with_name("s").unwrap().data_type(), &DataType::Utf8);
    assert!(schema.field_with_name("s").unwrap().is_nullable());
}

#[test]
fn missing_spellings_become_nulls() {
    let csv = "x,name,label\n1,a,0\nNA,?,0\n nan ,null,1\n4,N/A,0\n";
    let table = ingest("missing.csv", csv.as_bytes(), LABEL_1);
    assert_eq!(table.kind("x"), "int");
    assert_eq!(table.numbers("x"), [Some(1.0), None, None, Some(4.0)]);
    assert_eq!(table.texts("name"), [Some("a".to_string()), None, None, None]);
    assert_eq!(table.nulls("x"), 2);
    assert_eq!(table.nulls("name"), 3);
    assert_eq!(table.nulls("label"), 0);
}

#[test]
fn custom_missing_spellings_replace_defaults() {
    let csv = "x,label\n-,0\nNA,1\n";
    let settings = format!("missing = [\"-\"]\n{LABEL_1}");
    let table = ingest("custom.csv", csv.as_bytes(), &settings);
    assert_eq!(table.kind("x"), "string");
    assert_eq!(table.texts("x"), [None, Some("NA".to_string())]);
}

#[test]
fn ragged_row_names_line_and_counts() {
    let csv = "a,b,label\n1,2,0\n1,2\n";
    let error = ingest_error("ragged.csv", csv.as_bytes(), LABEL_1);
    let expected = "ragged.csv: line 3: the row has 2 fields but the header has 3; quote fields \
                    that contain the delimiter `,`, close any quote left open, or correct the row";
    assert!(error.ends_with(expected), "{error}");
}

#[test]
fn unclosed_quote_is_reported_as_a_short_row() {
    // An unclosed quote swallows the rest of the file into one field.
    let csv = "a,label\n1,0\n\"open,0\n2,1\n";
    let error = ingest_error("quote.csv", csv.as_bytes(), LABEL_1);
    assert!(
        error.contains("quote.csv: line 3: the row has 1 field but the header has 2"),
        "{error}"
    );
}

#[test]
fn headerless_file_uses_declared_columns() {
    let csv = "0.5,tcp,normal\n1.5,udp,smurf\n";
    let settings = r#"
        header = false
        columns = ["rate", "protocol", "kind"]
        label = { column = "kind", normal = ["normal"] }
    "#;
    let table = ingest("kdd.txt", csv.as_bytes(), settings);
    let names: Vec<&str> =
        table.summary.columns.iter().map(|column| column.name.as_str()).collect();
    assert_eq!(names, ["rate", "protocol", "kind"]);
    assert_eq!(table.labels(), [0, 1]);
    assert_eq!(table.texts("protocol"), [Some("tcp".to_string()), Some("udp".to_string())]);
}

#[test]
fn headerless_file_without_columns_gets_numbered_names() {
    let csv = "1,2,0\n3,4,1\n";
    let settings = r#"
        header = false
        label = { column = "column_3", anomaly = [1] }
    "#;
    let table = ingest("plain.csv", csv.as_bytes(), settings);
    assert_eq!(table.numbers("column_1"), [Some(1.0), Some(3.0)]);
    assert_eq!(table.labels(), [0, 1]);
}

#[test]
fn header_must_match_declared_columns() {
    let csv = "a,b,label\n1,2,0\n";
    let settings = format!("columns = [\"a\", \"c\", \"label\"]\n{LABEL_1}");
    let error = ingest_error("header.csv", csv.as_bytes(), &settings);
    let expected = "header.csv: the file's columns differ from `columns` at column 2: the file \
                    has `b` where `columns` has `c`";
    assert!(error.contains(expected), "{error}");

    let settings = format!("columns = [\"a\", \"b\"]\n{LABEL_1}");
    let error = ingest_error("header.csv", csv.as_bytes(), &settings);
    assert!(error.contains("at column 3: the file has `label` where `columns` has no column"));
}

#[test]
fn repeated_header_name_is_an_error() {
    let error = ingest_error("dup.csv", b"a,a,label\n1,2,0\n", LABEL_1);
    assert!(error.contains("dup.csv: column 2 repeats the name `a`"), "{error}");
}

#[test]
fn numeric_labels_compare_as_numbers() {
    let csv = "x,label\n1,1.0\n2,0\n3, 1 \n4,0.0\n";
    let settings = r#"label = { column = "label", anomaly = [1], normal = [0] }"#;
    let table = ingest("labels.csv", csv.as_bytes(), settings);
    assert_eq!(table.labels(), [1, 0, 1, 0]);
    assert_eq!(table.summary.label_counts.anomaly, 2);
    let values: Vec<(&str, u64)> =
        table.summary.label_values.iter().map(|(value, rows)| (value.as_str(), *rows)).collect();
    assert_eq!(values, [("0", 1), ("0.0", 1), ("1", 1), ("1.0", 1)]);
}

#[test]
fn label_outside_both_lists_names_line_and_value() {
    let csv = "x,label\n1,0\n2,1\n3,2\n";
    let settings = r#"label = { column = "label", anomaly = ["1"], normal = ["0"] }"#;
    let error = ingest_error("labels.csv", csv.as_bytes(), settings);
    assert!(error.contains("labels.csv: line 4: label `2` in column `label`"), "{error}");
    assert!(error.contains("neither an anomaly value (1) nor a normal value (0)"), "{error}");
}

#[test]
fn missing_label_is_an_error() {
    let csv = "x,label\n1,0\n2,\n";
    let error = ingest_error("labels.csv", csv.as_bytes(), LABEL_1);
    assert!(
        error.contains("line 3: the label column `label` has the missing value \"\""),
        "{error}"
    );
}

#[test]
fn duplicates_compare_every_column_and_the_label() {
    let csv = "x,s,label\n\
               1,a,0\n\
               1,a,0\n\
               1.0,a,0\n\
               1,a,1\n\
               1,b,0\n\
               ,a,0\n\
               NA,a,0\n";
    let table = ingest("dups.csv", csv.as_bytes(), LABEL_1);
    // Rows 2 and 3 repeat row 1 (`1.0` is the number 1), and row 7 repeats row 6 (both
    // missing). Row 4 differs in the label, row 5 in `s`.
    assert_eq!(table.summary.duplicate_rows, 3);
}

#[test]
fn rows_keep_file_order_across_batches() {
    let mut csv = String::from("x,label\n");
    let rows = 70_000;
    for i in 0..rows {
        csv.push_str(&format!("{i},{}\n", u8::from(i % 7 == 0)));
    }
    let table = ingest("many.csv", csv.as_bytes(), LABEL_1);
    assert_eq!(table.summary.rows, rows);
    assert_eq!(table.summary.label_counts.anomaly, 10_000);
    let row_ids =
        table.batch.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap();
    assert!(row_ids.values().iter().copied().eq(0..rows));
    let x = table.numbers("x");
    assert!(x.iter().enumerate().all(|(i, value)| *value == Some(i as f64)));
}

#[test]
fn gzip_csv_by_extension_or_format() {
    let csv = "a,s,label\n1.5,x,0\n2.5,y,1\n";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(csv.as_bytes()).unwrap();
    let gzip = encoder.finish().unwrap();

    let by_extension = ingest("data.csv.gz", &gzip, LABEL_1);
    assert_eq!(by_extension.numbers("a"), [Some(1.5), Some(2.5)]);
    assert_eq!(by_extension.labels(), [0, 1]);

    let by_format = ingest("data.bin", &gzip, &format!("format = \"csv.gz\"\n{LABEL_1}"));
    assert_eq!(by_format.texts("s"), [Some("x".to_string()), Some("y".to_string())]);

    let error = ingest_error("data.csv", &gzip, LABEL_1);
    assert!(error.contains("the file is gzip-compressed; set `format = \"csv.gz\"`"), "{error}");
    let error = ingest_error("data.gz", csv.as_bytes(), LABEL_1);
    assert!(error.contains("the file is not gzip-compressed"), "{error}");
}

#[test]
fn parquet_input_keeps_stored_types() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("count", DataType::Int64, true),
        Field::new("rate", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("digits", DataType::Utf8, true),
        Field::new("Class", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
        Arc::new(Float64Array::from(vec![0.5, f64::NAN, 2.5])),
        Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
        Arc::new(StringArray::from(vec!["7", "NA", "9"])),
        Arc::new(Int64Array::from(vec![0, 1, 0])),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.parquet");
    common::write_parquet(&path, &batch).unwrap();

    let settings = r#"
        types = { digits = "int" }
        label = { column = "Class", anomaly = ["1.0"], normal = [0] }
    "#;
    let table = ingest_path(&path, settings).unwrap();
    assert_eq!(table.summary.rows, 3);
    assert_eq!(table.kind("count"), "int");
    assert_eq!(table.kind("rate"), "float");
    assert_eq!(table.kind("name"), "string");
    assert_eq!(table.kind("digits"), "int");
    assert_eq!(table.numbers("count"), [Some(1.0), None, Some(3.0)]);
    assert_eq!(table.numbers("rate"), [Some(0.5), None, Some(2.5)]);
    assert_eq!(table.nulls("rate"), 1);
    assert_eq!(table.texts("name"), [Some("a".to_string()), Some("b".to_string()), None]);
    assert_eq!(table.numbers("digits"), [Some(7.0), None, Some(9.0)]);
    assert_eq!(table.labels(), [0, 1, 0]);
    let values: Vec<&str> = table.summary.label_values.keys().map(String::as_str).collect();
    assert_eq!(values, ["0", "1"]);
}

#[test]
fn parquet_missing_label_column_lists_columns() {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
    let columns: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![1.0]))];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.parquet");
    common::write_parquet(&path, &batch).unwrap();

    let error = ingest_path(&path, LABEL_1).err().unwrap().to_string();
    assert!(error.contains("no column `label` (named in `label.column`); available columns: x"));
}

#[test]
fn unknown_config_key_is_rejected() {
    let settings = r#"
        dataset = "creditcard-sample"
        label = { column = "Class", anomaly = ["1"] }
        seperator = ";"
    "#;
    let error = toml::from_str::<IngestConfig>(settings).unwrap_err().to_string();
    assert!(error.contains("unknown field `seperator`"), "{error}");
    assert!(error.contains("delimiter"), "the error lists the valid keys: {error}");
}

#[test]
fn config_errors_are_reported_before_reading() {
    let error =
        try_ingest("x.csv", b"a,label\n1,0\n", r#"label = { column = "label" }"#).err().unwrap();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
}
