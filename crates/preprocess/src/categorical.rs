//! Categorical encodings fitted on the training split: one-hot columns with a cap on the kept
//! categories, and ordinal codes.
//!
//! Categories are ranked by their count in the training split, most frequent first, with ties
//! broken by name in byte order, so a fit is deterministic. A missing value is the category
//! [`MISSING_CATEGORY`], ranked like any other. A category that the fit did not keep (pooled
//! by the cap, or never seen in training) maps to the unknown bucket: the one-hot column
//! `COLUMN=__other`, or the ordinal code 0. Reads and writes no files.

use std::collections::HashMap;

use arrow::array::{Array, StringArray};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Scaling};

/// The category that stands for a missing value.
pub const MISSING_CATEGORY: &str = "__missing";

/// The category of the one-hot column for pooled and unseen categories.
pub const OTHER_CATEGORY: &str = "__other";

/// A fitted one-hot encoding of one column.
///
/// It writes one Float32 column `COLUMN=VALUE` per kept category and then `COLUMN=__other`.
/// Each row has 1 in exactly one of them and 0 in the others. The columns are not scaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHotTransform {
    /// Column name in the ingested table.
    pub name: String,
    /// The kept training categories in output column order: most frequent first, ties broken
    /// by name.
    pub categories: Vec<String>,
    /// The number of distinct training categories beyond `max_categories`, pooled into
    /// `COLUMN=__other`.
    pub pooled: usize,
}

/// A fitted ordinal encoding of one column.
///
/// The category at position `i` of `categories` has the code `i + 1`, and any other category
/// has the code 0. The output is `(code - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdinalTransform {
    /// Column name in the ingested table.
    pub name: String,
    /// Every training category: most frequent first, ties broken by name.
    pub categories: Vec<String>,
    /// Training mean of the codes (0 without scaling).
    pub mean: f64,
    /// Training standard deviation of the codes (1 without scaling, or for a single category).
    pub std: f64,
}

impl OneHotTransform {
    /// Keeps the `max_categories` most frequent categories of the rows `train` of `values`.
    pub(crate) fn fit(
        name: &str,
        values: &StringArray,
        train: &[usize],
        row_ids: &[u64],
        max_categories: usize,
    ) -> Result<OneHotTransform> {
        let ranked = ranked_categories(name, values, train, row_ids)?;
        let pooled = ranked.len().saturating_sub(max_categories);
        let categories =
            ranked.into_iter().take(max_categories).map(|(category, _)| category).collect();
        Ok(OneHotTransform { name: name.to_string(), categories, pooled })
    }

    /// Returns the output column names: `COLUMN=VALUE` per kept category, then
    /// `COLUMN=__other`.
    pub fn output_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.categories.iter().map(|category| format!("{}={category}", self.name)).collect();
        names.push(format!("{}={OTHER_CATEGORY}", self.name));
        names
    }

    /// Returns the number of output columns.
    pub fn width(&self) -> usize {
        self.categories.len() + 1
    }

    /// Writes the encoding of the rows `rows` of `values` into the row-major `out`, whose rows
    /// are `stride` wide, starting at column `first`. `out` must be zero in those columns.
    pub(crate) fn apply(
        &self,
        values: &StringArray,
        rows: &[usize],
        out: &mut [f32],
        stride: usize,
        first: usize,
    ) {
        let index = CategoryIndex::new(&self.categories);
        let other = self.categories.len();
        for (i, &row) in rows.iter().enumerate() {
            let position = index.position(values, row).unwrap_or(other);
            out[i * stride + first + position] = 1.0;
        }
    }
}

impl OrdinalTransform {
    /// Codes every category of the rows `train` of `values` and fits the scaling of the codes.
    pub(crate) fn fit(
        name: &str,
        values: &StringArray,
        train: &[usize],
        row_ids: &[u64],
        scaling: Scaling,
    ) -> Result<OrdinalTransform> {
        let categories = ranked_categories(name, values, train, row_ids)?;
        let mut transform = OrdinalTransform {
            name: name.to_string(),
            categories: categories.into_iter().map(|(category, _)| category).collect(),
            mean: 0.0,
            std: 1.0,
        };
        if scaling == Scaling::Standard {
            let index = CategoryIndex::new(&transform.categories);
            let codes: Vec<f64> =
                train.iter().map(|&row| code(index.position(values, row))).collect();
            let n = codes.len() as f64;
            let mean = codes.iter().sum::<f64>() / n;
            let variance = codes.iter().map(|code| (code - mean).powi(2)).sum::<f64>() / n;
            let std = variance.sqrt();
            transform.mean = mean;
            transform.std = if std > 0.0 && std.is_finite() { std } else { 1.0 };
        }
        Ok(transform)
    }

