//! The dataset registry: a TOML file, by default `data/registry.toml`, that names the datasets
//! ingest can look up and records each file's location, size, sha256, download URL, licence
//! and citation.
//!
//! ```toml
//! [datasets.creditcard-sample]
//! file = "creditcard/creditcard_sample.csv"   # relative to the data directory
//! sha256 = "03f9faa6..."                      # 64 hex digits
//! bytes = 2860022
//! url = "https://..."                         # optional
//! licence = "..."
//! citation = "..."
//! description = "..."
//! ```
//!
//! Reads the registry file; writes nothing.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::is_sha256_hex;
use crate::{Error, Result};

/// The registry path used when the caller gives no other.
pub const DEFAULT_REGISTRY: &str = "data/registry.toml";

/// The datasets of a registry file, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Registered datasets, keyed by the name a configuration uses in `dataset = "..."`.
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetEntry>,
    /// The file the registry was read from, used in error messages.
    #[serde(skip)]
    path: PathBuf,
}

/// One registered dataset file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// Path of the file relative to the data directory, with `/` separators.
    pub file: PathBuf,
    /// sha256 of the file, 64 hex digits, stored in lowercase.
    pub sha256: String,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// A URL that serves exactly this file, if one is known.
    #[serde(default)]
    pub url: Option<String>,
    /// The licence under which the publisher distributes the data.
    pub licence: String,
    /// The reference to cite when reporting results on the data.
    pub citation: String,
    /// Rows, columns, label and provenance, for people reading the registry.
    pub description: String,
}

impl Registry {
    /// Reads and checks a registry file.
    pub fn load(path: &Path) -> Result<Registry> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Registry::parse(&text, path)
    }

    /// Parses and checks registry TOML. `path` names the source in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Registry> {
        let invalid = |message: String| Error::Registry { path: path.to_path_buf(), message };
        let mut registry: Registry =
            toml::from_str(text).map_err(|error| invalid(error.to_string()))?;
        registry.path = path.to_path_buf();
        for (name, entry) in &mut registry.datasets {
            check_entry(name, entry).map_err(invalid)?;
            entry.sha256.make_ascii_lowercase();
        }
        Ok(registry)
    }

    /// Returns the file the registry was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the entry of a dataset, or an error listing the registered names.
    pub fn get(&self, name: &str) -> Result<&DatasetEntry> {
        self.datasets.get(name).ok_or_else(|| Error::UnknownDataset {
            name: name.to_string(),
            registry: self.path.clone(),
            known: self.datasets.keys().cloned().collect(),
        })
    }
}

/// Checks one entry, returning a message that names the offending key.
fn check_entry(name: &str, entry: &DatasetEntry) -> std::result::Result<(), String> {
    let valid_name = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(format!(
            "`datasets.{name}`: a dataset name may only contain ASCII letters, digits, `-`, `_` \
             and `.`"
        ));
    }
    let plain_relative = entry.file.components().all(|part| matches!(part, Component::Normal(_)));
    if entry.file.as_os_str().is_empty() || !plain_relative {
        return Err(format!(
            "`datasets.{name}.file = \"{}\"` must be a relative path inside the data directory, \
             without `..`",
            entry.file.display()
        ));
    }
    if !is_sha256_hex(&entry.sha256) {
        return Err(format!(
            "`datasets.{name}.sha256 = \"{}\"` is not 64 hexadecimal digits; copy the output of \
             `sha256sum FILE`",
            entry.sha256
        ));
    }
    if entry.bytes == 0 {
        return Err(format!("`datasets.{name}.bytes` is 0; give the file's size in bytes"));
    }
    if let Some(url) = &entry.url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(format!("`datasets.{name}.url = \"{url}\"` is not an http:// or https:// URL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"
        [datasets.small]
        file = "small/small.csv"
        sha256 = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
        bytes = 3
        licence = "public domain"
        citation = "none"
        description = "three bytes"
    "#;

    #[test]
    fn parses_entry_and_lowercases_sha256() {
        let registry = Registry::parse(ENTRY, Path::new("reg.toml")).unwrap();
        let entry = registry.get("small").unwrap();
        assert_eq!(entry.file, Path::new("small/small.csv"));
        assert_eq!(
            entry.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(entry.bytes, 3);
        assert_eq!(entry.url, None);
    }

    #[test]
    fn unknown_dataset_lists_known_names() {
        let registry = Registry::parse(ENTRY, Path::new("reg.toml")).unwrap();
        let error = registry.get("large").unwrap_err().to_string();
        assert!(error.contains("dataset `large` is not in the registry reg.toml"), "{error}");
        assert!(error.contains("registered datasets: small"), "{error}");
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let text = ENTRY.replace("bytes = 3", "bytes = 3\nsize = 3");
        let error = Registry::parse(&text, Path::new("reg.toml")).unwrap_err().to_string();
        assert!(error.contains("invalid dataset registry reg.toml"), "{error}");
        assert!(error.contains("unknown field `size`"), "{error}");
    }

    #[test]
    fn missing_key_is_named() {
        let text = ENTRY.replace("licence = \"public domain\"", "");
        let error = Registry::parse(&text, Path::new("reg.toml")).unwrap_err().to_string();
        assert!(error.contains("missing field `licence`"), "{error}");
    }

    #[test]
    fn malformed_sha256_names_key() {
        let text = ENTRY.replace("BA7816BF", "XX");
        let error = Registry::parse(&text, Path::new("reg.toml")).unwrap_err().to_string();
        assert!(error.contains("`datasets.small.sha256 = \"XX"), "{error}");
    }

    #[test]
    fn file_outside_data_directory_is_rejected() {
        let text = ENTRY.replace("small/small.csv", "../small.csv");
        let error = Registry::parse(&text, Path::new("reg.toml")).unwrap_err().to_string();
        assert!(error.contains("`datasets.small.file = \"../small.csv\"`"), "{error}");
    }

    #[test]
    fn non_http_url_is_rejected() {
        let text = ENTRY.replace("bytes = 3", "bytes = 3\nurl = \"ftp://example.org/x\"");
        let error = Registry::parse(&text, Path::new("reg.toml")).unwrap_err().to_string();
        assert!(error.contains("`datasets.small.url = \"ftp://example.org/x\"`"), "{error}");
    }
}
