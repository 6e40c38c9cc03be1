//! The fixture the change-validator target runs against: a server (the in-memory backend, the real
//! protocol and rules) holding one case a real device store reported, registered and dispatched by a
//! desk, and a handful of real device changes to mutate.

use arbitrary::Arbitrary;
use automerge::ChangeHash;
use automerge::legacy::OpType;
use chrono::Utc;
use gridpatrol_core::action::Actor;
use gridpatrol_core::case::{Case, CaseEdit, CaseId, Location, PhotoRef};
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::doc::actor_for;
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::memory::MemoryBackend;
use gridpatrol_core::sync::rules::{Created, Lists, check_shape};
use gridpatrol_core::sync::server::{SyncBackend, encode_changes, heads_to_wire};
use gridpatrol_core::sync::{
    DeviceScope, DocPush, DocStatus, ServerFacts, ServerSync, SyncRequest,
};
use gridpatrol_core::timeline::{Hlc, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role};

use sha2::{Digest, Sha256};

/// One push: for the existing case or a new one, changes that are raw bytes or mutated real ones.
#[derive(Debug, Arbitrary)]
pub struct Input {
    pub new_case: bool,
    pub changes: Vec<Piece>,
}

#[derive(Debug, Arbitrary)]
pub enum Piece {
    Raw(Vec<u8>),
    Mutated { base: u8, edits: Vec<Edit> },
}

#[derive(Debug, Arbitrary)]
pub enum Edit {
    Set { at: u16, byte: u8 },
    Insert { at: u16, bytes: Vec<u8> },
    Remove { at: u16, len: u8 },
}

/// The server side: protocol, storage, reference data, and the device's scope.
#[derive(Clone)]
struct Server {
    sync: ServerSync,
    backend: MemoryBackend,
    catalog: Catalog,
    grids: GridIndex,
    scope: DeviceScope,
}

impl Server {
    fn push(&mut self, request: &SyncRequest) -> Vec<DocStatus> {
        let facts = ServerFacts {
            catalog: &self.catalog,
            grids: &self.grids,
            now: Utc::now(),
        };
        let outcome = self
            .sync
            .serve(&mut self.backend, &self.scope, &facts, request)
            .unwrap();
        outcome
            .response
            .docs
            .into_iter()
            .map(|d| d.status)
            .collect()
    }

    fn read(&mut self, case: CaseId) -> Case {
        self.backend.load(case).unwrap().unwrap().read().unwrap()
    }
}

