//! Finding and verifying the raw file: checksum and size mismatches, missing files, and
//! downloads from an HTTP server that each test starts on 127.0.0.1.
//!
//! The server is a plain `TcpListener` that sends a fixed reply to every request for one path,
//! so the tests exercise the real download code over a real socket.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use common::NoProgress;
use ingest::{Error, IngestConfig, LabelRule, Registry};
use sha2::{Digest, Sha256};

/// What the test server sends for the served path.
#[derive(Clone)]
enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 404 with a short text body.
    NotFound,
    /// 200 announcing `declared` bytes, then only `sent` and a closed connection.
    BrokenOff { declared: usize, sent: Vec<u8> },
}

/// Starts a server on 127.0.0.1 that sends `reply` for `GET /file.csv` and 404 for any other
/// path. Returns the URL of `/file.csv`.
fn serve(reply: Reply) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let wanted = request.starts_with("GET /file.csv ");
            let response = match (&reply, wanted) {
                (Reply::Body(body), true) => response_bytes("200 OK", body.len(), body),
                (Reply::BrokenOff { declared, sent }, true) => {
                    response_bytes("200 OK", *declared, sent)
                }
                (Reply::NotFound, _) | (_, false) => {
                    response_bytes("404 Not Found", 9, b"not found")
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://{address}/file.csv")
}

fn response_bytes(status: &str, content_length: usize, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/csv\r\nContent-Length: {content_length}\r\n\
         Connection: close\r\n\r\n"
    );
    [head.as_bytes(), body].concat()
}

