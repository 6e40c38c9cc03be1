//! A rooted PDA attacks the real server. Every test starts the real binary on a real SQLite file, sets
//! up real cases (a real PDA reports, desks register and dispatch), then crafts the malicious change with
//! the `automerge` crate itself, writing as the device's own automerge actor (a rooted PDA has its key),
//! and posts it to `POST /sync/v1` with the device's token.
//!
//! What must hold after every attack: the answer is a 4xx, or a 200 whose status for the attacked case
//! is `Refused` with the expected code and a reason; the case on the server reads back exactly as before
//! (the desk's view: timeline, stage, details, department, deadline, photos); the refusal is in the audit
//! log as `sync_refused`; and an honest report in the same request is accepted (one refused case never
//! blocks the others).
//!
//! Layout: helpers (the world, crafting changes, pushing them, checking a refusal), then one section per
//! attack.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType, SortedVec};
use automerge::transaction::Transactable;
use automerge::{Change, ChangeHash, ExpandedChange, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use chrono::Utc;
use common::{Http, Pda, Server, Tokens, admin_ok, cell_center, seed};
use gridpatrol_core::case::{CaseDetails, CaseEdit, CaseId, Location};
use gridpatrol_core::catalog::CategoryKey;
use gridpatrol_core::doc::{CaseDoc, NewCase, actor_for};
use gridpatrol_core::sync::server::encode_changes;
use gridpatrol_core::sync::{DocPush, DocStatus, SyncRequest, SyncResponse};
use gridpatrol_core::timeline::{Hlc, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role};
use serde_json::{Value, json};
use sha2::Digest;

// === The world: a seeded server, three workers ================================================

/// Street 110102001 (w-001 and w-003 patrol it) and street 110102002 (w-002).
const CELL1: &str = "110102001001001";
const CELL1B: &str = "110102001001002";
const CELL2: &str = "110102002001001";

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    tokens: Tokens,
    /// w-003, a second worker of street 110102001.
    device3: String,
    server: Server,
    http: Http,
}

fn world(extra: &[&str]) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    admin_ok(
        &dir,
        &[
            "worker",
            "add",
            "--id",
            "w-003",
            "--name",
            "王五",
            "--cells",
            "110102001",
        ],
    );
    let device3 = admin_ok(&dir, &["device", "add", "--worker", "w-003"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start_with(&dir, extra);
    let http = server.http();
    World {
        _tmp: tmp,
        dir,
        tokens,
        device3,
        server,
        http,
    }
}

fn device_id(pda: &Pda) -> String {
    pda.store.identity().device_id.clone()
}

fn worker_id(pda: &Pda) -> String {
    pda.store.identity().worker_id.clone()
}

/// A cell the PDA's worker patrols, for honest reports.
fn home_cell(pda: &Pda) -> &'static str {
    if worker_id(pda) == "w-002" {
        CELL2
    } else {
        CELL1B
    }
}

/// An honest report, synced.
fn reported(pda: &mut Pda, cell: &str) -> CaseId {
    let id = pda.report("06010", cell, "路边暴露垃圾");
    pda.sync();
    id
}

/// Desk actions that must all succeed.
fn act_all(w: &World, case: CaseId, steps: &[(&str, &str)]) {
    for (token, action) in steps {
        let (status, body) = w.http.act(token, case, json!({"action": action}));
        assert_eq!(status, 200, "{action}: {body}");
    }
}

/// Reported by `pda`, registered and dispatched (to sanitation, by the route).
fn dispatched(w: &World, pda: &mut Pda) -> CaseId {
    let id = reported(pda, CELL1);
    let d = w.tokens.dispatcher.as_str();
    act_all(w, id, &[(d, "register"), (d, "dispatch")]);
    id
}

/// Dispatched, handled, and sent to its reporter (w-001) for verification.
fn awaiting_verification(w: &World, pda: &mut Pda) -> CaseId {
    let id = dispatched(w, pda);
    let (d, s) = (w.tokens.dispatcher.as_str(), w.tokens.sanitation.as_str());
    act_all(
        w,
        id,
        &[
            (s, "accept"),
            (s, "handle"),
            (s, "feedback"),
            (d, "request_verification"),
        ],
    );
    id
}

/// The case as a dispatcher sees it, minus what moves with the wall clock; `None` when unknown.
fn view(w: &World, case: CaseId) -> Option<Value> {
    let (status, mut body) = w.http.case(&w.tokens.dispatcher, case);
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "{body}");
    let map = body.as_object_mut().unwrap();
    map.remove("deadline_state");
    map.remove("escalated");
    Some(body)
}

