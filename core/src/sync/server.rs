//! The server's side of sync, sans IO: it takes a decoded request from an authenticated device and a
//! storage backend, and returns the response plus what changed (so the server can route new cases into
//! the dispatch pool). The HTTP layer, the database and the transaction around a call are the caller's.
//!
//! Authorization lives here because it is a rule of the domain, not of a transport. Every change a
//! device sends is bounded before it is parsed ([`super::preflight`]), decoded outside the write lock
//! ([`ServerSync::prepare`]) and checked operation by operation against the write rules
//! ([`super::rules`]): a device may push only changes made by its own automerge actor, only to cases in
//! its scope, and only what a grid worker may record (report, evidence, edits before registration,
//! verification of its own tasks). Nothing a device sends can rewrite what a dispatcher or department
//! recorded. A refused case is answered as refused, with the reason, and the others go through.

use std::collections::HashSet;

use automerge::{ActorId, Change, ChangeHash, ExpandedChange};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::preflight::{PreflightError, preflight};
use super::rules::{
    CaseSoFar, Created, DeviceLimits, Lists, Refusal, RefusalKind, ServerFacts, check_device_event,
    check_device_photo, check_history_kept, check_reported, check_shape, check_unchanged, refuse,
    reserved_device_id,
};
use super::wire::{DocPull, DocPush, DocStatus, Head, SyncRequest, SyncResponse};
pub use crate::action::ActionError;
use crate::action::{self, Actor};
use crate::case::{Case, CaseId, PhotoRef};
use crate::doc::{CaseDoc, KeyedCase, actor_for};
use crate::timeline::TimelineEvent;
use crate::workflow::{self, ActionKind};

/// What an authenticated device may see and touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceScope {
    pub device_id: String,
    pub worker_id: String,
    /// Cell codes or code prefixes (a street, a community) the worker patrols.
    pub cells: Vec<String>,
    /// The cells the worker had before each reassignment, newest first: a report made offline in the
    /// old cells before the reassignment is still the worker's to send.
    pub former_cells: Vec<FormerCells>,
}

/// Cells a worker had until a reassignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormerCells {
    pub cells: Vec<String>,
    pub until: DateTime<Utc>,
}

fn covers_in(cells: &[String], cell: &str) -> bool {
    cells.iter().any(|p| cell.starts_with(p.as_str()))
}

impl DeviceScope {
    /// A scope with no history of reassignments.
    pub fn new(device_id: &str, worker_id: &str, cells: Vec<String>) -> Self {
        DeviceScope {
            device_id: device_id.to_owned(),
            worker_id: worker_id.to_owned(),
            cells,
            former_cells: Vec::new(),
        }
    }

    pub fn covers_cell(&self, cell: Option<&str>) -> bool {
        cell.is_some_and(|c| covers_in(&self.cells, c))
    }

