//! The fitted transform: per feature, `log1p`, median imputation and standard scaling of
//! numbers, or a one-hot or ordinal encoding of categories.
//!
//! For a numeric feature `x` the transform computes `(f(x) - mean) / std` where `f` is
//! `ln(1 + x)` for `log1p` columns and the identity otherwise, and a missing `x` becomes the
//! training median of `f(x)`. Median, mean and standard deviation (population, as
//! scikit-learn's `StandardScaler`) come from the training split only. A constant feature gets
//! `std = 1`, so it scales to zero instead of NaN. Categorical features are described in
//! [`crate::categorical`]. Reads and writes no files; `run` writes the [`Transform`] as
//! `transform.json`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use common::FeatureTable;
use serde::{Deserialize, Serialize};

use crate::categorical::{OneHotTransform, OrdinalTransform};
use crate::table::{ColumnValues, FeatureColumn, InputTable};
use crate::{Encoding, Error, PreprocessConfig, Result, Scaling};

/// The fitted transform of every feature, written as `transform.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// One entry per input column, in output order. A one-hot entry writes several output
    /// columns, every other entry one.
    pub features: Vec<FeatureTransform>,
}

/// The fitted transform of one input column, tagged in JSON by `"kind"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum FeatureTransform {
    /// A numeric column: `log1p`, median imputation and scaling.
    #[serde(rename = "numeric")]
    Numeric(NumericTransform),
    /// A categorical column encoded as one-hot columns.
    #[serde(rename = "onehot")]
    OneHot(OneHotTransform),
    /// A categorical column encoded as ordinal codes.
    #[serde(rename = "ordinal")]
    Ordinal(OrdinalTransform),
}

/// The fitted parameters of one numeric feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericTransform {
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

impl NumericTransform {
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
                    "value {value:e} becomes {scaled:e} after scaling, which float32 cannot hold; fix or drop the value, or add the column to `log1p`"
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

    /// Fits `log1p`, the median and the scaling on the rows `train` of `values`.
    fn fit(
        config: &PreprocessConfig,
        name: &str,
        values: &[Option<f64>],
        train: &[usize],
        row_ids: &[u64],
    ) -> Result<NumericTransform> {
        let mut feature = NumericTransform {
            name: name.to_string(),
            log1p: config.log1p.iter().any(|column| column == name),
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
            return Err(Error::EmptyColumn { column: name.to_string() });
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
            if !variance.is_finite() {
                // Values near f64::MAX overflow the variance; name the largest one.
                let (position, largest) = imputed
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                    .expect("the training split has rows");
                return Err(Error::InvalidValue {
                    column: name.to_string(),
                    row_id: row_ids[train[position]],
                    problem: format!(
                        "value {largest:e} is too large to scale (the column's variance overflows); fix or drop the value, or add the column to `log1p`"
                    ),
                });
            }
            let std = variance.sqrt();
            feature.mean = mean;
            feature.std = if std > 0.0 { std } else { 1.0 };
        }
        Ok(feature)
    }
}

impl FeatureTransform {
    /// Returns the input column's name.
    pub fn name(&self) -> &str {
        match self {
            FeatureTransform::Numeric(numeric) => &numeric.name,
            FeatureTransform::OneHot(onehot) => &onehot.name,
            FeatureTransform::Ordinal(ordinal) => &ordinal.name,
        }
    }

    /// Returns whether the input column is read as categories.
    pub fn is_categorical(&self) -> bool {
        !matches!(self, FeatureTransform::Numeric(_))
    }

    /// Returns the names of the output columns.
    pub fn output_names(&self) -> Vec<String> {
        match self {
            FeatureTransform::OneHot(onehot) => onehot.output_names(),
            _ => vec![self.name().to_string()],
        }
    }

    /// Returns the number of output columns.
    fn width(&self) -> usize {
        match self {
            FeatureTransform::OneHot(onehot) => onehot.width(),
            _ => 1,
        }
    }
}

