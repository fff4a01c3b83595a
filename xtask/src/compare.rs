//! The `compare` command: ranks the trials of one run, or shows what changed between two runs.
//!
//! It reads the `results.parquet` of a run directory (one row per trial: names, status, test
//! metrics, timings, stage keys and `p.*` parameter columns containing JSON text) and writes to
//! stdout or `--output`. With one run it filters the trials, ranks them by a metric and writes
//! them as a text table, CSV, JSON or Parquet. With two runs it matches each trial of one run
//! to the trial of the other with the same stage and parameter values, and lists the metrics
//! that changed and the trials found in only one run.
//!
//! Trial names such as `mlp-eval#5` are positions in a sweep grid, and adding one value to a
//! grid renumbers them, so two runs are never matched by name.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, RecordBatch, StringArray, StringBuilder,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};

/// File name of the per-trial results table in a run directory.
const RESULTS_FILE: &str = "results.parquet";

/// Prefix of the parameter columns, as in `p.mlp.learning_rate`.
const PARAM_PREFIX: &str = "p.";

/// Metrics shown in the text tables besides the sort metric. CSV, JSON and Parquet output
/// keep every column.
const TABLE_METRICS: [&str; 4] = ["roc_auc", "average_precision", "f1", "recall_at_1pct_fpr"];

/// Text columns that the two-run table lists under `changed parameters` when they change.
/// The parameters that both runs have are part of a matched trial's identity, so only these
/// columns and nothing else can appear there.
const DESCRIPTIVE_COLUMNS: [&str; 2] = ["stage", "model_kind"];

/// Columns that name a trial or its train stage instance by position in the sweep grid, such
/// as `mlp-eval#5` and `mlp#5`. Two runs are not matched on them, and a matched trial whose
/// names differ is shown as `mlp-eval#5 -> mlp-eval#7` but not counted as changed.
const NAME_COLUMNS: [&str; 2] = ["trial", "model"];

/// Run directory named in error messages when no real run can serve as the example.
const EXAMPLE_RUN: &str = "runs/fraud/20261204-170331";

/// Arguments of `cargo xtask compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Run directories, their results.parquet files, or experiment directories such as
    /// runs/fraud, which stand for their newest run. One run ranks its trials, and two show
    /// what changed from the first to the second, matching trials by stage and parameter
    /// values. Default: the newest run under --runs-dir.
    pub runs: Vec<PathBuf>,
    /// Directory searched for the newest run when no run is given.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Metric to rank by: any metric column, such as average_precision (test) or
    /// train_seconds. Higher is better, except for columns ending in `_seconds`. The default
    /// ranks by validation average precision, so that choosing a trial never looks at the
    /// test split.
    #[arg(long, default_value = "validation_average_precision")]
    pub sort: String,
    /// Show only the best N trials; with two runs, the N most improved.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Keep only trials matching all filters, e.g. `--filter stage=mlp --filter status=ok
    /// --filter p.mlp.hidden=[64,32]`. Parameter values compare as JSON, so `relu` matches
    /// `"relu"` and `null` matches trials that the parameter does not apply to.
    #[arg(long = "filter", value_name = "COLUMN=VALUE")]
    pub filters: Vec<String>,
    /// Output format: table (default), csv, json or parquet (parquet needs --output).
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// File to write instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Output format of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table for reading in a terminal.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array with one object per row.
    Json,
    /// A zstd-compressed Parquet file, written to `--output`.
    Parquet,
}

/// Writes the ranked trials of one run, or the changes between two runs, to stdout or to
/// `--output`.
///
/// One run gives its filtered and sorted trials, with every column in CSV, JSON and Parquet.
/// Two runs give the changes: in a text table, or in CSV, JSON and Parquet as one row per
/// changed value with the columns `trial`, `change`, `column`, `a`, `b` and `delta`.
pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    compare(args, &mut stdout)
}

/// Runs the command with `stdout` standing in for the process's standard output.
fn compare(args: &CompareArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    if args.format == Format::Parquet && args.output.is_none() {
        bail!(
            "--format parquet needs a file to write; add --output FILE, such as \
             --output ranked.parquet"
        );
    }
    let paths = results_paths(args)?;
    let filters =
        args.filters.iter().map(|text| Filter::parse(text)).collect::<Result<Vec<_>, _>>()?;
    let output = args.output.as_deref();

    if let [path] = paths.as_slice() {
        let table = ResultsTable::read(path)?;
        let ranking = Ranking::new(&table, &args.sort, &filters, args.top)?;
        return match args.format {
            Format::Table => write_to(output, stdout, |out| ranking.write_table(out)),
            Format::Csv => {
                write_to(output, stdout, |out| write_csv(out, &table.columns, &ranking.rows))
            }
            Format::Json => {
                write_to(output, stdout, |out| write_json(out, &table.columns, &ranking.rows))
            }
            Format::Parquet => write_parquet_rows(output, &table.batch, &ranking.rows),
        };
    }

    let [path_a, path_b] = paths.as_slice() else {
        unreachable!("results_paths returns one or two paths");
    };
    let a = ResultsTable::read(path_a)?;
    let b = ResultsTable::read(path_b)?;
    let diff = RunDiff::new(&a, &b, &args.sort, &filters, args.top)?;
    if args.format == Format::Table {
        return write_to(output, stdout, |out| diff.write_table(out));
    }
    // The text table states this note itself, and the other formats have no place for it.
    if let Some(note) = diff.repeated.note() {
        tracing::warn!("{note}");
    }

    // CSV, JSON and Parquet get one row per change.
    let batch = diff.to_batch();
    let rows: Vec<usize> = (0..batch.num_rows()).collect();
    let columns = columns_of(&batch)?;
    match args.format {
        Format::Csv => write_to(output, stdout, |out| write_csv(out, &columns, &rows)),
        Format::Json => write_to(output, stdout, |out| write_json(out, &columns, &rows)),
        Format::Parquet => write_parquet_rows(output, &batch, &rows),
        Format::Table => unreachable!("the table is written above"),
    }
}

/// Calls `write` with a buffered writer on `output`, or on `stdout` when there is no output
/// file, and flushes it.
fn write_to(
    output: Option<&Path>,
    stdout: &mut dyn Write,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut writer = BufWriter::new(file);
            write(&mut writer).with_context(|| format!("cannot write {}", path.display()))?;
            writer.flush().with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut writer = BufWriter::new(stdout);
            write(&mut writer).context("cannot write to stdout")?;
            writer.flush().context("cannot write to stdout")
        }
    }
}

/// Writes the given rows of `batch`, in that order, to the Parquet file `output`.
fn write_parquet_rows(
    output: Option<&Path>,
    batch: &RecordBatch,
    rows: &[usize],
) -> anyhow::Result<()> {
    let path = output.expect("compare checks that --format parquet comes with --output");
    let indices: UInt64Array = rows.iter().map(|&row| row as u64).collect();
    let selected = arrow::compute::take_record_batch(batch, &indices)
        .with_context(|| format!("cannot select the rows to write to {}", path.display()))?;
    common::write_parquet(path, &selected)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Finding the runs

/// Returns the `results.parquet` of each run argument, or of the newest run when there is none.
fn results_paths(args: &CompareArgs) -> anyhow::Result<Vec<PathBuf>> {
    match args.runs.len() {
        0 => {
            let run = newest_run(&args.runs_dir)?;
            Ok(vec![run.join(RESULTS_FILE)])
        }
        1 | 2 => args.runs.iter().map(|path| results_path(path)).collect(),
        count => bail!(
            "compare takes one or two runs but {count} were given; pass one run to rank its \
             trials, or two to show what changed between them"
        ),
    }
}

/// Returns `path` if it is a file, the `results.parquet` inside it, or for a directory above
/// the run directories, such as the experiment directory `runs/fraud`, the `results.parquet`
/// of its newest run.
fn results_path(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let results = path.join(RESULTS_FILE);
    if results.is_file() {
        return Ok(results);
    }
    // A run next to the one asked for is the most useful example in an error.
    let example = || {
        let sibling = path.parent().and_then(|parent| newest_run_under(parent).ok().flatten());
        sibling.unwrap_or_else(|| PathBuf::from(EXAMPLE_RUN))
    };
    if !path.exists() {
        bail!("{} not found; pass a run directory such as {}", path.display(), example().display());
    }

    let newest = newest_run_under(path)
        .with_context(|| format!("cannot list the runs in {}", path.display()))?;
    match newest {
        Some(run) => {
            tracing::info!(directory = %path.display(), run = %run.display(), "using the newest run");
            Ok(run.join(RESULTS_FILE))
        }
        None => bail!(
            "{} has no {RESULTS_FILE} and no run directory below it with one; pass a run \
             directory such as {}",
            path.display(),
            example().display()
        ),
    }
}

/// Returns the newest run directory with a `results.parquet` under `runs_dir`.
fn newest_run(runs_dir: &Path) -> anyhow::Result<PathBuf> {
    if !runs_dir.is_dir() {
        bail!(
            "runs directory {} not found; pass a run directory such as {EXAMPLE_RUN}, or set \
             --runs-dir to the directory that contains the runs",
            runs_dir.display()
        );
    }
    let newest = newest_run_under(runs_dir)
        .with_context(|| format!("cannot list the runs in {}", runs_dir.display()))?;
    newest.with_context(|| {
        format!(
            "no run under {} has a {RESULTS_FILE}; run `cargo xtask experiment FILE` first, or \
             pass a run directory",
            runs_dir.display()
        )
    })
}

/// Returns the newest run directory with a `results.parquet` among the children and
/// grandchildren of `dir`, so that both `runs` and `runs/fraud` work.
///
/// Run directories are named after their start time, `YYYYMMDD-HHMMSS` with a `-N` suffix
/// when several runs start in the same second, so the newest has the greatest name by that
/// reading. Directories with other names are skipped.
fn newest_run_under(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut newest: Option<((u64, u32), PathBuf)> = None;
    let mut consider = |path: PathBuf| {
        let stamp = path.file_name().and_then(|name| name.to_str()).and_then(run_start);
        if let Some(stamp) = stamp
            && path.join(RESULTS_FILE).is_file()
            && newest.as_ref().is_none_or(|(best, best_path)| (stamp, &path) > (*best, best_path))
        {
            newest = Some((stamp, path));
        }
    };
    for child in std::fs::read_dir(dir)? {
        let child = child?.path();
        if !child.is_dir() {
            continue;
        }
        // A child that cannot be listed contains no run that compare could read.
        if let Ok(grandchildren) = std::fs::read_dir(&child) {
            for grandchild in grandchildren.flatten() {
                consider(grandchild.path());
            }
        }
        consider(child);
    }
    Ok(newest.map(|(_, path)| path))
}

/// Parses a run directory name, `YYYYMMDD-HHMMSS` or `YYYYMMDD-HHMMSS-N`, into the start time
/// as the number `YYYYMMDDHHMMSS` and the suffix `N` (0 when absent).
fn run_start(name: &str) -> Option<(u64, u32)> {
    let bytes = name.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() < 15 || bytes[8] != b'-' || !digits(0..8) || !digits(9..15) {
        return None;
    }
    let start = format!("{}{}", &name[..8], &name[9..15]).parse().ok()?;
    let suffix = match &name[15..] {
        "" => 0,
        rest => rest.strip_prefix('-')?.parse().ok()?,
    };
    Some((start, suffix))
}

// ---------------------------------------------------------------------------------------------
// Reading results.parquet

/// One column of a results table, with numbers widened to `f64` and everything else as text.
struct Column {
    name: String,
    data: ColumnData,
}

enum ColumnData {
    Text(StringArray),
    /// Any numeric Arrow type, cast to `Float64`; `integer` keeps integer types printing
    /// without decimals.
    Number {
        values: Float64Array,
        integer: bool,
    },
}

impl Column {
    /// Wraps an Arrow column. Parameter columns must be text because they contain JSON.
    fn new(name: &str, array: &ArrayRef, path: &Path) -> anyhow::Result<Column> {
        let data_type = array.data_type();
        let is_param = name.starts_with(PARAM_PREFIX);
        let data = if data_type.is_numeric() && !is_param {
            let values = arrow::compute::cast(array, &DataType::Float64).with_context(|| {
                format!(
                    "{}: cannot read column `{name}` of type {data_type} as numbers",
                    path.display()
                )
            })?;
            let values = values.as_any().downcast_ref::<Float64Array>().expect("cast to Float64");
            ColumnData::Number { values: values.clone(), integer: data_type.is_integer() }
        } else if is_param && !is_text_type(data_type) {
            bail!(
                "{}: parameter column `{name}` has type {data_type} where Utf8 (the value's JSON \
                 text) was expected",
                path.display()
            );
        } else {
            let text = arrow::compute::cast(array, &DataType::Utf8).with_context(|| {
                format!(
                    "{}: cannot show column `{name}` of type {data_type} as text",
                    path.display()
                )
            })?;
            let text = text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
            ColumnData::Text(text.clone())
        };
        Ok(Column { name: name.to_string(), data })
    }

    fn is_param(&self) -> bool {
        self.name.starts_with(PARAM_PREFIX)
    }

    fn text(&self) -> Option<&StringArray> {
        match &self.data {
            ColumnData::Text(values) => Some(values),
            ColumnData::Number { .. } => None,
        }
    }

    fn number(&self) -> Option<&Float64Array> {
        match &self.data {
            ColumnData::Number { values, .. } => Some(values),
            ColumnData::Text(_) => None,
        }
    }

    fn is_null(&self, row: usize) -> bool {
        match &self.data {
            ColumnData::Text(values) => values.is_null(row),
            ColumnData::Number { values, .. } => values.is_null(row),
        }
    }

    fn is_integer(&self) -> bool {
        matches!(self.data, ColumnData::Number { integer: true, .. })
    }

    /// Appends the cell at `row` to `buffer` in full precision: text as stored, numbers in
    /// Rust's shortest round-trip form, nothing for a null.
    fn push_exact(&self, row: usize, buffer: &mut String) {
        match &self.data {
            ColumnData::Text(values) => buffer.push_str(text_at(values, row).unwrap_or("")),
            ColumnData::Number { values, integer } => {
                if let Some(value) = number_at(values, row) {
                    push_exact_number(buffer, value, *integer);
                }
            }
        }
    }

    /// Appends the cell at `row` to `buffer` for a text table: numbers with 4 decimals,
    /// `-` for a null.
    fn push_display(&self, row: usize, buffer: &mut String) {
        match &self.data {
            ColumnData::Text(values) => buffer.push_str(text_at(values, row).unwrap_or("-")),
            ColumnData::Number { values, integer } => {
                push_display_number(buffer, number_at(values, row), *integer);
            }
        }
    }
}

/// Returns whether `data_type` is a string type, or a dictionary of strings.
fn is_text_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text_type(values),
        _ => false,
    }
}

