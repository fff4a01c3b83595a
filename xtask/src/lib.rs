//! The experiment-file parser of the `xtask` orchestrator: reading and validating an
//! experiment file with its executor settings, applying `-S` overrides and expanding sweeps
//! into stage instances.
//!
//! It is a library so that fuzz targets and tests can call the same parser as the binary.

pub mod executor;
pub mod experiment;
pub mod sweep;
