//! The executor choice and the `[experiment.slurm]` table of an experiment file.
//!
//! ```toml
//! [experiment]
//! executor = "slurm"
//!
//! [experiment.slurm]          # defaults for every stage kind
//! partition = "cpu"
//! time = "00:30:00"
//! cpus = 1
//! memory = "2G"
//!
//! [experiment.slurm.train]    # overrides for train stages
//! partition = "gpu"
//! gres = "gpu:1"
//! ```
//!
//! Every value is checked while the file is read, so a typing error is reported as
//! `FILE:LINE:COLUMN` before anything is submitted.

use std::fmt;

use common::StageKind;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// The executor of a run's stage instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Threads of the current process.
    #[default]
    Local,
    /// Slurm job arrays, one array task per stage instance.
    Slurm,
}

/// Job settings of one stage kind, as passed to `sbatch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmResources {
    /// `--partition`.
    pub partition: Option<Name>,
    /// `--time`: minutes, or `[DAYS-]HOURS:MINUTES:SECONDS` and the other Slurm forms.
    pub time: Option<TimeLimit>,
    /// `--cpus-per-task`.
    pub cpus: Option<Cpus>,
    /// `--mem`: megabytes, or a number with a `K`, `M`, `G` or `T` suffix.
    pub memory: Option<Memory>,
    /// `--gres`, such as `gpu:1` or `gpu:a100:2`.
    pub gres: Option<Gres>,
    /// `--account`.
    pub account: Option<Name>,
    /// `--qos`.
    pub qos: Option<Name>,
    /// Further `sbatch` options, such as `["--constraint=avx2"]`.
    pub options: Option<Vec<SbatchOption>>,
}

/// The `[experiment.slurm]` table: defaults for every kind, then per-kind tables that
/// override single values.
// NOTE: the default fields repeat those of `SlurmResources` because serde cannot combine
// `flatten` with `deny_unknown_fields`, and unknown keys must be rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition`.
    pub partition: Option<Name>,
    /// `--time`.
    pub time: Option<TimeLimit>,
    /// `--cpus-per-task`.
    pub cpus: Option<Cpus>,
    /// `--mem`.
    pub memory: Option<Memory>,
    /// `--gres`.
    pub gres: Option<Gres>,
    /// `--account`.
    pub account: Option<Name>,
    /// `--qos`.
    pub qos: Option<Name>,
    /// Further `sbatch` options.
    pub options: Option<Vec<SbatchOption>>,
    /// Overrides for ingest stages.
    pub ingest: Option<SlurmResources>,
    /// Overrides for preprocess stages.
    pub preprocess: Option<SlurmResources>,
    /// Overrides for train stages.
    pub train: Option<SlurmResources>,
    /// Overrides for evaluate stages.
    pub evaluate: Option<SlurmResources>,
    /// Overrides for report stages.
    pub report: Option<SlurmResources>,
}

impl SlurmConfig {
    /// Returns the settings of a stage kind: its own table's values, else the defaults.
    pub fn resources(&self, kind: StageKind) -> SlurmResources {
        let specific = match kind {
            StageKind::Ingest => &self.ingest,
            StageKind::Preprocess => &self.preprocess,
            StageKind::Train => &self.train,
            StageKind::Evaluate => &self.evaluate,
            StageKind::Report => &self.report,
        };
        let specific = specific.clone().unwrap_or_default();
        SlurmResources {
            partition: specific.partition.or_else(|| self.partition.clone()),
            time: specific.time.or_else(|| self.time.clone()),
            cpus: specific.cpus.or(self.cpus),
            memory: specific.memory.or_else(|| self.memory.clone()),
            gres: specific.gres.or_else(|| self.gres.clone()),
            account: specific.account.or_else(|| self.account.clone()),
            qos: specific.qos.or_else(|| self.qos.clone()),
            options: specific.options.or_else(|| self.options.clone()),
        }
    }
}

impl SlurmResources {
    /// Returns the `sbatch` options these settings stand for.
    pub fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(partition) = &self.partition {
            args.push(format!("--partition={}", partition.0));
        }
        if let Some(time) = &self.time {
            args.push(format!("--time={}", time.0));
        }
        if let Some(cpus) = &self.cpus {
            args.push(format!("--cpus-per-task={}", cpus.0));
        }
        if let Some(memory) = &self.memory {
            args.push(format!("--mem={}", memory.0));
        }
        if let Some(gres) = &self.gres {
            args.push(format!("--gres={}", gres.0));
        }
        if let Some(account) = &self.account {
            args.push(format!("--account={}", account.0));
        }
        if let Some(qos) = &self.qos {
            args.push(format!("--qos={}", qos.0));
        }
        for option in self.options.iter().flatten() {
            args.push(option.0.clone());
        }
        args
    }

    /// Returns whether the settings request a GPU through `gres`.
    pub fn requests_gpu(&self) -> bool {
        self.gres
            .as_ref()
            .is_some_and(|gres| gres.0.split(',').any(|item| item.split(':').next() == Some("gpu")))
    }
}

