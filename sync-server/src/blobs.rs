//! Photos, content-addressed by sha256: resumable uploads, verified on completion, deduplicated.
//!
//! Blobs are files under `DIR/blobs/ab/<sha256>` rather than rows in SQLite: a city sends tens to
//! hundreds of GB of photos a day, and keeping them out of the database keeps its WAL, page cache and
//! backups small, lets the OS page cache serve reads, and lets an operator move old photos to cheaper
//! storage. An upload appends to `DIR/blobs/partial/<sha256>` (fsynced per chunk, so the held size a
//! client is told survives a crash) and becomes visible by an atomic rename once its hash checks out.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ServerError;

/// The largest blob accepted (a photo is resized to 1600 px on the device: well under 1 MiB).
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;
/// The largest chunk one PUT may carry.
pub const MAX_CHUNK_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlobStatus {
    /// Bytes the server holds (all of them once complete).
    pub held: u64,
    pub complete: bool,
}

pub struct BlobStore {
    dir: PathBuf,
    /// Uploads of the same blob are serialized; different blobs mostly proceed in parallel.
    stripes: Vec<Mutex<()>>,
}

/// A sha256 as 64 lowercase hex digits, or a 400.
pub fn parse_sha256(s: &str) -> Result<String, ServerError> {
    let lower = s.to_ascii_lowercase();
    if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(lower)
    } else {
        Err(ServerError::bad_request(
            "bad_sha256",
            format!("{s:?} is not a sha256 (64 hex digits) (不是有效的 sha256)"),
        ))
    }
}

impl BlobStore {
    pub fn open(data_dir: &Path) -> std::io::Result<BlobStore> {
        let dir = data_dir.join("blobs");
        fs::create_dir_all(dir.join("partial"))?;
        Ok(BlobStore {
            dir,
            stripes: (0..64).map(|_| Mutex::new(())).collect(),
        })
    }

    fn final_path(&self, sha: &str) -> PathBuf {
        self.dir.join(&sha[..2]).join(sha)
    }

    fn partial_path(&self, sha: &str) -> PathBuf {
        self.dir.join("partial").join(sha)
    }

    fn stripe(&self, sha: &str) -> std::sync::MutexGuard<'_, ()> {
        let i = usize::from_str_radix(&sha[..2], 16).unwrap_or(0) % self.stripes.len();
        self.stripes[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self, sha: &str) -> Result<BlobStatus, ServerError> {
        if let Ok(m) = fs::metadata(self.final_path(sha)) {
            return Ok(BlobStatus {
                held: m.len(),
                complete: true,
            });
        }
        let held = fs::metadata(self.partial_path(sha)).map_or(0, |m| m.len());
        Ok(BlobStatus {
            held,
            complete: false,
        })
    }

    /// Appends `bytes` at `offset` of a blob of `total` bytes. The offset must be what the server holds;
    /// when the last byte arrives the hash is checked, and a mismatch discards the upload.
    pub fn put(
        &self,
        sha: &str,
        offset: u64,
        total: u64,
        bytes: &[u8],
    ) -> Result<BlobStatus, ServerError> {
        if total == 0 {
            return Err(ServerError::bad_request(
                "empty_blob",
                "total is 0: a photo has at least one byte (文件为空)",
            ));
        }
        if total > MAX_BLOB_BYTES {
            return Err(ServerError::TooLarge(format!(
                "a blob of {total} bytes exceeds the limit of {MAX_BLOB_BYTES} (文件过大)"
            )));
        }
        let end = offset.saturating_add(bytes.len() as u64);
        if end > total {
            return Err(ServerError::bad_request(
                "past_total",
                format!("bytes {offset}..{end} run past the total of {total} (超出文件总长度)"),
            ));
        }
        let _guard = self.stripe(sha);
        let final_path = self.final_path(sha);
        if let Ok(m) = fs::metadata(&final_path) {
            // Already complete: a repeated upload is a no-op.
            return Ok(BlobStatus {
                held: m.len(),
                complete: true,
            });
        }
        let partial = self.partial_path(sha);
        let held = fs::metadata(&partial).map_or(0, |m| m.len());
        if offset != held {
            return Err(ServerError::UploadOffset { held, offset });
        }
        if !bytes.is_empty() {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&partial)?;
            f.write_all(bytes)?;
            f.sync_data()?;
        }
        if end < total {
            return Ok(BlobStatus {
                held: end,
                complete: false,
            });
        }
        let actual = hash_file(&partial)?;
        if actual != sha {
            let _ = fs::remove_file(&partial);
            return Err(ServerError::Unprocessable {
                code: "sha256_mismatch",
                message: format!(
                    "the uploaded bytes hash to {actual}, not {sha}; the upload was discarded, start again from offset 0 (校验失败，已丢弃，请重新上传)"
                ),
            });
        }
        let parent = final_path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent)?;
        File::open(&partial)?.sync_all()?;
        fs::rename(&partial, &final_path)?;
        File::open(parent)?.sync_all()?;
        Ok(BlobStatus {
            held: total,
            complete: true,
        })
    }

    pub fn get(&self, sha: &str) -> Result<Option<Vec<u8>>, ServerError> {
        match fs::read(self.final_path(sha)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
