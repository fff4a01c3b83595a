//! End-to-end tests of the report stage: realistic artifacts are written to a temporary
//! directory, `report::run` turns them into `report.html`, and the page is checked.

mod support;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use support::{
    Kind, ModelSpec, RunSpec, check_balanced_tags, large_sweep, small_sweep, write_batch, write_run,
};

fn read_report(input: &report::ReportInput, out: &Path) -> String {
    let path = report::run(input, out).unwrap();
    assert_eq!(path, out.join("report.html"));
    assert!(path.is_file(), "{} was not written", path.display());
    std::fs::read_to_string(path).unwrap()
}

fn test_metrics(input: &report::ReportInput, model: usize) -> common::Metrics {
    common::read_json::<common::Evaluation>(&input.models[model].metrics).unwrap().test
}

fn validation_metrics(input: &report::ReportInput, model: usize) -> common::Metrics {
    common::read_json::<common::Evaluation>(&input.models[model].metrics).unwrap().validation
}

/// Returns the index of the model with the highest value of `ap`, the first among equal values.
fn best_by(input: &report::ReportInput, ap: impl Fn(usize) -> f64) -> usize {
    let mut best = 0;
    for index in 1..input.models.len() {
        if ap(index) > ap(best) {
            best = index;
        }
    }
    best
}

#[test]
fn report_has_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "credit card fraud", &RunSpec::default());
    let html = read_report(&input, &dir.path().join("report"));

    assert!(html.starts_with("<!DOCTYPE html>"));
    check_balanced_tags(&html).unwrap();
    for id in ["dataset", "metrics", "training", "curves", "scores", "confusion"] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "section `{id}` is missing");
    }
    // Per model a loss chart and a histogram, then validation AP, ROC and precision-recall.
    assert_eq!(html.matches("<svg").count(), 2 * 2 + 3);
    assert_eq!(html.matches("</svg>").count(), 2 * 2 + 3);
    assert_eq!(html.matches("<table class=\"confusion\">").count(), 2);
    assert!(html.contains("chosen on the validation split"));
    assert!(html.contains("Average precision is the headline metric"));
}

#[test]
fn report_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "self-contained", &RunSpec::default());
    let html = read_report(&input, &dir.path().join("report"));

    for attribute in ["src=", "href="] {
        for (position, _) in html.match_indices(attribute) {
            let value = &html[position + attribute.len()..];
            let value = value.trim_start_matches(['"', '\'']);
            assert!(
                value.starts_with('#'),
                "`{attribute}` links outside the page: {}",
                &value[..60.min(value.len())]
            );
        }
    }
    assert!(!html.contains("<script"), "the page must work without JavaScript");
    assert!(!html.contains("<link"), "the page must not load style sheets");
    assert!(!html.contains("url("), "the style sheet must not load resources");
    assert!(!html.contains("@import"), "the style sheet must not import anything");
}

