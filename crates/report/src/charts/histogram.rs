//! Score histograms: the test scores of normal and anomalous rows, overlaid.
//!
//! Each class is normalised on its own, so a bar is the share of that class's rows falling in
//! the bin and the rare anomaly class is as visible as the normal one. Scores that are not
//! probabilities and span at least a decade, such as reconstruction errors, get log-spaced
//! bins on a log x-axis.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::{
    Area, DrawResult, WIDE, chart_builder, dashed_marker, draw_legend, render_svg, styled_mesh,
};
use crate::artifacts::ClassScores;
use crate::{Result, format};

/// Number of bins of every histogram.
pub(crate) const BINS: usize = 30;

/// Score kind of a model whose scores are probabilities in [0, 1].
const PROBABILITY: &str = "probability";

/// Grey of the normal class, kept out of the model palette.
const NORMAL_COLOR: RGBColor = RGBColor(127, 127, 127);

/// Binned test scores of one model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScoreHistogram {
    /// `BINS + 1` increasing bin edges; the last bin includes its upper edge.
    pub edges: Vec<f64>,
    /// Share of the normal rows in each bin.
    pub normal: Vec<f64>,
    /// Share of the anomalous rows in each bin.
    pub anomaly: Vec<f64>,
    /// Whether the bins are log-spaced and the x-axis logarithmic.
    pub log_scale: bool,
    /// Normal rows with a finite score.
    pub normal_rows: usize,
    /// Anomalous rows with a finite score.
    pub anomaly_rows: usize,
    /// Rows left out because their score is NaN or infinite.
    pub non_finite: usize,
}

impl ScoreHistogram {
    /// Bins `scores` into `bins` bins whose range also covers `threshold`. `score_kind` is the
    /// `score` field of `metrics.json`, and probabilities always get linear bins.
    pub(crate) fn new(scores: &ClassScores, threshold: f64, score_kind: &str, bins: usize) -> Self {
        let bins = bins.max(1);
        let finite = |values: &[f64]| -> Vec<f64> {
            values.iter().copied().filter(|value| value.is_finite()).collect()
        };
        let normal = finite(&scores.normal);
        let anomaly = finite(&scores.anomaly);
        let non_finite = scores.normal.len() + scores.anomaly.len() - normal.len() - anomaly.len();

        let (low, high) = normal
            .iter()
            .chain(&anomaly)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        let log_scale = score_kind != PROBABILITY && low > 0.0 && high / low >= 10.0;
        let (low, high) = score_range(low, high, threshold, score_kind, log_scale);
        let edges = bin_edges(low, high, bins, log_scale);

        ScoreHistogram {
            normal: class_shares(&normal, &edges),
            anomaly: class_shares(&anomaly, &edges),
            edges,
            log_scale,
            normal_rows: normal.len(),
            anomaly_rows: anomaly.len(),
            non_finite,
        }
    }

    /// Returns the largest share of either class in one bin.
    fn max_share(&self) -> f64 {
        self.normal.iter().chain(&self.anomaly).copied().fold(0.0, f64::max)
    }
}

/// Returns the x range: the scores' range widened to the threshold, [0, 1] for probabilities
/// that fit in it, and a non-empty range when every score is equal.
fn score_range(low: f64, high: f64, threshold: f64, kind: &str, log_scale: bool) -> (f64, f64) {
    if low > high {
        return (0.0, 1.0);
    }
    let threshold_fits = threshold.is_finite() && (!log_scale || threshold > 0.0);
    let (low, high) =
        if threshold_fits { (low.min(threshold), high.max(threshold)) } else { (low, high) };
    if kind == PROBABILITY && low >= 0.0 && high <= 1.0 {
        return (0.0, 1.0);
    }
    if high > low {
        (low, high)
    } else if log_scale {
        (low / 2.0, high * 2.0)
    } else {
        let pad = low.abs().max(1.0) * 0.1;
        (low - pad, high + pad)
    }
}

