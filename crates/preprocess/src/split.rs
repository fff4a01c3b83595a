//! Seeded train, validation and test splits: stratified, plain random, or by time, of one
//! table, or of a training table into train and validation beside a separate test table.
//! Reads and writes no files.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result, SplitFractions};

/// Row indices of the three splits, each sorted ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// The split method: `stratified`, `random` or `time:<column>`, followed by `+test-file`
    /// when the test rows are a separate table.
    pub method: String,
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub validation: Vec<usize>,
    /// Test rows: row indices of the same table, or of the test table when `method` ends in
    /// `+test-file`.
    pub test: Vec<usize>,
}

/// The suffix of [`Splits::method`] when the test rows come from a separate test table.
pub const TEST_FILE_SUFFIX: &str = "+test-file";

impl Splits {
    /// Splits rows at random from `seed`; when `stratify` is set, each class is split
    /// separately so that every split keeps the class proportions.
    pub fn random(labels: &[u8], fractions: &SplitFractions, stratify: bool, seed: u64) -> Splits {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let groups: Vec<Vec<usize>> = if stratify {
            vec![
                (0..labels.len()).filter(|&i| labels[i] == 0).collect(),
                (0..labels.len()).filter(|&i| labels[i] != 0).collect(),
            ]
        } else {
            vec![(0..labels.len()).collect()]
        };
        let mut splits = Splits {
            method: if stratify { "stratified" } else { "random" }.to_string(),
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
        };
        for mut group in groups {
            group.shuffle(&mut rng);
            let (train, validation) = cut_points(group.len(), fractions);
            splits.train.extend(&group[..train]);
            splits.validation.extend(&group[train..train + validation]);
            splits.test.extend(&group[train + validation..]);
        }
        splits.sort();
        splits
    }

    /// Splits rows by the value of a time column: the earliest rows train, the latest test.
    /// Ties keep file order; rows with a missing time are an error.
    pub fn by_time(
        times: &[Option<f64>],
        fractions: &SplitFractions,
        column: &str,
    ) -> Result<Splits> {
        if let Some(row) = times.iter().position(|t| t.is_none_or(|t| t.is_nan())) {
            return Err(Error::InvalidValue {
                column: column.to_string(),
                row_id: row as u64,
                problem: "the time column has a missing value, so the row cannot be ordered; fill it in or split at random".into(),
            });
        }
        let mut order: Vec<usize> = (0..times.len()).collect();
        order.sort_by(|&a, &b| times[a].partial_cmp(&times[b]).expect("no NaN").then(a.cmp(&b)));
        let (train, validation) = cut_points(order.len(), fractions);
        let mut splits = Splits {
            method: format!("time:{column}"),
            train: order[..train].to_vec(),
            validation: order[train..train + validation].to_vec(),
            test: order[train + validation..].to_vec(),
        };
        splits.sort();
        Ok(splits)
    }

    /// Returns the fractions that split a training table into train and validation in the
    /// ratio `train : validation`, for use with a separate test table.
    pub fn train_validation_fractions(fractions: &SplitFractions) -> SplitFractions {
        let sum = fractions.train + fractions.validation;
        SplitFractions {
            train: fractions.train / sum,
            validation: fractions.validation / sum,
            test: 0.0,
        }
    }

    /// Takes every one of `rows` rows of a separate test table as the test split. The split of
    /// the training table must have been made with
    /// [`train_validation_fractions`](Self::train_validation_fractions), so that its own test
    /// split is empty.
    pub fn with_test_file(mut self, rows: usize) -> Splits {
        debug_assert!(self.test.is_empty(), "the training table has test rows of its own");
        self.test = (0..rows).collect();
        self.method.push_str(TEST_FILE_SUFFIX);
        self
    }

    /// Maps row positions of a subset back to positions of the whole table: position `i` of
    /// each split becomes `kept[i]`.
    pub fn of_subset(self, kept: &[usize]) -> Splits {
        let map = |rows: Vec<usize>| rows.into_iter().map(|i| kept[i]).collect();
        Splits {
            method: self.method,
            train: map(self.train),
            validation: map(self.validation),
            test: map(self.test),
        }
    }