#[test]
fn report_shows_models_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "metrics", &RunSpec::default());
    let html = read_report(&input, &dir.path().join("report"));

    for (index, model) in input.models.iter().enumerate() {
        let test = test_metrics(&input, index);
        assert!(html.contains(&model.name), "model `{}` is missing", model.name);
        let auc = format!("<td class=\"num\">{:.3}</td>", test.roc_auc);
        assert!(html.contains(&auc), "test ROC-AUC of `{}` ({auc}) is missing", model.name);
        let legend = format!("{} (AUC {:.3})", model.name, test.roc_auc);
        assert!(html.contains(&legend), "ROC legend `{legend}` is missing");
        let legend = format!("{} (AP {:.3})", model.name, test.average_precision);
        assert!(html.contains(&legend), "precision-recall legend `{legend}` is missing");
    }

    // The model with the highest validation average precision is marked best in both tables,
    // the test table showing its test average precision.
    let best = best_by(&input, |index| validation_metrics(&input, index).average_precision);
    let metrics = section(&html, "metrics");
    let badge = "<span class=\"badge\">best</span>";
    assert_eq!(metrics.matches(badge).count(), 2, "one badge per table");
    let test_table = &metrics[..metrics.find("<h3>Validation split</h3>").unwrap()];
    let best_test = test_metrics(&input, best).average_precision;
    let best_cell = format!("<td class=\"num best\">{best_test:.3}{badge}</td>");
    assert!(test_table.contains(&best_cell), "the test table does not mark {best_cell}");
    let best_validation = validation_metrics(&input, best).average_precision;
    let best_cell = format!("<td class=\"num best\">{best_validation:.3}{badge}</td>");
    assert!(metrics.contains(&best_cell), "the validation table does not mark {best_cell}");

    let note = "<p class=\"note selection\">Models and trials are chosen by validation average \
                precision";
    let first_table = metrics.find("<table").unwrap();
    let note_at = metrics.find(note).expect("the metrics section does not state the rule");
    assert!(note_at < first_table, "the selection rule is not stated before the first table");
    let headline = format!(
        "Best model by validation average precision: <span class=\"model\"><span \
         class=\"swatch\" style=\"background:{}\"></span>{}</span> ({best_validation:.3}) · \
         its test average precision <strong>{best_test:.3}</strong>",
        if best == 0 { "#1f77b4" } else { "#ff7f0e" },
        input.models[best].name
    );
    assert!(html.contains(&headline), "the header does not name the best model: {headline}");
}

#[test]
fn plain_run_marks_best_on_validation() {
    // The autoencoder separates the classes much better on test than on validation, so the
    // two splits disagree on the best model.
    let dir = tempfile::tempdir().unwrap();
    let autoencoder =
        ModelSpec { test_shift: 2.5, ..ModelSpec::new("autoencoder", Kind::Autoencoder) };
    let spec = RunSpec {
        models: vec![ModelSpec::new("mlp", Kind::Mlp), autoencoder],
        ..RunSpec::default()
    };
    let input = write_run(&dir.path().join("run"), "two splits", &spec);
    let html = read_report(&input, &dir.path().join("report"));

    let best = best_by(&input, |index| validation_metrics(&input, index).average_precision);
    let best_on_test = best_by(&input, |index| test_metrics(&input, index).average_precision);
    assert_ne!(best, best_on_test, "the fixture needs the splits to disagree");

    let metrics = section(&html, "metrics");
    let test_table = &metrics[..metrics.find("<h3>Validation split</h3>").unwrap()];
    let row_of = |index: usize| {
        let name = format!("</span>{}</span></td>", input.models[index].name);
        let start = test_table.find(&name).unwrap();
        &test_table[start..start + test_table[start..].find("</tr>").unwrap()]
    };
    assert!(row_of(best).contains("<span class=\"badge\">best</span>"), "{}", row_of(best));
    assert!(!row_of(best_on_test).contains("class=\"badge\""), "{}", row_of(best_on_test));
    let headline = "validation average precision: <span class=\"model\">";
    let named = &html[html.find(headline).unwrap()..];
    let named = &named[..named.find("</p>").unwrap()];
    assert!(named.contains(&format!("</span>{}</span>", input.models[best].name)), "{named}");
}

#[test]
fn report_shows_dataset_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "dataset", &RunSpec::default());
    let html = read_report(&input, &dir.path().join("report"));

    // 5,000 rows: 3,000 train, 1,000 validation and 1,000 test, with 90 anomalies in each of
    // the two 1,000-row splits and 270 in train, 450 in all (9.00%).
    assert!(html.contains("creditcard-sample"));
    assert!(html.contains("data/creditcard-sample.csv.gz"));
    assert!(html.contains("76274b691b16a6c49d3f159c883398e03ccd6d1d7e8e1f0e5bd4b8b9c0e7c2a1"));
    assert!(html.contains("<span class=\"value\">5,000</span><span class=\"label\">rows</span>"));
    assert!(
        html.contains(
            "<span class=\"value\">9.00%</span><span class=\"label\">anomaly rate</span>"
        )
    );
    assert!(
        html.contains("<span class=\"value\">17</span><span class=\"label\">duplicate rows</span>")
    );
    assert!(
        html.contains("<tr><td>train</td><td class=\"num\">3,000</td><td class=\"num\">270</td>")
    );
    assert!(
        html.contains("<tr><td>test</td><td class=\"num\">1,000</td><td class=\"num\">90</td>")
    );
    assert!(html.contains("<dt>Dropped columns</dt><dd><code>Time</code></dd>"));
    assert!(
        html.contains("<dd>3 test, 4 validation rows (features equal to a training row's)</dd>")
    );
    assert!(!html.contains("Duplicates removed"));
    assert!(html.contains("<tr><td><code>V3</code></td><td class=\"num\">12</td><td class=\"num\">3</td><td class=\"num\">5</td></tr>"));
}

