//! SVG charts drawn with plotters' SVG backend into strings that the page inlines.
//!
//! Every chart has a white background, light horizontal and vertical grid lines and axis
//! descriptions, and draws each model in its [`Model::color`], so a model keeps its colour
//! across charts and tables. That colour is [`model_color`] of the model's position, or for a
//! sweep trial [`trial_color`] of its stage and rank. Text is written as SVG `<text>` with the
//! generic `sans-serif` family, which any browser resolves without font files.

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::artifacts::{Epoch, Model};
use crate::{Error, Result, format};

pub(crate) mod histogram;
pub(crate) mod sweep;

/// Font family of all chart text.
const FONT: &str = "sans-serif";
/// Font sizes passed to plotters. plotters-svg 0.3.7 writes them divided by 1.24 into the SVG.
const TICK_FONT: u32 = 18;
const DESCRIPTION_FONT: u32 = 19;
const LEGEND_FONT: u32 = 18;

/// Size in pixels of the per-model training charts and the score histograms.
const WIDE: (u32, u32) = (500, 310);
/// Size in pixels of the ROC and precision-recall charts.
const SQUARE: (u32, u32) = (500, 450);

const GRID: RGBColor = RGBColor(226, 229, 234);
const AXIS: RGBColor = RGBColor(110, 116, 128);
const REFERENCE: RGBColor = RGBColor(120, 120, 120);

/// Model colours, from the Tableau 10 palette without its grey, which marks the normal class in
/// the score histograms.
const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
];

/// Returns the colour of the model at `index` in the report's model list, which is also the
/// colour of the sweep stage at `index`.
pub(crate) fn model_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Returns the colour of a sweep trial: the hue of its stage, in a shade that distinguishes
/// the five best trials of the stage (`rank_in_stage` 0 to 4). Later trials get the plain hue.
pub(crate) fn trial_color(stage: usize, rank_in_stage: usize) -> RGBColor {
    let hue = model_color(stage);
    match rank_in_stage {
        1 => shade(hue, -0.35),
        2 => shade(hue, 0.4),
        3 => shade(hue, -0.6),
        4 => shade(hue, 0.65),
        _ => hue,
    }
}

/// Mixes `color` towards black (negative `amount`) or white (positive `amount`), with
/// `amount` in [-1, 1].
fn shade(color: RGBColor, amount: f64) -> RGBColor {
    let target = if amount < 0.0 { 0.0 } else { 255.0 };
    let mix = |channel: u8| {
        let channel = f64::from(channel);
        (channel + (target - channel) * amount.abs()).round() as u8
    };
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Returns a colour as a CSS hex string such as `#1f77b4`.
pub(crate) fn css_color(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

type DrawResult = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws a chart of `size` pixels with `draw` and returns the SVG document.
fn render_svg(
    chart: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root.fill(&WHITE).and_then(|()| draw(&root)).and_then(|()| root.present());
        drawn.map_err(|error| Error::Chart {
            chart: chart.to_string(),
            message: error.to_string(),
        })?;
    }
    Ok(svg)
}

/// Starts a chart with the house margins and label areas.
fn chart_builder<'a, 'b>(root: &'a Area<'b>) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder.margin(14).margin_right(22).x_label_area_size(54).y_label_area_size(72);
    builder
}

/// Returns the mesh style shared by all charts, for the caller to add descriptions and draw.
fn styled_mesh<'a, 'b, X, Y>(
    chart: &'b mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> plotters::chart::MeshStyle<'a, 'b, X, Y, SVGBackend<'a>>
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
{
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .label_style((FONT, TICK_FONT).into_font().color(&RGBColor(60, 64, 72)))
        .axis_desc_style((FONT, DESCRIPTION_FONT).into_font().color(&RGBColor(40, 44, 52)))
        .x_labels(8)
        .y_labels(6);
    mesh
}

/// Draws the legend box at `position`.
fn draw_legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .margin(10)
        .legend_area_size(26)
        .background_style(WHITE.mix(0.88))
        .border_style(RGBColor(200, 204, 212))
        .label_font((FONT, LEGEND_FONT))
        .draw()
}