/// A partition, account or QOS name: not empty, without whitespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(pub String);

impl TryFrom<String> for Name {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.is_empty() || value.chars().any(char::is_whitespace) {
            return Err(format!(
                "invalid Slurm name `{value}`: it must be non-empty and contain no spaces"
            ));
        }
        Ok(Name(value))
    }
}

/// A CPU count of at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "i64")]
pub struct Cpus(pub u32);

impl TryFrom<i64> for Cpus {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match u32::try_from(value) {
            Ok(cpus) if cpus >= 1 => Ok(Cpus(cpus)),
            _ => Err(format!("invalid `cpus = {value}`: expected a whole number of at least 1")),
        }
    }
}

/// A `--gres` value: comma-separated `NAME[:TYPE][:COUNT]` items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Gres(pub String);

impl TryFrom<String> for Gres {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid_item = |item: &str| {
            !item.is_empty()
                && item.split(':').all(|part| {
                    !part.is_empty()
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                })
        };
        if !value.split(',').all(valid_item) {
            return Err(format!(
                "invalid `gres = \"{value}\"`: expected NAME[:TYPE][:COUNT] items separated by commas, such as \"gpu:1\""
            ));
        }
        Ok(Gres(value))
    }
}

/// An `sbatch` option that the executor does not set itself, such as `--constraint=avx2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct SbatchOption(pub String);

/// Options that the executor sets on every array job, which the file must not change.
const RESERVED_OPTIONS: [&str; 8] =
    ["--array", "--output", "--error", "--parsable", "--job-name", "--chdir", "--wrap", "--export"];

impl TryFrom<String> for SbatchOption {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if !value.starts_with("--") || value.len() < 3 || value.chars().any(char::is_whitespace) {
            return Err(format!(
                "invalid sbatch option `{value}`: write one long option per item, such as \"--constraint=avx2\""
            ));
        }
        let name = value.split('=').next().unwrap_or_default();
        if RESERVED_OPTIONS.contains(&name) {
            return Err(format!(
                "sbatch option `{name}` is set by the Slurm executor and cannot be changed"
            ));
        }
        Ok(SbatchOption(value))
    }
}

/// A `--time` limit: a number of minutes, or one of `MINUTES:SECONDS`,
/// `HOURS:MINUTES:SECONDS`, `DAYS-HOURS`, `DAYS-HOURS:MINUTES`, `DAYS-HOURS:MINUTES:SECONDS`,
/// or `UNLIMITED`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeLimit(pub String);

