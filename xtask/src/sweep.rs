//! Command-line overrides and hyperparameter sweeps, and the expansion of an experiment into
//! stage instances.
//!
//! A sweep names parameters by dotted path, `STAGE.KEY` (or `STAGE.TABLE.KEY` for nested
//! tables such as `split.split.train`). Each swept stage gets its own variants: the cartesian
//! product of its value lists for `method = "grid"`, or `trials` random draws from its ranges
//! for `method = "random"`. Every stage downstream of a swept stage is copied once per
//! upstream variant; stages that nothing varies stay single and are shared by all trials.
//! The report stage is never copied: one report covers every trial.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use common::StageKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::experiment::{Experiment, Stage, StageParams, parse_stage_params, validate_params};

/// An error with the span of the text it concerns.
type SpanError = (Range<usize>, String);

/// The largest number of variants a grid may produce for one stage.
const MAX_VARIANTS: usize = 10_000;

/// The sampling method of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every combination of the listed values.
    Grid,
    /// `trials` random draws from ranges and lists.
    Random,
}

/// The values one swept parameter takes.
#[derive(Debug, Clone)]
pub enum Domain {
    /// Listed values (a grid axis, or a choice in random search).
    Values(Vec<Spanned<DeValue<'static>>>),
    /// Uniform on `[low, high)`.
    Uniform(f64, f64),
    /// Log-uniform on `[low, high)`, both positive.
    LogUniform(f64, f64),
    /// Integers uniform on `[low, high]`.
    Int(i64, i64),
}

/// One swept parameter.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// The dotted path as written, such as `mlp.learning_rate`.
    pub path: String,
    /// The stage it belongs to.
    pub stage: String,
    /// Keys below the stage's table.
    pub keys: Vec<String>,
    /// Span of the parameter's name in the file.
    pub span: Range<usize>,
    /// Span of its values in the file.
    pub values_span: Range<usize>,
    /// Its values.
    pub domain: Domain,
}

/// The `[sweep]` table.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// Grid or random search.
    pub method: Method,
    /// Random draws per swept stage.
    pub trials: usize,
    /// Seed of the random draws.
    pub seed: u64,
    /// Swept parameters in file order.
    pub parameters: Vec<Parameter>,
}

impl Sweep {
    /// Parses the `[sweep]` table of an experiment whose stages are already known.
    pub fn parse(
        value: Spanned<DeValue<'static>>,
        stages: &[Stage],
        default_seed: u64,
    ) -> Result<Sweep, SpanError> {
        let span = value.span();
        let DeValue::Table(mut table) = value.into_inner() else {
            return Err((span, "`sweep` must be a table".into()));
        };
        let method = match table.remove("method") {
            None => Method::Grid,
            Some(value) => match value.get_ref().as_str() {
                Some("grid") => Method::Grid,
                Some("random") => Method::Random,
                _ => {
                    return Err((
                        value.span(),
                        "invalid sweep `method`; expected \"grid\" or \"random\"".into(),
                    ));
                }
            },
        };
        let trials = match table.remove("trials") {
            None if method == Method::Random => {
                return Err((
                    span,
                    "a random sweep needs `trials = N`, the number of draws per swept stage".into(),
                ));
            }
            None => 0,
            Some(value) => match integer(&value) {
                Some(n) if n >= 1 && method == Method::Random => n as usize,
                Some(_) if method == Method::Grid => {
                    return Err((value.span(), "`trials` applies only to method = \"random\"; a grid has one trial per combination".into()));
                }
                _ => return Err((value.span(), "`trials` must be a positive integer".into())),
            },
        };
        let seed = match table.remove("seed") {
            None => default_seed,
            Some(value) => match integer(&value) {
                Some(n) if n >= 0 => n as u64,
                _ => {
                    return Err((
                        value.span(),
                        "sweep `seed` must be a non-negative integer".into(),
                    ));
                }
            },
        };
        let Some(parameters_value) = table.remove("parameters") else {
            return Err((span, "the sweep has no `[sweep.parameters]` table; add entries such as \"mlp.learning_rate\" = [0.001, 0.003]".into()));
        };
        if let Some((key, _)) = table.iter().next() {
            return Err((
                key.span(),
                format!(
                    "unknown sweep key `{}`; expected `method`, `trials`, `seed` or `parameters`",
                    key.get_ref()
                ),
            ));
        }
        let parameters_span = parameters_value.span();
        let DeValue::Table(entries) = parameters_value.into_inner() else {
            return Err((
                parameters_span,
                "`sweep.parameters` must be a table of \"STAGE.KEY\" = values".into(),
            ));
        };

        let mut parameters = Vec::new();
        for (key, value) in entries {
            parameters.push(parameter(key, value, stages, method)?);
        }
        if parameters.is_empty() {
            return Err((
                parameters_span,
                "`sweep.parameters` is empty; add at least one parameter".into(),
            ));
        }
        parameters.sort_by_key(|p| p.span.start);
        Ok(Sweep { method, trials, seed, parameters })
    }
}

