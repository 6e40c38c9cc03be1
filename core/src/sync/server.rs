//! The server's side of sync, sans IO: it takes a decoded request from an authenticated device and a
//! storage backend, and returns the response plus what changed (so the server can route new cases into
//! the dispatch pool). The HTTP layer, the database and the transaction around a call are the caller's.
//!
//! Authorization lives here because it is a rule of the domain, not of a transport: a device may push
//! only changes made by its own automerge actor, only to cases in its scope, and only what a grid
//! worker may record (report, evidence, edits before registration, verification). Nothing a device sends
//! can rewrite what a dispatcher or department recorded: documents are append-only by construction, and
//! the facts a case was created with are compared before and after.

use std::collections::HashSet;

use automerge::{ActorId, Change, ChangeHash};
use uuid::Uuid;

use super::wire::{DocPull, DocPush, Head, SyncRequest, SyncResponse};
use crate::case::{Case, CaseId};
use crate::doc::{CaseDoc, actor_for};
use crate::timeline::TimelineEvent;
use crate::workflow::{ActionKind, Role};

/// What an authenticated device may see and touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceScope {
    pub device_id: String,
    pub worker_id: String,
    /// Cell codes or code prefixes (a street, a community) the worker patrols.
    pub cells: Vec<String>,
}

impl DeviceScope {
    pub fn covers_cell(&self, cell: Option<&str>) -> bool {
        cell.is_some_and(|c| self.cells.iter().any(|p| c.starts_with(p.as_str())))
    }

    /// A case is visible to a device when it lies in the worker's cells, when its verification is
    /// assigned to the worker, or when the device reported it.
    pub fn covers(&self, case: &Case) -> bool {
        self.covers_cell(case.cell.as_deref())
            || case.timeline.verifier.as_deref() == Some(self.worker_id.as_str())
            || case.device == self.device_id
    }
}

/// The columns a backend indexes to answer [`SyncBackend::changed_since`] for a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeKeys {
    pub cell: Option<String>,
    pub verifier: Option<String>,
    pub device: String,
}

impl ScopeKeys {
    pub fn of(case: &Case) -> Self {
        ScopeKeys {
            cell: case.cell.clone(),
            verifier: case.timeline.verifier.clone(),
            device: case.device.clone(),
        }
    }

    pub fn visible_to(&self, scope: &DeviceScope) -> bool {
        scope.covers_cell(self.cell.as_deref())
            || self.verifier.as_deref() == Some(scope.worker_id.as_str())
            || self.device == scope.device_id
    }
}

/// What server-side sync needs from storage. Implemented on SQLite and PostgreSQL transactions by the
/// server, and in memory ([`super::memory::MemoryBackend`]) for protocol tests and simulations.
pub trait SyncBackend {
    type Error: std::error::Error + Send + Sync + 'static;

    fn load(&mut self, case: CaseId) -> Result<Option<CaseDoc>, Self::Error>;

    /// Persists `changes` (content-addressed: a change already stored is a no-op), records the case's
    /// new state (`case` is `doc` read back) and moves the case to the head of the change log. Returns
    /// the case's new cursor position.
    fn save(
        &mut self,
        doc: &mut CaseDoc,
        case: &Case,
        changes: &[Change],
    ) -> Result<u64, Self::Error>;

    /// The heads the device is known to have for a case (empty when unknown).
    fn device_heads(&mut self, device: &str, case: CaseId) -> Result<Vec<ChangeHash>, Self::Error>;

    fn set_device_heads(
        &mut self,
        device: &str,
        case: CaseId,
        heads: &[ChangeHash],
    ) -> Result<(), Self::Error>;

    /// Cases visible to `scope` whose cursor position is after `cursor`, in cursor order, at most
    /// `limit`: (position, case).
    fn changed_since(
        &mut self,
        scope: &DeviceScope,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, CaseId)>, Self::Error>;

