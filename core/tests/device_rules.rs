//! The write rules as a property: whatever sequence of automerge operations a (tampered) device makes
//! on a real case document, and sends through the real server protocol, either the server refuses it
//! and keeps the case exactly as it was, or it accepts it and nothing earlier changed: the report's
//! facts, every earlier event and photo, the department, deadline and verifier stay; new events are
//! the device's own worker's; the details move only through the reporter's edit before registration.
//! The oracle below reads the cases as the dashboard does; it does not call the rules it tests.
//! Sequences made only of what an honest app does must be accepted.

use std::collections::HashMap;

use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use chrono::Utc;
use gridpatrol_core::action::Actor;
use gridpatrol_core::case::{Case, CaseEdit, CaseId, Location, PhotoRef};
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::doc::actor_for;
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::memory::MemoryBackend;
use gridpatrol_core::sync::server::{SyncBackend, encode_changes, heads_to_wire};
use gridpatrol_core::sync::{
    DeviceScope, DocPush, DocStatus, ServerFacts, ServerSync, SyncRequest, SyncResponse,
};
use gridpatrol_core::timeline::{Hlc, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role, Stage};
use proptest::prelude::*;

const STREET_A: &str = "110102001";
const WORKER: &str = "w-a";

/// Where the case is when the device starts tampering.
#[derive(Debug, Clone, Copy)]
enum Setup {
    /// Reported by this device, nothing else.
    Reported,
    /// Registered and dispatched to a department.
    Dispatched,
    /// Handled, and this worker asked to verify.
    VerifyMine,
    /// Handled, and another worker asked to verify.
    VerifyOthers,
}

/// A server with one case at a setup stage, and the device that reported it.
struct World {
    sync: ServerSync,
    backend: MemoryBackend,
    catalog: Catalog,
    grids: GridIndex,
    scope: DeviceScope,
    case: CaseId,
    _dir: tempfile::TempDir,
}

fn world(setup: Setup) -> World {
    let server_actor = actor_for("server-test");
    let catalog = Catalog::builtin();
    let grids = GridIndex::new(GeneratedDistrict::demo().cells()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), WORKER).unwrap();
    store.import_grids(&grids.to_geojson()).unwrap();
    let scope = DeviceScope::new(
        &store.identity().device_id,
        WORKER,
        vec![STREET_A.to_owned()],
    );
    let cell = GeneratedDistrict::demo()
        .cells()
        .into_iter()
        .find(|c| c.code.as_str().starts_with(STREET_A))
        .unwrap();
    let (lat, lon) = cell.inside_point().unwrap();
    let case = store
        .report(NewReport {
            category: "06010".into(),
            location: Location::new(lat, lon).unwrap(),
            address: "门牌 1".into(),
            description: "暴露垃圾".into(),
            photos: vec![],
        })
        .unwrap();
    let mut w = World {
        sync: ServerSync::new(server_actor.clone()),
        backend: MemoryBackend::new(server_actor),
        catalog,
        grids,
        scope,
        case,
        _dir: dir,
    };
    let request = store.sync_request(1 << 20).unwrap();
    let response = w.serve(&request);
    assert!(matches!(response.docs[0].status, DocStatus::Accepted));
    store.apply_sync_response(&response).unwrap();

    let desk: &[(ActionKind, Role)] = match setup {
        Setup::Reported => &[],
        Setup::Dispatched => &[
            (ActionKind::Register, Role::Dispatcher),
            (ActionKind::Dispatch, Role::Dispatcher),
        ],
        Setup::VerifyMine | Setup::VerifyOthers => &[
            (ActionKind::Register, Role::Dispatcher),
            (ActionKind::Dispatch, Role::Dispatcher),
            (ActionKind::Accept, Role::Department),
            (ActionKind::Handle, Role::Department),
            (ActionKind::Feedback, Role::Department),
            (ActionKind::RequestVerification, Role::Dispatcher),
        ],
    };
    for &(action, role) in desk {
        let who = Actor::new("desk-1", role, None);
        w.sync
            .record(&mut w.backend, case, action, who, Utc::now(), |e| {
                if action == ActionKind::Dispatch {
                    e.department = Some("城管（环卫）".into());
                    e.deadline = Some(Utc::now() + chrono::Duration::hours(4));
                }
                if action == ActionKind::RequestVerification {
                    e.assignee = Some(match setup {
                        Setup::VerifyMine => WORKER.into(),
                        _ => "w-z".into(),
                    });
                }
                Ok::<_, std::convert::Infallible>(())
            })
            .unwrap();
    }
    w
}

