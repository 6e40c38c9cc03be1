//! The device's HTTP transport around the core's sans-IO sync. It only carries bytes and maps failures
//! to errors a person can act on: everything it sends is built, and everything it receives applied, by
//! the core's [`DeviceStore`]. Used by the CLI and by the mobile bindings.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use gridpatrol_core::store::DeviceStore;
use gridpatrol_core::store::upload::{HeldByServer, UPLOAD_CHUNK_BYTES, UploadState, plan_uploads};
use gridpatrol_core::sync::wire::{MAX_MESSAGE_BYTES, SyncRequest};
use gridpatrol_core::sync::{CATALOG_VERSION_HEADER, GRIDS_VERSION_HEADER, SyncResponse};
use serde::{Deserialize, Serialize};
use ureq::Agent;

/// Changes per request: well under the server's limit, small enough for a weak 4G link.
const PUSH_BYTES: usize = 4 * 1024 * 1024;
/// A sync that needs more rounds than this is looping, not progressing.
const MAX_ROUNDS: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer at all: no network, wrong address, server down. Everything stays queued.
    #[error(
        "服务器无法连接 the server at {server} cannot be reached ({detail}); everything stays queued on this device (数据已保留在本机)"
    )]
    Unreachable { server: String, detail: String },
    /// The server answered with an error.
    #[error("{}", describe(*status, code, message))]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the server's answer is not what this app understands: {0} (服务器应答格式错误)")]
    Protocol(String),
    #[error("sync was cancelled (同步已取消)")]
    Cancelled,
    #[error(transparent)]
    Core(#[from] gridpatrol_core::Error),
}

fn describe(status: u16, code: &str, message: &str) -> String {
    let what = match status {
        // On a PDA this usually means the command centre revoked the token (a lost device, a
        // reassignment): say what to do, and that nothing recorded is lost.
        401 => {
            "令牌无效或已吊销，请向指挥中心申请新令牌后重新注册（enroll），未同步的案件仍保存在本机 \
             the token is not valid or was revoked: ask the command centre for a new one and enroll \
             again; cases not yet synced stay on this device"
        }
        403 => "服务器拒绝 refused by the server",
        409 => "冲突 conflict",
        413 => "请求过大 request too large",
        422 => "服务器拒收此内容 the server refused the content",
        429 => "超出配额，请稍后再试 over a quota, try again later",
        _ => "服务器错误 server error",
    };
    format!("{what} (HTTP {status} {code}): {message}")
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What a sync is doing, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Cases,
    Photos,
}

/// Progress reporting and cancellation, implemented by the CLI (a progress bar) and the apps.
pub trait SyncProgress {
    /// A phase starts with `total` units (cases, then photo bytes).
    fn phase(&self, _phase: Phase, _total: u64) {}
    /// `units` more are done.
    fn advance(&self, _units: u64) {}
    /// Checked between requests: true stops the sync (what was applied stays applied).
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// How sync reaches the store: for each local step it takes the store, does the step, lets it go.
pub trait StoreAccess {
    fn with<R>(&self, step: impl FnOnce(&mut DeviceStore) -> R) -> R;
}

/// A store shared between threads (the apps' bindings).
impl StoreAccess for Mutex<DeviceStore> {
    fn with<R>(&self, step: impl FnOnce(&mut DeviceStore) -> R) -> R {
        // A panic elsewhere poisons the lock; the store stays consistent (every write is one SQLite
        // transaction), so sync goes on.
        let mut guard = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        step(&mut guard)
    }
}

/// A store the caller holds alone (the CLI).
impl StoreAccess for RefCell<&mut DeviceStore> {
    fn with<R>(&self, step: impl FnOnce(&mut DeviceStore) -> R) -> R {
        step(&mut self.borrow_mut())
    }
}

/// For callers that want neither.
pub struct Silent;
impl SyncProgress for Silent {}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EnrollReply {
    pub worker_id: String,
    pub device_id: String,
    pub cells: Vec<String>,
    /// The server's clock: the device stamps its records by it.
    #[serde(default)]
    pub server_time: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    pub rounds: usize,
    pub pushed: usize,
    pub received: usize,
    pub new_cases: usize,
    pub photos_uploaded: usize,
    pub photos_failed: usize,
    /// Why photo uploads stopped early in this sync (the server's quota of unfinished uploads for this
    /// device, 429 `upload_quota`); the photos not sent stay queued for the next sync.
    pub photos_deferred: Option<String>,
    pub bytes_sent: usize,
    pub bytes_received: usize,
    /// The number of categories when the server's catalogue differed and was pulled; `None` when the
    /// device's was already the server's.
    pub catalog_updated: Option<usize>,
    /// The number of cells when the worker's grid cells changed (re-imported, or the worker was given
    /// other cells) and were pulled; `None` otherwise.
    pub grids_updated: Option<usize>,
    /// Cases the server refused in this sync, with why. They stay on the device (see
    /// `DeviceStore::refused`) and are offered again at the next sync; the others synced.
    pub refused: Vec<RefusedCase>,
}

/// A case the server refused.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedCase {
    pub case: gridpatrol_core::case::CaseId,
    pub code: String,
    pub reason: String,
}