#[test]
fn many_columns_are_collapsed() {
    let dir = tempfile::tempdir().unwrap();
    let spec = RunSpec { columns: 64, ..RunSpec::default() };
    let input = write_run(&dir.path().join("run"), "wide", &spec);
    let html = read_report(&input, &dir.path().join("report"));

    let details = html.find("<summary>64 columns, 2 with missing values</summary>").unwrap();
    let end = details + html[details..].find("</details>").unwrap();
    assert_eq!(html[details..end].matches("<tr").count(), 64 + 1);
    assert!(html[details..end].contains("<td>V61</td>"));
}

#[test]
fn log_axis_for_reconstruction_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "axes", &RunSpec::default());
    let html = read_report(&input, &dir.path().join("report"));

    assert!(html.contains("reconstruction error, log scale"));
    assert!(html.contains("score (probability of anomaly)"));
    assert_eq!(html.matches("log-spaced on a log x-axis").count(), 1);
}

#[test]
fn text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let spec =
        RunSpec { models: vec![ModelSpec::new("mlp<b>&co", Kind::Mlp)], ..RunSpec::default() };
    let input = write_run(&dir.path().join("run"), "<script>alert('x')</script> & more", &spec);
    let html = read_report(&input, &dir.path().join("report"));

    assert!(!html.contains("<script>"));
    assert!(!html.contains("<b>&co"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(html.contains("mlp&lt;b&gt;&amp;co"));
    check_balanced_tags(&html).unwrap();
}

#[test]
fn single_model_is_not_marked_best() {
    let dir = tempfile::tempdir().unwrap();
    let spec = RunSpec {
        models: vec![ModelSpec::new("autoencoder", Kind::Autoencoder)],
        ..RunSpec::default()
    };
    let input = write_run(&dir.path().join("run"), "one model", &spec);
    let html = read_report(&input, &dir.path().join("report"));

    assert_eq!(html.matches("<svg").count(), 2 + 3);
    assert!(!html.contains("class=\"badge\">best"));
}

#[test]
fn report_without_models_shows_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let spec = RunSpec { models: Vec::new(), ..RunSpec::default() };
    let input = write_run(&dir.path().join("run"), "data only", &spec);
    let html = read_report(&input, &dir.path().join("report"));

    check_balanced_tags(&html).unwrap();
    assert!(html.contains("<section id=\"dataset\">"));
    assert!(html.contains("lists no trained models"));
    assert!(!html.contains("<svg"));
}

#[test]
fn same_inputs_give_identical_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "deterministic", &RunSpec::default());
    let first = read_report(&input, &dir.path().join("first"));
    let second = read_report(&input, &dir.path().join("second"));
    assert!(first == second, "two runs on the same inputs wrote different reports");
}

#[test]
fn missing_input_names_path() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "missing", &RunSpec::default());
    let model = &input.models[1];
    let cases = [
        (&input.dataset, "dataset summary"),
        (&input.preprocess, "preprocess summary"),
        (&model.training, "training summary of model `autoencoder`"),
        (&model.metrics, "metrics of model `autoencoder`"),
        (&model.history, "training history of model `autoencoder`"),
        (&model.scores, "scores of model `autoencoder`"),
        (&model.curves, "curves of model `autoencoder`"),
    ];
    for (path, description) in cases {
        let mut broken = input.clone();
        let moved = path.with_extension("moved");
        std::fs::rename(path, &moved).unwrap();
        broken.title = format!("without {}", path.display());

        let out = dir.path().join("report");
        let error = report::run(&broken, &out).unwrap_err().to_string();
        std::fs::rename(&moved, path).unwrap();

        assert!(
            error.contains(&path.display().to_string()),
            "error does not name the path: {error}"
        );
        assert!(error.contains(description), "error does not name the input: {error}");
        assert!(!out.join("report.html").exists(), "a report was written without {description}");
    }
}

