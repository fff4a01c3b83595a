//! Parameters of the preprocess stage, as written in an experiment file.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Parameters of a preprocess stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreprocessConfig {
    /// Fractions of rows in the train, validation and test splits; they must sum to 1.
    pub split: SplitFractions,
    /// Whether each split keeps the label proportions of the whole table (default true).
    /// Ignored when `time_column` is set.
    pub stratify: bool,
    /// Split by time instead: rows sorted by this column, the earliest for training, then
    /// validation, then test.
    pub time_column: Option<String>,
    /// Columns left out of the features.
    pub drop: Vec<String>,
    /// Columns transformed with `ln(1 + x)` before imputation and scaling, for heavy-tailed
    /// non-negative values such as amounts.
    pub log1p: Vec<String>,
    /// How features are scaled after imputation (default `standard`).
    pub scaling: Scaling,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            split: SplitFractions::default(),
            stratify: true,
            time_column: None,
            drop: Vec::new(),
            log1p: Vec::new(),
            scaling: Scaling::Standard,
        }
    }
}

/// Fractions of rows per split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFractions {
    /// Training fraction (default 0.6).
    pub train: f64,
    /// Validation fraction (default 0.2), used for early stopping and the threshold.
    pub validation: f64,
    /// Test fraction (default 0.2), used only for the reported metrics.
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        SplitFractions { train: 0.6, validation: 0.2, test: 0.2 }
    }
}

/// Feature scaling fitted on the training split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// Subtract the training mean and divide by the training standard deviation.
    #[default]
    Standard,
    /// Leave values as they are after imputation.
    None,
}

impl PreprocessConfig {
    /// Checks the split fractions.
    pub fn validate(&self) -> Result<()> {
        let SplitFractions { train, validation, test } = self.split;
        for (name, value) in [("train", train), ("validation", validation), ("test", test)] {
            if !(value > 0.0 && value < 1.0) {
                return Err(Error::InvalidConfig {
                    key: "split",
                    problem: format!(
                        "the {name} fraction is {value}; each fraction must be between 0 and 1"
                    ),
                });
            }
        }
        let sum = train + validation + test;
        if (sum - 1.0).abs() > 1e-9 {
            return Err(Error::InvalidConfig {
                key: "split",
                problem: format!(
                    "fractions {train} + {validation} + {test} sum to {sum}; they must sum to 1"
                ),
            });
        }
        Ok(())
    }
}