/// Returns a legend marker: a short solid line.
fn line_marker(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
}

/// Returns a legend marker: a short dashed line.
fn dashed_marker(
    color: RGBColor,
) -> impl Fn((i32, i32)) -> DashedPathElement<std::vec::IntoIter<(i32, i32)>, i32> {
    move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 22, y)], 5, 3, color.stroke_width(2))
}

/// Returns a range covering `values` with 6 % padding, or `fallback` when none is finite.
fn padded_range(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (low, high) = values
        .filter(|value| value.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(v), high.max(v)));
    if low > high {
        return fallback;
    }
    let span = if high > low { high - low } else { low.abs().max(1.0) * 0.1 };
    (low - 0.06 * span, high + 0.06 * span)
}

/// Returns the epoch axis range, widened by one epoch on each side when there is only one.
fn epoch_range(history: &[Epoch]) -> (u32, u32) {
    let first = history.first().map_or(1, |epoch| epoch.epoch);
    let last = history.last().map_or(1, |epoch| epoch.epoch);
    if last > first { (first, last) } else { (first.saturating_sub(1), last + 1) }
}

/// Returns the finite points of one history column against the epoch.
fn history_points(history: &[Epoch], value: impl Fn(&Epoch) -> f64) -> Vec<(u32, f64)> {
    history
        .iter()
        .map(|epoch| (epoch.epoch, value(epoch)))
        .filter(|(_, value)| value.is_finite())
        .collect()
}

/// Draws the training and validation loss of one model against the epoch, with the kept
/// epoch marked.
pub(crate) fn loss_chart(model: &Model<'_>) -> Result<String> {
    let color = model.color;
    let history = &model.history;
    let train = history_points(history, |epoch| epoch.train_loss);
    let validation = history_points(history, |epoch| epoch.validation_loss);
    let (first, last) = epoch_range(history);
    let losses = train.iter().chain(&validation).map(|&(_, loss)| loss);
    let (low, high) = padded_range(losses, (0.0, 1.0));
    let best = model.training.best_epoch;
    let best_loss = validation.iter().find(|&&(epoch, _)| epoch == best).map(|&(_, loss)| loss);

    render_svg(&format!("loss of model `{}`", model.name), WIDE, |root| {
        let mut chart = chart_builder(root).build_cartesian_2d(first..last, low..high)?;
        styled_mesh(&mut chart)
            .x_desc("epoch")
            .y_desc("loss")
            .y_label_formatter(&|value| format::significant(*value, 3))
            .draw()?;

        if (first..=last).contains(&best) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(best, low), (best, high)],
                    6,
                    4,
                    REFERENCE.stroke_width(1),
                ))?
                .label(format!("kept epoch {best}"))
                .legend(dashed_marker(REFERENCE));
        }
        chart
            .draw_series(DashedLineSeries::new(train, 7, 4, color.mix(0.85).stroke_width(2)))?
            .label("training loss")
            .legend(dashed_marker(color));
        chart
            .draw_series(LineSeries::new(validation, color.stroke_width(2)))?
            .label("validation loss")
            .legend(line_marker(color));
        if let Some(loss) = best_loss {
            chart.draw_series([Circle::new((best, loss), 5, color.filled())])?;
        }

        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Draws the validation average precision of every model against the epoch, with each
