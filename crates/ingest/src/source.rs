//! Finding the raw file: a registered dataset in the data directory, downloaded when missing
//! and a URL is known, or a file given by path. Either way the file is hashed with sha256 and
//! checked against the expected size and checksum before anything reads it.
//!
//! Reads the raw file; writes it into the data directory only when downloading it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::{Progress, Unit};
use sha2::{Digest, Sha256};

use crate::config::IngestConfig;
use crate::download::download;
use crate::registry::{DatasetEntry, Registry};
use crate::{Error, Result};

/// The data directory used when the caller gives no other.
pub const DEFAULT_DATA_DIR: &str = "data";

/// A raw file that was found and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's location.
    pub path: PathBuf,
    /// sha256 of the file, 64 lowercase hex digits.
    pub sha256: String,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// The registry name, when the file is a registered dataset.
    pub dataset: Option<String>,
}

/// Finds the file that `config` names and verifies it.
///
/// A registered dataset is looked up at `data_dir` joined with its registered `file`. When it
/// is missing and the registry has a URL for it, it is downloaded to a temporary file in the
/// same directory, verified, and renamed into place, so a failed or interrupted download leaves
/// nothing at the final path. An existing file must have the registered size and sha256.
///
/// A file given by `path` is used as is. It is hashed, and checked when the configuration
/// gives `sha256`.
pub fn resolve(
    config: &IngestConfig,
    registry: &Registry,
    data_dir: &Path,
    progress: &dyn Progress,
) -> Result<Source> {
    config.validate()?;
    resolve_file(config, registry, data_dir, "", progress)
}

/// Finds and verifies the test file of `config.test` as [`resolve`] does the main file, or
/// returns `None` when the configuration has no `test`.
pub fn resolve_test(
    config: &IngestConfig,
    registry: &Registry,
    data_dir: &Path,
    progress: &dyn Progress,
) -> Result<Option<Source>> {
    config.validate()?;
    let Some(test_config) = config.test_file_config() else {
        return Ok(None);
    };
    resolve_file(&test_config, registry, data_dir, "test.", progress).map(Some)
}

/// Resolves the `dataset` or `path` of a validated configuration. `prefix` is prepended to the
/// key names in messages: `""` for the main file, `"test."` for the test file.
fn resolve_file(
    config: &IngestConfig,
    registry: &Registry,
    data_dir: &Path,
    prefix: &'static str,
    progress: &dyn Progress,
) -> Result<Source> {
    match (&config.dataset, &config.path) {
        (Some(name), None) => resolve_dataset(name, registry, data_dir, progress),
        (None, Some(path)) => resolve_path(path, config.sha256.as_deref(), prefix, progress),
        _ => unreachable!("validate accepts exactly one of `dataset` and `path`"),
    }
}

fn resolve_dataset(
    name: &str,
    registry: &Registry,
    data_dir: &Path,
    progress: &dyn Progress,
) -> Result<Source> {
    let entry = registry.get(name)?;
    let path = data_dir.join(&entry.file);

    if !path.exists() {
        let Some(url) = &entry.url else {
            return Err(Error::DatasetMissing {
                dataset: name.to_string(),
                path,
                file: entry.file.clone(),
            });
        };
        tracing::info!(dataset = name, url = url.as_str(), path = %path.display(), "downloading");
        download(name, entry, url, &path, progress)?;
        return Ok(Source {
            path,
            sha256: entry.sha256.clone(),
            bytes: entry.bytes,
            dataset: Some(name.to_string()),
        });
    }

    let bytes = file_size(&path)?;
    if bytes != entry.bytes {
        return Err(Error::SizeMismatch {
            path,
            expected: entry.bytes,
            actual: bytes,
            fix: replace_advice(entry),
        });
    }
    let sha256 = hash_file(&path, progress)?;
    if sha256 != entry.sha256 {
        return Err(Error::ChecksumMismatch {
            path,
            expected: entry.sha256.clone(),
            actual: sha256,
            fix: replace_advice(entry),
        });
    }
    Ok(Source { path, sha256, bytes, dataset: Some(name.to_string()) })
}

fn resolve_path(
    path: &Path,
    expected: Option<&str>,
    prefix: &'static str,
    progress: &dyn Progress,
) -> Result<Source> {
    if !path.exists() {
        let setting = if prefix.is_empty() { "path" } else { "test.path" };
        return Err(Error::FileMissing { path: path.to_path_buf(), setting });
    }
    let bytes = file_size(path)?;
    let sha256 = hash_file(path, progress)?;
    match expected {
        Some(expected) if !expected.eq_ignore_ascii_case(&sha256) => {
            return Err(Error::ChecksumMismatch {
                path: path.to_path_buf(),
                expected: expected.to_ascii_lowercase(),
                actual: sha256,
                fix: format!(
                    "the file differs from the one the configuration was written for; restore \
                     that file, or update `{prefix}sha256` in the ingest configuration if the \
                     change is intended"
                ),
            });
        }
        Some(_) => {}
        None => tracing::warn!(
            path = %path.display(),
            sha256 = sha256.as_str(),
            "no `sha256` configured, so the file could not be verified; its hash is recorded \
             in summary.json"
        ),
    }
    Ok(Source { path: path.to_path_buf(), sha256, bytes, dataset: None })
}

/// Returns what to do with a registered file whose size or checksum is wrong.
fn replace_advice(entry: &DatasetEntry) -> String {
    match &entry.url {
        Some(url) => format!(
            "the file is damaged or a different version; delete it so that it is downloaded \
             again from {url}, or replace it with the file from that URL"
        ),
        None => "the file is damaged or a different version; replace it with the file from \
                 the source named in the registry entry's `description`"
            .to_string(),
    }
}

fn file_size(path: &Path) -> Result<u64> {
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !metadata.is_file() {
        let message = std::io::Error::other("is not a regular file");
        return Err(Error::io(path, message));
    }
    Ok(metadata.len())
}

/// Hashes a file with sha256 in 1 MiB reads, reporting progress in bytes.
pub(crate) fn hash_file(path: &Path, progress: &dyn Progress) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let total = file.metadata().map(|metadata| metadata.len()).ok();
    let name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    let mut task = progress.task(&format!("sha256 {name}"), total, Unit::Bytes);

    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        done += n as u64;
        task.set(done, "");
    }
    let digest = hex(&hasher.finalize());
    task.finish(&format!("sha256 {digest}"));
    Ok(digest)
}

/// Writes bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::NoProgress;

    #[test]
    fn hash_file_matches_known_digest() {
        // sha256("abc") from FIPS 180-2, appendix B.1.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.txt");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            hash_file(&path, &NoProgress).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn path_source_without_sha256_records_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.csv");
        std::fs::write(&path, b"abc").unwrap();
        let source = resolve_path(&path, None, "", &NoProgress).unwrap();
        assert_eq!(source.bytes, 3);
        assert_eq!(
            source.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(source.dataset, None);
    }

    #[test]
    fn path_source_accepts_uppercase_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.csv");
        std::fs::write(&path, b"abc").unwrap();
        let expected = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        resolve_path(&path, Some(expected), "", &NoProgress).unwrap();
    }

    #[test]
    fn missing_path_names_the_file() {
        let error = resolve_path(Path::new("no/such.csv"), None, "", &NoProgress).unwrap_err();
        assert!(error.to_string().contains("input file no/such.csv not found"), "{error}");
    }
}