/// Returns `bins + 1` edges from `low` to `high`, evenly spaced in value or in its logarithm.
fn bin_edges(low: f64, high: f64, bins: usize, log_scale: bool) -> Vec<f64> {
    let mut edges: Vec<f64> = (0..=bins)
        .map(|i| {
            let t = i as f64 / bins as f64;
            if log_scale {
                (low.ln() + (high.ln() - low.ln()) * t).exp()
            } else {
                low + (high - low) * t
            }
        })
        .collect();
    edges[0] = low;
    edges[bins] = high;
    edges
}

/// Returns the share of `values` in each bin. A value on an inner edge belongs to the bin
/// above it. Values outside the edges go to the first or last bin.
fn class_shares(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let mut counts = vec![0usize; bins];
    for &value in values {
        let above = edges.partition_point(|&edge| edge <= value);
        counts[above.saturating_sub(1).min(bins - 1)] += 1;
    }
    let total = values.len().max(1) as f64;
    counts.into_iter().map(|count| count as f64 / total).collect()
}

/// Returns the x-axis description for a score kind.
fn x_description(score_kind: &str, log_scale: bool) -> String {
    let name = match score_kind {
        PROBABILITY => "score (probability of anomaly)".to_string(),
        "reconstruction_error" => "reconstruction error".to_string(),
        other => format!("score ({})", other.replace('_', " ")),
    };
    if log_scale { format!("{name}, log scale") } else { name }
}

/// Draws the histogram of one model, with its threshold as a dashed vertical line.
pub(crate) fn histogram_chart(
    model_name: &str,
    histogram: &ScoreHistogram,
    threshold: f64,
    score_kind: &str,
    color: RGBColor,
) -> Result<String> {
    let chart = format!("score histogram of model `{model_name}`");
    let low = histogram.edges[0];
    let high = histogram.edges[histogram.edges.len() - 1];
    let x_desc = x_description(score_kind, histogram.log_scale);
    render_svg(&chart, WIDE, |root| {
        if histogram.log_scale {
            draw(root, (low..high).log_scale(), histogram, threshold, color, &x_desc)
        } else {
            draw(root, low..high, histogram, threshold, color, &x_desc)
        }
    })
}

fn draw<X>(
    root: &Area<'_>,
    x_range: X,
    histogram: &ScoreHistogram,
    threshold: f64,
    color: RGBColor,
    x_desc: &str,
) -> DrawResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    // Headroom above the tallest bar keeps the legend clear of the bars.
    let top = (histogram.max_share() * 1.6).max(0.01);
    let mut chart = chart_builder(root).build_cartesian_2d(x_range, 0.0..top)?;
    styled_mesh(&mut chart)
        .x_desc(x_desc)
        .y_desc("share of the class's rows")
        .x_label_formatter(&|value| format::significant(*value, 3))
        .y_label_formatter(&|value| format!("{:.0}%", value * 100.0))
        .draw()?;

    let classes = [
        ("normal", &histogram.normal, histogram.normal_rows, NORMAL_COLOR),
        ("anomaly", &histogram.anomaly, histogram.anomaly_rows, color),
    ];
    for (class, shares, rows, class_color) in classes {
        chart
            .draw_series(
                AreaSeries::new(step_points(&histogram.edges, shares), 0.0, class_color.mix(0.28))
                    .border_style(class_color.stroke_width(2)),
            )?
            .label(format!("{class} ({} rows)", format::count(rows as u64)))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 22, y + 6)], class_color.mix(0.5).filled())
            });
    }

    let low = histogram.edges[0];
    let high = histogram.edges[histogram.edges.len() - 1];
    if (low..=high).contains(&threshold) {
        chart
            .draw_series(DashedLineSeries::new(
                [(threshold, 0.0), (threshold, top)],
                6,
                4,
                RGBColor(20, 20, 20).stroke_width(2),
            ))?
            .label(format!("threshold {}", format::significant(threshold, 4)))
            .legend(dashed_marker(RGBColor(20, 20, 20)));
    }

    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Returns the outline of a histogram: a step at each bin's share, closed down to zero at
