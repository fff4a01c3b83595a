//! Reading CSV and gzip-compressed CSV in two streaming passes.
//!
//! The first pass checks that every row has one field per column, checks values against the
//! declared types and infers the type of every other column. The second pass parses the values
//! into typed Arrow columns and hands them to the [`TableWriter`] one batch at a time. Neither
//! pass keeps more than one batch of rows, so memory does not grow with the file. Gzip input is
//! decompressed once per pass. Values, missing-value spellings and label values are compared
//! after leading and trailing whitespace is removed.
//!
//! Reads the input file; writes `data.parquet` through the [`TableWriter`].

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use arrow::array::{ArrayRef, Float64Builder, StringBuilder};
use common::{Progress, Task, Unit};
use csv::StringRecord;
use flate2::read::MultiGzDecoder;

use crate::config::{ColumnKind, IngestConfig};
use crate::error::Location;
use crate::label::LabelMatcher;
use crate::table::{
    BATCH_ROWS, Ingested, Layout, TableWriter, TrainingFile, check_columns, compare_columns,
};
use crate::{Error, Result};

/// Rows between two progress updates.
const PROGRESS_ROWS: u64 = 8_192;

/// Reads a CSV file, gzip-compressed when `gzip` is set, into `data_path`.
///
/// A test file is read with `training` set: its columns must have the training file's names,
/// and its values must fit the training file's column types.
pub(crate) fn read(
    path: &Path,
    gzip: bool,
    config: &IngestConfig,
    data_path: &Path,
    training: Option<TrainingFile<'_>>,
    progress: &dyn Progress,
) -> Result<Ingested> {
    check_compression(path, gzip)?;
    let input = CsvInput { path, gzip, config, training };

    let names = input.column_names()?;
    if let Some(training) = training {
        training.check_names(path, &names)?;
    }
    let label = check_columns(path, &names, config)?;
    let (kinds, rows) = input.scan(&names, progress)?;
    let layout = Layout { names, kinds, label };

    let mut writer = TableWriter::create(data_path, &layout.features())?;
    writer.reserve(rows);
    let mut labels = LabelMatcher::new(&config.label);
    // Parsing runs on this thread and hashing, encoding and compressing on a second one, with
    // at most one batch waiting between them.
    let writer = std::thread::scope(|scope| -> Result<TableWriter> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<ParsedBatch>(1);
        let background = scope.spawn(move || -> Result<TableWriter> {
            let mut writer = writer;
            for (features, label_ids, classes) in receiver {
                writer.write_classes(features, &label_ids, classes)?;
            }
            Ok(writer)
        });
        let converted = input.convert(&layout, rows, &sender, &mut labels, progress);
        drop(sender);
        // A failed write stops the writer thread, and the next send then fails too, so the
        // writer's error is the cause to report.
        let written = background.join().expect("the Parquet writer thread does not panic");
        let writer = written?;
        converted?;
        Ok(writer)
    })?;
    writer.finish(layout, &labels)
}

/// The feature columns, label ids and classes of one batch of parsed rows.
type ParsedBatch = (Vec<ArrayRef>, Vec<u32>, Vec<u8>);

/// Rejects a gzip file read as plain CSV and a plain file read as gzip, by the first bytes.
fn check_compression(path: &Path, gzip: bool) -> Result<()> {
    let mut start = [0u8; 4];
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut filled = 0;
    while filled < start.len() {
        match file.read(&mut start[filled..]).map_err(|e| Error::io(path, e))? {
            0 => break,
            n => filled += n,
        }
    }
    let start = &start[..filled];

    let is_gzip = start.starts_with(&[0x1f, 0x8b]);
    let message = if gzip && !is_gzip && !start.is_empty() {
        "the file is not gzip-compressed; set `format = \"csv\"`, or give it a name that does \
         not end in `.gz`"
    } else if !gzip && is_gzip {
        "the file is gzip-compressed; set `format = \"csv.gz\"`, or give it a name ending in `.gz`"
    } else if !gzip && start == b"PAR1" {
        "the file is Parquet; set `format = \"parquet\"`, or give it a name ending in `.parquet`"
    } else {
        return Ok(());
    };
    Err(Error::Unsupported { path: path.to_path_buf(), message: message.to_string() })
}

/// One CSV input and the settings for reading it.
struct CsvInput<'a> {
    path: &'a Path,
    gzip: bool,
    config: &'a IngestConfig,
    /// The training file when this input is a test file.
    training: Option<TrainingFile<'a>>,
}