impl World {
    fn serve(&mut self, request: &SyncRequest) -> SyncResponse {
        let facts = ServerFacts {
            catalog: &self.catalog,
            grids: &self.grids,
            now: Utc::now(),
        };
        // Through the wire encoding, as the HTTP handler receives it.
        let request = SyncRequest::decode(&request.encode()).unwrap();
        self.sync
            .serve(&mut self.backend, &self.scope, &facts, &request)
            .unwrap()
            .response
    }

    fn read(&mut self) -> (Case, Vec<automerge::ChangeHash>) {
        let mut doc = self.backend.load(self.case).unwrap().unwrap();
        (doc.read().unwrap(), doc.heads())
    }
}

/// What a device may do to its copy of the document: what the app does, and what a tampered app can.
#[derive(Debug, Clone)]
enum Op {
    /// The app: add evidence with a photo.
    Evidence,
    /// The app: correct the description (the reporter's device; the workflow allows it before
    /// registration, and later it is kept only as a flagged record).
    Edit,
    /// An event written as the app writes one, then one thing forged.
    Forged(Forgery),
    /// A raw put on a key of an existing object (root, details, location, an event, a photo).
    Put {
        obj: Target,
        key: usize,
        value: Scalar,
    },
    /// A raw delete of a key of an existing object.
    Delete { obj: Target, key: usize },
    /// A raw delete of an element of the timeline or the photos list.
    DeleteElement { photos: bool, index: usize },
    /// A raw scalar inserted into the timeline or the photos list.
    InsertScalar { photos: bool, value: Scalar },
    /// A text object where a string belongs, then spliced.
    Text { obj: Target, key: usize },
    /// A counter put, then incremented.
    Counter { obj: Target, key: usize },
    /// Ends the current change (the next ops go into a new one).
    Commit,
}

#[derive(Debug, Clone, Copy)]
enum Forgery {
    OtherActor,
    DispatcherRole,
    OtherDevice,
    NoDevice,
    ReusedId,
    Future,
    HugeCounter,
    Action(ActionKind),
    Department,
    Deadline,
    Assignee,
    VerifyPass,
    VerifyFail,
    EditOnEvidence,
    MissingPhoto,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Root,
    Details,
    Location,
    Event(usize),
    Photo(usize),
}

#[derive(Debug, Clone)]
enum Scalar {
    Str(String),
    Int(i64),
    F64(f64),
    Null,
}

const KEYS: [&str; 14] = [
    "id",
    "reporter",
    "device",
    "cell",
    "created_ms",
    "description",
    "code",
    "lat",
    "action",
    "actor",
    "department",
    "deadline_ms",
    "sha256",
    "extra",
];

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        "[a-z0-9-]{0,12}".prop_map(Scalar::Str),
        Just(Scalar::Str("special_close".into())),
        Just(Scalar::Str("w-b".into())),
        any::<i64>().prop_map(Scalar::Int),
        (-1000.0f64..1000.0).prop_map(Scalar::F64),
        Just(Scalar::Null),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Root),
        Just(Target::Details),
        Just(Target::Location),
        (0usize..8).prop_map(Target::Event),
        (0usize..3).prop_map(Target::Photo),
    ]
}

fn forgery() -> impl Strategy<Value = Forgery> {
    prop_oneof![
        Just(Forgery::OtherActor),
        Just(Forgery::DispatcherRole),
        Just(Forgery::OtherDevice),
        Just(Forgery::NoDevice),
        Just(Forgery::ReusedId),
        Just(Forgery::Future),
        Just(Forgery::HugeCounter),
        proptest::sample::select(ActionKind::ALL.to_vec()).prop_map(Forgery::Action),
        Just(Forgery::Department),
        Just(Forgery::Deadline),
        Just(Forgery::Assignee),
        Just(Forgery::VerifyPass),
        Just(Forgery::VerifyFail),
        Just(Forgery::EditOnEvidence),
        Just(Forgery::MissingPhoto),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Evidence),
        2 => Just(Op::Edit),
        3 => forgery().prop_map(Op::Forged),
        3 => (target(), 0..KEYS.len(), scalar()).prop_map(|(obj, key, value)| Op::Put { obj, key, value }),
        1 => (target(), 0..KEYS.len()).prop_map(|(obj, key)| Op::Delete { obj, key }),
        1 => (any::<bool>(), 0usize..8).prop_map(|(photos, index)| Op::DeleteElement { photos, index }),
        1 => (any::<bool>(), scalar()).prop_map(|(photos, value)| Op::InsertScalar { photos, value }),
        1 => (target(), 0..KEYS.len()).prop_map(|(obj, key)| Op::Text { obj, key }),
        1 => (target(), 0..KEYS.len()).prop_map(|(obj, key)| Op::Counter { obj, key }),
        2 => Just(Op::Commit),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    prop_oneof![
        Just(Setup::Reported),
        Just(Setup::Dispatched),
        Just(Setup::VerifyMine),
        Just(Setup::VerifyOthers),
    ]
}