/// both ends.
fn step_points(edges: &[f64], shares: &[f64]) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(shares.len() * 2 + 2);
    points.push((edges[0], 0.0));
    for (bin, &share) in shares.iter().enumerate() {
        points.push((edges[bin], share));
        points.push((edges[bin + 1], share));
    }
    points.push((edges[edges.len() - 1], 0.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(normal: &[f64], anomaly: &[f64]) -> ClassScores {
        ClassScores { normal: normal.to_vec(), anomaly: anomaly.to_vec() }
    }

    #[test]
    fn probabilities_use_unit_range() {
        let histogram = ScoreHistogram::new(&scores(&[0.1, 0.2, 0.3], &[0.9]), 0.5, PROBABILITY, 4);
        assert_eq!(histogram.edges, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert!(!histogram.log_scale);
    }

    #[test]
    fn shares_are_per_class() {
        // The bins are [0, 0.25), [0.25, 0.5), [0.5, 0.75) and [0.75, 1]. Normal has 2 of its 4
        // rows in the first bin and one in each of the next two. The one anomaly is in the last.
        let histogram =
            ScoreHistogram::new(&scores(&[0.0, 0.1, 0.25, 0.6], &[1.0]), 0.5, PROBABILITY, 4);
        assert_eq!(histogram.normal, vec![0.5, 0.25, 0.25, 0.0]);
        assert_eq!(histogram.anomaly, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!((histogram.normal_rows, histogram.anomaly_rows), (4, 1));
    }

    #[test]
    fn reconstruction_errors_get_log_bins() {
        // From 0.01 to 100 in 4 log-spaced bins: edges at 0.01, 0.1, 1, 10, 100.
        let histogram = ScoreHistogram::new(
            &scores(&[0.01, 0.05, 0.5], &[20.0, 100.0]),
            1.0,
            "reconstruction_error",
            4,
        );
        assert!(histogram.log_scale);
        let expected = [0.01, 0.1, 1.0, 10.0, 100.0];
        for (edge, want) in histogram.edges.iter().zip(expected) {
            assert!((edge / want - 1.0).abs() < 1e-12, "edge {edge}, expected {want}");
        }
        assert_eq!(histogram.normal, vec![2.0 / 3.0, 1.0 / 3.0, 0.0, 0.0]);
        assert_eq!(histogram.anomaly, vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn narrow_errors_stay_linear() {
        let histogram =
            ScoreHistogram::new(&scores(&[1.0, 2.0], &[5.0]), 3.0, "reconstruction_error", 4);
        assert!(!histogram.log_scale);
        assert_eq!(histogram.edges, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn threshold_widens_range() {
        let histogram =
            ScoreHistogram::new(&scores(&[2.0, 3.0], &[4.0]), 6.0, "reconstruction_error", 4);
        assert_eq!(histogram.edges, vec![2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn non_finite_scores_are_counted_and_left_out() {
        let histogram = ScoreHistogram::new(
            &scores(&[0.2, f64::NAN], &[f64::INFINITY, 0.9]),
            0.5,
            PROBABILITY,
            2,
        );
        assert_eq!(histogram.non_finite, 2);
        assert_eq!(histogram.normal, vec![1.0, 0.0]);
        assert_eq!(histogram.anomaly, vec![0.0, 1.0]);
    }

    #[test]
    fn equal_scores_get_nonempty_range() {
        let histogram = ScoreHistogram::new(&scores(&[3.0, 3.0], &[]), 3.0, "other", 2);
        assert_eq!(histogram.edges.len(), 3);
        assert!(histogram.edges[0] < histogram.edges[2]);
        assert_eq!(histogram.normal.iter().sum::<f64>(), 1.0);
        assert_eq!(histogram.anomaly, vec![0.0, 0.0]);
    }

    #[test]
    fn step_points_close_to_zero() {
        let points = step_points(&[0.0, 1.0, 2.0], &[0.25, 0.75]);
        let expected =
            vec![(0.0, 0.0), (0.0, 0.25), (1.0, 0.25), (1.0, 0.75), (2.0, 0.75), (2.0, 0.0)];
        assert_eq!(points, expected);
    }
}
