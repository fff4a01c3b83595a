//! The trials of a hyperparameter sweep: their ranking by validation average precision, the
//! parameters whose values differ between them, the few trials that the per-model sections
//! show, the stage colours, and the points of the parameter charts.
//!
//! Every choice here (the best trial, the best of each stage, the top trials shown in detail)
//! is made on validation average precision. The test split only reports how the chosen trials
//! do, because choosing on it would make the reported test metrics optimistic.
//!
//! A trial that trained is a [`Model`]; a trial that failed is a [`FailedTrial`]. Both name
//! the train stage they are an instance of and their swept parameters by dotted path.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::FailedTrial;
use crate::artifacts::Model;
use crate::charts::trial_color;

/// Number of overall best trials, by validation average precision, that the per-model
/// sections show in addition to the best trial of each stage.
pub(crate) const DETAIL_TOP: usize = 3;

/// Number of best trials, by validation average precision, whose test precision-recall
/// curves are overlaid in the sweep section.
pub(crate) const CURVES_TOP: usize = 5;

/// Values of a parameter span more than this factor before its axis becomes logarithmic.
const LOG_AXIS_SPAN: f64 = 20.0;

/// The trials of one sweep, ranked.
pub(crate) struct Sweep<'r, 'a> {
    /// The trials that trained, highest validation average precision first. A trial whose
    /// validation average precision is NaN comes last, and equal values keep the input order.
    pub ranked: Vec<&'r Model<'a>>,
    /// The trials that failed, in input order.
    pub failed: &'a [FailedTrial],
    /// Stage names in order of first appearance, trained trials before failed ones. The
    /// position of a stage is its palette index.
    pub stages: Vec<&'a str>,
    /// Dotted paths of the parameters that take at least two values among the trials that set
    /// them, failed trials included, in sorted order.
    pub varied: Vec<String>,
    /// Trials that the per-model sections show, in rank order: the best trial of each stage
    /// and the overall top [`DETAIL_TOP`].
    pub detail: Vec<&'r Model<'a>>,
}

impl<'r, 'a: 'r> Sweep<'r, 'a> {
    /// Ranks `models` and collects what the sweep section shows.
    pub(crate) fn new(models: &'r [Model<'a>], failed: &'a [FailedTrial]) -> Self {
        let ranked = rank(models);
        let stages = stage_order(models, failed);
        let parameter_sets = models.iter().map(|model| model.varied);
        let varied = varied_parameters(parameter_sets.chain(failed.iter().map(|f| &f.varied)));
        let detail = detail_trials(&ranked);
        Sweep { ranked, failed, stages, varied, detail }
    }

    /// Returns the palette index of `stage`, or 0 for a stage the sweep does not list.
    pub(crate) fn stage_index(&self, stage: &str) -> usize {
        self.stages.iter().position(|name| *name == stage).unwrap_or(0)
    }

    /// Returns the trials of `stage` that trained, in rank order.
    pub(crate) fn stage_trials(&self, stage: &str) -> Vec<&'r Model<'a>> {
        self.ranked.iter().copied().filter(|model| model.stage == stage).collect()
    }

    /// Returns the trial with the highest validation average precision, the first listed
    /// among equal values, or `None` when no trial has a finite one.
    pub(crate) fn best(&self) -> Option<&'r Model<'a>> {
        self.ranked.first().copied().filter(|model| model.validation_ap().is_finite())
    }
}

/// Returns the stage of a failed trial, its name when the stage is empty.
pub(crate) fn failed_stage(trial: &FailedTrial) -> &str {
    if trial.stage.is_empty() { &trial.name } else { &trial.stage }
}

/// Gives every trial the colour of its stage, shaded by its rank within the stage by
/// validation average precision.
pub(crate) fn color_by_stage<'a>(models: &mut [Model<'a>], failed: &'a [FailedTrial]) {
    let stages = stage_order(models, failed);
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by(|&a, &b| compare_rank(&models[a], &models[b]));

    let mut ranks_in_stage = vec![0; stages.len()];
    for index in order {
        let stage = stages.iter().position(|name| *name == models[index].stage).unwrap_or(0);
        models[index].color = trial_color(stage, ranks_in_stage[stage]);
        ranks_in_stage[stage] += 1;
    }
}

