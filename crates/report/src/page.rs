//! The HTML page: the document, its style sheet, the header and the escaping helpers. The
//! dataset section, the per-model sections and the sweep section are built in the submodules.
//! For a sweep, the per-model sections show only the trials that [`Sweep::detail`] selects.
//!
//! Every piece of text that comes from an artifact or the experiment file goes through
//! [`escape`] before it is inserted. The page links to nothing outside itself: the only
//! `href` attributes are the navigation's in-page anchors.

mod dataset;
mod figures;
mod metrics;
mod sweep;

use plotters::style::RGBColor;

use crate::artifacts::{Model, Run};
use crate::charts::css_color;
use crate::sweep::Sweep;
use crate::{Result, VERSION, format};

/// Builds the whole page for `run`.
pub(crate) fn render(run: &Run<'_>) -> Result<String> {
    let sweep = run.is_sweep.then(|| Sweep::new(&run.models, run.failed));
    let all_models: Vec<&Model<'_>> = run.models.iter().collect();
    let detail_models =
        sweep.as_ref().map_or(all_models.as_slice(), |sweep| sweep.detail.as_slice());
    let detail_note = sweep.as_ref().map(|sweep| {
        format!(
            "<p class=\"note detail\">Sweep: this section shows {}: {}. The \
             <a href=\"#sweep\">sweep section</a> ranks every trial.</p>\n",
            sweep::detail_description(sweep),
            sweep::detail_names(sweep)
        )
    });
    let with_note = |section: String| match &detail_note {
        Some(note) => insert_after_heading(section, note),
        None => section,
    };

    let mut body = String::new();
    body.push_str(&header(run, sweep.as_ref()));
    body.push_str(&navigation(!run.models.is_empty(), sweep.is_some()));
    body.push_str("<main class=\"wrap\">\n");
    body.push_str(&dataset::section(&run.dataset, &run.preprocess));
    if run.models.is_empty() {
        body.push_str(
            "<section id=\"models\">\n<h2>Models</h2>\n\
             <p class=\"note\">The experiment lists no trained models, so there are no metrics \
             or charts.</p>\n</section>\n",
        );
        if let Some(sweep) = &sweep {
            body.push_str(&sweep::section(sweep)?);
        }
    } else {
        body.push_str(&with_note(metrics::metrics_section(detail_models)));
        if let Some(sweep) = &sweep {
            body.push_str(&sweep::section(sweep)?);
        }
        body.push_str(&with_note(figures::training_section(detail_models)?));
        body.push_str(&with_note(figures::curves_section(detail_models)?));
        body.push_str(&with_note(figures::scores_section(detail_models)?));
        body.push_str(&with_note(metrics::confusion_section(detail_models)));
    }
    body.push_str("</main>\n");
    body.push_str(&format!(
        "<footer class=\"wrap\">Report stage version {VERSION}. Self-contained page: charts are \
         inline SVG drawn with plotters, and nothing is loaded from the network.</footer>\n"
    ));
    let style = if sweep.is_some() { format!("{STYLE}{SWEEP_STYLE}") } else { STYLE.to_string() };
    Ok(document(run.title, &style, &body))
}

/// Inserts `note` after the `<h2>` heading of `section`, or at its start when it has none.
fn insert_after_heading(mut section: String, note: &str) -> String {
    let position = section.find("</h2>\n").map_or(0, |end| end + "</h2>\n".len());
    section.insert_str(position, note);
    section
}