/// Returns the cell at `row` in full precision (see [`Column::push_exact`]), written into
/// `buffer`, or `None` for a null.
fn exact_text<'b>(column: &Column, row: usize, buffer: &'b mut String) -> Option<&'b str> {
    if column.is_null(row) {
        return None;
    }
    buffer.clear();
    column.push_exact(row, buffer);
    Some(buffer)
}

/// Wraps every column of a batch that compare built, such as [`RunDiff::to_batch`].
fn columns_of(batch: &RecordBatch) -> anyhow::Result<Vec<Column>> {
    let schema = batch.schema();
    let path = Path::new("the output table");
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| Column::new(field.name(), array, path))
        .collect()
}

fn text_at(values: &StringArray, row: usize) -> Option<&str> {
    values.is_valid(row).then(|| values.value(row))
}

fn number_at(values: &Float64Array, row: usize) -> Option<f64> {
    values.is_valid(row).then(|| values.value(row))
}

// `fmt::Write for String` never returns an error, so the `fmt::Result`s below are ignored.

fn push_exact_number(buffer: &mut String, value: f64, integer: bool) {
    if integer {
        let _ = write!(buffer, "{value:.0}");
    } else {
        let _ = write!(buffer, "{value}");
    }
}

fn push_display_number(buffer: &mut String, value: Option<f64>, integer: bool) {
    match value {
        None => buffer.push('-'),
        Some(value) if integer => {
            let _ = write!(buffer, "{value:.0}");
        }
        Some(value) => {
            let _ = write!(buffer, "{value:.4}");
        }
    }
}

fn push_signed_number(buffer: &mut String, value: Option<f64>) {
    match value {
        None => buffer.push('-'),
        Some(value) => {
            let _ = write!(buffer, "{value:+.4}");
        }
    }
}

/// The trials of one run, read from its `results.parquet`.
struct ResultsTable {
    path: PathBuf,
    /// The file as read, kept for Parquet output.
    batch: RecordBatch,
    /// The same columns, in file order.
    columns: Vec<Column>,
    trial: StringArray,
    stage: StringArray,
    status: StringArray,
    error: Option<StringArray>,
}

impl ResultsTable {
    fn read(path: &Path) -> anyhow::Result<ResultsTable> {
        let batch = common::read_parquet(path)?;
        let schema = batch.schema();
        let columns = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, array)| Column::new(field.name(), array, path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let required_text = |name: &str| -> anyhow::Result<StringArray> {
            let Some(column) = columns.iter().find(|column| column.name == name) else {
                bail!(
                    "{}: column `{name}` is missing; compare reads the {RESULTS_FILE} that \
                     `cargo xtask experiment` writes",
                    path.display()
                );
            };
            let Some(values) = column.text() else {
                bail!("{}: column `{name}` is numeric where text was expected", path.display());
            };
            Ok(values.clone())
        };
        let trial = required_text("trial")?;
        let stage = required_text("stage")?;
        let status = required_text("status")?;
        if let Some(row) = (0..trial.len()).find(|&row| trial.is_null(row)) {
            bail!(
                "{}: column `trial` has a null in row {row}; every trial needs a name",
                path.display()
            );
        }
        let error = columns.iter().find(|c| c.name == "error").and_then(Column::text).cloned();
        Ok(ResultsTable { path: path.to_path_buf(), batch, columns, trial, stage, status, error })
    }

    fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    fn trial(&self, row: usize) -> &str {
        self.trial.value(row)
    }

    fn is_ok(&self, row: usize) -> bool {
        text_at(&self.status, row) == Some("ok")
    }

    /// Returns the metric column `name`, or an error listing the metric columns.
    fn metric(&self, name: &str) -> anyhow::Result<&Column> {
        match self.column(name) {
            Some(column) if column.number().is_some() => Ok(column),
            Some(_) => bail!(
                "cannot sort by `{name}` because it is not a metric; metrics in {}: {}",
                self.path.display(),
                self.metric_names().join(", ")
            ),
            None => bail!(
                "unknown sort metric `{name}`; metrics in {}: {}",
                self.path.display(),
                self.metric_names().join(", ")
            ),
        }
    }

    fn metric_names(&self) -> Vec<&str> {
        self.columns.iter().filter(|c| c.number().is_some()).map(|c| c.name.as_str()).collect()
    }

    fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Returns, for each row, whether it matches every filter.
    ///
    /// With `other` given (the second run of a comparison), a filter column that only `other`
    /// has is no error: here it counts as a column of nulls.
    fn filter_mask(
        &self,
        filters: &[Filter],
        other: Option<&ResultsTable>,
    ) -> anyhow::Result<Vec<bool>> {
        let mut mask = vec![true; self.rows()];
        for filter in filters {
            match self.column(&filter.column) {
                Some(column) => filter.apply(column, &mut mask)?,
                None if other.is_some_and(|other| other.column(&filter.column).is_some()) => {
                    let matches_null = filter.column.starts_with(PARAM_PREFIX)
                        && parse_json_or_string(&filter.value).is_null();
                    if !matches_null {
                        mask.fill(false);
                    }
                }
                None => {
                    let mut message = format!(
                        "unknown filter column `{}` in `{}`; columns in {}: {}",
                        filter.column,
                        filter.text,
                        self.path.display(),
                        self.column_names().join(", ")
                    );
                    if let Some(other) = other {
                        let _ = write!(message, "; it is not in {} either", other.path.display());
                    }
                    bail!(message);
                }
            }
        }
        Ok(mask)
    }
}

// ---------------------------------------------------------------------------------------------
// Filters

/// One `--filter COLUMN=VALUE`.
#[derive(Debug)]
struct Filter {
    /// The argument as given, for error messages.
    text: String,
    column: String,
    value: String,
}

impl Filter {
    fn parse(text: &str) -> anyhow::Result<Filter> {
        let malformed = |reason: &str| {
            anyhow::anyhow!(
                "invalid filter `{text}`: {reason}; expected the form `column=value`, such as \
                 `stage=mlp` or `p.mlp.hidden=[64,32]`"
            )
        };
        let Some((column, value)) = text.split_once('=') else {
            return Err(malformed("there is no `=`"));
        };
        let column = column.trim();
        if column.is_empty() {
            return Err(malformed("the column name is empty"));
        }
        if column.ends_with(['<', '>', '!']) || value.starts_with('=') {
            return Err(malformed("only `=` is supported"));
        }
        Ok(Filter { text: text.to_string(), column: column.to_string(), value: value.to_string() })
    }

    /// Clears the rows of `mask` whose cell in `column` does not match.
    ///
    /// Text columns match exactly and never on a null. Parameter columns compare as JSON,
    /// numbers by value. Numeric columns compare as numbers and never match a null.
    fn apply(&self, column: &Column, mask: &mut [bool]) -> anyhow::Result<()> {
        match &column.data {
            ColumnData::Text(values) if column.is_param() => {
                let expected = parse_json_or_string(&self.value);
                // Trials share few distinct parameter values, so each is parsed once.
                let mut matches: HashMap<&str, bool> = HashMap::new();
                for (row, keep) in mask.iter_mut().enumerate() {
                    let matched = match text_at(values, row) {
                        None => expected.is_null(),
                        Some(text) => *matches
                            .entry(text)
                            .or_insert_with(|| json_equal(&parse_json_or_string(text), &expected)),
                    };
                    *keep &= matched;
                }
            }
            ColumnData::Text(values) => {
                for (row, keep) in mask.iter_mut().enumerate() {
                    *keep &= text_at(values, row) == Some(self.value.as_str());
                }
            }
            ColumnData::Number { values, .. } => {
                let Ok(expected) = self.value.trim().parse::<f64>() else {
                    bail!(
                        "invalid filter `{}`: `{}` is a numeric column, so the value must be a \
                         number, such as `{}=1`",
                        self.text,
                        self.column,
                        self.column
                    );
                };
                for (row, keep) in mask.iter_mut().enumerate() {
                    *keep &= number_at(values, row) == Some(expected);
                }
            }
        }
        Ok(())
    }
}

/// Parses JSON text, taking text that is not JSON (such as `relu`) as a JSON string.
fn parse_json_or_string(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// Compares JSON values, with numbers equal when their `f64` values are (so `1e-3` equals
/// `0.001` and `64` equals `64.0`).
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(key, x)| y.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Ranking one run

/// Returns whether a larger value of `metric` is better: true except for `*_seconds` columns.
fn higher_is_better(metric: &str) -> bool {
    !metric.ends_with("_seconds")
}

/// A sort key: `group` 0 for an ok trial with a value, 1 for an ok trial without one
/// (null or NaN), 2 for a trial that is not ok. `order` breaks ties in file order.
#[derive(Debug, Clone, Copy)]
struct RankKey {
    group: u8,
    value: f64,
    order: usize,
}

impl RankKey {
    fn new(ok: bool, value: Option<f64>, order: usize) -> RankKey {
        match value {
            _ if !ok => RankKey { group: 2, value: f64::NAN, order },
            Some(value) if !value.is_nan() => RankKey { group: 0, value, order },
            _ => RankKey { group: 1, value: f64::NAN, order },
        }
    }

    fn compare(&self, other: &RankKey, higher_is_better: bool) -> Ordering {
        let by_value = if higher_is_better {
            other.value.total_cmp(&self.value)
        } else {
            self.value.total_cmp(&other.value)
        };
        self.group.cmp(&other.group).then(by_value).then(self.order.cmp(&other.order))
    }
}

/// Sorts `rows` of `table` best first by `metric`, with nulls and trials that are not ok last.
fn sort_rows(table: &ResultsTable, metric: &Column, rows: &mut [usize]) {
    let values = metric.number().expect("ResultsTable::metric returns a numeric column");
    let higher = higher_is_better(&metric.name);
    let mut keys: Vec<RankKey> = rows
        .iter()
        .map(|&row| RankKey::new(table.is_ok(row), number_at(values, row), row))
        .collect();
    keys.sort_unstable_by(|x, y| x.compare(y, higher));
    for (row, key) in rows.iter_mut().zip(&keys) {
        *row = key.order;
    }
}

/// The trials of one run that pass the filters, best first.
struct Ranking<'a> {
    table: &'a ResultsTable,
    metric: &'a Column,
    /// Rows to show, best first, at most `--top` of them.
    rows: Vec<usize>,
    /// Number of rows that pass the filters.
    matching: usize,
    /// The best value of the metric among the rows that pass the filters.
    best: Option<f64>,
}

impl<'a> Ranking<'a> {
    fn new(
        table: &'a ResultsTable,
        sort: &str,
        filters: &[Filter],
        top: Option<usize>,
    ) -> anyhow::Result<Ranking<'a>> {
        let metric = table.metric(sort)?;
        let mask = table.filter_mask(filters, None)?;
        let mut rows: Vec<usize> = (0..table.rows()).filter(|&row| mask[row]).collect();
        sort_rows(table, metric, &mut rows);