/// Orders trials by decreasing validation average precision, NaN last.
fn compare_rank(a: &Model<'_>, b: &Model<'_>) -> Ordering {
    let key = |model: &Model<'_>| {
        let ap = model.validation_ap();
        if ap.is_nan() { f64::NEG_INFINITY } else { ap }
    };
    key(b).total_cmp(&key(a))
}

fn rank<'r, 'a>(models: &'r [Model<'a>]) -> Vec<&'r Model<'a>> {
    let mut ranked: Vec<&Model<'a>> = models.iter().collect();
    ranked.sort_by(|a, b| compare_rank(a, b));
    ranked
}

fn stage_order<'a>(models: &[Model<'a>], failed: &'a [FailedTrial]) -> Vec<&'a str> {
    let mut stages: Vec<&'a str> = Vec::new();
    let names = models.iter().map(|model| model.stage).chain(failed.iter().map(failed_stage));
    for name in names {
        if !stages.contains(&name) {
            stages.push(name);
        }
    }
    stages
}

/// Returns the best trial of each stage and the overall top [`DETAIL_TOP`] of `ranked`, in
/// rank order.
fn detail_trials<'r, 'a>(ranked: &[&'r Model<'a>]) -> Vec<&'r Model<'a>> {
    let mut seen_stages: Vec<&str> = Vec::new();
    let mut detail = Vec::new();
    for (rank, &model) in ranked.iter().enumerate() {
        let best_of_stage = !seen_stages.contains(&model.stage);
        if best_of_stage {
            seen_stages.push(model.stage);
        }
        if best_of_stage || rank < DETAIL_TOP {
            detail.push(model);
        }
    }
    detail
}

/// Returns the sorted paths that take at least two different values among the parameter sets
/// that contain them. A path that only some sets contain, with one value, does not vary: it
/// belongs to one stage's trials and is the same in all of them.
fn varied_parameters<'v>(sets: impl Iterator<Item = &'v BTreeMap<String, Value>>) -> Vec<String> {
    let mut values: BTreeMap<&String, Vec<&Value>> = BTreeMap::new();
    for set in sets {
        for (path, value) in set {
            values.entry(path).or_default().push(value);
        }
    }
    values
        .into_iter()
        .filter(|(_, values)| values.iter().any(|value| !same_value(value, values[0])))
        .map(|(path, _)| path.clone())
        .collect()
}

/// Compares parameter values, numbers by value so that `1` and `1.0` are the same.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// Formats a parameter value for a table cell or an axis label: integers in full, other
/// numbers with four significant digits, strings without quotes, anything else as compact
/// JSON, and a missing value as a dash.
pub(crate) fn parameter_text(value: Option<&Value>) -> String {
    match value {
        None => "–".to_string(),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => number.to_string(),
        Some(Value::Number(number)) => {
            crate::format::significant(number.as_f64().unwrap_or(f64::NAN), 4)
        }
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// The x-axis of a parameter chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParameterAxis {
    /// Numeric values on a linear axis.
    Linear,
    /// Positive numeric values spanning more than [`LOG_AXIS_SPAN`] times, on a log axis.
    Log,
    /// Other values: one slot per category at x = 0, 1, 2, ..., with these labels.
    Categories(Vec<String>),
}

/// One trial in a parameter chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ParameterPoint {
    /// The parameter value, or for categories the slot index plus a small offset that keeps
    /// the points of different stages and equal values apart.
    pub x: f64,
    /// Test average precision.
    pub average_precision: f64,
    /// Palette index of the trial's stage.
    pub stage: usize,
    /// Whether this is the best trial of the sweep, by validation average precision.
    pub best: bool,
}

/// Test average precision against the values of one varied parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParameterPoints {
    pub axis: ParameterAxis,
    pub points: Vec<ParameterPoint>,
    /// Palette indices of the stages whose trials set this parameter, in order.
    pub stages: Vec<usize>,
    /// Trained trials of those stages without this parameter or with a non-finite average
    /// precision, which the chart leaves out.
    pub left_out: usize,
}

