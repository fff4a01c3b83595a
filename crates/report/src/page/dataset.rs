//! The dataset section: the ingested file, its columns and labels, and the preprocessing
//! (splits, dropped columns, imputed values).

use std::collections::BTreeSet;

use common::{DatasetSummary, LabelCounts, PreprocessSummary, SPLITS};

use super::escape;
use crate::format;

/// Builds the dataset and preprocessing section.
pub(super) fn section(dataset: &DatasetSummary, preprocess: &PreprocessSummary) -> String {
    let mut html = String::from("<section id=\"dataset\">\n<h2>Dataset</h2>\n");
    html.push_str(&tiles(dataset));
    html.push_str(&facts(dataset));
    html.push_str(&columns(dataset));
    html.push_str(&preprocessing(preprocess));
    html.push_str("</section>\n");
    html
}

fn tiles(dataset: &DatasetSummary) -> String {
    let labels = dataset.label_counts;
    let labelled = labels.normal + labels.anomaly;
    let tiles = [
        ("rows", format::count(dataset.rows)),
        ("normal rows", format::count(labels.normal)),
        ("anomalies", format::count(labels.anomaly)),
        ("anomaly rate", format::percent(labels.anomaly, labelled)),
        ("duplicate rows", format::count(dataset.duplicate_rows)),
        ("columns", format::count(dataset.columns.len() as u64)),
    ];
    let mut html = String::from("<div class=\"tiles\">\n");
    for (label, value) in tiles {
        html.push_str(&format!(
            "<div class=\"tile\"><span class=\"value\">{}</span><span class=\"label\">{}</span></div>\n",
            escape(&value),
            escape(label)
        ));
    }
    html.push_str("</div>\n");
    html
}

fn facts(dataset: &DatasetSummary) -> String {
    let name = match &dataset.dataset {
        Some(name) => escape(name),
        None => "<span class=\"note\">not from the registry</span>".to_string(),
    };
    let label_values: Vec<String> = dataset
        .label_values
        .iter()
        .map(|(value, count)| {
            format!("<code>{}</code> ({})", escape(value), escape(&format::count(*count)))
        })
        .collect();

    let mut html = String::from("<dl class=\"facts\">\n");
    html.push_str(&format!("<dt>Dataset</dt><dd>{name}</dd>\n"));
    html.push_str(&format!(
        "<dt>Source file</dt><dd><code>{}</code></dd>\n",
        escape(&dataset.source)
    ));
    html.push_str(&format!(
        "<dt>sha256</dt><dd><code class=\"hash\">{}</code></dd>\n",
        escape(&dataset.sha256)
    ));
    html.push_str(&format!(
        "<dt>Label column</dt><dd><code>{}</code>, raw values {}</dd>\n",
        escape(&dataset.label_column),
        if label_values.is_empty() { "not recorded".to_string() } else { label_values.join(", ") }
    ));
    html.push_str("</dl>\n");
    html
}

/// Builds the columns table, collapsed, because a dataset can have hundreds of columns.
fn columns(dataset: &DatasetSummary) -> String {
    let with_nulls = dataset.columns.iter().filter(|column| column.nulls > 0).count();
    let mut html = format!(
        "<details>\n<summary>{} columns, {} with missing values</summary>\n",
        format::count(dataset.columns.len() as u64),
        format::count(with_nulls as u64)
    );
    html.push_str(
        "<div class=\"scroll\"><table class=\"columns-list\">\n<thead><tr><th>column</th>\
         <th>type</th><th class=\"num\">missing</th><th class=\"num\">missing share</th></tr>\
         </thead>\n<tbody>\n",
    );
    for column in &dataset.columns {
        let is_label = column.name == dataset.label_column;
        html.push_str(&format!(
            "<tr{}><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            if is_label { " class=\"label-column\"" } else { "" },
            escape(&column.name),
            if is_label { " <span class=\"badge plain\">label</span>" } else { "" },
            escape(&column.kind),
            format::count(column.nulls),
            format::percent(column.nulls, dataset.rows),
        ));
    }
    html.push_str("</tbody>\n</table></div>\n</details>\n");
    html
}

