//! The sync protocol without sockets: real device stores (SQLite in temp dirs), the server handler over
//! the in-memory backend, and every message passed through the wire encoding. Faults (dropped,
//! duplicated, reordered messages) are injected by hand and at random.

use chrono::Utc;
use gridpatrol_core::action::Actor;
use gridpatrol_core::case::{CaseId, Location};
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::doc::actor_for;
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::memory::MemoryBackend;
use gridpatrol_core::sync::server::SyncBackend;
use gridpatrol_core::sync::{
    DeviceScope, RefusalKind, ServerFacts, ServerSync, SyncOutcome, SyncRequest, SyncResponse,
};
use gridpatrol_core::timeline::TimelineEvent;
use gridpatrol_core::workflow::{ActionKind, Role, Stage};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::HashMap;

const STREET_A: &str = "110102001";
const STREET_B: &str = "110102002";

struct Device {
    store: DeviceStore,
    scope: DeviceScope,
    _dir: tempfile::TempDir,
}

struct Server {
    sync: ServerSync,
    backend: MemoryBackend,
    catalog: Catalog,
    grids: GridIndex,
    /// How many times each case entered the pool (must end at exactly once).
    entered: HashMap<CaseId, u32>,
}

impl Server {
    fn new() -> Self {
        let actor = actor_for("server-test");
        Server {
            sync: ServerSync::new(actor.clone()),
            backend: MemoryBackend::new(actor),
            catalog: Catalog::builtin(),
            grids: GridIndex::new(GeneratedDistrict::demo().cells()).unwrap(),
            entered: HashMap::new(),
        }
    }

    /// The HTTP handler's job: decode, handle, note new cases, encode.
    fn handle(&mut self, scope: &DeviceScope, request: &[u8]) -> Result<Vec<u8>, String> {
        let request = SyncRequest::decode(request).map_err(|e| e.to_string())?;
        let outcome = self.serve(scope, &request);
        if let Some((case, r)) = outcome.refused.first() {
            return Err(format!("case {case}: {r}"));
        }
        for id in outcome.new_cases {
            *self.entered.entry(id).or_default() += 1;
        }
        Ok(outcome.response.encode())
    }

    fn desk(&mut self, case: CaseId, action: ActionKind, role: Role, actor: &str) {
        let who = Actor::new(actor, role, None);
        self.sync
            .record(&mut self.backend, case, action, who, Utc::now(), |event| {
                if action == ActionKind::Dispatch {
                    event.department = Some("城管（环卫）".into());
                    event.deadline = Some(Utc::now() + chrono::Duration::hours(4));
                }
                if action == ActionKind::RequestVerification {
                    event.assignee = Some("w-a".into());
                }
                Ok::<_, std::convert::Infallible>(())
            })
            .unwrap();
    }

    /// One request through the protocol, as the server runs it.
    fn serve(&mut self, scope: &DeviceScope, request: &SyncRequest) -> SyncOutcome {
        let facts = ServerFacts {
            catalog: &self.catalog,
            grids: &self.grids,
            now: Utc::now(),
        };
        self.sync
            .serve(&mut self.backend, scope, &facts, request)
            .unwrap()
    }

    fn read(&mut self, case: CaseId) -> gridpatrol_core::case::Case {
        self.backend.load(case).unwrap().unwrap().read().unwrap()
    }
}

fn district() -> String {
    GridIndex::new(GeneratedDistrict::demo().cells())
        .unwrap()
        .to_geojson()
}

fn device(worker: &str, street: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), worker).unwrap();
    store.import_grids(&district()).unwrap();
    let scope = DeviceScope::new(&store.identity().device_id, worker, vec![street.to_owned()]);
    Device {
        store,
        scope,
        _dir: dir,
    }
}

/// A point inside the given street of the demo district.
fn point_in(street: &str, i: usize) -> Location {
    use geo::Centroid;
    let cells: Vec<_> = GeneratedDistrict::demo()
        .cells()
        .into_iter()
        .filter(|c| c.code.as_str().starts_with(street))
        .collect();
    let c = cells[i % cells.len()].polygon.centroid().unwrap();
    Location::new(c.y(), c.x()).unwrap()
}

fn report(d: &mut Device, street: &str, i: usize) -> CaseId {
    d.store
        .report(NewReport {
            category: "06010".into(),
            location: point_in(street, i),
            address: format!("门牌 {i}"),
            description: format!("暴露垃圾 {i}"),
            photos: vec![],
        })
        .unwrap()
}