        let matching = rows.len();
        let values = metric.number().expect("a metric is numeric");
        let best = rows
            .first()
            .filter(|&&row| table.is_ok(row))
            .and_then(|&row| number_at(values, row))
            .filter(|value| !value.is_nan());
        if let Some(top) = top {
            rows.truncate(top);
        }
        Ok(Ranking { table, metric, rows, matching, best })
    }

    /// Returns whether `row` has the best value, so that ties are all marked.
    fn is_best(&self, row: usize) -> bool {
        let values = self.metric.number().expect("a metric is numeric");
        self.table.is_ok(row) && self.best.is_some() && number_at(values, row) == self.best
    }

    /// Writes the ranked trials as a text table, followed by what was hidden and why the
    /// trials that are not ok failed.
    fn write_table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let table = self.table;
        let direction = if higher_is_better(&self.metric.name) { "higher" } else { "lower" };
        writeln!(
            out,
            "{}: {}, ranked by {} ({direction} is better)",
            table.path.display(),
            count_trials(table.rows()),
            self.metric.name
        )?;
        writeln!(out)?;

        let metrics = table_metrics(table, &self.metric.name);
        let (params, constant_params) = varying_params(table, &self.rows);
        let mut grid = Grid::new();
        for header in ["", "rank", "trial", "stage", "status"] {
            grid.column(header, header == "rank");
        }
        for column in metrics.iter().chain(&params) {
            grid.column(&column.name, column.number().is_some());
        }
        for (rank, &row) in self.rows.iter().enumerate() {
            grid.cell(|s| s.push_str(if self.is_best(row) { "*" } else { "" }));
            grid.cell(|s| {
                let _ = write!(s, "{}", rank + 1);
            });
            grid.cell(|s| s.push_str(table.trial(row)));
            grid.cell(|s| s.push_str(text_at(&table.stage, row).unwrap_or("-")));
            grid.cell(|s| s.push_str(text_at(&table.status, row).unwrap_or("-")));
            for column in metrics.iter().chain(&params) {
                grid.cell(|s| column.push_display(row, s));
            }
        }
        grid.write(out)?;

        writeln!(out)?;
        if self.best.is_some() {
            writeln!(out, "* best {}", self.metric.name)?;
        }
        let hidden_by_filter = table.rows() - self.matching;
        let hidden_by_top = self.matching - self.rows.len();
        writeln!(
            out,
            "showing {} of {}; hidden: {hidden_by_filter} by --filter, {hidden_by_top} by --top",
            self.rows.len(),
            count_trials(table.rows())
        )?;
        if constant_params > 0 {
            writeln!(
                out,
                "{constant_params} parameters that have one value among the shown trials are \
                 left out; --format csv shows every column"
            )?;
        }
        self.write_failures(out)
    }

    /// Writes the status and error of each shown trial that is not ok.
    fn write_failures(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let table = self.table;
        let failed: Vec<usize> =
            self.rows.iter().copied().filter(|&row| !table.is_ok(row)).collect();
        if failed.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        let mut grid = Grid::new();
        for header in ["status", "trial", "error"] {
            grid.column(header, false);
        }
        for row in failed {
            grid.cell(|s| s.push_str(text_at(&table.status, row).unwrap_or("-")));
            grid.cell(|s| s.push_str(table.trial(row)));
            let error = table.error.as_ref().and_then(|error| text_at(error, row));
            grid.cell(|s| s.push_str(error.unwrap_or("-")));
        }
        grid.write(out)?;
        Ok(())
    }
}

/// Returns the metric columns of the text table: the sort metric, then the other
/// `TABLE_METRICS` that the table has.
fn table_metrics<'t>(table: &'t ResultsTable, sort: &str) -> Vec<&'t Column> {
    let names = std::iter::once(sort).chain(TABLE_METRICS.into_iter().filter(|&name| name != sort));
    names.filter_map(|name| table.column(name)).filter(|c| c.number().is_some()).collect()
}

/// Splits the parameter columns into those with two or more distinct non-null values in
/// `rows`, which are returned, and the others, which are counted.
fn varying_params<'t>(table: &'t ResultsTable, rows: &[usize]) -> (Vec<&'t Column>, usize) {
    let mut varying = Vec::new();
    let mut constant = 0;
    for column in table.columns.iter().filter(|column| column.is_param()) {
        let values = column.text().expect("parameter columns are text");
        let mut first = None;
        let varies = rows.iter().filter_map(|&row| text_at(values, row)).any(|value| {
            let first = *first.get_or_insert(value);
            first != value
        });
        if varies {
            varying.push(column);
        } else {
            constant += 1;
        }
    }
    (varying, constant)
}

// ---------------------------------------------------------------------------------------------
// Comparing two runs

/// The changes from run A to run B, with trials matched by identity: the stage and the values
/// of the parameters that both runs have.
struct RunDiff<'a> {
    a: &'a ResultsTable,
    b: &'a ResultsTable,
    metric_a: &'a Column,
    metric_b: &'a Column,
    /// Matched trials, as (row in A, row in B), that pass the filters in either run, most
    /// improved first.
    pairs: Vec<(usize, usize)>,
    /// How many of `pairs` to show, from `--top`.
    shown_count: usize,
    /// Matched trials in total, before filters.
    matched: usize,
    /// Trials only in A, or only in B, that pass the filters there, best first.
    only_in_a: Vec<usize>,
    only_in_b: Vec<usize>,
    /// Number of parameter columns in both runs, which with `stage` make up the identity.
    identity_params: usize,
    /// Trials whose identity another trial of the same run shares, paired in file order.
    repeated: RepeatedIdentities,
    /// Columns in both runs, other than the [`NAME_COLUMNS`], as (index in A, index in B), in
    /// A's order.
    shared_columns: Vec<(usize, usize)>,
    only_columns_a: Vec<usize>,
    only_columns_b: Vec<usize>,
}

impl<'a> RunDiff<'a> {
    fn new(
        a: &'a ResultsTable,
        b: &'a ResultsTable,
        sort: &str,
        filters: &[Filter],
        top: Option<usize>,
    ) -> anyhow::Result<RunDiff<'a>> {
        let metric_a = a.metric(sort)?;
        let metric_b = b.metric(sort)?;
        let keep_a = a.filter_mask(filters, Some(b))?;
        let keep_b = b.filter_mask(filters, Some(a))?;

        // Match the trials by identity, then keep the pairs that pass the filters in either run.
        let params = shared_params(a, b);
        let identities_a = identities(a, params.iter().map(|&(column, _)| column));
        let identities_b = identities(b, params.iter().map(|&(_, column)| column));
        let matching = match_identities(&identities_a, &identities_b);
        let repeated = RepeatedIdentities::new(a, b, &identities_a, &identities_b);
        let matched = matching.pairs.len();
        let pairs: Vec<(usize, usize)> = matching
            .pairs
            .into_iter()
            .filter(|&(row_a, row_b)| keep_a[row_a] || keep_b[row_b])
            .collect();
        let mut only_in_a: Vec<usize> =
            matching.only_in_a.into_iter().filter(|&row| keep_a[row]).collect();
        let mut only_in_b: Vec<usize> =
            matching.only_in_b.into_iter().filter(|&row| keep_b[row]).collect();
        sort_rows(a, metric_a, &mut only_in_a);
        sort_rows(b, metric_b, &mut only_in_b);

        // Most improved first; pairs without a value in both runs go last, in A's order.
        let higher = higher_is_better(sort);
        let values_a = metric_a.number().expect("a metric is numeric");
        let values_b = metric_b.number().expect("a metric is numeric");
        let mut keys: Vec<(RankKey, usize)> = pairs
            .iter()
            .enumerate()
            .map(|(index, &(row_a, row_b))| {
                let ok = a.is_ok(row_a) && b.is_ok(row_b);
                let change = metric_change(values_a, row_a, values_b, row_b);
                (RankKey::new(ok, change, row_a), index)
            })
            .collect();
        keys.sort_unstable_by(|x, y| x.0.compare(&y.0, higher));
        let pairs: Vec<(usize, usize)> = keys.iter().map(|&(_, index)| pairs[index]).collect();
        let shown_count = top.map_or(pairs.len(), |top| top.min(pairs.len()));

        // Line up the columns.
        let mut shared_columns = Vec::new();
        let mut only_columns_a = Vec::new();
        for (index_a, column) in a.columns.iter().enumerate() {
            match b.columns.iter().position(|other| other.name == column.name) {
                Some(_) if NAME_COLUMNS.contains(&column.name.as_str()) => {}
                Some(index_b) => shared_columns.push((index_a, index_b)),
                None => only_columns_a.push(index_a),
            }
        }
        let only_columns_b = (0..b.columns.len())
            .filter(|&index| a.column(&b.columns[index].name).is_none())
            .collect();

        Ok(RunDiff {
            a,
            b,
            metric_a,
            metric_b,
            pairs,
            shown_count,
            matched,
            only_in_a,
            only_in_b,
            identity_params: params.len(),
            repeated,
            shared_columns,
            only_columns_a,
            only_columns_b,
        })
    }

    fn shown_pairs(&self) -> &[(usize, usize)] {
        &self.pairs[..self.shown_count]
    }

    /// Appends the name of a matched trial to `buffer`: its name in A, followed by ` -> ` and
    /// its name in B when they differ.
    fn push_pair_name(&self, row_a: usize, row_b: usize, buffer: &mut String) {
        let (name_a, name_b) = (self.a.trial(row_a), self.b.trial(row_b));
        buffer.push_str(name_a);
        if name_a != name_b {
            buffer.push_str(" -> ");
            buffer.push_str(name_b);
        }
    }

    /// Returns whether the shared column `index` (into `shared_columns`) differs between
    /// `row_a` of A and `row_b` of B.
    fn changed(&self, index: usize, row_a: usize, row_b: usize) -> bool {
        let (column_a, column_b) = self.shared_columns[index];
        !cells_equal(&self.a.columns[column_a], row_a, &self.b.columns[column_b], row_b)
    }

    /// Writes the changes as text: the runs, the columns in only one run, the parameters that
    /// changed, one line per matched trial and the trials in only one run.
    fn write_table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let (a, b) = (self.a, self.b);
        let metric = self.metric_a.name.as_str();
        writeln!(out, "A: {} ({})", a.path.display(), count_trials(a.rows()))?;
        writeln!(out, "B: {} ({})", b.path.display(), count_trials(b.rows()))?;
        self.write_column_summary(out)?;
        self.write_metric_summary(out)?;
        writeln!(out)?;

        // One line per matched trial.
        let direction = if higher_is_better(metric) { "higher" } else { "lower" };
        writeln!(
            out,
            "Trials in both runs, most improved first; A, B and Δ (B - A) are {metric} \
             ({direction} is better):"
        )?;
        let other_metrics: Vec<(&Column, &Column)> = TABLE_METRICS
            .into_iter()
            .filter(|&name| name != metric)
            .filter_map(|name| Some((a.column(name)?, b.column(name)?)))
            .filter(|(x, y)| x.number().is_some() && y.number().is_some())
            .collect();
        let described: Vec<usize> = (0..self.shared_columns.len())
            .filter(|&index| {
                let name = &a.columns[self.shared_columns[index].0].name;
                name.starts_with(PARAM_PREFIX) || DESCRIPTIVE_COLUMNS.contains(&name.as_str())
            })
            .collect();
        let mut grid = Grid::new();
        for header in ["trial", "status", "A", "B", "Δ"] {
            grid.column(header, matches!(header, "A" | "B" | "Δ"));
        }
        for (column, _) in &other_metrics {
            grid.column(&format!("Δ {}", column.name), true);
        }
        grid.column("changed parameters", false);
        let values_a = self.metric_a.number().expect("a metric is numeric");
        let values_b = self.metric_b.number().expect("a metric is numeric");
        let integer = self.metric_a.is_integer() && self.metric_b.is_integer();
        for &(row_a, row_b) in self.shown_pairs() {
            grid.cell(|s| self.push_pair_name(row_a, row_b, s));
            grid.cell(|s| {
                let status_a = text_at(&a.status, row_a).unwrap_or("-");
                let status_b = text_at(&b.status, row_b).unwrap_or("-");
                s.push_str(status_a);
                if status_a != status_b {
                    s.push_str(" -> ");
                    s.push_str(status_b);
                }
            });
            grid.cell(|s| push_display_number(s, number_at(values_a, row_a), integer));
            grid.cell(|s| push_display_number(s, number_at(values_b, row_b), integer));
            grid.cell(|s| push_signed_number(s, metric_change(values_a, row_a, values_b, row_b)));
            for (column_a, column_b) in &other_metrics {
                let (x, y) =
                    (column_a.number().expect("numeric"), column_b.number().expect("numeric"));
                grid.cell(|s| push_signed_number(s, metric_change(x, row_a, y, row_b)));
            }
            grid.cell(|s| {
                let start = s.len();
                for &index in described.iter().filter(|&&index| self.changed(index, row_a, row_b)) {
                    let (column_a, column_b) = self.shared_columns[index];
                    if s.len() > start {
                        s.push_str("; ");
                    }
                    s.push_str(&a.columns[column_a].name);
                    s.push(' ');
                    a.columns[column_a].push_display(row_a, s);
                    s.push_str(" -> ");
                    b.columns[column_b].push_display(row_b, s);
                }
            });
        }
        grid.write(out)?;
        writeln!(out)?;
        writeln!(
            out,
            "showing {} of {} in both runs; hidden: {} by --filter, {} by --top",
            self.shown_count,
            count_trials(self.matched),
            self.matched - self.pairs.len(),
            self.pairs.len() - self.shown_count
        )?;

        self.write_unmatched(out)
    }

    /// Writes the columns found in only one run, what the trials are matched by and, when a
    /// run repeats an identity, that those trials are paired in file order.
    fn write_column_summary(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        for (run, table, columns) in
            [("A", self.a, &self.only_columns_a), ("B", self.b, &self.only_columns_b)]
        {
            let names = |params: bool| -> Vec<&str> {
                columns
                    .iter()
                    .map(|&index| table.columns[index].name.as_str())
                    .filter(|name| name.starts_with(PARAM_PREFIX) == params)
                    .collect()
            };
            let (params, others) = (names(true), names(false));
            if !params.is_empty() {
                writeln!(out, "parameters only in {run}: {}", params.join(", "))?;
            }
            if !others.is_empty() {
                writeln!(out, "other columns only in {run}: {}", others.join(", "))?;
            }
        }

        writeln!(
            out,
            "matched by: stage and the values of the {} that both runs have, not trial \
             names",
            count_parameters(self.identity_params)
        )?;
        if let Some(note) = self.repeated.note() {
            writeln!(out, "{note}")?;
        }
        Ok(())
    }

    /// Writes how many matched trials improved on the sort metric, and the mean change.
    fn write_metric_summary(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let values_a = self.metric_a.number().expect("a metric is numeric");
        let values_b = self.metric_b.number().expect("a metric is numeric");
        let higher = higher_is_better(&self.metric_a.name);
        let (mut improved, mut worse, mut unchanged, mut missing, mut sum) = (0, 0, 0, 0, 0.0);
        for &(row_a, row_b) in &self.pairs {
            let ok = self.a.is_ok(row_a) && self.b.is_ok(row_b);
            match metric_change(values_a, row_a, values_b, row_b)
                .filter(|change| ok && !change.is_nan())
            {
                None => missing += 1,
                Some(change) => {
                    sum += change;
                    if change == 0.0 {
                        unchanged += 1;
                    } else if (change > 0.0) == higher {
                        improved += 1;
                    } else {
                        worse += 1;
                    }
                }
            }
        }
        let with_values = improved + worse + unchanged;
        write!(
            out,
            "{}: {improved} improved, {worse} worse, {unchanged} unchanged, {missing} without a \
             value in both runs",
            self.metric_a.name
        )?;
        if with_values > 0 {
            write!(out, "; mean change {:+.4}", sum / with_values as f64)?;
        }
        writeln!(out)?;
        Ok(())
    }

    /// Writes the trials found in only one run.
    fn write_unmatched(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.only_in_a.is_empty() && self.only_in_b.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        writeln!(out, "Trials in only one run:")?;
        let mut grid = Grid::new();
        for header in ["run", "trial", "stage", "status"] {
            grid.column(header, false);
        }
        grid.column(&self.metric_a.name, true);
        for (run, table, metric, rows) in [
            ("A", self.a, self.metric_a, &self.only_in_a),
            ("B", self.b, self.metric_b, &self.only_in_b),
        ] {
            for &row in rows {
                grid.cell(|s| s.push_str(run));
                grid.cell(|s| s.push_str(table.trial(row)));
                grid.cell(|s| s.push_str(text_at(&table.stage, row).unwrap_or("-")));
                grid.cell(|s| s.push_str(text_at(&table.status, row).unwrap_or("-")));
                grid.cell(|s| metric.push_display(row, s));
            }
        }
        grid.write(out)?;
        Ok(())
    }

    /// Builds the changes as a table with one row per change.
    ///
    /// Columns: `trial` (null for a column in only one run), `change` (`only_in_a`,
    /// `only_in_b`, `changed` or `unchanged`), `column` (null for a whole trial), `a` and `b`
    /// (the values as text, numbers in full precision) and `delta` (B - A, for numbers).
    /// A matched trial gives one `changed` row per differing column, or one `unchanged` row,
    /// and its `trial` is written like `mlp-eval#5 -> mlp-eval#7` when its names differ.
    fn to_batch(&self) -> RecordBatch {
        let mut rows = ChangeRows::default();
        for (change, table, columns) in [
            ("only_in_a", self.a, &self.only_columns_a),
            ("only_in_b", self.b, &self.only_columns_b),
        ] {
            for &index in columns {
                rows.push(None, change, Some(&table.columns[index].name), None, None, None);
            }
        }

        let mut text_a = String::new();
        let mut text_b = String::new();
        let mut trial_name = String::new();
        for &(row_a, row_b) in self.shown_pairs() {
            trial_name.clear();
            self.push_pair_name(row_a, row_b, &mut trial_name);
            let trial = trial_name.as_str();
            let mut any = false;
            for (index, &(column_a, column_b)) in self.shared_columns.iter().enumerate() {
                if !self.changed(index, row_a, row_b) {
                    continue;
                }
                any = true;
                let (column_a, column_b) = (&self.a.columns[column_a], &self.b.columns[column_b]);
                let a = exact_text(column_a, row_a, &mut text_a);
                let b = exact_text(column_b, row_b, &mut text_b);
                let delta = match (column_a.number(), column_b.number()) {
                    (Some(x), Some(y)) => metric_change(x, row_a, y, row_b),
                    _ => None,
                };
                rows.push(Some(trial), "changed", Some(&column_a.name), a, b, delta);
            }
            if !any {
                rows.push(Some(trial), "unchanged", None, None, None, None);
            }
        }

        for (change, table, trials) in
            [("only_in_a", self.a, &self.only_in_a), ("only_in_b", self.b, &self.only_in_b)]
        {
            for &row in trials {
                rows.push(Some(table.trial(row)), change, None, None, None, None);
            }
        }
        rows.finish()
    }
}

