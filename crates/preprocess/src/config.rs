//! Parameters of the preprocess stage, as written in an experiment file. Reads and writes no
//! files.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Parameters of a preprocess stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreprocessConfig {
    /// Fractions of rows in the train, validation and test splits; they must sum to 1. When
    /// the ingest stage has a test file, the test split is that file, `test` is ignored, and
    /// the main file is split into train and validation in the ratio `train : validation`.
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
    /// The scaling applied after imputation (default `standard`). One-hot columns are never
    /// scaled.
    pub scaling: Scaling,
    /// Columns encoded as categories, in addition to every text column of the ingested table,
    /// which is always categorical. A numeric column listed here takes each distinct number
    /// as a category, written as Rust prints the `f64`, such as `1` or `0.5`. Default: empty.
    pub categorical: Vec<String>,
    /// The encoding of categorical columns (default `onehot`).
    pub encoding: Encoding,
    /// The maximum number of categories that one-hot encoding keeps per column (default 20).
    /// It keeps the most frequent in the training split, with ties broken by name, and pools
    /// the rest into `COLUMN=__other`. Ordinal encoding keeps every training category.
    pub max_categories: usize,
    /// Whether rows that repeat an earlier row in every feature column and the label are
    /// removed before splitting, so that no row is in training and a held-out split at once.
    /// Default false. `preprocess.json` counts such rows either way.
    pub deduplicate: bool,
    /// Columns kept as features even though they look like row identifiers. By default a
    /// column whose every value is distinct, integer or text, over at least
    /// `ID_LIKE_MIN_ROWS` rows is rejected, because such a column names rows rather than
    /// describing them and lets a model memorise the training rows.
    pub keep_distinct: Vec<String>,
}

/// The smallest table in which a column of distinct values is taken for a row identifier.
pub const ID_LIKE_MIN_ROWS: usize = 20;

/// The default of `max_categories`.
pub const DEFAULT_MAX_CATEGORIES: usize = 20;

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            split: SplitFractions::default(),
            stratify: true,
            time_column: None,
            drop: Vec::new(),
            log1p: Vec::new(),
            scaling: Scaling::Standard,
            categorical: Vec::new(),
            encoding: Encoding::OneHot,
            max_categories: DEFAULT_MAX_CATEGORIES,
            deduplicate: false,
            keep_distinct: Vec::new(),
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
    /// Test fraction (default 0.2, or 0 when the key is left out), used only for the
    /// reported metrics. It may be 0 only when the ingest stage has a test file.
    #[serde(default)]
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        SplitFractions { train: 0.6, validation: 0.2, test: 0.2 }
    }
}

/// The encoding of categorical columns, fitted on the training split.
///
/// A missing value is a category of its own, named `__missing`, counted like any other value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// One Float32 column `COLUMN=VALUE` per kept category, 1 for rows with that value and 0
    /// otherwise, and a column `COLUMN=__other` that is 1 for pooled categories and for
    /// categories not seen in training. These columns are not scaled.
    #[default]
    #[serde(rename = "onehot")]
    OneHot,
    /// One column holding a code per category: 1 for the most frequent training category,
    /// 2 for the next, and so on (ties broken by name), and 0 for a category not seen in
    /// training. The codes are then scaled like numeric features.
    #[serde(rename = "ordinal")]
    Ordinal,
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
    /// Checks the split fractions, `max_categories`, and that no column is both categorical
    /// and dropped or in `log1p`.
    pub fn validate(&self) -> Result<()> {
        let SplitFractions { train, validation, test } = self.split;
        for (name, value) in [("train", train), ("validation", validation)] {
            if !(value > 0.0 && value < 1.0) {
                return Err(Error::InvalidConfig {
                    key: "split",
                    problem: format!(
                        "the {name} fraction is {value}; the train and validation fractions \
                         must be between 0 and 1"
                    ),
                });
            }
        }
        if !(0.0..1.0).contains(&test) {
            return Err(Error::InvalidConfig {
                key: "split",
                problem: format!(
                    "the test fraction is {test}; it must be at least 0 and below 1, and 0 only \
                     when the ingest stage has a test file"
                ),
            });
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

        if self.max_categories == 0 {
            return Err(Error::InvalidConfig {
                key: "max_categories",
                problem: "it is 0; one-hot encoding needs at least 1 category per column".into(),
            });
        }
        for column in &self.categorical {
            for (key, names) in [("drop", &self.drop), ("log1p", &self.log1p)] {
                if names.contains(column) {
                    return Err(Error::InvalidConfig {
                        key: "categorical",
                        problem: format!(
                            "column `{column}` is also in `{key}`; remove it from one of the two"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<PreprocessConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn categorical_keys_have_defaults() {
        let config = parse("").unwrap();
        assert!(config.categorical.is_empty());
        assert_eq!(config.encoding, Encoding::OneHot);
        assert_eq!(config.max_categories, 20);
        config.validate().unwrap();
    }

    #[test]
    fn categorical_keys_parse() {
        let config = parse(
            r#"
            categorical = ["protocol_type", "service", "flag"]
            encoding = "ordinal"
            max_categories = 5
            "#,
        )
        .unwrap();
        assert_eq!(config.categorical, ["protocol_type", "service", "flag"]);
        assert_eq!(config.encoding, Encoding::Ordinal);
        assert_eq!(config.max_categories, 5);

        let error = parse(r#"encoding = "one-hot""#).unwrap_err().to_string();
        assert!(error.contains("unknown variant `one-hot`"), "{error}");
        assert!(error.contains("expected `onehot` or `ordinal`"), "{error}");
    }

    #[test]
    fn zero_max_categories_is_rejected() {
        let config = PreprocessConfig { max_categories: 0, ..PreprocessConfig::default() };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("invalid preprocess setting `max_categories`"), "{error}");
    }

    #[test]
    fn categorical_column_cannot_be_dropped_or_log1p() {
        let config = PreprocessConfig {
            categorical: vec!["flag".into()],
            drop: vec!["flag".into()],
            ..PreprocessConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("column `flag` is also in `drop`"), "{error}");

        let config = PreprocessConfig {
            categorical: vec!["flag".into()],
            log1p: vec!["flag".into()],
            ..PreprocessConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("column `flag` is also in `log1p`"), "{error}");
    }

    #[test]
    fn test_fraction_may_be_left_out() {
        let config = parse("split = { train = 0.8, validation = 0.2 }").unwrap();
        assert_eq!(config.split, SplitFractions { train: 0.8, validation: 0.2, test: 0.0 });
        config.validate().unwrap();
    }

    #[test]
    fn split_fractions_must_sum_to_one() {
        let config = parse("split = { train = 0.8, validation = 0.1 }").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("sum to 0.9"), "{error}");

        let config = parse("split = { train = 0.5, validation = 0.0, test = 0.5 }").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("the validation fraction is 0"), "{error}");
    }
}