#[test]
fn wrong_column_type_names_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "wrong type", &RunSpec::default());
    let curves = &input.models[0].curves;
    let as_strings: ArrayRef = Arc::new(StringArray::from(vec!["0.1"]));
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("split", Arc::new(StringArray::from(vec!["test"]))),
        ("curve", Arc::new(StringArray::from(vec!["roc"]))),
        ("x", as_strings),
        ("y", Arc::new(Float64Array::from(vec![0.2]))),
        ("threshold", Arc::new(Float64Array::from(vec![0.5]))),
    ];
    write_batch(curves, columns);

    let error = report::run(&input, &dir.path().join("report")).unwrap_err().to_string();
    assert!(error.contains(&curves.display().to_string()), "{error}");
    assert!(error.contains("column `x` has type Utf8 where Float64 was expected"), "{error}");
}

#[test]
fn curves_without_test_split_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "no test curves", &RunSpec::default());
    let curves = &input.models[0].curves;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("split", Arc::new(StringArray::from(vec!["validation", "validation"]))),
        ("curve", Arc::new(StringArray::from(vec!["roc", "pr"]))),
        ("x", Arc::new(Float64Array::from(vec![0.0, 0.0]))),
        ("y", Arc::new(Float64Array::from(vec![0.0, 1.0]))),
        ("threshold", Arc::new(Float64Array::from(vec![1.0, 1.0]))),
    ];
    write_batch(curves, columns);

    let error = report::run(&input, &dir.path().join("report")).unwrap_err().to_string();
    assert!(error.contains(&curves.display().to_string()), "{error}");
    assert!(error.contains("no points for curve `roc` of split `test`"), "{error}");
}

/// Returns the HTML of the section with `id`, up to its closing tag.
fn section<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html.find(&format!("<section id=\"{id}\">")).unwrap_or_else(|| {
        panic!("section `{id}` is missing");
    });
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

/// Returns the model names in the rows of every `<table class="TABLE_CLASS">` in `html`, in
/// order: the text after each row's colour swatch.
fn row_names(html: &str, table_class: &str) -> Vec<String> {
    let opening = format!("<table class=\"{table_class}\">");
    let mut names = Vec::new();
    for (start, _) in html.match_indices(&opening) {
        let table = &html[start..start + html[start..].find("</table>").unwrap()];
        let body = &table[table.find("<tbody>").unwrap()..];
        for row in body.split("<tr").skip(1) {
            let swatch = row.find("class=\"swatch\"").expect("row without a swatch");
            let name_start = swatch + row[swatch..].find("</span>").unwrap() + "</span>".len();
            let name_end = name_start + row[name_start..].find("</span>").unwrap();
            names.push(row[name_start..name_end].to_string());
        }
    }
    names
}

/// A trained trial with the average precisions read from its `metrics.json`.
#[derive(Debug, Clone)]
struct TrialAp {
    name: String,
    stage: String,
    validation_ap: f64,
    test_ap: f64,
}

/// Returns every trained trial sorted by decreasing `key`, equal values in input order.
fn ranking_by(input: &report::ReportInput, key: fn(&TrialAp) -> f64) -> Vec<TrialAp> {
    let mut trials: Vec<TrialAp> = (0..input.models.len())
        .map(|index| {
            let model = &input.models[index];
            TrialAp {
                name: model.name.clone(),
                stage: model.stage.clone(),
                validation_ap: validation_metrics(input, index).average_precision,
                test_ap: test_metrics(input, index).average_precision,
            }
        })
        .collect();
    trials.sort_by(|a, b| key(b).total_cmp(&key(a)));
    trials
}

