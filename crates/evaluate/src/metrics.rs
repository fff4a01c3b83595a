//! Ranking and threshold metrics of anomaly scores, defined as in scikit-learn 1.x.
//!
//! Every function takes `labels` (1 = anomaly, 0 = normal) and `scores` (higher = more
//! anomalous) of equal length, one entry per row. A row is flagged as an anomaly when
//! `score >= threshold`. The curves have one point per distinct score: rows with equal scores
//! cross a threshold together, exactly as in scikit-learn's `roc_curve` and
//! `precision_recall_curve`, so tied scores count the same in every metric whatever the input
//! order. `-0.0` and `0.0` are the same score.
//!
//! Notation: `P` and `N` are the numbers of anomalous and normal rows, and for the `i`-th
//! highest distinct score `s_i`, `TP_i` and `FP_i` count the anomalous and normal rows with a
//! score at or above `s_i`.
//!
//! The ranking functions sort the rows once, in O(n log n), and reject inputs whose metrics
//! are undefined (see [`MetricsError`]) rather than returning a placeholder such as 0.5.
//! [`compute`] fills a whole [`Metrics`] from a single sort.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use common::{Confusion, Metrics};

/// Result alias of the metric functions.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

/// The maximum false-positive rate of [`Metrics::recall_at_1pct_fpr`].
pub const ONE_PERCENT_FPR: f64 = 0.01;

/// Inputs for which a metric is undefined or an argument is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// No rows were given.
    #[error("labels and scores are empty, so there are no rows to evaluate")]
    Empty,
    /// The label and score slices differ in length.
    #[error(
        "got {labels} labels but {scores} scores, and every row needs exactly one of each \
         (check that both come from the same split)"
    )]
    LengthMismatch {
        /// Number of labels.
        labels: usize,
        /// Number of scores.
        scores: usize,
    },
    /// A label is neither 0 nor 1.
    #[error("label at row {index} is {value}, but labels must be 0 (normal) or 1 (anomaly)")]
    InvalidLabel {
        /// 0-based position of the row in the input.
        index: usize,
        /// The label found.
        value: u8,
    },
    /// A score is NaN or infinite.
    #[error(
        "score at row {index} is {value}, but scores must be finite \
         (check the model output for overflow or NaN)"
    )]
    NonFiniteScore {
        /// 0-based position of the row in the input.
        index: usize,
        /// The score found.
        value: f64,
    },
    /// Every row has the same label, so the ROC curve is undefined.
    #[error(
        "all {rows} rows are labelled {present} and no row is labelled {missing} ({}), so \
         ROC-AUC and the other ranking metrics are undefined (evaluate on rows that contain \
         both classes)",
        class_name(*missing)
    )]
    SingleClass {
        /// The label that no row has.
        missing: u8,
        /// The label that every row has.
        present: u8,
        /// Number of rows.
        rows: usize,
    },
    /// Every row has the same score.
    #[error(
        "every score is {value}, and ROC-AUC is undefined for constant scores because the \
         model has not learned anything to rank by; check that the features vary between rows \
         and that training ran for enough epochs"
    )]
    ConstantScores {
        /// The score of every row.
        value: f64,
    },
    /// A target recall outside (0, 1].
    #[error("target recall {target} is invalid, because it must be greater than 0 and at most 1")]
    InvalidTargetRecall {
        /// The target requested.
        target: f64,
    },
    /// A maximum false-positive rate outside [0, 1].
    #[error("maximum false-positive rate {max_fpr} is invalid, because it must be in [0, 1]")]
    InvalidMaxFpr {
        /// The rate requested.
        max_fpr: f64,
    },
    /// A `k` of precision at k outside 1..=rows.
    #[error("k = {k} is invalid for {rows} rows, because k must be between 1 and the row count")]
    InvalidK {
        /// The `k` requested.
        k: usize,
        /// Number of rows.
        rows: usize,
    },
    /// A decision threshold that is NaN.
    #[error("the decision threshold is NaN, but rows are flagged by score >= threshold")]
    NanThreshold,
}

fn class_name(label: u8) -> &'static str {
    if label == 1 { "anomaly" } else { "normal" }
}

/// A ROC curve with one point per distinct score, as scikit-learn's
/// `roc_curve(..., drop_intermediate=False)` returns it.
///
/// Point 0 is `(0, 0)` with threshold `+inf` (nothing flagged). Point `i >= 1` has threshold
/// `s_i`, `fpr[i] = FP_i / N` and `tpr[i] = TP_i / P`, so thresholds decrease and both rates
/// increase along the curve. The last point is `(1, 1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False-positive rates, non-decreasing.
    pub fpr: Vec<f64>,
    /// True-positive rates (recall), non-decreasing.
    pub tpr: Vec<f64>,
    /// Score thresholds, decreasing, the first one `+inf`.
    pub thresholds: Vec<f64>,
}