    /// Returns the splits with their names, in reporting order.
    pub fn named(&self) -> [(&'static str, &[usize]); 3] {
        [("train", &self.train), ("validation", &self.validation), ("test", &self.test)]
    }

    /// Returns an error if any split lacks normal rows or anomalies. `test_labels` are the
    /// labels of the table that the test rows index: `labels` itself, or the test table's.
    pub fn check_classes(&self, labels: &[u8], test_labels: &[u8]) -> Result<()> {
        let anomalies = labels.iter().filter(|&&label| label != 0).count();
        if anomalies == 0 || anomalies == labels.len() {
            return Err(Error::OneClass { anomalies, rows: labels.len() });
        }
        for (name, rows) in self.named() {
            let labels = if name == "test" { test_labels } else { labels };
            let anomalies = rows.iter().filter(|&&i| labels[i] != 0).count();
            let normal = rows.len() - anomalies;
            if anomalies == 0 || normal == 0 {
                return Err(Error::MissingClass { split: name, anomalies, normal });
            }
        }
        Ok(())
    }

    fn sort(&mut self) {
        self.train.sort_unstable();
        self.validation.sort_unstable();
        self.test.sort_unstable();
    }
}

/// Returns how many of `n` rows go to training and to validation; the rest are test rows.
/// With a test fraction of 0, every row that is not a training row is a validation row, so
/// rounding leaves no test rows.
fn cut_points(n: usize, fractions: &SplitFractions) -> (usize, usize) {
    let train = ((n as f64 * fractions.train).round() as usize).min(n);
    if fractions.test == 0.0 {
        return (train, n - train);
    }
    let validation = ((n as f64 * fractions.validation).round() as usize).min(n - train);
    (train, validation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u8> {
        (0..1000).map(|i| u8::from(i % 10 == 0)).collect()
    }

    #[test]
    fn stratified_split_keeps_proportions() {
        let labels = labels();
        let splits = Splits::random(&labels, &SplitFractions::default(), true, 1);
        assert_eq!(splits.train.len(), 600);
        assert_eq!(splits.validation.len(), 200);
        assert_eq!(splits.test.len(), 200);
        for (_, rows) in splits.named() {
            let positives = rows.iter().filter(|&&i| labels[i] == 1).count();
            assert_eq!(positives * 10, rows.len());
        }
    }

    #[test]
    fn splits_are_disjoint_and_complete() {
        let splits = Splits::random(&labels(), &SplitFractions::default(), false, 5);
        let mut all: Vec<usize> =
            splits.train.iter().chain(&splits.validation).chain(&splits.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn seed_decides_the_split() {
        let fractions = SplitFractions::default();
        let a = Splits::random(&labels(), &fractions, true, 3);
        assert_eq!(a, Splits::random(&labels(), &fractions, true, 3));
        assert_ne!(a, Splits::random(&labels(), &fractions, true, 4));
    }

    #[test]
    fn time_split_orders_rows() {
        let times: Vec<Option<f64>> = (0..10).rev().map(|t| Some(t as f64)).collect();
        let fractions = SplitFractions { train: 0.6, validation: 0.2, test: 0.2 };
        let splits = Splits::by_time(&times, &fractions, "Time").unwrap();
        assert_eq!(splits.train, vec![4, 5, 6, 7, 8, 9]);
        assert_eq!(splits.validation, vec![2, 3]);
        assert_eq!(splits.test, vec![0, 1]);
    }

    #[test]
    fn table_without_anomalies_is_rejected() {
        let labels = vec![0u8; 50];
        let splits = Splits::random(&labels, &SplitFractions::default(), true, 1);
        let error = splits.check_classes(&labels, &labels).unwrap_err().to_string();
        assert!(error.contains("marks 0 of 50 rows as anomalies"), "{error}");
    }

    #[test]
    fn split_without_anomalies_is_rejected() {
        // Two anomalies in time order land in the training split only.
        let labels: Vec<u8> = (0..50).map(|i| u8::from(i < 2)).collect();
        let times: Vec<Option<f64>> = (0..50).map(|t| Some(t as f64)).collect();
        let splits = Splits::by_time(&times, &SplitFractions::default(), "t").unwrap();
        let error = splits.check_classes(&labels, &labels).unwrap_err().to_string();
        assert!(error.contains("validation split has 0 anomalies"), "{error}");
    }

    #[test]
    fn test_file_split_divides_training_rows_in_ratio() {
        let labels = labels();
        let fractions = Splits::train_validation_fractions(&SplitFractions::default());
        // 0.6 / 0.8 is 0.7499999999999999 in f64.
        assert!((fractions.train - 0.75).abs() < 1e-12, "{fractions:?}");
        assert!((fractions.validation - 0.25).abs() < 1e-12, "{fractions:?}");
        assert_eq!(fractions.test, 0.0);
        let splits = Splits::random(&labels, &fractions, true, 9).with_test_file(30);
        assert_eq!(splits.method, "stratified+test-file");
        // 900 normal rows: 675 and 225; 100 anomalies: 75 and 25.
        assert_eq!(splits.train.len(), 750);
        assert_eq!(splits.validation.len(), 250);
        assert_eq!(splits.test, (0..30).collect::<Vec<_>>());
        let positives = splits.validation.iter().filter(|&&i| labels[i] == 1).count();
        assert_eq!(positives, 25);
    }

    #[test]
    fn test_file_split_leaves_no_rounding_remainder() {
        // 7 rows at 1/3 : 2/3 give 2.33 and 4.67 rows, which round to 2 and 5.
        let fractions = SplitFractions { train: 0.2, validation: 0.4, test: 0.4 };
        let fractions = Splits::train_validation_fractions(&fractions);
        let splits = Splits::random(&[0; 7], &fractions, false, 1);
        assert_eq!((splits.train.len(), splits.validation.len()), (2, 5));
        assert!(splits.test.is_empty());
    }

    #[test]
    fn test_file_classes_are_checked_on_test_labels() {
        let labels = labels();
        let fractions = Splits::train_validation_fractions(&SplitFractions::default());
        let splits = Splits::random(&labels, &fractions, true, 2).with_test_file(3);
        splits.check_classes(&labels, &[0, 1, 0]).unwrap();
        let error = splits.check_classes(&labels, &[0, 0, 0]).unwrap_err().to_string();
        assert!(error.contains("test split has 0 anomalies and 3 normal rows"), "{error}");
    }
}