    /// Whether the worker is responsible for `cell` now, or was at `at` (before a reassignment).
    pub fn covered_cell_at(&self, cell: &str, at: DateTime<Utc>) -> bool {
        covers_in(&self.cells, cell)
            || self
                .former_cells
                .iter()
                .any(|f| at <= f.until && covers_in(&f.cells, cell))
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

    /// The bytes of every change the case's document holds (0 for an unknown case), for its size limit.
    fn case_bytes(&mut self, case: CaseId) -> Result<u64, Self::Error>;

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

/// Why a sync request was refused as a whole (nothing of it was looked at). A single case's refusal is
/// not an error: it is that case's [`DocStatus`] in the response.
#[derive(Debug, thiserror::Error)]
pub enum SyncError<E: std::error::Error> {
    /// The request breaks a limit of its own (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Backend(E),
}

/// Server-side settings of the protocol.
#[derive(Debug, Clone)]
pub struct ServerSync {
    /// The server process's automerge actor (each process has its own).
    pub actor: ActorId,
    /// A response stops adding documents past this many change bytes, and says `more` (pulled
    /// documents) or defers the rest (pushed ones).
    pub max_response_bytes: usize,
    /// And past this many documents.
    pub max_response_docs: usize,
    /// What devices may send.
    pub limits: DeviceLimits,
}

impl ServerSync {
    pub fn new(actor: ActorId) -> Self {
        ServerSync {
            actor,
            max_response_bytes: 4 * 1024 * 1024,
            max_response_docs: 2_000,
            limits: DeviceLimits::default(),
        }
    }
}

/// A request decoded and checked as far as it can be without storage: done before the write lock is
/// taken, so that a hostile request costs the device's own time, not everyone's.
#[derive(Debug)]
pub struct Prepared {
    pub cursor: u64,
    pub docs: Vec<PreparedPush>,
}

#[derive(Debug)]
pub struct PreparedPush {
    pub case: Uuid,
    pub heads: Vec<ChangeHash>,
    /// The changes in the order the device made them, or why they were refused.
    pub changes: Result<Vec<Decoded>, Refusal>,
}

/// One change, parsed and with its operations decoded.
#[derive(Debug)]
pub struct Decoded {
    pub change: Change,
    pub ops: ExpandedChange,
}

/// What a sync call did, for the server to act on after it commits.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub response: SyncResponse,
    /// Cases the server saw for the first time (they enter the dispatch pool).
    pub new_cases: Vec<CaseId>,
    /// Existing cases that received new changes from the device.
    pub changed_cases: Vec<CaseId>,
    /// Cases refused, with why (for the audit log).
    pub refused: Vec<(CaseId, Refusal)>,
    /// Cases the system moved on by itself after the device's changes (a passed verification closes
    /// the case), in the same request: the device receives the closure in this response.
    pub followed_up: Vec<(CaseId, workflow::FollowUp)>,
}

impl ServerSync {
    /// Decodes and bounds every change of a request (see [`super::preflight`]). Pure CPU, no storage.
    pub fn prepare(
        &self,
        scope: &DeviceScope,
        request: &SyncRequest,
    ) -> Result<Prepared, SyncError<std::convert::Infallible>> {
        let limits = &self.limits;
        if request.docs.len() > limits.max_docs_per_request {
            return Err(SyncError::TooLarge(format!(
                "a sync request names {} cases, at most {} (单次同步案件过多)",
                request.docs.len(),
                limits.max_docs_per_request
            )));
        }
        let mut seen = HashSet::new();
        let docs = request
            .docs
            .iter()
            .map(|push| PreparedPush {
                case: push.case,
                heads: heads_from_wire(&push.heads),
                changes: if seen.insert(push.case) {
                    untrusted(|| self.decode_push(scope, push))
                } else {
                    refuse(
                        RefusalKind::Malformed,
                        "the case is named twice in one request (同一案件重复出现)",
                    )
                },
            })
            .collect();
        Ok(Prepared {
            cursor: request.cursor,
            docs,
        })
    }

    fn decode_push(&self, scope: &DeviceScope, push: &DocPush) -> Result<Vec<Decoded>, Refusal> {
        let limits = &self.limits;
        if push.heads.len() > limits.max_heads {
            return refuse(
                RefusalKind::Malformed,
                format!("more than {} heads (版本头过多)", limits.max_heads),
            );
        }
        if push.changes.len() > limits.max_changes_per_case {
            return refuse(
                RefusalKind::TooLarge,
                format!(
                    "{} changes for one case, at most {} per request (变更过多)",
                    push.changes.len(),
                    limits.max_changes_per_case
                ),
            );
        }
        if reserved_device_id(&scope.device_id) {
            return refuse(
                RefusalKind::NotAllowed,
                "this device id is reserved for the server (设备编号保留给服务器)",
            );
        }
        let device_actor = actor_for(&scope.device_id);
        let budget = limits.change_budget();
        let mut out = Vec::with_capacity(push.changes.len());
        let mut hashes = HashSet::new();
        for raw in &push.changes {
            preflight(raw, &budget).map_err(|e| Refusal {
                kind: match e {
                    PreflightError::TooLarge { .. } | PreflightError::TooManyOps { .. } => {
                        RefusalKind::TooLarge
                    }
                    _ => RefusalKind::Malformed,
                },
                reason: e.to_string(),
            })?;
            let change = Change::try_from(raw.as_slice()).map_err(|e| Refusal {
                kind: RefusalKind::Malformed,
                reason: format!("bad change: {e} (变更格式错误)"),
            })?;
            if change.actor_id() != &device_actor {
                return refuse(
                    RefusalKind::NotAllowed,
                    format!(
                        "change {} was made by actor {}, which is not bound to device {} (变更来源与设备不符)",
                        change.hash(),
                        change.actor_id(),
                        scope.device_id
                    ),
                );
            }
            if !hashes.insert(change.hash()) {
                continue;
            }
            let ops = change.decode();
            out.push(Decoded { change, ops });
        }
        // One actor's changes to one document are totally ordered by their sequence number.
        out.sort_by_key(|d| d.change.seq());
        Ok(out)
    }