/// A CSV reader over the file, with the count of raw (compressed) bytes consumed so far.
struct OpenReader {
    records: csv::Reader<Box<dyn Read>>,
    consumed: Arc<AtomicU64>,
    total: u64,
}

/// Counts the bytes read from the file, before any decompression, for progress reports.
struct CountingReader<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Bytes decompressed per chunk by [`ChunkReceiver`]'s thread.
const CHUNK_BYTES: usize = 1 << 18;

/// Reads what a second thread decompresses, so that decompression and CSV parsing overlap.
///
/// The thread sends chunks of [`CHUNK_BYTES`] with at most two waiting. It stops at the end
/// of the input, after sending a read error, or at its next send after this reader is dropped.
struct ChunkReceiver {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
}

impl ChunkReceiver {
    fn spawn(mut input: impl Read + Send + 'static) -> ChunkReceiver {
        let (sender, chunks) = std::sync::mpsc::sync_channel(2);
        std::thread::spawn(move || {
            loop {
                let mut chunk = vec![0u8; CHUNK_BYTES];
                let read = read_full(&mut input, &mut chunk);
                let last = !matches!(read, Ok(n) if n == CHUNK_BYTES);
                let message = read.map(|n| {
                    chunk.truncate(n);
                    chunk
                });
                if sender.send(message).is_err() || last {
                    break;
                }
            }
        });
        ChunkReceiver { chunks, current: Vec::new(), position: 0 }
    }
}

/// Reads until `buffer` is full or the input ends, and returns the bytes read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