fn stage(w: &World, case: CaseId) -> String {
    view(w, case).expect("the case")["stage"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `sync_refused` entries of the audit log for a case: their reasons.
fn refusals_logged(w: &World, case: CaseId) -> Vec<String> {
    let (status, log) = w.http.get(
        &format!("/api/v1/audit?case={case}&limit=1000"),
        Some(&w.tokens.supervisor),
    );
    assert_eq!(status, 200, "{log}");
    log.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sync_refused")
        .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

// === Crafting: the rooted PDA's tools ========================================================

/// Posts raw bytes to the sync endpoint.
fn post_sync(http: &Http, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    http.post_bytes("/sync/v1", Some(token), body)
        .expect("the server answers")
}

fn sync_ok(http: &Http, token: &str, request: &SyncRequest) -> SyncResponse {
    let (status, bytes) = post_sync(http, token, &request.encode());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    SyncResponse::decode(&bytes).expect("a sync response")
}

/// Every change of a case as the server holds it (what a device in scope can always get: it names the
/// case with no heads and is sent everything).
fn server_changes(http: &Http, token: &str, case: CaseId) -> Vec<Change> {
    let request = SyncRequest {
        cursor: u64::MAX,
        docs: vec![DocPush {
            case: case.0,
            heads: vec![],
            changes: vec![],
        }],
    };
    let response = sync_ok(http, token, &request);
    let pull = response
        .docs
        .iter()
        .find(|d| d.case == case.0)
        .expect("the case in the answer");
    assert_eq!(pull.status, DocStatus::Accepted);
    pull.changes
        .iter()
        .map(|b| Change::try_from(b.as_slice()).unwrap())
        .collect()
}

fn change_set(http: &Http, token: &str, case: CaseId) -> BTreeSet<ChangeHash> {
    server_changes(http, token, case)
        .iter()
        .map(Change::hash)
        .collect()
}

/// A rooted copy of a case: the server's document, writing as the PDA's own automerge actor.
fn rooted(pda: &Pda, case: CaseId) -> CaseDoc {
    CaseDoc::from_changes(
        actor_for(&device_id(pda)),
        server_changes(&pda.http, &pda.token, case),
    )
    .unwrap()
}

/// The bytes of the changes made on `doc` since `heads`.
fn since(doc: &mut CaseDoc, heads: &[ChangeHash]) -> Vec<Vec<u8>> {
    encode_changes(doc.changes_since(heads))
}

/// Commits whatever was done on the raw document and returns the new change's bytes.
fn commit(doc: &mut CaseDoc, heads: &[ChangeHash]) -> Vec<Vec<u8>> {
    doc.automerge().commit();
    since(doc, heads)
}

/// An event as the PDA's own worker, on the PDA.
fn device_event(pda: &Pda, action: ActionKind, at: Hlc) -> TimelineEvent {
    let mut e = TimelineEvent::new(action, &worker_id(pda), Role::GridWorker, at);
    e.device = Some(device_id(pda));
    e
}

/// The stamp an honest replica would give an event now.
fn next_stamp(doc: &CaseDoc) -> Hlc {
    doc.read().unwrap().timeline.next_stamp(Utc::now())
}

/// The stored event of a case with `action` (the first one).
fn event_of(doc: &CaseDoc, action: ActionKind) -> TimelineEvent {
    doc.events()
        .unwrap()
        .into_iter()
        .find(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action} event"))
}

/// The map holding the first event with `action`.
fn event_obj(doc: &mut CaseDoc, action: &str) -> ObjId {
    let am = doc.automerge();
    let (_, list) = am.get(ROOT, "timeline").unwrap().unwrap();
    for i in 0..am.length(&list) {
        let (_, m) = am.get(&list, i).unwrap().unwrap();
        if let Some((v, _)) = am.get(&m, "action").unwrap()
            && matches!(v, automerge::Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Str(x) if x.as_str() == action))
        {
            return m;
        }
    }
    panic!("no {action} event")
}

fn root_obj(doc: &mut CaseDoc, key: &str) -> ObjId {
    doc.automerge().get(ROOT, key).unwrap().unwrap().1
}

/// Rewrites one change at the operation level (what the automerge API will not produce: a write with
/// no predecessor, an operation of an unusual kind) and returns its bytes.
fn reencode(change: &[u8], edit: impl FnOnce(&mut ExpandedChange)) -> Vec<u8> {
    let change = Change::try_from(change).unwrap();
    let mut x = ExpandedChange::from(&change);
    x.hash = None;
    edit(&mut x);
    Change::from(x).raw_bytes().to_vec()
}

/// A new case as `pda` would report it in `cell`, with its report event.
fn new_case(pda: &Pda, cell: &str) -> (NewCase, TimelineEvent) {
    let (lat, lon) = cell_center(cell);
    let now = Utc::now();
    let case = NewCase {
        id: CaseId::generate(),
        reporter: worker_id(pda),
        device: device_id(pda),
        cell: Some(cell.to_owned()),
        location: Location {
            lat,
            lon,
            accuracy_m: Some(5.0),
            fix_time: None,
        },
        details: CaseDetails {
            category: CategoryKey::current("06010"),
            address: "测试地址".into(),
            description: "伪造的上报".into(),
        },
        created_at: now,
    };
    let report = device_event(
        pda,
        ActionKind::Report,
        Hlc::tick(None, now.timestamp_millis()),
    );
    (case, report)
}

/// The document of a new case, written by `pda`'s actor.
fn create(pda: &Pda, case: &NewCase, report: &TimelineEvent) -> CaseDoc {
    CaseDoc::create(actor_for(&device_id(pda)), case, report, &[]).unwrap()
}

fn push_of(case: CaseId, changes: Vec<Vec<u8>>) -> DocPush {
    DocPush {
        case: case.0,
        heads: vec![],
        changes,
    }
}

// === The check every refusal goes through ====================================================

/// Pushes `hostile` together with an honest new report of the same PDA, in one request, and checks:
/// the hostile entry is refused with `code` and a reason; the honest report is accepted and stored; the
/// server's copy of the attacked case (the desk's view, and its change set when the PDA may read it)
/// is what it was; one more `sync_refused` is in the audit log. Returns the reason.
fn expect_refused(w: &World, pda: &mut Pda, hostile: DocPush, code: &str) -> String {
    let case = CaseId(hostile.case);
    let before = view(w, case);
    let readable = before.as_ref().is_some_and(|v| {
        let cell = v["cell"].as_str().unwrap_or_default();
        cell.starts_with(&home_cell(pda)[..9]) || v["device"] == device_id(pda).as_str()
    });
    let changes_before = readable.then(|| change_set(&w.http, &pda.token, case));
    let logged = refusals_logged(w, case).len();

    let honest = pda.report("06010", home_cell(pda), "同一批次的正常上报");
    let mut request = pda.store.sync_request(4 * 1024 * 1024).unwrap();
    request.docs.retain(|d| d.case != hostile.case);
    assert!(request.docs.iter().any(|d| d.case == honest.0));
    request.docs.insert(0, hostile);
    let (status, bytes) = post_sync(&w.http, &pda.token, &request.encode());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let mut response = SyncResponse::decode(&bytes).unwrap();

    let reason = match &response.docs[0].status {
        DocStatus::Refused { code: c, reason } => {
            assert_eq!(c, code, "refused for another reason: {reason}");
            assert!(!reason.trim().is_empty());
            reason.clone()
        }
        other => panic!("the hostile push was not refused: {other:?}"),
    };
    assert_eq!(response.docs[0].case, case.0);
    assert!(response.docs[0].changes.is_empty());
    let mine = response.docs.iter().find(|d| d.case == honest.0).unwrap();
    assert_eq!(mine.status, DocStatus::Accepted, "the honest report");
    // The PDA applies the rest of the answer as it would.
    response.docs.remove(0);
    pda.store.apply_sync_response(&response).unwrap();
    assert_eq!(stage(w, honest), "reported");

    assert_eq!(view(w, case), before, "the attacked case changed");
    if let Some(changes) = changes_before {
        assert_eq!(change_set(&w.http, &pda.token, case), changes);
    }
    let log = refusals_logged(w, case);
    assert_eq!(log.len(), logged + 1, "{log:?}");
    assert!(
        log.iter().any(|r| r.starts_with(&format!("{code}: "))),
        "{log:?}"
    );
    reason
}

/// The reason must name the rule that fired, so a test cannot pass on another refusal.
fn says(reason: &str, fragment: &str) {
    assert!(reason.contains(fragment), "{fragment:?} not in {reason:?}");
}

// === 1. Editing an existing event in place ===================================================
// The dispatcher's dispatch event decides the department and the deadline; a worker who moves them
// (or turns the dispatch into a special close) rewrites the command centre's decision.

#[test]
fn recorded_events_cannot_be_edited_in_place() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = dispatched(&w, &mut pda);
    let before = view(&w, case).unwrap();
    assert_eq!(before["timeline"]["department"], common::SANITATION);

    // An overwrite through the automerge API: the operations name the value they replace.
    for (field, value) in [
        ("department", ScalarValue::from("街道办")),
        (
            "deadline_ms",
            ScalarValue::Int((Utc::now() + chrono::Duration::days(80)).timestamp_millis()),
        ),
        ("action", ScalarValue::from("special_close")),
    ] {
        let mut doc = rooted(&pda, case);
        let heads = doc.heads();
        let ev = event_obj(&mut doc, "dispatch");
        doc.automerge().put(&ev, field, value).unwrap();
        let changes = commit(&mut doc, &heads);
        let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
        says(&reason, "overwrites");
    }

    // The same write with its predecessor removed: a concurrent write that would win the conflict.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let ev = event_obj(&mut doc, "dispatch");
    doc.automerge().put(&ev, "department", "街道办").unwrap();
    let changes = commit(&mut doc, &heads);
    let no_pred = reencode(&changes[0], |x| x.operations[0].pred = SortedVec::new());
    let reason = expect_refused(&w, &mut pda, push_of(case, vec![no_pred]), "tampered");
    says(&reason, "did not create");

    // A whole new value object under an existing event (a second `edit` map on the dispatch).
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let ev = event_obj(&mut doc, "dispatch");
    let em = doc
        .automerge()
        .put_object(&ev, "edit", ObjType::Map)
        .unwrap();
    doc.automerge().put(&em, "code", "01001").unwrap();
    let changes = commit(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");

    assert_eq!(stage(&w, case), "dispatched");
}

// === 2. New events reusing a known event id ===================================================
// Replay keeps one event per id: an event that reuses the dispatcher's id could take its place. And a
// worker's device forging the desks' chain (register … request_verification) to verify its own report.

#[test]
fn forged_events_and_reused_ids_are_refused() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = dispatched(&w, &mut pda);

    // Evidence carrying the dispatch event's id.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let dispatch = event_of(&doc, ActionKind::Dispatch);
    let mut e = device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc));
    e.id = dispatch.id;
    doc.append(&e, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    says(&reason, "already in the case");

    // A verify_pass carrying the register event's id, in a case nobody asked it to verify.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let register = event_of(&doc, ActionKind::Register);
    let mut e = device_event(&pda, ActionKind::VerifyPass, next_stamp(&doc));
    e.id = register.id;
    doc.append(&e, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");

    // The desks' chain forged in the desks' names, then the worker's verify_pass, in one change.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let mut at = next_stamp(&doc);
    for (action, role, actor) in [
        (ActionKind::Accept, Role::Department, "dept-sanitation"),
        (ActionKind::Handle, Role::Department, "dept-sanitation"),
        (ActionKind::Feedback, Role::Department, "dept-sanitation"),
        (ActionKind::RequestVerification, Role::Dispatcher, "d-01"),
    ] {
        let mut e = TimelineEvent::new(action, actor, role, at);
        e.assignee = (action == ActionKind::RequestVerification).then(|| "w-001".into());
        doc.append(&e, &[]).unwrap();
        at = Hlc::tick(Some(at), 0);
    }
    doc.append(&device_event(&pda, ActionKind::VerifyPass, at), &[])
        .unwrap();
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "not_allowed");
    says(&reason, "own worker");

    // The same chain in the worker's own name and role.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let mut at = next_stamp(&doc);
    for action in [ActionKind::Accept, ActionKind::RequestVerification] {
        let mut e = device_event(&pda, action, at);
        e.assignee = (action == ActionKind::RequestVerification).then(|| "w-001".into());
        doc.append(&e, &[]).unwrap();
        at = Hlc::tick(Some(at), 0);
    }
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "not_allowed");
    says(&reason, "may not record");

    // Two new events sharing one fresh id.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let a = device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc));
    let b = TimelineEvent {
        at: Hlc::tick(Some(a.at), 0),
        ..a.clone()
    };
    doc.append(&a, &[]).unwrap();
    doc.append(&b, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");

    assert_eq!(stage(&w, case), "dispatched");
}