    /// [`ServerSync::prepare`] then [`ServerSync::handle`], for callers with no lock to keep short (the
    /// in-memory backend of tests, simulations and benchmarks).
    pub fn serve<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        facts: &ServerFacts<'_>,
        request: &SyncRequest,
    ) -> Result<SyncOutcome, SyncError<B::Error>> {
        let prepared = self.prepare(scope, request).map_err(|e| match e {
            SyncError::TooLarge(m) => SyncError::TooLarge(m),
            SyncError::Backend(never) => match never {},
        })?;
        self.handle(backend, scope, facts, &prepared)
    }

    /// Handles one prepared request. Refused cases leave nothing behind and do not stop the others; on
    /// an error the caller must roll back whatever the backend wrote.
    pub fn handle<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        facts: &ServerFacts<'_>,
        request: &Prepared,
    ) -> Result<SyncOutcome, SyncError<B::Error>> {
        let mut out = SyncOutcome::default();
        out.response.server_ms = facts.now.timestamp_millis();
        let mut pushed = HashSet::new();
        let mut bytes = 0;
        for push in &request.docs {
            pushed.insert(push.case);
            if bytes > self.max_response_bytes || out.response.docs.len() >= self.max_response_docs
            {
                // The answer is full: the device sends this one again in its next request.
                out.response.docs.push(DocPull {
                    case: push.case,
                    status: DocStatus::Deferred,
                    heads: Vec::new(),
                    changes: Vec::new(),
                });
                continue;
            }
            let (pull, status, followed) = self
                .accept_push(backend, scope, facts, push)
                .map_err(SyncError::Backend)?;
            if let Some(action) = followed {
                out.followed_up.push((CaseId(push.case), action));
            }
            match status {
                PushStatus::New => out.new_cases.push(CaseId(push.case)),
                PushStatus::Changed(_) => out.changed_cases.push(CaseId(push.case)),
                PushStatus::Unchanged => {}
                PushStatus::Refused(r) => out.refused.push((CaseId(push.case), r)),
            }
            bytes += pull.changes.iter().map(Vec::len).sum::<usize>();
            out.response.docs.push(pull);
        }
        self.pull(
            backend,
            scope,
            request.cursor,
            &pushed,
            bytes,
            &mut out.response,
        )
        .map_err(SyncError::Backend)?;
        Ok(out)
    }

    fn accept_push<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        facts: &ServerFacts<'_>,
        push: &PreparedPush,
    ) -> Result<(DocPull, PushStatus, Option<workflow::FollowUp>), B::Error> {
        let case_id = CaseId(push.case);
        let refused = |r: Refusal| {
            let pull = DocPull {
                case: push.case,
                status: DocStatus::Refused {
                    code: r.kind.code().to_owned(),
                    reason: r.reason.clone(),
                },
                heads: Vec::new(),
                changes: Vec::new(),
            };
            (pull, PushStatus::Refused(r), None)
        };
        let changes = match &push.changes {
            Ok(c) => c,
            Err(r) => return Ok(refused(r.clone())),
        };
        let (mut doc, status) = match backend.load(case_id)? {
            Some(mut doc) => match self.merge_into(backend, scope, facts, &mut doc, changes)? {
                Ok(status) => (doc, status),
                Err(r) => return Ok(refused(r)),
            },
            None => match self.create(backend, scope, facts, push, changes)? {
                Ok(doc) => (doc, PushStatus::New),
                Err(r) => return Ok(refused(r)),
            },
        };
        let followed = match &status {
            PushStatus::Changed(case) => self.follow_up(backend, &mut doc, case, facts.now)?,
            _ => None,
        };
        backend.set_device_heads(&scope.device_id, case_id, &push.heads)?;
        let pull = DocPull {
            case: push.case,
            status: DocStatus::Accepted,
            heads: heads_to_wire(&doc.heads()),
            changes: encode_changes(doc.changes_since(&push.heads)),
        };
        Ok((pull, status, followed))
    }

    /// What the system does by itself once a case reaches a stage ([`workflow::follow_up`]), recorded
    /// in the same transaction as the changes that got it there. Returns the action recorded, if any;
    /// a follow-up the timeline does not allow (a clock anomaly) is left for the server's sweep.
    /// `case` is what `doc` reads as.
    pub fn follow_up<B: SyncBackend>(
        &self,
        backend: &mut B,
        doc: &mut CaseDoc,
        case: &Case,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<workflow::FollowUp>, B::Error> {
        let Some(follow) = case.timeline.stage.and_then(workflow::follow_up) else {
            return Ok(None);
        };
        // On a fork: a follow-up that is not recorded leaves the document as the device's changes left it.
        let mut trial = doc.fork(self.actor.clone());
        let recorded = self.record_on(
            backend,
            &mut trial,
            case,
            follow.kind,
            Actor::SYSTEM,
            now,
            |event| {
                event.note = Some(follow.note.into());
                Ok::<_, B::Error>(())
            },
        );
        match recorded {
            Ok(_) => {
                *doc = trial;
                Ok(Some(follow))
            }
            Err(ActionError::Backend(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// A device's changes to a case the server has: checked, merged, saved; or refused with nothing
    /// kept.
    fn merge_into<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        facts: &ServerFacts<'_>,
        doc: &mut CaseDoc,
        changes: &[Decoded],
    ) -> Result<Result<PushStatus, Refusal>, B::Error> {
        let case_id = match doc.reported() {
            Ok(r) => r.id,
            Err(e) => {
                return Ok(refuse(
                    RefusalKind::Malformed,
                    format!("the stored case does not read: {e}"),
                ));
            }
        };
        let before = match doc.read() {
            Ok(c) => c,
            Err(e) => {
                return Ok(refuse(
                    RefusalKind::Malformed,
                    format!("the stored case does not read: {e}"),
                ));
            }
        };
        if !scope.covers(&before) {
            return Ok(refuse(
                RefusalKind::OutOfScope,
                "the case is outside this device's cells and tasks (案件不在本设备的网格或任务范围内)",
            ));
        }
        let fresh: Vec<&Decoded> = changes
            .iter()
            .filter(|d| !doc.has_change(&d.change.hash()))
            .collect();
        if fresh.is_empty() {
            return Ok(Ok(PushStatus::Unchanged));
        }
        let adding: u64 = fresh
            .iter()
            .map(|d| d.change.raw_bytes().len() as u64)
            .sum();
        let held = backend.case_bytes(case_id)?;
        if held + adding > self.limits.max_case_bytes {
            return Ok(refuse(
                RefusalKind::TooLarge,
                format!(
                    "the case would hold {} bytes, more than the limit of {} (案件数据过大)",
                    held + adding,
                    self.limits.max_case_bytes
                ),
            ));
        }
        let checked = untrusted(|| {
            let lists = Lists::of(doc)?;
            let mut created = Created::default();
            for d in &fresh {
                check_shape(&d.ops, &lists, false, &mut created)?;
            }
            let original = doc.fork(self.actor.clone());
            let new: Vec<Change> = fresh.iter().map(|d| d.change.clone()).collect();
            apply(doc, new)?;
            let keyed = doc.read_keyed().map_err(|e| Refusal {
                kind: RefusalKind::Tampered,
                reason: e.to_string(),
            })?;
            check_new_items(scope, facts, &self.limits, Some(&before), &keyed, &created)?;
            check_unchanged(&original, doc)?;
            Ok(keyed.case)
        });
        let after = match checked {
            Ok(after) => after,
            Err(r) => return Ok(Err(r)),
        };
        if let Err(r) = check_history_kept(&before, &after) {
            return Ok(Err(r));
        }
        let new: Vec<Change> = fresh.iter().map(|d| d.change.clone()).collect();
        backend.save(doc, &after, &new)?;
        Ok(Ok(PushStatus::Changed(Box::new(after))))
    }

    /// A case the server has not seen: its first change creates it, as the device's own report.
    fn create<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        facts: &ServerFacts<'_>,
        push: &PreparedPush,
        changes: &[Decoded],
    ) -> Result<Result<CaseDoc, Refusal>, B::Error> {
        let built = untrusted(|| {
            let Some((first, rest)) = changes.split_first() else {
                return refuse(
                    RefusalKind::OutOfScope,
                    "no such case on the server, and no changes to create it (服务器无此案件)",
                );
            };
            if first.change.seq() != 1 || !first.change.deps().is_empty() {
                return refuse(
                    RefusalKind::Malformed,
                    "the changes that create the case were not sent (缺少创建案件的变更)",
                );
            }
            if rest.iter().any(|d| d.change.deps().is_empty()) {
                return refuse(
                    RefusalKind::Tampered,
                    "a second change claims to create the case (重复创建案件)",
                );
            }
            let bytes: u64 = changes
                .iter()
                .map(|d| d.change.raw_bytes().len() as u64)
                .sum();
            if bytes > self.limits.max_case_bytes {
                return refuse(
                    RefusalKind::TooLarge,
                    format!(
                        "the case would hold {bytes} bytes, more than the limit of {} (案件数据过大)",
                        self.limits.max_case_bytes
                    ),
                );
            }
            let mut created = Created::default();
            check_shape(&first.ops, &Lists::default(), true, &mut created)?;
            let mut doc = CaseDoc::from_changes(self.actor.clone(), vec![first.change.clone()])
                .map_err(malformed)?;
            let lists = Lists::of(&doc)?;
            for d in rest {
                check_shape(&d.ops, &lists, false, &mut created)?;
            }
            apply(&mut doc, rest.iter().map(|d| d.change.clone()).collect())?;
            let keyed = doc.read_keyed().map_err(malformed)?;
            check_reported(scope, facts, &self.limits, push.case, &keyed.reported)?;
            let reports = check_new_items(scope, facts, &self.limits, None, &keyed, &created)?;
            if reports != 1 || created.events() == 0 {
                return refuse(
                    RefusalKind::Tampered,
                    "a new case holds exactly one report (新案件须有且仅有一次上报)",
                );
            }
            Ok((doc, keyed.case))
        });
        let (mut doc, case) = match built {
            Ok(built) => built,
            Err(r) => return Ok(Err(r)),
        };
        if case.stage() != Some(crate::workflow::Stage::Reported) {
            return Ok(refuse(
                RefusalKind::Tampered,
                "a new case must start with a report (新案件须以上报开始)",
            ));
        }
        let all: Vec<Change> = changes.iter().map(|d| d.change.clone()).collect();
        backend.save(&mut doc, &case, &all)?;
        Ok(Ok(doc))
    }

    fn pull<B: SyncBackend>(
        &self,
        backend: &mut B,
        scope: &DeviceScope,
        cursor: u64,
        pushed: &HashSet<Uuid>,
        mut bytes: usize,
        response: &mut SyncResponse,
    ) -> Result<(), B::Error> {
        let latest = backend.latest_cursor()?;
        let changed = backend.changed_since(scope, cursor, self.max_response_docs + 1)?;
        response.cursor = latest;
        for (i, (_, case)) in changed.iter().enumerate() {
            if i == self.max_response_docs
                || bytes > self.max_response_bytes
                || response.docs.len() >= self.max_response_docs
            {
                // Stop before this entry; the device continues from the previous one.
                response.more = true;
                response.cursor = if i == 0 { cursor } else { changed[i - 1].0 };
                break;
            }
            if pushed.contains(&case.0) {
                continue;
            }
            let Some(mut doc) = backend.load(*case)? else {
                continue;
            };
            let have = backend.device_heads(&scope.device_id, *case)?;
            let changes = doc.changes_since(&have);
            if changes.is_empty() {
                continue;
            }
            let changes = encode_changes(changes);
            bytes += changes.iter().map(Vec::len).sum::<usize>();
            response.docs.push(DocPull {
                case: case.0,
                status: DocStatus::Accepted,
                heads: heads_to_wire(&doc.heads()),
                changes,
            });
        }
        Ok(())
    }
}

/// Runs automerge over a device's bytes. Automerge can panic on change bytes that decode but do not
/// apply (found by the `change_validator` fuzz target: one byte of a real change set to 0, checksum
/// repaired, panics in `apply_changes`). A panic there must refuse that case, not fail the request or
/// the server thread: the document it touched is a fork that is dropped with the refusal.
fn untrusted<T>(f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        refuse(
            RefusalKind::Malformed,
            "changes that automerge cannot apply (变更无法应用)",
        )
    })
}