impl Transform {
    /// Fits the transform of every column of `table` on its rows `train`.
    pub fn fit(
        config: &PreprocessConfig,
        table: &InputTable,
        train: &[usize],
    ) -> Result<Transform> {
        let mut features = Vec::with_capacity(table.columns.len());
        for column in &table.columns {
            let name = column.name.as_str();
            let row_ids = &table.row_ids;
            let feature = match (&column.values, config.encoding) {
                (ColumnValues::Numbers(values), _) => FeatureTransform::Numeric(
                    NumericTransform::fit(config, name, values, train, row_ids)?,
                ),
                (ColumnValues::Categories(values), Encoding::OneHot) => {
                    let max = config.max_categories;
                    FeatureTransform::OneHot(OneHotTransform::fit(
                        name, values, train, row_ids, max,
                    )?)
                }
                (ColumnValues::Categories(values), Encoding::Ordinal) => FeatureTransform::Ordinal(
                    OrdinalTransform::fit(name, values, train, row_ids, config.scaling)?,
                ),
            };
            features.push(feature);
        }
        let transform = Transform { features };
        transform.check_output_names()?;
        Ok(transform)
    }

    /// Rejects a one-hot column whose name equals another output column's, such as
    /// `proto=tcp` from the column `proto` beside an input column named `proto=tcp`.
    fn check_output_names(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for feature in &self.features {
            for name in feature.output_names() {
                if !seen.insert(name.clone()) {
                    return Err(Error::DuplicateFeature { name, column: feature.name().into() });
                }
            }
        }
        Ok(())
    }

