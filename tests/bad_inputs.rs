//! A corpus of bad inputs run through the real `xtask` binary: broken CSV, gzip and Parquet
//! files, invalid experiment files and command lines, and data that makes training diverge.
//!
//! Each case writes its files into a temporary directory, runs `xtask experiment` with a
//! private runs and cache directory, and checks the exit code, the one-line error and that the
//! failing stage published nothing. A few valid edge cases (a byte-order mark, CRLF line ends,
//! quoted fields) must succeed. Every failing case is collected and reported in one assert.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use parquet::arrow::ArrowWriter;

/// Placeholder in a case's experiment file for the case's temporary directory.
const DIR: &str = "{dir}";

/// The label rule of most cases: `1` is an anomaly, `0` is normal.
const LABEL: &str = r#"label = { column = "Class", anomaly = ["1"], normal = ["0"] }"#;

/// A train stage (one MLP epoch) and its evaluation, appended to run the whole pipeline.
const TRAIN: &str = r#"
[stages.mlp]
kind = "train"
inputs = ["split"]
model = "mlp"
hidden = [8]
epochs = 1
batch_size = 16

[stages.mlp-eval]
kind = "evaluate"
inputs = ["mlp"]
"#;

/// A sha256 that no file has.
const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One bad (or tricky but valid) input and what the binary must do with it.
struct Case {
    name: &'static str,
    /// Files written into the case's directory, by name.
    files: Vec<(&'static str, Vec<u8>)>,
    /// The experiment file, with [`DIR`] standing for the case's directory.
    config: String,
    /// Arguments after the standard ones, such as `-S` or `--force`.
    args: Vec<&'static str>,
    /// Expected exit code: 0 success, 2 invalid config, 3 unusable data, 4 training failure.
    code: i32,
    /// Substrings the last stderr line must contain.
    needles: Vec<&'static str>,
    /// The stage that fails, or `None` when nothing may be published at all.
    stage: Option<&'static str>,
}

impl Case {
    fn new(name: &'static str, config: String, code: i32, needles: &[&'static str]) -> Case {
        let stage = match code {
            3 => Some("data"),
            4 => Some("mlp"),
            _ => None,
        };
        Case {
            name,
            files: Vec::new(),
            config,
            args: Vec::new(),
            code,
            needles: needles.to_vec(),
            stage,
        }
    }

    fn file(mut self, name: &'static str, content: impl Into<Vec<u8>>) -> Case {
        self.files.push((name, content.into()));
        self
    }

    fn csv(self, content: impl Into<Vec<u8>>) -> Case {
        self.file("input.csv", content)
    }