impl TimeLimit {
    fn parse(text: &str) -> Result<TimeLimit, String> {
        let numbers = |part: &str, count: std::ops::RangeInclusive<usize>| {
            let fields: Vec<&str> = part.split(':').collect();
            count.contains(&fields.len())
                && fields.iter().all(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
        };
        let valid = match text.split_once('-') {
            _ if matches!(text, "UNLIMITED" | "INFINITE") => true,
            Some((days, rest)) => numbers(days, 1..=1) && numbers(rest, 1..=3),
            None => numbers(text, 1..=3),
        };
        if !valid {
            return Err(format!(
                "invalid `time = \"{text}\"`: expected minutes or a Slurm time such as \"01:30:00\" or \"2-00:00:00\""
            ));
        }
        Ok(TimeLimit(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for TimeLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberOrText { what: "a time limit", parse: TimeLimit::parse })
    }
}

/// A `--mem` value: megabytes, or a whole number with a `K`, `M`, `G` or `T` suffix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory(pub String);

impl Memory {
    fn parse(text: &str) -> Result<Memory, String> {
        let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
        let suffix_len = text.len() - digits.len();
        let valid = suffix_len <= 1
            && !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
            && digits.chars().any(|c| c != '0');
        if !valid {
            return Err(format!(
                "invalid `memory = \"{text}\"`: expected megabytes or a size such as \"512M\" or \"4G\""
            ));
        }
        Ok(Memory(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberOrText { what: "a memory size", parse: Memory::parse })
    }
}

/// Reads a value written either as a whole number or as text, checking it with `parse`.
struct NumberOrText<T> {
    what: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for NumberOrText<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, as a whole number or a string", self.what)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        (self.parse)(&value.to_string()).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        (self.parse)(&value.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        (self.parse)(value).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limit_forms() {
        for valid in ["30", "30:00", "01:30:00", "2-00", "2-12:00", "2-12:00:00", "UNLIMITED"] {
            assert!(TimeLimit::parse(valid).is_ok(), "{valid}");
        }
        for invalid in ["", "1h", "1:2:3:4", "-1", "2-", "1:x", "1.5"] {
            assert!(TimeLimit::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn memory_forms() {
        for valid in ["512", "512M", "4G", "1t", "100K"] {
            assert!(Memory::parse(valid).is_ok(), "{valid}");
        }
        for invalid in ["", "0", "4GB", "G", "1.5G", "-1"] {
            assert!(Memory::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn gres_forms() {
        assert!(Gres::try_from("gpu:1".to_string()).is_ok());
        assert!(Gres::try_from("gpu:a100:2,license:1".to_string()).is_ok());
        assert!(Gres::try_from("gpu::1".to_string()).is_err());
        assert!(Gres::try_from("gpu 1".to_string()).is_err());
    }

    #[test]
    fn reserved_option_is_rejected() {
        let error = SbatchOption::try_from("--array=1-3".to_string()).unwrap_err();
        assert!(error.contains("`--array`"), "{error}");
        assert!(SbatchOption::try_from("--constraint=avx2".to_string()).is_ok());
        assert!(SbatchOption::try_from("-C avx2".to_string()).is_err());
    }

    const HEAD: &str = "[experiment]\nname = \"t\"\n";
    const STAGES: &str = "\n[stages.data]\nkind = \"ingest\"\ndataset = \"d\"\nlabel = { column = \"y\", anomaly = [\"1\"] }\n";

    fn parse(slurm: &str) -> Result<crate::experiment::Experiment, String> {
        let text = format!("{HEAD}{slurm}{STAGES}");
        crate::experiment::Experiment::parse(std::path::Path::new("t.toml"), &text, &[])
            .map_err(|e| e.to_string())
    }

    #[test]
    fn file_sets_executor_and_resources() {
        let experiment = parse(
            "executor = \"slurm\"\n\n[experiment.slurm]\npartition = \"cpu\"\ntime = 30\nmemory = 2048\n\n[experiment.slurm.train]\ngres = \"gpu:1\"\n",
        )
        .unwrap();
        assert_eq!(experiment.meta.executor, Some(ExecutorKind::Slurm));
        let slurm = experiment.meta.slurm.unwrap();
        let args = slurm.resources(StageKind::Train).sbatch_args();
        assert_eq!(args, ["--partition=cpu", "--time=30", "--mem=2048", "--gres=gpu:1"]);
    }

    #[test]
    fn unknown_slurm_key_names_position() {
        let error = parse("\n[experiment.slurm]\npartiton = \"cpu\"\n").unwrap_err();
        assert!(error.starts_with("t.toml:5:1: unknown field `partiton`"), "{error}");
    }

    #[test]
    fn unknown_kind_table_names_position() {
        let error = parse("\n[experiment.slurm.trian]\ncpus = 2\n").unwrap_err();
        assert!(error.starts_with("t.toml:4:19: unknown field `trian`"), "{error}");
    }

    #[test]
    fn invalid_time_names_position() {
        let error = parse("\n[experiment.slurm]\ntime = \"1h\"\n").unwrap_err();
        assert!(error.starts_with("t.toml:5:8: invalid `time = \"1h\"`"), "{error}");
    }

    #[test]
    fn unknown_executor_is_rejected() {
        let error = parse("executor = \"pbs\"\n").unwrap_err();
        assert!(error.starts_with("t.toml:3:12: unknown variant `pbs`"), "{error}");
    }

    #[test]
    fn kind_table_overrides_defaults() {
        let config = SlurmConfig {
            partition: Some(Name("cpu".into())),
            memory: Some(Memory("2G".into())),
            train: Some(SlurmResources {
                partition: Some(Name("gpu".into())),
                gres: Some(Gres("gpu:1".into())),
                ..SlurmResources::default()
            }),
            ..SlurmConfig::default()
        };
        let train = config.resources(StageKind::Train);
        assert_eq!(train.sbatch_args(), ["--partition=gpu", "--mem=2G", "--gres=gpu:1"]);
        assert!(train.requests_gpu());
        let evaluate = config.resources(StageKind::Evaluate);
        assert_eq!(evaluate.sbatch_args(), ["--partition=cpu", "--mem=2G"]);
        assert!(!evaluate.requests_gpu());
    }
}
