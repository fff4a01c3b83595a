//! The experiment file: parsing, validation and the stage graph.
//!
//! An experiment file has an `[experiment]` table (name, seed, device) and one
//! `[stages.NAME]` table per stage, each with a `kind`, its `inputs` (names of upstream
//! stages) and the parameters of that kind. Every problem is reported as
//! `FILE:LINE:COLUMN: message` before any stage runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use common::StageKind;
use evaluate::EvaluateConfig;
use ingest::IngestConfig;
use model::DeviceChoice;
use preprocess::PreprocessConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use train::TrainConfig;

use crate::executor::{ExecutorKind, SlurmConfig};
use crate::sweep::Sweep;

/// An invalid experiment file, with the position of the offending text.
#[derive(Debug)]
pub struct ConfigError {
    /// The experiment file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The problem and the fix.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => {
                write!(f, "{}:{line}:{column}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// Drops the position, for errors in command-line overrides rather than the file.
    pub fn without_position(mut self) -> Self {
        self.position = None;
        self
    }
}

/// The `[experiment]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentMeta {
    /// Name of the experiment, used for the run directory.
    pub name: String,
    /// A description of the experiment, for readers of the file.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of every random choice, unless a stage sets its own (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `auto` (default), `cpu`, `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// The executor used when `--executor` is not given: `local` (default) or `slurm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorKind>,
    /// The `[experiment.slurm]` table: job settings for the Slurm executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmConfig>,
}

fn default_seed() -> u64 {
    42
}

/// Parameters of a report stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Title of the report (default: the experiment's name).
    pub title: Option<String>,
}

/// The parameters of a stage, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum StageParams {
    /// An ingest stage.
    Ingest(IngestConfig),
    /// A preprocess stage.
    Preprocess(PreprocessConfig),
    /// A train stage.
    Train(TrainConfig),
    /// An evaluate stage.
    Evaluate(EvaluateConfig),
    /// A report stage.
    Report(ReportConfig),
}

impl StageParams {
    /// Returns the kind of stage these parameters belong to.
    pub fn kind(&self) -> StageKind {
        match self {
            StageParams::Ingest(_) => StageKind::Ingest,
            StageParams::Preprocess(_) => StageKind::Preprocess,
            StageParams::Train(_) => StageKind::Train,
            StageParams::Evaluate(_) => StageKind::Evaluate,
            StageParams::Report(_) => StageKind::Report,
        }
    }

    /// Returns the parameters as JSON with every default filled in.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            StageParams::Ingest(c) => serde_json::to_value(c),
            StageParams::Preprocess(c) => serde_json::to_value(c),
            StageParams::Train(c) => serde_json::to_value(c),
            StageParams::Evaluate(c) => serde_json::to_value(c),
            StageParams::Report(c) => serde_json::to_value(c),
        };
        value.expect("stage parameters always serialise")
    }
}

/// One stage of the experiment.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Name from `[stages.NAME]`.
    pub name: String,
    /// Names of the upstream stages.
    pub inputs: Vec<String>,
    /// The parameters.
    pub params: StageParams,
    /// The parameter table as written (with overrides applied), from which sweeps derive
    /// their variants.
    pub raw: Spanned<DeTable<'static>>,
}

impl Stage {
    /// Returns the stage's kind.
    pub fn kind(&self) -> StageKind {
        self.params.kind()
    }
}

/// A validated experiment: its settings and its stages in an order where every stage comes
/// after its inputs.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The experiment file.
    pub path: PathBuf,
    /// The `[experiment]` table.
    pub meta: ExperimentMeta,
    /// Stages in dependency order (file order where the graph allows).
    pub stages: Vec<Stage>,
    /// The `[sweep]` table, if any.
    pub sweep: Option<Sweep>,
    /// The `-S KEY=VALUE` overrides applied, as given.
    pub overrides: Vec<String>,
    /// The file's text, for positions in errors found after parsing.
    pub text: &'static str,
}