fn photo(n: usize) -> PhotoRef {
    let sha = format!("{n:064x}");
    PhotoRef {
        sha256: sha.clone(),
        thumb_sha256: sha,
        bytes: 200_000,
        width: 1600,
        height: 1200,
        taken_at: None,
        gps: None,
        added_by: WORKER.into(),
        added_at: Utc::now(),
    }
}

/// Applies the ops to the device's copy; returns whether every op was one an honest app makes.
fn tamper(
    w: &mut World,
    setup: Setup,
    ops: &[Op],
) -> (Vec<Vec<u8>>, Vec<automerge::ChangeHash>, bool) {
    let mut server_doc = w.backend.load(w.case).unwrap().unwrap();
    let base_heads = server_doc.heads();
    let before = server_doc.read().unwrap();
    let mut doc = server_doc.fork(actor_for(&w.scope.device_id));
    let device = w.scope.device_id.clone();
    let now = Hlc {
        wall_ms: Utc::now().timestamp_millis(),
        counter: 0,
    };
    let mut honest = true;
    let mut photos = 0;
    for op in ops {
        match op {
            Op::Evidence => {
                photos += 1;
                let p = photo(photos);
                let mut e =
                    TimelineEvent::new(ActionKind::AddEvidence, WORKER, Role::GridWorker, now);
                e.device = Some(device.clone());
                e.attachments = vec![p.sha256.clone()];
                doc.append(&e, &[p]).unwrap();
            }
            Op::Edit => {
                honest &= matches!(setup, Setup::Reported);
                let mut e = TimelineEvent::new(ActionKind::Edit, WORKER, Role::GridWorker, now);
                e.device = Some(device.clone());
                e.edit = Some(CaseEdit {
                    category: None,
                    address: None,
                    description: Some("更正：暴露垃圾两处".into()),
                });
                doc.append(&e, &[]).unwrap();
            }
            Op::Forged(f) => {
                honest = false;
                let mut e =
                    TimelineEvent::new(ActionKind::AddEvidence, WORKER, Role::GridWorker, now);
                e.device = Some(device.clone());
                let mut with = vec![];
                match f {
                    Forgery::OtherActor => e.actor = "w-b".into(),
                    Forgery::DispatcherRole => e.role = Role::Dispatcher,
                    Forgery::OtherDevice => e.device = Some("dev-other".into()),
                    Forgery::NoDevice => e.device = None,
                    Forgery::ReusedId => e.id = before.timeline.entries[0].event.id,
                    Forgery::Future => e.at.wall_ms += 365 * 24 * 3600 * 1000,
                    Forgery::HugeCounter => e.at.counter = u32::MAX,
                    Forgery::Action(a) => e.action = *a,
                    Forgery::Department => e.department = Some("城管执法".into()),
                    Forgery::Deadline => {
                        e.deadline = Some(Utc::now() + chrono::Duration::days(3650))
                    }
                    Forgery::Assignee => e.assignee = Some("w-b".into()),
                    Forgery::VerifyPass => e.action = ActionKind::VerifyPass,
                    Forgery::VerifyFail => e.action = ActionKind::VerifyFail,
                    Forgery::EditOnEvidence => {
                        e.edit = Some(CaseEdit {
                            category: None,
                            address: Some("别处".into()),
                            description: None,
                        })
                    }
                    Forgery::MissingPhoto => {
                        e.attachments = vec![format!("{:064x}", 999)];
                        with = vec![];
                    }
                }
                doc.append(&e, &with).unwrap();
            }
            Op::Put { obj, key, value } => {
                honest = false;
                if let Some(o) = resolve(&doc, *obj) {
                    let d = doc.automerge();
                    let key = KEYS[*key];
                    let _ = match value {
                        Scalar::Str(s) => d.put(&o, key, s.as_str()),
                        Scalar::Int(i) => d.put(&o, key, *i),
                        Scalar::F64(f) => d.put(&o, key, *f),
                        Scalar::Null => d.put(&o, key, ScalarValue::Null),
                    };
                }
            }
            Op::Delete { obj, key } => {
                honest = false;
                if let Some(o) = resolve(&doc, *obj) {
                    let _ = doc.automerge().delete(&o, KEYS[*key]);
                }
            }
            Op::DeleteElement { photos, index } => {
                honest = false;
                let list = list(&doc, *photos);
                let d = doc.automerge();
                if *index < d.length(&list) {
                    d.delete(&list, *index).unwrap();
                }
            }
            Op::InsertScalar { photos, value } => {
                honest = false;
                let list = list(&doc, *photos);
                let d = doc.automerge();
                let at = d.length(&list);
                let _ = match value {
                    Scalar::Str(s) => d.insert(&list, at, s.as_str()),
                    Scalar::Int(i) => d.insert(&list, at, *i),
                    Scalar::F64(f) => d.insert(&list, at, *f),
                    Scalar::Null => d.insert(&list, at, ScalarValue::Null),
                };
            }
            Op::Text { obj, key } => {
                honest = false;
                if let Some(o) = resolve(&doc, *obj) {
                    let d = doc.automerge();
                    if let Ok(t) = d.put_object(&o, KEYS[*key], ObjType::Text) {
                        d.splice_text(&t, 0, 0, "改写").unwrap();
                    }
                }
            }
            Op::Counter { obj, key } => {
                honest = false;
                if let Some(o) = resolve(&doc, *obj) {
                    let d = doc.automerge();
                    let key = KEYS[*key];
                    if d.put(&o, key, ScalarValue::counter(1)).is_ok() {
                        d.increment(&o, key, 1000).unwrap();
                    }
                }
            }
            Op::Commit => {
                doc.automerge().commit();
            }
        }
    }
    doc.automerge().commit();
    let changes = encode_changes(doc.changes_since(&base_heads));
    (changes, doc.heads(), honest)
}