// === 3. Deleting the dispatcher's register event ==============================================
// With the register event gone, the case would be back at `reported` (and the worker's own event
// appended after it would read as the history).

#[test]
fn events_cannot_be_deleted() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = dispatched(&w, &mut pda);

    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let timeline = root_obj(&mut doc, "timeline");
    let index = doc
        .events()
        .unwrap()
        .iter()
        .position(|e| e.action == ActionKind::Register)
        .unwrap();
    doc.automerge().delete(&timeline, index).unwrap();
    doc.automerge().commit();
    let e = device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc));
    doc.append(&e, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    assert_eq!(changes.len(), 2);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    says(&reason, "delete");

    // The delete on its own, and with its predecessor stripped (a delete of nothing in particular).
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let timeline = root_obj(&mut doc, "timeline");
    doc.automerge().delete(&timeline, index).unwrap();
    let changes = commit(&mut doc, &heads);
    let stripped = reencode(&changes[0], |x| x.operations[0].pred = SortedVec::new());
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    let reason = expect_refused(&w, &mut pda, push_of(case, vec![stripped]), "tampered");
    says(&reason, "deletes");
    assert_eq!(stage(&w, case), "dispatched");
}

// === 4. Rewriting the case's details after registration =======================================
// The dispatcher registered and routed what was reported. Rewriting the category or description
// afterwards, directly or by a correction event, would change the case behind the desk's back.

#[test]
fn details_cannot_be_rewritten_after_registration() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = dispatched(&w, &mut pda);

    // Overwriting the details map and the root.
    for key in ["code", "description"] {
        let mut doc = rooted(&pda, case);
        let heads = doc.heads();
        let details = root_obj(&mut doc, "details");
        doc.automerge().put(&details, key, "01001").unwrap();
        let changes = commit(&mut doc, &heads);
        expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    }
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    doc.automerge().put(ROOT, "cell", CELL1B).unwrap();
    let changes = commit(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    says(&reason, "overwrites");

    // A correction event after registration, stamped now (it would replay flagged) and backdated to
    // between the report and the registration (it would replay valid and change the details).
    let doc = rooted(&pda, case);
    let report = event_of(&doc, ActionKind::Report);
    let edit = CaseEdit {
        category: Some(CategoryKey::current("01001")),
        description: Some("改写后的描述".into()),
        ..CaseEdit::default()
    };
    for at in [next_stamp(&doc), Hlc::tick(Some(report.at), 0)] {
        let mut doc = rooted(&pda, case);
        let heads = doc.heads();
        let mut e = device_event(&pda, ActionKind::Edit, at);
        e.edit = Some(edit.clone());
        doc.append(&e, &[]).unwrap();
        let changes = since(&mut doc, &heads);
        let reason = expect_refused(&w, &mut pda, push_of(case, changes), "not_allowed");
        says(&reason, "registered");
    }
    let view = view(&w, case).unwrap();
    assert_eq!(view["details"]["description"], "路边暴露垃圾");
    assert_eq!(view["details"]["category"]["code"], "06010");

    // Before registration, the reporting device's correction is still taken.
    let early = reported(&mut pda, CELL1);
    pda.store
        .edit(
            early,
            CaseEdit {
                description: Some("更正".into()),
                ..CaseEdit::default()
            },
        )
        .unwrap();
    pda.sync();
    assert_eq!(
        self::view(&w, early).unwrap()["details"]["description"],
        "更正"
    );
}