impl Experiment {
    /// Reads and validates an experiment file, applying `-S KEY=VALUE` overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            position: None,
            message: format!("cannot read the experiment file: {e}"),
        })?;
        Experiment::parse(path, &text, overrides)
    }

    /// Parses and validates the text of an experiment file; `path` is used in messages.
    pub fn parse(path: &Path, text: &str, overrides: &[String]) -> Result<Experiment, ConfigError> {
        // The parsed tables borrow the text for as long as the experiment lives, and an
        // experiment file is read once per process, so leaking it costs a few kilobytes.
        // NOTE: a caller that parses many texts, such as the `experiment_file` fuzz target,
        // keeps every one of them until it exits.
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        let parser = Parser { path, text };
        let root = DeTable::parse(text).map_err(|e| parser.toml_error(&e))?;
        let root_span = root.span();
        let mut root = root.into_inner();
        let overrides_parsed = crate::sweep::parse_overrides(overrides)
            .map_err(|message| parser.error(0..0, &message).without_position())?;
        crate::sweep::apply_overrides(&mut root, &overrides_parsed, text.len() + 1)
            .map_err(|message| parser.error(0..0, &message).without_position())?;

        let Some(meta) = root.remove("experiment") else {
            return Err(parser.error(
                root_span.start..root_span.start,
                "missing `[experiment]` table with at least `name = \"...\"`",
            ));
        };
        let meta_span = meta.span();
        let meta: ExperimentMeta = parser.deserialize(meta, "experiment")?;
        let valid_name = !meta.name.is_empty()
            && !meta.name.starts_with('.')
            && meta.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            return Err(parser.error(
                meta_span,
                &format!("invalid experiment name `{}`: use letters, digits, `-`, `_` and `.`, because it names the run folder", meta.name),
            ));
        }
        let sweep_value = root.remove("sweep");
        let Some(stages_value) = root.remove("stages") else {
            return Err(parser.error(
                root_span.start..root_span.start,
                "no stages: add `[stages.NAME]` tables with a `kind` and their parameters",
            ));
        };
        if let Some((key, _)) = root.iter().next() {
            return Err(parser.error(
                key.span(),
                &format!(
                    "unknown top-level key `{}`; expected `experiment` or `stages`",
                    key.get_ref()
                ),
            ));
        }
        let stages_span = stages_value.span();
        let DeValue::Table(stage_tables) = stages_value.into_inner() else {
            return Err(
                parser.error(stages_span, "`stages` must be a table of `[stages.NAME]` tables")
            );
        };

        let mut stages = Vec::new();
        let mut spans = BTreeMap::new();
        for (name, table) in stage_tables {
            let (stage, input_spans) =
                parser.stage(name.get_ref().to_string(), name.span(), table)?;
            spans.insert(stage.name.clone(), (name.span(), input_spans));
            stages.push(stage);
        }
        stages.sort_by_key(|stage| spans[&stage.name].0.start);
        let stages = order_stages(&parser, stages, &spans)?;
        let sweep = match sweep_value {
            Some(value) => Some(
                Sweep::parse(value, &stages, meta.seed)
                    .map_err(|(span, message)| parser.error(span, &message))?,
            ),
            None => None,
        };
        if let Some(sweep) = &sweep {
            for item in &overrides_parsed {
                let swept = sweep.parameters.iter().find(|p| {
                    item.keys.len() == p.keys.len() + 2
                        && item.keys[1] == p.stage
                        && item.keys[2..] == p.keys[..]
                });
                if let Some(parameter) = swept {
                    return Err(parser.error(
                        parameter.span.clone(),
                        &format!("-S {} sets `{}`, which this file sweeps; change the sweep's values instead", item.text, parameter.path),
                    ));
                }
            }
        }
        let experiment = Experiment {
            path: path.to_path_buf(),
            meta,
            stages,
            sweep,
            overrides: overrides.to_vec(),
            text,
        };
        // Expanding the sweep deserialises every variant, so a swept key that does not exist
        // or a value of the wrong type is reported here, before anything runs.
        crate::sweep::expand(&experiment)
            .map_err(|(span, message)| parser.error(span, &message))?;
        Ok(experiment)
    }

    /// Returns a `FILE:LINE:COLUMN` error for a span of the file.
    pub fn error_at(&self, span: Range<usize>, message: &str) -> ConfigError {
        Parser { path: &self.path, text: self.text }.error(span, message)
    }
}