/// One clean round trip. Returns (request bytes, response bytes).
fn sync_once(d: &mut Device, s: &mut Server) -> (usize, usize) {
    let req = d.store.sync_request(1 << 20).unwrap().encode();
    let resp = s.handle(&d.scope, &req).unwrap();
    d.store
        .apply_sync_response(&SyncResponse::decode(&resp).unwrap())
        .unwrap();
    (req.len(), resp.len())
}

/// Syncs until the device has nothing to send and the server nothing more; returns the round trips.
fn sync_all(d: &mut Device, s: &mut Server) -> usize {
    for round in 1..=10 {
        sync_once(d, s);
        if d.store.outbox_len().unwrap() == 0 {
            return round;
        }
    }
    panic!("sync did not settle in 10 rounds");
}

fn assert_same(d: &Device, s: &mut Server, id: CaseId) {
    let local = d.store.case(id).unwrap();
    let remote = s.read(id);
    assert_eq!(local.timeline, remote.timeline, "timeline of {id}");
    assert_eq!(local.details, remote.details);
    assert_eq!(local.photos, remote.photos);
}

#[test]
fn new_reports_reach_the_server_in_one_round_trip() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let ids: Vec<CaseId> = (0..20).map(|i| report(&mut a, STREET_A, i)).collect();
    assert_eq!(a.store.outbox_len().unwrap(), 20);
    assert_eq!(sync_all(&mut a, &mut s), 1);
    for id in &ids {
        assert_same(&a, &mut s, *id);
        assert_eq!(s.entered[id], 1);
    }
    assert!(
        a.store
            .list(&Default::default())
            .unwrap()
            .iter()
            .all(|c| !c.dirty)
    );
}

#[test]
fn a_sync_with_nothing_changed_is_one_small_request() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    for i in 0..50 {
        report(&mut a, STREET_A, i);
    }
    sync_all(&mut a, &mut s);
    let (req, resp) = sync_once(&mut a, &mut s);
    assert!(req < 32 && resp < 32, "request {req} B, response {resp} B");
    assert_eq!(a.store.outbox_len().unwrap(), 0);
}

#[test]
fn desk_actions_come_back_to_the_device() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let id = report(&mut a, STREET_A, 0);
    sync_all(&mut a, &mut s);
    s.desk(id, ActionKind::Register, Role::Dispatcher, "d-1");
    s.desk(id, ActionKind::Dispatch, Role::Dispatcher, "d-1");
    sync_all(&mut a, &mut s);
    assert_eq!(a.store.case(id).unwrap().stage(), Some(Stage::Dispatched));
    assert_same(&a, &mut s, id);
    // After the acknowledgement round, nothing is left to say.
    let (req, _) = sync_once(&mut a, &mut s);
    assert!(req < 32);
}

#[test]
fn the_full_loop_with_verification_offline() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let id = report(&mut a, STREET_A, 3);
    sync_all(&mut a, &mut s);
    for (action, role, who) in [
        (ActionKind::Register, Role::Dispatcher, "d-1"),
        (ActionKind::Dispatch, Role::Dispatcher, "d-1"),
        (ActionKind::Accept, Role::Department, "cg"),
        (ActionKind::Handle, Role::Department, "cg"),
        (ActionKind::Feedback, Role::Department, "cg"),
        (ActionKind::RequestVerification, Role::Dispatcher, "d-1"),
    ] {
        s.desk(id, action, role, who);
    }
    sync_all(&mut a, &mut s);
    let tasks = a.store.tasks().unwrap();
    assert_eq!(tasks.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id]);
    a.store
        .verify(id, true, Some("已清理".into()), &[])
        .unwrap();
    // One round trip: the server records the verification and, in the same request, the system's
    // closure, which the device receives in the answer (the next round only acknowledges it).
    sync_once(&mut a, &mut s);
    assert_eq!(s.read(id).stage(), Some(Stage::Closed));
    assert_eq!(a.store.case(id).unwrap().stage(), Some(Stage::Closed));
    sync_all(&mut a, &mut s);
    let close = a
        .store
        .case(id)
        .unwrap()
        .timeline
        .entries
        .last()
        .unwrap()
        .event
        .clone();
    assert_eq!(
        (close.action, close.role),
        (ActionKind::Close, Role::System)
    );
    assert!(a.store.tasks().unwrap().is_empty());
    assert_same(&a, &mut s, id);
}