    /// The highest cursor position handed out so far.
    fn latest_cursor(&mut self) -> Result<u64, Self::Error>;
}

/// Why a sync request was refused. Nothing of a refused request is kept.
#[derive(Debug, thiserror::Error)]
pub enum SyncError<E: std::error::Error> {
    /// Authorization (HTTP 403): the reason says which rule.
    #[error("case {case}: {reason}")]
    Refused { case: Uuid, reason: String },
    /// A change or document that does not decode (HTTP 400).
    #[error("case {case}: {reason}")]
    Malformed { case: Uuid, reason: String },
    #[error(transparent)]
    Backend(E),
}

/// Server-side settings of the protocol.
#[derive(Debug, Clone)]
pub struct ServerSync {
    /// The server process's automerge actor (each process has its own).
    pub actor: ActorId,
    /// A response stops adding pulled documents past this many change bytes, and says `more`.
    pub max_response_bytes: usize,
    /// And past this many documents.
    pub max_response_docs: usize,
}

impl ServerSync {
    pub fn new(actor: ActorId) -> Self {
        ServerSync {
            actor,
            max_response_bytes: 4 * 1024 * 1024,
            max_response_docs: 2_000,
        }
    }
}

/// What a sync call did, for the server to act on after it commits.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub response: SyncResponse,
    /// Cases the server saw for the first time (they enter the dispatch pool).
    pub new_cases: Vec<CaseId>,
    /// Existing cases that received new changes from the device.
    pub changed_cases: Vec<CaseId>,
}