impl Read for ChunkReceiver {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.position = 0;
                    if self.current.is_empty() {
                        return Ok(0);
                    }
                }
                // The thread has sent the last chunk and stopped.
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len() - self.position);
        buffer[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// The first pass's type check of one column.
enum TypeCheck {
    /// The type is declared in `types`, and every value must fit it.
    Declared(ColumnKind),
    /// The type is inferred from the values seen so far.
    Inferred { seen: bool, integers: bool, numbers: bool },
}

/// A column being filled during the second pass.
enum ColumnBuilder {
    Number(Float64Builder),
    Text(StringBuilder),
}

impl CsvInput<'_> {
    fn open(&self) -> Result<OpenReader> {
        let file = File::open(self.path).map_err(|e| Error::io(self.path, e))?;
        let total = file.metadata().map_err(|e| Error::io(self.path, e))?.len();
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = CountingReader { inner: file, consumed: Arc::clone(&consumed) };
        let bytes: Box<dyn Read> = if self.gzip {
            Box::new(ChunkReceiver::spawn(MultiGzDecoder::new(counted)))
        } else {
            Box::new(counted)
        };
        let records = csv::ReaderBuilder::new()
            .delimiter(self.config.delimiter as u8)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(bytes);
        Ok(OpenReader { records, consumed, total })
    }

    /// Reads the next record, or returns false at the end of the file.
    fn next_record(&self, reader: &mut OpenReader, record: &mut StringRecord) -> Result<bool> {
        reader.records.read_record(record).map_err(|error| self.csv_error(error))
    }

    fn csv_error(&self, error: csv::Error) -> Error {
        let line = error.position().map(|position| position.line()).unwrap_or(0);
        match error.into_kind() {
            // flate2 1.1 reports a truncated stream as `UnexpectedEof`, and a corrupt one (bad
            // header, data or checksum) as `InvalidInput`, so neither is a disk failure.
            csv::ErrorKind::Io(source)
                if self.gzip
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput
                    ) =>
            {
                let message = format!(
                    "{source}; the gzip file is truncated or damaged, so \
                     compress or download it again"
                );
                Error::io(self.path, std::io::Error::new(source.kind(), message))
            }
            csv::ErrorKind::Io(source) => Error::io(self.path, source),
            csv::ErrorKind::Utf8 { pos, err } => Error::Csv {
                path: self.path.to_path_buf(),
                line: pos.map(|position| position.line()).unwrap_or(line),
                message: format!(
                    "field {} is not valid UTF-8; convert the file to UTF-8",
                    err.field() + 1
                ),
            },
            other => {
                Error::Csv { path: self.path.to_path_buf(), line, message: format!("{other:?}") }
            }
        }
    }

    /// Returns the column names: the header, the declared `columns` of a headerless file, or
    /// `column_1`, `column_2`, ... for a headerless file without them.
    fn column_names(&self) -> Result<Vec<String>> {
        if let (false, Some(columns)) = (self.config.header, &self.config.columns) {
            return Ok(columns.clone());
        }
        let mut reader = self.open()?;
        let mut record = StringRecord::new();
        if !self.next_record(&mut reader, &mut record)? {
            return Err(Error::Empty {
                path: self.path.to_path_buf(),
                problem: "the file is empty",
            });
        }
        if !self.config.header {
            return Ok((1..=record.len()).map(|position| format!("column_{position}")).collect());
        }
        let names: Vec<String> = record.iter().map(|name| name.trim().to_string()).collect();
        if let Some(declared) = &self.config.columns {
            compare_columns(self.path, declared, &names)?;
        }
        Ok(names)
    }

    /// Opens the file and skips the header line, if any.
    fn open_data(&self, record: &mut StringRecord) -> Result<OpenReader> {
        let mut reader = self.open()?;
        if self.config.header {
            self.next_record(&mut reader, record)?;
        }
        Ok(reader)
    }

    /// First pass: checks row widths and declared types, infers the other types, and counts
    /// the data rows. A test file infers nothing: its values are checked against the training
    /// file's types, and its columns get the training file's kinds.
    fn scan(&self, names: &[String], progress: &dyn Progress) -> Result<(Vec<ColumnKind>, u64)> {
        let missing = MissingValues::new(&self.config.missing);
        let mut checks: Vec<TypeCheck> = names
            .iter()
            .enumerate()
            .map(|(position, name)| match (self.config.types.get(name), self.training) {
                (Some(kind), _) => TypeCheck::Declared(*kind),
                (None, Some(training)) => TypeCheck::Declared(training.kind(self.config, position)),
                (None, None) => TypeCheck::Inferred { seen: false, integers: true, numbers: true },
            })
            .collect();

        let mut record = StringRecord::new();
        let mut reader = self.open_data(&mut record)?;
        let mut task = self.task(progress, "scan", &reader);
        let mut rows = 0u64;
        while self.next_record(&mut reader, &mut record)? {
            let line = record_line(&record);
            self.check_width(&record, names.len(), line)?;
            for ((value, check), name) in record.iter().zip(&mut checks).zip(names) {
                let value = trim(value);
                if missing.contains(value) {
                    continue;
                }
                match check {
                    TypeCheck::Declared(ColumnKind::String) => {}
                    TypeCheck::Declared(kind) => {
                        self.parse_value(value, *kind, name, line)?;
                    }
                    TypeCheck::Inferred { seen, integers, numbers } => {
                        *seen = true;
                        if *integers && !is_integer_literal(value) {
                            *integers = false;
                        }
                        if *numbers && !*integers && parse_number(value).is_none() {
                            *numbers = false;
                        }
                    }
                }
            }
            rows += 1;
            if rows.is_multiple_of(PROGRESS_ROWS) {
                task.set(reader.consumed.load(Ordering::Relaxed), &format!("{rows} rows"));
            }
        }
        if rows == 0 {
            let problem = if self.config.header {
                "the file has a header but no data rows"
            } else {
                "the file is empty"
            };
            return Err(Error::Empty { path: self.path.to_path_buf(), problem });
        }
        task.finish(&format!("{rows} rows"));

        if let Some(training) = self.training {
            return Ok((training.layout.kinds.clone(), rows));
        }
        let kinds = checks
            .into_iter()
            .map(|check| match check {
                TypeCheck::Declared(kind) => kind,
                TypeCheck::Inferred { seen: false, .. } => ColumnKind::Float,
                TypeCheck::Inferred { integers: true, .. } => ColumnKind::Int,
                TypeCheck::Inferred { numbers: true, .. } => ColumnKind::Float,
                TypeCheck::Inferred { .. } => ColumnKind::String,
            })
            .collect();
        Ok((kinds, rows))
    }

    /// Second pass: parses every value into typed columns and writes them in batches.
    fn convert(
        &self,
        layout: &Layout,
        expected_rows: u64,
        writer: &SyncSender<ParsedBatch>,
        labels: &mut LabelMatcher,
        progress: &dyn Progress,
    ) -> Result<()> {
        let Layout { names, kinds, label } = layout;
        let missing = MissingValues::new(&self.config.missing);
        let mut builders: Vec<Option<ColumnBuilder>> = kinds
            .iter()
            .enumerate()
            .map(|(position, kind)| match (position == *label, kind.is_numeric()) {
                (true, _) => None,
                (false, true) => {
                    Some(ColumnBuilder::Number(Float64Builder::with_capacity(BATCH_ROWS)))
                }
                (false, false) => Some(ColumnBuilder::Text(StringBuilder::new())),
            })
            .collect();
        let mut label_ids = Vec::with_capacity(BATCH_ROWS);

        let mut record = StringRecord::new();
        let mut reader = self.open_data(&mut record)?;
        let mut task = self.task(progress, "read", &reader);
        let mut rows = 0u64;
        while self.next_record(&mut reader, &mut record)? {
            let line = record_line(&record);
            self.check_width(&record, names.len(), line)?;
            for (position, value) in record.iter().enumerate() {
                let value = trim(value);
                let is_missing = missing.contains(value);
                match &mut builders[position] {
                    None if is_missing => {
                        return Err(Error::MissingLabel {
                            path: self.path.to_path_buf(),
                            location: Location::Line(line),
                            column: names[position].clone(),
                            value: value.to_string(),
                        });
                    }
                    None => {
                        let id = labels.classify(value).ok_or_else(|| {
                            labels.unknown_label(self.path, Location::Line(line), value)
                        })?;
                        label_ids.push(id);
                    }
                    Some(ColumnBuilder::Number(numbers)) if is_missing => numbers.append_null(),
                    Some(ColumnBuilder::Text(texts)) if is_missing => texts.append_null(),
                    Some(ColumnBuilder::Number(numbers)) => {
                        numbers.append_value(self.parse_value(
                            value,
                            kinds[position],
                            &names[position],
                            line,
                        )?);
                    }
                    Some(ColumnBuilder::Text(texts)) => texts.append_value(value),
                }
            }
            rows += 1;
            if label_ids.len() == BATCH_ROWS {
                send_batch(writer, finish_columns(&mut builders), &mut label_ids, labels)?;
            }
            if rows.is_multiple_of(PROGRESS_ROWS) {
                task.set(reader.consumed.load(Ordering::Relaxed), &format!("{rows} rows"));
            }
        }
        send_batch(writer, finish_columns(&mut builders), &mut label_ids, labels)?;

        if rows != expected_rows {
            let message = format!(
                "the file changed while it was read ({expected_rows} rows in the first pass, \
                 {rows} in the second); run ingest again once nothing writes to it"
            );
            return Err(Error::io(self.path, std::io::Error::other(message)));
        }
        task.finish(&format!("{rows} rows"));
        Ok(())
    }

    fn task(&self, progress: &dyn Progress, step: &str, reader: &OpenReader) -> Box<dyn Task> {
        let name = self.path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
        progress.task(&format!("{step} {name}"), Some(reader.total), Unit::Bytes)
    }

    fn check_width(&self, record: &StringRecord, width: usize, line: u64) -> Result<()> {
        if record.len() == width {
            return Ok(());
        }
        let source = match (self.config.header, &self.config.columns) {
            (true, _) => "the header has",
            (false, Some(_)) => "`columns` declares",
            (false, None) => "the first row has",
        };
        Err(Error::Csv {
            path: self.path.to_path_buf(),
            line,
            message: format!(
                "the row has {} but {source} {width}; quote fields that contain the delimiter \
                 `{}`, close any quote left open, or correct the row",
                fields(record.len()),
                self.config.delimiter.escape_default()
            ),
        })
    }

    /// Parses a non-missing value of a numeric column.
    fn parse_value(&self, value: &str, kind: ColumnKind, column: &str, line: u64) -> Result<f64> {
        let (parsed, expected) = match kind {
            ColumnKind::Int => (parse_whole(value), "a whole number"),
            _ => (parse_number(value), "a number"),
        };
        if let Some(number) = parsed {
            return Ok(number);
        }
        let (path, location) = (self.path.to_path_buf(), Location::Line(line));
        let (column, value) = (column.to_string(), value.to_string());
        Err(match self.training {
            Some(training) if !self.config.types.contains_key(&column) => Error::TestValue {
                path: path.into(),
                location,
                column,
                value,
                expected,
                training: training.path.into(),
            },
            _ => Error::InvalidValue { path, location, column, value, expected },
        })
    }
}

