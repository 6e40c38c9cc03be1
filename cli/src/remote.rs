//! The HTTP transport around the core's sans-IO sync: it only carries bytes and maps failures to
//! messages a person can act on. Everything it sends is built, and everything it receives applied, by
//! the core.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use gridpatrol_core::store::DeviceStore;
use gridpatrol_core::store::upload::{HeldByServer, UPLOAD_CHUNK_BYTES, UploadState, plan_uploads};
use gridpatrol_core::sync::wire::MAX_MESSAGE_BYTES;
use gridpatrol_core::sync::{SyncResponse, wire::SyncRequest};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use ureq::Agent;

/// Changes per request: well under the server's limit, small enough for a weak 4G link.
const PUSH_BYTES: usize = 4 * 1024 * 1024;
/// A sync that needs more rounds than this is looping, not progressing.
const MAX_ROUNDS: usize = 1_000;

pub struct Remote {
    agent: Agent,
    base: String,
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct EnrollReply {
    pub worker_id: String,
    pub device_id: String,
    pub cells: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct SyncSummary {
    pub rounds: usize,
    pub pushed: usize,
    pub received: usize,
    pub new_cases: usize,
    pub photos_uploaded: usize,
    pub photos_failed: usize,
    pub bytes_sent: usize,
    pub bytes_received: usize,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

impl Remote {
    pub fn new(base: &str, token: &str) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Remote {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn enroll(&self, device_id: &str) -> Result<EnrollReply> {
        let resp = self
            .agent
            .post(format!("{}/api/v1/devices/enroll", self.base))
            .header("Authorization", self.auth())
            .send_json(serde_json::json!({ "device_id": device_id }))
            .map_err(|e| unreachable(&self.base, e))?;
        read_json(resp)
    }

    /// One round trip of document sync.
    fn round(&self, request: &SyncRequest) -> Result<(SyncResponse, usize, usize)> {
        let body = request.encode();
        let resp = self
            .agent
            .post(format!("{}/sync/v1", self.base))
            .header("Authorization", self.auth())
            .content_type("application/octet-stream")
            .send(&body[..])
            .map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .with_config()
            .limit(MAX_MESSAGE_BYTES as u64 + 1024)
            .read_to_vec()
            .map_err(|e| unreachable(&self.base, e))?;
        if status != 200 {
            bail!(describe_error(status, &bytes));
        }
        let response = SyncResponse::decode(&bytes)?;
        Ok((response, body.len(), bytes.len()))
    }

    /// Documents first (until the device and the server have nothing more to say), then photos.
    pub fn sync(&self, store: &mut DeviceStore, quiet: bool) -> Result<SyncSummary> {
        let mut summary = SyncSummary::default();
        let outbox = store.outbox_len()?;
        let bar = progress(quiet, outbox, "同步案件 syncing cases");
        loop {
            summary.rounds += 1;
            if summary.rounds > MAX_ROUNDS {
                bail!("sync did not finish after {MAX_ROUNDS} rounds (同步未完成)");
            }
            let request = store.sync_request(PUSH_BYTES)?;
            let pushed = request
                .docs
                .iter()
                .filter(|d| !d.changes.is_empty())
                .count();
            let (response, sent, received) = self.round(&request)?;
            let applied = store.apply_sync_response(&response)?;
            summary.pushed += pushed;
            summary.received += applied.updated;
            summary.new_cases += applied.new_cases;
            summary.bytes_sent += sent;
            summary.bytes_received += received;
            bar.inc(pushed as u64);
            if !applied.more && store.outbox_len()? == 0 {
                break;
            }
        }
        bar.finish_and_clear();
        self.upload_photos(store, &mut summary, quiet)?;
        Ok(summary)
    }

    fn upload_photos(
        &self,
        store: &mut DeviceStore,
        summary: &mut SyncSummary,
        quiet: bool,
    ) -> Result<()> {
        let pending = store.pending_uploads()?;
        if pending.is_empty() {
            return Ok(());
        }
        let shas: Vec<&str> = pending.iter().map(|b| b.sha256.as_str()).collect();
        let resp = self
            .agent
            .post(format!("{}/api/v1/blobs/status", self.base))
            .header("Authorization", self.auth())
            .send_json(serde_json::json!({ "sha256": shas }))
            .map_err(|e| unreachable(&self.base, e))?;
        let held: HashMap<String, HeldByServer> = read_json(resp)?;
        let steps = plan_uploads(&pending, &held, UPLOAD_CHUNK_BYTES);
        let total: u64 = steps.iter().map(|s| s.len).sum();
        let bar = progress(quiet, total, "上传照片 uploading photos");
        for blob in pending
            .iter()
            .filter(|b| held.get(&b.sha256).is_some_and(|h| h.complete))
        {
            store.set_upload_state(&blob.sha256, UploadState::Uploaded, None)?;
            summary.photos_uploaded += 1;
        }
        let mut failed: Option<String> = None;
        for step in &steps {
            if failed.as_deref() == Some(step.sha256.as_str()) {
                continue;
            }
            store.set_upload_state(&step.sha256, UploadState::Uploading, None)?;
            let chunk = store.upload_chunk(step)?;
            let resp = self
                .agent
                .put(format!(
                    "{}/api/v1/blobs/{}?offset={}&total={}",
                    self.base, step.sha256, step.offset, step.total
                ))
                .header("Authorization", self.auth())
                .content_type("application/octet-stream")
                .send(&chunk[..]);
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    // The network went away mid-upload: what the server holds stays, and the next
                    // sync resumes from there.
                    store.set_upload_state(&step.sha256, UploadState::Pending, None)?;
                    return Err(unreachable(&self.base, e));
                }
            };
            let status = resp.status().as_u16();
            if status != 200 {
                let body = resp.into_body().read_to_vec().unwrap_or_default();
                let reason = describe_error(status, &body);
                store.set_upload_state(&step.sha256, UploadState::Failed, Some(&reason))?;
                summary.photos_failed += 1;
                failed = Some(step.sha256.clone());
                continue;
            }
            let held: HeldByServer = read_json(resp)?;
            bar.inc(step.len);
            if held.complete {
                store.set_upload_state(&step.sha256, UploadState::Uploaded, None)?;
                summary.photos_uploaded += 1;
            }
        }
        bar.finish_and_clear();
        Ok(())
    }
}

fn progress(quiet: bool, len: u64, what: &'static str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

fn read_json<T: serde::de::DeserializeOwned>(resp: ureq::http::Response<ureq::Body>) -> Result<T> {
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .read_to_vec()
        .context("reading the server's answer")?;
    if status != 200 {
        bail!(describe_error(status, &bytes));
    }
    serde_json::from_slice(&bytes).context("the server's answer is not the JSON expected")
}

fn describe_error(status: u16, body: &[u8]) -> String {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (code, message) = match parsed {
        Some(ErrorBody { code, message }) => (
            code.unwrap_or_default(),
            message.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        ),
        None => (String::new(), String::from_utf8_lossy(body).into_owned()),
    };
    let what = match status {
        401 => "令牌无效 the token is not valid",
        403 => "服务器拒绝 refused by the server",
        409 => "冲突 conflict",
        413 => "请求过大 request too large",
        _ => "服务器错误 server error",
    };
    format!("{what} (HTTP {status} {code}): {message}")
}

/// The error for "could not talk to the server": the caller keeps everything queued.
fn unreachable(base: &str, e: ureq::Error) -> anyhow::Error {
    anyhow!(
        "服务器无法连接 the server at {base} cannot be reached ({e}); everything stays queued on this device (数据已保留在本机)"
    )
}