/// Helpers that turn spans into `FILE:LINE:COLUMN` errors.
struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Parser<'_> {
    fn error(&self, span: Range<usize>, message: &str) -> ConfigError {
        // Values set with `-S` carry a span past the end of the file.
        if span.start > self.text.len() {
            return ConfigError {
                path: self.path.to_path_buf(),
                position: None,
                message: format!("in a -S override: {message}"),
            };
        }
        ConfigError {
            path: self.path.to_path_buf(),
            position: Some(line_column(self.text, span.start)),
            message: message.to_string(),
        }
    }

    fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let message = error.message().trim().to_string();
        match error.span() {
            Some(span) => self.error(span, &message),
            None => ConfigError { path: self.path.to_path_buf(), position: None, message },
        }
    }

    fn deserialize<T: DeserializeOwned>(
        &self,
        value: Spanned<DeValue<'_>>,
        what: &str,
    ) -> Result<T, ConfigError> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            return Err(self.error(span, &format!("`{what}` must be a table")));
        };
        T::deserialize(toml::de::Deserializer::from(Spanned::new(span, table)))
            .map_err(|e| self.toml_error(&e))
    }

    fn stage_params(
        &self,
        name: &str,
        kind: StageKind,
        table: Spanned<DeTable<'static>>,
    ) -> Result<StageParams, ConfigError> {
        stage_params(name, kind, table).map_err(|(span, message)| self.error(span, &message))
    }

    /// Reads one `[stages.NAME]` table: its `kind`, its `inputs` and its parameters.
    fn stage(
        &self,
        name: String,
        name_span: Range<usize>,
        table: Spanned<DeValue<'static>>,
    ) -> Result<(Stage, Vec<Range<usize>>), ConfigError> {
        let span = table.span();
        let DeValue::Table(mut fields) = table.into_inner() else {
            return Err(self.error(span, &format!("stage `{name}` must be a table")));
        };
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.error(
                name_span,
                &format!("invalid stage name `{name}`: use letters, digits, `-` and `_`"),
            ));
        }
        let Some(kind) = fields.remove("kind") else {
            return Err(self.error(name_span, &format!("stage `{name}` has no `kind`; set kind = \"ingest\", \"preprocess\", \"train\", \"evaluate\" or \"report\"")));
        };
        let kind_span = kind.span();
        let kind = match kind.get_ref().as_str() {
            Some("ingest") => StageKind::Ingest,
            Some("preprocess") => StageKind::Preprocess,
            Some("train") => StageKind::Train,
            Some("evaluate") => StageKind::Evaluate,
            Some("report") => StageKind::Report,
            _ => return Err(self.error(kind_span, "invalid `kind`; expected \"ingest\", \"preprocess\", \"train\", \"evaluate\" or \"report\"")),
        };
        let mut inputs = Vec::new();
        let mut input_spans = Vec::new();
        if let Some(value) = fields.remove("inputs") {
            let list_span = value.span();
            let Some(array) = value.get_ref().as_array() else {
                return Err(self.error(
                    list_span,
                    "`inputs` must be a list of stage names, such as inputs = [\"split\"]",
                ));
            };
            for item in array.iter() {
                let Some(input) = item.get_ref().as_str() else {
                    return Err(
                        self.error(item.span(), "`inputs` must hold stage names as strings")
                    );
                };
                inputs.push(input.to_string());
                input_spans.push(item.span());
            }
        }
        let raw = Spanned::new(span.clone(), fields);
        let params = self.stage_params(&name, kind, raw.clone())?;
        Ok((Stage { name, inputs, params, raw }, input_spans))
    }
}

/// Deserialises and checks the parameter table of a stage of `kind`; errors carry the span of
/// the offending text.
pub fn stage_params(
    name: &str,
    kind: StageKind,
    table: Spanned<DeTable<'static>>,
) -> Result<StageParams, (Range<usize>, String)> {
    let span = table.span();
    let params = parse_stage_params(kind, table.clone())?;
    check_params(&params).map_err(|(key, message)| {
        // Point at the offending key's line where the error names one.
        let at = key
            .and_then(|key| key_span(table.get_ref(), key.split('.').next().unwrap_or(key)))
            .unwrap_or(span);
        (at, format!("stage `{name}`: {message}"))
    })?;
    Ok(params)
}

