//! The content-addressed stage cache.
//!
//! Layout under the cache directory (`.cache` by default):
//!
//! - `stages/KEY/`: a published stage output with its `manifest.json`; `KEY` is the stage key
//!   (see `common::Manifest::compute_key`). Temporary `stages/.KEY.partial-HOST-PID`
//!   directories belong to stages being written, or to stages killed while writing; nothing
//!   reads them.
//! - `locks/KEY.lock`: held while a process computes `KEY`, so that two runs never compute
//!   the same stage twice.
//! - `index/EXPERIMENT/STAGE.json`: the inputs of the last key computed for each stage
//!   instance, used to explain why a stage must run again.
//! - `file-hashes.json`: sha256 of raw data files by path, size and modification time, so
//!   that an unchanged large file is not hashed on every run.
//! - `slurm/EXPERIMENT/RUN/`: plan files, batch scripts, logs and results of the Slurm
//!   array jobs of a run (see `run::slurm`), kept when a task failed.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Context;
use common::Manifest;
use serde::{Deserialize, Serialize};

/// The state of the cache entry for a key.
#[derive(Debug)]
pub enum Lookup {
    /// A complete entry whose files match their recorded hashes.
    Valid(Manifest),
    /// No entry.
    Missing,
    /// An entry that does not match its manifest; it must be rebuilt.
    Corrupt(String),
}

/// The facts a stage key was computed from, kept to explain the next key change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key.
    pub key: String,
    /// The stage implementation's version.
    pub version: u32,
    /// The parameters.
    pub params: serde_json::Value,
    /// Input instance names and their keys.
    pub inputs: BTreeMap<String, String>,
    /// The raw data's sha256, for ingest stages.
    pub data: Option<String>,
}

impl KeyRecord {
    /// Describes how `self` (new) differs from `previous`, or `None` when they are equal.
    pub fn change_from(&self, previous: &KeyRecord) -> Option<String> {
        if self.version != previous.version {
            return Some(format!(
                "stage version changed ({} -> {})",
                previous.version, self.version
            ));
        }
        if self.data != previous.data {
            return Some("raw data changed".into());
        }
        let mut changed = Vec::new();
        diff_json("", &previous.params, &self.params, &mut changed);
        if !changed.is_empty() {
            return Some(format!("parameters changed: {}", changed.join(", ")));
        }
        let inputs: Vec<&str> = self
            .inputs
            .iter()
            .filter(|(name, key)| previous.inputs.get(*name) != Some(key))
            .map(|(name, _)| name.as_str())
            .collect();
        if !inputs.is_empty() {
            return Some(format!("input changed: {}", inputs.join(", ")));
        }
        None
    }
}

/// Lists the paths where two JSON values differ, as `path (old -> new)`.
fn diff_json(path: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    match (old, new) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let null = serde_json::Value::Null;
                diff_json(&child, a.get(key).unwrap_or(&null), b.get(key).unwrap_or(&null), out);
            }
        }
        _ if old != new => out.push(format!("{path} ({old} -> {new})")),
        _ => {}
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileHash {
    bytes: u64,
    modified_ns: u128,
    sha256: String,
}

/// A held lock on one key; released when dropped.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
}

/// Summary of one entry, for `cache ls`.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// The key.
    pub key: String,
    /// The manifest, when the entry is complete.
    pub manifest: Option<Manifest>,
    /// Bytes on disk.
    pub bytes: u64,
    /// The directory.
    pub dir: PathBuf,
}

