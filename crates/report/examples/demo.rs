//! Writes a report from generated artifacts (two models, 30 epochs, 1,000 test rows with 9%
//! anomalies) so the page can be looked at in a browser.
//!
//! Usage: `cargo run --release -p report --example demo -- OUT_DIR`. The artifacts go to
//! `OUT_DIR/artifacts` and the page to `OUT_DIR/report.html`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os().nth(1).map(PathBuf::from).ok_or("usage: demo OUT_DIR")?;
    let title = "Credit-card fraud: MLP against autoencoder";
    let input = support::write_run(&out.join("artifacts"), title, &support::RunSpec::default());
    let path = report::run(&input, &out)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
