//! The metrics tables (test and validation, one row per model) and the confusion matrices.
//!
//! Both tables mark the model with the highest validation average precision as best. The
//! test table reports that model's test metrics but never takes part in choosing it.

use common::{Confusion, Metrics, Threshold};

use super::{escape, model_label};
use crate::artifacts::Model;
use crate::format;

/// Builds the metrics section: the test table, the validation table and their notes.
pub(super) fn metrics_section(models: &[&Model<'_>]) -> String {
    let test_k: Vec<u64> = models.iter().map(|model| model.evaluation.test.positives).collect();
    let k_note = match test_k.first() {
        Some(k) if test_k.iter().all(|other| other == k) => {
            format!(" (k = {} on the test split)", format::count(*k))
        }
        _ => String::new(),
    };

    let mut html = String::from("<section id=\"metrics\">\n<h2>Metrics</h2>\n");
    html.push_str(
        "<p class=\"note\">Each model's decision threshold was chosen on the validation split \
         and applied unchanged to the test split. Average precision is the headline metric, \
         because with rare anomalies it shows how many of the top-ranked rows are real \
         anomalies, while ROC-AUC stays high even for a model whose alerts are mostly false.</p>\n",
    );
    html.push_str(
        "<p class=\"note selection\">Models and trials are chosen by validation average \
         precision (the one marked best and, in a sweep, the trials shown \
         here), and the test metrics are reported for them without taking part \
         in the choice.</p>\n",
    );
    html.push_str("<h3>Test split</h3>\n");
    html.push_str(&metrics_table(models, Split::Test));
    html.push_str(&format!(
        "<p class=\"note\">Precision at k is the precision among the k highest scores, with k \
         the number of anomalies in the split{k_note}. Recall at 1% FPR is the highest recall \
         reached while flagging at most 1% of the normal rows.</p>\n"
    ));
    html.push_str("<h3>Validation split</h3>\n");
    html.push_str(&metrics_table(models, Split::Validation));
    html.push_str("</section>\n");
    html
}

/// The split a metrics table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Validation,
    Test,
}

impl Split {
    fn metrics<'m>(self, model: &'m Model<'_>) -> &'m Metrics {
        match self {
            Split::Validation => &model.evaluation.validation,
            Split::Test => &model.evaluation.test,
        }
    }
}

