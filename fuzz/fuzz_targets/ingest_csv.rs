//! Feeds arbitrary bytes to the ingest stage as a CSV file, through `ingest::resolve` and
//! `ingest::run` with a `path` configuration and a label rule. Any `Err` is a correct result
//! for malformed input, and a panic is a bug.

#![no_main]

use std::path::Path;

use common::NoProgress;
use ingest::{IngestConfig, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.csv");
    std::fs::write(&path, bytes).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    let mut config: IngestConfig =
        toml::from_str(r#"label = { column = "label", anomaly = ["1"], normal = ["0"] }"#).unwrap();
    config.path = Some(path);
    let registry = Registry::parse("", Path::new("empty.toml")).unwrap();
    let Ok(source) = ingest::resolve(&config, &registry, dir.path(), &NoProgress) else {
        return;
    };
    let _ = ingest::run(&config, &source, None, &out, &NoProgress);
});