impl ParameterPoints {
    /// Collects the points of the parameter at `path` over the trained trials of `sweep`.
    pub(crate) fn new(sweep: &Sweep<'_, '_>, path: &str) -> Self {
        let mut stages: Vec<usize> = sweep
            .ranked
            .iter()
            .filter(|model| model.varied.contains_key(path))
            .map(|model| sweep.stage_index(model.stage))
            .collect();
        stages.sort_unstable();
        stages.dedup();

        let mut present: Vec<(&Value, &Model<'_>)> = Vec::new();
        let mut left_out = 0;
        for &model in &sweep.ranked {
            match model.varied.get(path) {
                Some(value) if model.evaluation.test.average_precision.is_finite() => {
                    present.push((value, model));
                }
                _ if stages.contains(&sweep.stage_index(model.stage)) => left_out += 1,
                _ => {}
            }
        }
        let point = |x: f64, model: &Model<'_>| ParameterPoint {
            x,
            average_precision: model.evaluation.test.average_precision,
            stage: sweep.stage_index(model.stage),
            best: sweep.best().is_some_and(|best| std::ptr::eq(best, model)),
        };

        let numbers: Option<Vec<f64>> = present.iter().map(|(value, _)| value.as_f64()).collect();
        if let Some(numbers) = numbers {
            let axis = numeric_axis(&numbers);
            let points =
                numbers.iter().zip(&present).map(|(&x, &(_, model))| point(x, model)).collect();
            return ParameterPoints { axis, points, stages, left_out };
        }

        let mut categories: Vec<&Value> = Vec::new();
        for &(value, _) in &present {
            if !categories.contains(&value) {
                categories.push(value);
            }
        }
        categories.sort_by(|a, b| compare_categories(a, b));
        let mut placed: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        let mut points = Vec::with_capacity(present.len());
        for &(value, model) in &present {
            let slot = categories.iter().position(|category| *category == value).unwrap_or(0);
            let stage = sweep.stage_index(model.stage);
            let count = placed.entry((slot, stage)).or_default();
            let x = slot as f64 + category_offset(stage, sweep.stages.len(), *count);
            *count += 1;
            points.push(point(x, model));
        }
        let labels = categories.iter().map(|value| parameter_text(Some(value))).collect();
        ParameterPoints { axis: ParameterAxis::Categories(labels), points, stages, left_out }
    }
}

/// Chooses a log axis when every value is positive and they span more than
/// [`LOG_AXIS_SPAN`] times.
pub(crate) fn numeric_axis(values: &[f64]) -> ParameterAxis {
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &v| (low.min(v), high.max(v)));
    if low > 0.0 && high / low > LOG_AXIS_SPAN { ParameterAxis::Log } else { ParameterAxis::Linear }
}