/// A precision-recall curve as scikit-learn's `precision_recall_curve` returns it.
///
/// `thresholds` contains the distinct scores in increasing order. For each, `precision[i] =
/// TP / (TP + FP)` and `recall[i] = TP / P` at that threshold. Both curves have one more
/// entry than `thresholds`: a final point with precision 1 and recall 0 and no threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    /// Precision at each threshold, then 1.
    pub precision: Vec<f64>,
    /// Recall at each threshold, non-increasing, then 0.
    pub recall: Vec<f64>,
    /// Distinct scores, increasing.
    pub thresholds: Vec<f64>,
}

/// Area under the ROC curve, as scikit-learn's `roc_auc_score`.
///
/// `AUC = Σ_i (FP_i − FP_{i−1}) (TP_i + TP_{i−1}) / (2 P N)` with `TP_0 = FP_0 = 0`: the
/// trapezoidal area under the curve of [`roc_curve`]. This is the probability that a random
/// anomaly scores above a random normal row, a tie counting one half. The sum is exact in
/// integers, so rounding happens only in the final conversion and division.
pub fn roc_auc(labels: &[u8], scores: &[f64]) -> Result<f64> {
    Ok(Ranking::new(labels, scores)?.roc_auc())
}

/// Average precision, as scikit-learn's `average_precision_score`.
///
/// `AP = Σ_i (R_i − R_{i−1}) P_i` with `R_i = TP_i / P`, `P_i = TP_i / (TP_i + FP_i)` and
/// `R_0 = 0`: the step-wise area under the precision-recall curve, without interpolation.
pub fn average_precision(labels: &[u8], scores: &[f64]) -> Result<f64> {
    Ok(Ranking::new(labels, scores)?.average_precision())
}

/// Computes the ROC curve with every distinct score as a threshold (see [`RocCurve`]).
///
/// Collinear points are kept (scikit-learn's `drop_intermediate=False`), so every threshold
/// can be looked up. Use [`thin_curve`] to reduce the points for a plot.
pub fn roc_curve(labels: &[u8], scores: &[f64]) -> Result<RocCurve> {
    Ok(Ranking::new(labels, scores)?.roc_curve())
}

/// Computes the precision-recall curve (see [`PrCurve`]).
pub fn precision_recall_curve(labels: &[u8], scores: &[f64]) -> Result<PrCurve> {
    Ok(Ranking::new(labels, scores)?.precision_recall_curve())
}

/// Finds the score threshold that maximises F1 when rows with `score >= threshold` are flagged.
///
/// Candidates are the distinct scores, and `F1_i = 2 TP_i / (TP_i + FP_i + P)`, which is
/// scikit-learn's `f1_score` at that threshold. F1 values are compared exactly as fractions,
/// and of equal values the higher threshold wins.
pub fn best_f1_threshold(labels: &[u8], scores: &[f64]) -> Result<f64> {
    Ok(Ranking::new(labels, scores)?.best_f1_threshold())
}

/// Finds the highest score threshold whose recall `TP_i / P` is at least `target`.
///
/// `target` must be in (0, 1]. Recall is computed as an `f64` division, so a target of 0.9
/// with 10 anomalies is met by 9 of them.
pub fn threshold_for_recall(labels: &[u8], scores: &[f64], target: f64) -> Result<f64> {
    if !(target > 0.0 && target <= 1.0) {
        return Err(MetricsError::InvalidTargetRecall { target });
    }
    Ok(Ranking::new(labels, scores)?.threshold_for_recall(target))
}

/// Counts the confusion matrix when rows with `score >= threshold` are flagged.
///
/// Unlike the ranking functions this accepts rows of a single class and constant scores,
/// because the counts stay defined. The rows must still be valid (non-empty, equal lengths,
/// labels 0 or 1, finite scores), and the threshold must not be NaN.
pub fn confusion(labels: &[u8], scores: &[f64], threshold: f64) -> Result<Confusion> {
    if threshold.is_nan() {
        return Err(MetricsError::NanThreshold);
    }
    validate_rows(labels, scores)?;
    Ok(count_confusion(labels, scores, threshold))
}

