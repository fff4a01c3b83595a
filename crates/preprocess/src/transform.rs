//! The fitted transform: `log1p`, median imputation and standard scaling per feature.
//!
//! For a feature `x` the transform computes `(f(x) - mean) / std` where `f` is `ln(1 + x)` for
//! `log1p` columns and the identity otherwise, and a missing `x` becomes the training median
//! of `f(x)`. Median, mean and standard deviation (population, as scikit-learn's
//! `StandardScaler`) come from the training split only. A constant feature gets `std = 1`,
//! so it scales to zero instead of NaN.

use std::collections::BTreeMap;

use common::FeatureTable;
use serde::{Deserialize, Serialize};

use crate::{Error, PreprocessConfig, Result, Scaling};

/// The fitted transform of every feature, written as `transform.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// One entry per feature, in output column order.
    pub features: Vec<FeatureTransform>,
}

/// The fitted parameters of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureTransform {
    /// Column name.
    pub name: String,
    /// Whether `ln(1 + x)` is applied first.
    pub log1p: bool,
    /// Training median after `log1p`, used for missing values.
    pub median: f64,
    /// Training mean subtracted after imputation.
    pub mean: f64,
    /// Training standard deviation divided by after centring (1 for constant features).
    pub std: f64,
}

impl FeatureTransform {
    /// Transforms one value; `None` is imputed with the median.
    fn apply(&self, value: Option<f64>, row_id: u64) -> Result<f64> {
        let value = match value {
            None => self.median,
            Some(raw) => self.prepare(raw, row_id)?,
        };
        let scaled = (value - self.mean) / self.std;
        if !scaled.is_finite() || scaled.abs() > f32::MAX as f64 {
            return Err(Error::InvalidValue {
                column: self.name.clone(),
                row_id,
                problem: format!(
                    "value {value} becomes {scaled} after scaling, which float32 cannot hold; fix or drop the value, or add the column to `log1p`"
                ),
            });
        }
        Ok(scaled)
    }

    /// Applies `log1p` where configured and rejects values that are not finite.
    fn prepare(&self, raw: f64, row_id: u64) -> Result<f64> {
        if !raw.is_finite() {
            return Err(Error::InvalidValue {
                column: self.name.clone(),
                row_id,
                problem: format!(
                    "value {raw} is not finite; replace it, or list its spelling under `missing` in the ingest stage to treat it as missing"
                ),
            });
        }
        if !self.log1p {
            return Ok(raw);
        }
        if raw <= -1.0 {
            return Err(Error::InvalidValue {
                column: self.name.clone(),
                row_id,
                problem: format!(
                    "value {raw} is at most -1, where ln(1 + x) is undefined; remove the column from `log1p`"
                ),
            });
        }
        Ok(raw.ln_1p())
    }
}

impl Transform {
    /// Fits the transform on the rows `train` of `columns`.
    pub fn fit(
        config: &PreprocessConfig,
        columns: &[(String, Vec<Option<f64>>)],
        train: &[usize],
        row_ids: &[u64],
    ) -> Result<Transform> {
        let mut features = Vec::with_capacity(columns.len());
        for (name, values) in columns {
            let mut feature = FeatureTransform {
                name: name.clone(),
                log1p: config.log1p.contains(name),
                median: 0.0,
                mean: 0.0,
                std: 1.0,
            };
            let mut present = Vec::with_capacity(train.len());
            for &row in train {
                if let Some(raw) = values[row] {
                    present.push(feature.prepare(raw, row_ids[row])?);
                }
            }
            if present.is_empty() {
                return Err(Error::EmptyColumn { column: name.clone() });
            }
            feature.median = median(&mut present);

            if config.scaling == Scaling::Standard {
                let imputed: Vec<f64> = train
                    .iter()
                    .map(|&row| match values[row] {
                        Some(raw) => feature.prepare(raw, row_ids[row]),
                        None => Ok(feature.median),
                    })
                    .collect::<Result<_>>()?;
                let n = imputed.len() as f64;
                let mean = imputed.iter().sum::<f64>() / n;
                let variance = imputed.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                let std = variance.sqrt();
                feature.mean = mean;
                feature.std = if std > 0.0 && std.is_finite() { std } else { 1.0 };
            }
            features.push(feature);
        }
        Ok(Transform { features })
    }