/// Takes the values built so far out of every feature column.
fn finish_columns(builders: &mut [Option<ColumnBuilder>]) -> Vec<ArrayRef> {
    builders
        .iter_mut()
        .flatten()
        .map(|builder| -> ArrayRef {
            match builder {
                ColumnBuilder::Number(numbers) => Arc::new(numbers.finish()),
                ColumnBuilder::Text(texts) => Arc::new(texts.finish()),
            }
        })
        .collect()
}

/// Writes a field count with the noun in the right number.
fn fields(count: usize) -> String {
    match count {
        1 => "1 field".to_string(),
        _ => format!("{count} fields"),
    }
}

/// Sends a batch to the writer thread and empties `label_ids` for the next one.
fn send_batch(
    writer: &SyncSender<ParsedBatch>,
    features: Vec<ArrayRef>,
    label_ids: &mut Vec<u32>,
    labels: &LabelMatcher,
) -> Result<()> {
    let classes = label_ids.iter().map(|&id| labels.class(id)).collect();
    let ids = std::mem::replace(label_ids, Vec::with_capacity(BATCH_ROWS));
    writer.send((features, ids, classes)).map_err(|_| {
        // The writer thread stopped on an error, which the caller reports instead.
        Error::Config("the Parquet writer stopped".to_string())
    })
}