fn list(doc: &gridpatrol_core::doc::CaseDoc, photos: bool) -> automerge::ObjId {
    let key = if photos { "photos" } else { "timeline" };
    match doc_ref(doc).get(ROOT, key).unwrap() {
        Some((Value::Object(_), id)) => id,
        _ => panic!("a case has its lists"),
    }
}

fn doc_ref(doc: &gridpatrol_core::doc::CaseDoc) -> &automerge::AutoCommit {
    doc.automerge_ref()
}

fn resolve(doc: &gridpatrol_core::doc::CaseDoc, t: Target) -> Option<automerge::ObjId> {
    let d = doc_ref(doc);
    let child = |parent: &automerge::ObjId, key: &str| match d.get(parent, key).ok()? {
        Some((Value::Object(_), id)) => Some(id),
        _ => None,
    };
    let nth = |list: automerge::ObjId, i: usize| match d.get(&list, i).ok()? {
        Some((Value::Object(_), id)) => Some(id),
        _ => None,
    };
    match t {
        Target::Root => Some(ROOT),
        Target::Details => child(&ROOT, "details"),
        Target::Location => child(&ROOT, "location"),
        Target::Event(i) => nth(child(&ROOT, "timeline")?, i),
        Target::Photo(i) => nth(child(&ROOT, "photos")?, i),
    }
}

