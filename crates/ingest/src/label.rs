//! The label rule applied row by row: each raw label value becomes 1 (anomaly) or 0 (normal),
//! and every distinct value is counted for `summary.json`. Reads and writes no files.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::LabelCounts;

use crate::config::{LabelRule, label_values_match};
use crate::error::{Error, Location};

/// Distinct label values above which a warning suggests that `label.column` is wrong.
const MANY_LABEL_VALUES: usize = 1_000;

/// Classifies label values by the configured rule, caching the result per distinct value.
#[derive(Debug)]
pub(crate) struct LabelMatcher {
    rule: LabelRule,
    ids: HashMap<String, u32>,
    values: Vec<LabelValue>,
}

#[derive(Debug)]
struct LabelValue {
    text: String,
    class: u8,
    rows: u64,
}

impl LabelMatcher {
    pub(crate) fn new(rule: &LabelRule) -> Self {
        LabelMatcher { rule: rule.clone(), ids: HashMap::new(), values: Vec::new() }
    }

    /// Counts one row's label value and returns its id, or `None` when both lists are set and
    /// the value is in neither. Equal values after trimming get equal ids.
    pub(crate) fn classify(&mut self, raw: &str) -> Option<u32> {
        let text = raw.trim();
        if let Some(&id) = self.ids.get(text) {
            self.values[id as usize].rows += 1;
            return Some(id);
        }

        let listed = |values: &[String]| values.iter().any(|value| label_values_match(value, text));
        let anomaly_values = self.rule.anomaly.as_slice();
        let normal_values = self.rule.normal.as_deref().unwrap_or_default();
        let class = if listed(anomaly_values) {
            1
        } else if listed(normal_values) {
            0
        } else if anomaly_values.is_empty() {
            1
        } else if normal_values.is_empty() {
            0
        } else {
            return None;
        };

        let id = self.values.len() as u32;
        self.values.push(LabelValue { text: text.to_string(), class, rows: 1 });
        self.ids.insert(text.to_string(), id);
        if self.values.len() == MANY_LABEL_VALUES + 1 {
            tracing::warn!(
                column = self.rule.column.as_str(),
                "the label column has more than {MANY_LABEL_VALUES} distinct values; check that \
                 `label.column` names the label and not a feature"
            );
        }
        Some(id)
    }

    /// Returns 1 for an anomaly and 0 for a normal value.
    pub(crate) fn class(&self, id: u32) -> u8 {
        self.values[id as usize].class
    }

    /// Builds the error for a value that [`classify`](Self::classify) rejected.
    pub(crate) fn unknown_label(&self, path: &Path, location: Location, raw: &str) -> Error {
        Error::UnknownLabel {
            path: path.to_path_buf(),
            location,
            value: raw.trim().to_string(),
            rule: Box::new(self.rule.clone()),
        }
    }

    /// Returns the rows per class.
    pub(crate) fn counts(&self) -> LabelCounts {
        let mut counts = LabelCounts::default();
        for value in &self.values {
            match value.class {
                1 => counts.anomaly += value.rows,
                _ => counts.normal += value.rows,
            }
        }
        counts
    }

    /// Returns the rows per distinct label value, trimmed.
    pub(crate) fn value_counts(&self) -> BTreeMap<String, u64> {
        self.values.iter().map(|value| (value.text.clone(), value.rows)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_labels_match_as_numbers() {
        let mut labels = LabelMatcher::new(&LabelRule::new("Class", &["1"]).with_normal(&["0"]));
        let one = labels.classify("1").unwrap();
        let one_point_zero = labels.classify("1.0").unwrap();
        let zero = labels.classify(" 0 ").unwrap();
        assert_eq!(labels.class(one), 1);
        assert_eq!(labels.class(one_point_zero), 1);
        assert_eq!(labels.class(zero), 0);
        assert_eq!(labels.classify("2"), None);
    }

    #[test]
    fn without_normal_list_other_values_are_normal() {
        let mut labels = LabelMatcher::new(&LabelRule::new("kind", &["attack"]));
        for value in ["attack", "normal", " attack ", "other"] {
            labels.classify(value).unwrap();
        }
        assert_eq!(labels.counts(), LabelCounts { normal: 2, anomaly: 2 });
        let values = labels.value_counts();
        assert_eq!(values["attack"], 2);
        assert_eq!(values["normal"], 1);
        assert_eq!(values["other"], 1);
    }

    #[test]
    fn with_only_normal_list_other_values_are_anomalies() {
        let mut labels = LabelMatcher::new(&LabelRule::new("kind", &[]).with_normal(&["normal"]));
        let normal = labels.classify("normal").unwrap();
        let attack = labels.classify("neptune").unwrap();
        assert_eq!(labels.class(normal), 0);
        assert_eq!(labels.class(attack), 1);
    }

    #[test]
    fn unknown_label_error_lists_both_rules() {
        let labels = LabelMatcher::new(&LabelRule::new("Class", &["1"]).with_normal(&["0"]));
        let error = labels.unknown_label(Path::new("f.csv"), Location::Line(7), " 2 ").to_string();
        assert!(error.contains("f.csv: line 7: label `2` in column `Class`"), "{error}");
        assert!(error.contains("anomaly value (1) nor a normal value (0)"), "{error}");
    }
}