#[test]
fn a_lost_response_is_retried_without_duplicates() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let id = report(&mut a, STREET_A, 1);
    let req = a.store.sync_request(1 << 20).unwrap().encode();
    let _lost = s.handle(&a.scope, &req).unwrap();
    let changes_after_first = s.backend.change_count();
    // The device never saw the answer: it sends again what it still has.
    let retry = a.store.sync_request(1 << 20).unwrap().encode();
    assert_eq!(retry, req, "the device repeats itself exactly");
    let resp = s.handle(&a.scope, &retry).unwrap();
    a.store
        .apply_sync_response(&SyncResponse::decode(&resp).unwrap())
        .unwrap();
    assert_eq!(s.backend.change_count(), changes_after_first);
    assert_eq!(s.entered[&id], 1, "the case entered the pool once");
    assert_same(&a, &mut s, id);
}

#[test]
fn duplicated_and_reordered_messages_converge() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let id = report(&mut a, STREET_A, 2);
    let req1 = a.store.sync_request(1 << 20).unwrap().encode();
    a.store
        .attach(id, &tiny_jpeg(), Some("近景".into()))
        .unwrap();
    let req2 = a.store.sync_request(1 << 20).unwrap().encode();
    // The network delivers the later request first, then the earlier one twice.
    let resp2 = s.handle(&a.scope, &req2).unwrap();
    let resp1 = s.handle(&a.scope, &req1).unwrap();
    let resp1b = s.handle(&a.scope, &req1).unwrap();
    // And the answers arrive out of order too.
    for r in [&resp1, &resp2, &resp1b] {
        a.store
            .apply_sync_response(&SyncResponse::decode(r).unwrap())
            .unwrap();
    }
    sync_all(&mut a, &mut s);
    assert_same(&a, &mut s, id);
    assert_eq!(s.entered[&id], 1);
    assert_eq!(s.read(id).photos.len(), 1);
}

#[test]
fn devices_see_only_their_scope_and_cannot_write_outside_it() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let mut b = device("w-b", STREET_B);
    let in_a = report(&mut a, STREET_A, 0);
    let in_b = report(&mut b, STREET_B, 0);
    sync_all(&mut a, &mut s);
    sync_all(&mut b, &mut s);
    assert!(a.store.case(in_b).is_err(), "A never receives B's case");
    assert!(b.store.case(in_a).is_err());

    // B's device records a case in street A (its grid lets it), the server refuses it.
    let stray = report(&mut b, STREET_A, 1);
    let req = b.store.sync_request(1 << 20).unwrap();
    let outcome = s.serve(&b.scope, &req);
    let (case, err) = &outcome.refused[0];
    assert_eq!(*case, stray);
    assert_eq!(err.kind, RefusalKind::OutOfScope);
    assert!(
        err.to_string().contains("not one of this worker's cells"),
        "{err}"
    );

    // A token for B cannot push A's device's changes (the actor is not bound to B's device).
    let extra = report(&mut a, STREET_A, 5);
    let forged = a.store.sync_request(1 << 20).unwrap();
    let impostor = DeviceScope {
        cells: vec![STREET_A.into()],
        ..b.scope.clone()
    };
    let outcome = s.serve(&impostor, &forged);
    let err = &outcome.refused[0].1;
    assert!(err.to_string().contains("not bound to device"), "{err}");
    assert!(
        s.backend.load(extra).unwrap().is_none(),
        "nothing of a refused request is kept"
    );
}

#[test]
fn a_device_cannot_record_desk_actions() {
    let mut s = Server::new();
    let mut a = device("w-a", STREET_A);
    let id = report(&mut a, STREET_A, 0);
    sync_all(&mut a, &mut s);
    // A tampered app writes a dispatcher's registration into its own document.
    let mut doc = gridpatrol_core::doc::CaseDoc::load(
        actor_for(&a.scope.device_id),
        &s.backend.load(id).unwrap().unwrap().save(),
        [],
    )
    .unwrap();
    let heads = doc.heads();
    let case = doc.read().unwrap();
    let mut forged = TimelineEvent::new(
        ActionKind::Register,
        "w-a",
        Role::Dispatcher,
        case.timeline.next_stamp(Utc::now()),
    );
    forged.device = Some(a.scope.device_id.clone());
    doc.append(&forged, &[]).unwrap();
    let req = SyncRequest {
        cursor: 0,
        docs: vec![gridpatrol_core::sync::DocPush {
            case: id.0,
            heads: gridpatrol_core::sync::server::heads_to_wire(&doc.heads()),
            changes: gridpatrol_core::sync::server::encode_changes(doc.changes_since(&heads)),
        }],
    };
    let outcome = s.serve(&a.scope, &req);
    let err = &outcome.refused[0].1;
    assert!(err.to_string().contains("role dispatcher"), "{err}");
    assert_eq!(s.read(id).stage(), Some(Stage::Reported));
}