    /// Writes the scaled codes of the rows `rows` of `values` into column `column` of the
    /// row-major `out`, whose rows are `stride` wide.
    pub(crate) fn apply(
        &self,
        values: &StringArray,
        rows: &[usize],
        out: &mut [f32],
        stride: usize,
        column: usize,
    ) {
        let index = CategoryIndex::new(&self.categories);
        for (i, &row) in rows.iter().enumerate() {
            let code = code(index.position(values, row));
            out[i * stride + column] = ((code - self.mean) / self.std) as f32;
        }
    }
}

/// Returns the ordinal code of a category position: 0 for an unknown category.
fn code(position: Option<usize>) -> f64 {
    position.map_or(0.0, |position| (position + 1) as f64)
}

/// Counts the categories of the rows `train`, most frequent first, ties broken by name.
///
/// A value spelled like one of the reserved categories is rejected, because its one-hot
/// column or its meaning would clash with theirs.
fn ranked_categories(
    name: &str,
    values: &StringArray,
    train: &[usize],
    row_ids: &[u64],
) -> Result<Vec<(String, u64)>> {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for &row in train {
        let category = if values.is_null(row) {
            MISSING_CATEGORY
        } else {
            let value = values.value(row);
            if value == MISSING_CATEGORY || value == OTHER_CATEGORY {
                return Err(Error::InvalidValue {
                    column: name.to_string(),
                    row_id: row_ids[row],
                    problem: format!(
                        "the category `{value}` is reserved: `{MISSING_CATEGORY}` stands for \
                         missing values and `{OTHER_CATEGORY}` for pooled and unseen \
                         categories; rename the value in the data"
                    ),
                });
            }
            value
        };
        *counts.entry(category).or_default() += 1;
    }
    let mut ranked: Vec<(String, u64)> =
        counts.into_iter().map(|(category, count)| (category.to_string(), count)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(ranked)
}

/// The positions of fitted categories, for looking up values.
struct CategoryIndex<'a> {
    positions: HashMap<&'a str, usize>,
    /// The position of [`MISSING_CATEGORY`], when missing values were seen in training.
    missing: Option<usize>,
}

impl<'a> CategoryIndex<'a> {
    fn new(categories: &'a [String]) -> Self {
        let mut positions = HashMap::with_capacity(categories.len());
        let mut missing = None;
        for (position, category) in categories.iter().enumerate() {
            if category == MISSING_CATEGORY {
                missing = Some(position);
            } else {
                positions.insert(category.as_str(), position);
            }
        }
        CategoryIndex { positions, missing }
    }

