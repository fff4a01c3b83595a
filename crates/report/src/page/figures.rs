//! The chart sections: training history, ROC and precision-recall curves, and score
//! histograms. Each chart is an inline SVG inside a `<figure>` with a caption.

use serde_json::Value;

use super::{escape, model_label};
use crate::artifacts::Model;
use crate::charts;
use crate::charts::histogram::{BINS, ScoreHistogram, histogram_chart};
use crate::sweep::parameter_text;
use crate::{Result, format};

/// Builds the training section: one card per model with its facts, parameters and loss
/// chart, then the validation average precision of all models.
pub(super) fn training_section(models: &[&Model<'_>]) -> Result<String> {
    let mut html = String::from(
        "<section id=\"training\">\n<h2>Training</h2>\n<p class=\"note\">Loss per epoch on the \
         training rows (dashed) and the validation split (solid). Early stopping keeps the \
         weights of the epoch with the best validation average precision, marked by the grey \
         line and the dot.</p>\n<div class=\"grid\">\n",
    );
    for model in models {
        html.push_str("<article>\n");
        html.push_str(&format!(
            "<h3>{} <span class=\"badge plain\">{}</span></h3>\n",
            model_label(model.name, model.color),
            escape(&model.training.model_kind)
        ));
        html.push_str(&training_facts(model));
        html.push_str(&charts::loss_chart(model)?);
        html.push_str(&parameters(model.params));
        html.push_str("</article>\n");
    }
    html.push_str("</div>\n");

    html.push_str("<figure class=\"wide\">\n");
    html.push_str(&charts::validation_ap_chart(models)?);
    html.push_str(
        "<figcaption>Validation average precision per epoch. The dot marks the epoch whose \
         weights were kept.</figcaption>\n</figure>\n</section>\n",
    );
    Ok(html)
}

/// Lists the training summary of a model and, for a sweep trial, its swept parameters.
fn training_facts(model: &Model<'_>) -> String {
    let training = &model.training;
    let stopping = if training.stopped_early { "stopped early" } else { "ran all epochs" };
    let seconds: f64 = model.history.iter().map(|epoch| epoch.seconds).sum();
    let facts = [
        ("kept epoch", format!("{} of {} ({stopping})", training.best_epoch, training.epochs_run)),
        ("best validation AP", format::metric(training.best_validation_ap)),
        ("training rows", format::count(training.training_rows)),
        ("parameters", format::count(training.parameters)),
        ("device", training.device.clone()),
        ("training time", format::duration(seconds)),
    ];
    let mut html = String::from("<dl class=\"facts\">\n");
    for (name, value) in facts {
        html.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(name), escape(&value)));
    }
    for (path, value) in model.varied {
        html.push_str(&format!(
            "<dt>{}</dt><dd class=\"mono\">{}</dd>\n",
            escape(path),
            escape(&parameter_text(Some(value)))
        ));
    }
    html.push_str("</dl>\n");
    html
}

/// Builds the table of the train stage's parameters, nested keys joined with dots.
fn parameters(params: &Value) -> String {
    let mut rows = Vec::new();
    flatten_parameters("", params, &mut rows);
    if rows.is_empty() {
        return "<p class=\"note\">No parameters recorded.</p>\n".to_string();
    }
    let mut html = format!(
        "<details open>\n<summary>Train stage parameters ({})</summary>\n<table class=\"params\">\n<tbody>\n",
        rows.len()
    );
    for (key, value) in rows {
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"mono\">{}</td></tr>\n",
            escape(&key),
            escape(&value)
        ));
    }
    html.push_str("</tbody>\n</table>\n</details>\n");
    html
}

/// Appends one (key, value) row per leaf of `value`. Arrays are kept whole as compact JSON.
fn flatten_parameters(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_parameters(&path, child, rows);
            }
        }
        Value::Null if prefix.is_empty() => {}
        Value::String(text) => rows.push((prefix.to_string(), text.clone())),
        other => {
            let key = if prefix.is_empty() { "value".to_string() } else { prefix.to_string() };
            rows.push((key, other.to_string()));
        }
    }
}