/// Wraps `body` in the HTML document with the style sheet `style`.
fn document(title: &str, style: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · anomaly-detection report</title>\n<style>\n{style}</style>\n</head>\n\
         <body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// Builds the dark page header: title, dataset line and the best model by validation average
/// precision with its test metrics. For a sweep the dataset line counts trials, stages and
/// failures in place of models.
fn header(run: &Run<'_>, sweep: Option<&Sweep<'_, '_>>) -> String {
    let dataset = &run.dataset;
    let name = dataset.dataset.as_deref().unwrap_or(&dataset.source);
    let labels = dataset.label_counts;
    let mut html = String::from("<header class=\"top\">\n<div class=\"wrap\">\n");
    html.push_str("<p class=\"eyebrow\">Anomaly-detection experiment report</p>\n");
    html.push_str(&format!("<h1>{}</h1>\n", escape(run.title)));

    let models = match sweep {
        Some(sweep) => {
            let trials = sweep.ranked.len() + sweep.failed.len();
            let stages = sweep.stages.len();
            format!(
                "{} trial{} of {stages} stage{} · {} failed",
                format::count(trials as u64),
                if trials == 1 { "" } else { "s" },
                if stages == 1 { "" } else { "s" },
                format::count(sweep.failed.len() as u64),
            )
        }
        None => {
            format!("{} model{}", run.models.len(), if run.models.len() == 1 { "" } else { "s" })
        }
    };
    html.push_str(&format!(
        "<p class=\"subtitle\">Dataset <strong>{}</strong> · {} rows · {} anomalies ({}) · \
         {models}</p>\n",
        escape(name),
        format::count(dataset.rows),
        format::count(labels.anomaly),
        format::percent(labels.anomaly, labels.normal + labels.anomaly),
    ));

    // A sweep names the trial ranked first, which for equal values is the first listed.
    let best = match sweep {
        Some(sweep) => sweep.best(),
        None => best_model(&run.models),
    };
    let best = best.filter(|model| model.validation_ap().is_finite());
    if let Some(best) = best {
        html.push_str(&format!(
            "<p class=\"headline\">Best {} by validation average precision: {} ({}) · its test \
             average precision <strong>{}</strong> (test ROC-AUC {})</p>\n",
            if sweep.is_some() { "trial" } else { "model" },
            model_label(best.name, best.color),
            format::metric(best.validation_ap()),
            format::metric(best.evaluation.test.average_precision),
            format::metric(best.evaluation.test.roc_auc),
        ));
    }

    html.push_str("</div>\n</header>\n");
    html
}

fn navigation(with_models: bool, with_sweep: bool) -> String {
    let mut links = vec![("dataset", "Dataset")];
    if with_sweep && !with_models {
        links.push(("sweep", "Sweep"));
    }
    if with_models {
        links.push(("metrics", "Metrics"));
        if with_sweep {
            links.push(("sweep", "Sweep"));
        }
        links.extend([
            ("training", "Training"),
            ("curves", "ROC and PR curves"),
            ("scores", "Score distributions"),
            ("confusion", "Confusion matrices"),
        ]);
    }
    let anchors: Vec<String> =
        links.iter().map(|(id, text)| format!("<a href=\"#{id}\">{text}</a>")).collect();
    format!("<nav><div class=\"wrap\">{}</div></nav>\n", anchors.join(""))
}

/// Returns the model with the highest finite validation average precision, the first listed
/// among equal values.
fn best_model<'a, 'b>(models: &'b [Model<'a>]) -> Option<&'b Model<'a>> {
    let finite = models.iter().filter(|model| model.validation_ap().is_finite());
    finite.fold(None, |best: Option<&'b Model<'a>>, model| match best {
        Some(best) if best.validation_ap() >= model.validation_ap() => Some(best),
        _ => Some(model),
    })
}

/// Returns a model's name, escaped, after a square in its chart colour.
fn model_label(name: &str, color: RGBColor) -> String {
    format!(
        "<span class=\"model\"><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
        css_color(color),
        escape(name)
    )
}

/// Escapes text for use in HTML element content and in quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

const STYLE: &str = r#":root {
  --text: #1d2330; --muted: #5b6475; --line: #e1e4ea; --page: #f3f4f7; --card: #ffffff;
  --head: #fafbfc; --good: #e6f4ea; --bad: #fdecea;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--page); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 28px; }
