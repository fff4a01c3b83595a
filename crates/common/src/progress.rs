//! Progress reporting for long work: downloads, ingest, training epochs.
//!
//! Stages report through [`Progress`] and never print. The orchestrator picks
//! [`TerminalProgress`] (indicatif bars) when stderr is a terminal, [`PlainProgress`] (one
//! line per update, throttled) otherwise, and [`NoProgress`] in tests. Call order: `task`
//! once per unit of work, then any number of `set` calls on the returned handle, then
//! `finish` once.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The unit of a task's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown with binary prefixes.
    Bytes,
    /// Rows of a table.
    Rows,
    /// Training epochs.
    Epochs,
    /// Tasks of a batch job that have ended.
    Tasks,
}

/// A sink for progress events.
pub trait Progress: Send + Sync {
    /// Starts a task named `name` with `total` steps, if known.
    fn task(&self, name: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task>;
}

/// One running unit of work.
pub trait Task: Send {
    /// Sets the current position and a short status message such as the latest loss.
    fn set(&mut self, position: u64, message: &str);
    /// Marks the task finished with a closing message.
    fn finish(&mut self, message: &str);
}

/// Discards all progress events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

struct NoTask;

impl Task for NoTask {
    fn set(&mut self, _position: u64, _message: &str) {}
    fn finish(&mut self, _message: &str) {}
}

impl Progress for NoProgress {
    fn task(&self, _name: &str, _total: Option<u64>, _unit: Unit) -> Box<dyn Task> {
        Box::new(NoTask)
    }
}

/// Draws indicatif progress bars on stderr.
#[derive(Debug, Default)]
pub struct TerminalProgress {
    bars: MultiProgress,
}

impl TerminalProgress {
    /// Creates a set of bars drawn on stderr.
    pub fn new() -> Self {
        TerminalProgress { bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) }
    }
}

struct TerminalTask {
    bar: ProgressBar,
}

impl Progress for TerminalProgress {
    fn task(&self, name: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task> {
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        let counter = match unit {
            Unit::Bytes => "{bytes}/{total_bytes} ({bytes_per_sec})",
            Unit::Rows => "{human_pos} rows",
            Unit::Epochs => "epoch {pos}/{len}",
            Unit::Tasks => "{pos}/{len} tasks ended",
        };
        let template = format!("{{prefix:>14.bold}} [{{bar:24}}] {counter} {{msg}}");
        let style = ProgressStyle::with_template(&template)
            .expect("the template is valid")
            .progress_chars("=> ");
        let bar = self.bars.add(bar.with_style(style).with_prefix(name.to_string()));
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(TerminalTask { bar })
    }
}

impl Task for TerminalTask {
    fn set(&mut self, position: u64, message: &str) {
        self.bar.set_position(position);
        self.bar.set_message(message.to_string());
    }

    fn finish(&mut self, message: &str) {
        self.bar.set_style(
            ProgressStyle::with_template("{prefix:>14.bold} {msg}").expect("the template is valid"),
        );
        self.bar.finish_with_message(message.to_string());
    }
}

/// Writes progress as plain lines on stderr, for logs and pipes.
///
/// Epoch and task updates are written each time; byte and row counts at most every five
/// seconds.
#[derive(Debug, Default)]
pub struct PlainProgress {
    lock: Arc<Mutex<()>>,
}

impl PlainProgress {
    /// Creates a plain-line reporter.
    pub fn new() -> Self {
        PlainProgress::default()
    }
}

struct PlainTask {
    name: String,
    total: Option<u64>,
    unit: Unit,
    last: Option<Instant>,
    lock: Arc<Mutex<()>>,
}

fn write_line(lock: &Mutex<()>, line: &str) {
    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = writeln!(std::io::stderr(), "{line}");
}

impl Progress for PlainProgress {
    fn task(&self, name: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task> {
        let lock = Arc::clone(&self.lock);
        Box::new(PlainTask { name: name.to_string(), total, unit, last: None, lock })
    }
}

impl Task for PlainTask {
    fn set(&mut self, position: u64, message: &str) {
        let due = match (self.unit, self.last) {
            (Unit::Epochs | Unit::Tasks, _) | (_, None) => true,
            (_, Some(last)) => last.elapsed() >= Duration::from_secs(5),
        };
        if !due {
            return;
        }
        self.last = Some(Instant::now());
        let counter = match (self.unit, self.total) {
            (Unit::Epochs, Some(total)) => format!("epoch {position}/{total}"),
            (Unit::Bytes, Some(total)) => format!("{position}/{total} bytes"),
            (Unit::Rows, _) => format!("{position} rows"),
            (Unit::Tasks, Some(total)) => format!("{position}/{total} tasks ended"),
            (_, _) => format!("{position}"),
        };
        write_line(&self.lock, &format!("{}: {counter} {message}", self.name));
    }

    fn finish(&mut self, message: &str) {
        write_line(&self.lock, &format!("{}: {message}", self.name));
    }
}
