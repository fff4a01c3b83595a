//! Writes a report from generated artifacts (two models, 30 epochs, 1,000 test rows with 9%
//! anomalies) so the page can be looked at in a browser.
//!
//! Usage: `cargo run --release -p report --example demo -- OUT_DIR [sweep | large-sweep]`.
//! The artifacts go to `OUT_DIR/artifacts` and the page to `OUT_DIR/report.html`. `sweep`
//! writes a sweep of 12 trials over two stages, and `large-sweep` one of 500 trials.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: demo OUT_DIR [sweep | large-sweep]";
    let out = std::env::args_os().nth(1).map(PathBuf::from).ok_or(usage)?;
    let (title, spec) = match std::env::args().nth(2).as_deref() {
        None => ("Credit-card fraud: MLP against autoencoder", support::RunSpec::default()),
        Some("sweep") => ("Credit-card fraud: learning-rate sweep", support::small_sweep()),
        Some("large-sweep") => {
            ("Credit-card fraud: 500-trial random sweep", support::large_sweep(500, 1000))
        }
        Some(other) => return Err(format!("unknown run `{other}`; {usage}").into()),
    };
    let input = support::write_run(&out.join("artifacts"), title, &spec);
    let path = report::run(&input, &out)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
