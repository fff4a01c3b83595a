//! Charts of a hyperparameter sweep: test average precision against each varied parameter,
//! and the validation loss of every trial of a stage.
//!
//! A numeric parameter is drawn on a linear or log axis as [`ParameterAxis`] chooses, and any
//! other parameter gets one evenly spaced slot per category. Each stage keeps the palette
//! colour of its position in the sweep's stage list.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::{
    Area, DrawResult, WIDE, chart_builder, draw_legend, epoch_range, history_points, line_marker,
    model_color, padded_range, render_svg, styled_mesh,
};
use crate::artifacts::Model;
use crate::sweep::{ParameterAxis, ParameterPoint, ParameterPoints, numeric_axis};
use crate::{Result, format};

/// Outline of the ring around the best trial.
const BEST_RING: RGBColor = RGBColor(20, 20, 20);

/// Plot width in pixels left for category labels, an estimate from [`WIDE`] less the label
/// area and margins.
const CATEGORY_AXIS_PIXELS: usize = 390;

/// Approximate width in pixels of one character of a tick label.
const TICK_CHARACTER_PIXELS: usize = 8;

/// Draws test average precision against the parameter at `path`, one colour per stage, with
/// the best trial by validation average precision ringed. `stages` is the number of stages in the sweep. The chart has
/// no legend, because the page shows one legend above all parameter charts.
pub(crate) fn parameter_chart(
    path: &str,
    parameter: &ParameterPoints,
    stages: usize,
) -> Result<String> {
    let ap = parameter.points.iter().map(|point| point.average_precision);
    let (low, high) = padded_range(ap, (0.0, 1.0));
    let y_range = low.max(0.0)..high.min(1.0);
    let chart = format!("average precision against `{path}`");

    render_svg(&chart, WIDE, |root| match &parameter.axis {
        ParameterAxis::Linear => {
            let xs = parameter.points.iter().map(|point| point.x);
            let (left, right) = padded_range(xs, (0.0, 1.0));
            let x_label = |value: &f64| format::significant(*value, 3);
            draw_parameter(root, left..right, y_range, path, 8, &x_label, parameter, stages)
        }
        ParameterAxis::Log => {
            let xs = parameter.points.iter().map(|point| point.x);
            let (left, right) = xs.fold((f64::INFINITY, 0.0_f64), |(l, r), x| (l.min(x), r.max(x)));
            let x_range = (left / 1.4..right * 1.4).log_scale();
            let x_desc = format!("{path}, log scale");
            let x_label = |value: &f64| format::significant(*value, 3);
            draw_parameter(root, x_range, y_range, &x_desc, 8, &x_label, parameter, stages)
        }
        ParameterAxis::Categories(labels) => {
            let count = labels.len().max(1);
            let max_chars = (CATEGORY_AXIS_PIXELS / count / TICK_CHARACTER_PIXELS).max(2);
            let x_label = |value: &f64| category_label(labels, *value, max_chars);
            let x_range = -0.5..count as f64 - 0.5;
            draw_parameter(root, x_range, y_range, path, count, &x_label, parameter, stages)
        }
    })
}

/// Returns the label of the category slot at `value`, shortened to `max_chars` characters
/// with an ellipsis, or an empty string between slots.
fn category_label(labels: &[String], value: f64, max_chars: usize) -> String {
    let slot = value.round();
    if (value - slot).abs() > 1e-6 || slot < 0.0 {
        return String::new();
    }
    let Some(label) = labels.get(slot as usize) else {
        return String::new();
    };
    if label.chars().count() <= max_chars {
        return label.clone();
    }
    let mut short: String = label.chars().take(max_chars - 1).collect();
    short.push('…');
    short
}

#[allow(clippy::too_many_arguments)]
fn draw_parameter<X>(
    root: &Area<'_>,
    x_range: X,
    y_range: std::ops::Range<f64>,
    x_desc: &str,
    x_labels: usize,
    x_label: &dyn Fn(&f64) -> String,
    parameter: &ParameterPoints,
    stages: usize,
) -> DrawResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = chart_builder(root).build_cartesian_2d(x_range, y_range)?;
    styled_mesh(&mut chart)
        .x_desc(x_desc)
        .y_desc("test average precision")
        .x_labels(x_labels)
        .x_label_formatter(x_label)
        .y_label_formatter(&|value| format!("{value:.2}"))
        .draw()?;

    for stage in 0..stages {
        let points: Vec<&ParameterPoint> =
            parameter.points.iter().filter(|point| point.stage == stage).collect();
        if points.is_empty() {
            continue;
        }
        let fill = model_color(stage).mix(dot_opacity(points.len())).filled();
        let dots = points.iter().map(|point| (point.x, point.average_precision));
        chart.draw_series(dots.map(|dot| Circle::new(dot, 5, fill)))?;
    }
    let best = parameter.points.iter().filter(|point| point.best);
    chart.draw_series(best.map(|point| {
        Circle::new((point.x, point.average_precision), 9, BEST_RING.stroke_width(2))
    }))?;
    Ok(())
}

