//! Stage manifests and the atomic publishing of a stage's output directory.
//!
//! A stage writes its files into a private temporary directory beside the final one. Only
//! when every file is complete does [`StageOutput::publish`] hash and sync the files, write
//! `manifest.json` last, and rename the directory into place. A reader that finds no manifest,
//! or a manifest whose files do not match, treats the directory as absent.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// File name of the manifest inside every stage directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The kinds of stage in an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// Raw file to one Parquet table and a summary.
    Ingest,
    /// Splits and a fitted transform.
    Preprocess,
    /// Model weights and a training history.
    Train,
    /// Scores and metrics.
    Evaluate,
    /// The HTML report.
    Report,
}

impl StageKind {
    /// Returns the lowercase name used in experiment files and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Ingest => "ingest",
            StageKind::Preprocess => "preprocess",
            StageKind::Train => "train",
            StageKind::Evaluate => "evaluate",
            StageKind::Report => "report",
        }
    }
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upstream stage whose output this stage read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRef {
    /// Name of the upstream stage in the experiment file.
    pub stage: String,
    /// The upstream manifest's key.
    pub key: String,
}

/// One file of a stage's output, as recorded in its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the stage directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// blake3 hash of the content, hex encoded.
    pub blake3: String,
}

/// The record a stage leaves beside its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Name of the stage in the experiment file.
    pub stage: String,
    /// Kind of stage.
    pub kind: StageKind,
    /// Version of the stage implementation; bumped whenever its results change.
    pub version: u32,
    /// Content hash of kind, version, parameters, input keys and (for ingest) the raw data.
    pub key: String,
    /// The stage's parameters as canonical JSON.
    pub params: serde_json::Value,
    /// Upstream stages read.
    pub inputs: Vec<InputRef>,
    /// Output files with sizes and hashes, filled in by [`StageOutput::publish`].
    #[serde(default)]
    pub outputs: Vec<FileEntry>,
    /// Row counts worth recording (per split, per table).
    #[serde(default)]
    pub rows: BTreeMap<String, u64>,
    /// Wall time of the stage in seconds.
    pub seconds: f64,
    /// Seconds since the Unix epoch when the stage finished.
    pub created_unix: u64,
}

impl Manifest {
    /// Computes a stage key from its kind, implementation version, parameters, input keys and
    /// any extra content (the raw data's hash for ingest).
    ///
    /// Parameters are hashed as JSON with object keys sorted, so the order of keys in the
    /// experiment file never changes a key.
    pub fn compute_key(
        kind: StageKind,
        version: u32,
        params: &serde_json::Value,
        input_keys: &[&str],
        extra: &[u8],
    ) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"stage-key-v1\0");
        hasher.update(kind.as_str().as_bytes());
        hasher.update(&version.to_le_bytes());
        let canonical = serde_json::to_vec(params).expect("JSON values always serialise");
        hasher.update(&(canonical.len() as u64).to_le_bytes());
        hasher.update(&canonical);
        for key in input_keys {
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(key.as_bytes());
        }
        hasher.update(&(extra.len() as u64).to_le_bytes());
        hasher.update(extra);
        hasher.finalize().to_hex().to_string()
    }

    /// Reads the manifest of a published stage directory and checks that every listed file
    /// exists with its recorded size.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        if !path.is_file() {
            return Err(Error::Corrupt {
                path: dir.to_path_buf(),
                reason: format!("no {MANIFEST_FILE}"),
            });
        }
        let manifest: Manifest = crate::table::read_json(&path)?;
        for entry in &manifest.outputs {
            let file = dir.join(&entry.path);
            let bytes = fs::metadata(&file).map(|m| m.len()).ok();
            if bytes != Some(entry.bytes) {
                return Err(Error::Corrupt {
                    path: dir.to_path_buf(),
                    reason: format!("{} is missing or has the wrong size", entry.path),
                });
            }
        }
        Ok(manifest)
    }

    /// Re-hashes every output file and returns an error naming the first that differs.
    pub fn verify(&self, dir: &Path) -> Result<()> {
        for entry in &self.outputs {
            let file = dir.join(&entry.path);
            let (_, hash) = hash_file(&file)?;
            if hash != entry.blake3 {
                return Err(Error::Corrupt {
                    path: dir.to_path_buf(),
                    reason: format!("{} does not match its recorded hash", entry.path),
                });
            }
        }
        Ok(())
    }
}