/// The reference versions a sync response names.
#[derive(Debug, Default)]
struct ServerVersions {
    catalog: Option<String>,
    grids: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

pub struct Remote {
    agent: Agent,
    base: String,
    token: String,
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

    /// Asks the server who this token belongs to, and binds this device's id to it.
    pub fn enroll(&self, device_id: &str) -> Result<EnrollReply> {
        let resp = self
            .agent
            .post(format!("{}/api/v1/devices/enroll", self.base))
            .header("Authorization", self.auth())
            .send_json(serde_json::json!({ "device_id": device_id }))
            .map_err(|e| self.unreachable(e))?;
        self.read_json(resp)
    }

    /// Enrolls `store` with the server: the token's worker becomes the store's worker.
    pub fn enroll_store(&self, store: &mut DeviceStore) -> Result<EnrollReply> {
        let reply = self.enroll(&store.identity().device_id)?;
        if reply.device_id != store.identity().device_id {
            return Err(ClientError::Server {
                status: 409,
                code: "device_mismatch".into(),
                message: format!(
                    "the server bound this token to device {} (令牌已绑定其他设备)",
                    reply.device_id
                ),
            });
        }
        store.enroll(&self.base, &self.token, &reply.worker_id)?;
        if let Some(t) = reply.server_time {
            store.set_server_time(t)?;
        }
        self.pull_grids(store)?;
        let local = store.catalog_version()?;
        self.pull_catalog(&RefCell::new(store), &local)?;
        Ok(reply)
    }

    /// Replaces the store's catalogue with the server's unless its version is `local`, so that the
    /// worker reports in the categories the command centre uses (a city's own included). Returns the
    /// number of categories when it was replaced.
    pub fn pull_catalog<S: StoreAccess + ?Sized>(
        &self,
        store: &S,
        local: &str,
    ) -> Result<Option<usize>> {
        let resp = self
            .agent
            .get(format!("{}/api/v1/catalog?format=csv", self.base))
            .header("Authorization", self.auth())
            .call()
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let server_version = header(&resp, CATALOG_VERSION_HEADER);
        let body = resp
            .into_body()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        if status != 200 {
            return Err(server_error(status, body.as_bytes()));
        }
        if server_version.as_deref() == Some(local) {
            return Ok(None);
        }
        Ok(Some(store.with(|s| s.import_catalog(&body))?))
    }

    /// Replaces the store's grid cells with the ones the server says this worker covers, so that
    /// reports are located in the right cell offline. Returns the number of cells.
    pub fn pull_grids(&self, store: &mut DeviceStore) -> Result<usize> {
        self.pull_grids_shared(&RefCell::new(store))
    }

    fn pull_grids_shared<S: StoreAccess + ?Sized>(&self, store: &S) -> Result<usize> {
        let resp = self
            .agent
            .get(format!("{}/api/v1/grids", self.base))
            .header("Authorization", self.auth())
            .call()
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let version = header(&resp, GRIDS_VERSION_HEADER);
        let body = resp
            .into_body()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        if status != 200 {
            return Err(server_error(status, body.as_bytes()));
        }
        Ok(store.with(|s| match &version {
            Some(v) => s.import_server_grids(&body, v),
            None => s.import_grids(&body),
        })?)
    }

    /// One round trip of document sync: the request's bytes go out, the response's bytes come back.
    pub fn round_trip(&self, request: &[u8]) -> Result<Vec<u8>> {
        Ok(self.exchange(request)?.0)
    }