fn integer(value: &Spanned<DeValue<'_>>) -> Option<i64> {
    value.get_ref().as_integer().and_then(|n| i64::from_str_radix(n.as_str(), n.radix()).ok())
}

fn float(value: &Spanned<DeValue<'_>>) -> Option<f64> {
    match value.get_ref() {
        DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
        DeValue::Integer(_) => integer(value).map(|n| n as f64),
        _ => None,
    }
}

/// Parses one `"STAGE.KEY" = values` entry.
fn parameter(
    key: Spanned<Cow<'static, str>>,
    value: Spanned<DeValue<'static>>,
    stages: &[Stage],
    method: Method,
) -> Result<Parameter, SpanError> {
    let span = key.span();
    let path = key.get_ref().to_string();
    let mut parts = path.split('.');
    let stage = parts.next().unwrap_or_default().to_string();
    let keys: Vec<String> = parts.map(str::to_string).collect();
    let Some(found) = stages.iter().find(|s| s.name == stage) else {
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        return Err((
            span,
            format!(
                "sweep parameter `{path}`: there is no stage `{stage}`; stages: {}",
                names.join(", ")
            ),
        ));
    };
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err((
            span,
            format!("sweep parameter `{path}` must be STAGE.KEY, such as `{stage}.learning_rate`"),
        ));
    }
    if found.params.kind() == StageKind::Report {
        return Err((span, format!("sweep parameter `{path}`: report stages cannot be swept")));
    }
    if keys[0] == "kind" || keys[0] == "inputs" {
        return Err((
            span,
            format!(
                "sweep parameter `{path}`: `{}` cannot be swept, only stage parameters",
                keys[0]
            ),
        ));
    }

    let value_span = value.span();
    let domain = match value.into_inner() {
        DeValue::Array(items) => {
            let items: Vec<_> = items.into_iter().collect();
            if items.is_empty() {
                return Err((
                    value_span,
                    format!("sweep parameter `{path}` has an empty list; give at least one value"),
                ));
            }
            Domain::Values(items)
        }
        DeValue::Table(table) if table.len() == 1 => {
            let (name, range) = table.into_iter().next().expect("one entry");
            let range_span = range.span();
            let bounds: Option<Vec<Spanned<DeValue<'static>>>> = match range.into_inner() {
                DeValue::Array(items) => Some(items.into_iter().collect()),
                _ => None,
            };
            let kind = name.get_ref().to_string();
            if kind == "choice" {
                let items = bounds.filter(|b| !b.is_empty()).ok_or_else(|| {
                    (
                        range_span.clone(),
                        format!("`{path}`: `choice` needs a non-empty list of values"),
                    )
                })?;
                Domain::Values(items)
            } else {
                if method == Method::Grid {
                    return Err((
                        name.span(),
                        format!(
                            "sweep parameter `{path}`: `{kind}` ranges need method = \"random\"; a grid takes a list of values"
                        ),
                    ));
                }
                let pair = bounds.filter(|b| b.len() == 2).ok_or_else(|| {
                    (range_span.clone(), format!("`{path}`: `{kind}` needs [low, high]"))
                })?;
                match kind.as_str() {
                    "uniform" | "log_uniform" => {
                        let (Some(low), Some(high)) = (float(&pair[0]), float(&pair[1])) else {
                            return Err((
                                range_span,
                                format!("`{path}`: the bounds of `{kind}` must be numbers"),
                            ));
                        };
                        if low >= high
                            || low.is_nan()
                            || high.is_nan()
                            || (kind == "log_uniform" && low <= 0.0)
                        {
                            return Err((
                                range_span,
                                format!(
                                    "`{path}`: `{kind}` needs low < high{}",
                                    if kind == "log_uniform" { " and low > 0" } else { "" }
                                ),
                            ));
                        }
                        if kind == "uniform" {
                            Domain::Uniform(low, high)
                        } else {
                            Domain::LogUniform(low, high)
                        }
                    }
                    "int" => {
                        let (Some(low), Some(high)) = (integer(&pair[0]), integer(&pair[1])) else {
                            return Err((
                                range_span,
                                format!("`{path}`: the bounds of `int` must be integers"),
                            ));
                        };
                        if low > high {
                            return Err((range_span, format!("`{path}`: `int` needs low <= high")));
                        }
                        Domain::Int(low, high)
                    }
                    _ => {
                        return Err((
                            name.span(),
                            format!(
                                "`{path}`: unknown range `{kind}`; expected `uniform`, `log_uniform`, `int` or `choice`"
                            ),
                        ));
                    }
                }
            }
        }
        _ => {
            return Err((
                value_span,
                format!(
                    "sweep parameter `{path}` needs a list of values, or with method = \"random\" a range such as {{ log_uniform = [0.0001, 0.01] }}"
                ),
            ));
        }
    };
    Ok(Parameter { path, stage, keys, span, values_span: value_span, domain })
}

