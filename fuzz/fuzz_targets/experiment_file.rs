//! Feeds arbitrary text to the experiment-file parser that `cargo xtask experiment` uses:
//! the text before the first NUL byte is the file, and each line after it is one `-S`
//! override. Parsing covers the `[experiment]` table, every stage table, the stage graph and
//! the expansion of the sweep into instances.
//!
//! An error is a correct result for malformed input. It must be one line, because the binary
//! prints it as one. A panic is a bug.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xtask::experiment::Experiment;

fuzz_target!(|text: &str| {
    let (file, overrides) = text.split_once('\0').unwrap_or((text, ""));
    let overrides: Vec<String> = overrides.lines().map(str::to_string).collect();
    match Experiment::parse(Path::new("fuzz.toml"), file, &overrides) {
        Ok(experiment) => {
            let _ = xtask::sweep::expand(&experiment);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "a multi-line error: {message:?}");
        }
    }
});