    fn args(mut self, args: &[&'static str]) -> Case {
        self.args.extend_from_slice(args);
        self
    }

    fn stage(mut self, stage: &'static str) -> Case {
        self.stage = Some(stage);
        self
    }
}

/// Returns an experiment reading `path` (relative to the case directory) with the ingest
/// lines `ingest`, split by a default preprocess stage and followed by `tail`.
fn experiment(path: &str, ingest: &str, tail: &str) -> String {
    format!(
        r#"[experiment]
name = "bad"
device = "cpu"

[stages.data]
kind = "ingest"
path = "{DIR}/{path}"
{ingest}

[stages.split]
kind = "preprocess"
inputs = ["data"]
{tail}"#
    )
}

/// Returns an ingest and preprocess experiment on `input.csv` with `extra` ingest lines.
fn ingest(extra: &str) -> String {
    experiment("input.csv", &format!("{LABEL}\n{extra}"), "")
}

/// Returns the whole pipeline (ingest, preprocess, one MLP epoch, evaluate) on `input.csv`.
fn pipeline() -> String {
    experiment("input.csv", LABEL, TRAIN)
}

/// Returns a pipeline on `input.csv` whose train stage gets the extra line `train`, which
/// replaces the stage's own line for the same key.
fn with_train(train: &str) -> String {
    let key = train.split(" = ").next().unwrap();
    let config = pipeline();
    let stage = config.find("[stages.mlp]").unwrap();
    let (head, tail) = config.split_at(stage);
    let tail = match tail.lines().find(|line| line.starts_with(&format!("{key} = "))) {
        Some(line) => tail.replacen(line, train, 1),
        None => tail.replacen("batch_size = 16\n", &format!("batch_size = 16\n{train}\n"), 1),
    };
    format!("{head}{tail}")
}

/// Returns a CSV with the columns `a`, `b` and `Class`: `normal` rows near the origin and
/// `anomalies` rows far from it.
fn rows(normal: usize, anomalies: usize) -> String {
    let mut csv = String::from("a,b,Class\n");
    for i in 0..normal {
        csv += &format!("{:.2},{:.2},0\n", (i % 7) as f64 * 0.1, (i % 5) as f64 * 0.2);
    }
    for i in 0..anomalies {
        csv += &format!("{:.2},{:.2},1\n", 5.0 + (i % 3) as f64, -4.0 - (i % 4) as f64);
    }
    csv
}

/// Returns a CSV with `features` columns and `normal + anomalies` rows.
fn wide_rows(features: usize, normal: usize, anomalies: usize) -> String {
    let names: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    let mut csv = format!("{},Class\n", names.join(","));
    for row in 0..normal + anomalies {
        let class = u8::from(row >= normal);
        let values: Vec<String> = (0..features)
            .map(|i| format!("{}", (row * features + i) % 9 + 10 * class as usize))
            .collect();
        csv += &format!("{},{class}\n", values.join(","));
    }
    csv
}

/// Returns a CSV whose text column `note` holds, in every tenth row, a quoted value with an
/// embedded comma and newline.
fn quoted_rows(normal: usize, anomalies: usize) -> String {
    let mut csv = String::from("a,note,Class\n");
    for i in 0..normal + anomalies {
        let class = u8::from(i >= normal);
        let note = if i % 10 == 0 { "\"x, y\nz\"" } else { "plain" };
        let a = if class == 1 { 8.0 } else { (i % 7) as f64 };
        csv += &format!("{a:.1},{note},{class}\n");
    }
    csv
}

/// Returns `csv` with every feature value replaced by 1, keeping the header and the labels.
fn constant_rows(csv: &str) -> String {
    let mut lines = csv.lines();
    let mut constant = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (_, class) = line.rsplit_once(',').unwrap();
        constant += &format!("1,1,{class}\n");
    }
    constant
}

/// Returns `csv` (whose last column is the label) with the label column moved first and a
/// UTF-8 byte-order mark before the header, so that a mark left in place breaks the label.
fn with_bom_and_label_first(csv: &str) -> String {
    let mut moved = String::from("\u{feff}");
    for line in csv.lines() {
        let (features, class) = line.rsplit_once(',').unwrap();
        moved += &format!("{class},{features}\n");
    }
    moved
}

/// Returns `content` compressed with gzip.
fn gzip(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

/// Returns a Parquet file with the float columns `a` and `b` and no label column.
fn parquet_without_label() -> Vec<u8> {
    let a: ArrayRef = Arc::new(Float64Array::from(vec![0.1, 0.2, 0.3, 5.0]));
    let b: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 1.1, 0.9, -3.0]));
    let batch = RecordBatch::try_from_iter([("a", a), ("b", b)]).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes
}