/// Precision among the `k` highest scores, `k` in `1..=rows`.
///
/// Ties at the cut are shared out in proportion instead of by input order. Let `s` be the
/// `k`-th highest score, `m` the rows scoring above `s` with `a` anomalies among them, and
/// `t` the rows scoring exactly `s` with `b` anomalies. Then
/// `precision@k = (a + (k − m) b / t) / k`, the expected precision when tied rows are ordered
/// at random. Without a tie at the cut this is the plain count of anomalies over `k`.
pub fn precision_at_k(labels: &[u8], scores: &[f64], k: usize) -> Result<f64> {
    let ranking = Ranking::new(labels, scores)?;
    if k == 0 || k > labels.len() {
        return Err(MetricsError::InvalidK { k, rows: labels.len() });
    }
    Ok(ranking.precision_at_k(k as u64))
}

/// Finds the highest true-positive rate among the points of [`roc_curve`] whose
/// false-positive rate is at most `max_fpr`.
///
/// The curve's points are the distinct-score thresholds, without interpolation between them,
/// and its first point `(0, 0)` always qualifies, so the result is 0 when even the highest
/// score flags too many normal rows. `max_fpr` must be in [0, 1].
pub fn recall_at_fpr(labels: &[u8], scores: &[f64], max_fpr: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&max_fpr) {
        return Err(MetricsError::InvalidMaxFpr { max_fpr });
    }
    Ok(Ranking::new(labels, scores)?.recall_at_fpr(max_fpr))
}

/// Computes every field of [`Metrics`] for one split at the given decision threshold.
///
/// Precision, recall, F1 and the confusion matrix flag `score >= threshold`. When nothing is
/// flagged, precision is 0, which is scikit-learn's value for a zero denominator.
/// `precision_at_k` uses `k` = the number of anomalies, and `recall_at_1pct_fpr` is
/// [`recall_at_fpr`] with a maximum rate of 0.01. The ranking errors of [`roc_auc`] apply.
pub fn compute(labels: &[u8], scores: &[f64], threshold: f64) -> Result<Metrics> {
    if threshold.is_nan() {
        return Err(MetricsError::NanThreshold);
    }
    let ranking = Ranking::new(labels, scores)?;

    let confusion = count_confusion(labels, scores, threshold);
    let flagged = confusion.tp + confusion.fp;
    let precision = ratio(confusion.tp, flagged);
    let recall = ratio(confusion.tp, ranking.positives);
    let f1 = ratio(2 * confusion.tp, ranking.positives + flagged);

    Ok(Metrics {
        rows: labels.len() as u64,
        positives: ranking.positives,
        roc_auc: ranking.roc_auc(),
        average_precision: ranking.average_precision(),
        precision,
        recall,
        f1,
        precision_at_k: ranking.precision_at_k(ranking.positives),
        recall_at_1pct_fpr: ranking.recall_at_fpr(ONE_PERCENT_FPR),
        confusion,
    })
}

/// Selects at most `max_points` points of the curve `(x[i], y[i])` that keep its shape, for
/// plotting.
///
/// Returns increasing indices into `x` and `y` that always include the first and last point,
/// or every index when the curve already has at most `max_points` points. The selection is
/// Ramer-Douglas-Peucker refinement with a point budget: the point farthest from the chord of
/// its segment is added first, so corners are kept before points on straight stretches.
/// Points exactly on a chord are never added, so a straight run of any length costs only its
/// two ends. Distances are Euclidean in the units of `x` and `y`, which suits ROC and
/// precision-recall curves because both axes span [0, 1]. Each step scans one segment, so the
/// cost is at most O(n × max_points) and close to O(n log max_points) for typical curves.
///
/// # Panics
///
/// Panics if `x` and `y` differ in length or `max_points` is less than 2.
pub fn thin_curve(x: &[f64], y: &[f64], max_points: usize) -> Vec<usize> {
    assert_eq!(x.len(), y.len(), "thin_curve needs as many y values as x values");
    assert!(
        max_points >= 2,
        "thin_curve needs max_points >= 2 to keep both ends, got {max_points}"
    );
    let n = x.len();
    if n <= max_points {
        return (0..n).collect();
    }

    let mut kept = vec![0, n - 1];
    let mut splits = BinaryHeap::new();
    splits.extend(farthest_from_chord(x, y, 0, n - 1));
    while kept.len() < max_points {
        let Some(split) = splits.pop() else { break };
        if split.distance <= 0.0 {
            break;
        }
        kept.push(split.index);
        splits.extend(farthest_from_chord(x, y, split.start, split.index));
        splits.extend(farthest_from_chord(x, y, split.index, split.end));
    }

    kept.sort_unstable();
    kept
}

/// The point of a curve segment farthest from the segment's chord.
#[derive(Debug, Clone, Copy)]
struct Split {
    distance: f64,
    index: usize,
    start: usize,
    end: usize,
}