    /// Returns the feature names in output order.
    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// Transforms the rows `rows` of `columns` into a feature table and returns it with the
    /// count of imputed values per column (columns without imputed values are left out).
    pub fn apply(
        &self,
        columns: &[(String, Vec<Option<f64>>)],
        rows: &[usize],
        row_ids: &[u64],
        labels: &[u8],
    ) -> Result<(FeatureTable, BTreeMap<String, u64>)> {
        let width = self.features.len();
        let mut values = vec![0f32; rows.len() * width];
        let mut imputed = BTreeMap::new();
        for (j, (feature, (_, column))) in self.features.iter().zip(columns).enumerate() {
            let mut missing = 0u64;
            for (i, &row) in rows.iter().enumerate() {
                missing += u64::from(column[row].is_none());
                values[i * width + j] = feature.apply(column[row], row_ids[row])? as f32;
            }
            if missing > 0 {
                imputed.insert(feature.name.clone(), missing);
            }
        }
        let table = FeatureTable {
            features: self.feature_names(),
            row_ids: rows.iter().map(|&row| row_ids[row]).collect(),
            labels: rows.iter().map(|&row| labels[row]).collect(),
            values,
        };
        Ok((table, imputed))
    }
}

/// Returns the median, averaging the two middle values of an even count.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PreprocessConfig {
        PreprocessConfig { log1p: vec!["amount".into()], ..PreprocessConfig::default() }
    }

    fn columns() -> Vec<(String, Vec<Option<f64>>)> {
        vec![
            ("amount".into(), vec![Some(0.0), Some(9.0), None, Some(99.0), Some(1e6)]),
            ("flat".into(), vec![Some(2.0), Some(2.0), Some(2.0), Some(2.0), Some(2.0)]),
        ]
    }

    #[test]
    fn fit_uses_training_rows_only() {
        let row_ids = [0, 1, 2, 3, 4];
        let transform = Transform::fit(&config(), &columns(), &[0, 1, 2, 3], &row_ids).unwrap();
        let amount = &transform.features[0];
        // log1p of 0, 9 and 99 is 0, ln 10 and ln 100; the median is ln 10.
        assert!((amount.median - 10f64.ln()).abs() < 1e-12);
        // The imputed training values are 0, ln 10, ln 10, ln 100; row 4 (1e6) is not used.
        let values = [0.0, 10f64.ln(), 10f64.ln(), 100f64.ln()];
        let mean = values.iter().sum::<f64>() / 4.0;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!((amount.mean - mean).abs() < 1e-12);
        assert!((amount.std - std).abs() < 1e-12);
    }

    #[test]
    fn constant_column_scales_to_zero() {
        let row_ids = [0, 1, 2, 3, 4];
        let transform = Transform::fit(&config(), &columns(), &[0, 1, 2, 3], &row_ids).unwrap();
        let labels = [0, 0, 0, 1, 1];
        let (table, imputed) =
            transform.apply(&columns(), &[0, 1, 2, 3, 4], &row_ids, &labels).unwrap();
        for i in 0..5 {
            assert_eq!(table.row(i)[1], 0.0);
        }
        assert_eq!(imputed.get("amount"), Some(&1));
        assert_eq!(imputed.get("flat"), None);
    }

    #[test]
    fn infinite_value_names_column_and_row() {
        let mut columns = columns();
        columns[1].1[2] = Some(f64::INFINITY);
        let row_ids = [10, 11, 12, 13, 14];
        let error = Transform::fit(&config(), &columns, &[0, 1, 2, 3], &row_ids).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("column `flat`, row 12"), "{message}");
    }

    #[test]
    fn float32_overflow_is_caught() {
        let columns = vec![("x".to_string(), vec![Some(0.0), Some(1.0), Some(0.0), Some(1e300)])];
        let row_ids = [0, 1, 2, 3];
        let transform =
            Transform::fit(&PreprocessConfig::default(), &columns, &[0, 1, 2], &row_ids).unwrap();
        let error = transform.apply(&columns, &[3], &row_ids, &[0, 0, 0, 1]).unwrap_err();
        assert!(error.to_string().contains("float32"), "{error}");
    }
}