// === 5. A batch entry labelled case X carrying case Y's document ==============================
// The label decides which case the changes are merged into: Y's document must not land in X (nor a
// new case be created under a label that is not its id), and Y stays as it is.

#[test]
fn a_document_under_another_case_label_is_refused() {
    let w = world(&[]);
    let mut pda1 = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let mut pda2 = Pda::enroll(&w.http, &w.tokens.device2, "w-002");
    let x = dispatched(&w, &mut pda1);
    let y = reported(&mut pda1, CELL1B);
    let y_view = view(&w, y).unwrap();
    let y_changes = encode_changes(server_changes(&w.http, &w.tokens.device1, y));

    // Y's changes labelled X (a case the server has).
    let reason = expect_refused(&w, &mut pda1, push_of(x, y_changes.clone()), "tampered");
    says(&reason, "reported facts");
    // Y's changes under a label the server does not know.
    let z = CaseId::generate();
    let reason = expect_refused(&w, &mut pda1, push_of(z, y_changes), "tampered");
    says(&reason, "names case");
    assert!(view(&w, z).is_none());

    // A new, unsynced case of the other street, labelled as case X of street 1.
    let (case, report) = new_case(&pda2, CELL2);
    let mut doc = create(&pda2, &case, &report);
    let changes = since(&mut doc, &[]);
    expect_refused(&w, &mut pda2, push_of(x, changes.clone()), "out_of_scope");
    // And labelled as the street's own case Y2.
    let y2 = reported(&mut pda2, CELL2);
    expect_refused(&w, &mut pda2, push_of(y2, changes), "tampered");

    assert_eq!(view(&w, y).unwrap(), y_view);
    assert!(view(&w, case.id).is_none());
    assert_eq!(stage(&w, x), "dispatched");
}

// === 6. Compressed changes, decompression bombs, and the largest plain request ================
// A compressed change inflates before automerge can count what is in it: a 32 KiB chunk can become
// 32 MiB, and a 16 MiB request of them 16 GiB. They are refused from their header. While a device sends
// such requests in a loop, the server stays small and answers everyone else.