    /// [`Remote::round_trip`], with the reference versions the server named.
    fn exchange(&self, request: &[u8]) -> Result<(Vec<u8>, ServerVersions)> {
        let resp = self
            .agent
            .post(format!("{}/sync/v1", self.base))
            .header("Authorization", self.auth())
            .content_type("application/octet-stream")
            .send(request)
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let versions = ServerVersions {
            catalog: header(&resp, CATALOG_VERSION_HEADER),
            grids: header(&resp, GRIDS_VERSION_HEADER),
        };
        let bytes = resp
            .into_body()
            .with_config()
            .limit(MAX_MESSAGE_BYTES as u64 + 1024)
            .read_to_vec()
            .map_err(|e| self.unreachable(e))?;
        if status != 200 {
            return Err(server_error(status, &bytes));
        }
        Ok((bytes, versions))
    }

    /// One round: the response, bytes sent and received, and the server's reference versions.
    fn round(&self, request: &SyncRequest) -> Result<(SyncResponse, usize, usize, ServerVersions)> {
        let body = request.encode();
        let (bytes, versions) = self.exchange(&body)?;
        let response =
            SyncResponse::decode(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((response, body.len(), bytes.len(), versions))
    }

    /// Documents first (until the device and the server have nothing more to say), then photos.
    pub fn sync(
        &self,
        store: &mut DeviceStore,
        progress: &dyn SyncProgress,
    ) -> Result<SyncSummary> {
        self.sync_shared(&RefCell::new(store), progress)
    }

    /// [`Remote::sync`] for a store other threads use too (an app's UI): the store is held only for
    /// each local step, never while waiting on the network, so a report recorded during a long photo
    /// upload is not kept waiting. Whatever is recorded meanwhile goes up in the same sync.
    pub fn sync_shared<S: StoreAccess + ?Sized>(
        &self,
        store: &S,
        progress: &dyn SyncProgress,
    ) -> Result<SyncSummary> {
        let mut summary = SyncSummary::default();
        let mut server: ServerVersions;
        // Cases refused before are offered once more: what made the server refuse may have passed.
        store.with(|s| s.retry_refused())?;
        progress.phase(Phase::Cases, store.with(|s| s.outbox_len())?);
        loop {
            if progress.is_cancelled() {
                return Err(ClientError::Cancelled);
            }
            summary.rounds += 1;
            if summary.rounds > MAX_ROUNDS {
                return Err(ClientError::Protocol(format!(
                    "sync did not finish after {MAX_ROUNDS} rounds"
                )));
            }
            let request = store.with(|s| s.sync_request(PUSH_BYTES))?;
            let pushed = request
                .docs
                .iter()
                .filter(|d| !d.changes.is_empty())
                .count();
            let (response, sent, received, versions) = self.round(&request)?;
            server = versions;
            let applied = store.with(|s| s.apply_sync_response(&response))?;
            summary.pushed += pushed;
            summary.received += applied.updated;
            summary.new_cases += applied.new_cases;
            summary.bytes_sent += sent;
            summary.bytes_received += received;
            summary
                .refused
                .retain(|r| !applied.refused.iter().any(|(c, _)| *c == r.case));
            summary
                .refused
                .extend(applied.refused.into_iter().map(|(case, r)| RefusedCase {
                    case,
                    code: r.code,
                    reason: r.reason,
                }));
            progress.advance(pushed as u64);
            if !applied.more && store.with(|s| s.outbox_len())? == 0 {
                break;
            }
        }
        // Only when the server's reference data differs: a sync where nothing changed stays one request.
        if let Some(catalog) = server.catalog {
            let local = store.with(|s| s.catalog_version())?;
            if catalog != local {
                summary.catalog_updated = self.pull_catalog(store, &local)?;
            }
        }
        if let Some(grids) = server.grids
            && store.with(|s| s.grids_version())?.as_deref() != Some(grids.as_str())
        {
            summary.grids_updated = Some(self.pull_grids_shared(store)?);
        }
        self.upload_photos(store, &mut summary, progress)?;
        Ok(summary)
    }

    /// Thumbnails first, then full photos; each resumes where the server's copy stops.
    fn upload_photos<S: StoreAccess + ?Sized>(
        &self,
        store: &S,
        summary: &mut SyncSummary,
        progress: &dyn SyncProgress,
    ) -> Result<()> {
        let mut pending = store.with(|s| s.pending_uploads())?;
        // A photo the server refused as not an image would be refused again: it is not offered at
        // every sync (it stays failed, with the server's reason, for a person to look at).
        pending
            .retain(|b| !(b.state == UploadState::Failed && refused_for_good(b.error.as_deref())));
        if pending.is_empty() {
            return Ok(());
        }
        let shas: Vec<&str> = pending.iter().map(|b| b.sha256.as_str()).collect();
        let resp = self
            .agent
            .post(format!("{}/api/v1/blobs/status", self.base))
            .header("Authorization", self.auth())
            .send_json(serde_json::json!({ "sha256": shas }))
            .map_err(|e| self.unreachable(e))?;
        let held: HashMap<String, HeldByServer> = self.read_json(resp)?;
        for blob in pending
            .iter()
            .filter(|b| held.get(&b.sha256).is_some_and(|h| h.complete))
        {
            store.with(|s| s.set_upload_state(&blob.sha256, UploadState::Uploaded, None))?;
            summary.photos_uploaded += 1;
        }
        let steps = plan_uploads(&pending, &held, UPLOAD_CHUNK_BYTES);
        progress.phase(Phase::Photos, steps.iter().map(|s| s.len).sum());
        let mut failed: Option<String> = None;
        for step in &steps {
            if progress.is_cancelled() {
                store.with(|s| s.set_upload_state(&step.sha256, UploadState::Pending, None))?;
                return Err(ClientError::Cancelled);
            }
            if failed.as_deref() == Some(step.sha256.as_str()) {
                continue;
            }
            store.with(|s| s.set_upload_state(&step.sha256, UploadState::Uploading, None))?;
            let chunk = store.with(|s| s.upload_chunk(step))?;
            let sent = self
                .agent
                .put(format!(
                    "{}/api/v1/blobs/{}?offset={}&total={}",
                    self.base, step.sha256, step.offset, step.total
                ))
                .header("Authorization", self.auth())
                .content_type("application/octet-stream")
                .send(&chunk[..]);
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    // The network went away mid-upload: what the server holds stays, and the next
                    // sync resumes from there.
                    store.with(|s| s.set_upload_state(&step.sha256, UploadState::Pending, None))?;
                    return Err(self.unreachable(e));
                }
            };
            if resp.status().as_u16() != 200 {
                let status = resp.status().as_u16();
                let body = resp.into_body().read_to_vec().unwrap_or_default();
                let reason = server_error(status, &body).to_string();
                if status == 429 {
                    // This device's unfinished uploads are at the server's quota: sending the next
                    // photos would be refused too. Stop here; everything stays queued.
                    store.with(|s| s.set_upload_state(&step.sha256, UploadState::Pending, None))?;
                    summary.photos_deferred = Some(reason);
                    break;
                }
                store.with(|s| {
                    s.set_upload_state(&step.sha256, UploadState::Failed, Some(&reason))
                })?;
                summary.photos_failed += 1;
                failed = Some(step.sha256.clone());
                continue;
            }
            let held: HeldByServer = self.read_json(resp)?;
            progress.advance(step.len);
            if held.complete {
                store.with(|s| s.set_upload_state(&step.sha256, UploadState::Uploaded, None))?;
                summary.photos_uploaded += 1;
            }
        }
        Ok(())
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<T> {
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .read_to_vec()
            .map_err(|e| self.unreachable(e))?;
        if status != 200 {
            return Err(server_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn unreachable(&self, e: ureq::Error) -> ClientError {
        ClientError::Unreachable {
            server: self.base.clone(),
            detail: e.to_string(),
        }
    }
}

/// Whether a failed upload's stored reason is a refusal that sending again cannot change (the server
/// checked the whole photo and found it not an image). The reason is [`ClientError::Server`]'s text,
/// which names the code.
fn refused_for_good(error: Option<&str>) -> bool {
    error.is_some_and(|e| e.contains("HTTP 422 not_an_image"))
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn server_error(status: u16, body: &[u8]) -> ClientError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (code, message) = match parsed {
        Some(ErrorBody { code, message }) => (
            code.unwrap_or_default(),
            message.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        ),
        None => (String::new(), String::from_utf8_lossy(body).into_owned()),
    };
    ClientError::Server {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_photos_say_what_happened() {
        let not_an_image = server_error(
            422,
            br#"{"code":"not_an_image","message":"the upload is not a photo this server keeps (not_an_image)"}"#,
        )
        .to_string();
        assert!(not_an_image.contains("服务器拒收"), "{not_an_image}");
        assert!(refused_for_good(Some(&not_an_image)), "{not_an_image}");

        let quota = server_error(429, br#"{"code":"upload_quota","message":"quota"}"#).to_string();
        assert!(quota.contains("超出配额"), "{quota}");
        assert!(!refused_for_good(Some(&quota)));
        // A hash mismatch (a transfer went wrong) is worth another try.
        let mismatch =
            server_error(422, br#"{"code":"sha256_mismatch","message":"x"}"#).to_string();
        assert!(!refused_for_good(Some(&mismatch)));
        assert!(!refused_for_good(None));
    }
}