/// The oracle: what may differ between the case before and after an accepted push.
fn assert_nothing_earlier_changed(before: &Case, after: &Case, scope: &DeviceScope) {
    assert_eq!(before.id, after.id);
    assert_eq!(before.reporter, after.reporter);
    assert_eq!(before.device, after.device);
    assert_eq!(before.cell, after.cell);
    assert_eq!(before.location, after.location);
    assert_eq!(before.created_at, after.created_at);

    let mut by_id: HashMap<_, Vec<&TimelineEvent>> = HashMap::new();
    for entry in &after.timeline.entries {
        by_id.entry(entry.event.id).or_default().push(&entry.event);
    }
    for entry in &before.timeline.entries {
        let same = by_id.get(&entry.event.id).cloned().unwrap_or_default();
        assert_eq!(
            same,
            vec![&entry.event],
            "event {} rewritten",
            entry.event.id
        );
    }
    for entry in &after.timeline.entries {
        if before
            .timeline
            .entries
            .iter()
            .any(|b| b.event.id == entry.event.id)
        {
            continue;
        }
        let e = &entry.event;
        if e.actor == "system" {
            // The server's own follow-up in the same push: a passed verification closes the case.
            // Only after a valid verdict from this device, and only as the system.
            assert_eq!((e.action, e.role), (ActionKind::Close, Role::System));
            assert!(
                after
                    .timeline
                    .entries
                    .iter()
                    .any(|x| x.event.action == ActionKind::VerifyPass
                        && x.event.actor == scope.worker_id
                        && !x.is_flagged()
                        && !before
                            .timeline
                            .entries
                            .iter()
                            .any(|b| b.event.id == x.event.id)),
                "a closure without this device's verdict"
            );
            continue;
        }
        assert_eq!(e.actor, scope.worker_id, "a new event in another's name");
        assert_eq!(e.role, Role::GridWorker);
        assert_eq!(e.device.as_deref(), Some(scope.device_id.as_str()));
        assert!(e.department.is_none() && e.deadline.is_none() && e.assignee.is_none());
        assert!(
            e.at.time() <= Utc::now() + chrono::Duration::minutes(10),
            "a stamp from the future"
        );
        if matches!(e.action, ActionKind::VerifyPass | ActionKind::VerifyFail) {
            assert_eq!(
                before.timeline.verifier.as_deref(),
                Some(scope.worker_id.as_str())
            );
        }
    }
    for p in &before.photos {
        assert_eq!(
            after.photos.iter().filter(|q| *q == p).count(),
            1,
            "photo {} lost or rewritten",
            p.sha256
        );
    }
    assert_eq!(before.timeline.department, after.timeline.department);
    assert_eq!(before.timeline.deadline, after.timeline.deadline);
    assert_eq!(before.timeline.verifier, after.timeline.verifier);
    if before.stage() != Some(Stage::Reported) {
        assert_eq!(before.details, after.details, "details after registration");
    }
    if before.timeline.verifier.as_deref() != Some(scope.worker_id.as_str()) {
        assert_eq!(before.stage(), after.stage(), "the stage moved");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_device_changes_nothing_earlier_whatever_it_sends(
        setup in setup(),
        ops in proptest::collection::vec(op(), 1..8),
    ) {
        let mut w = world(setup);
        let (before, before_heads) = w.read();
        let (changes, heads, honest) = tamper(&mut w, setup, &ops);
        let request = SyncRequest {
            cursor: 0,
            docs: vec![DocPush { case: w.case.0, heads: heads_to_wire(&heads), changes }],
        };
        let response = w.serve(&request);
        let status = &response.docs.iter().find(|d| d.case == w.case.0).unwrap().status;
        let (after, after_heads) = w.read();
        match status {
            DocStatus::Accepted => assert_nothing_earlier_changed(&before, &after, &w.scope),
            DocStatus::Refused { code, reason } => {
                prop_assert!(!honest, "an honest sequence refused: {code}: {reason}");
                prop_assert!(!code.is_empty() && !reason.is_empty());
                prop_assert_eq!(&before_heads, &after_heads, "a refused push changed the case");
                prop_assert_eq!(&before, &after);
            }
            DocStatus::Deferred => prop_assert!(false, "one small document deferred"),
        }
    }
}

/// Every byte of a real change, set to 0 and to 0xff with the chunk's checksum repaired so the bytes
/// reach automerge's decoder and the rules: each variant is refused with nothing changed, or accepted
/// with nothing earlier changed, and never takes the server down. (The fuzz target found a byte that
/// made automerge panic inside `apply_changes`; this keeps every such byte covered.)
#[test]
fn a_change_with_any_byte_flipped_is_refused_or_harmless() {
    use sha2::{Digest, Sha256};
    let mut w = world(Setup::Dispatched);
    let (before, before_heads) = w.read();
    let (changes, heads, _) = tamper(&mut w, Setup::Dispatched, &[Op::Evidence]);
    let [change] = &changes[..] else {
        panic!("one change")
    };
    let backend = w.backend.clone();
    let (mut refused, mut accepted) = (0, 0);
    for i in 9..change.len() {
        for byte in [0u8, 0xff] {
            if change[i] == byte {
                continue;
            }
            let mut bytes = change.clone();
            bytes[i] = byte;
            let digest = Sha256::digest(&bytes[8..]);
            bytes[4..8].copy_from_slice(&digest[..4]);
            w.backend = backend.clone();
            let response = w.serve(&SyncRequest {
                cursor: 0,
                docs: vec![DocPush {
                    case: w.case.0,
                    heads: heads_to_wire(&heads),
                    changes: vec![bytes],
                }],
            });
            let (after, after_heads) = w.read();
            match &response.docs[0].status {
                DocStatus::Refused { .. } => {
                    refused += 1;
                    assert_eq!(before_heads, after_heads, "byte {i} = {byte}");
                }
                DocStatus::Accepted => {
                    accepted += 1;
                    assert_nothing_earlier_changed(&before, &after, &w.scope);
                }
                DocStatus::Deferred => panic!("deferred"),
            }
        }
    }
    assert!(
        refused > change.len(),
        "{refused} refused, {accepted} accepted"
    );
}