/// Checks value ranges that the types alone do not, such as a positive learning rate.
pub fn validate_params(name: &str, params: &StageParams) -> Result<(), String> {
    check_params(params).map_err(|(_, message)| format!("stage `{name}`: {message}"))
}

/// Checks value ranges, returning the key at fault where the stage's error names one.
fn check_params(params: &StageParams) -> Result<(), (Option<&'static str>, String)> {
    match params {
        StageParams::Train(config) => config.validate().map_err(|e| {
            let key = match &e {
                train::Error::InvalidConfig { key, .. } => Some(*key),
                _ => None,
            };
            (key, e.to_string())
        }),
        StageParams::Preprocess(config) => config.validate().map_err(|e| {
            let key = match &e {
                preprocess::Error::InvalidConfig { key, .. } => Some(*key),
                _ => None,
            };
            (key, e.to_string())
        }),
        StageParams::Ingest(config) => config.validate().map_err(|e| (None, e.to_string())),
        StageParams::Evaluate(config) => config.validate().map_err(|e| {
            let key = match &e {
                evaluate::Error::InvalidConfig { key, .. } => Some(*key),
                _ => None,
            };
            (key, e.to_string())
        }),
        StageParams::Report(_) => Ok(()),
    }
}

/// Returns the span of `key` in a stage table: the key itself, so that the error's line is
/// the line that sets it.
fn key_span(table: &DeTable<'static>, key: &str) -> Option<Range<usize>> {
    table.keys().find(|k| k.get_ref().as_ref() == key).map(|k| k.span())
}

/// Returns the dotted path of the innermost key whose value contains `span`.
fn key_path_at(table: &DeTable<'static>, span: &Range<usize>) -> Option<String> {
    fn within(value: &Spanned<DeValue<'static>>, span: &Range<usize>) -> bool {
        let outer = value.span();
        outer.start <= span.start && span.end <= outer.end
    }
    fn descend(value: &DeValue<'static>, span: &Range<usize>, path: &mut Vec<String>) {
        match value {
            DeValue::Table(table) => {
                if let Some((key, inner)) = table.iter().find(|(_, v)| within(v, span)) {
                    path.push(key.get_ref().to_string());
                    descend(inner.get_ref(), span, path);
                }
            }
            DeValue::Array(items) => {
                if let Some(inner) = items.iter().find(|v| within(v, span)) {
                    descend(inner.get_ref(), span, path);
                }
            }
            _ => {}
        }
    }
    let mut path = Vec::new();
    if let Some((key, inner)) = table.iter().find(|(_, v)| within(v, span)) {
        path.push(key.get_ref().to_string());
        descend(inner.get_ref(), span, &mut path);
    }
    (!path.is_empty()).then(|| path.join("."))
}

/// Deserialises the parameter table of a stage of `kind`; errors carry the span of the
/// offending text.
pub fn parse_stage_params(
    kind: StageKind,
    table: Spanned<DeTable<'static>>,
) -> Result<StageParams, (Range<usize>, String)> {
    fn parse<T: DeserializeOwned>(
        table: Spanned<DeTable<'static>>,
    ) -> Result<T, (Range<usize>, String)> {
        let span = table.span();
        let raw = table.get_ref().clone();
        T::deserialize(toml::de::Deserializer::from(table)).map_err(|e| {
            let message = e.message().trim().to_string();
            let Some(at) = e.span() else {
                return (span, message);
            };
            // Serde names unknown and missing keys itself; a wrong value gets its key here.
            match key_path_at(&raw, &at) {
                Some(key) if !message.contains(&format!("`{key}`")) => {
                    (at, format!("`{key}`: {message}"))
                }
                _ => (at, message),
            }
        })
    }
    Ok(match kind {
        StageKind::Ingest => StageParams::Ingest(parse(table)?),
        StageKind::Preprocess => StageParams::Preprocess(parse(table)?),
        StageKind::Train => StageParams::Train(parse(table)?),
        StageKind::Evaluate => StageParams::Evaluate(parse(table)?),
        StageKind::Report => StageParams::Report(parse(table)?),
    })
}