/// Reads the server's peak resident memory (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// An automerge chunk with a correct checksum.
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut rest = vec![kind];
    leb(&mut rest, body.len() as u64);
    rest.extend_from_slice(body);
    let hash = sha2::Sha256::digest(&rest);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend_from_slice(&hash[..4]);
    out.extend(rest);
    out
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn compressed_changes_and_bombs_are_refused_and_cost_nothing() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = dispatched(&w, &mut pda);

    // An ordinary new case whose change automerge compresses (a long, repetitive description).
    let (mut new, report) = new_case(&pda, CELL1);
    new.details.description = "垃圾".repeat(1_000);
    let mut doc = create(&pda, &new, &report);
    let mut change = doc.changes_since(&[]).remove(0);
    let compressed = change.bytes().into_owned();
    assert_eq!(compressed[8], 2, "a compressed change chunk");
    let reason = expect_refused(&w, &mut pda, push_of(new.id, vec![compressed]), "malformed");
    says(&reason, "compressed");
    assert!(view(&w, new.id).is_none());

    // The bomb: a report with a 32 MiB description, compressed by automerge to a few dozen KiB.
    let (mut big, report) = new_case(&pda, CELL1);
    big.details.description = "a".repeat(32 << 20);
    let mut doc = create(&pda, &big, &report);
    let mut change = doc.changes_since(&[]).remove(0);
    let bomb = change.bytes().into_owned();
    drop((doc, change, big));
    assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());
    assert_eq!(bomb[8], 2);
    // The same deflate stream as one deflated column of an uncompressed change chunk.
    let mut pos = 9;
    while bomb[pos] & 0x80 != 0 {
        pos += 1;
    }
    let deflate = &bomb[pos + 1..];
    let actor = actor_for(&device_id(&pda));
    let mut body = vec![0]; // no dependencies
    leb(&mut body, actor.to_bytes().len() as u64);
    body.extend_from_slice(actor.to_bytes());
    body.extend_from_slice(&[1, 1, 0, 0, 0, 1]); // seq, start op, time, message, other actors, 1 column
    leb(&mut body, (10 << 4) | 0b1000 | 6); // the value column, deflated
    leb(&mut body, deflate.len() as u64);
    body.extend_from_slice(deflate);
    let column_bomb = chunk(1, &body);
    let target = CaseId::generate();
    let reason = expect_refused(
        &w,
        &mut pda,
        push_of(target, vec![column_bomb.clone()]),
        "malformed",
    );
    says(&reason, "compressed");
    expect_refused(&w, &mut pda, push_of(case, vec![bomb.clone()]), "malformed");

    // A full request of bombs: 4 per case, as many cases as fit in the 16 MiB limit.
    let per_request = (15 << 20) / bomb.len() / 4;
    let flood = SyncRequest {
        cursor: u64::MAX,
        docs: (0..per_request)
            .map(|i| DocPush {
                case: uuid::Uuid::now_v7(),
                heads: vec![],
                changes: vec![
                    bomb.clone(),
                    if i % 2 == 0 {
                        column_bomb.clone()
                    } else {
                        bomb.clone()
                    },
                    bomb.clone(),
                    bomb.clone(),
                ],
            })
            .collect(),
    }
    .encode();
    assert!(flood.len() < 16 << 20);

    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (http, token, stop) = (w.http.clone(), pda.token.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 40 {
                let (status, bytes) = post_sync(&http, &token, &flood);
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
                let response = SyncResponse::decode(&bytes).unwrap();
                for d in &response.docs {
                    assert!(
                        matches!(&d.status, DocStatus::Refused { code, .. } if code == "malformed"),
                        "{:?}",
                        d.status
                    );
                }
                sent += 1;
            }
            sent
        })
    };
    let started = Instant::now();
    let mut checks = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let t = Instant::now();
        let (status, _) = w.http.get("/healthz", None);
        assert_eq!(status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "/healthz took {:?}",
            t.elapsed()
        );
        let t = Instant::now();
        let (status, _) = w.http.case(&w.tokens.dispatcher, case);
        assert_eq!(status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a desk GET took {:?}",
            t.elapsed()
        );
        checks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = Instant::now();
    let (status, body) = w.http.act(
        &w.tokens.dispatcher,
        case,
        json!({"action": "extend", "hours": 1, "note": "受攻击期间延期"}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "a desk action took {:?}",
        t.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    let sent = attacker.join().unwrap();
    assert!(sent >= 2 && checks >= 5, "sent {sent}, checked {checks}");
    let peak = peak_rss_kib(w.server.pid());
    assert!(peak < 600 * 1024, "peak RSS {peak} KiB");

    // The largest plain request: 2 000 new cases of ~7 KiB each (long but legal texts), every one
    // wrong about its cell, so all are decoded, materialised and checked, and none stored.
    let docs: Vec<DocPush> = (0..2_000)
        .map(|_| {
            let (mut c, r) = new_case(&pda, CELL1);
            c.cell = Some(CELL1B.into());
            c.details.description = "井".repeat(2_000);
            c.details.address = "地".repeat(200);
            let mut doc = create(&pda, &c, &r);
            push_of(c.id, since(&mut doc, &[]))
        })
        .collect();
    let request = SyncRequest {
        cursor: u64::MAX,
        docs,
    }
    .encode();
    assert!(
        request.len() > 12 << 20 && request.len() < 16 << 20,
        "{}",
        request.len()
    );
    let (status, bytes) = post_sync(&w.http, &pda.token, &request);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let response = SyncResponse::decode(&bytes).unwrap();
    let refused = response
        .docs
        .iter()
        .filter(|d| matches!(&d.status, DocStatus::Refused { code, .. } if code == "bad_fact"))
        .count();
    let deferred = response
        .docs
        .iter()
        .filter(|d| d.status == DocStatus::Deferred)
        .count();
    assert_eq!(refused + deferred, 2_000);
    assert!(refused > 0);
    let peak = peak_rss_kib(w.server.pid());
    assert!(peak < 600 * 1024, "peak RSS {peak} KiB");
    let (_, page) = w.http.get("/api/v1/cases", Some(&w.tokens.dispatcher));
    // The dispatched case and the honest reports of the three refusals above.
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(stage(&w, case), "dispatched");
}

// === 7. A case document over the per-case size limit ==========================================
// One case must not grow without bound (every device of the street downloads it). The limit is checked
// before anything is parsed further, and the street's other PDAs keep syncing.

#[test]
fn a_case_over_the_size_limit_is_refused() {
    let w = world(&[]);
    let mut pda1 = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let mut pda3 = Pda::enroll(&w.http, &w.device3, "w-003");
    let case = dispatched(&w, &mut pda1);

    // Five changes of 230 KiB each (each under the per-change limit, together over 1 MiB).
    let mut doc = rooted(&pda1, case);
    let heads = doc.heads();
    let mut at = next_stamp(&doc);
    for _ in 0..5 {
        let mut e = device_event(&pda1, ActionKind::AddEvidence, at);
        e.note = Some("x".repeat(230 * 1024));
        doc.append(&e, &[]).unwrap();
        at = Hlc::tick(Some(at), 0);
    }
    let changes = since(&mut doc, &heads);
    assert!(changes.iter().all(|c| c.len() < 256 * 1024));
    let reason = expect_refused(&w, &mut pda1, push_of(case, changes), "too_large");
    says(&reason, "limit");

    // The same for a new case.
    let (new, report) = new_case(&pda1, CELL1);
    let mut doc = create(&pda1, &new, &report);
    let mut at = Hlc::tick(Some(report.at), 0);
    for _ in 0..5 {
        let mut e = device_event(&pda1, ActionKind::AddEvidence, at);
        e.note = Some("y".repeat(230 * 1024));
        doc.append(&e, &[]).unwrap();
        at = Hlc::tick(Some(at), 0);
    }
    let changes = since(&mut doc, &[]);
    expect_refused(&w, &mut pda1, push_of(new.id, changes), "too_large");
    assert!(view(&w, new.id).is_none());

    // One change over the per-change limit.
    let mut doc = rooted(&pda1, case);
    let heads = doc.heads();
    let mut e = device_event(&pda1, ActionKind::AddEvidence, next_stamp(&doc));
    e.note = Some("z".repeat(300 * 1024));
    doc.append(&e, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    expect_refused(&w, &mut pda1, push_of(case, changes), "too_large");

    // The street goes on.
    let other = reported(&mut pda3, CELL1B);
    pda1.sync();
    pda3.sync();
    assert!(
        pda3.store.case(case).is_ok(),
        "w-003 has the street's cases"
    );
    assert_eq!(stage(&w, other), "reported");
    assert_eq!(stage(&w, case), "dispatched");
}

// === 8. Device ids: revoked ones, other workers' ones, reserved ones ==========================
// A device id is its automerge actor: whoever enrolls it writes as it. A revoked PDA's id must not
// come back under another worker, and no device may take the server's actor or the system's name.

#[test]
fn device_ids_cannot_be_taken_over_or_reserved() {
    let w = world(&[]);
    let mut pda1 = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let pda2 = Pda::enroll(&w.http, &w.tokens.device2, "w-002");
    reported(&mut pda1, CELL1);
    let lost = device_id(&pda1);
    admin_ok(&w.dir, &["device", "revoke", "--device-id", &lost]);

    let fresh2 = admin_ok(&w.dir, &["device", "add", "--worker", "w-002"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let enroll = |token: &str, id: &str| {
        w.http.post(
            "/api/v1/devices/enroll",
            Some(token),
            &json!({"device_id": id}),
        )
    };
    // The revoked id under w-002's new token, and w-002's live device id under w-003's token.
    let (status, body) = enroll(&fresh2, &lost);
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("device_bound")),
        "{body}"
    );
    let (status, body) = enroll(&w.device3, &device_id(&pda2));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("device_bound")),
        "{body}"
    );

    // Reserved names: the server's actors ("server-<uuid>"), however spelled, and "system".
    for id in [
        "server",
        "server-0190b0a0-0000-7000-8000-000000000000",
        "SERVER-1",
        "system",
        "System",
    ] {
        let (status, body) = enroll(&fresh2, id);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_device_id")),
            "{id}: {body}"
        );
    }
    // Ids that are not plain names.
    for id in ["", "a/b", "dev\u{0}1", &"d".repeat(101)] {
        let (status, _) = enroll(&fresh2, id);
        assert_eq!(status, 400, "{id:?}");
    }
    // The token is still unbound and takes an honest id.
    let (status, body) = enroll(&fresh2, "w002-pda-2");
    assert_eq!(status, 200, "{body}");
    let sync = SyncRequest {
        cursor: 0,
        docs: vec![],
    };
    sync_ok(&w.http, &fresh2, &sync);
    // The revoked token is refused outright.
    let (status, _) = post_sync(&w.http, &w.tokens.device1, &sync.encode());
    assert_eq!(status, 401);
}