fn malformed(e: crate::Error) -> Refusal {
    Refusal {
        kind: RefusalKind::Malformed,
        reason: format!("{e} (变更格式错误)"),
    }
}

/// Applies changes that passed the shape rules; they must be complete.
fn apply(doc: &mut CaseDoc, changes: Vec<Change>) -> Result<(), Refusal> {
    let base = doc.heads();
    let sent: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    doc.apply_changes(changes).map_err(malformed)?;
    if !doc.missing_deps().is_empty() {
        return refuse(
            RefusalKind::Malformed,
            "changes depend on changes that were not sent (缺少依赖的变更)",
        );
    }
    // What automerge now holds must give back exactly the changes sent. Bytes that decode but that
    // automerge stores as something else (found by the fuzz target) would make the stored document
    // disagree with the stored changes, and every later reader of the case fail.
    let held: HashSet<ChangeHash> = doc.changes_since(&base).iter().map(Change::hash).collect();
    if held != sent {
        return refuse(
            RefusalKind::Malformed,
            "changes that do not read back as sent (变更无法按原样保存)",
        );
    }
    Ok(())
}

/// Checks the events and photos the changes created. Returns how many reports they hold.
fn check_new_items(
    scope: &DeviceScope,
    facts: &ServerFacts<'_>,
    limits: &DeviceLimits,
    before: Option<&Case>,
    after: &KeyedCase,
    created: &Created,
) -> Result<usize, Refusal> {
    let KeyedCase {
        events,
        photos,
        reported,
        ..
    } = after;
    let all_photos: Vec<PhotoRef> = photos.iter().map(|(_, p)| p.clone()).collect();
    for (_, p) in photos.iter().filter(|(k, _)| created.is_photo(k)) {
        check_device_photo(scope, facts, limits, p)?;
    }
    let mut ids: HashSet<Uuid> = events
        .iter()
        .filter(|(k, _)| !created.is_event(k))
        .map(|(_, e)| e.id)
        .collect();
    let mut reports = 0;
    for (_, e) in events.iter().filter(|(k, _)| created.is_event(k)) {
        let case = CaseSoFar {
            before,
            reporter_device: &reported.device,
            photos: &all_photos,
        };
        check_device_event(scope, facts, limits, &case, e, &mut ids)?;
        reports += usize::from(e.action == ActionKind::Report);
    }
    Ok(reports)
}