impl ServerSync {
    /// Handles one request. On error the caller must roll back whatever the backend wrote.
    pub fn handle<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        request: &SyncRequest,
    ) -> Result<SyncOutcome, SyncError<B::Error>> {
        let mut out = SyncOutcome::default();
        let mut pushed = HashSet::new();
        for push in &request.docs {
            pushed.insert(push.case);
            let (pull, status) = self.accept_push(backend, scope, push)?;
            match status {
                PushStatus::New => out.new_cases.push(CaseId(push.case)),
                PushStatus::Changed => out.changed_cases.push(CaseId(push.case)),
                PushStatus::Unchanged => {}
            }
            out.response.docs.push(pull);
        }
        self.pull(backend, scope, request.cursor, &pushed, &mut out.response)?;
        Ok(out)
    }

    fn accept_push<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        push: &DocPush,
    ) -> Result<(DocPull, PushStatus), SyncError<B::Error>> {
        let case_id = CaseId(push.case);
        let refuse = |reason: String| SyncError::Refused {
            case: push.case,
            reason,
        };
        let malformed = |reason: String| SyncError::Malformed {
            case: push.case,
            reason,
        };
        let changes = decode_changes(&push.changes).map_err(malformed)?;
        let device_actor = actor_for(&scope.device_id);
        if let Some(c) = changes.iter().find(|c| c.actor_id() != &device_actor) {
            return Err(refuse(format!(
                "change {} was made by actor {}, which is not bound to device {} (变更来源与设备不符)",
                c.hash(),
                c.actor_id(),
                scope.device_id
            )));
        }
        let existing = backend.load(case_id).map_err(SyncError::Backend)?;
        let (mut doc, before, new_changes) = match existing {
            Some(mut doc) => {
                let before = doc.read().map_err(|e| malformed(e.to_string()))?;
                if !scope.covers(&before) {
                    return Err(refuse(
                        "the case is outside this device's cells and tasks (案件不在本设备的网格或任务范围内)"
                            .into(),
                    ));
                }
                let fresh: Vec<Change> = changes
                    .into_iter()
                    .filter(|c| !doc.has_change(&c.hash()))
                    .collect();
                doc.apply_changes(fresh.clone())
                    .map_err(|e| malformed(e.to_string()))?;
                (doc, Some((before, fresh.is_empty())), fresh)
            }
            None => {
                if changes.is_empty() {
                    return Err(refuse(
                        "no such case on the server, and no changes to create it (服务器无此案件)"
                            .into(),
                    ));
                }
                let doc = CaseDoc::from_changes(self.actor.clone(), changes.clone())
                    .map_err(|e| malformed(e.to_string()))?;
                (doc, None, changes)
            }
        };
        if !doc.missing_deps().is_empty() {
            return Err(malformed(
                "changes depend on changes that were not sent (缺少依赖的变更)".into(),
            ));
        }
        let after = doc.read().map_err(|e| malformed(e.to_string()))?;
        let status = match &before {
            None => {
                check_new_case(scope, &after).map_err(refuse)?;
                PushStatus::New
            }
            Some((_, true)) => PushStatus::Unchanged,
            Some((before, false)) => {
                check_appends(scope, &doc, before, &after).map_err(refuse)?;
                PushStatus::Changed
            }
        };
        if status != PushStatus::Unchanged {
            backend
                .save(&mut doc, &after, &new_changes)
                .map_err(SyncError::Backend)?;
        }
        let device_heads = heads_from_wire(&push.heads);
        backend
            .set_device_heads(&scope.device_id, case_id, &device_heads)
            .map_err(SyncError::Backend)?;
        let pull = DocPull {
            case: push.case,
            heads: heads_to_wire(&doc.heads()),
            changes: encode_changes(doc.changes_since(&device_heads)),
        };
        Ok((pull, status))
    }

    fn pull<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        cursor: u64,
        pushed: &HashSet<Uuid>,
        response: &mut SyncResponse,
    ) -> Result<(), SyncError<B::Error>> {
        let latest = backend.latest_cursor().map_err(SyncError::Backend)?;
        let changed = backend
            .changed_since(scope, cursor, self.max_response_docs + 1)
            .map_err(SyncError::Backend)?;
        let mut bytes = 0;
        response.cursor = latest;
        for (i, (position, case)) in changed.iter().enumerate() {
            if i == self.max_response_docs || bytes > self.max_response_bytes {
                // Stop before this entry; the device continues from the previous one.
                response.more = true;
                response.cursor = if i == 0 { cursor } else { changed[i - 1].0 };
                break;
            }
            if pushed.contains(&case.0) {
                continue;
            }
            let Some(mut doc) = backend.load(*case).map_err(SyncError::Backend)? else {
                continue;
            };
            let have = backend
                .device_heads(&scope.device_id, *case)
                .map_err(SyncError::Backend)?;
            let changes = doc.changes_since(&have);
            if changes.is_empty() {
                continue;
            }
            let changes = encode_changes(changes);
            bytes += changes.iter().map(Vec::len).sum::<usize>();
            response.docs.push(DocPull {
                case: case.0,
                heads: heads_to_wire(&doc.heads()),
                changes,
            });
            let _ = position;
        }
        Ok(())
    }
}

/// Why a server-side (desk or system) action was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ActionError<E: std::error::Error> {
    #[error("no case {0} (案件不存在)")]
    NoSuchCase(CaseId),
    #[error(transparent)]
    Refused(#[from] crate::workflow::Refusal),
    #[error(transparent)]
    Document(crate::Error),
    #[error(transparent)]
    Backend(E),
}