/// Hashes a file with blake3 and returns its size and hex digest.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hasher.finalize().to_hex().to_string()))
}

/// A stage's output directory while it is being written.
///
/// Files go into a temporary sibling of the final directory, `.NAME.partial-HOST-PID`.
/// Dropping the value without calling [`publish`](Self::publish) deletes the temporary
/// directory, so a failed stage leaves nothing behind that a later run could mistake for a
/// result.
#[derive(Debug)]
pub struct StageOutput {
    final_dir: PathBuf,
    temp_dir: PathBuf,
    published: bool,
}

impl StageOutput {
    /// Creates an empty temporary directory for the stage whose output will live at
    /// `final_dir`.
    pub fn create(final_dir: &Path) -> Result<StageOutput> {
        let parent = final_dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let name = final_dir.file_name().and_then(|n| n.to_str()).unwrap_or("stage");
        let temp_dir = parent.join(format!(".{name}.partial-{}", process_tag()));
        if temp_dir.exists() {
            fs::remove_dir_all(&temp_dir).map_err(|e| Error::io(&temp_dir, e))?;
        }
        fs::create_dir_all(&temp_dir).map_err(|e| Error::io(&temp_dir, e))?;
        Ok(StageOutput { final_dir: final_dir.to_path_buf(), temp_dir, published: false })
    }

    /// Returns the directory to write output files into.
    pub fn path(&self) -> &Path {
        &self.temp_dir
    }

    /// Returns the directory the output will have once published.
    pub fn final_path(&self) -> &Path {
        &self.final_dir
    }

    /// Records every file's size and hash in the manifest, syncs the files, writes the
    /// manifest last and renames the directory into place.
    ///
    /// An existing directory at the final path is replaced: it is renamed aside first and
    /// deleted after the new one is in place.
    pub fn publish(mut self, mut manifest: Manifest) -> Result<Manifest> {
        let mut outputs = Vec::new();
        collect_files(&self.temp_dir, &self.temp_dir, &mut outputs)?;
        outputs.sort_by(|a, b| a.path.cmp(&b.path));
        manifest.outputs = outputs;

        let manifest_path = self.temp_dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Json { path: manifest_path.clone(), source: e })?;
        let mut file = File::create(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        file.write_all(&json).map_err(|e| Error::io(&manifest_path, e))?;
        file.sync_all().map_err(|e| Error::io(&manifest_path, e))?;
        sync_dir(&self.temp_dir)?;

        let displaced = if self.final_dir.exists() {
            let aside = self.temp_dir.with_extension("replaced");
            fs::rename(&self.final_dir, &aside).map_err(|e| Error::io(&self.final_dir, e))?;
            Some(aside)
        } else {
            None
        };
        fs::rename(&self.temp_dir, &self.final_dir).map_err(|e| Error::io(&self.final_dir, e))?;
        if let Some(parent) = self.final_dir.parent() {
            sync_dir(parent)?;
        }
        if let Some(aside) = displaced {
            fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
        }
        self.published = true;
        Ok(manifest)
    }
}

impl Drop for StageOutput {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.temp_dir);
        }
    }
}

/// Walks `dir`, syncing and hashing every regular file.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<FileEntry>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if file_type.is_dir() {
            collect_files(root, &path, out)?;
            sync_dir(&path)?;
        } else if file_type.is_file() {
            File::open(&path).and_then(|f| f.sync_all()).map_err(|e| Error::io(&path, e))?;
            let (bytes, blake3) = hash_file(&path)?;
            let relative = path.strip_prefix(root).expect("walked below the root");
            let relative = relative.to_string_lossy().replace('\\', "/");
            if relative != MANIFEST_FILE {
                out.push(FileEntry { path: relative, bytes, blake3 });
            }
        }
    }
    Ok(())
}