/// The stage cache rooted at one directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) the cache at `root`.
    pub fn open(root: &Path) -> anyhow::Result<Cache> {
        for sub in ["stages", "locks", "index"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create cache directory {}", dir.display()))?;
        }
        Ok(Cache { root: root.to_path_buf() })
    }

    /// Returns the cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the directory of the entry for `key`.
    pub fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join("stages").join(key)
    }

    /// Checks the entry for `key`, re-hashing every file.
    pub fn lookup(&self, key: &str) -> Lookup {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Lookup::Missing;
        }
        let manifest = match Manifest::load(&dir) {
            Ok(manifest) => manifest,
            Err(error) => return Lookup::Corrupt(error.to_string()),
        };
        if manifest.key != key {
            return Lookup::Corrupt(format!("its manifest records key {}", manifest.key));
        }
        match manifest.verify(&dir) {
            Ok(()) => Lookup::Valid(manifest),
            Err(error) => Lookup::Corrupt(error.to_string()),
        }
    }

    /// Deletes the entry for `key` (a corrupted one, or one being forced to rerun).
    pub fn remove(&self, key: &str) -> anyhow::Result<()> {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Ok(());
        }
        // Rename first so that no reader ever sees a half-deleted entry.
        let doomed =
            self.root.join("stages").join(format!(".{key}.removing-{}", std::process::id()));
        fs::rename(&dir, &doomed)
            .with_context(|| format!("cannot remove cache entry {}", dir.display()))?;
        fs::remove_dir_all(&doomed).with_context(|| format!("cannot remove {}", doomed.display()))
    }

    /// Takes the exclusive lock of `key`, waiting for another process that holds it.
    pub fn lock(&self, key: &str) -> anyhow::Result<KeyLock> {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(KeyLock { _file: file })
    }

    /// Returns whether another process holds the lock of `key`, that is, computes its stage.
    pub fn is_locked(&self, key: &str) -> bool {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        // Writers create the lock file before locking it, so without one there is no writer.
        let Ok(file) = File::options().write(true).open(&path) else { return false };
        matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
    }

    /// Returns the recorded sha256 of a file if its size and modification time are unchanged.
    pub fn known_hash(&self, path: &Path) -> Option<String> {
        let (bytes, modified_ns) = file_stamp(path)?;
        let hashes = self.file_hashes();
        let key = fs::canonicalize(path).ok()?.to_string_lossy().into_owned();
        hashes
            .get(&key)
            .filter(|h| h.bytes == bytes && h.modified_ns == modified_ns)
            .map(|h| h.sha256.clone())
    }

    /// Records the sha256 of a file with its current size and modification time.
    pub fn remember_hash(&self, path: &Path, sha256: &str) -> anyhow::Result<()> {
        let Some((bytes, modified_ns)) = file_stamp(path) else { return Ok(()) };
        let _lock = self.lock("file-hashes")?;
        let mut hashes = self.file_hashes();
        let key = fs::canonicalize(path)?.to_string_lossy().into_owned();
        hashes.insert(key, FileHash { bytes, modified_ns, sha256: sha256.to_string() });
        write_atomically(&self.root.join("file-hashes.json"), &hashes)
    }

    fn file_hashes(&self) -> BTreeMap<String, FileHash> {
        common::read_json(&self.root.join("file-hashes.json")).unwrap_or_default()
    }

    /// Returns the key record last written for a stage instance of an experiment.
    pub fn key_record(&self, experiment: &str, instance: &str) -> Option<KeyRecord> {
        common::read_json(&self.record_path(experiment, instance)).ok()
    }

    /// Writes the key record of a stage instance.
    pub fn write_key_record(
        &self,
        experiment: &str,
        instance: &str,
        record: &KeyRecord,
    ) -> anyhow::Result<()> {
        let path = self.record_path(experiment, instance);
        fs::create_dir_all(path.parent().expect("records sit in a folder"))?;
        write_atomically(&path, record)
    }

    fn record_path(&self, experiment: &str, instance: &str) -> PathBuf {
        self.root.join("index").join(experiment).join(format!("{instance}.json"))
    }

    /// Lists every entry and leftover temporary directory.
    pub fn entries(&self) -> anyhow::Result<Vec<EntryInfo>> {
        let stages = self.root.join("stages");
        let mut entries = Vec::new();
        for entry in
            fs::read_dir(&stages).with_context(|| format!("cannot read {}", stages.display()))?
        {
            let entry = entry?;
            let dir = entry.path();
            let key = entry.file_name().to_string_lossy().into_owned();
            let manifest = Manifest::load(&dir).ok();
            entries.push(EntryInfo { key, manifest, bytes: directory_size(&dir), dir });
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }
}

/// Returns a file's size and modification time in nanoseconds.
fn file_stamp(path: &Path) -> Option<(u64, u128)> {
    let metadata = fs::metadata(path).ok()?;
    let modified = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((metadata.len(), modified.as_nanos()))
}

/// Returns the total size of the files below a directory.
pub fn directory_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => directory_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Writes JSON to a temporary file and renames it over `path`.
pub fn write_atomically<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let temporary = path.with_extension(format!("partial-{}", common::process_tag()));
    common::write_json(&temporary, value)?;
    File::open(&temporary).and_then(|f| f.sync_all())?;
    fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(params: serde_json::Value) -> KeyRecord {
        KeyRecord {
            key: "k".into(),
            version: 1,
            params,
            inputs: BTreeMap::from([("split".to_string(), "a".to_string())]),
            data: None,
        }
    }

    #[test]
    fn change_names_the_parameter() {
        let old = record(serde_json::json!({"learning_rate": 0.001, "hidden": [64, 32]}));
        let new = record(serde_json::json!({"learning_rate": 0.003, "hidden": [64, 32]}));
        assert_eq!(
            new.change_from(&old).unwrap(),
            "parameters changed: learning_rate (0.001 -> 0.003)"
        );
        assert_eq!(old.change_from(&old), None);
    }

    #[test]
    fn change_names_version_and_input() {
        let old = record(serde_json::json!({}));
        let mut new = old.clone();
        new.version = 2;
        assert_eq!(new.change_from(&old).unwrap(), "stage version changed (1 -> 2)");
        let mut new = old.clone();
        new.inputs.insert("split".into(), "b".into());
        assert_eq!(new.change_from(&old).unwrap(), "input changed: split");
    }

    #[test]
    fn known_hash_needs_unchanged_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let file = dir.path().join("data.csv");
        fs::write(&file, "a\n1\n").unwrap();
        assert_eq!(cache.known_hash(&file), None);
        cache.remember_hash(&file, "abc").unwrap();
        assert_eq!(cache.known_hash(&file).as_deref(), Some("abc"));
        fs::write(&file, "a\n1\n2\n").unwrap();
        assert_eq!(cache.known_hash(&file), None);
    }

    #[test]
    fn missing_and_corrupt_entries_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert!(matches!(cache.lookup("nope"), Lookup::Missing));
        fs::create_dir_all(cache.entry_dir("half")).unwrap();
        assert!(matches!(cache.lookup("half"), Lookup::Corrupt(_)));
    }
}
