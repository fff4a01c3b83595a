//! Seeded train, validation and test splits: stratified, plain random, or by time.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result, SplitFractions};

/// Row indices of the three splits, each sorted ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// How the rows were split: `stratified`, `random` or `time:<column>`.
    pub method: String,
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub validation: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

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

    /// Returns the splits with their names, in reporting order.
    pub fn named(&self) -> [(&'static str, &[usize]); 3] {
        [("train", &self.train), ("validation", &self.validation), ("test", &self.test)]
    }

    /// Returns an error if any split lacks normal rows or anomalies.
    pub fn check_classes(&self, labels: &[u8]) -> Result<()> {
        for (name, rows) in self.named() {
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
fn cut_points(n: usize, fractions: &SplitFractions) -> (usize, usize) {
    let train = (n as f64 * fractions.train).round() as usize;
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
    fn split_without_anomalies_is_rejected() {
        let labels = vec![0u8; 50];
        let splits = Splits::random(&labels, &SplitFractions::default(), true, 1);
        let error = splits.check_classes(&labels).unwrap_err().to_string();
        assert!(error.contains("train split has 0 anomalies"), "{error}");
    }
}
