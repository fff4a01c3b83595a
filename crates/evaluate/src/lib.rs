//! The evaluate stage: scores of the validation and test splits and their metrics.
//!
//! [`metrics`] contains the ranking and threshold metrics (ROC-AUC, average precision, the ROC
//! and precision-recall curves, threshold rules and the confusion matrix), defined as in
//! scikit-learn 1.x and filled into `common::Metrics`.

pub mod metrics;

pub use metrics::MetricsError;

mod stage;

pub use stage::{Error, EvaluateConfig, Result, VERSION, run};