/// model's kept epoch marked by a dot.
pub(crate) fn validation_ap_chart(models: &[&Model<'_>]) -> Result<String> {
    let first = models.iter().map(|model| epoch_range(&model.history).0).min().unwrap_or(0);
    let last = models.iter().map(|model| epoch_range(&model.history).1).max().unwrap_or(1);
    let all_ap = models.iter().flat_map(|model| model.history.iter().map(|e| e.validation_ap));
    let (low, high) = padded_range(all_ap, (0.0, 1.0));
    let (low, high) = (low.max(0.0), high.min(1.0));

    render_svg("validation average precision", WIDE, |root| {
        let mut chart = chart_builder(root).build_cartesian_2d(first..last, low..high)?;
        styled_mesh(&mut chart)
            .x_desc("epoch")
            .y_desc("validation average precision")
            .y_label_formatter(&|value| format!("{value:.2}"))
            .draw()?;

        for model in models {
            let color = model.color;
            let points = history_points(&model.history, |epoch| epoch.validation_ap);
            let best = model.training.best_epoch;
            let best_point = points.iter().copied().find(|&(epoch, _)| epoch == best);
            let label = match best_point {
                Some((_, ap)) => {
                    format!("{} (kept epoch {best}: {})", model.name, format::metric(ap))
                }
                None => model.name.to_string(),
            };
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(label)
                .legend(line_marker(color));
            if let Some(point) = best_point {
                chart.draw_series([Circle::new(point, 5, color.filled())])?;
            }
        }

        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Draws the test ROC curves of every model with the chance diagonal, and each model's
/// operating point at its validation-chosen threshold.
pub(crate) fn roc_chart(models: &[&Model<'_>]) -> Result<String> {
    render_svg("ROC", SQUARE, |root| {
        let mut chart = chart_builder(root).build_cartesian_2d(0.0..1.0, 0.0..1.02)?;
        styled_mesh(&mut chart)
            .x_desc("false-positive rate")
            .y_desc("true-positive rate (recall)")
            .x_label_formatter(&|value| format!("{value:.1}"))
            .y_label_formatter(&|value| format!("{value:.1}"))
            .draw()?;

        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                REFERENCE.stroke_width(1),
            ))?
            .label("chance (AUC 0.500)")
            .legend(dashed_marker(REFERENCE));
        for model in models {
            let color = model.color;
            let auc = format::metric(model.evaluation.test.roc_auc);
            chart
                .draw_series(LineSeries::new(model.roc.iter().copied(), color.stroke_width(2)))?
                .label(format!("{} (AUC {auc})", model.name))
                .legend(line_marker(color));
        }
        for model in models {
            let confusion = model.evaluation.test.confusion;
            let negatives = confusion.fp + confusion.tn;
            if negatives > 0 {
                let fpr = confusion.fp as f64 / negatives as f64;
                draw_operating_point(&mut chart, (fpr, model.evaluation.test.recall), model.color)?;
            }
        }

        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Draws the test precision-recall curves of every model with the positive rate, which is
/// the precision of a random ranking, and each model's operating point.
pub(crate) fn pr_chart(models: &[&Model<'_>], positive_rate: f64) -> Result<String> {
    render_svg("precision-recall", SQUARE, |root| {
        let mut chart = chart_builder(root).build_cartesian_2d(0.0..1.0, 0.0..1.02)?;
        styled_mesh(&mut chart)
            .x_desc("recall")
            .y_desc("precision")
            .x_label_formatter(&|value| format!("{value:.1}"))
            .y_label_formatter(&|value| format!("{value:.1}"))
            .draw()?;

        if positive_rate.is_finite() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, positive_rate), (1.0, positive_rate)],
                    6,
                    4,
                    REFERENCE.stroke_width(1),
                ))?
                .label(format!("positive rate (AP {})", format::metric(positive_rate)))
                .legend(dashed_marker(REFERENCE));
        }
        for model in models {
            let color = model.color;
            let ap = format::metric(model.evaluation.test.average_precision);
            chart
                .draw_series(LineSeries::new(model.pr.iter().copied(), color.stroke_width(2)))?
                .label(format!("{} (AP {ap})", model.name))
                .legend(line_marker(color));
        }
        for model in models {
            let test = &model.evaluation.test;
            if test.confusion.tp + test.confusion.fp > 0 {
                draw_operating_point(&mut chart, (test.recall, test.precision), model.color)?;
            }
        }

        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)
    })
}

/// Draws a filled dot in the model's colour with a dark outline.
fn draw_operating_point<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    point: (f64, f64),
    color: RGBColor,
) -> DrawResult {
    chart.draw_series([
        Circle::new(point, 6, color.filled()),
        Circle::new(point, 6, RGBColor(30, 30, 30).stroke_width(1)),
    ])?;
    Ok(())
}