impl Ord for Split {
    /// Orders by distance, and of equal distances the lower index is greater, so that a
    /// max-heap pops ties in curve order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Split {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Split {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Split {}

/// Finds the point strictly between `start` and `end` farthest from the segment joining them,
/// or `None` when there is no such point.
fn farthest_from_chord(x: &[f64], y: &[f64], start: usize, end: usize) -> Option<Split> {
    let (x0, y0) = (x[start], y[start]);
    let (dx, dy) = (x[end] - x0, y[end] - y0);
    let length_squared = dx * dx + dy * dy;

    let mut best: Option<Split> = None;
    for index in start + 1..end {
        let (px, py) = (x[index] - x0, y[index] - y0);
        // Project onto the chord, clamped to the segment, and measure to that nearest point.
        let along = if length_squared > 0.0 {
            ((px * dx + py * dy) / length_squared).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let distance = (px - along * dx).hypot(py - along * dy);
        if best.is_none_or(|b| distance > b.distance) {
            best = Some(Split { distance, index, start, end });
        }
    }
    best
}

/// Validates rows shared by every metric and returns the number of anomalies.
fn validate_rows(labels: &[u8], scores: &[f64]) -> Result<u64> {
    if labels.len() != scores.len() {
        return Err(MetricsError::LengthMismatch { labels: labels.len(), scores: scores.len() });
    }
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    if let Some((index, &value)) = labels.iter().enumerate().find(|(_, label)| **label > 1) {
        return Err(MetricsError::InvalidLabel { index, value });
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, score)| !score.is_finite()) {
        return Err(MetricsError::NonFiniteScore { index, value });
    }
    Ok(labels.iter().map(|&label| u64::from(label)).sum())
}

fn count_confusion(labels: &[u8], scores: &[f64], threshold: f64) -> Confusion {
    let mut counts = Confusion::default();
    for (&label, &score) in labels.iter().zip(scores) {
        match (label == 1, score >= threshold) {
            (true, true) => counts.tp += 1,
            (false, true) => counts.fp += 1,
            (false, false) => counts.tn += 1,
            (true, false) => counts.fn_ += 1,
        }
    }
    counts
}

/// `numerator / denominator`, or 0 when the denominator is 0 (scikit-learn's default for
/// precision, recall and F1).
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

/// Rows grouped by distinct score, highest first, with cumulative class counts.
///
/// Group `i` (0-based here) is the `(i+1)`-th highest distinct score of the module notation.
struct Ranking {
    /// Distinct scores, decreasing.
    thresholds: Vec<f64>,
    /// Anomalous rows with a score at or above `thresholds[i]`.
    tps: Vec<u64>,
    /// Normal rows with a score at or above `thresholds[i]`.
    fps: Vec<u64>,
    /// Anomalous rows in total (`P`).
    positives: u64,
    /// Normal rows in total (`N`).
    negatives: u64,
}

impl Ranking {
    /// Validates the rows, sorts them by decreasing score and groups equal scores.
    fn new(labels: &[u8], scores: &[f64]) -> Result<Ranking> {
        let positives = validate_rows(labels, scores)?;
        let rows = labels.len();
        let negatives = rows as u64 - positives;
        if positives == 0 || negatives == 0 {
            let present = u8::from(positives > 0);
            return Err(MetricsError::SingleClass { missing: 1 - present, present, rows });
        }

        // Adding 0.0 turns -0.0 into 0.0, so that `total_cmp` treats both as one score.
        let mut sorted: Vec<(f64, u8)> =
            scores.iter().map(|&score| score + 0.0).zip(labels.iter().copied()).collect();
        sorted.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));

        let mut ranking = Ranking {
            thresholds: Vec::new(),
            tps: Vec::new(),
            fps: Vec::new(),
            positives,
            negatives,
        };
        let (mut tp, mut fp) = (0, 0);
        for (i, &(score, label)) in sorted.iter().enumerate() {
            if label == 1 {
                tp += 1;
            } else {
                fp += 1;
            }
            let last_of_group = sorted.get(i + 1).is_none_or(|next| next.0 != score);
            if last_of_group {
                ranking.thresholds.push(score);
                ranking.tps.push(tp);
                ranking.fps.push(fp);
            }
        }