/// Builders for the columns of [`RunDiff::to_batch`].
#[derive(Default)]
struct ChangeRows {
    trial: StringBuilder,
    change: StringBuilder,
    column: StringBuilder,
    a: StringBuilder,
    b: StringBuilder,
    delta: Float64Builder,
}

impl ChangeRows {
    fn push(
        &mut self,
        trial: Option<&str>,
        change: &str,
        column: Option<&str>,
        a: Option<&str>,
        b: Option<&str>,
        delta: Option<f64>,
    ) {
        self.trial.append_option(trial);
        self.change.append_value(change);
        self.column.append_option(column);
        self.a.append_option(a);
        self.b.append_option(b);
        self.delta.append_option(delta);
    }

    fn finish(mut self) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("trial", DataType::Utf8, true),
            Field::new("change", DataType::Utf8, false),
            Field::new("column", DataType::Utf8, true),
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("delta", DataType::Float64, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trial.finish()),
            Arc::new(self.change.finish()),
            Arc::new(self.column.finish()),
            Arc::new(self.a.finish()),
            Arc::new(self.b.finish()),
            Arc::new(self.delta.finish()),
        ];
        RecordBatch::try_new(Arc::new(schema), columns)
            .expect("columns are built to match the schema")
    }
}

/// Returns the parameter columns that both runs have, as (index in A, index in B), in A's
/// order.
fn shared_params(a: &ResultsTable, b: &ResultsTable) -> Vec<(usize, usize)> {
    let mut shared = Vec::new();
    for (index_a, column) in a.columns.iter().enumerate().filter(|(_, c)| c.is_param()) {
        if let Some(index_b) = b.columns.iter().position(|other| other.name == column.name) {
            shared.push((index_a, index_b));
        }
    }
    shared
}

/// Key that matches a trial across two runs: its stage, then the value of each shared
/// parameter as canonical JSON (see [`canonical_json`]), `None` for a null cell.
type Identity = Vec<Option<String>>;

/// Returns the identity of every row of `table`, from the parameter columns at `params`.
fn identities(table: &ResultsTable, params: impl Iterator<Item = usize>) -> Vec<Identity> {
    let params: Vec<&StringArray> = params
        .map(|index| table.columns[index].text().expect("parameter columns are text"))
        .collect();
    (0..table.rows())
        .map(|row| {
            let stage = text_at(&table.stage, row).map(str::to_string);
            let values = params.iter().map(|values| {
                text_at(values, row).map(|text| {
                    let mut canonical = String::new();
                    canonical_json(&parse_json_or_string(text), &mut canonical);
                    canonical
                })
            });
            std::iter::once(stage).chain(values).collect()
        })
        .collect()
}

/// Appends `value` as JSON text on which equality agrees with [`json_equal`]: object keys
/// sorted, and every number written as its `f64` value, with -0 as 0.
fn canonical_json(value: &serde_json::Value, buffer: &mut String) {
    use serde_json::Value;
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(0.0) => buffer.push('0'),
            Some(x) => {
                let _ = write!(buffer, "{x}");
            }
            None => buffer.push_str(&number.to_string()),
        },
        Value::Array(items) => {
            buffer.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    buffer.push(',');
                }
                canonical_json(item, buffer);
            }
            buffer.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by_key(|&(key, _)| key);
            buffer.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    buffer.push(',');
                }
                buffer.push_str(&Value::String(key.clone()).to_string());
                buffer.push(':');
                canonical_json(item, buffer);
            }
            buffer.push('}');
        }
        other => buffer.push_str(&other.to_string()),
    }
}

/// Trials of two runs paired by identity.
struct Matching {
    /// (row in A, row in B), in A's row order.
    pairs: Vec<(usize, usize)>,
    only_in_a: Vec<usize>,
    only_in_b: Vec<usize>,
}

/// Pairs each row of A with a row of B of the same identity: the first row of an identity in
/// A with its first row in B, the second with the second, and so on.
fn match_identities(a: &[Identity], b: &[Identity]) -> Matching {
    let mut rows_b: HashMap<&Identity, VecDeque<usize>> = HashMap::new();
    for (row, identity) in b.iter().enumerate() {
        rows_b.entry(identity).or_default().push_back(row);
    }
    let mut pairs = Vec::new();
    let mut only_in_a = Vec::new();
    for (row_a, identity) in a.iter().enumerate() {
        match rows_b.get_mut(identity).and_then(VecDeque::pop_front) {
            Some(row_b) => pairs.push((row_a, row_b)),
            None => only_in_a.push(row_a),
        }
    }
    let mut only_in_b: Vec<usize> = rows_b.into_values().flatten().collect();
    only_in_b.sort_unstable();
    Matching { pairs, only_in_a, only_in_b }
}

/// Returns the rows of each identity, in row order.
fn rows_by_identity(identities: &[Identity]) -> HashMap<&Identity, Vec<usize>> {
    let mut rows: HashMap<&Identity, Vec<usize>> = HashMap::new();
    for (row, identity) in identities.iter().enumerate() {
        rows.entry(identity).or_default().push(row);
    }
    rows
}

/// Trials whose identity is repeated in one run and present in the other. Nothing
/// distinguishes them, so [`match_identities`] pairs them in file order.
#[derive(Debug, Default)]
struct RepeatedIdentities {
    /// Number of such trials in A and in B.
    trials_a: usize,
    trials_b: usize,
    /// Names of the trials of the first such identity in the run that repeats it, and that
    /// run's letter.
    example: Option<(&'static str, Vec<String>)>,
}

impl RepeatedIdentities {
    fn new(a: &ResultsTable, b: &ResultsTable, ids_a: &[Identity], ids_b: &[Identity]) -> Self {
        let rows_a = rows_by_identity(ids_a);
        let rows_b = rows_by_identity(ids_b);

        let mut repeated = RepeatedIdentities::default();
        let mut seen: Vec<&Identity> = Vec::new();
        for identity in ids_a {
            let (Some(in_a), Some(in_b)) = (rows_a.get(identity), rows_b.get(identity)) else {
                continue;
            };
            if (in_a.len() == 1 && in_b.len() == 1) || seen.contains(&identity) {
                continue;
            }
            seen.push(identity);
            repeated.trials_a += in_a.len();
            repeated.trials_b += in_b.len();
            if repeated.example.is_none() {
                let (run, table, rows) =
                    if in_a.len() > 1 { ("A", a, in_a) } else { ("B", b, in_b) };
                let names = rows.iter().map(|&row| table.trial(row).to_string()).collect();
                repeated.example = Some((run, names));
            }
        }
        repeated
    }