pub struct World {
    server: Server,
    case: CaseId,
    before: Case,
    /// The existing case's lists, as the server finds them before checking a push.
    lists: Lists,
    /// Real changes of a device: evidence and an edit on the existing case, and a new case's report.
    bases: Vec<Vec<u8>>,
    new_case: CaseId,
    _dir: tempfile::TempDir,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> World {
        let actor = actor_for("server-fuzz");
        let catalog = Catalog::builtin();
        let grids = GridIndex::new(GeneratedDistrict::demo().cells()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = DeviceStore::init(dir.path(), "w-a").unwrap();
        store.import_grids(&grids.to_geojson()).unwrap();
        let scope = DeviceScope::new(&store.identity().device_id, "w-a", vec!["110102001".into()]);
        let cell = GeneratedDistrict::demo()
            .cells()
            .into_iter()
            .find(|c| c.code.as_str().starts_with("110102001"))
            .unwrap();
        let (lat, lon) = cell.inside_point().unwrap();
        let mut report = |n: usize| {
            store
                .report(NewReport {
                    category: "06010".into(),
                    location: Location::new(lat, lon).unwrap(),
                    address: format!("门牌 {n}"),
                    description: "暴露垃圾".into(),
                    photos: vec![],
                })
                .unwrap()
        };
        let case = report(1);
        let new_case = report(2);
        let mut server = Server {
            sync: ServerSync::new(actor.clone()),
            backend: MemoryBackend::new(actor),
            catalog,
            grids,
            scope,
        };
        // Only the first case goes to the server; the second's report change is a base to mutate.
        let mut bases = vec![];
        let mut request = store.sync_request(1 << 20).unwrap();
        let new_case_push = request
            .docs
            .iter()
            .position(|d| d.case == new_case.0)
            .unwrap();
        bases.extend(request.docs.remove(new_case_push).changes);
        assert_eq!(server.push(&request), vec![DocStatus::Accepted]);
        for action in [ActionKind::Register, ActionKind::Dispatch] {
            let desk = Actor::new("d-1", Role::Dispatcher, None);
            let recorded =
                server
                    .sync
                    .record(&mut server.backend, case, action, desk, Utc::now(), |e| {
                        if action == ActionKind::Dispatch {
                            e.department = Some("城管（环卫）".into());
                            e.deadline = Some(Utc::now() + chrono::Duration::hours(4));
                        }
                        Ok::<_, std::convert::Infallible>(())
                    });
            recorded.unwrap();
        }
        // Honest changes on top of the server's document, as the device makes them.
        let mut doc = server.backend.load(case).unwrap().unwrap();
        let heads = doc.heads();
        let device = server.scope.device_id.clone();
        let mut doc = doc.fork(actor_for(&device));
        let now = Hlc {
            wall_ms: Utc::now().timestamp_millis(),
            counter: 0,
        };
        let sha = format!("{:064x}", 7);
        let mut evidence =
            TimelineEvent::new(ActionKind::AddEvidence, "w-a", Role::GridWorker, now);
        evidence.device = Some(device.clone());
        evidence.attachments = vec![sha.clone()];
        let photo = PhotoRef {
            sha256: sha.clone(),
            thumb_sha256: sha,
            bytes: 100_000,
            width: 1600,
            height: 1200,
            taken_at: None,
            gps: None,
            added_by: "w-a".into(),
            added_at: Utc::now(),
        };
        doc.append(&evidence, &[photo]).unwrap();
        let mut edit = TimelineEvent::new(ActionKind::Edit, "w-a", Role::GridWorker, now);
        edit.device = Some(device);
        edit.edit = Some(CaseEdit {
            category: None,
            address: None,
            description: Some("更正".into()),
        });
        doc.append(&edit, &[]).unwrap();
        bases.extend(encode_changes(doc.changes_since(&heads)));
        let before = server.read(case);
        let lists = Lists::of(&server.backend.load(case).unwrap().unwrap()).unwrap();
        World {
            server,
            case,
            before,
            lists,
            bases,
            new_case,
            _dir: dir,
        }
    }

    /// The change bytes an input stands for.
    fn changes(&self, input: &Input) -> Vec<Vec<u8>> {
        input
            .changes
            .iter()
            .take(8)
            .map(|p| match p {
                Piece::Raw(bytes) => bytes.clone(),
                Piece::Mutated { base, edits } => {
                    let mut bytes = self.bases[*base as usize % self.bases.len()].clone();
                    for e in edits.iter().take(16) {
                        apply(&mut bytes, e);
                    }
                    repair_checksum(&mut bytes);
                    bytes
                }
            })
            .collect()
    }

    /// The fast half, for volume: the input through the server's preparation (preflight, automerge's
    /// change decoder, the actor binding) and the shape rules against the real case's lists, with no
    /// copy of the server and no merge. Nothing may panic, and a change the shape rules pass for an
    /// existing case neither deletes nor overwrites.
    pub fn check_rules(&self, input: &Input) {
        let case = if input.new_case {
            self.new_case
        } else {
            self.case
        };
        let request = SyncRequest {
            cursor: 0,
            docs: vec![DocPush {
                case: case.0,
                heads: vec![],
                changes: self.changes(input),
            }],
        };
        let prepared = self
            .server
            .sync
            .prepare(&self.server.scope, &request)
            .unwrap();
        let Ok(decoded) = &prepared.docs[0].changes else {
            return;
        };
        let mut created = Created::default();
        if input.new_case {
            if let Some((first, rest)) = decoded.split_first()
                && check_shape(&first.ops, &Lists::default(), true, &mut created).is_ok()
            {
                for d in rest {
                    let _ = check_shape(&d.ops, &Lists::default(), false, &mut created);
                }
            }
            return;
        }
        for d in decoded {
            if check_shape(&d.ops, &self.lists, false, &mut created).is_ok() {
                for op in &d.ops.operations {
                    assert!(op.pred.is_empty(), "passed an overwrite: {op:?}");
                    assert!(
                        !matches!(op.action, OpType::Delete),
                        "passed a delete: {op:?}"
                    );
                }
            }
        }
    }

    /// Pushes the input against a copy of the server and checks what came of it.
    pub fn check(&self, input: &Input) {
        let changes = self.changes(input);
        let case = if input.new_case {
            self.new_case
        } else {
            self.case
        };
        let mut server = self.server.clone();
        let heads: Vec<ChangeHash> = vec![];
        let request = SyncRequest {
            cursor: 0,
            docs: vec![DocPush {
                case: case.0,
                heads: heads_to_wire(&heads),
                changes,
            }],
        };
        // Through the wire, as the HTTP handler gets it.
        let request = SyncRequest::decode(&request.encode()).unwrap();
        let status = server.push(&request);
        let after = server.read(self.case);
        if input.new_case {
            assert_eq!(
                after, self.before,
                "a push for another case changed this one"
            );
            return;
        }
        match &status[..] {
            [DocStatus::Refused { .. }] => {
                assert_eq!(after, self.before, "a refused push changed the case")
            }
            [DocStatus::Accepted] => {
                for entry in &self.before.timeline.entries {
                    let same: Vec<_> = after
                        .timeline
                        .entries
                        .iter()
                        .filter(|e| e.event.id == entry.event.id)
                        .collect();
                    assert_eq!(same.len(), 1, "event {} duplicated or lost", entry.event.id);
                    assert_eq!(
                        same[0].event, entry.event,
                        "event {} rewritten",
                        entry.event.id
                    );
                }
                assert_eq!(after.reporter, self.before.reporter);
                assert_eq!(after.device, self.before.device);
                assert_eq!(after.cell, self.before.cell);
                assert_eq!(after.location, self.before.location);
                assert_eq!(
                    after.details, self.before.details,
                    "details after registration"
                );
                assert_eq!(after.timeline.department, self.before.timeline.department);
                assert_eq!(after.timeline.deadline, self.before.timeline.deadline);
                for p in &self.before.photos {
                    assert!(after.photos.contains(p), "photo {} lost", p.sha256);
                }
                for e in &after.timeline.entries {
                    if !self
                        .before
                        .timeline
                        .entries
                        .iter()
                        .any(|b| b.event.id == e.event.id)
                    {
                        assert_eq!(e.event.actor, "w-a");
                        assert_eq!(e.event.role, Role::GridWorker);
                    }
                }
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match edit {
        Edit::Set { at, byte } => {
            let i = *at as usize % bytes.len();
            bytes[i] = *byte;
        }
        Edit::Insert { at, bytes: new } => {
            let i = *at as usize % (bytes.len() + 1);
            bytes.splice(i..i, new.iter().copied().take(64));
        }
        Edit::Remove { at, len } => {
            let i = *at as usize % bytes.len();
            let end = (i + *len as usize).min(bytes.len());
            bytes.drain(i..end);
        }
    }
}

/// An automerge chunk is magic (4), checksum (4), then the chunk type, a LEB128 length and the data;
/// the checksum is the first 4 bytes of the SHA-256 of what follows it. Recomputed, a mutated change
/// gets past the checksum to the decoder.
fn repair_checksum(bytes: &mut [u8]) {
    if bytes.len() > 9 {
        let digest = Sha256::digest(&bytes[8..]);
        bytes[4..8].copy_from_slice(&digest[..4]);
    }
}