/// Generates a small CSV file: 200 rows of `x,label`.
fn csv_bytes() -> Vec<u8> {
    let mut text = String::from("x,label\n");
    for i in 0..200 {
        text.push_str(&format!("{i},{}\n", i % 2));
    }
    text.into_bytes()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Builds a registry with one dataset `small` at `small/file.csv`, with the given checksum,
/// size and optional URL.
fn registry(sha256: &str, bytes: usize, url: Option<&str>) -> Registry {
    let url = url.map(|url| format!("url = \"{url}\"\n")).unwrap_or_default();
    let text = format!(
        "[datasets.small]\n\
         file = \"small/file.csv\"\n\
         sha256 = \"{sha256}\"\n\
         bytes = {bytes}\n\
         {url}\
         licence = \"generated\"\n\
         citation = \"none\"\n\
         description = \"200 generated rows\"\n"
    );
    Registry::parse(&text, Path::new("test-registry.toml")).unwrap()
}

fn small_config() -> IngestConfig {
    IngestConfig::from_dataset("small", LabelRule::new("label", &["1"]))
}

/// Lists the names of the files in a directory, or nothing when it does not exist.
fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn target(data_dir: &Path) -> PathBuf {
    data_dir.join("small").join("file.csv")
}

#[test]
fn verified_download_is_renamed_into_place() {
    let content = csv_bytes();
    let url = serve(Reply::Body(content.clone()));
    let registry = registry(&sha256_hex(&content), content.len(), Some(&url));
    let data = tempfile::tempdir().unwrap();

    let source = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap();

    assert_eq!(source.path, target(data.path()));
    assert_eq!(source.sha256, sha256_hex(&content));
    assert_eq!(source.bytes, content.len() as u64);
    assert_eq!(source.dataset.as_deref(), Some("small"));
    assert_eq!(std::fs::read(&source.path).unwrap(), content);
    assert_eq!(files_in(&data.path().join("small")), ["file.csv"]);

    // The downloaded file now resolves from disk, and ingests.
    let again = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap();
    assert_eq!(again, source);
    let out = tempfile::tempdir().unwrap();
    let summary =
        ingest::run(&small_config(), &source, None, out.path(), &NoProgress).unwrap().summary;
    assert_eq!(summary.rows, 200);
    assert_eq!(summary.label_counts.anomaly, 100);
}

#[test]
fn download_with_wrong_content_is_not_saved() {
    let content = csv_bytes();
    let mut altered = content.clone();
    let last_digit = altered.len() - 2;
    altered[last_digit] = b'0';
    let url = serve(Reply::Body(altered.clone()));
    let registry = registry(&sha256_hex(&content), content.len(), Some(&url));
    let data = tempfile::tempdir().unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    assert!(matches!(error, Error::Download { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&format!("{url} failed")), "{message}");
    assert!(message.contains(&sha256_hex(&altered)), "{message}");
    assert!(message.contains(&sha256_hex(&content)), "{message}");
    assert!(message.contains("download it yourself and place it there"), "{message}");
    assert!(!target(data.path()).exists());
    assert_eq!(files_in(&data.path().join("small")), Vec::<String>::new());
}

#[test]
fn download_not_found_names_file_and_url() {
    let url = serve(Reply::NotFound);
    let registry = registry(&sha256_hex(b"x"), 1, Some(&url));
    let data = tempfile::tempdir().unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    let message = error.to_string();
    let expected = format!(
        "dataset `small` not found at {} and the download from {url} failed: http status: 404",
        target(data.path()).display()
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.contains("pass --data-dir DIR pointing at a folder that holds small/file.csv"));
    assert!(!target(data.path()).exists());
    assert_eq!(files_in(&data.path().join("small")), Vec::<String>::new());
}

#[test]
fn broken_off_download_leaves_nothing() {
    let content = csv_bytes();
    let sent = content[..content.len() / 2].to_vec();
    let url = serve(Reply::BrokenOff { declared: content.len(), sent });
    let registry = registry(&sha256_hex(&content), content.len(), Some(&url));
    let data = tempfile::tempdir().unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    assert!(matches!(error, Error::Download { .. }), "{error:?}");
    assert!(!target(data.path()).exists());
    assert_eq!(files_in(&data.path().join("small")), Vec::<String>::new());
}

#[test]
fn unreachable_server_is_a_download_error() {
    // Bind a port, then close it, so that nothing listens there.
    let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{address}/file.csv");
    let registry = registry(&sha256_hex(b"x"), 1, Some(&url));
    let data = tempfile::tempdir().unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    assert!(matches!(error, Error::Download { .. }), "{error:?}");
    assert!(error.to_string().contains(&url));
    assert!(!target(data.path()).exists());
}

#[test]
fn missing_file_without_url_names_location() {
    let registry = registry(&sha256_hex(b"x"), 1, None);
    let data = tempfile::tempdir().unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    let message = error.to_string();
    let expected = format!(
        "dataset `small` not found at {} and the registry has no download URL for it; place \
         the file there, or pass --data-dir DIR pointing at a folder that holds small/file.csv",
        target(data.path()).display()
    );
    assert_eq!(message, expected);
}

#[test]
fn checksum_mismatch_names_file_and_both_hashes() {
    let content = csv_bytes();
    let mut altered = content.clone();
    altered[8] = b'9';
    let registry = registry(&sha256_hex(&content), content.len(), None);
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("small")).unwrap();
    std::fs::write(target(data.path()), &altered).unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    assert!(matches!(error, Error::ChecksumMismatch { .. }), "{error:?}");
    let message = error.to_string();
    let expected = format!(
        "{} has sha256 {} but {} was expected; ",
        target(data.path()).display(),
        sha256_hex(&altered),
        sha256_hex(&content)
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.contains("replace it"), "{message}");
    // A file that fails verification is reported, never deleted.
    assert!(target(data.path()).exists());
}

#[test]
fn size_mismatch_is_found_before_hashing() {
    let content = csv_bytes();
    let registry = registry(&sha256_hex(&content), content.len() + 1, None);
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("small")).unwrap();
    std::fs::write(target(data.path()), &content).unwrap();

    let error = ingest::resolve(&small_config(), &registry, data.path(), &NoProgress).unwrap_err();

    let message = error.to_string();
    let expected = format!(
        "{} is {} bytes but {} bytes were expected",
        target(data.path()).display(),
        content.len(),
        content.len() + 1
    );
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn path_source_checks_configured_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.csv");
    std::fs::write(&path, csv_bytes()).unwrap();
    let empty = Registry::parse("", Path::new("empty.toml")).unwrap();

    let mut config = IngestConfig::from_path(&path, LabelRule::new("label", &["1"]));
    config.sha256 = Some(sha256_hex(&csv_bytes()));
    let source = ingest::resolve(&config, &empty, Path::new("unused"), &NoProgress).unwrap();
    assert_eq!(source.path, path);
    assert_eq!(source.dataset, None);

    config.sha256 = Some(sha256_hex(b"other"));
    let error = ingest::resolve(&config, &empty, Path::new("unused"), &NoProgress).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&format!("but {} was expected", sha256_hex(b"other"))), "{message}");
    assert!(message.contains("update `sha256` in the ingest configuration"), "{message}");
}

#[test]
fn unknown_dataset_lists_registered_names() {
    let registry = registry(&sha256_hex(b"x"), 1, None);
    let config = IngestConfig::from_dataset("large", LabelRule::new("label", &["1"]));
    let error = ingest::resolve(&config, &registry, Path::new("data"), &NoProgress).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("dataset `large` is not in the registry test-registry.toml"));
    assert!(message.contains("registered datasets: small"), "{message}");
}