/// One instance of a stage in the expanded experiment.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Unique name: the stage's name, or `STAGE#N` for the N-th of several instances.
    pub id: String,
    /// Name of the stage it is an instance of.
    pub stage: String,
    /// Its parameters.
    pub params: StageParams,
    /// Indices of its input instances in the expansion.
    pub inputs: Vec<usize>,
    /// Swept values of this instance and of every instance upstream, by dotted path.
    pub varied: BTreeMap<String, serde_json::Value>,
    /// The reason this instance's swept parameters are out of range; it fails when it would run.
    pub invalid: Option<String>,
    /// The parameters that go into the instance's key: its own, plus the values it takes
    /// from `[experiment]` (seed, device, report title) when it does not set them itself.
    pub key_params: serde_json::Value,
}

impl Instance {
    /// Returns the kind of stage.
    pub fn kind(&self) -> StageKind {
        self.params.kind()
    }
}

/// Expands an experiment into stage instances in dependency order.
pub fn expand(experiment: &Experiment) -> Result<Vec<Instance>, SpanError> {
    let mut instances: Vec<Instance> = Vec::new();
    let mut by_stage: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for stage in &experiment.stages {
        let variants = variants(experiment, stage)?;
        let mut created = Vec::new();
        if stage.params.kind() == StageKind::Report {
            let inputs: Vec<usize> =
                stage.inputs.iter().flat_map(|input| by_stage[input.as_str()].clone()).collect();
            let variant = variants.into_iter().next().expect("a report has one variant");
            created.push(Instance {
                id: String::new(),
                stage: stage.name.clone(),
                params: variant.params,
                inputs,
                varied: variant.varied,
                invalid: variant.invalid,
                key_params: serde_json::Value::Null,
            });
        } else {
            let upstream: Vec<Option<usize>> = match stage.inputs.first() {
                Some(input) => by_stage[input.as_str()].iter().map(|&i| Some(i)).collect(),
                None => vec![None],
            };
            for input in upstream {
                for variant in &variants {
                    let mut varied = input.map(|i| instances[i].varied.clone()).unwrap_or_default();
                    varied.extend(variant.varied.clone());
                    created.push(Instance {
                        id: String::new(),
                        stage: stage.name.clone(),
                        params: variant.params.clone(),
                        inputs: input.into_iter().collect(),
                        varied,
                        invalid: variant.invalid.clone(),
                        key_params: serde_json::Value::Null,
                    });
                }
            }
        }
        for instance in &mut created {
            instance.key_params = key_params(&instance.params, &experiment.meta);
        }
        let count = created.len();
        let mut indices = Vec::with_capacity(count);
        for (n, mut instance) in created.into_iter().enumerate() {
            instance.id =
                if count == 1 { stage.name.clone() } else { format!("{}#{}", stage.name, n + 1) };
            indices.push(instances.len());
            instances.push(instance);
        }
        by_stage.insert(&stage.name, indices);
    }
    Ok(instances)
}

/// One parameter set of a stage.
struct Variant {
    params: StageParams,
    /// Swept values by dotted path.
    varied: BTreeMap<String, serde_json::Value>,
    /// The reason the parameters are out of range, if they are.
    invalid: Option<String>,
}