/// Orders categories: numbers by value first, then arrays element by element (so `[32]` comes
/// before `[64, 32]` and `[128, 64]`), then everything else by its JSON text.
fn compare_categories(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => {
            let value = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
            value(a).total_cmp(&value(b))
        }
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        (Value::Array(a), Value::Array(b)) => {
            let mut elements = a.iter().zip(b).map(|(a, b)| compare_categories(a, b));
            elements.find(|order| order.is_ne()).unwrap_or_else(|| a.len().cmp(&b.len()))
        }
        (Value::Array(_), _) => Ordering::Less,
        (_, Value::Array(_)) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Returns the x offset within a category slot of the `count`-th point of a stage. Each of
/// the `stages` stages gets its own band, and the golden ratio spreads the points in a band so
/// that equal values stay visible.
fn category_offset(stage: usize, stages: usize, count: usize) -> f64 {
    const SLOT_WIDTH: f64 = 0.64;
    let band = SLOT_WIDTH / stages.max(1) as f64;
    let band_center = -SLOT_WIDTH / 2.0 + band * (stage as f64 + 0.5);
    let spread = (count as f64 * 0.618_034).fract() - 0.5;
    band_center + spread * band * 0.7
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use serde_json::json;

    fn set(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    #[test]
    fn varied_parameters_skip_constant_ones() {
        let sets = [
            set(&[
                ("mlp.lr", json!(0.001)),
                ("mlp.epochs", json!(30)),
                ("split.log1p", json!(true)),
            ]),
            set(&[
                ("mlp.lr", json!(0.01)),
                ("mlp.epochs", json!(30.0)),
                ("split.log1p", json!(false)),
            ]),
            set(&[("ae.lr", json!(0.002)), ("split.log1p", json!(true))]),
        ];
        // `mlp.epochs` is 30 wherever it is set and `ae.lr` is set once, so neither varies.
        assert_eq!(varied_parameters(sets.iter()), vec!["mlp.lr", "split.log1p"]);
    }

    #[test]
    fn one_parameter_set_varies_nothing() {
        let sets = [set(&[("mlp.lr", json!(0.001))])];
        assert!(varied_parameters(sets.iter()).is_empty());
    }

    #[test]
    fn parameter_text_by_type() {
        assert_eq!(parameter_text(None), "–");
        assert_eq!(parameter_text(Some(&json!(256))), "256");
        assert_eq!(parameter_text(Some(&json!(123_456_789))), "123456789");
        assert_eq!(parameter_text(Some(&json!(0.0003))), "3e-4");
        assert_eq!(parameter_text(Some(&json!(0.25))), "0.25");
        assert_eq!(parameter_text(Some(&json!("adamw"))), "adamw");
        assert_eq!(parameter_text(Some(&json!(true))), "true");
        assert_eq!(parameter_text(Some(&json!([64, 32]))), "[64,32]");
    }

    #[test]
    fn log_axis_needs_positive_wide_span() {
        // 0.0001 to 0.01 spans 100 times. 1 to 20 spans exactly 20 times, which is not more.
        assert_eq!(numeric_axis(&[0.0001, 0.001, 0.01]), ParameterAxis::Log);
        assert_eq!(numeric_axis(&[1.0, 5.0, 20.0]), ParameterAxis::Linear);
        assert_eq!(numeric_axis(&[0.0, 0.5, 100.0]), ParameterAxis::Linear);
        assert_eq!(numeric_axis(&[-1.0, 100.0]), ParameterAxis::Linear);
    }

    #[test]
    fn categories_sort_numbers_first() {
        let mut values = [json!("relu"), json!([64, 32]), json!(2), json!("gelu"), json!(1.5)];
        values.sort_by(compare_categories);
        assert_eq!(values, [json!(1.5), json!(2), json!([64, 32]), json!("gelu"), json!("relu")]);
    }

    #[test]
    fn array_categories_sort_by_elements() {
        let mut values = [json!([128, 64]), json!([64, 32]), json!([32]), json!([64])];
        values.sort_by(compare_categories);
        assert_eq!(values, [json!([32]), json!([64]), json!([64, 32]), json!([128, 64])]);
    }

    #[test]
    fn category_offsets_stay_in_slot() {
        // Each offset is at most 0.32 from the slot centre, so slots 1 apart never overlap.
        for stages in 1..=4 {
            for stage in 0..stages {
                for count in 0..50 {
                    let offset = category_offset(stage, stages, count);
                    assert!(offset.abs() < 0.33, "offset {offset} of stage {stage} of {stages}");
                }
            }
        }
        // With two stages the first stage sits left of the slot centre and the second right.
        assert!(category_offset(0, 2, 0) < 0.0);
        assert!(category_offset(1, 2, 0) > 0.0);
    }

    #[test]
    fn trial_colors_shade_the_stage_hue() {
        use crate::charts::model_color;
        assert_eq!(trial_color(1, 0), model_color(1));
        assert_eq!(trial_color(1, 7), model_color(1));
        let shades: BTreeSet<(u8, u8, u8)> = (0..5)
            .map(|rank| {
                let color = trial_color(0, rank);
                (color.0, color.1, color.2)
            })
            .collect();
        assert_eq!(shades.len(), 5, "the five best trials of a stage need distinct shades");
    }
}
