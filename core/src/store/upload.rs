//! Photo upload, device side, sans IO: which blobs to send in which order (thumbnails first, so a desk
//! sees something at once, then full photos), from which offset (the server says what it holds, so an
//! interrupted upload resumes), and the per-photo state a person sees.

use std::collections::HashMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::DeviceStore;
use crate::Result;

/// A chunk of at most this many bytes goes in one request.
pub const UPLOAD_CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    Pending,
    Uploading,
    Uploaded,
    Failed,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Pending => "pending",
            UploadState::Uploading => "uploading",
            UploadState::Uploaded => "uploaded",
            UploadState::Failed => "failed",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            UploadState::Pending => "待上传",
            UploadState::Uploading => "上传中",
            UploadState::Uploaded => "已上传",
            UploadState::Failed => "上传失败",
        }
    }

    fn parse(s: &str) -> UploadState {
        match s {
            "uploading" => UploadState::Uploading,
            "uploaded" => UploadState::Uploaded,
            "failed" => UploadState::Failed,
            _ => UploadState::Pending,
        }
    }
}

/// A blob waiting to go up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingBlob {
    pub sha256: String,
    /// "thumb" or "full".
    pub kind: String,
    pub size: u64,
    pub state: UploadState,
    pub error: Option<String>,
}

/// What the server says it holds of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldByServer {
    pub held: u64,
    pub complete: bool,
}

/// One upload request to make: the bytes of `sha256` from `offset` to `offset + len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStep {
    pub sha256: String,
    pub offset: u64,
    pub len: u64,
    pub total: u64,
}

/// The requests that finish uploading `pending`, given what the server holds: complete blobs are
/// skipped (deduplicated across devices), partial ones resume at the server's offset.
pub fn plan_uploads(
    pending: &[PendingBlob],
    held: &HashMap<String, HeldByServer>,
    chunk: usize,
) -> Vec<UploadStep> {
    let mut steps = Vec::new();
    for blob in pending {
        let status = held.get(&blob.sha256).copied().unwrap_or(HeldByServer {
            held: 0,
            complete: false,
        });
        if status.complete {
            continue;
        }
        // A server holding more than the blob's size has something else: start over.
        let mut offset = if status.held <= blob.size {
            status.held
        } else {
            0
        };
        loop {
            let len = (blob.size - offset).min(chunk as u64);
            steps.push(UploadStep {
                sha256: blob.sha256.clone(),
                offset,
                len,
                total: blob.size,
            });
            offset += len;
            if offset >= blob.size {
                break;
            }
        }
    }
    steps
}

impl DeviceStore {
    /// Blobs not yet on the server, thumbnails first, oldest first.
    pub fn pending_uploads(&self) -> Result<Vec<PendingBlob>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sha256, kind, length(data), upload_state, upload_error FROM blob
             WHERE upload_state != 'uploaded'
             ORDER BY kind = 'full', created_ms, sha256",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PendingBlob {
                sha256: r.get(0)?,
                kind: r.get(1)?,
                size: r.get(2)?,
                state: UploadState::parse(&r.get::<_, String>(3)?),
                error: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The upload state of one blob (`None` when the store does not hold it).
    pub fn upload_state(&self, sha256: &str) -> Result<Option<(UploadState, Option<String>)>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT upload_state, upload_error FROM blob WHERE sha256 = ?1",
                [sha256],
                |r| Ok((UploadState::parse(&r.get::<_, String>(0)?), r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_upload_state(
        &mut self,
        sha256: &str,
        state: UploadState,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE blob SET upload_state = ?2, upload_error = ?3 WHERE sha256 = ?1",
            params![sha256, state.as_str(), error],
        )?;
        Ok(())
    }

    /// The bytes of one upload step.
    pub fn upload_chunk(&self, step: &UploadStep) -> Result<Vec<u8>> {
        Ok(self.conn.query_row(
            "SELECT substr(data, ?2, ?3) FROM blob WHERE sha256 = ?1",
            params![step.sha256, step.offset as i64 + 1, step.len as i64],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(sha: &str, size: u64) -> PendingBlob {
        PendingBlob {
            sha256: sha.into(),
            kind: "full".into(),
            size,
            state: UploadState::Pending,
            error: None,
        }
    }

    #[test]
    fn uploads_resume_and_skip_what_the_server_has() {
        let pending = [blob("a", 2500), blob("b", 10), blob("c", 300)];
        let held = HashMap::from([
            (
                "a".to_string(),
                HeldByServer {
                    held: 1000,
                    complete: false,
                },
            ),
            (
                "b".to_string(),
                HeldByServer {
                    held: 10,
                    complete: true,
                },
            ),
        ]);
        let steps = plan_uploads(&pending, &held, 1000);
        let got: Vec<(&str, u64, u64)> = steps
            .iter()
            .map(|s| (s.sha256.as_str(), s.offset, s.len))
            .collect();
        assert_eq!(
            got,
            vec![("a", 1000, 1000), ("a", 2000, 500), ("c", 0, 300)]
        );
    }

    #[test]
    fn a_server_claiming_too_much_starts_over() {
        let held = HashMap::from([(
            "a".to_string(),
            HeldByServer {
                held: 99,
                complete: false,
            },
        )]);
        let steps = plan_uploads(&[blob("a", 50)], &held, 1000);
        assert_eq!(steps[0].offset, 0);
        assert_eq!(steps[0].len, 50);
    }
}