header.top { background: #1d2330; color: #fff; padding: 26px 0 22px; }
header.top h1 { margin: 2px 0 6px; font-size: 30px; font-weight: 650; letter-spacing: -0.01em; }
.eyebrow { margin: 0; font-size: 12px; letter-spacing: 0.08em; text-transform: uppercase; color: #a9b2c4; }
.subtitle, .headline { margin: 2px 0; color: #d3d8e2; }
.headline strong { color: #fff; }
nav { position: sticky; top: 0; z-index: 1; background: #fff; border-bottom: 1px solid var(--line); }
nav a { display: inline-block; padding: 10px 14px 9px 0; margin-right: 8px; color: var(--muted); text-decoration: none; font-weight: 500; }
nav a:hover { color: var(--text); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px 24px; margin: 22px 0; }
h2 { font-size: 21px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
article h3, figure h3 { margin-top: 0; }
p.note { color: var(--muted); font-size: 14px; max-width: 90ch; margin: 6px 0 12px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin: 6px 0 18px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: var(--head); }
.tile .value { display: block; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .label { display: block; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 13px; font-weight: 600; color: var(--muted); background: var(--head); }
.num { text-align: right; }
.nowrap, td.num { white-space: nowrap; }
.metrics td.num { font-size: 15px; }
table.secondary th, table.secondary td { padding: 4px 10px; font-size: 13px; }
td.best { font-weight: 700; }
.badge { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 4px; background: var(--good); color: #1b5e20; font-size: 11px; font-weight: 600; vertical-align: 1px; }
.badge.plain { background: #eef0f4; color: var(--muted); }
.model { white-space: nowrap; font-weight: 600; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 3px; margin-right: 7px; vertical-align: -1px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
.hash { word-break: break-all; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0 0 12px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
details { margin: 12px 0; }
summary { cursor: pointer; font-weight: 600; }
.scroll { max-height: 430px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; margin-top: 8px; display: inline-block; }
.scroll thead th { position: sticky; top: 0; }
.columns-list td:first-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.columns-list tr.label-column td { background: #fff8e1; }
.row { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 18px; }
figure, article { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; background: #fff; }
figure svg, article svg { display: block; width: 100%; height: auto; }
figcaption { font-size: 13.5px; color: var(--muted); margin-top: 6px; }
figure.wide { max-width: 600px; margin-top: 18px; }
table.params td { padding: 2px 10px 2px 0; border: 0; font-size: 13px; }
table.params td:first-child { color: var(--muted); }
table.confusion { margin: 4px 0 8px; }
table.confusion th, table.confusion td { text-align: center; padding: 8px 14px; border: 1px solid var(--line); }
table.confusion tbody th { text-align: right; background: var(--head); font-size: 13px; color: var(--muted); }
table.confusion td .count { display: block; font-size: 19px; font-weight: 600; }
table.confusion td .rate { display: block; font-size: 12px; color: var(--muted); }
table.confusion td.correct { background: var(--good); }
table.confusion td.wrong { background: var(--bad); }
footer { color: var(--muted); font-size: 12.5px; padding: 4px 28px 40px; }
"#;

/// Style rules that only a sweep's page needs, appended to [`STYLE`] so that other pages keep
/// their style sheet.
const SWEEP_STYLE: &str = r#"table.sweep th, table.sweep td { padding: 4px 10px; font-size: 13.5px; }
table.sweep th.param { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; font-weight: 600; }
table.sweep tr.best-trial td { background: #f1f8f3; }
table.sweep td.reason { color: #8a1c1c; min-width: 26ch; max-width: 60ch; }
table.sweep .badge.plain { margin-left: 6px; }
.table-wrap { max-width: 100%; overflow-x: auto; }
details.more-trials .scroll { display: block; max-width: 100%; }
details.more-trials .table-wrap { overflow: visible; }
p.note.detail { background: #f6f7fa; border-left: 3px solid #c3c8d2; padding: 6px 10px; max-width: none; }
figure h3.mono { font-size: 14px; }
p.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 14px; margin: 4px 0 12px; }
p.legend .dot, p.legend .ring { display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 6px; vertical-align: -1px; }
p.legend .ring { border: 2px solid #141414; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(
            escape("a < b && c > \"d\" 'e'"),
            "a &lt; b &amp;&amp; c &gt; &quot;d&quot; &#39;e&#39;"
        );
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
    }
}
