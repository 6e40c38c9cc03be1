//! Unfinished photo uploads (`blob_upload`): who started each and when it last moved, so that unfinished
//! uploads are capped per device and expire. A row lives from an upload's first chunk until it completes,
//! is discarded, or expires; a complete blob has none.

use rusqlite::{OptionalExtension, params};

use super::{DbError, Write};

/// Why an upload may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRefusal {
    /// The upload was started with another `total`.
    TotalMismatch { started_with: u64 },
    /// Starting it would take the device's unfinished uploads past its quota.
    Quota { unfinished: u64, quota: u64 },
}

impl Write<'_> {
    /// Records a chunk of `sha256` from `uploader` (a device token's hash): a new upload is charged to
    /// `uploader` if its unfinished uploads plus `total` stay within `quota` bytes; a known one must keep
    /// its `total`, and is only touched (its clock restarts), whoever sends the chunk. The same blob
    /// sent by two devices is one upload, charged to the device that started it: the bytes are the same
    /// (they must hash to the name), the offset check orders the chunks, and either may finish it.
    pub fn upload_chunk(
        &self,
        sha256: &str,
        uploader: &str,
        total: u64,
        quota: u64,
    ) -> Result<Result<(), UploadRefusal>, DbError> {
        let known: Option<i64> = self
            .tx
            .prepare_cached("SELECT total FROM blob_upload WHERE sha256 = ?1")?
            .query_row([sha256], |r| r.get(0))
            .optional()?;
        if let Some(started) = known {
            let started_with = u64::try_from(started).unwrap_or(0);
            if started_with != total {
                return Ok(Err(UploadRefusal::TotalMismatch { started_with }));
            }
            self.tx
                .prepare_cached("UPDATE blob_upload SET updated_ms = ?2 WHERE sha256 = ?1")?
                .execute(params![sha256, self.now_ms])?;
            return Ok(Ok(()));
        }
        let unfinished: i64 = self
            .tx
            .prepare_cached("SELECT coalesce(sum(total), 0) FROM blob_upload WHERE uploader = ?1")?
            .query_row([uploader], |r| r.get(0))?;
        let unfinished = u64::try_from(unfinished).unwrap_or(u64::MAX);
        if unfinished.saturating_add(total) > quota {
            return Ok(Err(UploadRefusal::Quota { unfinished, quota }));
        }
        self.tx
            .prepare_cached(
                "INSERT INTO blob_upload (sha256, uploader, total, started_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![sha256, uploader, total as i64, self.now_ms])?;
        Ok(Ok(()))
    }

    /// Forgets an upload (completed or discarded).
    pub fn upload_done(&self, sha256: &str) -> Result<(), DbError> {
        self.tx
            .prepare_cached("DELETE FROM blob_upload WHERE sha256 = ?1")?
            .execute([sha256])?;
        Ok(())
    }

    /// The uploads no chunk has moved since `before_ms`.
    pub fn stale_uploads(&self, before_ms: i64) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT sha256 FROM blob_upload WHERE updated_ms < ?1")?;
        let rows = stmt.query_map([before_ms], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes the upload's row if it is still stale; returns whether it did (a chunk may have arrived
    /// since [`Write::stale_uploads`]).
    pub fn expire_upload(&self, sha256: &str, before_ms: i64) -> Result<bool, DbError> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM blob_upload WHERE sha256 = ?1 AND updated_ms < ?2")?
            .execute(params![sha256, before_ms])?;
        Ok(n > 0)
    }

    /// Whether an upload of `sha256` is recorded.
    pub fn upload_known(&self, sha256: &str) -> Result<bool, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM blob_upload WHERE sha256 = ?1")?
            .query_row([sha256], |_| Ok(()))
            .optional()?
            .is_some())
    }
}