/// Returns the name of the device a setting resolves to on this machine, such as `cpu` for
/// `auto` without a GPU, or the setting itself when it cannot be used (the stage then fails
/// with the reason). Each setting is resolved once per process, because opening a CUDA
/// device takes a while.
pub fn resolved_device(choice: &model::DeviceChoice) -> String {
    static RESOLVED: std::sync::Mutex<BTreeMap<String, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    let setting = String::from(choice.clone());
    let mut resolved = RESOLVED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    resolved
        .entry(setting.clone())
        .or_insert_with(|| match model::select_device(choice) {
            Ok(device) => model::device_name(&device),
            Err(_) => setting,
        })
        .clone()
}

/// Returns the parameters of a stage instance as they enter its key: its own parameters plus
/// the experiment-wide values it uses. Changing the seed, the device or the default report
/// title therefore changes the key of every stage that depends on it.
fn key_params(params: &StageParams, meta: &crate::experiment::ExperimentMeta) -> serde_json::Value {
    let mut json = params.to_json();
    let serde_json::Value::Object(map) = &mut json else { return json };
    let device = resolved_device;
    match params {
        StageParams::Preprocess(_) => {
            map.insert("seed".into(), meta.seed.into());
        }
        StageParams::Train(config) => {
            map.insert("seed".into(), config.seed.unwrap_or(meta.seed).into());
            map.insert(
                "device".into(),
                device(config.device.as_ref().unwrap_or(&meta.device)).into(),
            );
        }
        StageParams::Evaluate(_) => {
            map.insert("device".into(), device(&meta.device).into());
        }
        StageParams::Report(config) => {
            map.insert(
                "title".into(),
                config.title.clone().unwrap_or_else(|| meta.name.clone()).into(),
            );
        }
        StageParams::Ingest(_) => {}
    }
    json
}

/// Returns the parameter variants of one stage with their swept values.
fn variants(experiment: &Experiment, stage: &Stage) -> Result<Vec<Variant>, SpanError> {
    let swept: Vec<&Parameter> = experiment
        .sweep
        .iter()
        .flat_map(|sweep| &sweep.parameters)
        .filter(|p| p.stage == stage.name)
        .collect();
    if swept.is_empty() {
        return Ok(vec![Variant {
            params: stage.params.clone(),
            varied: BTreeMap::new(),
            invalid: None,
        }]);
    }
    let sweep = experiment.sweep.as_ref().expect("parameters come from a sweep");

    let assignments: Vec<Vec<Spanned<DeValue<'static>>>> = match sweep.method {
        Method::Grid => {
            let mut combinations: Vec<Vec<Spanned<DeValue<'static>>>> = vec![Vec::new()];
            for parameter in &swept {
                let Domain::Values(values) = &parameter.domain else {
                    unreachable!("grids hold lists")
                };
                if combinations.len() * values.len() > MAX_VARIANTS {
                    return Err((
                        parameter.span.clone(),
                        format!(
                            "the grid for stage `{}` has more than {MAX_VARIANTS} combinations; use method = \"random\"",
                            stage.name
                        ),
                    ));
                }
                combinations = combinations
                    .into_iter()
                    .flat_map(|prefix| {
                        values.iter().map(move |value| {
                            let mut next = prefix.clone();
                            next.push(value.clone());
                            next
                        })
                    })
                    .collect();
            }
            combinations
        }
        Method::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(sweep.seed ^ stable_hash(&stage.name));
            (0..sweep.trials)
                .map(|_| swept.iter().map(|p| sample(&p.domain, &p.span, &mut rng)).collect())
                .collect()
        }
    };

    let mut variants = Vec::with_capacity(assignments.len());
    for assignment in assignments {
        let mut table = stage.raw.clone();
        for (parameter, value) in swept.iter().zip(assignment) {
            set_path(table.get_mut(), &parameter.keys, value, &parameter.span)
                .map_err(|message| (parameter.span.clone(), message))?;
        }
        let params =
            parse_stage_params(stage.params.kind(), table).map_err(|(span, message)| {
                // Name the swept parameter when the rejected value came from the sweep.
                match swept.iter().find(|p| p.span == span || p.values_span.contains(&span.start)) {
                    Some(parameter) => {
                        (span, format!("sweep parameter `{}`: {message}", parameter.path))
                    }
                    None => (span, message),
                }
            })?;
        let json = params.to_json();
        let mut varied = BTreeMap::new();
        for parameter in &swept {
            let pointer = format!("/{}", parameter.keys.join("/"));
            let value = json.pointer(&pointer).cloned().unwrap_or(serde_json::Value::Null);
            varied.insert(parameter.path.clone(), value);
        }
        // A value out of range fails its own trial when it runs, so the other trials go on.
        let invalid = validate_params(&stage.name, &params).err();
        variants.push(Variant { params, varied, invalid });
    }
    Ok(variants)
}

