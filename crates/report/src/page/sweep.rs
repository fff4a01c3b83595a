//! The sweep section: every trial ranked by validation average precision, and the failed
//! trials. Its charts show test average precision against each varied parameter, the test
//! precision-recall curves of the best trials and the validation loss of every trial by stage.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{escape, figures::positive_rate, model_label};
use crate::artifacts::Model;
use crate::charts::{self, model_color, sweep::parameter_chart, sweep::stage_loss_chart};
use crate::sweep::{CURVES_TOP, DETAIL_TOP, ParameterPoints, Sweep, failed_stage, parameter_text};
use crate::{Result, format};

/// Trials in the ranked table before the rest move into a collapsed `<details>` element.
pub(crate) const TABLE_TOP: usize = 50;

/// Builds the sweep section.
pub(super) fn section(sweep: &Sweep<'_, '_>) -> Result<String> {
    let mut html = String::from("<section id=\"sweep\">\n<h2>Sweep</h2>\n");
    html.push_str(&summary(sweep));
    html.push_str(&ranked_tables(sweep));
    html.push_str(&failed_table(sweep));
    if sweep.ranked.is_empty() {
        html.push_str("</section>\n");
        return Ok(html);
    }

    html.push_str(&parameter_figures(sweep)?);
    html.push_str(&curve_figures(sweep)?);
    html.push_str("</section>\n");
    Ok(html)
}

/// Describes the sweep in words: trials per stage, failures, the ranking and which trials the
/// other sections show.
fn summary(sweep: &Sweep<'_, '_>) -> String {
    let stages: Vec<String> = sweep
        .stages
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            let trained = sweep.ranked.iter().filter(|model| model.stage == *stage).count();
            let failed = sweep.failed.iter().filter(|trial| failed_stage(trial) == *stage).count();
            let mut text = format!(
                "<span class=\"model\"><span class=\"swatch\" style=\"background:{}\"></span>{}</span> \
                 {}",
                charts::css_color(model_color(index)),
                escape(stage),
                plural(trained + failed, "trial")
            );
            if failed > 0 {
                text.push_str(&format!(" ({failed} failed)"));
            }
            text
        })
        .collect();
    let mut html = format!(
        "<p class=\"note\">{} of {}: {}. The table ranks the trials that trained by \
         validation average precision and marks the first as best. The test metrics in the \
         other columns take no part in the ranking. The table shows only the parameters whose \
         value differs between trials.",
        plural(sweep.ranked.len() + sweep.failed.len(), "trial"),
        plural(sweep.stages.len(), "stage"),
        stages.join(", "),
    );
    if !sweep.failed.is_empty() {
        html.push_str(" Failed trials follow the ranked ones, with the reason they failed.");
    }
    html.push_str("</p>\n");

    if !sweep.detail.is_empty() {
        html.push_str(&format!(
            "<p class=\"note\">The sections after this one show {} in detail, marked \
             <span class=\"badge plain\">detail</span> in the table: {}.</p>\n",
            detail_description(sweep),
            detail_names(sweep)
        ));
    }
    html
}

/// Returns which trials the per-model sections show, such as "4 of 12 trials (the best
/// trial of each stage and the overall top 3 by validation average precision)".
pub(super) fn detail_description(sweep: &Sweep<'_, '_>) -> String {
    format!(
        "{} of {} (the best trial of each stage and the overall top {DETAIL_TOP} by validation \
         average precision)",
        sweep.detail.len(),
        plural(sweep.ranked.len(), "trained trial")
    )
}

/// Returns the names of the trials that the per-model sections show, coloured and escaped.
pub(super) fn detail_names(sweep: &Sweep<'_, '_>) -> String {
    let names: Vec<String> =
        sweep.detail.iter().map(|model| model_label(model.name, model.color)).collect();
    names.join(", ")
}

fn plural(count: usize, noun: &str) -> String {
    let count_text = format::count(count as u64);
    if count == 1 { format!("{count_text} {noun}") } else { format!("{count_text} {noun}s") }
}

/// Builds the ranked table of the best [`TABLE_TOP`] trials, and the remaining trials in a
/// collapsed table below it.
fn ranked_tables(sweep: &Sweep<'_, '_>) -> String {
    if sweep.ranked.is_empty() {
        return "<p class=\"note\">No trial trained, so there is nothing to rank.</p>\n"
            .to_string();
    }
    let visible_rows = sweep.ranked.len().min(TABLE_TOP);
    let mut html = ranked_table(sweep, 0..visible_rows);
    if sweep.ranked.len() > visible_rows {
        let rest = sweep.ranked.len() - visible_rows;
        html.push_str(&format!(
            "<details class=\"more-trials\">\n<summary>Trials ranked {} to {} ({} more)</summary>\n\
             <div class=\"scroll\">\n",
            visible_rows + 1,
            sweep.ranked.len(),
            format::count(rest as u64),
        ));
        html.push_str(&ranked_table(sweep, visible_rows..sweep.ranked.len()));
        html.push_str("</div>\n</details>\n");
    }
    html
}