/// Returns the trials ranked the way the report should rank them: by decreasing validation
/// average precision, equal values in input order.
fn expected_ranking(input: &report::ReportInput) -> Vec<TrialAp> {
    ranking_by(input, |trial| trial.validation_ap)
}

/// Returns the names of the trials the per-model sections should show: the best trial of
/// each stage and the overall top 3 of `ranking`, in rank order.
fn expected_detail(ranking: &[TrialAp]) -> Vec<String> {
    let mut stages_seen = Vec::new();
    let mut detail = Vec::new();
    for (rank, trial) in ranking.iter().enumerate() {
        let first_of_stage = !stages_seen.contains(&trial.stage);
        if first_of_stage {
            stages_seen.push(trial.stage.clone());
        }
        if first_of_stage || rank < 3 {
            detail.push(trial.name.clone());
        }
    }
    detail
}

/// Returns the best trial of `stage` in `ranking`.
fn best_of_stage<'r>(ranking: &'r [TrialAp], stage: &str) -> &'r TrialAp {
    ranking.iter().find(|trial| trial.stage == stage).unwrap()
}

#[test]
fn plain_run_has_no_sweep_section() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "plain", &RunSpec::default());
    let html = read_report(&input, &dir.path().join("report"));

    assert!(!html.contains("<section id=\"sweep\">"));
    assert!(!html.contains("href=\"#sweep\""));
    assert!(!html.contains("table.sweep"), "the sweep style rules are added to a plain run");
    assert!(html.contains("· 2 models</p>"));
}

#[test]
fn old_input_without_sweep_fields() {
    // A report input written before sweeps had no `stage`, `varied` or `failed`.
    let json = serde_json::json!({
        "title": "old",
        "dataset": "summary.json",
        "preprocess": "preprocess.json",
        "models": [{
            "name": "mlp",
            "params": {},
            "training": "training.json",
            "history": "history.parquet",
            "metrics": "metrics.json",
            "scores": "scores.parquet",
            "curves": "curves.parquet",
        }],
    });
    let input: report::ReportInput = serde_json::from_value(json).unwrap();
    assert!(input.failed.is_empty());
    assert_eq!(input.models[0].stage, "");
    assert!(input.models[0].varied.is_empty());
}

#[test]
fn sweep_section_follows_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let html = read_report(&input, &dir.path().join("report"));

    check_balanced_tags(&html).unwrap();
    let metrics = html.find("<section id=\"metrics\">").unwrap();
    let sweep = html.find("<section id=\"sweep\">").expect("the sweep section is missing");
    let training = html.find("<section id=\"training\">").unwrap();
    assert!(metrics < sweep, "the sweep section is before Metrics");
    assert!(sweep < training, "the sweep section is after Training");
    assert!(html.contains("<a href=\"#metrics\">Metrics</a><a href=\"#sweep\">Sweep</a>"));
    assert!(html.contains("· 12 trials of 2 stages · 1 failed</p>"));

    // The header names the trial with the highest validation average precision and reports
    // its test average precision, not the highest test average precision of the sweep.
    let ranking = expected_ranking(&input);
    let best = format!(
        "Best trial by validation average precision: <span class=\"model\"><span \
         class=\"swatch\" style=\"background:#1f77b4\"></span>{}</span> ({:.3}) · its test \
         average precision <strong>{:.3}</strong>",
        ranking[0].name, ranking[0].validation_ap, ranking[0].test_ap
    );
    assert!(html.contains(&best), "the header does not name the best trial: {best}");
    let best_on_test = &ranking_by(&input, |trial| trial.test_ap)[0];
    let test_headline = format!("{}</span> ({:.3})", best_on_test.name, best_on_test.validation_ap);
    assert!(!html.contains(&test_headline), "the header names the best trial on test");
}