impl ServerSync {
    /// Records a desk or system action in the case document, as this server's actor, after checking it
    /// against the workflow; the event is stamped after everything the case has seen. Devices receive it
    /// on their next sync. Returns the case as it now stands.
    pub fn record<B: SyncBackend>(
        &self,
        backend: &mut B,
        case: CaseId,
        mut event: TimelineEvent,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Case, ActionError<B::Error>> {
        let mut doc = backend
            .load(case)
            .map_err(ActionError::Backend)?
            .ok_or(ActionError::NoSuchCase(case))?;
        let before = doc.read().map_err(ActionError::Document)?;
        before.timeline.check(event.action, event.role)?;
        event.at = before.timeline.next_stamp(now);
        let heads = doc.heads();
        doc.append(&event, &[]).map_err(ActionError::Document)?;
        let changes = doc.changes_since(&heads);
        let after = doc.read().map_err(ActionError::Document)?;
        backend
            .save(&mut doc, &after, &changes)
            .map_err(ActionError::Backend)?;
        Ok(after)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PushStatus {
    New,
    Changed,
    Unchanged,
}

/// A device creates a case only as its own worker, on its own device, in its own cells, starting with
/// a report.
fn check_new_case(scope: &DeviceScope, case: &Case) -> Result<(), String> {
    if case.reporter != scope.worker_id || case.device != scope.device_id {
        return Err(format!(
            "the case names reporter {} on device {}, but this token is for {} on {} (上报人与令牌不符)",
            case.reporter, case.device, scope.worker_id, scope.device_id
        ));
    }
    if !scope.covers_cell(case.cell.as_deref()) {
        return Err(format!(
            "cell {} is not one of this worker's cells (不在本网格员负责的网格内)",
            case.cell.as_deref().unwrap_or("(none)")
        ));
    }
    let first = case.timeline.entries.first().map(|e| e.event.action);
    if first != Some(ActionKind::Report) {
        return Err("a new case must start with a report (新案件须以上报开始)".into());
    }
    check_worker_events(scope, case.timeline.entries.iter().map(|e| &e.event))
}

/// On an existing case a device may only append: the facts it was created with stay as they were, and
/// every new event is the worker's own.
fn check_appends(
    scope: &DeviceScope,
    doc: &CaseDoc,
    before: &Case,
    after: &Case,
) -> Result<(), String> {
    let reported = doc.reported().map_err(|e| e.to_string())?;
    if reported.id != before.id
        || reported.reporter != before.reporter
        || reported.device != before.device
        || reported.cell != before.cell
        || reported.location != before.location
        || reported.created_at != before.created_at
    {
        return Err("the case's reported facts may not be rewritten (不得修改案件原始信息)".into());
    }
    let known: HashSet<Uuid> = before.timeline.entries.iter().map(|e| e.event.id).collect();
    let added = after
        .timeline
        .entries
        .iter()
        .map(|e| &e.event)
        .filter(|e| !known.contains(&e.id));
    check_worker_events(scope, added)?;
    if after.timeline.entries.len() < before.timeline.entries.len()
        || after.photos.len() < before.photos.len()
    {
        return Err("timeline entries and photos may not be removed (不得删除记录)".into());
    }
    Ok(())
}

fn check_worker_events<'a>(
    scope: &DeviceScope,
    events: impl Iterator<Item = &'a TimelineEvent>,
) -> Result<(), String> {
    for e in events {
        if e.role != Role::GridWorker || e.actor != scope.worker_id {
            return Err(format!(
                "event {} ({}) is recorded as {} in role {}: a device may only record its own worker's actions (设备只能记录本网格员的操作)",
                e.id, e.action, e.actor, e.role
            ));
        }
        if e.device.as_deref() != Some(scope.device_id.as_str()) {
            return Err(format!(
                "event {} names another device (事件设备不符)",
                e.id
            ));
        }
    }
    Ok(())
}

pub fn decode_changes(raw: &[Vec<u8>]) -> Result<Vec<Change>, String> {
    raw.iter()
        .map(|b| Change::try_from(b.as_slice()).map_err(|e| format!("bad change: {e}")))
        .collect()
}

pub fn encode_changes(changes: Vec<Change>) -> Vec<Vec<u8>> {
    changes
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

pub fn heads_to_wire(heads: &[ChangeHash]) -> Vec<Head> {
    heads.iter().map(|h| h.0).collect()
}

pub fn heads_from_wire(heads: &[Head]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// Heads as one byte string (32 bytes each), for a database column.
pub fn pack_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// The inverse of [`pack_heads`]; a trailing partial hash is ignored.
pub fn unpack_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| ChangeHash::try_from(c).ok())
        .collect()
}
