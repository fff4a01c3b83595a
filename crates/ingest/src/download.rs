//! Downloading a registered dataset that is missing from the data directory.
//!
//! The response body is streamed into a hidden temporary file beside the final path while its
//! size and sha256 are computed. Only a file with the registered size and sha256 is synced and
//! renamed into place. Any failure deletes the temporary file. A killed process can leave at
//! most a hidden `.NAME.*.partial` file, which nothing reads.
//!
//! Writes only that temporary file and the final file.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::Duration;

use common::{Progress, Unit};
use sha2::{Digest, Sha256};

use crate::registry::DatasetEntry;
use crate::source::hex;
use crate::{Error, Result};

/// Time allowed to open the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for the response headers, and for each read of the body. There is no limit on
/// the whole transfer, so a large file on a slow link still completes.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads `url` to `path` and checks it against the registry entry.
pub(crate) fn download(
    dataset: &str,
    entry: &DatasetEntry,
    url: &str,
    path: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let failed = |reason: String| Error::Download {
        dataset: dataset.to_string(),
        path: path.to_path_buf(),
        file: entry.file.clone(),
        url: url.to_string(),
        reason,
    };

    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file_name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .build()
        .new_agent();
    let mut response = agent.get(url).call().map_err(|error| failed(error.to_string()))?;
    let total = response.body().content_length().unwrap_or(entry.bytes);
    let mut body = response.body_mut().as_reader();

    let mut task = progress.task(&format!("download {file_name}"), Some(total), Unit::Bytes);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => {
                let reason = format!("the transfer broke off after {received} bytes: {error}");
                return Err(failed(reason));
            }
        };
        hasher.update(&buffer[..n]);
        temp.write_all(&buffer[..n]).map_err(|e| Error::io(temp.path(), e))?;
        received += n as u64;
        if received > entry.bytes {
            let reason =
                format!("the server sent more than the {} bytes the registry expects", entry.bytes);
            return Err(failed(reason));
        }
        task.set(received, "");
    }

    let sha256 = hex(&hasher.finalize());
    if received != entry.bytes {
        let reason =
            format!("the server sent {received} bytes where the registry expects {}", entry.bytes);
        return Err(failed(reason));
    }
    if sha256 != entry.sha256 {
        let reason = format!(
            "the downloaded file has sha256 {sha256} but the registry expects {}, so it was not \
             saved",
            entry.sha256
        );
        return Err(failed(reason));
    }

    temp.as_file().sync_all().map_err(|e| Error::io(temp.path(), e))?;
    temp.persist(path).map_err(|error| Error::io(path, error.error))?;
    // Syncing the directory makes the rename durable. Some platforms cannot open a directory,
    // so a failure to sync is ignored.
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    task.finish(&format!("{received} bytes, sha256 verified"));
    tracing::info!(dataset, path = %path.display(), bytes = received, "download verified");
    Ok(())
}