#[test]
fn sweep_fixture_ranks_differ_by_split() {
    // The sweep tests can only tell the validation rule from the test rule when the two
    // rankings differ where the report uses them: the best trial, the best of each stage and
    // the top 3.
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let by_validation = expected_ranking(&input);
    let by_test = ranking_by(&input, |trial| trial.test_ap);
    assert_ne!(by_validation[0].name, by_test[0].name, "the best trial is the same on both");
    let stage_best = |ranking: &[TrialAp]| best_of_stage(ranking, "autoencoder").name.clone();
    assert_ne!(stage_best(&by_validation), stage_best(&by_test), "the autoencoder's best");
    assert_ne!(expected_detail(&by_validation), expected_detail(&by_test), "the detail trials");
}

#[test]
fn sweep_ranks_trials_by_validation_ap() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let html = read_report(&input, &dir.path().join("report"));
    let sweep = section(&html, "sweep");

    let ranking = expected_ranking(&input);
    assert_eq!(ranking.len(), 11);
    let names: Vec<String> = ranking.iter().map(|trial| trial.name.clone()).collect();
    assert_eq!(row_names(sweep, "sweep"), names);
    for window in ranking.windows(2) {
        assert!(window[0].validation_ap >= window[1].validation_ap, "ranking is not descending");
    }
    assert!(sweep.contains("ranks the trials that trained by validation average precision"));
    assert!(sweep.contains(
        "<th class=\"num\">validation AP (ranked by)</th><th class=\"num\">test AP</th>"
    ));

    // Only the first row is marked best: its validation average precision carries the badge,
    // and its test average precision follows in the next cell.
    assert_eq!(sweep.matches("<span class=\"badge\">best</span>").count(), 1);
    let best_cells = format!(
        "<td class=\"num best\">{:.3}<span class=\"badge\">best</span></td><td \
         class=\"num\">{:.3}</td>",
        ranking[0].validation_ap, ranking[0].test_ap
    );
    assert!(sweep.contains(&best_cells), "best trial is not marked: {best_cells}");
    let first_row = sweep.find("<tr class=\"best-trial\"><td class=\"num\">1</td>");
    assert!(first_row.is_some(), "rank 1 is not the best-trial row");
    assert!(
        !sweep.contains("<details class=\"more-trials\">"),
        "12 trials need no collapsed table"
    );
}

#[test]
fn sweep_table_shows_varied_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let html = read_report(&input, &dir.path().join("report"));
    let sweep = section(&html, "sweep");

    let ranked = &sweep[sweep.find("<table class=\"sweep\">").unwrap()..];
    let header = &ranked[..ranked.find("</thead>").unwrap()];
    let columns: Vec<&str> = header
        .split("<th class=\"param\">")
        .skip(1)
        .map(|cell| &cell[..cell.find("</th>").unwrap()])
        .collect();
    // Every trial of a stage has the same batch size, so it is no column.
    assert_eq!(columns, ["mlp.<wbr>learning_rate", "split.<wbr>log1p"]);
    assert!(!sweep.contains("batch_size"));

    // The best trial's row shows its own parameter values.
    let best = expected_ranking(&input).remove(0).name;
    let varied = &input.models.iter().find(|model| model.name == best).unwrap().varied;
    let row_start = sweep.find("<tr class=\"best-trial\">").unwrap();
    let row = &sweep[row_start..row_start + sweep[row_start..].find("</tr>").unwrap()];
    let log1p = format!("<td class=\"mono\">{}</td>", varied["split.log1p"]);
    assert!(row.contains(&log1p), "{row}");
    // An autoencoder trial has no learning rate column value.
    assert!(sweep.contains("<td class=\"mono\">–</td>"));

    // One chart per varied parameter: the learning rates span 100 times, so a log axis.
    assert_eq!(sweep.matches("<h3 class=\"mono\">").count(), 2);
    assert!(sweep.contains("mlp.learning_rate, log scale"));
    // plotters writes each SVG text on its own line.
    let log1p_chart = &sweep[sweep.find("<h3 class=\"mono\">split.log1p</h3>").unwrap()..];
    let log1p_chart = &log1p_chart[..log1p_chart.find("</svg>").unwrap()];
    assert!(log1p_chart.contains(">\nfalse\n</text>"), "no category label `false`");
    assert!(log1p_chart.contains(">\ntrue\n</text>"), "no category label `true`");
    assert!(sweep.contains("Only the trials of mlp set this parameter."));
}