#[test]
fn large_backlogs_are_paged() {
    let mut s = Server::new();
    s.sync.max_response_docs = 7;
    let mut a = device("w-a", STREET_A);
    let mut a2 = device("w-a", STREET_A);
    for i in 0..30 {
        report(&mut a, STREET_A, i);
    }
    sync_all(&mut a, &mut s);
    // A second device of the same street starts empty and pages through the backlog.
    let mut rounds = 0;
    loop {
        rounds += 1;
        let req = a2.store.sync_request(1 << 20).unwrap().encode();
        let resp = SyncResponse::decode(&s.handle(&a2.scope, &req).unwrap()).unwrap();
        let applied = a2.store.apply_sync_response(&resp).unwrap();
        if !applied.more && a2.store.outbox_len().unwrap() == 0 {
            break;
        }
        assert!(rounds < 20);
    }
    assert_eq!(a2.store.count().unwrap(), 30);
    assert!(rounds >= 30 / 7);
}

/// Random operations on three devices and the desk, with random message faults; then clean syncs.
/// Everything converges and every case entered the pool exactly once.
#[test]
fn random_faults_never_lose_or_duplicate() {
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut s = Server::new();
        let mut devices = [
            device("w-a", STREET_A),
            device("w-b", STREET_B),
            device("w-c", STREET_A),
        ];
        let streets = [STREET_A, STREET_B, STREET_A];
        let mut in_flight: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut cases: Vec<CaseId> = Vec::new();
        for step in 0..120 {
            let d = rng.random_range(0..devices.len());
            match rng.random_range(0..10) {
                0..=2 => cases.push(report(&mut devices[d], streets[d], step)),
                3 => {
                    // The desk registers something at random (if it can).
                    if let Some(id) = cases.get(rng.random_range(0..cases.len().max(1))).copied()
                        && s.backend.load(id).unwrap().is_some()
                        && s.read(id).stage() == Some(Stage::Reported)
                    {
                        s.desk(id, ActionKind::Register, Role::Dispatcher, "d-1");
                    }
                }
                4..=6 => {
                    let req = devices[d].store.sync_request(1 << 20).unwrap().encode();
                    let resp = s.handle(&devices[d].scope, &req).unwrap();
                    match rng.random_range(0..4) {
                        0 => {}                         // the response is lost
                        1 => in_flight.push((d, resp)), // delayed, applied later
                        _ => {
                            devices[d]
                                .store
                                .apply_sync_response(&SyncResponse::decode(&resp).unwrap())
                                .unwrap();
                        }
                    }
                    if rng.random_bool(0.2) {
                        // The request is duplicated by a retrying proxy.
                        s.handle(&devices[d].scope, &req).unwrap();
                    }
                }
                _ => {
                    if !in_flight.is_empty() {
                        let (d, resp) = in_flight.remove(rng.random_range(0..in_flight.len()));
                        devices[d]
                            .store
                            .apply_sync_response(&SyncResponse::decode(&resp).unwrap())
                            .unwrap();
                    }
                }
            }
        }
        for (d, resp) in in_flight.drain(..) {
            devices[d]
                .store
                .apply_sync_response(&SyncResponse::decode(&resp).unwrap())
                .unwrap();
        }
        for d in devices.iter_mut() {
            sync_all(d, &mut s);
        }
        for d in devices.iter_mut() {
            sync_all(d, &mut s);
        }
        for id in &cases {
            assert_eq!(
                s.entered.get(id),
                Some(&1),
                "seed {seed}: case {id} entered the pool once"
            );
            for (i, d) in devices.iter().enumerate() {
                let case = s.read(*id);
                if d.scope.covers(&case) {
                    assert_same(d, &mut s, *id);
                } else {
                    assert!(
                        d.store.case(*id).is_err(),
                        "seed {seed}: device {i} sees {id}"
                    );
                }
            }
        }
    }
}

fn tiny_jpeg() -> Vec<u8> {
    let mut pixels = Vec::new();
    for y in 0..48u8 {
        for x in 0..64u8 {
            pixels.extend_from_slice(&[x.wrapping_mul(3), y.wrapping_mul(5), x ^ y]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, 64, 48, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}
