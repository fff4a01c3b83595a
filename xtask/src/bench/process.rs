//! Runs a child process and measures it: wall time, CPU time and peak resident memory.
//!
//! The resource usage comes from `wait4(2)`, which returns the `rusage` of that one child
//! (and of its own waited-for children) when it is reaped. `ru_maxrss` is the peak resident
//! set size of the largest process in that tree, in KiB on Linux, so for a Python child it is
//! the interpreter's peak, imported libraries included.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

/// The cost of one child process.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall time from spawning to reaping, in seconds.
    pub wall: f64,
    /// User plus system CPU time, in seconds.
    pub cpu: f64,
    /// Peak resident set size, in MiB.
    pub peak_mib: f64,
    /// Everything the child wrote on stdout.
    pub stdout: Vec<u8>,
}

impl Measured {
    /// Parses the child's stdout as one JSON value.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.stdout).with_context(|| {
            format!("the output is not JSON: {}", String::from_utf8_lossy(&self.stdout))
        })
    }
}

/// Runs `command` to completion and measures it; fails when it exits unsuccessfully, with
/// the end of its stderr in the message.
pub fn measure(command: &mut Command, label: &str) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {label}"))?;
    let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let stdout_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        stdout_pipe.read_to_end(&mut buffer).map(|_| buffer)
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        stderr_pipe.read_to_end(&mut buffer).map(|_| buffer)
    });
    let (status, usage) =
        wait_with_usage(child.id()).with_context(|| format!("cannot wait for {label}"))?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = stdout_reader.join().expect("the reader thread does not panic")?;
    let stderr = stderr_reader.join().expect("the reader thread does not panic")?;
    // wait4 reaped the child. Dropping `Child` neither waits nor kills, so this is safe.
    drop(child);
    if !exited_successfully(status) {
        let text = String::from_utf8_lossy(&stderr);
        let tail: String = text
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        anyhow::bail!("{label} failed (wait status {status}):\n{tail}");
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Measured {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout,
    })
}

/// Reaps the child `pid` and returns its wait status and resource usage.
#[allow(unsafe_code)]
fn wait_with_usage(pid: u32) -> std::io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain old data, so all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the right types, and `pid`
        // is a child of this process that nothing else waits for.
        let result = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if result >= 0 {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn exited_successfully(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}