// === 9. Verifying a case one was not asked to verify ==========================================
// Only the assigned verifier's verdict closes a case.

#[test]
fn only_the_assigned_verifier_may_verify() {
    let w = world(&[]);
    let mut pda1 = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let mut pda3 = Pda::enroll(&w.http, &w.device3, "w-003");
    let case = awaiting_verification(&w, &mut pda1);
    pda3.sync();

    for action in [ActionKind::VerifyPass, ActionKind::VerifyFail] {
        let mut doc = rooted(&pda3, case);
        let heads = doc.heads();
        doc.append(&device_event(&pda3, action, next_stamp(&doc)), &[])
            .unwrap();
        let changes = since(&mut doc, &heads);
        let reason = expect_refused(&w, &mut pda3, push_of(case, changes), "not_allowed");
        says(&reason, "never asked to verify");
    }
    assert_eq!(stage(&w, case), "verification_requested");
}

// === 9b. Rewriting history by backdating a verdict ===========================================
// The assigned verifier failed the case; the department reworked it. A verify_pass stamped between the
// request and the failure would replay first: the failure and the department's work turn invalid, the
// case reads `verified`, and the server closes it.

#[test]
fn a_backdated_verdict_cannot_rewrite_history() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = awaiting_verification(&w, &mut pda);
    pda.sync();
    pda.store
        .verify(case, false, Some("仍有垃圾".into()), &[])
        .unwrap();
    pda.sync();
    let s = w.tokens.sanitation.as_str();
    act_all(&w, case, &[(s, "handle")]);
    assert_eq!(stage(&w, case), "handled");

    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let request = event_of(&doc, ActionKind::RequestVerification);
    let fail = event_of(&doc, ActionKind::VerifyFail);
    // Same stamp as the request: replays after it (its actor sorts after the desk's), before the fail.
    let e = device_event(&pda, ActionKind::VerifyPass, request.at);
    assert!(e.at < fail.at);
    doc.append(&e, &[]).unwrap();
    let replayed = doc.read().unwrap();
    assert_eq!(
        replayed.stage(),
        Some(gridpatrol_core::workflow::Stage::Verified),
        "the attack would work if it were accepted"
    );
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "not_allowed");
    says(&reason, "earlier records");
    assert_eq!(stage(&w, case), "handled");
}

// === 10. Clocks ==============================================================================
// A report from next year would sort after everything the desks do for a year; a counter near
// u32::MAX leaves no room for the next event.

#[test]
fn times_far_ahead_and_clocks_that_cannot_advance_are_refused() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = reported(&mut pda, CELL1);

    let (mut new, mut report) = new_case(&pda, CELL1);
    new.created_at += chrono::Duration::days(365);
    report.at = Hlc::tick(None, new.created_at.timestamp_millis());
    let mut doc = create(&pda, &new, &report);
    let changes = since(&mut doc, &[]);
    let reason = expect_refused(&w, &mut pda, push_of(new.id, changes), "clock");
    says(&reason, "ahead");

    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let at = Hlc {
        wall_ms: Utc::now().timestamp_millis(),
        counter: u32::MAX - 1,
    };
    doc.append(&device_event(&pda, ActionKind::AddEvidence, at), &[])
        .unwrap();
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "clock");
    says(&reason, "counter");

    // An event from a year ago.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let at = Hlc::tick(
        None,
        (Utc::now() - chrono::Duration::days(365)).timestamp_millis(),
    );
    doc.append(&device_event(&pda, ActionKind::AddEvidence, at), &[])
        .unwrap();
    let changes = since(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "clock");

    // Within the allowed skew (9 minutes ahead) the event is taken, and a desk action after it is
    // still stamped after it, so it takes effect (a 409 `flagged` would mean it did not).
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let ahead = Hlc::tick(
        None,
        (Utc::now() + chrono::Duration::minutes(9)).timestamp_millis(),
    );
    doc.append(&device_event(&pda, ActionKind::AddEvidence, ahead), &[])
        .unwrap();
    let changes = since(&mut doc, &heads);
    let response = sync_ok(
        &w.http,
        &pda.token,
        &SyncRequest {
            cursor: u64::MAX,
            docs: vec![push_of(case, changes)],
        },
    );
    assert_eq!(response.docs[0].status, DocStatus::Accepted);
    let (status, body) = w
        .http
        .act(&w.tokens.dispatcher, case, json!({"action": "register"}));
    assert_eq!(status, 200, "{body}");
    let entries = body["timeline"]["entries"].as_array().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last["event"]["action"], "register");
    assert_eq!(last["outcome"]["outcome"], "applied");
    assert!(last["event"]["at"]["wall_ms"].as_i64().unwrap() >= ahead.wall_ms);
}

// === 11. New cases with wrong facts ==========================================================
// A new case's facts are the server's to check: the cell is where the server's grid puts the position,
// the position is a position, the category exists, the times are sane, the id is the label.