/// Draws one value of a domain.
fn sample(domain: &Domain, span: &Range<usize>, rng: &mut ChaCha8Rng) -> Spanned<DeValue<'static>> {
    let text = match domain {
        Domain::Values(values) => return values[rng.random_range(0..values.len())].clone(),
        Domain::Uniform(low, high) => {
            format!("{:?}", round_significant(rng.random_range(*low..*high)))
        }
        Domain::LogUniform(low, high) => {
            let exponent = rng.random_range(low.ln()..high.ln());
            format!("{:?}", round_significant(exponent.exp()))
        }
        Domain::Int(low, high) => rng.random_range(*low..=*high).to_string(),
    };
    let text: &'static str = Box::leak(text.into_boxed_str());
    let value = DeValue::parse(text).expect("formatted numbers are valid TOML").into_inner();
    Spanned::new(span.clone(), value)
}

/// Rounds to four significant digits, so that drawn values read well in tables.
fn round_significant(value: f64) -> f64 {
    format!("{value:.3e}").parse().unwrap_or(value)
}

/// Returns a hash of a string that is the same in every build (unlike `DefaultHasher`).
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Sets `keys` below `table` to `value`, creating intermediate tables.
fn set_path(
    table: &mut DeTable<'static>,
    keys: &[String],
    value: Spanned<DeValue<'static>>,
    span: &Range<usize>,
) -> Result<(), String> {
    let (last, parents) = keys.split_last().expect("paths have at least one key");
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(Spanned::new(span.clone(), Cow::Owned(key.clone())))
            .or_insert_with(|| Spanned::new(span.clone(), DeValue::Table(DeTable::default())));
        let DeValue::Table(next) = entry.get_mut() else {
            return Err(format!("`{key}` is not a table, so it has no key `{last}`"));
        };
        current = next;
    }
    current.insert(Spanned::new(span.clone(), Cow::Owned(last.clone())), value);
    Ok(())
}

/// A parsed `-S PATH=VALUE` override.
#[derive(Debug, Clone)]
pub struct Override {
    /// The override as given.
    pub text: String,
    /// Keys from the document root, such as `stages`, `mlp`, `learning_rate`.
    pub keys: Vec<String>,
    /// The value.
    pub value: DeValue<'static>,
}

/// Parses `-S` overrides. `PATH` is `experiment.KEY`, `STAGE.KEY` or `stages.STAGE.KEY`;
/// `VALUE` is a TOML value, and anything that does not parse as one is taken as a string.
pub fn parse_overrides(overrides: &[String]) -> Result<Vec<Override>, String> {
    overrides
        .iter()
        .map(|text| {
            let Some((path, value)) = text.split_once('=') else {
                return Err(format!("invalid override `-S {text}`: expected PATH=VALUE, such as -S mlp.learning_rate=0.003"));
            };
            let mut keys: Vec<String> = path.trim().split('.').map(str::to_string).collect();
            if keys.len() < 2 || keys.iter().any(String::is_empty) {
                return Err(format!("invalid override `-S {text}`: the path needs a table and a key, such as mlp.learning_rate or experiment.seed"));
            }
            if keys[0] != "experiment" && keys[0] != "stages" {
                keys.insert(0, "stages".into());
            }
            let value: &'static str = Box::leak(value.trim().to_string().into_boxed_str());
            let value = match DeValue::parse(value) {
                Ok(parsed) => parsed.into_inner(),
                Err(_) => DeValue::String(Cow::Borrowed(value)),
            };
            Ok(Override { text: text.clone(), keys, value })
        })
        .collect()
}

