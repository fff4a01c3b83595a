//! Helpers shared by the end-to-end tests: where the repository and the shared data are.

use std::path::{Path, PathBuf};

/// Returns the repository root: `XTASK_REPO` when set, so that a test binary copied to another
/// machine (such as a GPU machine without a Rust toolchain) finds the repository there.
pub fn repo_root() -> PathBuf {
    match std::env::var_os("XTASK_REPO") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits in the workspace")
            .into(),
    }
}

/// Returns the shared data folder (`../shared/data`, or `ANOMALY_DATA_DIR`), or `None` with a
/// note when it is absent outside CI. Under `CI=true` a missing folder fails the test.
pub fn shared_data() -> Option<PathBuf> {
    let path = std::env::var_os("ANOMALY_DATA_DIR")
        .map_or_else(|| repo_root().join("../shared/data"), PathBuf::from);
    if path.join("creditcard/creditcard_sample.csv").is_file() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing; CI must provide the shared data folder", path.display());
    }
    eprintln!("note: {} is missing, so this test checks nothing", path.display());
    None
}