fn cases() -> Vec<Case> {
    let good = rows(60, 10);
    let wide = wide_rows(12, 5, 5);
    let quoted = quoted_rows(60, 10);
    let constant = constant_rows(&good);
    let bom = with_bom_and_label_first(&good);
    let gzipped = gzip(good.as_bytes());
    let mut corrupt_gzip = gzipped.clone();
    for byte in &mut corrupt_gzip[20..40] {
        *byte ^= 0xa5;
    }

    vec![
        // Malformed files.
        Case::new("empty file", ingest(""), 3, &["input.csv", "empty", "at least one data row"])
            .csv(""),
        Case::new("header only", ingest(""), 3, &["input.csv", "no data rows"]).csv("a,b,Class\n"),
        Case::new(
            "ragged row",
            ingest(""),
            3,
            &["input.csv", "line 3", "2 fields", "quote fields"],
        )
        .csv("a,b,Class\n1,2,0\n3,4\n5,6,1\n"),
        Case::new(
            "not utf-8",
            ingest(""),
            3,
            &["input.csv", "line 3", "field 2", "convert the file to UTF-8"],
        )
        .csv(b"a,b,Class\n1,2,0\n1,\xff\xfe,0\n".to_vec()),
        Case::new(
            "truncated gzip",
            experiment("input.csv.gz", LABEL, ""),
            3,
            &[
                "input.csv.gz",
                "incomplete deflate stream",
                "truncated",
                "compress or download it again",
            ],
        )
        .file("input.csv.gz", gzipped[..gzipped.len() / 2].to_vec()),
        Case::new(
            "corrupt gzip",
            experiment("input.csv.gz", LABEL, ""),
            3,
            &["input.csv.gz", "corrupt", "damaged", "compress or download it again"],
        )
        .file("input.csv.gz", corrupt_gzip),
        Case::new(
            "parquet missing label column",
            experiment("input.parquet", LABEL, ""),
            3,
            &["input.parquet", "`Class`", "available columns: a, b"],
        )
        .file("input.parquet", parquet_without_label()),
        Case::new(
            "wrong delimiter declared",
            ingest("delimiter = \";\""),
            3,
            &["input.csv", "`Class`", "a,b,Class", "set `delimiter = \",\"`"],
        )
        .csv(good.clone()),
        Case::new(
            "duplicate column names",
            ingest(""),
            3,
            &["input.csv", "column 2", "`a`", "distinct name"],
        )
        .csv("a,a,Class\n1,2,0\n3,4,1\n"),
        Case::new(
            "text in float column",
            ingest("types = { b = \"float\" }"),
            3,
            &["input.csv", "line 3", "`b`", "`abc`", "`missing`"],
        )
        .csv("a,b,Class\n1,2,0\n3,abc,1\n"),
        Case::new(
            "label column missing",
            ingest(""),
            3,
            &["input.csv", "`Class`", "available columns"],
        )
        .csv("a,b,Label\n1,2,0\n"),
        // Values that make the data unusable.
        Case::new("infinity in a column", ingest(""), 3, &["value inf", "`a`", "row 0", "missing"])
            .csv(good.replacen("0.00,0.00,0", "inf,0.00,0", 1))
            .stage("split"),
        Case::new(
            "nan when not a missing marker",
            ingest("missing = [\"?\"]"),
            3,
            &["value NaN", "`a`", "row 0", "missing"],
        )
        .csv(good.replacen("0.00,0.00,0", "NaN,0.00,0", 1))
        .stage("split"),
        Case::new(
            "1e300 overflows float32",
            ingest(""),
            3,
            &["value 1e300", "`a`", "row 0", "`log1p`"],
        )
        .csv(good.replacen("0.00,0.00,0", "1e300,0.00,0", 1))
        .stage("split"),
        Case::new(
            "id-like column",
            ingest(""),
            3,
            &["column `id`", "distinct value in each of its 30 rows", "`drop`", "`keep_distinct`"],
        )
        .csv({
            let table = rows(25, 5);
            let mut lines = table.lines();
            let header = format!("id,{}\n", lines.next().unwrap());
            lines.enumerate().fold(header, |csv, (i, line)| csv + &format!("{},{line}\n", 1000 + i))
        })
        .stage("split"),
        Case::new(
            "one class only",
            ingest(""),
            3,
            &["0 of 20 rows", "label.anomaly", "both classes"],
        )
        .csv(rows(20, 0))
        .stage("split"),
        Case::new(
            "label value not covered",
            ingest(""),
            3,
            &["input.csv", "line 2", "label `2`", "label.normal"],
        )
        .csv(good.replacen("0.00,0.00,0", "0.00,0.00,2", 1)),
        Case::new("one row", ingest(""), 3, &["1 of 1 rows", "both classes"])
            .csv("a,b,Class\n1,2,1\n")
            .stage("split"),
        Case::new("more features than rows", pipeline(), 0, &[]).csv(wide),
        Case::new(
            "all-constant features fail at evaluation",
            pipeline(),
            3,
            &["`mlp-eval`", "constant scores", "features vary"],
        )
        .stage("mlp-eval")
        .csv(constant),
        // Missing files and checksums.
        Case::new("missing file", ingest(""), 3, &["input.csv", "not found", "`path`"]),
        Case::new(
            "checksum mismatch",
            ingest(&format!("sha256 = \"{ZEROS}\"")),
            3,
            &["input.csv", "sha256", ZEROS, "update `sha256`"],
        )
        .csv(good.clone()),
        // Invalid experiment files.
        Case::new(
            "invalid toml",
            ingest("header = [true"),
            2,
            &["experiment.toml:11:1:", "missing comma"],
        )
        .csv(good.clone()),
        Case::new(
            "wrong type",
            with_train("patience = \"five\""),
            2,
            &["experiment.toml:", "`patience`", "\"five\"", "expected u32"],
        )
        .csv(good.clone()),
        Case::new("unknown key", with_train("hiden = [4]"), 2, &["experiment.toml:", "hiden"])
            .csv(good.clone()),
        Case::new(
            "missing label key",
            experiment("input.csv", "", ""),
            2,
            &["experiment.toml:5:1:", "`label`"],
        )
        .csv(good.clone()),
        Case::new(
            "sweep over a missing parameter",
            format!("{}\n[sweep.parameters]\n\"mlp.nonexistent\" = [1, 2]\n", pipeline()),
            2,
            &["experiment.toml:27:1:", "`mlp.nonexistent`", "`learning_rate`"],
        )
        .csv(good.clone()),
        Case::new(
            "empty sweep list",
            format!("{}\n[sweep.parameters]\n\"mlp.dropout\" = []\n", pipeline()),
            2,
            &["experiment.toml:27:17:", "`mlp.dropout`", "at least one value"],
        )
        .csv(good.clone()),
        Case::new(
            "negative learning rate",
            with_train("learning_rate = -0.1"),
            2,
            &["experiment.toml:21:1:", "`learning_rate`", "-0.1", "positive"],
        )
        .csv(good.clone()),
        Case::new(
            "batch size zero",
            with_train("batch_size = 0"),
            2,
            &["experiment.toml:20:1:", "`batch_size`", "at least 1"],
        )
        .csv(good.clone()),
        Case::new(
            "epochs zero",
            with_train("epochs = 0"),
            2,
            &["experiment.toml:19:1:", "`epochs`", "at least 1"],
        )
        .csv(good.clone()),
        Case::new(
            "dropout above one",
            with_train("dropout = 1.5"),
            2,
            &["experiment.toml:21:1:", "`dropout`", "1.5", "[0, 1)"],
        )
        .csv(good.clone()),
        Case::new(
            "unknown model",
            with_train("").replace("model = \"mlp\"", "model = \"svm\""),
            2,
            &["experiment.toml:", "`svm`", "`mlp`"],
        )
        .csv(good.clone()),
        Case::new(
            "split fractions not summing to one",
            experiment("input.csv", LABEL, "split = { train = 0.5, validation = 0.2, test = 0.2 }"),
            2,
            &["experiment.toml:", "`split`", "must sum to 1"],
        )
        .csv(good.clone()),
        Case::new(
            "input naming a missing stage",
            ingest("").replace("inputs = [\"data\"]", "inputs = [\"nosuch\"]"),
            2,
            &["experiment.toml:13:11:", "`nosuch`", "stages: data, split"],
        )
        .csv(good.clone()),
        Case::new(
            "stage fed the wrong kind",
            pipeline().replace("inputs = [\"mlp\"]", "inputs = [\"split\"]"),
            2,
            &["experiment.toml:", "`mlp-eval`", "`split`", "one train stage"],
        )
        .csv(good.clone()),
        Case::new(
            "invalid kind",
            ingest("").replace("kind = \"preprocess\"", "kind = \"preproces\""),
            2,
            &["experiment.toml:12:8:", "`kind`", "\"preprocess\""],
        )
        .csv(good.clone()),
        Case::new(
            "dataset and path both set",
            ingest("dataset = \"creditcard-sample\""),
            2,
            &["experiment.toml:", "`dataset`", "`path`"],
        )
        .csv(good.clone()),
        Case::new(
            "unknown dataset name",
            ingest("")
                .replace(&format!("path = \"{DIR}/input.csv\""), "dataset = \"no-such-data\""),
            2,
            &["`no-such-data`", "registry", "creditcard-sample"],
        ),
        Case::new(
            "target recall above one",
            pipeline().replace("inputs = [\"mlp\"]", "inputs = [\"mlp\"]\ntarget_recall = 1.5"),
            2,
            &["experiment.toml:", "`target_recall`", "1.5", "(0, 1]"],
        )
        .csv(good.clone()),
        Case::new(
            "unknown experiment device",
            ingest("").replace("device = \"cpu\"", "device = \"tpu\""),
            2,
            &["experiment.toml:3:10:", "`tpu`", "`cuda:N`"],
        )
        .csv(good.clone()),
        // Invalid command lines.
        Case::new(
            "override without equals sign",
            pipeline(),
            2,
            &["experiment.toml", "`-S mlp.dropout`", "PATH=VALUE"],
        )
        .csv(good.clone())
        .args(&["-S", "mlp.dropout"]),
        Case::new(
            "override of a missing stage",
            pipeline(),
            2,
            &["experiment.toml", "`-S nosuch.dropout=0.1`", "no stage `nosuch`"],
        )
        .csv(good.clone())
        .args(&["-S", "nosuch.dropout=0.1"]),
        Case::new(
            "force of an unknown stage",
            pipeline(),
            2,
            &["--force nosuch", "no stage `nosuch`", "stages: data"],
        )
        .csv(good.clone())
        .args(&["--force", "nosuch"]),
        // Training failure.
        Case::new(
            "divergent learning rate",
            with_train("learning_rate = 1e30"),
            4,
            &["`mlp`", "epoch 1", "batch", "lower the learning rate"],
        )
        .csv(good.clone()),
        // Valid inputs that look odd.
        Case::new("quoted comma and newline are valid", pipeline(), 0, &[]).csv(quoted),
        Case::new("byte-order mark is valid", ingest(""), 0, &[]).csv(bom),
        Case::new("crlf line ends are valid", ingest(""), 0, &[]).csv(good.replace('\n', "\r\n")),
        Case::new("semicolon delimiter is valid", ingest("delimiter = \";\""), 0, &[])
            .csv(good.replace(',', ";")),
        Case::new("gzip file is valid", experiment("input.csv.gz", LABEL, ""), 0, &[])
            .file("input.csv.gz", gzipped.clone()),
        Case::new("missing markers are imputed", ingest(""), 0, &[]).csv(
            good.replacen("0.00,0.00,0", "?,0.00,0", 1)
                .replacen("0.10,0.20,0", "NA,0.20,0", 1)
                .replacen("0.20,0.40,0", ",0.40,0", 1),
        ),
    ]
}