/// Returns the 1-based line a record starts on.
fn record_line(record: &StringRecord) -> u64 {
    record.position().map(|position| position.line()).unwrap_or(0)
}

/// The configured spellings of a missing value, trimmed.
///
/// A list rather than a hash set: there are a handful of short spellings, and comparing a
/// value with each is cheaper than hashing every value of the file.
pub(crate) struct MissingValues {
    spellings: Vec<String>,
    longest: usize,
}

impl MissingValues {
    pub(crate) fn new(spellings: &[String]) -> Self {
        let mut spellings: Vec<String> =
            spellings.iter().map(|spelling| spelling.trim().to_string()).collect();
        spellings.sort();
        spellings.dedup();
        let longest = spellings.iter().map(String::len).max().unwrap_or(0);
        MissingValues { spellings, longest }
    }

    /// Returns whether a trimmed value is one of the spellings.
    pub(crate) fn contains(&self, value: &str) -> bool {
        value.len() <= self.longest
            && self
                .spellings
                .iter()
                .any(|spelling| equal_short(spelling.as_bytes(), value.as_bytes()))
    }
}

/// Compares two short byte strings without a call to `memcmp`, which dominated the cost of
/// comparing values of one to four bytes.
fn equal_short(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Returns `value` without leading and trailing whitespace, as `str::trim` does.
///
/// A value that starts and ends with a visible ASCII character (not a space or a control
/// character) has nothing to trim, and most values are like that, so the first and last bytes
/// are checked before calling `str::trim`.
fn trim(value: &str) -> &str {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// Parses a number as Rust's `f64` parser does, which also accepts `inf` and `NaN` spellings.
pub(crate) fn parse_number(value: &str) -> Option<f64> {
    value.parse::<f64>().ok()
}

/// Parses a finite number without a fractional part, such as `3`, `3.0` or `1e3`.
pub(crate) fn parse_whole(value: &str) -> Option<f64> {
    parse_number(value).filter(|number| number.is_finite() && number.fract() == 0.0)
}

/// Returns whether a value is written as an integer: an optional sign and decimal digits.
fn is_integer_literal(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_matches_str_trim() {
        for value in
            ["", " ", "a", " a", "a ", "\u{b}a", "a\u{b}", "\u{a0}1", "1\u{3000}", "x y", "\t7\n"]
        {
            assert_eq!(super::trim(value), value.trim(), "{value:?}");
        }
    }

    use super::*;

    #[test]
    fn integer_literals_are_digits_with_optional_sign() {
        assert!(is_integer_literal("42"));
        assert!(is_integer_literal("-7"));
        assert!(is_integer_literal("+0"));
        assert!(!is_integer_literal("1.0"));
        assert!(!is_integer_literal("1e3"));
        assert!(!is_integer_literal("-"));
        assert!(!is_integer_literal(""));
    }

    #[test]
    fn whole_numbers_accept_integral_floats() {
        assert_eq!(parse_whole("3"), Some(3.0));
        assert_eq!(parse_whole("3.0"), Some(3.0));
        assert_eq!(parse_whole("1e3"), Some(1000.0));
        assert_eq!(parse_whole("2.5"), None);
        assert_eq!(parse_whole("inf"), None);
        assert_eq!(parse_whole("x"), None);
    }

    #[test]
    fn missing_values_compare_trimmed_spellings() {
        let missing = MissingValues::new(&[" NA ".to_string(), String::new()]);
        assert!(missing.contains("NA"));
        assert!(missing.contains(""));
        assert!(!missing.contains("na"));
        assert!(!missing.contains("NAN"));
    }
}