#[test]
fn new_cases_with_wrong_facts_store_nothing() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    type Tweak = fn(&mut NewCase, &mut TimelineEvent);
    let cases: [(&str, Tweak, &str, &str); 10] = [
        (
            "no such cell",
            |c, _| c.cell = Some("110102001999999".into()),
            "bad_fact",
            "网格编号与位置不符",
        ),
        (
            "another cell",
            |c, _| c.cell = Some(CELL1B.into()),
            "bad_fact",
            "网格编号与位置不符",
        ),
        (
            "no cell",
            |c, _| c.cell = None,
            "bad_fact",
            "网格编号与位置不符",
        ),
        (
            "outside the district",
            |c, _| {
                c.location.lat = 10.0;
                c.location.lon = 10.0;
            },
            "bad_fact",
            "none of the district",
        ),
        (
            "latitude 999",
            |c, _| c.location.lat = 999.0,
            "bad_fact",
            "WGS-84",
        ),
        (
            "accuracy -5",
            |c, _| c.location.accuracy_m = Some(-5.0),
            "bad_fact",
            "accuracy",
        ),
        (
            "created in year 1",
            |c, _| c.created_at = "0001-01-01T00:00:00Z".parse().unwrap(),
            "clock",
            "before the server",
        ),
        (
            "category NOPE",
            |c, _| c.details.category = CategoryKey::current("NOPE"),
            "bad_fact",
            "unknown category",
        ),
        (
            "someone else's report",
            |c, _| c.reporter = "w-002".into(),
            "not_allowed",
            "reporter",
        ),
        (
            "a report that is not a report",
            |_, r| r.action = ActionKind::AddEvidence,
            "tampered",
            "exactly one report",
        ),
    ];
    for (what, tweak, code, fragment) in cases {
        let (mut new, mut report) = new_case(&pda, CELL1);
        tweak(&mut new, &mut report);
        let mut doc = create(&pda, &new, &report);
        let changes = since(&mut doc, &[]);
        let reason = expect_refused(&w, &mut pda, push_of(new.id, changes), code);
        assert!(reason.contains(fragment), "{what}: {reason}");
        assert!(view(&w, new.id).is_none(), "{what}");
    }

    // An id that differs from the label.
    let (new, report) = new_case(&pda, CELL1);
    let mut doc = create(&pda, &new, &report);
    let label = CaseId::generate();
    expect_refused(
        &w,
        &mut pda,
        push_of(label, since(&mut doc, &[])),
        "tampered",
    );
    // Two reports in one case, the second in a later change.
    let (new, report) = new_case(&pda, CELL1);
    let mut doc = create(&pda, &new, &report);
    let again = device_event(&pda, ActionKind::Report, Hlc::tick(Some(report.at), 0));
    doc.append(&again, &[]).unwrap();
    expect_refused(
        &w,
        &mut pda,
        push_of(new.id, since(&mut doc, &[])),
        "tampered",
    );
    // Only the later change, without the one that creates the case.
    let changes = since(&mut doc, &[]);
    expect_refused(
        &w,
        &mut pda,
        push_of(new.id, changes[1..].to_vec()),
        "malformed",
    );
    // A root field the schema does not have, in the creating change.
    let (new, report) = new_case(&pda, CELL1);
    let mut doc = create(&pda, &new, &report);
    let first = since(&mut doc, &[]).remove(0);
    let merged = reencode(&first, |x| {
        let mut op = x.operations[0].clone();
        op.key = Key::Map("admin".into());
        op.action = OpType::Put(ScalarValue::Boolean(true));
        x.operations.push(op);
    });
    let reason = expect_refused(&w, &mut pda, push_of(new.id, vec![merged]), "tampered");
    says(&reason, "unknown field");
    let (_, page) = w.http.get("/api/v1/cases", Some(&w.tokens.dispatcher));
    // One honest report went with each of the 14 attacks.
    assert_eq!(page["total"], 14, "only the honest reports: {page}");
}

// === 12. Everything else a rooted PDA can send ===============================================

#[test]
fn odd_operations_are_refused() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = dispatched(&w, &mut pda);
    let photo = gridpatrol_tests::synthetic_jpeg(64, 48, 3);
    pda.store.attach(case, &photo, Some("照片".into())).unwrap();
    pda.sync();
    assert_eq!(
        view(&w, case).unwrap()["photos"].as_array().unwrap().len(),
        1
    );

    // A delete on the photos list.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let photos = root_obj(&mut doc, "photos");
    doc.automerge().delete(&photos, 0).unwrap();
    let changes = commit(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");

    // A counter and an increment, on the device's own new event.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    doc.append(
        &device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc)),
        &[],
    )
    .unwrap();
    let changes = since(&mut doc, &heads);
    let counted = reencode(&changes[0], |x| {
        let op = x
            .operations
            .iter_mut()
            .find(|o| o.key == Key::Map("counter".into()))
            .unwrap();
        op.action = OpType::Put(ScalarValue::counter(0));
    });
    expect_refused(&w, &mut pda, push_of(case, vec![counted]), "tampered");
    let incremented = reencode(&changes[0], |x| {
        let mut op = x
            .operations
            .iter()
            .find(|o| o.key == Key::Map("counter".into()))
            .unwrap()
            .clone();
        op.action = OpType::Increment(1_000_000);
        x.operations.push(op);
    });
    expect_refused(&w, &mut pda, push_of(case, vec![incremented]), "tampered");

    // A text object (and marks on it) for the note.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let list = root_obj(&mut doc, "timeline");
    let n = doc.automerge().length(&list);
    let m = doc
        .automerge()
        .insert_object(&list, n, ObjType::Map)
        .unwrap();
    let text = doc
        .automerge()
        .put_object(&m, "note", ObjType::Text)
        .unwrap();
    doc.automerge().splice_text(&text, 0, 0, "加粗").unwrap();
    doc.automerge()
        .mark(
            &text,
            automerge::marks::Mark::new("bold".into(), true, 0, 2),
            automerge::marks::ExpandMark::None,
        )
        .unwrap();
    let changes = commit(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    says(&reason, "never use");

    // A write into an object another actor's change created: the dispatch event's attachments list.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let dispatch = event_obj(&mut doc, "dispatch");
    let att = doc
        .automerge()
        .get(&dispatch, "attachments")
        .unwrap()
        .unwrap()
        .1;
    doc.automerge().insert(&att, 0, "ab".repeat(32)).unwrap();
    let changes = commit(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    says(&reason, "did not create");

    // An insert into the timeline that is not a map, and a map placed as a map entry of the root.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let list = root_obj(&mut doc, "timeline");
    doc.automerge().insert(&list, 0, "bogus").unwrap();
    let changes = commit(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    doc.automerge()
        .put_object(ROOT, "timeline2", ObjType::List)
        .unwrap();
    let changes = commit(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "tampered");

    // An extremely long string field (under the change limit): the schema's bound, before facts.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let mut e = device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc));
    e.note = Some("长".repeat(60_000));
    doc.append(&e, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(&w, &mut pda, push_of(case, changes), "tampered");
    says(&reason, "size");
    // A long but schema-sized note: the fact's limit.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let mut e = device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc));
    e.note = Some("长".repeat(2_500));
    doc.append(&e, &[]).unwrap();
    let changes = since(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "bad_fact");

    // A change that depends on a change the server does not have.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let mut at = next_stamp(&doc);
    for _ in 0..2 {
        doc.append(&device_event(&pda, ActionKind::AddEvidence, at), &[])
            .unwrap();
        at = Hlc::tick(Some(at), 0);
    }
    let changes = since(&mut doc, &heads);
    let reason = expect_refused(
        &w,
        &mut pda,
        push_of(case, changes[1..].to_vec()),
        "malformed",
    );
    says(&reason, "not sent");
    // A dependency on a hash nobody has.
    let orphan = reencode(&changes[0], |x| x.deps.push(ChangeHash([7; 32])));
    expect_refused(&w, &mut pda, push_of(case, vec![orphan]), "malformed");

    // A change made by another actor (w-002's PDA) pushed with w-001's token.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    doc.append(
        &device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc)),
        &[],
    )
    .unwrap();
    let changes = since(&mut doc, &heads);
    let foreign = reencode(&changes[0], |x| {
        let other = actor_for("some-other-pda");
        x.actor_id = other.clone();
        // The objects this change creates are the other actor's now.
        let start = x.start_op.get();
        for op in &mut x.operations {
            if let ObjectId::Id(OpId(n, a)) = &mut op.obj
                && *n >= start
            {
                *a = other.clone();
            }
            if let Key::Seq(ElementId::Id(OpId(n, a))) = &mut op.key
                && *n >= start
            {
                *a = other.clone();
            }
        }
    });
    let reason = expect_refused(&w, &mut pda, push_of(case, vec![foreign]), "not_allowed");
    says(&reason, "not bound");

    // Too many tiny changes for one case in one request.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    let mut at = next_stamp(&doc);
    for _ in 0..257 {
        doc.append(&device_event(&pda, ActionKind::AddEvidence, at), &[])
            .unwrap();
        at = Hlc::tick(Some(at), 0);
    }
    let changes = since(&mut doc, &heads);
    expect_refused(&w, &mut pda, push_of(case, changes), "too_large");

    // Garbage bytes as a change, and a whole document (`save()`) as a change.
    expect_refused(
        &w,
        &mut pda,
        push_of(case, vec![b"not a change".to_vec()]),
        "malformed",
    );
    let mut doc = rooted(&pda, case);
    expect_refused(&w, &mut pda, push_of(case, vec![doc.save()]), "malformed");
    // A change chunk with a wrong checksum.
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    doc.append(
        &device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc)),
        &[],
    )
    .unwrap();
    let mut bad = since(&mut doc, &heads).remove(0);
    bad[4] ^= 0xff;
    expect_refused(&w, &mut pda, push_of(case, vec![bad]), "malformed");

    // Too many heads.
    let heads: Vec<[u8; 32]> = (0..65).map(|i| [i as u8; 32]).collect();
    expect_refused(
        &w,
        &mut pda,
        DocPush {
            case: case.0,
            heads,
            changes: vec![],
        },
        "malformed",
    );

    // The same case twice in one request: the second entry is refused, the first goes through.
    let twice = sync_ok(
        &w.http,
        &pda.token,
        &SyncRequest {
            cursor: u64::MAX,
            docs: vec![push_of(case, vec![]), push_of(case, vec![])],
        },
    );
    assert_eq!(twice.docs[0].status, DocStatus::Accepted);
    assert!(
        matches!(&twice.docs[1].status, DocStatus::Refused { code, .. } if code == "malformed"),
        "{:?}",
        twice.docs[1].status
    );

    // A replay of an accepted change: harmless, nothing new.
    let before = view(&w, case).unwrap();
    let mut doc = rooted(&pda, case);
    let heads = doc.heads();
    doc.append(
        &device_event(&pda, ActionKind::AddEvidence, next_stamp(&doc)),
        &[],
    )
    .unwrap();
    let changes = since(&mut doc, &heads);
    for _ in 0..3 {
        let response = sync_ok(
            &w.http,
            &pda.token,
            &SyncRequest {
                cursor: u64::MAX,
                docs: vec![push_of(case, changes.clone())],
            },
        );
        assert_eq!(response.docs[0].status, DocStatus::Accepted);
    }
    let after = view(&w, case).unwrap();
    let count = |v: &Value| v["timeline"]["entries"].as_array().unwrap().len();
    assert_eq!(count(&after), count(&before) + 1);
    assert_eq!(stage(&w, case), "dispatched");
    pda.sync();
}