        if ranking.thresholds.len() == 1 {
            return Err(MetricsError::ConstantScores { value: ranking.thresholds[0] });
        }
        Ok(ranking)
    }

    fn roc_auc(&self) -> f64 {
        let mut twice_area: u128 = 0;
        let (mut previous_tp, mut previous_fp) = (0u64, 0u64);
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            twice_area += u128::from(fp - previous_fp) * u128::from(tp + previous_tp);
            (previous_tp, previous_fp) = (tp, fp);
        }
        twice_area as f64 / (2.0 * self.positives as f64 * self.negatives as f64)
    }

    fn average_precision(&self) -> f64 {
        // Σ (TP_i − TP_{i−1}) · precision_i, divided by P once at the end. Neumaier's
        // compensated summation keeps the error from growing with the number of terms.
        let mut sum = 0.0f64;
        let mut compensation = 0.0f64;
        let mut previous_tp = 0u64;
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            let term = (tp - previous_tp) as f64 * (tp as f64 / (tp + fp) as f64);
            let total = sum + term;
            compensation +=
                if sum.abs() >= term.abs() { (sum - total) + term } else { (term - total) + sum };
            sum = total;
            previous_tp = tp;
        }
        (sum + compensation) / self.positives as f64
    }

    fn roc_curve(&self) -> RocCurve {
        let points = self.thresholds.len() + 1;
        let mut curve = RocCurve {
            fpr: Vec::with_capacity(points),
            tpr: Vec::with_capacity(points),
            thresholds: Vec::with_capacity(points),
        };
        curve.fpr.push(0.0);
        curve.tpr.push(0.0);
        curve.thresholds.push(f64::INFINITY);
        for i in 0..self.thresholds.len() {
            curve.fpr.push(self.fps[i] as f64 / self.negatives as f64);
            curve.tpr.push(self.tps[i] as f64 / self.positives as f64);
            curve.thresholds.push(self.thresholds[i]);
        }
        curve
    }

    fn precision_recall_curve(&self) -> PrCurve {
        let points = self.thresholds.len() + 1;
        let mut curve = PrCurve {
            precision: Vec::with_capacity(points),
            recall: Vec::with_capacity(points),
            thresholds: Vec::with_capacity(points - 1),
        };
        for i in (0..self.thresholds.len()).rev() {
            let (tp, fp) = (self.tps[i], self.fps[i]);
            curve.precision.push(tp as f64 / (tp + fp) as f64);
            curve.recall.push(tp as f64 / self.positives as f64);
            curve.thresholds.push(self.thresholds[i]);
        }
        curve.precision.push(1.0);
        curve.recall.push(0.0);
        curve
    }

    fn best_f1_threshold(&self) -> f64 {
        // F1_i = 2 TP_i / (TP_i + FP_i + P). Comparing a/b > c/d as a·d > c·b keeps the
        // comparison exact, and a strict > keeps the first, highest, of equal values.
        let f1_parts = |i: usize| {
            let numerator = 2 * u128::from(self.tps[i]);
            let denominator = u128::from(self.tps[i] + self.fps[i] + self.positives);
            (numerator, denominator)
        };
        let mut best = 0;
        for i in 1..self.thresholds.len() {
            let (numerator, denominator) = f1_parts(i);
            let (best_numerator, best_denominator) = f1_parts(best);
            if numerator * best_denominator > best_numerator * denominator {
                best = i;
            }
        }
        self.thresholds[best]
    }

    fn threshold_for_recall(&self, target: f64) -> f64 {
        let positives = self.positives as f64;
        let index = self
            .tps
            .iter()
            .position(|&tp| tp as f64 / positives >= target)
            // The last group contains every anomaly, so its recall of 1 meets any target <= 1.
            .unwrap_or(self.thresholds.len() - 1);
        self.thresholds[index]
    }

    fn precision_at_k(&self, k: u64) -> f64 {
        // The group containing the k-th row, and the rows and anomalies ranked above it.
        let group = self.tps.iter().zip(&self.fps).position(|(tp, fp)| tp + fp >= k);
        let group = group.unwrap_or(self.thresholds.len() - 1);
        let (above, anomalies_above) = match group {
            0 => (0, 0),
            g => (self.tps[g - 1] + self.fps[g - 1], self.tps[g - 1]),
        };
        let tied = self.tps[group] + self.fps[group] - above;
        let anomalies_tied = self.tps[group] - anomalies_above;

        // (a + (k − m) b / t) / k = (a t + (k − m) b) / (t k), one rounding at the division.
        let numerator = u128::from(anomalies_above) * u128::from(tied)
            + u128::from(k - above) * u128::from(anomalies_tied);
        let denominator = u128::from(tied) * u128::from(k);
        numerator as f64 / denominator as f64
    }

    fn recall_at_fpr(&self, max_fpr: f64) -> f64 {
        let negatives = self.negatives as f64;
        // FP_i grows with i, so the qualifying points are a prefix of the curve.
        let qualifying = self.fps.iter().take_while(|&&fp| fp as f64 / negatives <= max_fpr);
        match qualifying.count() {
            0 => 0.0,
            count => self.tps[count - 1] as f64 / self.positives as f64,
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Twelve rows with ties within and across classes. By decreasing score the groups are
    /// 0.9 (1 anomaly, 1 normal), 0.8 (1, 0), 0.7 (1, 2), 0.5 (1, 1), 0.3 (0, 1), 0.2 (1, 1)
    /// and 0.1 (0, 1), so P = 5 and N = 7.
    const LABELS: [u8; 12] = [0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0];
    const SCORES: [f64; 12] = [0.7, 0.9, 0.2, 0.7, 0.9, 0.2, 0.5, 0.1, 0.5, 0.3, 0.8, 0.7];

    #[test]
    fn empty_input_rejected() {
        assert_eq!(roc_auc(&[], &[]), Err(MetricsError::Empty));
        assert_eq!(confusion(&[], &[], 0.5), Err(MetricsError::Empty));
    }

    #[test]
    fn length_mismatch_rejected() {
        let error = roc_auc(&[0, 1, 1], &[0.1, 0.2]).unwrap_err();
        assert_eq!(error, MetricsError::LengthMismatch { labels: 3, scores: 2 });
        assert!(error.to_string().contains("3 labels but 2 scores"), "{error}");
    }

    #[test]
    fn invalid_label_rejected() {
        let error = roc_auc(&[0, 1, 2], &[0.1, 0.2, 0.3]).unwrap_err();
        assert_eq!(error, MetricsError::InvalidLabel { index: 2, value: 2 });
    }

    #[test]
    fn non_finite_score_names_row() {
        let error = roc_auc(&[0, 1, 0], &[0.1, f64::NAN, 0.3]).unwrap_err();
        assert!(
            matches!(error, MetricsError::NonFiniteScore { index: 1, value } if value.is_nan())
        );
        assert!(error.to_string().contains("row 1 is NaN"), "{error}");

        let error = average_precision(&[0, 1, 0], &[0.1, 0.2, f64::INFINITY]).unwrap_err();
        assert_eq!(error, MetricsError::NonFiniteScore { index: 2, value: f64::INFINITY });

        let error = confusion(&[0, 1], &[f64::NEG_INFINITY, 0.5], 0.5).unwrap_err();
        assert_eq!(error, MetricsError::NonFiniteScore { index: 0, value: f64::NEG_INFINITY });
    }

    #[test]
    fn single_class_names_missing_class() {
        let error = roc_auc(&[0, 0, 0], &[0.1, 0.2, 0.3]).unwrap_err();
        assert_eq!(error, MetricsError::SingleClass { missing: 1, present: 0, rows: 3 });
        assert!(error.to_string().contains("no row is labelled 1 (anomaly)"), "{error}");

        let error = compute(&[1, 1], &[0.1, 0.2], 0.5).unwrap_err();
        assert_eq!(error, MetricsError::SingleClass { missing: 0, present: 1, rows: 2 });
        assert!(error.to_string().contains("no row is labelled 0 (normal)"), "{error}");
    }

    #[test]
    fn constant_scores_rejected() {
        let error = roc_auc(&[0, 1, 0, 1], &[0.25; 4]).unwrap_err();
        assert_eq!(error, MetricsError::ConstantScores { value: 0.25 });
        assert!(error.to_string().starts_with("every score is 0.25, and ROC-AUC is undefined"));

        // -0.0 and 0.0 are the same score.
        let error = compute(&[0, 1], &[-0.0, 0.0], 0.0).unwrap_err();
        assert_eq!(error, MetricsError::ConstantScores { value: 0.0 });
    }

    #[test]
    fn argument_ranges_rejected() {
        for target in [0.0, -0.1, 1.5, f64::NAN] {
            let error = threshold_for_recall(&LABELS, &SCORES, target).unwrap_err();
            assert!(matches!(error, MetricsError::InvalidTargetRecall { .. }), "{target}");
        }
        for max_fpr in [-0.01, 1.01, f64::NAN] {
            let error = recall_at_fpr(&LABELS, &SCORES, max_fpr).unwrap_err();
            assert!(matches!(error, MetricsError::InvalidMaxFpr { .. }), "{max_fpr}");
        }
        assert_eq!(
            precision_at_k(&LABELS, &SCORES, 0),
            Err(MetricsError::InvalidK { k: 0, rows: 12 })
        );
        assert_eq!(
            precision_at_k(&LABELS, &SCORES, 13),
            Err(MetricsError::InvalidK { k: 13, rows: 12 })
        );
        assert_eq!(confusion(&LABELS, &SCORES, f64::NAN), Err(MetricsError::NanThreshold));
        assert_eq!(compute(&LABELS, &SCORES, f64::NAN), Err(MetricsError::NanThreshold));
    }

    #[test]
    fn precision_at_k_by_hand() {
        // k = 1: the cut falls in the 0.9 group (1 anomaly of 2), so 0 + 1 × 1/2 anomalies.
        assert_eq!(precision_at_k(&LABELS, &SCORES, 1), Ok(0.5));
        // k = 3: the cut is the end of the 0.8 group, 2 anomalies among 3 rows.
        assert_eq!(precision_at_k(&LABELS, &SCORES, 3), Ok(2.0 / 3.0));
        // k = 5: 3 rows (2 anomalies) above 0.7, then 2 of the 3 rows at 0.7 (1 anomaly).
        // (2 + 2 × 1/3) / 5 = 8/15.
        assert_eq!(precision_at_k(&LABELS, &SCORES, 5), Ok(8.0 / 15.0));
        // k = 12: every row, 5 anomalies.
        assert_eq!(precision_at_k(&LABELS, &SCORES, 12), Ok(5.0 / 12.0));
    }

    #[test]
    fn recall_at_fpr_by_hand() {
        // (FP, TP) by group: (1, 1) (1, 2) (3, 3) (4, 4) (5, 4) (6, 5) (7, 5), N = 7, P = 5.
        assert_eq!(recall_at_fpr(&LABELS, &SCORES, 0.0), Ok(0.0));
        assert_eq!(recall_at_fpr(&LABELS, &SCORES, 0.1), Ok(0.0));
        assert_eq!(recall_at_fpr(&LABELS, &SCORES, 1.0 / 7.0), Ok(0.4));
        assert_eq!(recall_at_fpr(&LABELS, &SCORES, 0.5), Ok(0.6));
        assert_eq!(recall_at_fpr(&LABELS, &SCORES, 5.0 / 7.0), Ok(0.8));
        assert_eq!(recall_at_fpr(&LABELS, &SCORES, 1.0), Ok(1.0));
    }

    #[test]
    fn recall_at_fpr_keeps_collinear_points() {
        // (0, 0), (0.5, 0.5) and (1, 1) are collinear, but the middle point must still count.
        let labels = [1, 0, 1, 0];
        let scores = [0.9, 0.9, 0.1, 0.1];
        assert_eq!(recall_at_fpr(&labels, &scores, 0.5), Ok(0.5));
    }

    #[test]
    fn confusion_by_hand() {
        // Flagged at 0.5: anomalies at 0.9, 0.8, 0.7, 0.5 and normal rows at 0.9, 0.7, 0.7, 0.5.
        let expected = Confusion { tp: 4, fp: 4, tn: 3, fn_: 1 };
        assert_eq!(confusion(&LABELS, &SCORES, 0.5), Ok(expected));
        let nothing = Confusion { tp: 0, fp: 0, tn: 7, fn_: 5 };
        assert_eq!(confusion(&LABELS, &SCORES, f64::INFINITY), Ok(nothing));
        // A single class and constant scores still have a confusion matrix.
        let normal_only = Confusion { tp: 0, fp: 2, tn: 0, fn_: 0 };
        assert_eq!(confusion(&[0, 0], &[0.3, 0.3], 0.3), Ok(normal_only));
    }

    #[test]
    fn best_f1_tie_prefers_higher_threshold() {
        // P = 2. At 0.9: TP 1, FP 0, F1 = 2/3. At 0.6: TP 2, FP 2, F1 = 4/6 = 2/3.
        // Every other threshold scores lower.
        let labels = [1, 0, 0, 1, 0];
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        assert_eq!(best_f1_threshold(&labels, &scores), Ok(0.9));
    }

    #[test]
    fn threshold_for_recall_by_hand() {
        // TP by group: 1 2 3 4 4 5 5 of P = 5.
        assert_eq!(threshold_for_recall(&LABELS, &SCORES, 0.2), Ok(0.9));
        assert_eq!(threshold_for_recall(&LABELS, &SCORES, 0.5), Ok(0.7));
        assert_eq!(threshold_for_recall(&LABELS, &SCORES, 0.8), Ok(0.5));
        assert_eq!(threshold_for_recall(&LABELS, &SCORES, 1.0), Ok(0.2));
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // Pairs (anomaly, normal): 0.9 vs 0.9 ties, 0.9 vs 0.1 and 0.5 vs 0.1 win, 0.5 vs 0.9
        // loses, so AUC = (0.5 + 1 + 1 + 0) / 4.
        assert_eq!(roc_auc(&[1, 1, 0, 0], &[0.9, 0.5, 0.9, 0.1]), Ok(0.625));
        assert_eq!(
            roc_auc(&[1, 0], &[0.0, -0.0]).unwrap_err(),
            MetricsError::ConstantScores { value: 0.0 }
        );
    }

    #[test]
    fn metrics_ignore_input_order() {
        let mut rows: Vec<(u8, f64)> = LABELS.into_iter().zip(SCORES).collect();
        rows.reverse();
        rows.rotate_left(5);
        let (labels, scores): (Vec<u8>, Vec<f64>) = rows.into_iter().unzip();
        assert_eq!(compute(&labels, &scores, 0.5), compute(&LABELS, &SCORES, 0.5));
        assert_eq!(roc_curve(&labels, &scores), roc_curve(&LABELS, &SCORES));
    }

    #[test]
    fn compute_fills_every_field() {
        let metrics = compute(&LABELS, &SCORES, 0.5).unwrap();
        assert_eq!(metrics.rows, 12);
        assert_eq!(metrics.positives, 5);
        assert_eq!(metrics.roc_auc, roc_auc(&LABELS, &SCORES).unwrap());
        assert_eq!(metrics.average_precision, average_precision(&LABELS, &SCORES).unwrap());
        // TP 4, FP 4, FN 1 at 0.5.
        assert_eq!(metrics.precision, 0.5);
        assert_eq!(metrics.recall, 0.8);
        assert_eq!(metrics.f1, 8.0 / 13.0);
        // k = P = 5.
        assert_eq!(metrics.precision_at_k, 8.0 / 15.0);
        // The lowest non-zero FPR is 1/7, above 1 %.
        assert_eq!(metrics.recall_at_1pct_fpr, 0.0);
        assert_eq!(metrics.confusion, Confusion { tp: 4, fp: 4, tn: 3, fn_: 1 });
    }

    #[test]
    fn compute_nothing_flagged_gives_zero_precision() {
        let metrics = compute(&LABELS, &SCORES, 2.0).unwrap();
        assert_eq!(metrics.precision, 0.0);
        assert_eq!(metrics.recall, 0.0);
        assert_eq!(metrics.f1, 0.0);
    }

    #[test]
    fn thin_curve_keeps_small_curves() {
        let x = [0.0, 0.5, 1.0];
        assert_eq!(thin_curve(&x, &x, 3), vec![0, 1, 2]);
        assert_eq!(thin_curve(&[], &[], 2), Vec::<usize>::new());
    }

    #[test]
    fn thin_curve_keeps_corners() {
        // A staircase (0,0) → (0,1) → (1,1) sampled at 1001 points per leg.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..=1000 {
            x.push(0.0);
            y.push(f64::from(i) / 1000.0);
        }
        for i in 1..=1000 {
            x.push(f64::from(i) / 1000.0);
            y.push(1.0);
        }
        // Points on the two straight legs are never needed, whatever the budget.
        assert_eq!(thin_curve(&x, &y, 50), vec![0, 1000, 2000]);
    }

    #[test]
    fn thin_curve_respects_budget() {
        // A concave curve of 50,000 points, every one of them off every chord.
        let x: Vec<f64> = (0..50_000).map(|i| f64::from(i) / 49_999.0).collect();
        let y: Vec<f64> = x.iter().map(|v| v.sqrt()).collect();
        let kept = thin_curve(&x, &y, 200);
        assert_eq!(kept.len(), 200);
        assert_eq!(kept.first(), Some(&0));
        assert_eq!(kept.last(), Some(&49_999));
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]));

        // The thinned polyline stays close to the curve: check the midpoint of each segment.
        for pair in kept.windows(2) {
            let middle = (pair[0] + pair[1]) / 2;
            let t = (x[middle] - x[pair[0]]) / (x[pair[1]] - x[pair[0]]);
            let interpolated = y[pair[0]] + t * (y[pair[1]] - y[pair[0]]);
            assert!((interpolated - y[middle]).abs() < 0.01, "gap near x = {}", x[middle]);
        }
    }

    #[test]
    fn large_input_is_handled() {
        // 300,000 rows from an integer hash, about 5 % anomalies, with scores that overlap.
        let rows = 300_000u64;
        let mut labels = Vec::new();
        let mut scores = Vec::new();
        for i in 0..rows {
            let hash = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
            let label = u8::from(hash % 20 == 0);
            labels.push(label);
            scores.push((hash >> 40) as f64 / (1u64 << 24) as f64 + f64::from(label) * 0.3);
        }

        let metrics = compute(&labels, &scores, 0.9).unwrap();
        let curve = roc_curve(&labels, &scores).unwrap();
        let kept = thin_curve(&curve.fpr, &curve.tpr, 500);

        assert!(metrics.roc_auc > 0.5);
        assert_eq!(metrics.rows, rows);
        assert!(kept.len() <= 500);
        assert_eq!(kept.first(), Some(&0));
        assert_eq!(kept.last(), Some(&(curve.fpr.len() - 1)));
    }
}