/// Lists every file below `dir`, hidden ones included.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn run(case: &Case, dir: &Path) -> Output {
    for (name, content) in &case.files {
        fs::write(dir.join(name), content).unwrap();
    }
    let config = dir.join("experiment.toml");
    fs::write(&config, case.config.replace(DIR, dir.to_str().unwrap())).unwrap();
    let mut args: Vec<String> =
        ["experiment", config.to_str().unwrap()].into_iter().map(str::to_string).collect();
    for (flag, folder) in [("--runs-dir", "runs"), ("--cache-dir", "cache"), ("--data-dir", "data")]
    {
        args.push(flag.to_string());
        args.push(dir.join(folder).to_str().unwrap().to_string());
    }
    args.extend(case.args.iter().map(|a| a.to_string()));
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(&args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap())
        .env_remove("RUST_LOG")
        .env_remove("ANOMALY_DATA_DIR")
        .env_remove("ANOMALY_CACHE_DIR")
        .output()
        .expect("the xtask binary runs")
}

/// Returns the problems with one case's outcome, empty when it behaved as expected.
fn check(case: &Case, dir: &Path, output: &Output) -> Vec<String> {
    let mut problems = Vec::new();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    if output.status.code() != Some(case.code) {
        problems.push(format!("exit code {:?}, expected {}", output.status.code(), case.code));
    }
    if case.code == 0 {
        for file in files_below(dir).iter().filter(|f| f.ends_with("run.json")) {
            let record: serde_json::Value =
                serde_json::from_slice(&fs::read(file).unwrap()).unwrap();
            if record["status"] != "ok" {
                problems.push(format!("{} has status {}", file.display(), record["status"]));
            }
        }
        return problems;
    }

    if !last.starts_with("error: ") {
        problems.push("the last stderr line does not start with `error: `".to_string());
    }
    for needle in &case.needles {
        if !last.contains(needle) {
            problems.push(format!("the error does not contain {needle:?}"));
        }
    }

    for file in files_below(dir) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(bytes) = fs::read(&file) else { continue };
        if name == "manifest.json" {
            let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let stage = manifest["stage"].as_str().unwrap_or_default();
            let base = stage.split('#').next().unwrap_or_default();
            if case.stage.is_none_or(|failed| failed == base) {
                problems.push(format!("stage `{stage}` left {}", file.display()));
            }
        }
        if name == "run.json" {
            let record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if record["status"] != "failed" {
                problems.push(format!("{} has status {}", file.display(), record["status"]));
            }
        }
    }
    problems
}

#[test]
fn bad_input_corpus() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let output = run(case, dir.path());
        let problems = check(case, dir.path(), &output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default().to_string();
        eprintln!("{}: exit {:?}: {last}", case.name, output.status.code());
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n    last line: {last}", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