// === 12b. Requests that are not sync requests ================================================
// Whole-request problems are a 4xx with a JSON error, never a 500 and never a partial merge.

#[test]
fn broken_envelopes_are_4xx() {
    let w = world(&[]);
    let mut pda = Pda::enroll(&w.http, &w.tokens.device1, "w-001");
    let case = reported(&mut pda, CELL1);
    let token = pda.token.clone();
    let good = SyncRequest {
        cursor: 0,
        docs: vec![push_of(case, vec![])],
    }
    .encode();

    let mut bad_version = good.clone();
    bad_version[4] = 1;
    let mut trailing = good.clone();
    trailing.push(0);
    let mut huge_len = b"GPSY".to_vec();
    huge_len.extend_from_slice(&2u16.to_le_bytes());
    huge_len.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f]); // cursor 0, 2^32 docs
    let mut huge_bytes = b"GPSY".to_vec();
    huge_bytes.extend_from_slice(&2u16.to_le_bytes());
    huge_bytes.extend_from_slice(&[0, 1]); // one doc
    huge_bytes.extend_from_slice(&[0x10; 16]); // its uuid
    huge_bytes.extend_from_slice(&[0]); // no heads
    huge_bytes.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0x7f]); // one change of 256 MiB
    let mut random = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        random.push(x as u8);
    }
    let mut random_sync = b"GPSY\x02\x00".to_vec();
    random_sync.extend_from_slice(&random);
    for (what, body) in [
        ("garbage", random.clone()),
        ("empty", vec![]),
        ("magic only", b"GPSY".to_vec()),
        ("wrong version", bad_version),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("trailing bytes", trailing),
        ("a count of 2^32 documents", huge_len),
        ("a change longer than the body", huge_bytes),
        ("random postcard", random_sync),
    ] {
        let (status, bytes) = post_sync(&w.http, &token, &body);
        assert!(
            (400..500).contains(&status),
            "{what}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        let body: Value = serde_json::from_slice(&bytes).expect("a JSON error");
        assert!(body["code"].is_string(), "{what}: {body}");
    }
    // More documents than a request may name.
    let many = SyncRequest {
        cursor: 0,
        docs: (0..2_001)
            .map(|_| push_of(CaseId::generate(), vec![]))
            .collect(),
    };
    let (status, _) = post_sync(&w.http, &token, &many.encode());
    assert_eq!(status, 413);
    // A body over 16 MiB.
    let (status, _) = post_sync(&w.http, &token, &vec![0u8; (16 << 20) + 1]);
    assert_eq!(status, 413);
    // A cursor from the future is not an error: nothing is newer (it once read as -1, "everything",
    // and the server resent every case the device lacked). `server_changes` forgets what the device
    // holds, so a case would come back if the cursor were misread.
    server_changes(&w.http, &token, case);
    let response = sync_ok(
        &w.http,
        &token,
        &SyncRequest {
            cursor: u64::MAX,
            docs: vec![],
        },
    );
    assert!(response.docs.is_empty());
    pda.sync();
    assert_eq!(stage(&w, case), "reported");
}