/// Returns the kinds of stage a stage of `kind` takes as inputs, and how many.
fn expected_inputs(kind: StageKind) -> (Option<StageKind>, &'static str) {
    match kind {
        StageKind::Ingest => (None, "no inputs"),
        StageKind::Preprocess => (Some(StageKind::Ingest), "exactly one ingest stage"),
        StageKind::Train => (Some(StageKind::Preprocess), "exactly one preprocess stage"),
        StageKind::Evaluate => (Some(StageKind::Train), "exactly one train stage"),
        StageKind::Report => (Some(StageKind::Evaluate), "one or more evaluate stages"),
    }
}

/// Checks every input reference and kind, then orders the stages so that inputs come first.
fn order_stages(
    parser: &Parser<'_>,
    stages: Vec<Stage>,
    spans: &BTreeMap<String, (Range<usize>, Vec<Range<usize>>)>,
) -> Result<Vec<Stage>, ConfigError> {
    let kinds: BTreeMap<&str, StageKind> =
        stages.iter().map(|s| (s.name.as_str(), s.kind())).collect();
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    for stage in &stages {
        let (name_span, input_spans) = &spans[&stage.name];
        let (expected, description) = expected_inputs(stage.kind());
        let count_ok = match stage.kind() {
            StageKind::Ingest => stage.inputs.is_empty(),
            StageKind::Report => !stage.inputs.is_empty(),
            _ => stage.inputs.len() == 1,
        };
        if !count_ok {
            return Err(parser.error(
                name_span.clone(),
                &format!(
                    "{} stage `{}` takes {description} in `inputs`, got {}",
                    stage.kind(),
                    stage.name,
                    stage.inputs.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (input, span) in stage.inputs.iter().zip(input_spans) {
            let Some(&kind) = kinds.get(input.as_str()) else {
                return Err(parser.error(
                    span.clone(),
                    &format!("`{input}` is not a stage in this file; stages: {}", names.join(", ")),
                ));
            };
            if Some(kind) != expected {
                return Err(parser.error(
                    span.clone(),
                    &format!("{} stage `{}` cannot read the output of {kind} stage `{input}`; it takes {description}", stage.kind(), stage.name),
                ));
            }
            if !seen.insert(input) {
                return Err(
                    parser.error(span.clone(), &format!("`{input}` is listed twice in `inputs`"))
                );
            }
        }
    }

    // Kahn's algorithm, taking ready stages in file order.
    let mut ordered: Vec<Stage> = Vec::with_capacity(stages.len());
    let mut pending = stages;
    while !pending.is_empty() {
        let done: BTreeSet<&str> = ordered.iter().map(|s| s.name.as_str()).collect();
        let Some(ready) =
            pending.iter().position(|s| s.inputs.iter().all(|i| done.contains(i.as_str())))
        else {
            let cycle: Vec<&str> = pending.iter().map(|s| s.name.as_str()).collect();
            let span = spans[cycle[0]].0.clone();
            return Err(parser.error(
                span,
                &format!("the stages {} depend on each other in a cycle", cycle.join(", ")),
            ));
        };
        ordered.push(pending.remove(ready));
    }
    Ok(ordered)
}

/// Returns the 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[experiment]\nname = \"t\"\n\n[stages.data]\nkind = \"ingest\"\ndataset = \"d\"\nlabel = { column = \"y\", anomaly = [\"1\"] }\n";

    fn parse(stages: &str) -> Result<Experiment, String> {
        Experiment::parse(Path::new("t.toml"), &format!("{HEAD}{stages}"), &[])
            .map_err(|e| e.to_string())
    }

    const PIPELINE: &str = "
[stages.report]
kind = \"report\"
inputs = [\"eval\"]

[stages.eval]
kind = \"evaluate\"
inputs = [\"mlp\"]

[stages.mlp]
kind = \"train\"
inputs = [\"split\"]
model = \"mlp\"

[stages.split]
kind = \"preprocess\"
inputs = [\"data\"]
";

    #[test]
    fn stages_run_after_their_inputs() {
        let experiment = parse(PIPELINE).unwrap();
        let names: Vec<&str> = experiment.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["data", "split", "mlp", "eval", "report"]);
        assert_eq!(experiment.meta.seed, 42);
    }

    #[test]
    fn unknown_input_names_line_and_stages() {
        let error =
            parse("[stages.split]\nkind = \"preprocess\"\ninputs = [\"dta\"]\n").unwrap_err();
        assert!(error.starts_with("t.toml:10:11: `dta` is not a stage"), "{error}");
        assert!(error.contains("stages: data, split"), "{error}");
    }

    #[test]
    fn wrong_input_kind_is_rejected() {
        let error = parse("[stages.mlp]\nkind = \"train\"\ninputs = [\"data\"]\nmodel = \"mlp\"\n")
            .unwrap_err();
        assert!(
            error.contains("train stage `mlp` cannot read the output of ingest stage `data`"),
            "{error}"
        );
        assert!(error.contains("exactly one preprocess stage"), "{error}");
    }

    #[test]
    fn unknown_stage_key_names_position() {
        let error =
            parse("[stages.split]\nkind = \"preprocess\"\ninputs = [\"data\"]\nstratfy = true\n")
                .unwrap_err();
        assert!(error.starts_with("t.toml:11:1: unknown field `stratfy`"), "{error}");
    }

    #[test]
    fn wrong_value_type_names_position() {
        let error =
            parse("[stages.split]\nkind = \"preprocess\"\ninputs = [\"data\"]\ndrop = \"Time\"\n")
                .unwrap_err();
        assert!(error.starts_with("t.toml:11:8:"), "{error}");
    }

    #[test]
    fn unknown_kind_is_rejected() {
        let error = parse("[stages.x]\nkind = \"transform\"\n").unwrap_err();
        assert!(error.starts_with("t.toml:9:8: invalid `kind`"), "{error}");
    }

    #[test]
    fn missing_kind_is_rejected() {
        let error = parse("[stages.x]\ninputs = []\n").unwrap_err();
        assert!(error.contains("stage `x` has no `kind`"), "{error}");
    }

    #[test]
    fn invalid_train_values_are_rejected() {
        let error = parse(&format!("{PIPELINE}\n[stages.ae]\nkind = \"train\"\ninputs = [\"split\"]\nmodel = \"autoencoder\"\nbatch_size = 0\n")).unwrap_err();
        assert!(error.contains("stage `ae`"), "{error}");
        assert!(error.contains("batch_size"), "{error}");
    }

    #[test]
    fn split_fractions_must_sum_to_one() {
        let error = parse("[stages.split]\nkind = \"preprocess\"\ninputs = [\"data\"]\nsplit = { train = 0.6, validation = 0.3, test = 0.3 }\n").unwrap_err();
        assert!(error.contains("sum to 1.2"), "{error}");
        assert!(error.contains("must sum to 1"), "{error}");
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let error = Experiment::parse(Path::new("t.toml"), &format!("seed = 1\n{HEAD}"), &[])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("t.toml:1:1: unknown top-level key `seed`"), "{error}");
    }

    #[test]
    fn missing_experiment_table_is_rejected() {
        let error = Experiment::parse(Path::new("t.toml"), "[stages.a]\nkind = \"ingest\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing `[experiment]`"), "{error}");
    }

    #[test]
    fn invalid_device_is_rejected() {
        let text = HEAD.replace("name = \"t\"", "name = \"t\"\ndevice = \"gpu\"");
        let error = Experiment::parse(Path::new("t.toml"), &text, &[]).unwrap_err().to_string();
        assert!(error.contains("invalid device `gpu`"), "{error}");
    }

    #[test]
    fn syntax_error_names_position() {
        let error = Experiment::parse(Path::new("t.toml"), "[experiment\nname = 1", &[])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("t.toml:1:"), "{error}");
    }
}