/// Returns this machine's host name, or `localhost` when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Returns `HOST-PID`, which names this process among all machines that share a
/// filesystem, for the names of temporary files and directories.
pub fn process_tag() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

/// Flushes a directory's entries to disk so that a rename into it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            stage: "split".into(),
            kind: StageKind::Preprocess,
            version: 1,
            key: "k".into(),
            params: serde_json::json!({"a": 1}),
            inputs: vec![],
            outputs: vec![],
            rows: BTreeMap::new(),
            seconds: 0.0,
            created_unix: 0,
        }
    }

    #[test]
    fn key_ignores_object_key_order() {
        let a = serde_json::json!({"lr": 0.01, "hidden": [64, 32]});
        let b: serde_json::Value = serde_json::from_str(r#"{"hidden":[64,32],"lr":0.01}"#).unwrap();
        let ka = Manifest::compute_key(StageKind::Train, 1, &a, &["x"], b"");
        let kb = Manifest::compute_key(StageKind::Train, 1, &b, &["x"], b"");
        assert_eq!(ka, kb);
    }

    #[test]
    fn key_changes_with_each_part() {
        let p = serde_json::json!({"lr": 0.01});
        let base = Manifest::compute_key(StageKind::Train, 1, &p, &["x"], b"");
        let other_params = serde_json::json!({"lr": 0.02});
        assert_ne!(base, Manifest::compute_key(StageKind::Train, 1, &other_params, &["x"], b""));
        assert_ne!(base, Manifest::compute_key(StageKind::Train, 2, &p, &["x"], b""));
        assert_ne!(base, Manifest::compute_key(StageKind::Evaluate, 1, &p, &["x"], b""));
        assert_ne!(base, Manifest::compute_key(StageKind::Train, 1, &p, &["y"], b""));
        assert_ne!(base, Manifest::compute_key(StageKind::Train, 1, &p, &["x"], b"data"));
    }

    #[test]
    fn publish_moves_files_and_records_hashes() {
        let root = tempfile::tempdir().unwrap();
        let final_dir = root.path().join("split");
        let output = StageOutput::create(&final_dir).unwrap();
        fs::write(output.path().join("a.txt"), b"hello").unwrap();
        let published = output.publish(manifest()).unwrap();

        assert!(final_dir.join("a.txt").is_file());
        assert_eq!(published.outputs.len(), 1);
        assert_eq!(published.outputs[0].bytes, 5);
        let loaded = Manifest::load(&final_dir).unwrap();
        assert_eq!(loaded, published);
        loaded.verify(&final_dir).unwrap();
        let leftovers: Vec<_> = fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the published directory remains");
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let output = StageOutput::create(&root.path().join("split")).unwrap();
        fs::write(output.path().join("a.txt"), b"partial").unwrap();
        drop(output);
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn corrupted_file_fails_verification() {
        let root = tempfile::tempdir().unwrap();
        let final_dir = root.path().join("split");
        let output = StageOutput::create(&final_dir).unwrap();
        fs::write(output.path().join("a.txt"), b"hello").unwrap();
        output.publish(manifest()).unwrap();
        fs::write(final_dir.join("a.txt"), b"jello").unwrap();

        let loaded = Manifest::load(&final_dir).unwrap();
        let error = loaded.verify(&final_dir).unwrap_err();
        assert!(error.to_string().contains("a.txt"), "{error}");
    }

    #[test]
    fn directory_without_manifest_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a.txt"), b"x").unwrap();
        let error = Manifest::load(root.path()).unwrap_err();
        assert!(error.to_string().contains("manifest.json"), "{error}");
    }
}
