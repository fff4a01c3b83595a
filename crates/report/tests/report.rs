//! End-to-end tests of the report stage: realistic artifacts are written to a temporary
//! directory, `report::run` turns them into `report.html`, and the page is checked.

mod support;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use support::{Kind, ModelSpec, RunSpec, check_balanced_tags, write_batch, write_run};

fn read_report(input: &report::ReportInput, out: &Path) -> String {
    let path = report::run(input, out).unwrap();
    assert_eq!(path, out.join("report.html"));
    assert!(path.is_file(), "{} was not written", path.display());
    std::fs::read_to_string(path).unwrap()
}

fn test_metrics(input: &report::ReportInput, model: usize) -> common::Metrics {
    common::read_json::<common::Evaluation>(&input.models[model].metrics).unwrap().test
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

    let best = (0..input.models.len())
        .max_by(|&a, &b| {
            test_metrics(&input, a)
                .average_precision
                .total_cmp(&test_metrics(&input, b).average_precision)
        })
        .unwrap();
    let best_cell = format!(
        "<td class=\"num best\">{:.3}<span class=\"badge\">best</span></td>",
        test_metrics(&input, best).average_precision
    );
    assert!(html.contains(&best_cell), "best average precision is not marked: {best_cell}");
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
    let spec = RunSpec {
        models: vec![ModelSpec::new("mlp<b>&co", Kind::Mlp)],
        ..RunSpec::default()
    };
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

#[test]
fn tag_checker_finds_unclosed_tags() {
    assert!(check_balanced_tags("<div><p>text</p></div>").is_ok());
    assert!(check_balanced_tags("<svg><path d=\"M0 0\"/></svg><br>").is_ok());
    assert!(check_balanced_tags("<div><p>text</div>").is_err());
    assert!(check_balanced_tags("<section><table>").is_err());
}