fn preprocessing(preprocess: &PreprocessSummary) -> String {
    let dropped = if preprocess.dropped.is_empty() {
        "none".to_string()
    } else {
        let names: Vec<String> = preprocess
            .dropped
            .iter()
            .map(|name| format!("<code>{}</code>", escape(name)))
            .collect();
        names.join(", ")
    };

    let mut html = String::from("<h3>Preprocessing</h3>\n<dl class=\"facts\">\n");
    html.push_str(&format!(
        "<dt>Split method</dt><dd><code>{}</code></dd>\n",
        escape(&preprocess.split_method)
    ));
    html.push_str(&format!(
        "<dt>Features</dt><dd>{}</dd>\n",
        format::count(preprocess.features.len() as u64)
    ));
    html.push_str(&format!("<dt>Dropped columns</dt><dd>{dropped}</dd>\n"));
    if preprocess.deduplicated > 0 {
        html.push_str(&format!(
            "<dt>Duplicates removed</dt><dd>{} rows repeating an earlier row, before splitting</dd>\n",
            format::count(preprocess.deduplicated)
        ));
    }
    if !preprocess.duplicates_of_training.is_empty() {
        let counts: Vec<String> = preprocess
            .duplicates_of_training
            .iter()
            .map(|(split, rows)| format!("{} {split}", format::count(*rows)))
            .collect();
        html.push_str(&format!(
            "<dt>Repeats of training rows</dt><dd>{} rows (features equal to a training row's)</dd>\n",
            counts.join(", ")
        ));
    }
    html.push_str("</dl>\n<div class=\"row\">\n");
    html.push_str(&split_table(preprocess));
    html.push_str(&imputed_table(preprocess));
    html.push_str("</div>\n");
    html
}

/// Returns the split names in report order: train, validation, test, then any others.
fn ordered_splits<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let present: BTreeSet<&str> = names.map(String::as_str).collect();
    let mut ordered: Vec<&str> =
        SPLITS.iter().copied().filter(|split| present.contains(split)).collect();
    ordered.extend(present.iter().copied().filter(|split| !SPLITS.contains(split)));
    ordered
}

fn split_table(preprocess: &PreprocessSummary) -> String {
    let mut html = String::from(
        "<table>\n<thead><tr><th>split</th><th class=\"num\">rows</th>\
         <th class=\"num\">anomalies</th><th class=\"num\">anomaly rate</th></tr></thead>\n<tbody>\n",
    );
    for split in ordered_splits(preprocess.splits.keys()) {
        let LabelCounts { normal, anomaly } = preprocess.splits[split];
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            escape(split),
            format::count(normal + anomaly),
            format::count(anomaly),
            format::percent(anomaly, normal + anomaly),
        ));
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

/// Builds the imputed-values table: one row per column, one count column per split.
fn imputed_table(preprocess: &PreprocessSummary) -> String {
    let splits = ordered_splits(preprocess.imputed.keys());
    let columns: BTreeSet<&str> =
        preprocess.imputed.values().flat_map(|counts| counts.keys().map(String::as_str)).collect();
    if columns.is_empty() {
        return "<p class=\"note\">No values were imputed, because no feature had missing values.</p>\n"
            .to_string();
    }

    let mut html =
        String::from("<div>\n<table>\n<thead><tr><th>imputed with the training median</th>");
    for split in &splits {
        html.push_str(&format!("<th class=\"num\">{}</th>", escape(split)));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for column in columns {
        html.push_str(&format!("<tr><td><code>{}</code></td>", escape(column)));
        for split in &splits {
            let count = preprocess.imputed[*split].get(column).copied().unwrap_or(0);
            html.push_str(&format!("<td class=\"num\">{}</td>", format::count(count)));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_follow_pipeline_order() {
        let names: Vec<String> =
            ["test", "holdout", "train", "validation"].iter().map(|s| s.to_string()).collect();
        assert_eq!(ordered_splits(names.iter()), vec!["train", "validation", "test", "holdout"]);
    }
}