    /// Returns the one-line note on the repeated identities, or `None` when there are none.
    fn note(&self) -> Option<String> {
        let (run, names) = self.example.as_ref()?;
        Some(format!(
            "{} of A and {} of B share their stage and parameters with another trial of the same \
             run, such as {} in {run}, so they are paired in file order",
            count_trials(self.trials_a),
            count_trials(self.trials_b),
            names.join(", ")
        ))
    }
}

/// Returns B - A for a numeric column, or `None` when either value is null.
fn metric_change(a: &Float64Array, row_a: usize, b: &Float64Array, row_b: usize) -> Option<f64> {
    Some(number_at(b, row_b)? - number_at(a, row_a)?)
}

/// Compares two cells: parameters as JSON, other text exactly, numbers by value with two
/// NaNs equal. Cells of different kinds are equal only when both are null.
fn cells_equal(a: &Column, row_a: usize, b: &Column, row_b: usize) -> bool {
    match (&a.data, &b.data) {
        (ColumnData::Text(x), ColumnData::Text(y)) => {
            match (text_at(x, row_a), text_at(y, row_b)) {
                (Some(x), Some(y)) if x != y && a.is_param() => {
                    json_equal(&parse_json_or_string(x), &parse_json_or_string(y))
                }
                (x, y) => x == y,
            }
        }
        (ColumnData::Number { values: x, .. }, ColumnData::Number { values: y, .. }) => {
            match (number_at(x, row_a), number_at(y, row_b)) {
                (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
                (x, y) => x.is_none() && y.is_none(),
            }
        }
        (ColumnData::Text(x), ColumnData::Number { values: y, .. }) => {
            x.is_null(row_a) && y.is_null(row_b)
        }
        (ColumnData::Number { values: x, .. }, ColumnData::Text(y)) => {
            x.is_null(row_a) && y.is_null(row_b)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output

/// Returns "1 trial" or "N trials".
fn count_trials(count: usize) -> String {
    if count == 1 { "1 trial".to_string() } else { format!("{count} trials") }
}

/// Returns "1 parameter" or "N parameters".
fn count_parameters(count: usize) -> String {
    if count == 1 { "1 parameter".to_string() } else { format!("{count} parameters") }
}

/// A text table whose column widths fit the content.
///
/// Cells are added row by row into one growing string, so building a table allocates only
/// when that string or the list of cell ends grows.
struct Grid {
    headers: Vec<String>,
    right_aligned: Vec<bool>,
    widths: Vec<usize>,
    text: String,
    /// End of each cell in `text`; a cell starts where the previous one ends.
    ends: Vec<usize>,
}

impl Grid {
    fn new() -> Grid {
        Grid {
            headers: Vec::new(),
            right_aligned: Vec::new(),
            widths: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
        }
    }

    fn column(&mut self, header: &str, right_aligned: bool) {
        self.headers.push(header.to_string());
        self.right_aligned.push(right_aligned);
        self.widths.push(header.chars().count());
    }

    /// Adds the next cell, in row-major order, written by `write`.
    fn cell(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        let column = self.ends.len() % self.headers.len();
        let width = self.text[start..].chars().count();
        self.widths[column] = self.widths[column].max(width);
        self.ends.push(self.text.len());
    }

    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let headers: Vec<&str> = self.headers.iter().map(String::as_str).collect();
        self.write_row(out, &headers)?;
        let mut cells = Vec::with_capacity(headers.len());
        let mut start = 0;
        for row in self.ends.chunks(headers.len()) {
            cells.clear();
            for &end in row {
                cells.push(&self.text[start..end]);
                start = end;
            }
            self.write_row(out, &cells)?;
        }
        Ok(())
    }

    fn write_row(&self, out: &mut dyn Write, cells: &[&str]) -> std::io::Result<()> {
        // Left-aligned cells are not padded at the end of a line, and empty ones there are
        // left out, so that lines have no trailing spaces.
        let mut count = cells.len();
        while count > 0 && !self.right_aligned[count - 1] && cells[count - 1].is_empty() {
            count -= 1;
        }
        for (column, cell) in cells[..count].iter().enumerate() {
            let width = self.widths[column];
            if column > 0 {
                out.write_all(b"  ")?;
            }
            if self.right_aligned[column] {
                write!(out, "{cell:>width$}")?;
            } else if column + 1 == count {
                out.write_all(cell.as_bytes())?;
            } else {
                write!(out, "{cell:<width$}")?;
            }
        }
        writeln!(out)
    }
}

/// Writes `rows` as CSV with a header row: text as stored (parameters as JSON text), numbers
/// in full precision, nulls as empty fields.
fn write_csv(out: &mut dyn Write, columns: &[Column], rows: &[usize]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(columns.iter().map(|column| column.name.as_str()))?;
    let mut buffer = String::new();
    for &row in rows {
        for column in columns {
            buffer.clear();
            column.push_exact(row, &mut buffer);
            writer.write_field(&buffer)?;
        }
        writer.write_record(None::<&[u8]>)?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes `rows` as a JSON array with one object per line, keys in column order.
///
/// Parameter cells are embedded as the JSON they contain, or as a string when they are not
/// valid JSON. Nulls, NaN and infinities are written as `null`.
fn write_json(out: &mut dyn Write, columns: &[Column], rows: &[usize]) -> anyhow::Result<()> {
    let mut buffer = String::new();
    out.write_all(b"[")?;
    for (index, &row) in rows.iter().enumerate() {
        out.write_all(if index == 0 { b"\n  {" } else { b",\n  {" })?;
        for (position, column) in columns.iter().enumerate() {
            if position > 0 {
                out.write_all(b", ")?;
            }
            serde_json::to_writer(&mut *out, &column.name)?;
            out.write_all(b": ")?;
            match &column.data {
                ColumnData::Text(values) => match text_at(values, row) {
                    None => out.write_all(b"null")?,
                    Some(text) if column.is_param() && is_json(text) => {
                        out.write_all(text.as_bytes())?
                    }
                    Some(text) => serde_json::to_writer(&mut *out, text)?,
                },
                ColumnData::Number { values, integer } => match number_at(values, row) {
                    Some(value) if value.is_finite() => {
                        buffer.clear();
                        push_exact_number(&mut buffer, value, *integer);
                        out.write_all(buffer.as_bytes())?;
                    }
                    _ => out.write_all(b"null")?,
                },
            }
        }
        out.write_all(b"}")?;
    }
    out.write_all(if rows.is_empty() { b"]\n" } else { b"\n]\n" })?;
    Ok(())
}

/// Returns whether `text` is one valid JSON value.
fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use arrow::array::UInt32Array;
    use serde_json::json;

    use super::*;

    /// One trial of a test `results.parquet`. The metrics that the tests do not set are
    /// derived from `average_precision`.
    #[derive(Debug, Clone)]
    struct Row {
        trial: String,
        model: String,
        stage: String,
        model_kind: String,
        status: &'static str,
        error: Option<String>,
        average_precision: Option<f64>,
        train_seconds: Option<f64>,
        best_epoch: Option<u32>,
        /// Parameter paths without the `p.` prefix, with their JSON text.
        params: Vec<(String, String)>,
    }

    impl Row {
        fn mlp(index: usize, average_precision: f64, learning_rate: &str) -> Row {
            Row {
                trial: format!("mlp-eval#{index}"),
                model: format!("mlp#{index}"),
                stage: "mlp".into(),
                model_kind: "mlp".into(),
                status: "ok",
                error: None,
                average_precision: Some(average_precision),
                train_seconds: Some(10.0 + index as f64),
                best_epoch: Some(index as u32 + 1),
                params: vec![
                    ("mlp.learning_rate".into(), learning_rate.into()),
                    ("mlp.hidden".into(), "[64,32]".into()),
                    ("mlp.activation".into(), "\"relu\"".into()),
                    ("split.log1p".into(), "true".into()),
                ],
            }
        }

        fn autoencoder(index: usize, average_precision: f64) -> Row {
            Row {
                trial: format!("ae-eval#{index}"),
                model: format!("ae#{index}"),
                stage: "ae".into(),
                model_kind: "autoencoder".into(),
                status: "ok",
                error: None,
                average_precision: Some(average_precision),
                train_seconds: Some(20.0 + index as f64),
                best_epoch: Some(index as u32 + 1),
                params: vec![
                    ("ae.latent".into(), "8".into()),
                    ("split.log1p".into(), "true".into()),
                ],
            }
        }

        fn failed(mut self, status: &'static str, error: &str) -> Row {
            self.status = status;
            self.error = Some(error.into());
            self.average_precision = None;
            self.best_epoch = None;
            self
        }

        fn param(mut self, name: &str, value: &str) -> Row {
            self.params.retain(|(existing, _)| existing != name);
            self.params.push((name.into(), value.into()));
            self
        }

        fn metric(&self, scale: f64) -> Option<f64> {
            self.average_precision.map(|ap| if ap.is_nan() { ap } else { ap * scale })
        }

        /// Returns the trial as the grid position `index` names it, everything else kept.
        fn renumbered(mut self, index: usize) -> Row {
            let (trial_stage, _) = self.trial.split_once('#').unwrap();
            let (model_stage, _) = self.model.split_once('#').unwrap();
            self.trial = format!("{trial_stage}#{index}");
            self.model = format!("{model_stage}#{index}");
            self
        }

        /// Returns a stand-in for a cache key, which like the real one depends on the stage
        /// and the parameters but not on the trial's name.
        fn content_key(&self, kind: &str) -> String {
            let mut params = self.params.clone();
            params.sort();
            let params: Vec<String> =
                params.iter().map(|(name, value)| format!("{name}={value}")).collect();
            format!("{kind}-{}-{}", self.stage, params.join(","))
        }
    }

    /// Writes `rows` as `dir/results.parquet` with the column layout of the `experiment`
    /// command and returns the file's path.
    fn write_results(dir: &Path, rows: &[Row]) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();

        let text = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let number = |f: &dyn Fn(&Row) -> Option<f64>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<Float64Array>())
        };
        let whole = |f: &dyn Fn(&Row) -> Option<u32>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<UInt32Array>())
        };
        let ok = |row: &Row| row.status == "ok";

        let mut columns: Vec<(String, DataType, ArrayRef)> = vec![
            ("trial".into(), DataType::Utf8, text(&|r| Some(r.trial.clone()))),
            ("model".into(), DataType::Utf8, text(&|r| Some(r.model.clone()))),
            ("stage".into(), DataType::Utf8, text(&|r| Some(r.stage.clone()))),
            ("model_kind".into(), DataType::Utf8, text(&|r| Some(r.model_kind.clone()))),
            ("status".into(), DataType::Utf8, text(&|r| Some(r.status.to_string()))),
            ("error".into(), DataType::Utf8, text(&|r| r.error.clone())),
            ("roc_auc".into(), DataType::Float64, number(&|r| r.metric(0.5).map(|v| v + 0.5))),
            ("average_precision".into(), DataType::Float64, number(&|r| r.average_precision)),
            ("f1".into(), DataType::Float64, number(&|r| r.metric(0.9))),
            ("precision".into(), DataType::Float64, number(&|r| r.metric(0.8))),
            ("recall".into(), DataType::Float64, number(&|r| r.metric(0.7))),
            ("precision_at_k".into(), DataType::Float64, number(&|r| r.metric(0.6))),
            ("recall_at_1pct_fpr".into(), DataType::Float64, number(&|r| r.metric(0.5))),
            ("validation_average_precision".into(), DataType::Float64, number(&|r| r.metric(1.0))),
            ("best_epoch".into(), DataType::UInt32, whole(&|r| r.best_epoch)),
            ("epochs_run".into(), DataType::UInt32, whole(&|r| r.best_epoch.map(|e| e + 5))),
            ("train_seconds".into(), DataType::Float64, number(&|r| r.train_seconds)),
            ("evaluate_seconds".into(), DataType::Float64, number(&|r| ok(r).then_some(1.5))),
            ("train_key".into(), DataType::Utf8, text(&|r| Some(r.content_key("train")))),
            ("evaluate_key".into(), DataType::Utf8, text(&|r| Some(r.content_key("eval")))),
        ];
        let names: BTreeSet<&str> =
            rows.iter().flat_map(|r| r.params.iter().map(|(name, _)| name.as_str())).collect();
        for name in names {
            let values = text(&|r| {
                r.params.iter().find(|(param, _)| param == name).map(|(_, value)| value.clone())
            });
            columns.push((format!("p.{name}"), DataType::Utf8, values));
        }

        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, data_type, _)| Field::new(name, data_type.clone(), true))
            .collect();
        let arrays = columns.into_iter().map(|(_, _, array)| array).collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
        let path = dir.join(RESULTS_FILE);
        common::write_parquet(&path, &batch).unwrap();
        path
    }

    /// Six trials: four MLPs with two learning rates, one of them failed, and two
    /// autoencoders.
    fn six_trials() -> Vec<Row> {
        vec![
            Row::mlp(0, 0.50, "0.001"),
            Row::mlp(1, 0.90, "0.01"),
            Row::mlp(2, 0.70, "0.001"),
            Row::mlp(3, 0.0, "0.01").failed("failed", "loss diverged at epoch 4"),
            Row::autoencoder(0, 0.60),
            Row::autoencoder(1, 0.40),
        ]
    }

    fn args(runs: &[&Path]) -> CompareArgs {
        CompareArgs {
            runs: runs.iter().map(|path| path.to_path_buf()).collect(),
            runs_dir: PathBuf::from("runs"),
            sort: "average_precision".into(),
            top: None,
            filters: Vec::new(),
            format: Format::Table,
            output: None,
        }
    }

    fn output(args: &CompareArgs) -> anyhow::Result<String> {
        let mut out = Vec::new();
        compare(args, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn error(args: &CompareArgs) -> String {
        format!("{:#}", output(args).expect_err("compare should fail"))
    }

    fn filters(texts: &[&str]) -> Vec<Filter> {
        texts.iter().map(|text| Filter::parse(text).unwrap()).collect()
    }

    /// Returns the trial names of a ranking, best first.
    fn ranked(table: &ResultsTable, sort: &str, filter_texts: &[&str]) -> Vec<String> {
        let ranking = Ranking::new(table, sort, &filters(filter_texts), None).unwrap();
        ranking.rows.iter().map(|&row| table.trial(row).to_string()).collect()
    }

    /// Returns the header line and the data lines of the first grid in a text table.
    fn grid_lines<'t>(text: &'t str, first_header: &str) -> (&'t str, Vec<&'t str>) {
        let mut lines =
            text.lines().skip_while(|line| !line.trim_start().starts_with(first_header));
        let header = lines.next().expect("the output has the grid header");
        (header, lines.take_while(|line| !line.is_empty()).collect())
    }

    #[test]
    fn ranking_puts_nulls_and_failures_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut no_value = Row::mlp(4, 0.0, "0.001");
        no_value.average_precision = None;
        let mut nan = Row::mlp(5, f64::NAN, "0.001");
        nan.trial = "nan-eval".into();
        let rows = vec![
            Row::mlp(0, 0.5, "0.001"),
            no_value,
            Row::mlp(2, 0.9, "0.001"),
            Row::mlp(3, 0.0, "0.001").failed("failed", "diverged"),
            nan,
            Row::mlp(6, 0.7, "0.001"),
            Row::mlp(7, 0.0, "0.001").failed("skipped", "upstream failed"),
        ];
        let table = ResultsTable::read(&write_results(dir.path(), &rows)).unwrap();

        let order = ranked(&table, "average_precision", &[]);
        assert_eq!(
            order,
            [
                "mlp-eval#2",
                "mlp-eval#6",
                "mlp-eval#0",
                "mlp-eval#4",
                "nan-eval",
                "mlp-eval#3",
                "mlp-eval#7"
            ]
        );
    }

    #[test]
    fn ranking_by_seconds_is_ascending() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = six_trials();
        // The failed trial ran fastest, but a trial that is not ok still ranks last.
        rows[3].train_seconds = Some(1.0);
        let table = ResultsTable::read(&write_results(dir.path(), &rows)).unwrap();

        let order = ranked(&table, "train_seconds", &[]);
        assert_eq!(
            order,
            ["mlp-eval#0", "mlp-eval#1", "mlp-eval#2", "ae-eval#0", "ae-eval#1", "mlp-eval#3"]
        );
        let table_text =
            output(&CompareArgs { sort: "train_seconds".into(), ..args(&[dir.path()]) }).unwrap();
        assert!(table_text.contains("ranked by train_seconds (lower is better)"), "{table_text}");
    }

    #[test]
    fn ranking_ties_keep_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![Row::mlp(0, 0.8, "0.1"), Row::mlp(1, 0.9, "0.2"), Row::mlp(2, 0.9, "0.3")];
        let path = write_results(dir.path(), &rows);
        let table = ResultsTable::read(&path).unwrap();
        assert_eq!(
            ranked(&table, "average_precision", &[]),
            ["mlp-eval#1", "mlp-eval#2", "mlp-eval#0"]
        );

        let text = output(&args(&[dir.path()])).unwrap();
        let (_, lines) = grid_lines(&text, "rank");
        let marked: Vec<bool> = lines.iter().map(|line| line.starts_with('*')).collect();
        assert_eq!(marked, [true, true, false], "{text}");
    }

    #[test]
    fn unknown_sort_metric_lists_the_metrics() {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), &six_trials());

        let message = error(&CompareArgs { sort: "ap".into(), ..args(&[dir.path()]) });
        assert!(message.starts_with("unknown sort metric `ap`; metrics in "), "{message}");
        assert!(message.contains("roc_auc, average_precision, f1, precision"), "{message}");
        assert!(
            message.contains("best_epoch, epochs_run, train_seconds, evaluate_seconds"),
            "{message}"
        );
        assert!(!message.contains("p.mlp"), "{message}");

        let message = error(&CompareArgs { sort: "stage".into(), ..args(&[dir.path()]) });
        assert!(
            message.starts_with("cannot sort by `stage` because it is not a metric"),
            "{message}"
        );
    }

    #[test]
    fn table_shows_varying_parameters_only() {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), &six_trials());

        let text = output(&args(&[dir.path()])).unwrap();
        let (header, lines) = grid_lines(&text, "rank");
        // The learning rate varies; the hidden sizes, activation and log1p are the same in
        // every trial, and the autoencoder's latent size has one non-null value.
        assert!(header.contains("p.mlp.learning_rate"), "{text}");
        assert!(!header.contains("p.mlp.hidden"), "{text}");
        assert!(!header.contains("p.mlp.activation"), "{text}");
        assert!(!header.contains("p.split.log1p"), "{text}");
        assert!(!header.contains("p.ae.latent"), "{text}");
        assert!(text.contains("4 parameters that have one value among the shown trials"), "{text}");
        assert_eq!(lines.len(), 6, "{text}");

        // The learning rate stops varying once a filter keeps one value.
        let text = output(&CompareArgs {
            filters: vec!["p.mlp.learning_rate=0.01".into()],
            ..args(&[dir.path()])
        })
        .unwrap();
        let (header, _) = grid_lines(&text, "rank");
        assert!(!header.contains("p.mlp.learning_rate"), "{text}");
    }

    #[test]
    fn table_rows_are_ranked_aligned_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_results(dir.path(), &six_trials());

        let text = output(&args(&[dir.path()])).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!("{}: 6 trials, ranked by average_precision (higher is better)", path.display())
        );
        let (header, lines) = grid_lines(&text, "rank");
        let trial_at = header.find("trial").unwrap();
        let names: Vec<&str> =
            lines.iter().map(|line| line[trial_at..].split(' ').next().unwrap()).collect();
        assert_eq!(
            names,
            ["mlp-eval#1", "mlp-eval#2", "ae-eval#0", "mlp-eval#0", "ae-eval#1", "mlp-eval#3"]
        );
        assert!(lines[0].starts_with("*     1  mlp-eval#1"), "{text}");
        assert!(lines[1].starts_with("      2  mlp-eval#2"), "{text}");
        // Right-aligned numbers with 4 decimals end where their header ends.
        let ap_end = header.find("average_precision").unwrap() + "average_precision".len();
        assert_eq!(&lines[0][ap_end - 6..ap_end], "0.9000", "{text}");
        // roc_auc = 0.5 + 0.9 / 2 for the best trial.
        assert!(lines[0].contains("0.9500"), "{text}");
        assert!(lines[5].contains("failed"), "{text}");
        assert!(text.contains("* best average_precision\n"), "{text}");
        assert!(
            text.contains("showing 6 of 6 trials; hidden: 0 by --filter, 0 by --top"),
            "{text}"
        );
        assert!(text.contains("failed  mlp-eval#3  loss diverged at epoch 4"), "{text}");
        assert!(text.lines().all(|line| !line.ends_with(' ')), "trailing spaces:\n{text}");
    }

    #[test]
    fn top_limits_rows_and_counts_hidden() {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), &six_trials());

        let text = output(&CompareArgs { top: Some(2), ..args(&[dir.path()]) }).unwrap();
        let (_, lines) = grid_lines(&text, "rank");
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            text.contains("showing 2 of 6 trials; hidden: 0 by --filter, 4 by --top"),
            "{text}"
        );
        // The failed trial is past the top 2, so no error is listed.
        assert!(!text.contains("loss diverged"), "{text}");

        let text = output(&CompareArgs {
            top: Some(3),
            filters: vec!["stage=mlp".into()],
            ..args(&[dir.path()])
        })
        .unwrap();
        let (_, lines) = grid_lines(&text, "rank");
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            text.contains("showing 3 of 6 trials; hidden: 2 by --filter, 1 by --top"),
            "{text}"
        );
    }

    #[test]
    fn filters_match_text_json_and_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = six_trials();
        rows[2] = rows[2].clone().param("mlp.hidden", "[128, 64]");
        let table = ResultsTable::read(&write_results(dir.path(), &rows)).unwrap();
        let matching = |texts: &[&str]| -> BTreeSet<String> {
            ranked(&table, "average_precision", texts).into_iter().collect()
        };
        let set =
            |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };

        assert_eq!(matching(&["stage=ae"]), set(&["ae-eval#0", "ae-eval#1"]));
        assert_eq!(matching(&["status=failed"]), set(&["mlp-eval#3"]));
        assert_eq!(
            matching(&["model_kind=autoencoder", "status=ok"]),
            set(&["ae-eval#0", "ae-eval#1"])
        );
        // Parameters compare as JSON, whatever the spacing or number notation.
        assert_eq!(matching(&["p.mlp.hidden=[128,64]"]), set(&["mlp-eval#2"]));
        assert_eq!(
            matching(&["p.mlp.hidden=[64, 32]"]),
            set(&["mlp-eval#0", "mlp-eval#1", "mlp-eval#3"])
        );
        assert_eq!(matching(&["p.mlp.learning_rate=1e-2", "status=ok"]), set(&["mlp-eval#1"]));
        // A bare word is a JSON string, so `relu` and `"relu"` both match.
        assert_eq!(matching(&["p.mlp.activation=relu"]).len(), 4);
        assert_eq!(matching(&["p.mlp.activation=\"relu\""]).len(), 4);
        assert_eq!(matching(&["p.mlp.activation=tanh"]).len(), 0);
        // `null` matches the trials that a parameter does not apply to.
        assert_eq!(matching(&["p.ae.latent=null"]).len(), 4);
        assert_eq!(matching(&["p.ae.latent=8"]), set(&["ae-eval#0", "ae-eval#1"]));
        // Numeric columns compare by value and never match a null.
        assert_eq!(matching(&["best_epoch=3"]), set(&["mlp-eval#2"]));
        assert_eq!(matching(&["train_seconds=20.0"]), set(&["ae-eval#0"]));
        // Text columns never match a null, even with an empty value.
        assert_eq!(matching(&["error="]).len(), 0);
    }

    #[test]
    fn filter_errors_show_the_expected_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_results(dir.path(), &six_trials());
        let with_filter = |filter: &str| {
            error(&CompareArgs { filters: vec![filter.into()], ..args(&[dir.path()]) })
        };

        let message = with_filter("stagemlp");
        assert!(message.starts_with("invalid filter `stagemlp`: there is no `=`"), "{message}");
        assert!(message.contains("expected the form `column=value`"), "{message}");
        let message = with_filter("=mlp");
        assert!(message.contains("the column name is empty"), "{message}");
        let message = with_filter("roc_auc>=0.9");
        assert!(message.contains("only `=` is supported"), "{message}");
        let message = with_filter("stage==mlp");
        assert!(message.contains("only `=` is supported"), "{message}");

        let message = with_filter("p.mlp.lr=0.1");
        assert!(
            message.starts_with("unknown filter column `p.mlp.lr` in `p.mlp.lr=0.1`"),
            "{message}"
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("p.mlp.learning_rate"), "{message}");

        let message = with_filter("best_epoch=three");
        assert!(
            message.contains("`best_epoch` is a numeric column, so the value must be a number"),
            "{message}"
        );
    }

    #[test]
    fn csv_output_has_every_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_results(dir.path(), &six_trials());
        let schema = common::read_parquet(&path).unwrap().schema();

        let text = output(&CompareArgs { format: Format::Csv, ..args(&[dir.path()]) }).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let expected: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(headers, expected);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 6);

        let cell = |record: &csv::StringRecord, name: &str| {
            record.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_string()
        };
        assert_eq!(cell(&records[0], "trial"), "mlp-eval#1");
        assert_eq!(cell(&records[0], "average_precision"), "0.9");
        assert_eq!(cell(&records[0], "best_epoch"), "2");
        assert_eq!(cell(&records[0], "p.mlp.hidden"), "[64,32]");
        assert_eq!(cell(&records[0], "p.mlp.activation"), "\"relu\"");
        assert_eq!(cell(&records[0], "p.ae.latent"), "");
        assert_eq!(cell(&records[5], "trial"), "mlp-eval#3");
        assert_eq!(cell(&records[5], "average_precision"), "");
        assert_eq!(cell(&records[5], "error"), "loss diverged at epoch 4");
    }

    #[test]
    fn json_output_has_one_object_per_trial() {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), &six_trials());
        let output_path = dir.path().join("ranked.json");

        let json_args = CompareArgs {
            format: Format::Json,
            output: Some(output_path.clone()),
            filters: vec!["stage=mlp".into()],
            ..args(&[dir.path()])
        };
        assert_eq!(output(&json_args).unwrap(), "", "--output leaves stdout empty");
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&output_path).unwrap()).unwrap();
        let trials = value.as_array().unwrap();
        assert_eq!(trials.len(), 4);
        let best = &trials[0];
        assert_eq!(best["trial"], "mlp-eval#1");
        assert_eq!(best["average_precision"], 0.9);
        assert_eq!(best["best_epoch"], json!(2));
        assert_eq!(best["p.mlp.hidden"], json!([64, 32]));
        assert_eq!(best["p.mlp.activation"], "relu");
        assert_eq!(best["p.split.log1p"], true);
        assert_eq!(best["p.ae.latent"], serde_json::Value::Null);
        assert_eq!(best["error"], serde_json::Value::Null);
        assert_eq!(best.as_object().unwrap().len(), 25);
        let failed = &trials[3];
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["average_precision"], serde_json::Value::Null);

        let empty =
            output(&CompareArgs { format: Format::Json, top: Some(0), ..args(&[dir.path()]) });
        assert_eq!(empty.unwrap(), "[]\n");
    }

    #[test]
    fn parquet_output_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let input = write_results(&dir.path().join("run"), &six_trials());
        let output_path = dir.path().join("ranked.parquet");

        let parquet_args = CompareArgs {
            format: Format::Parquet,
            output: Some(output_path.clone()),
            filters: vec!["status=ok".into()],
            top: Some(4),
            ..args(&[&input])
        };
        assert_eq!(output(&parquet_args).unwrap(), "");
        let original = common::read_parquet(&input).unwrap();
        let written = common::read_parquet(&output_path).unwrap();
        assert_eq!(written.schema(), original.schema());
        let table = ResultsTable::read(&output_path).unwrap();
        let names: Vec<&str> = (0..table.rows()).map(|row| table.trial(row)).collect();
        assert_eq!(names, ["mlp-eval#1", "mlp-eval#2", "ae-eval#0", "mlp-eval#0"]);
        let p_hidden = table.column("p.mlp.hidden").unwrap().text().unwrap();
        assert_eq!(text_at(p_hidden, 0), Some("[64,32]"));
        assert_eq!(text_at(p_hidden, 2), None);

        // The written file is itself a results table that compare can rank.
        let text = output(&args(&[&output_path])).unwrap();
        assert!(text.contains("4 trials, ranked by average_precision"), "{text}");

        let message = error(&CompareArgs { format: Format::Parquet, ..args(&[&input]) });
        assert!(
            message.starts_with("--format parquet needs a file to write; add --output FILE"),
            "{message}"
        );
    }

    /// Run A and run B of a two-run comparison, where B's learning-rate grid gained 0.0003 in
    /// front and lost 0.01, which renumbers its MLP trials.
    ///
    /// `mlp-eval#0` of A is `mlp-eval#1` in B and gains 0.05 average precision. `mlp-eval#1`
    /// of A is `mlp-eval#2` in B and loses 0.10, and `ae-eval#0` is unchanged. A's
    /// `mlp-eval#2` (learning rate 0.01) is only in A and B's `mlp-eval#0` (0.0003) only in B.
    /// B adds the parameter `mlp.dropout` to its MLPs.
    fn two_runs(dir: &Path) -> (PathBuf, PathBuf) {
        let a = vec![
            Row::mlp(0, 0.80, "0.001"),
            Row::mlp(1, 0.70, "0.003"),
            Row::mlp(2, 0.60, "0.01"),
            Row::autoencoder(0, 0.50),
        ];
        let b = vec![
            Row::mlp(0, 0.90, "0.0003").param("mlp.dropout", "0.1"),
            Row::mlp(0, 0.85, "0.001").renumbered(1).param("mlp.dropout", "0.1"),
            Row::mlp(1, 0.60, "0.003").renumbered(2).param("mlp.dropout", "0.1"),
            Row::autoencoder(0, 0.50),
        ];
        (write_results(&dir.join("a"), &a), write_results(&dir.join("b"), &b))
    }

    #[test]
    fn diff_table_shows_changes_and_unmatched_trials() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_runs(dir.path());

        let text = output(&args(&[&a, &b])).unwrap();
        assert!(
            text.starts_with(&format!(
                "A: {} (4 trials)\nB: {} (4 trials)\n",
                a.display(),
                b.display()
            )),
            "{text}"
        );
        assert!(text.contains("\nparameters only in B: p.mlp.dropout\n"), "{text}");
        assert!(!text.contains("only in A:"), "{text}");
        // p.ae.latent, p.mlp.activation, p.mlp.hidden, p.mlp.learning_rate and p.split.log1p.
        assert!(
            text.contains(
                "\nmatched by: stage and the values of the 5 parameters that both runs have, not \
                 trial names\n"
            ),
            "{text}"
        );
        assert!(!text.contains("paired in file order"), "{text}");
        // Mean change: (0.05 + 0 - 0.10) / 3 = -0.0167.
        assert!(
            text.contains(
                "average_precision: 1 improved, 1 worse, 1 unchanged, 0 without a value in both \
                 runs; mean change -0.0167\n"
            ),
            "{text}"
        );

        let (header, lines) = grid_lines(&text, "trial");
        assert!(header.contains("Δ roc_auc"), "{text}");
        assert!(header.ends_with("changed parameters"), "{text}");
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("mlp-eval#0 -> mlp-eval#1  ok"), "{text}");
        assert!(lines[0].contains("0.8000  0.8500  +0.0500"), "{text}");
        assert!(lines[1].starts_with("ae-eval#0                 ok"), "{text}");
        assert!(lines[2].starts_with("mlp-eval#1 -> mlp-eval#2  ok"), "{text}");
        assert!(lines[2].contains("0.7000  0.6000  -0.1000"), "{text}");
        // Matched trials have equal parameters, so no line lists a changed one.
        assert!(lines.iter().all(|line| !line.contains("p.")), "{text}");
        assert!(
            text.contains("showing 3 of 3 trials in both runs; hidden: 0 by --filter, 0 by --top"),
            "{text}"
        );
        assert!(text.lines().all(|line| !line.ends_with(' ')), "trailing spaces:\n{text}");

        let (_, unmatched) = grid_lines(&text, "run  trial");
        assert_eq!(unmatched.len(), 2, "{text}");
        assert!(unmatched[0].starts_with("A    mlp-eval#2  mlp    ok"), "{text}");
        assert!(unmatched[0].ends_with("0.6000"), "{text}");
        assert!(unmatched[1].starts_with("B    mlp-eval#0  mlp    ok"), "{text}");
        assert!(unmatched[1].ends_with("0.9000"), "{text}");
    }

    #[test]
    fn diff_matches_renumbered_grid() {
        // B's grid gained the learning rate 0.0003 in front, so its trials with A's learning
        // rates moved up by one. Matched by name, A's mlp-eval#0 (0.001) would pair with B's
        // mlp-eval#0 (0.0003).
        let dir = tempfile::tempdir().unwrap();
        let a_rows =
            vec![Row::mlp(0, 0.80, "0.001"), Row::mlp(1, 0.70, "0.01"), Row::autoencoder(0, 0.50)];
        let b_rows = vec![
            Row::mlp(0, 0.65, "0.0003"),
            a_rows[0].clone().renumbered(1),
            a_rows[1].clone().renumbered(2),
            a_rows[2].clone(),
        ];
        let a = write_results(&dir.path().join("a"), &a_rows);
        let b = write_results(&dir.path().join("b"), &b_rows);

        let text = output(&args(&[&a, &b])).unwrap();
        assert!(
            text.contains(
                "average_precision: 0 improved, 0 worse, 3 unchanged, 0 without a value in both \
                 runs; mean change +0.0000\n"
            ),
            "{text}"
        );
        let (_, lines) = grid_lines(&text, "trial");
        assert_eq!(lines.len(), 3, "{text}");
        // Equal changes keep A's order.
        assert!(lines[0].starts_with("mlp-eval#0 -> mlp-eval#1  ok"), "{text}");
        assert!(lines[0].contains("0.8000  0.8000  +0.0000"), "{text}");
        assert!(lines[1].starts_with("mlp-eval#1 -> mlp-eval#2  ok"), "{text}");
        assert!(lines[1].contains("0.7000  0.7000  +0.0000"), "{text}");
        assert!(lines[2].starts_with("ae-eval#0                 ok"), "{text}");
        for line in &lines {
            assert!(line.ends_with("+0.0000"), "a matched trial lists a change:\n{text}");
        }
        let (_, unmatched) = grid_lines(&text, "run  trial");
        assert_eq!(unmatched.len(), 1, "{text}");
        assert!(unmatched[0].starts_with("B    mlp-eval#0  mlp    ok"), "{text}");

        // The machine output reports every matched trial unchanged, names included.
        let json_text = output(&CompareArgs { format: Format::Json, ..args(&[&a, &b]) }).unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json_text).unwrap();
        let summary: Vec<(&str, &str)> = rows
            .iter()
            .map(|row| (row["trial"].as_str().unwrap(), row["change"].as_str().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                ("mlp-eval#0 -> mlp-eval#1", "unchanged"),
                ("mlp-eval#1 -> mlp-eval#2", "unchanged"),
                ("ae-eval#0", "unchanged"),
                ("mlp-eval#0", "only_in_b"),
            ],
            "{json_text}"
        );
    }

    #[test]
    fn diff_pairs_repeated_identities_in_order() {
        // A's first two trials drew the same parameters, and so did B's last two.
        let dir = tempfile::tempdir().unwrap();
        let a = write_results(
            &dir.path().join("a"),
            &[Row::mlp(0, 0.80, "0.001"), Row::mlp(1, 0.70, "0.001"), Row::mlp(2, 0.60, "0.01")],
        );
        let b = write_results(
            &dir.path().join("b"),
            &[Row::mlp(5, 0.65, "0.01"), Row::mlp(6, 0.85, "0.001"), Row::mlp(7, 0.75, "0.001")],
        );

        let text = output(&args(&[&a, &b])).unwrap();
        let note = "2 trials of A and 2 trials of B share their stage and parameters with another \
                    trial of the same run, such as mlp-eval#0, mlp-eval#1 in A, so they are \
                    paired in file order\n";
        assert_eq!(text.matches(note).count(), 1, "{text}");
        let (_, lines) = grid_lines(&text, "trial");
        assert_eq!(lines.len(), 3, "{text}");
        let line = |prefix: &str| {
            let found = lines.iter().find(|line| line.starts_with(prefix));
            *found.unwrap_or_else(|| panic!("no line `{prefix}`:\n{text}"))
        };
        assert!(line("mlp-eval#0 -> mlp-eval#6").contains("0.8000  0.8500  +0.0500"), "{text}");
        assert!(line("mlp-eval#1 -> mlp-eval#7").contains("0.7000  0.7500  +0.0500"), "{text}");
        assert!(line("mlp-eval#2 -> mlp-eval#5").contains("0.6000  0.6500  +0.0500"), "{text}");
        assert!(!text.contains("Trials in only one run"), "{text}");

        // The machine formats have no place for the note, so stdout stays valid JSON.
        let json_text = output(&CompareArgs { format: Format::Json, ..args(&[&a, &b]) }).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&json_text).is_ok(), "{json_text}");
    }

    #[test]
    fn identity_is_stage_and_canonical_parameters() {
        let dir = tempfile::tempdir().unwrap();
        // Rows 0 and 1 differ only in how their values are written, row 2 only in its stage,
        // and row 3 has no value for a parameter that row 0 sets.
        let mut other_stage = Row::mlp(2, 0.5, "0.001");
        other_stage.stage = "mlp_wide".into();
        let rows = vec![
            Row::mlp(0, 0.5, "0.001").param("mlp.extra", "{\"b\": 64, \"a\": [1, -0.0]}"),
            Row::mlp(1, 0.5, "1e-3").param("mlp.extra", "{\"a\":[1.0,0],\"b\":64.0}"),
            other_stage.param("mlp.extra", "{\"b\": 64, \"a\": [1, -0.0]}"),
            Row::mlp(3, 0.5, "0.001"),
        ];
        let table = ResultsTable::read(&write_results(dir.path(), &rows)).unwrap();
        let params = shared_params(&table, &table);
        let ids = identities(&table, params.iter().map(|&(column, _)| column));
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[3]);
        let extra =
            params.iter().position(|&(column, _)| table.columns[column].name == "p.mlp.extra");
        // The identity starts with the stage, so the parameter's position is one further.
        assert_eq!(ids[0][extra.unwrap() + 1].as_deref(), Some("{\"a\":[1,0],\"b\":64}"));
        assert_eq!(ids[3][extra.unwrap() + 1], None);

        let mut text = String::new();
        canonical_json(&parse_json_or_string("relu"), &mut text);
        assert_eq!(text, "\"relu\"");
        text.clear();
        canonical_json(&json!([64, 32]), &mut text);
        assert_eq!(text, "[64,32]");
        text.clear();
        canonical_json(&json!(0.0003), &mut text);
        assert_eq!(text, "0.0003");
    }

    #[test]
    fn diff_status_change_and_failed_trials() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_results(
            &dir.path().join("a"),
            &[Row::mlp(0, 0.8, "0.1"), Row::mlp(1, 0.7, "0.2")],
        );
        let b = write_results(
            &dir.path().join("b"),
            &[Row::mlp(0, 0.8, "0.1").failed("failed", "out of memory"), Row::mlp(1, 0.75, "0.2")],
        );

        let text = output(&args(&[&a, &b])).unwrap();
        let (_, lines) = grid_lines(&text, "trial");
        assert!(lines[0].starts_with("mlp-eval#1  ok  "), "{text}");
        assert!(lines[1].starts_with("mlp-eval#0  ok -> failed"), "{text}");
        assert!(lines[1].contains("0.8000       -        -"), "{text}");
        assert!(
            text.contains("1 improved, 0 worse, 0 unchanged, 1 without a value in both runs"),
            "{text}"
        );
    }

    #[test]
    fn diff_machine_output_lists_one_change_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_runs(dir.path());

        let json_text = output(&CompareArgs { format: Format::Json, ..args(&[&a, &b]) }).unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json_text).unwrap();
        assert_eq!(
            rows[0],
            json!({"trial": null, "change": "only_in_b", "column": "p.mlp.dropout", "a": null, "b": null, "delta": null})
        );
        let find = |trial: &str, column: &str| {
            rows.iter()
                .find(|row| row["trial"] == trial && row["column"] == column)
                .unwrap_or_else(|| panic!("no row for {trial} {column} in {json_text}"))
        };
        let changed_ap = find("mlp-eval#0 -> mlp-eval#1", "average_precision");
        assert_eq!(changed_ap["change"], "changed");
        assert_eq!(changed_ap["a"], "0.8");
        assert_eq!(changed_ap["b"], "0.85");
        assert!((changed_ap["delta"].as_f64().unwrap() - 0.05).abs() < 1e-12);
        // B's new `mlp.dropout` enters the key, so the train key changed.
        let changed_key = find("mlp-eval#0 -> mlp-eval#1", "train_key");
        assert_eq!(changed_key["delta"], serde_json::Value::Null);
        // Only the values that differ are listed. Parameters never differ in a matched trial,
        // and the names are shown in `trial` rather than listed as changes.
        for row in &rows {
            let column = row["column"].as_str().unwrap_or("");
            assert!(row["trial"].is_null() || !column.starts_with("p."), "{row}");
            assert_ne!(column, "trial", "{row}");
            assert_ne!(column, "model", "{row}");
        }
        let unchanged: Vec<&serde_json::Value> =
            rows.iter().filter(|row| row["change"] == "unchanged").collect();
        assert_eq!(unchanged.len(), 1);
        assert_eq!(unchanged[0]["trial"], "ae-eval#0");
        let last_two: Vec<(&str, &str)> = rows[rows.len() - 2..]
            .iter()
            .map(|row| (row["trial"].as_str().unwrap(), row["change"].as_str().unwrap()))
            .collect();
        assert_eq!(last_two, [("mlp-eval#2", "only_in_a"), ("mlp-eval#0", "only_in_b")]);

        let csv_text = output(&CompareArgs { format: Format::Csv, ..args(&[&a, &b]) }).unwrap();
        assert!(
            csv_text.starts_with("trial,change,column,a,b,delta\n,only_in_b,p.mlp.dropout,,,\n"),
            "{csv_text}"
        );
        assert_eq!(csv_text.lines().count(), rows.len() + 1);

        let parquet_path = dir.path().join("diff.parquet");
        let parquet_args = CompareArgs {
            format: Format::Parquet,
            output: Some(parquet_path.clone()),
            ..args(&[&a, &b])
        };
        output(&parquet_args).unwrap();
        let batch = common::read_parquet(&parquet_path).unwrap();
        assert_eq!(batch.num_rows(), rows.len());
        assert_eq!(batch.schema().field(5).data_type(), &DataType::Float64);
    }

    #[test]
    fn diff_filters_apply_to_either_run() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_runs(dir.path());

        let text = output(&CompareArgs {
            filters: vec!["stage=mlp".into()],
            top: Some(1),
            ..args(&[&a, &b])
        })
        .unwrap();
        let (_, lines) = grid_lines(&text, "trial");
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].starts_with("mlp-eval#0 -> mlp-eval#1  ok"), "{text}");
        assert!(
            text.contains("showing 1 of 3 trials in both runs; hidden: 1 by --filter, 1 by --top"),
            "{text}"
        );

        // `p.mlp.dropout` exists only in B, so in A no trial matches it, and a matched trial
        // is kept when it matches in B.
        let text =
            output(&CompareArgs { filters: vec!["p.mlp.dropout=0.1".into()], ..args(&[&a, &b]) })
                .unwrap();
        let (_, lines) = grid_lines(&text, "trial");
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("mlp-eval#0 -> mlp-eval#1  ok"), "{text}");
        assert!(lines[1].starts_with("mlp-eval#1 -> mlp-eval#2  ok"), "{text}");
        let (_, unmatched) = grid_lines(&text, "run  trial");
        assert_eq!(unmatched.len(), 1, "{text}");
        assert!(unmatched[0].starts_with("B    mlp-eval#0"), "{text}");

        let message =
            error(&CompareArgs { filters: vec!["p.mlp.nope=1".into()], ..args(&[&a, &b]) });
        assert!(message.starts_with("unknown filter column `p.mlp.nope`"), "{message}");
        assert!(message.ends_with(&format!("it is not in {} either", b.display())), "{message}");
    }

    #[test]
    fn missing_results_file_names_a_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        let experiment = dir.path().join("runs/fraud");
        let unfinished = experiment.join("20261204-170331");
        std::fs::create_dir_all(&unfinished).unwrap();

        // A run directory without results, with no other run to suggest.
        let message = error(&args(&[&unfinished]));
        assert_eq!(
            message,
            format!(
                "{} has no results.parquet and no run directory below it with one; pass a run \
                 directory such as runs/fraud/20261204-170331",
                unfinished.display()
            )
        );

        // Once a sibling run has results, the message suggests it.
        let finished = experiment.join("20261205-080000");
        write_results(&finished, &six_trials());
        let message = error(&args(&[&unfinished]));
        assert_eq!(
            message,
            format!(
                "{} has no results.parquet and no run directory below it with one; pass a run \
                 directory such as {}",
                unfinished.display(),
                finished.display()
            )
        );

        let missing = dir.path().join("runs/nope");
        let message = error(&args(&[&missing]));
        assert!(
            message.starts_with(&format!(
                "{} not found; pass a run directory such as {}",
                missing.display(),
                finished.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn experiment_directory_means_newest_run() {
        let dir = tempfile::tempdir().unwrap();
        let experiment = dir.path().join("runs/fraud");
        let older = experiment.join("20261204-170331");
        let newer = experiment.join("20261205-080000");
        write_results(&older, &six_trials()[..2]);
        write_results(&newer, &six_trials());
        // Newer still, but without results (still running, or failed before the end).
        std::fs::create_dir_all(experiment.join("20261206-000000")).unwrap();

        let text = output(&args(&[&experiment])).unwrap();
        let newest = newer.join(RESULTS_FILE);
        assert!(text.starts_with(&format!("{}: 6 trials, ", newest.display())), "{text}");

        // Against an older run, the experiment directory is B.
        let text = output(&args(&[&older, &experiment])).unwrap();
        assert!(
            text.starts_with(&format!(
                "A: {} (2 trials)\nB: {} (6 trials)\n",
                older.join(RESULTS_FILE).display(),
                newest.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn newest_run_is_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        write_results(&runs.join("fraud/20261204-170331"), &six_trials());
        write_results(&runs.join("fraud/20261204-170331-2"), &six_trials()[..2]);
        write_results(&runs.join("fraud/20261204-170331-10"), &six_trials()[..3]);
        write_results(&runs.join("other/20261203-235959"), &six_trials());
        // Newer, but without results (still running, or failed before the end).
        std::fs::create_dir_all(runs.join("fraud/20261205-000000")).unwrap();
        std::fs::create_dir_all(runs.join("fraud/notes")).unwrap();

        let text = output(&CompareArgs { runs_dir: runs.clone(), ..args(&[]) }).unwrap();
        let newest = runs.join("fraud/20261204-170331-10").join(RESULTS_FILE);
        assert!(text.starts_with(&format!("{}: 3 trials", newest.display())), "{text}");

        assert_eq!(run_start("20261204-170331"), Some((20261204170331, 0)));
        assert_eq!(run_start("20261204-170331-10"), Some((20261204170331, 10)));
        assert_eq!(run_start("20261204-170331x"), None);
        assert_eq!(run_start("notes"), None);

        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let message = error(&CompareArgs { runs_dir: empty.clone(), ..args(&[]) });
        assert!(
            message.starts_with(&format!("no run under {} has a results.parquet", empty.display())),
            "{message}"
        );
        let message = error(&CompareArgs { runs_dir: dir.path().join("absent"), ..args(&[]) });
        assert!(message.starts_with("runs directory "), "{message}");
        assert!(
            message.contains("not found; pass a run directory such as runs/fraud/20261204-170331"),
            "{message}"
        );
    }

    #[test]
    fn more_than_two_runs_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_results(dir.path(), &six_trials());
        let message = error(&args(&[&path, &path, &path]));
        assert!(message.starts_with("compare takes one or two runs but 3 were given"), "{message}");
    }

    #[test]
    fn numeric_parameter_column_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new(vec![
            Field::new("trial", DataType::Utf8, true),
            Field::new("p.mlp.epochs", DataType::Float64, true),
        ]);
        let columns: Vec<ArrayRef> =
            vec![Arc::new(StringArray::from(vec!["a"])), Arc::new(Float64Array::from(vec![3.0]))];
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let path = dir.path().join(RESULTS_FILE);
        common::write_parquet(&path, &batch).unwrap();

        let message = error(&args(&[&path]));
        assert!(
            message.contains("parameter column `p.mlp.epochs` has type Float64 where Utf8"),
            "{message}"
        );
    }

    #[test]
    fn missing_required_column_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new(vec![Field::new("trial", DataType::Utf8, true)]);
        let columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec!["a"]))];
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let path = dir.path().join(RESULTS_FILE);
        common::write_parquet(&path, &batch).unwrap();

        let message = error(&args(&[&path]));
        assert!(message.contains("column `stage` is missing"), "{message}");
    }

    /// 500 trials: 400 MLPs over 5 learning rates and 4 hidden sizes, 100 autoencoders, and
    /// every 25th trial failed.
    fn five_hundred_trials() -> Vec<Row> {
        let rates = ["0.0001", "0.0003", "0.001", "0.003", "0.01"];
        let hidden = ["[32]", "[64]", "[64,32]", "[128,64]"];
        (0..500)
            .map(|index| {
                let score = ((index * 37) % 1000) as f64 / 1000.0;
                let seed = index.to_string();
                let row = if index < 400 {
                    Row::mlp(index, score, rates[index % 5])
                        .param("mlp.hidden", hidden[index % 4])
                        .param("mlp.seed", &seed)
                } else {
                    Row::autoencoder(index, score).param("ae.seed", &seed)
                };
                if index % 25 == 0 { row.failed("failed", "loss diverged") } else { row }
            })
            .collect()
    }

    #[test]
    fn five_hundred_trials_give_every_row() {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), &five_hundred_trials());

        let text = output(&args(&[dir.path()])).unwrap();
        let (header, lines) = grid_lines(&text, "rank");
        assert_eq!(lines.len(), 500, "{header}");
        assert!(header.contains("p.mlp.learning_rate"));
        assert!(header.contains("p.mlp.hidden"));
        assert!(text.contains("showing 500 of 500 trials"));
        // 20 failed trials: indices 0, 25, ..., 475.
        assert_eq!(lines.iter().filter(|line| line.contains(" failed ")).count(), 20);
        assert!(lines[480..].iter().all(|line| line.contains(" failed ")));

        let filtered = output(&CompareArgs {
            filters: vec!["stage=mlp".into(), "status=ok".into(), "p.mlp.hidden=[64,32]".into()],
            ..args(&[dir.path()])
        })
        .unwrap();
        // MLPs with index % 4 == 2: 100 of them, minus the failed ones (index % 25 == 0 and
        // index % 4 == 2: 50, 150, 250, 350).
        let (_, lines) = grid_lines(&filtered, "rank");
        assert_eq!(lines.len(), 96, "{filtered}");

        let top = output(&CompareArgs { top: Some(100), ..args(&[dir.path()]) }).unwrap();
        assert_eq!(grid_lines(&top, "rank").1.len(), 100);

        let csv_text = output(&CompareArgs { format: Format::Csv, ..args(&[dir.path()]) }).unwrap();
        assert_eq!(csv_text.lines().count(), 501);
        let json_text =
            output(&CompareArgs { format: Format::Json, ..args(&[dir.path()]) }).unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json_text).unwrap();
        assert_eq!(rows.len(), 500);
    }

    #[test]
    fn five_hundred_trial_diff_matches_by_parameters() {
        // B lists the same trials in reverse order, numbered by their new position, and its
        // MLPs at learning rate 0.0001 (every fifth, 80 of them) run at 0.02 instead.
        let dir = tempfile::tempdir().unwrap();
        let a = write_results(&dir.path().join("a"), &five_hundred_trials());
        let changed: Vec<Row> = five_hundred_trials()
            .into_iter()
            .rev()
            .enumerate()
            .map(|(position, row)| {
                let row = row.renumbered(position);
                if row.params.contains(&("mlp.learning_rate".into(), "0.0001".into())) {
                    row.param("mlp.learning_rate", "0.02")
                } else {
                    row
                }
            })
            .collect();
        let b = write_results(&dir.path().join("b"), &changed);

        let text = output(&args(&[&a, &b])).unwrap();
        let (_, lines) = grid_lines(&text, "trial");
        assert_eq!(lines.len(), 420, "{text}");
        assert!(lines.iter().any(|line| line.starts_with("mlp-eval#1 -> mlp-eval#498 ")));
        assert!(lines.iter().any(|line| line.starts_with("ae-eval#499 -> ae-eval#0 ")));
        // Of the 20 failed trials, the 4 autoencoders are matched and the 16 MLPs are not.
        assert!(
            text.contains(
                "average_precision: 0 improved, 0 worse, 416 unchanged, 4 without a value in both \
                 runs; mean change +0.0000\n"
            ),
            "{text}"
        );
        assert!(!text.contains("paired in file order"), "{text}");
        let (_, unmatched) = grid_lines(&text, "run  trial");
        assert_eq!(unmatched.iter().filter(|line| line.starts_with("A ")).count(), 80);
        assert_eq!(unmatched.iter().filter(|line| line.starts_with("B ")).count(), 80);

        let json_text = output(&CompareArgs { format: Format::Json, ..args(&[&a, &b]) }).unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json_text).unwrap();
        let count = |change: &str| rows.iter().filter(|row| row["change"] == change).count();
        assert_eq!(count("unchanged"), 420);
        assert_eq!(count("changed"), 0);
        assert_eq!(count("only_in_a"), 80);
        assert_eq!(count("only_in_b"), 80);
    }
}