fn ranked_table(sweep: &Sweep<'_, '_>, ranks: std::ops::Range<usize>) -> String {
    let with_stage = sweep.stages.len() > 1;
    let mut html = String::from(
        "<div class=\"table-wrap\">\n<table class=\"sweep\">\n<thead><tr><th class=\"num\">rank</th>\
         <th>trial</th>",
    );
    if with_stage {
        html.push_str("<th>stage</th>");
    }
    html.push_str(
        "<th class=\"num\">validation AP (ranked by)</th><th class=\"num\">test AP</th>\
         <th class=\"num\">test ROC-AUC</th><th class=\"num\">test F1</th>\
         <th class=\"num\">kept epoch / epochs</th><th class=\"num\">training time</th>",
    );
    html.push_str(&parameter_headers(sweep));
    html.push_str("</tr></thead>\n<tbody>\n");
    let best = sweep.best();
    for rank in ranks {
        let model = sweep.ranked[rank];
        let is_best = best.is_some_and(|best| std::ptr::eq(best, model));
        let in_detail = sweep.detail.iter().any(|detail| std::ptr::eq(*detail, model));
        html.push_str(&trial_row(sweep, rank + 1, model, is_best, in_detail, with_stage));
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    html
}

fn parameter_headers(sweep: &Sweep<'_, '_>) -> String {
    // A line break may follow each dot, so that long paths wrap at their parts.
    let header = |path: &str| escape(path).replace('.', ".<wbr>");
    sweep.varied.iter().map(|path| format!("<th class=\"param\">{}</th>", header(path))).collect()
}

fn parameter_cells(sweep: &Sweep<'_, '_>, varied: &BTreeMap<String, Value>) -> String {
    sweep
        .varied
        .iter()
        .map(|path| {
            format!("<td class=\"mono\">{}</td>", escape(&parameter_text(varied.get(path))))
        })
        .collect()
}

fn trial_row(
    sweep: &Sweep<'_, '_>,
    rank: usize,
    model: &Model<'_>,
    is_best: bool,
    in_detail: bool,
    with_stage: bool,
) -> String {
    let test = &model.evaluation.test;
    let mut name = model_label(model.name, model.color);
    if in_detail {
        name.push_str("<span class=\"badge plain\">detail</span>");
    }
    let mut html = format!(
        "<tr{}><td class=\"num\">{rank}</td><td class=\"nowrap\">{name}</td>",
        if is_best { " class=\"best-trial\"" } else { "" }
    );
    if with_stage {
        html.push_str(&format!("<td>{}</td>", escape(model.stage)));
    }

    let validation_ap = format::metric(model.validation_ap());
    let validation_cell = if is_best {
        format!("<td class=\"num best\">{validation_ap}<span class=\"badge\">best</span></td>")
    } else {
        format!("<td class=\"num\">{validation_ap}</td>")
    };
    let training = &model.training;
    let seconds: f64 = model.history.iter().map(|epoch| epoch.seconds).sum();
    html.push_str(&format!(
        "{validation_cell}<td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{}</td>",
        format::metric(test.average_precision),
        format::metric(test.roc_auc),
        format::metric(test.f1),
        training.best_epoch,
        training.epochs_run,
        format::duration(seconds),
    ));
    html.push_str(&parameter_cells(sweep, model.varied));
    html.push_str("</tr>\n");
    html
}

/// Builds the table of the failed trials with their parameters and reasons.
fn failed_table(sweep: &Sweep<'_, '_>) -> String {
    if sweep.failed.is_empty() {
        return String::new();
    }
    let with_stage = sweep.stages.len() > 1;
    let mut html = format!("<h3>Failed trials ({})</h3>\n", sweep.failed.len());
    html.push_str(
        "<div class=\"table-wrap\">\n<table class=\"sweep failed\">\n<thead><tr><th>trial</th>",
    );
    if with_stage {
        html.push_str("<th>stage</th>");
    }
    html.push_str("<th>reason</th>");
    html.push_str(&parameter_headers(sweep));
    html.push_str("</tr></thead>\n<tbody>\n");
    for trial in sweep.failed {
        let stage = failed_stage(trial);
        html.push_str(&format!("<tr><td class=\"nowrap\">{}</td>", escape(&trial.name)));
        if with_stage {
            html.push_str(&format!("<td>{}</td>", escape(stage)));
        }
        html.push_str(&format!("<td class=\"reason\">{}</td>", escape(&trial.reason)));
        html.push_str(&parameter_cells(sweep, &trial.varied));
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    html
}

/// Builds one chart of test average precision per varied parameter.
fn parameter_figures(sweep: &Sweep<'_, '_>) -> Result<String> {
    if sweep.varied.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from(
        "<h3>Test average precision by parameter</h3>\n<p class=\"note\">One dot per trial that \
         trained, coloured by stage. The ring marks the best trial by validation average \
         precision. A numeric parameter whose positive values span more than 20 times is drawn \
         on a log axis. Other values get one \
         slot per category, with the dots spread sideways so that equal values stay \
         visible.</p>\n",
    );
    html.push_str(&stage_legend(sweep));
    html.push_str("<div class=\"grid\">\n");
    let trained_stages =
        sweep.stages.iter().filter(|stage| !sweep.stage_trials(stage).is_empty()).count();
    for path in &sweep.varied {
        let parameter = ParameterPoints::new(sweep, path);
        html.push_str("<figure>\n");
        html.push_str(&format!("<h3 class=\"mono\">{}</h3>\n", escape(path)));
        html.push_str(&parameter_chart(path, &parameter, sweep.stages.len())?);
        let mut caption = Vec::new();
        if parameter.stages.len() < trained_stages {
            let names: Vec<String> =
                parameter.stages.iter().map(|&stage| escape(sweep.stages[stage])).collect();
            caption.push(format!("Only the trials of {} set this parameter.", names.join(", ")));
        }
        if parameter.left_out > 0 {
            caption.push(format!(
                "{} of {} without this parameter or without a finite average precision \
                 are left out.",
                plural(parameter.left_out, "trial"),
                if parameter.stages.len() == 1 { "this stage" } else { "these stages" }
            ));
        }
        if !caption.is_empty() {
            html.push_str(&format!("<figcaption>{}</figcaption>\n", caption.join(" ")));
        }
        html.push_str("</figure>\n");
    }
    html.push_str("</div>\n");
    Ok(html)
}

/// Builds the legend of the parameter charts: each stage's colour and trial count, and the
/// ring of the best trial by validation average precision.
fn stage_legend(sweep: &Sweep<'_, '_>) -> String {
    let mut html = String::from("<p class=\"legend\">");
    for (index, stage) in sweep.stages.iter().enumerate() {
        let trained = sweep.ranked.iter().filter(|model| model.stage == *stage).count();
        if trained == 0 {
            continue;
        }
        html.push_str(&format!(
            "<span class=\"item\"><span class=\"dot\" style=\"background:{}\"></span>{} \
             ({})</span>",
            charts::css_color(model_color(index)),
            escape(stage),
            plural(trained, "trial")
        ));
    }
    if let Some(best) = sweep.best() {
        html.push_str(&format!(
            "<span class=\"item\"><span class=\"ring\"></span>best trial by validation AP, \
             {}</span>",
            escape(best.name)
        ));
    }
    html.push_str("</p>\n");
    html
}

/// Builds the test precision-recall curves of the best trials by validation average
/// precision and one validation-loss chart per stage.
fn curve_figures(sweep: &Sweep<'_, '_>) -> Result<String> {
    let top: Vec<&Model<'_>> = sweep.ranked.iter().take(CURVES_TOP).copied().collect();
    let rate = positive_rate(&top);
    let mut html = String::from("<h3>Curves</h3>\n<div class=\"grid\">\n<figure>\n");
    html.push_str(&charts::pr_chart(&top, rate)?);
    html.push_str(&format!(
        "<figcaption>Test precision-recall curves of the {} with the highest validation \
         average precision. The dot is each trial's operating point at its validation-chosen \
         threshold, and the dashed line is the positive rate, {}.</figcaption>\n</figure>\n",
        plural(top.len(), "trial"),
        format::percent_of_fraction(rate),
    ));

    for (index, stage) in sweep.stages.iter().enumerate() {
        let trials = sweep.stage_trials(stage);
        if trials.is_empty() {
            continue;
        }
        html.push_str(&format!(
            "<figure>\n<h3><span class=\"model\"><span class=\"swatch\" \
             style=\"background:{}\"></span>{}</span></h3>\n",
            charts::css_color(model_color(index)),
            escape(stage)
        ));
        html.push_str(&stage_loss_chart(stage, &trials, model_color(index))?);
        html.push_str(&format!(
            "<figcaption>Validation loss per epoch of the {} of stage {} that trained. The \
             thick line is the stage's best trial by validation average precision, labelled with \
             its test average precision, and its dot the kept epoch.</figcaption>\n</figure>\n",
            plural(trials.len(), "trial"),
            escape(stage)
        ));
    }
    html.push_str("</div>\n");
    Ok(html)
}