impl ServerSync {
    /// Records a desk or system action in the case document, as this server's actor, through the
    /// action kernel ([`crate::action::record`]): checked against the workflow, stamped after
    /// everything the case has seen, completed by `fill` knowing its stamp, saved. Devices receive it
    /// on their next sync. Returns the case as it now stands.
    pub fn record<B, E>(
        &self,
        backend: &mut B,
        case: CaseId,
        action: ActionKind,
        actor: Actor<'_>,
        now: chrono::DateTime<chrono::Utc>,
        fill: impl FnOnce(&mut TimelineEvent) -> Result<(), E>,
    ) -> Result<Case, ActionError<E>>
    where
        B: SyncBackend,
        E: std::error::Error + From<B::Error>,
    {
        let mut doc = backend
            .load(case)
            .map_err(|e| ActionError::Backend(e.into()))?
            .ok_or(ActionError::NoSuchCase(case))?;
        let before = doc.read().map_err(ActionError::Document)?;
        self.record_on(backend, &mut doc, &before, action, actor, now, fill)
    }

    /// [`ServerSync::record`] on a document already loaded (`before` is what it reads as). On an
    /// error the document may hold the refused event: the caller discards it.
    #[allow(clippy::too_many_arguments)]
    fn record_on<B, E>(
        &self,
        backend: &mut B,
        doc: &mut CaseDoc,
        before: &Case,
        action: ActionKind,
        actor: Actor<'_>,
        now: chrono::DateTime<chrono::Utc>,
        fill: impl FnOnce(&mut TimelineEvent) -> Result<(), E>,
    ) -> Result<Case, ActionError<E>>
    where
        B: SyncBackend,
        E: std::error::Error + From<B::Error>,
    {
        let recorded = action::record(doc, before, action, actor, now, |event| {
            fill(event).map(|()| Some(Vec::new()))
        })?
        .expect("a fill that never declines records");
        let changes = doc.changes_since(&recorded.heads_before);
        backend
            .save(doc, &recorded.case, &changes)
            .map_err(|e| ActionError::Backend(e.into()))?;
        Ok(recorded.case)
    }
}

#[derive(Debug, Clone)]
enum PushStatus {
    New,
    /// With the case as the merge left it (read once, for the rules and the follow-ups).
    Changed(Box<Case>),
    Unchanged,
    Refused(Refusal),
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