/// Returns the opacity of the dots of a stage with `count` trials, lower for many trials so
/// that dense regions stay readable.
fn dot_opacity(count: usize) -> f64 {
    (4.0 / (count.max(1) as f64).sqrt()).clamp(0.35, 0.85)
}

/// Draws the validation loss of every trial of one stage against the epoch, one thin line per
/// trial. `trials[0]` is the stage's best by validation average precision. Its line is thicker,
/// with its kept epoch marked and its test average precision in the legend. The loss
/// axis is logarithmic when the losses are positive and span more than 20 times.
pub(crate) fn stage_loss_chart(
    stage: &str,
    trials: &[&Model<'_>],
    color: RGBColor,
) -> Result<String> {
    let first = trials.iter().map(|model| epoch_range(&model.history).0).min().unwrap_or(0);
    let last = trials.iter().map(|model| epoch_range(&model.history).1).max().unwrap_or(1);
    let curves: Vec<Vec<(u32, f64)>> = trials
        .iter()
        .map(|model| history_points(&model.history, |epoch| epoch.validation_loss))
        .collect();
    let losses: Vec<f64> = curves.iter().flatten().map(|&(_, loss)| loss).collect();
    let log_scale = !losses.is_empty() && numeric_axis(&losses) == ParameterAxis::Log;
    let chart = format!("validation loss of stage `{stage}`");

    render_svg(&chart, WIDE, |root| {
        if log_scale {
            let (low, high) =
                losses.iter().fold((f64::INFINITY, 0.0_f64), |(l, h), &v| (l.min(v), h.max(v)));
            let y_range = (low / 1.2..high * 1.2).log_scale();
            draw_stage_losses(
                root,
                first..last,
                y_range,
                "validation loss, log scale",
                trials,
                &curves,
                color,
            )
        } else {
            let (low, high) = padded_range(losses.iter().copied(), (0.0, 1.0));
            draw_stage_losses(
                root,
                first..last,
                low..high,
                "validation loss",
                trials,
                &curves,
                color,
            )
        }
    })
}

fn draw_stage_losses<Y>(
    root: &Area<'_>,
    x_range: std::ops::Range<u32>,
    y_range: Y,
    y_desc: &str,
    trials: &[&Model<'_>],
    curves: &[Vec<(u32, f64)>],
    color: RGBColor,
) -> DrawResult
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = chart_builder(root).build_cartesian_2d(x_range, y_range)?;
    styled_mesh(&mut chart)
        .x_desc("epoch")
        .y_desc(y_desc)
        .y_label_formatter(&|value| format::significant(*value, 3))
        .draw()?;

    let others = &curves[1.min(curves.len())..];
    let thin = color.mix(line_opacity(others.len())).stroke_width(1);
    for (index, curve) in others.iter().enumerate() {
        let series = chart.draw_series(LineSeries::new(curve.iter().copied(), thin))?;
        if index == 0 {
            let label = format!("other trials ({})", format::count(others.len() as u64));
            series.label(label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.mix(0.45).stroke_width(1))
            });
        }
    }
    if let (Some(best), Some(curve)) = (trials.first(), curves.first()) {
        let ap = format::metric(best.evaluation.test.average_precision);
        // A white halo keeps the best line visible on top of hundreds of lines in its hue.
        chart.draw_series(LineSeries::new(curve.iter().copied(), WHITE.stroke_width(6)))?;
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), color.stroke_width(3)))?
            .label(format!("best: {} (test AP {ap})", best.name))
            .legend(line_marker(color));
        let kept_epoch = best.training.best_epoch;
        if let Some(&point) = curve.iter().find(|&&(epoch, _)| epoch == kept_epoch) {
            chart.draw_series([Circle::new(point, 5, color.filled())])?;
        }
    }

    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Returns the opacity of the thin loss lines of `count` trials: darker for a few trials,
/// lighter for many so that the best trial's line remains visible.
fn line_opacity(count: usize) -> f64 {
    (2.0 / (count.max(1) as f64).sqrt()).clamp(0.12, 0.6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_labels_only_on_slots() {
        let labels = vec!["adam".to_string(), "adamw".to_string()];
        assert_eq!(category_label(&labels, 0.0, 10), "adam");
        assert_eq!(category_label(&labels, 1.0, 10), "adamw");
        assert_eq!(category_label(&labels, 0.5, 10), "");
        assert_eq!(category_label(&labels, 2.0, 10), "");
        assert_eq!(category_label(&labels, -1.0, 10), "");
    }

    #[test]
    fn long_category_labels_are_shortened() {
        let labels = vec!["[128,64,32]".to_string()];
        assert_eq!(category_label(&labels, 0.0, 6), "[128,…");
        assert_eq!(category_label(&labels, 0.0, 11), "[128,64,32]");
    }
}