    /// Returns the output column names in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().flat_map(FeatureTransform::output_names).collect()
    }

    /// Returns the input columns the transform reads, in order, and whether each is
    /// categorical.
    pub fn input_columns(&self) -> Vec<FeatureColumn> {
        self.features
            .iter()
            .map(|feature| FeatureColumn {
                name: feature.name().to_string(),
                categorical: feature.is_categorical(),
            })
            .collect()
    }

    /// Transforms every row of the ingested table at `path`, which needs the columns that
    /// [`input_columns`](Self::input_columns) lists. This is how new data is scored with the
    /// encoding and scaling of an earlier fit.
    pub fn apply_file(&self, path: &Path) -> Result<(FeatureTable, BTreeMap<String, u64>)> {
        let table = InputTable::read(path, &self.input_columns())?;
        let rows: Vec<usize> = (0..table.rows()).collect();
        self.apply(&table, &rows)
    }

    /// Transforms the rows `rows` of `table` into a feature table and returns it with the
    /// count of median-imputed values per numeric column (columns without imputed values are
    /// left out). Missing categories are not counted, because they are a category of their
    /// own.
    pub fn apply(
        &self,
        table: &InputTable,
        rows: &[usize],
    ) -> Result<(FeatureTable, BTreeMap<String, u64>)> {
        self.check_columns(table)?;
        let width: usize = self.features.iter().map(FeatureTransform::width).sum();
        let mut values = vec![0f32; rows.len() * width];
        let mut imputed = BTreeMap::new();
        let mut first = 0;
        for (feature, column) in self.features.iter().zip(&table.columns) {
            match (feature, &column.values) {
                (FeatureTransform::Numeric(numeric), ColumnValues::Numbers(numbers)) => {
                    let mut missing = 0u64;
                    for (i, &row) in rows.iter().enumerate() {
                        missing += u64::from(numbers[row].is_none());
                        let value = numeric.apply(numbers[row], table.row_ids[row])?;
                        values[i * width + first] = value as f32;
                    }
                    if missing > 0 {
                        imputed.insert(numeric.name.clone(), missing);
                    }
                }
                (FeatureTransform::OneHot(onehot), ColumnValues::Categories(categories)) => {
                    onehot.apply(categories, rows, &mut values, width, first);
                }
                (FeatureTransform::Ordinal(ordinal), ColumnValues::Categories(categories)) => {
                    ordinal.apply(categories, rows, &mut values, width, first);
                }
                _ => unreachable!("check_columns matches every column's kind"),
            }
            first += feature.width();
        }
        let table = FeatureTable {
            features: self.feature_names(),
            row_ids: rows.iter().map(|&row| table.row_ids[row]).collect(),
            labels: rows.iter().map(|&row| table.labels[row]).collect(),
            values,
        };
        Ok((table, imputed))
    }

    /// Checks that `table` has the transform's input columns, in order and of the same kind.
    fn check_columns(&self, table: &InputTable) -> Result<()> {
        let expected = self.input_columns();
        let found: Vec<FeatureColumn> = table
            .columns
            .iter()
            .map(|column| FeatureColumn {
                name: column.name.clone(),
                categorical: matches!(column.values, ColumnValues::Categories(_)),
            })
            .collect();
        if found != expected {
            let describe = |columns: &[FeatureColumn]| -> String {
                let names: Vec<String> = columns
                    .iter()
                    .map(|column| match column.categorical {
                        true => format!("{} (categorical)", column.name),
                        false => column.name.clone(),
                    })
                    .collect();
                names.join(", ")
            };
            return Err(Error::TransformMismatch {
                path: table.path.clone(),
                expected: describe(&expected),
                found: describe(&found),
            });
        }
        Ok(())
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
    use std::path::PathBuf;

    use arrow::array::StringArray;

    use super::*;
    use crate::table::InputColumn;

    fn config() -> PreprocessConfig {
        PreprocessConfig { log1p: vec!["amount".into()], ..PreprocessConfig::default() }
    }

    fn numbers(name: &str, values: Vec<Option<f64>>) -> InputColumn {
        InputColumn { name: name.into(), values: ColumnValues::Numbers(values) }
    }

    fn categories(name: &str, values: &[Option<&str>]) -> InputColumn {
        let values: StringArray = values.iter().copied().collect();
        InputColumn { name: name.into(), values: ColumnValues::Categories(values) }
    }

    fn table(columns: Vec<InputColumn>, row_ids: Vec<u64>) -> InputTable {
        let labels = row_ids.iter().map(|&id| u8::from(id % 2 == 1)).collect();
        InputTable { path: PathBuf::from("data.parquet"), row_ids, labels, columns }
    }

    fn amounts() -> InputTable {
        table(
            vec![
                numbers("amount", vec![Some(0.0), Some(9.0), None, Some(99.0), Some(1e6)]),
                numbers("flat", vec![Some(2.0), Some(2.0), Some(2.0), Some(2.0), Some(2.0)]),
            ],
            vec![0, 1, 2, 3, 4],
        )
    }

    fn numeric(feature: &FeatureTransform) -> &NumericTransform {
        match feature {
            FeatureTransform::Numeric(numeric) => numeric,
            other => panic!("{other:?} is not numeric"),
        }
    }

    #[test]
    fn fit_uses_training_rows_only() {
        let transform = Transform::fit(&config(), &amounts(), &[0, 1, 2, 3]).unwrap();
        let amount = numeric(&transform.features[0]);
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
        let transform = Transform::fit(&config(), &amounts(), &[0, 1, 2, 3]).unwrap();
        assert_eq!(numeric(&transform.features[1]).std, 1.0);
        let (table, imputed) = transform.apply(&amounts(), &[0, 1, 2, 3, 4]).unwrap();
        for i in 0..5 {
            assert_eq!(table.row(i)[1], 0.0);
        }
        assert!(table.values.iter().all(|value| value.is_finite()));
        assert_eq!(imputed.get("amount"), Some(&1));
        assert_eq!(imputed.get("flat"), None);
    }

    #[test]
    fn infinite_value_names_column_and_row() {
        let mut input = amounts();
        input.columns[1] = numbers("flat", vec![Some(2.0), Some(2.0), Some(f64::INFINITY)]);
        input.row_ids = vec![10, 11, 12, 13, 14];
        let error = Transform::fit(&config(), &input, &[0, 1, 2]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("column `flat`, row 12"), "{message}");
    }

    #[test]
    fn float32_overflow_is_caught() {
        let input = table(
            vec![numbers("x", vec![Some(0.0), Some(1.0), Some(0.0), Some(1e300)])],
            vec![0, 1, 2, 3],
        );
        let transform = Transform::fit(&PreprocessConfig::default(), &input, &[0, 1, 2]).unwrap();
        let error = transform.apply(&input, &[3]).unwrap_err();
        assert!(error.to_string().contains("float32"), "{error}");
    }

    #[test]
    fn onehot_columns_follow_their_input_column() {
        let input = table(
            vec![
                numbers("bytes", vec![Some(1.0), Some(3.0), Some(5.0)]),
                categories("proto", &[Some("tcp"), Some("udp"), Some("tcp")]),
                numbers("rate", vec![Some(0.0), Some(0.5), Some(1.0)]),
            ],
            vec![0, 1, 2],
        );
        let transform = Transform::fit(&PreprocessConfig::default(), &input, &[0, 1, 2]).unwrap();
        let names = ["bytes", "proto=tcp", "proto=udp", "proto=__other", "rate"];
        assert_eq!(transform.feature_names(), names);
        let (output, imputed) = transform.apply(&input, &[0, 1, 2]).unwrap();
        assert!(imputed.is_empty());
        // bytes: mean 3, population std sqrt(8/3); rate: mean 0.5, std sqrt(1/6). The one-hot
        // columns stay 0 and 1.
        let bytes_std = (8f64 / 3.0).sqrt();
        let rate_std = (1f64 / 6.0).sqrt();
        let expected = [
            [(-2.0 / bytes_std) as f32, 1.0, 0.0, 0.0, (-0.5 / rate_std) as f32],
            [0.0, 0.0, 1.0, 0.0, 0.0],
            [(2.0 / bytes_std) as f32, 1.0, 0.0, 0.0, (0.5 / rate_std) as f32],
        ];
        for (i, row) in expected.iter().enumerate() {
            assert_eq!(output.row(i), row, "row {i}");
        }
    }

    #[test]
    fn ordinal_encoding_writes_one_column() {
        let input = table(
            vec![categories("flag", &[Some("SF"), Some("S0"), Some("SF"), Some("REJ")])],
            vec![0, 1, 2, 3],
        );
        let config = PreprocessConfig {
            encoding: Encoding::Ordinal,
            scaling: Scaling::None,
            ..PreprocessConfig::default()
        };
        let transform = Transform::fit(&config, &input, &[0, 1, 2]).unwrap();
        assert_eq!(transform.feature_names(), ["flag"]);
        // Training categories: SF twice, then S0; REJ (row 3) is unseen and gets code 0.
        let (output, _) = transform.apply(&input, &[0, 1, 2, 3]).unwrap();
        assert_eq!(output.values, [1.0, 2.0, 1.0, 0.0]);
    }

    #[test]
    fn clashing_onehot_name_is_rejected() {
        let input = table(
            vec![
                categories("proto", &[Some("tcp"), Some("udp")]),
                numbers("proto=tcp", vec![Some(1.0), Some(2.0)]),
            ],
            vec![0, 1],
        );
        let error = Transform::fit(&PreprocessConfig::default(), &input, &[0, 1]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("writes a feature named `proto=tcp`"), "{message}");
    }

    #[test]
    fn table_with_other_columns_is_rejected() {
        let input = table(vec![categories("proto", &[Some("tcp"), Some("udp")])], vec![0, 1]);
        let transform = Transform::fit(&PreprocessConfig::default(), &input, &[0, 1]).unwrap();
        let other = table(vec![numbers("proto", vec![Some(1.0), Some(2.0)])], vec![0, 1]);
        let error = transform.apply(&other, &[0, 1]).unwrap_err().to_string();
        assert!(error.contains("the table's feature columns (proto)"), "{error}");
        assert!(error.contains("the transform's (proto (categorical))"), "{error}");
    }

    #[test]
    fn transform_json_names_each_kind() {
        let input = table(
            vec![
                numbers("bytes", vec![Some(1.0), Some(3.0)]),
                categories("proto", &[Some("tcp"), None]),
            ],
            vec![0, 1],
        );
        let transform = Transform::fit(&PreprocessConfig::default(), &input, &[0, 1]).unwrap();
        let json = serde_json::to_value(&transform).unwrap();
        let expected = serde_json::json!({
            "features": [
                { "kind": "numeric", "name": "bytes", "log1p": false, "median": 2.0,
                  "mean": 2.0, "std": 1.0 },
                { "kind": "onehot", "name": "proto", "categories": ["__missing", "tcp"],
                  "pooled": 0 },
            ]
        });
        assert_eq!(json, expected);
        let parsed: Transform = serde_json::from_value(json).unwrap();
        assert_eq!(parsed, transform);
    }
}