#[test]
fn sweep_lists_failed_trial() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let html = read_report(&input, &dir.path().join("report"));
    let sweep = section(&html, "sweep");

    let heading = sweep.find("<h3>Failed trials (1)</h3>").expect("no failed-trials table");
    let ranked_end = sweep.rfind("<table class=\"sweep\">").unwrap();
    assert!(ranked_end < heading, "failed trials come before the ranked ones");
    let failed = &sweep[heading..];
    let row = &failed[failed.find("<tbody>").unwrap()..failed.find("</tbody>").unwrap()];
    assert_eq!(row.matches("<tr>").count(), 1);
    assert!(row.contains("<td class=\"nowrap\">mlp#5</td><td>mlp</td>"), "{row}");
    assert!(row.contains("<td class=\"reason\">training loss became NaN at epoch 3</td>"));
    assert!(row.contains("<td class=\"mono\">0.01</td><td class=\"mono\">false</td>"), "{row}");

    // The failed trial has no artifacts and appears nowhere else.
    assert!(!row_names(sweep, "sweep").contains(&"mlp#5".to_string()));
    assert_eq!(html.matches("mlp#5<").count(), 1);
}

#[test]
fn sweep_limits_detailed_sections() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let html = read_report(&input, &dir.path().join("report"));

    let ranking = expected_ranking(&input);
    let detail = expected_detail(&ranking);
    // The top 3 are mlp trials, so the autoencoder's best is the fourth trial shown.
    assert_eq!(detail.len(), 4, "{detail:?}");
    let stages: Vec<&str> = ranking.iter().map(|trial| trial.stage.as_str()).collect();
    assert!(stages.contains(&"autoencoder"));
    assert!(stages.contains(&"mlp"));

    let metrics = section(&html, "metrics");
    assert_eq!(row_names(metrics, "metrics"), detail, "test metrics rows");
    assert_eq!(row_names(metrics, "metrics secondary"), detail, "validation metrics rows");
    let note = format!("this section shows {} of 11 trained trials", detail.len());
    for id in ["metrics", "training", "curves", "scores", "confusion"] {
        let text = section(&html, id);
        assert!(text.contains(&note), "section `{id}` does not say which trials it shows");
    }

    let training = section(&html, "training");
    assert_eq!(training.matches("<article>").count(), detail.len());
    assert_eq!(training.matches("<svg").count(), detail.len() + 1);
    let scores = section(&html, "scores");
    assert_eq!(scores.matches("<svg").count(), detail.len());
    let confusion = section(&html, "confusion");
    assert_eq!(confusion.matches("<table class=\"confusion\">").count(), detail.len());
    let curves = section(&html, "curves");
    // One ROC legend entry per trial, and one for the chance diagonal.
    assert_eq!(curves.matches(" (AUC ").count(), detail.len() + 1);

    for TrialAp { name, .. } in &ranking {
        let legend = format!("{name} (AUC ");
        assert_eq!(curves.contains(&legend), detail.contains(name), "ROC legend of `{name}`");
        let heading = format!("</span>{name}</span> <span class=\"badge plain\">");
        assert_eq!(training.contains(&heading), detail.contains(name), "training card of `{name}`");
    }

    // The sweep section marks the same trials and overlays the top 5 precision-recall curves.
    let sweep = section(&html, "sweep");
    assert_eq!(
        sweep.matches("<span class=\"badge plain\">detail</span>").count(),
        detail.len() + 1
    );
    // The legends show the test average precision of the top 5 by validation.
    for (rank, trial) in ranking.iter().enumerate() {
        let legend = format!("{} (AP {:.3})", trial.name, trial.test_ap);
        assert_eq!(sweep.contains(&legend), rank < 5, "top-5 precision-recall legend `{legend}`");
    }
    // One validation-loss chart per stage, each naming its best trial by validation average
    // precision with its test average precision.
    for stage in ["mlp", "autoencoder"] {
        let best = best_of_stage(&ranking, stage);
        let legend = format!("best: {} (test AP {:.3})", best.name, best.test_ap);
        assert!(sweep.contains(&legend), "loss chart of `{stage}`: {legend}");
        assert_eq!(sweep.matches("best: ").count(), 2, "one thick line per stage");
    }
}

