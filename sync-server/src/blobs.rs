//! Photos, content-addressed by sha256: resumable uploads, verified on completion, deduplicated.
//!
//! Blobs are files under `DIR/blobs/ab/<sha256>` rather than rows in SQLite: a city sends tens to
//! hundreds of GB of photos a day, and keeping them out of the database keeps its WAL, page cache and
//! backups small, lets the OS page cache serve reads, and lets an operator move old photos to cheaper
//! storage. An upload appends to `DIR/blobs/partial/<sha256>` (fsynced per chunk, so the held size a
//! client is told survives a crash) and becomes visible by an atomic rename once its hash checks out
//! and the core's [`check_image`] finds a whole JPEG or PNG of at most [`UploadPolicy::max_pixels`].
//!
//! Only devices upload. Each unfinished upload is a `blob_upload` row charged to the device token that
//! started it: the declared totals of a device's unfinished uploads stay within
//! [`UploadPolicy::quota_bytes`] (a new one past it is refused with 429 before any byte is written), and
//! an upload no chunk has moved for [`UploadPolicy::expiry`] is deleted by [`BlobStore::sweep`], which
//! frees its quota. Resuming one's own upload is not charged again. The same blob sent by two devices at
//! once is one upload, charged to the device that started it (see [`crate::db::Write::upload_chunk`]).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use gridpatrol_core::photo::check_image;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::{Db, UploadRefusal};
use crate::error::ServerError;

/// The largest blob accepted (a photo is resized to 1600 px on the device: well under 1 MiB).
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;
/// The largest chunk one PUT may carry.
pub const MAX_CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// Bounds on photo uploads (the serve flags `--upload-quota-mib`, `--upload-expiry-hours`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// The most bytes (declared totals) of unfinished uploads one device token may have.
    pub quota_bytes: u64,
    /// An unfinished upload no chunk has moved for this long is deleted.
    pub expiry: Duration,
    /// The most pixels a stored photo may have. Devices send at most 1600 px on the long edge; the
    /// margin admits other clients' photos, and bounds what checking one costs (4 bytes a pixel).
    pub max_pixels: u64,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy {
            quota_bytes: 256 * 1024 * 1024,
            expiry: Duration::from_secs(24 * 3600),
            max_pixels: 4096 * 4096,
        }
    }
}

/// One PUT of an upload: `bytes` at `offset` of the blob `sha` of `total` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub sha: &'a str,
    pub offset: u64,
    pub total: u64,
    pub bytes: &'a [u8],
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Unfinished uploads that expired (row and partial file).
    pub expired: u32,
    /// Partial files without a row (from before uploads were recorded, or a crash) older than the expiry.
    pub orphans: u32,
}

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

    /// Appends `bytes` at `offset` of a blob of `total` bytes, sent by the device token `uploader`.
    /// The offset must be what the server holds and `total` what the upload started with; a new upload
    /// must fit the device's quota. When the last byte arrives the hash and then the content are
    /// checked, and a mismatch or a non-image discards the upload.
    pub fn put(
        &self,
        db: &Db,
        policy: &UploadPolicy,
        uploader: &str,
        chunk: Chunk<'_>,
    ) -> Result<BlobStatus, ServerError> {
        let Chunk {
            sha,
            offset,
            total,
            bytes,
        } = chunk;
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
        match db.write(|w| w.upload_chunk(sha, uploader, total, policy.quota_bytes))? {
            Ok(()) => {}
            Err(UploadRefusal::TotalMismatch { started_with }) => {
                return Err(ServerError::conflict(
                    "total_mismatch",
                    format!(
                        "this upload was started with total={started_with}, not {total}: every chunk of an upload declares the same total (文件总长度与首次上传不一致)"
                    ),
                ));
            }
            Err(UploadRefusal::Quota { unfinished, quota }) => {
                return Err(ServerError::TooMany {
                    code: "upload_quota",
                    message: format!(
                        "this device has {unfinished} bytes of unfinished uploads; {total} more would exceed its quota of {quota}: finish those first, or wait until they expire (未完成的上传已达设备配额)"
                    ),
                });
            }
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
        let discard = || -> Result<(), ServerError> {
            let _ = fs::remove_file(&partial);
            db.write(|w| w.upload_done(sha))?;
            Ok(())
        };
        let actual = hash_file(&partial)?;
        if actual != sha {
            discard()?;
            return Err(ServerError::Unprocessable {
                code: "sha256_mismatch",
                message: format!(
                    "the uploaded bytes hash to {actual}, not {sha}; the upload was discarded, start again from offset 0 (校验失败，已丢弃，请重新上传)"
                ),
            });
        }
        // The one image validator is the core's: the same checks a device's photo passed.
        if let Err(e) = check_image(&fs::read(&partial)?, policy.max_pixels) {
            discard()?;
            return Err(ServerError::Unprocessable {
                code: "not_an_image",
                message: format!(
                    "the upload is not a photo this server keeps: {e}; it was discarded (不是有效照片，已丢弃)"
                ),
            });
        }
        let parent = final_path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent)?;
        File::open(&partial)?.sync_all()?;
        fs::rename(&partial, &final_path)?;
        File::open(parent)?.sync_all()?;
        db.write(|w| w.upload_done(sha))?;
        Ok(BlobStatus {
            held: total,
            complete: true,
        })
    }

    /// Deletes unfinished uploads no chunk has moved for `expiry` (their rows and partial files, which
    /// frees their devices' quota), and partial files without a row older than that.
    pub fn sweep(
        &self,
        db: &Db,
        expiry: Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SweepReport, ServerError> {
        let mut report = SweepReport::default();
        let expiry_ms = i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX);
        let before_ms = now.timestamp_millis().saturating_sub(expiry_ms);
        for sha in db.write(|w| w.stale_uploads(before_ms))? {
            // Under the blob's lock, and only if still stale: a chunk may be arriving right now.
            let _guard = self.stripe(&sha);
            if db.write(|w| w.expire_upload(&sha, before_ms))? {
                remove_if_there(&self.partial_path(&sha))?;
                report.expired += 1;
            }
        }
        let cutoff = SystemTime::now().checked_sub(expiry);
        for entry in fs::read_dir(self.dir.join("partial"))? {
            let entry = entry?;
            let Some(sha) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if parse_sha256(&sha).is_err() {
                continue;
            }
            let _guard = self.stripe(&sha);
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| cutoff.is_some_and(|c| t < c));
            if old && !db.write(|w| w.upload_known(&sha))? {
                remove_if_there(&entry.path())?;
                report.orphans += 1;
            }
        }
        Ok(report)
    }

    pub fn get(&self, sha: &str) -> Result<Option<Vec<u8>>, ServerError> {
        match fs::read(self.final_path(sha)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
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