/// Returns the highest finite validation average precision, or negative infinity when no
/// model has one.
fn best_validation_ap(models: &[&Model<'_>]) -> f64 {
    models
        .iter()
        .map(|model| model.validation_ap())
        .filter(|ap| ap.is_finite())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Builds one metrics table. The test table is the primary one and also shows the threshold.
/// The validation table is set in a smaller font. In both, the average precision of the models
/// with the highest validation average precision is marked best.
fn metrics_table(models: &[&Model<'_>], split: Split) -> String {
    let primary = split == Split::Test;
    let best_ap = best_validation_ap(models);
    let mark_best = models.len() > 1;

    let mut html = format!(
        "<table class=\"{}\">\n<thead><tr><th>model</th><th class=\"num\">rows</th>\
         <th class=\"num\">anomalies</th><th class=\"num nowrap\">ROC-AUC</th>\
         <th class=\"num\">average precision</th><th class=\"num\">precision</th>\
         <th class=\"num\">recall</th><th class=\"num\">F1</th>\
         <th class=\"num\">precision at k</th><th class=\"num\">recall at 1% FPR</th>",
        if primary { "metrics" } else { "metrics secondary" }
    );
    if primary {
        html.push_str("<th class=\"num\">threshold</th><th>threshold rule</th>");
    }
    html.push_str("</tr></thead>\n<tbody>\n");

    for model in models {
        let metrics = split.metrics(model);
        let is_best = mark_best && model.validation_ap() == best_ap;
        let ap_cell = if is_best {
            format!(
                "<td class=\"num best\">{}<span class=\"badge\">best</span></td>",
                format::metric(metrics.average_precision)
            )
        } else {
            format!("<td class=\"num\">{}</td>", format::metric(metrics.average_precision))
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td>{ap_cell}<td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            model_label(model.name, model.color),
            format::count(metrics.rows),
            format::count(metrics.positives),
            format::metric(metrics.roc_auc),
            format::metric(metrics.precision),
            format::metric(metrics.recall),
            format::metric(metrics.f1),
            format::metric(metrics.precision_at_k),
            format::metric(metrics.recall_at_1pct_fpr),
        ));
        if primary {
            let threshold = &model.evaluation.threshold;
            html.push_str(&format!(
                "<td class=\"num mono\">{}</td><td>{}</td>",
                escape(&format::significant(threshold.value, 4)),
                escape(&threshold_rule(threshold))
            ));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

/// Describes the rule that chose a threshold, such as `max F1` or `target recall 0.80`.
fn threshold_rule(threshold: &Threshold) -> String {
    match (threshold.rule.as_str(), threshold.target_recall) {
        ("max_f1", _) => "max F1".to_string(),
        ("target_recall", Some(target)) => {
            format!("target recall {target:.2}")
        }
        (rule, _) => rule.replace('_', " "),
    }
}

/// Builds the confusion-matrix section: one small table per model, on the test split.
pub(super) fn confusion_section(models: &[&Model<'_>]) -> String {
    let mut html = String::from(
        "<section id=\"confusion\">\n<h2>Confusion matrices</h2>\n<p class=\"note\">Test \
         split, at each model's validation-chosen threshold. The rate under each count is the \
         share of the actual class (the row).</p>\n<div class=\"cards\">\n",
    );
    for model in models {
        html.push_str("<article>\n");
        html.push_str(&format!("<h3>{}</h3>\n", model_label(model.name, model.color)));
        html.push_str(&confusion_table(model.evaluation.test.confusion));
        html.push_str(&format!(
            "<p class=\"note\">{}</p>\n",
            escape(&flagged_summary(model.evaluation.test.confusion))
        ));
        html.push_str("</article>\n");
    }
    html.push_str("</div>\n</section>\n");
    html
}

fn confusion_table(confusion: Confusion) -> String {
    let Confusion { tp, fp, tn, fn_ } = confusion;
    let normal = tn + fp;
    let anomaly = tp + fn_;
    let cell = |class: &str, count: u64, total: u64, name: &str| {
        format!(
            "<td class=\"{class}\"><span class=\"count\">{}</span><span class=\"rate\">{name} · {}</span></td>",
            format::count(count),
            format::percent(count, total)
        )
    };
    format!(
        "<table class=\"confusion\">\n<thead><tr><th></th><th>predicted normal</th>\
         <th>predicted anomaly</th></tr></thead>\n<tbody>\n\
         <tr><th>actual normal<br>{}</th>{}{}</tr>\n\
         <tr><th>actual anomaly<br>{}</th>{}{}</tr>\n</tbody>\n</table>\n",
        format::count(normal),
        cell("correct", tn, normal, "TN"),
        cell("wrong", fp, normal, "FP"),
        format::count(anomaly),
        cell("wrong", fn_, anomaly, "FN"),
        cell("correct", tp, anomaly, "TP"),
    )
}

/// Describes what the flagged rows contain, in words.
fn flagged_summary(confusion: Confusion) -> String {
    let flagged = confusion.tp + confusion.fp;
    let anomalies = confusion.tp + confusion.fn_;
    if flagged == 0 {
        return format!(
            "No test row was flagged, so all {} anomalies were missed.",
            format::count(anomalies)
        );
    }
    format!(
        "{} rows flagged, of which {} are anomalies ({} precision). {} of {} anomalies caught.",
        format::count(flagged),
        format::count(confusion.tp),
        format::percent(confusion.tp, flagged),
        format::count(confusion.tp),
        format::count(anomalies),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_rates_are_per_actual_class() {
        // Of 910 normal rows, 895 are TN (98.4%) and 15 FP (1.65%).
        // Of 90 anomalies, 72 are TP (80.0%) and 18 FN (20.0%).
        let html = confusion_table(Confusion { tp: 72, fp: 15, tn: 895, fn_: 18 });
        assert!(html.contains("895</span><span class=\"rate\">TN · 98.4%"), "{html}");
        assert!(html.contains("15</span><span class=\"rate\">FP · 1.65%"), "{html}");
        assert!(html.contains("18</span><span class=\"rate\">FN · 20.0%"), "{html}");
        assert!(html.contains("72</span><span class=\"rate\">TP · 80.0%"), "{html}");
    }

    #[test]
    fn flagged_summary_counts() {
        let summary = flagged_summary(Confusion { tp: 72, fp: 15, tn: 895, fn_: 18 });
        assert_eq!(
            summary,
            "87 rows flagged, of which 72 are anomalies (82.8% precision). 72 of 90 anomalies caught."
        );
        let none = flagged_summary(Confusion { tp: 0, fp: 0, tn: 10, fn_: 3 });
        assert_eq!(none, "No test row was flagged, so all 3 anomalies were missed.");
    }

    #[test]
    fn threshold_rule_names() {
        let rule =
            |rule: &str, target| Threshold { value: 0.5, rule: rule.into(), target_recall: target };
        assert_eq!(threshold_rule(&rule("max_f1", None)), "max F1");
        assert_eq!(threshold_rule(&rule("target_recall", Some(0.8))), "target recall 0.80");
        assert_eq!(threshold_rule(&rule("fixed_value", None)), "fixed value");
    }
}