#[test]
fn sweep_stage_colors_follow_stage_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "sweep", &small_sweep());
    let html = read_report(&input, &dir.path().join("report"));
    let sweep = section(&html, "sweep");

    // mlp is listed first and gets the first palette colour, autoencoder the second.
    let legend = &sweep[sweep.find("<p class=\"legend\">").unwrap()..];
    let legend = &legend[..legend.find("</p>").unwrap()];
    assert!(legend.contains("background:#1f77b4\"></span>mlp (9 trials)"), "{legend}");
    assert!(legend.contains("background:#ff7f0e\"></span>autoencoder (2 trials)"), "{legend}");

    // The best trial of each stage has the plain stage colour.
    let ranking = expected_ranking(&input);
    for (stage, color) in [("mlp", "#1f77b4"), ("autoencoder", "#ff7f0e")] {
        let best = &best_of_stage(&ranking, stage).name;
        let label = format!("style=\"background:{color}\"></span>{best}</span>");
        assert!(sweep.contains(&label), "`{best}` is not drawn in {color}");
    }
}

#[test]
fn sweep_of_failed_trials_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = small_sweep();
    spec.models.clear();
    let input = write_run(&dir.path().join("run"), "all failed", &spec);
    let html = read_report(&input, &dir.path().join("report"));

    check_balanced_tags(&html).unwrap();
    assert!(html.contains("lists no trained models"));
    let sweep = section(&html, "sweep");
    assert!(sweep.contains("No trial trained, so there is nothing to rank."));
    assert!(sweep.contains("training loss became NaN at epoch 3"));
    assert!(!html.contains("<svg"));
}

#[test]
fn large_sweep_collapses_table() {
    // Small splits keep the generation of 500 trials' artifacts fast.
    let dir = tempfile::tempdir().unwrap();
    let input = write_run(&dir.path().join("run"), "500 trials", &large_sweep(500, 200));
    assert_eq!(input.models.len() + input.failed.len(), 500);
    let path = report::run(&input, &dir.path().join("report")).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();

    check_balanced_tags(&html).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 3_000_000, "the 500-trial report has {size} bytes");

    let sweep = section(&html, "sweep");
    let trained = input.models.len();
    let details = sweep.find("<details class=\"more-trials\">").expect("no collapsed table");
    let summary =
        format!("<summary>Trials ranked 51 to {trained} ({} more)</summary>", trained - 50);
    assert!(sweep[details..].contains(&summary), "{summary}");
    assert_eq!(row_names(&sweep[..details], "sweep").len(), 50);
    let collapsed = &sweep[details..sweep[details..].find("</details>").unwrap() + details];
    assert_eq!(row_names(collapsed, "sweep").len(), trained - 50);
    let names: Vec<String> = expected_ranking(&input).into_iter().map(|trial| trial.name).collect();
    assert_eq!(row_names(sweep, "sweep"), names);
    assert!(!sweep[details..].contains("<details open"), "the rest must start collapsed");

    // Failed trials are listed below the collapsed table, and the detailed sections stay small.
    assert!(sweep.find("<h3>Failed trials (5)</h3>").unwrap() > details);
    let detail = expected_detail(&expected_ranking(&input));
    assert_eq!(section(&html, "training").matches("<article>").count(), detail.len());
    assert_eq!(section(&html, "scores").matches("<svg").count(), detail.len());
}

#[test]
fn tag_checker_finds_unclosed_tags() {
    assert!(check_balanced_tags("<div><p>text</p></div>").is_ok());
    assert!(check_balanced_tags("<svg><path d=\"M0 0\"/></svg><br>").is_ok());
    assert!(check_balanced_tags("<div><p>text</div>").is_err());
    assert!(check_balanced_tags("<section><table>").is_err());
}