/// Builds the section with the ROC and precision-recall charts of all models.
pub(super) fn curves_section(models: &[&Model<'_>]) -> Result<String> {
    let test = &models[0].evaluation.test;
    let positive_rate = positive_rate(models);
    if models.iter().any(|model| model.evaluation.test.rows != test.rows) {
        tracing::warn!("models were evaluated on test splits of different sizes");
    }

    let mut html = String::from(
        "<section id=\"curves\">\n<h2>ROC and precision-recall curves</h2>\n<p class=\"note\">Test \
         split. The dot on each curve is the model's operating point at its validation-chosen \
         threshold.</p>\n<div class=\"grid\">\n",
    );
    html.push_str("<figure>\n");
    html.push_str(&charts::roc_chart(models)?);
    html.push_str(
        "<figcaption>ROC curves. The dashed diagonal is a random ranking.</figcaption>\n</figure>\n",
    );
    html.push_str("<figure>\n");
    html.push_str(&charts::pr_chart(models, positive_rate)?);
    html.push_str(&format!(
        "<figcaption>Precision-recall curves. The dashed line is the positive rate, {}, which \
         is the precision of a random ranking.</figcaption>\n</figure>\n",
        format::percent(test.positives, test.rows)
    ));
    html.push_str("</div>\n</section>\n");
    Ok(html)
}

/// Returns the share of anomalies in the test split of the first model, or NaN when there
/// are no models or no test rows.
pub(super) fn positive_rate(models: &[&Model<'_>]) -> f64 {
    match models.first() {
        Some(model) if model.evaluation.test.rows > 0 => {
            let test = &model.evaluation.test;
            test.positives as f64 / test.rows as f64
        }
        _ => f64::NAN,
    }
}

/// Builds the section with one score histogram per model.
pub(super) fn scores_section(models: &[&Model<'_>]) -> Result<String> {
    let mut html = String::from(
        "<section id=\"scores\">\n<h2>Score distributions</h2>\n<p class=\"note\">Test scores of \
         normal (grey) and anomalous rows. Each class is normalised to sum to 100%, so the rare \
         anomaly class is as visible as the normal one. The dashed line is the threshold chosen \
         on the validation split, and rows at or above it are flagged.</p>\n<div class=\"grid\">\n",
    );
    for model in models {
        let evaluation = &model.evaluation;
        let threshold = evaluation.threshold.value;
        let histogram = ScoreHistogram::new(&model.test_scores, threshold, &evaluation.score, BINS);
        let svg =
            histogram_chart(model.name, &histogram, threshold, &evaluation.score, model.color)?;

        let mut caption = format!("{BINS} bins");
        if histogram.log_scale {
            caption.push_str(
                ", log-spaced on a log x-axis because the scores are heavy-tailed and span \
                 at least a factor of ten",
            );
        }
        caption.push('.');
        if histogram.non_finite > 0 {
            caption.push_str(&format!(
                " {} scores that are NaN or infinite are left out.",
                format::count(histogram.non_finite as u64)
            ));
        }
        html.push_str(&format!(
            "<figure>\n<h3>{}</h3>\n{svg}<figcaption>{}</figcaption>\n</figure>\n",
            model_label(model.name, model.color),
            escape(&caption)
        ));
    }
    html.push_str("</div>\n</section>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_flatten_with_dots() {
        let params = serde_json::json!({
            "epochs": 30,
            "model": {"hidden": [64, 32], "dropout": 0.1},
            "optimizer": "adamw",
            "seed": null,
        });
        let mut rows = Vec::new();
        flatten_parameters("", &params, &mut rows);
        let expected = [
            ("epochs", "30"),
            ("model.dropout", "0.1"),
            ("model.hidden", "[64,32]"),
            ("optimizer", "adamw"),
            ("seed", "null"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn parameters_escape_values() {
        let html = parameters(&serde_json::json!({"note": "<b>&"}));
        assert!(html.contains("&lt;b&gt;&amp;"), "{html}");
        assert!(!html.contains("<b>&"), "{html}");
    }

    #[test]
    fn scalar_and_null_parameters() {
        let mut rows = Vec::new();
        flatten_parameters("", &Value::Null, &mut rows);
        assert!(rows.is_empty());
        flatten_parameters("", &serde_json::json!(3), &mut rows);
        assert_eq!(rows, vec![("value".to_string(), "3".to_string())]);
    }
}