/// Applies overrides to a parsed document. The values get a span at the end of the
/// document, which error messages recognise as coming from the command line.
pub fn apply_overrides(
    root: &mut DeTable<'static>,
    overrides: &[Override],
    end: usize,
) -> Result<(), String> {
    for item in overrides {
        let span = end..end;
        let (table_keys, key) = item.keys.split_at(item.keys.len() - 1);
        let mut current = &mut *root;
        for (depth, name) in table_keys.iter().enumerate() {
            let Some(entry) = current.get_mut(name.as_str()) else {
                let what = if depth == 1 {
                    format!("there is no stage `{name}`")
                } else {
                    format!("there is no table `{name}`")
                };
                return Err(format!("invalid override `-S {}`: {what}", item.text));
            };
            let DeValue::Table(next) = entry.get_mut() else {
                return Err(format!(
                    "invalid override `-S {}`: `{name}` is not a table",
                    item.text
                ));
            };
            current = next;
        }
        current.insert(
            Spanned::new(span.clone(), Cow::Owned(key[0].clone())),
            Spanned::new(span, item.value.clone()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"[experiment]
name = "t"

[stages.data]
kind = "ingest"
dataset = "d"
label = { column = "y", anomaly = ["1"] }

[stages.split]
kind = "preprocess"
inputs = ["data"]

[stages.mlp]
kind = "train"
inputs = ["split"]
model = "mlp"

[stages.eval]
kind = "evaluate"
inputs = ["mlp"]

[stages.report]
kind = "report"
inputs = ["eval"]
"#;

    fn parse(sweep: &str, overrides: &[&str]) -> Result<Experiment, String> {
        let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
        Experiment::parse(Path::new("t.toml"), &format!("{BASE}{sweep}"), &overrides)
            .map_err(|e| e.to_string())
    }

    fn ids(experiment: &Experiment) -> Vec<String> {
        expand(experiment).unwrap().into_iter().map(|i| i.id).collect()
    }

    #[test]
    fn grid_copies_downstream_stages() {
        let experiment =
            parse("[sweep.parameters]\n\"mlp.learning_rate\" = [0.1, 0.01]\n\"mlp.hidden\" = [[4], [8], [16]]\n", &[]).unwrap();
        let instances = expand(&experiment).unwrap();
        let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), 2 + 6 + 6 + 1);
        assert_eq!(&ids[..3], ["data", "split", "mlp#1"]);
        assert_eq!(ids[ids.len() - 1], "report");
        let report = instances.last().unwrap();
        assert_eq!(report.inputs.len(), 6);
        // The last axis varies fastest.
        assert_eq!(instances[2].varied["mlp.hidden"], serde_json::json!([4]));
        assert_eq!(instances[3].varied["mlp.hidden"], serde_json::json!([8]));
        assert_eq!(instances[5].varied["mlp.learning_rate"], serde_json::json!(0.01));
        // Evaluate copies inherit their train instance's values.
        let eval = instances.iter().find(|i| i.id == "eval#4").unwrap();
        assert_eq!(eval.varied["mlp.learning_rate"], serde_json::json!(0.01));
    }

    #[test]
    fn upstream_sweep_multiplies_downstream() {
        let experiment = parse(
            "[sweep.parameters]\n\"split.log1p\" = [[], [\"a\"]]\n\"mlp.epochs\" = [1, 2]\n",
            &[],
        )
        .unwrap();
        let ids = ids(&experiment);
        assert_eq!(ids.iter().filter(|id| id.starts_with("split#")).count(), 2);
        assert_eq!(ids.iter().filter(|id| id.starts_with("mlp#")).count(), 4);
        assert_eq!(ids.iter().filter(|id| id.starts_with("eval#")).count(), 4);
    }

    #[test]
    fn random_search_is_seeded() {
        let sweep = "[sweep]\nmethod = \"random\"\ntrials = 5\nseed = 3\n[sweep.parameters]\n\"mlp.learning_rate\" = { log_uniform = [0.0001, 0.1] }\n\"mlp.epochs\" = { int = [2, 9] }\n\"mlp.activation\" = { choice = [\"relu\", \"tanh\"] }\n";
        let first = expand(&parse(sweep, &[]).unwrap()).unwrap();
        let second = expand(&parse(sweep, &[]).unwrap()).unwrap();
        let values = |instances: &[Instance]| -> Vec<BTreeMap<String, serde_json::Value>> {
            instances.iter().filter(|i| i.stage == "mlp").map(|i| i.varied.clone()).collect()
        };
        assert_eq!(values(&first).len(), 5);
        assert_eq!(values(&first), values(&second));
        for varied in values(&first) {
            let rate = varied["mlp.learning_rate"].as_f64().unwrap();
            assert!((0.0001..0.1).contains(&rate), "{rate}");
            let epochs = varied["mlp.epochs"].as_u64().unwrap();
            assert!((2..=9).contains(&epochs), "{epochs}");
        }
        let reseeded =
            expand(&parse(&sweep.replace("seed = 3", "seed = 4"), &[]).unwrap()).unwrap();
        assert_ne!(values(&first), values(&reseeded));
    }

    #[test]
    fn unknown_swept_parameter_is_rejected() {
        let error = parse("[sweep.parameters]\n\"mlp.learning_rat\" = [0.1]\n", &[]).unwrap_err();
        assert!(error.contains("t.toml:26:1"), "{error}");
        assert!(
            error.contains("sweep parameter `mlp.learning_rat`") && error.contains("unknown field"),
            "{error}"
        );
    }

    #[test]
    fn unknown_swept_stage_is_rejected() {
        let error = parse("[sweep.parameters]\n\"mpl.learning_rate\" = [0.1]\n", &[]).unwrap_err();
        assert!(error.contains("there is no stage `mpl`"), "{error}");
    }

    #[test]
    fn empty_sweep_list_is_rejected() {
        let error = parse("[sweep.parameters]\n\"mlp.learning_rate\" = []\n", &[]).unwrap_err();
        assert!(error.contains("empty list"), "{error}");
    }

    #[test]
    fn out_of_range_value_marks_its_trial() {
        let sweep = "[sweep.parameters]\n\"mlp.learning_rate\" = [0.1, -1.0]\n";
        let instances = expand(&parse(sweep, &[]).unwrap()).unwrap();
        assert_eq!(instances.iter().find(|i| i.id == "mlp#1").unwrap().invalid, None);
        let invalid = instances.iter().find(|i| i.id == "mlp#2").unwrap().invalid.clone().unwrap();
        assert!(invalid.contains("learning_rate"), "{invalid}");
        assert!(invalid.contains("-1"), "{invalid}");
    }

    #[test]
    fn wrong_swept_type_is_rejected() {
        let sweep = "[sweep.parameters]\n\"mlp.learning_rate\" = [0.1, \"fast\"]\n";
        let error = parse(sweep, &[]).unwrap_err();
        assert!(error.contains("t.toml:26:"), "{error}");
        assert!(error.contains("sweep parameter `mlp.learning_rate`"), "{error}");
    }

    #[test]
    fn range_needs_random_method() {
        let error =
            parse("[sweep.parameters]\n\"mlp.learning_rate\" = { uniform = [0.1, 0.2] }\n", &[])
                .unwrap_err();
        assert!(error.contains("need method = \"random\""), "{error}");
    }

    #[test]
    fn overrides_set_values() {
        let experiment =
            parse("", &["mlp.epochs=7", "experiment.seed=9", "mlp.activation=tanh"]).unwrap();
        assert_eq!(experiment.meta.seed, 9);
        let instances = expand(&experiment).unwrap();
        let mlp = instances.iter().find(|i| i.id == "mlp").unwrap();
        assert_eq!(mlp.params.to_json()["epochs"], 7);
        assert_eq!(mlp.params.to_json()["activation"], "tanh");
    }

    #[test]
    fn override_of_swept_parameter_is_rejected() {
        let error =
            parse("[sweep.parameters]\n\"mlp.epochs\" = [1, 2]\n", &["mlp.epochs=3"]).unwrap_err();
        assert!(
            error.contains("-S mlp.epochs=3 sets `mlp.epochs`, which this file sweeps"),
            "{error}"
        );
    }

    #[test]
    fn invalid_experiment_name_is_rejected() {
        let error = parse("", &["experiment.name=\"../escape\""]).unwrap_err();
        assert!(error.contains("invalid experiment name `../escape`"), "{error}");
    }

    #[test]
    fn override_errors_name_the_override() {
        let error = parse("", &["mlp.epochz=7"]).unwrap_err();
        assert!(error.contains("in a -S override"), "{error}");
        assert!(error.contains("epochz"), "{error}");
        let error = parse("", &["mpl.epochs=7"]).unwrap_err();
        assert!(error.contains("there is no stage `mpl`"), "{error}");
        let error = parse("", &["epochs"]).unwrap_err();
        assert!(error.contains("expected PATH=VALUE"), "{error}");
    }
}