    /// Returns the position of a row's category, or `None` for a category not kept.
    fn position(&self, values: &StringArray, row: usize) -> Option<usize> {
        if values.is_null(row) {
            return self.missing;
        }
        self.positions.get(values.value(row)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(texts: &[Option<&str>]) -> StringArray {
        texts.iter().copied().collect()
    }

    fn all_rows(values: &StringArray) -> (Vec<usize>, Vec<u64>) {
        ((0..values.len()).collect(), (0..values.len() as u64).collect())
    }

    #[test]
    fn categories_rank_by_count_then_name() {
        let values = values(&[
            Some("udp"),
            Some("tcp"),
            Some("icmp"),
            Some("tcp"),
            Some("udp"),
            None,
            Some("tcp"),
        ]);
        let (rows, row_ids) = all_rows(&values);
        let ranked = ranked_categories("protocol", &values, &rows, &row_ids).unwrap();
        let expected = [("tcp", 3), ("udp", 2), ("__missing", 1), ("icmp", 1)];
        let ranked: Vec<(&str, u64)> = ranked.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        assert_eq!(ranked, expected);
    }

    #[test]
    fn cap_pools_least_frequent_categories() {
        let values = values(&[Some("a"), Some("b"), Some("b"), Some("c"), Some("c"), Some("c")]);
        let (rows, row_ids) = all_rows(&values);
        let transform = OneHotTransform::fit("x", &values, &rows, &row_ids, 2).unwrap();
        assert_eq!(transform.categories, ["c", "b"]);
        assert_eq!(transform.pooled, 1);
        assert_eq!(transform.output_names(), ["x=c", "x=b", "x=__other"]);

        let mut out = vec![0f32; 6 * 3];
        transform.apply(&values, &rows, &mut out, 3, 0);
        let expected = [
            [0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
        ];
        assert_eq!(out, expected.concat());
    }

    #[test]
    fn onehot_maps_unseen_and_missing_to_other() {
        let training = values(&[Some("a"), Some("b")]);
        let (rows, row_ids) = all_rows(&training);
        let transform = OneHotTransform::fit("x", &training, &rows, &row_ids, 20).unwrap();
        assert_eq!(transform.pooled, 0);

        // `z` was never seen, and no value was missing in training.
        let test = values(&[Some("z"), None, Some("b")]);
        let mut out = vec![0f32; 3 * 3];
        transform.apply(&test, &[0, 1, 2], &mut out, 3, 0);
        assert_eq!(out, [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn missing_seen_in_training_keeps_its_column() {
        let training = values(&[None, None, Some("a")]);
        let (rows, row_ids) = all_rows(&training);
        let transform = OneHotTransform::fit("x", &training, &rows, &row_ids, 20).unwrap();
        assert_eq!(transform.output_names(), ["x=__missing", "x=a", "x=__other"]);
        // A value spelled `__missing` is not a missing value, so it is unknown.
        let test = values(&[None, Some("__missing")]);
        let mut out = vec![0f32; 2 * 3];
        transform.apply(&test, &[0, 1], &mut out, 3, 0);
        assert_eq!(out, [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn ordinal_codes_unseen_as_zero() {
        let training = values(&[Some("b"), Some("a"), Some("b"), Some("c")]);
        let (rows, row_ids) = all_rows(&training);
        let transform =
            OrdinalTransform::fit("x", &training, &rows, &row_ids, Scaling::None).unwrap();
        assert_eq!(transform.categories, ["b", "a", "c"]);
        assert_eq!((transform.mean, transform.std), (0.0, 1.0));

        let test = values(&[Some("c"), Some("z"), None, Some("b")]);
        let mut out = vec![0f32; 4];
        transform.apply(&test, &[0, 1, 2, 3], &mut out, 1, 0);
        assert_eq!(out, [3.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn ordinal_codes_are_standard_scaled() {
        // Codes of the training rows: b = 1, a = 2, b = 1, c = 3; mean 7/4, population
        // variance ((3/4)² + (1/4)² + (3/4)² + (5/4)²) / 4 = 11/16.
        let training = values(&[Some("b"), Some("a"), Some("b"), Some("c")]);
        let (rows, row_ids) = all_rows(&training);
        let transform =
            OrdinalTransform::fit("x", &training, &rows, &row_ids, Scaling::Standard).unwrap();
        assert!((transform.mean - 1.75).abs() < 1e-12);
        assert!((transform.std - (11f64 / 16.0).sqrt()).abs() < 1e-12);

        let test = values(&[Some("z")]);
        let mut out = vec![0f32; 1];
        transform.apply(&test, &[0], &mut out, 1, 0);
        assert_eq!(out[0], ((0.0 - 1.75) / (11f64 / 16.0).sqrt()) as f32);
    }

    #[test]
    fn single_category_scales_to_zero() {
        let training = values(&[Some("tcp"), Some("tcp")]);
        let (rows, row_ids) = all_rows(&training);
        let transform =
            OrdinalTransform::fit("x", &training, &rows, &row_ids, Scaling::Standard).unwrap();
        assert_eq!(transform.std, 1.0);
        let mut out = vec![f32::NAN; 2];
        transform.apply(&training, &rows, &mut out, 1, 0);
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn reserved_value_names_column_and_row() {
        let training = values(&[Some("a"), Some("__other")]);
        let rows = [0, 1];
        let error = OneHotTransform::fit("flag", &training, &rows, &[7, 8], 20).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("column `flag`, row 8"), "{message}");
        assert!(message.contains("the category `__other` is reserved"), "{message}");
    }
}
