//! Feeds arbitrary text to the stage configuration parsers: the text is read as TOML into
//! each stage's `...Config` type and, where that succeeds, validated. Errors are correct
//! results for malformed input, and a panic is a bug.
//!
//! `experiment_file` covers the whole experiment file; this target reaches the per-stage
//! types directly, without the file around them.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(config) = toml::from_str::<ingest::IngestConfig>(text) {
        let _ = config.validate();
    }
    if let Ok(config) = toml::from_str::<preprocess::PreprocessConfig>(text) {
        let _ = config.validate();
    }
    if let Ok(config) = toml::from_str::<train::TrainConfig>(text) {
        let _ = config.validate();
    }
    if let Ok(config) = toml::from_str::<evaluate::EvaluateConfig>(text) {
        let _ = config.validate();
    }
});
