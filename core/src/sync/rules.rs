//! The server's write rules for changes from devices, checked on the changes themselves.
//!
//! A PDA can be lost, rooted or tampered with, and an automerge change can say anything: edit an event
//! in place, delete one, forge a dispatcher's, reuse an event id so that replay picks the forgery. So,
//! as CouchDB's `validate_doc_update` and Firebase's security rules check every write (and as Kleppmann
//! argues in "Making CRDTs Byzantine Fault Tolerant", PaPoC 2022), every operation of every change a
//! device sends is decoded and allowed only if the case schema ([`crate::doc`]) and the worker's role
//! allow it:
//! - a case's first change creates it: it writes the root fields once, creating every object it uses;
//! - every later change only inserts new maps into the two append-only lists (`timeline`, `photos`) and
//!   fills in objects it created itself, each field once, with the type the schema gives it;
//! - nothing else: no operation on an object the change did not create, no overwrite (a predecessor),
//!   no delete, no counter, no text or mark.
//!
//! Then the events and photos the change added are checked as facts: the device's own worker, role and
//! device; an action a grid worker may take; a fresh event id; times within a window of the server
//! clock; a known category; text within its limits. A new case's location is located on the server's
//! grid. And, as a second line of defence, the state before and after is compared: every earlier event,
//! photo and reported fact must read back unchanged.

use std::collections::{HashMap, HashSet};

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, ExpandedChange, ObjType, ScalarValue};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::preflight::ChangeBudget;
use super::server::DeviceScope;
use crate::case::{Case, MAX_ADDRESS_CHARS, MAX_DESCRIPTION_CHARS, PhotoRef};
use crate::catalog::Catalog;
use crate::doc::{CaseDoc, ObjKey, Reported};
use crate::grid::GridIndex;
use crate::timeline::TimelineEvent;
use crate::workflow::{ActionKind, Role};

/// What devices may send, per request, change and case. Server settings, with these defaults.
#[derive(Debug, Clone)]
pub struct DeviceLimits {
    /// One encoded change (a report with a dozen photos is a few KiB).
    pub max_change_bytes: usize,
    /// Operations in one change (a report with a dozen photos is about 200).
    pub max_change_ops: u64,
    /// A case document: the sum of its changes' bytes, everyone's.
    pub max_case_bytes: u64,
    /// Changes for one case in one request.
    pub max_changes_per_case: usize,
    /// Documents in one request (pushes and acknowledgements).
    pub max_docs_per_request: usize,
    /// Heads a device may name for one document.
    pub max_heads: usize,
    /// How far ahead of the server's clock a device's time may be.
    pub clock_skew: Duration,
    /// How old a report, event or photo may be when it reaches the server (a PDA offline that long
    /// has to be looked at by a person).
    pub max_age: Duration,
    /// The largest hybrid-logical-clock counter accepted: a counter near `u32::MAX` cannot advance.
    pub max_counter: u32,
}

impl Default for DeviceLimits {
    fn default() -> Self {
        DeviceLimits {
            max_change_bytes: 256 * 1024,
            max_change_ops: 4_096,
            max_case_bytes: 1024 * 1024,
            max_changes_per_case: 256,
            max_docs_per_request: 2_000,
            max_heads: 64,
            clock_skew: Duration::minutes(10),
            max_age: Duration::days(30),
            max_counter: 1 << 16,
        }
    }
}

impl DeviceLimits {
    pub fn change_budget(&self) -> ChangeBudget {
        ChangeBudget {
            max_bytes: self.max_change_bytes,
            max_ops: self.max_change_ops,
        }
    }
}

/// What the server knows that a device's claims are checked against.
#[derive(Clone, Copy)]
pub struct ServerFacts<'a> {
    pub catalog: &'a Catalog,
    pub grids: &'a GridIndex,
    pub now: DateTime<Utc>,
}

/// Why a document was refused: a machine-readable kind and a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// The bytes do not decode as changes of a case document.
    Malformed,
    /// A write rule: the change touches what a device may not (tampering, or a bug).
    Tampered,
    /// The case is outside the device's cells and tasks.
    OutOfScope,
    /// The workflow does not let this worker do this (e.g. verify someone else's task).
    NotAllowed,
    /// A fact is wrong: location, cell, category, text length, ids.
    BadFact,
    /// A time too far ahead of the server's clock, too old, or a clock that cannot advance.
    Clock,
    /// A change or the case document is larger than the limits.
    TooLarge,
}

impl RefusalKind {
    pub fn code(self) -> &'static str {
        match self {
            RefusalKind::Malformed => "malformed",
            RefusalKind::Tampered => "tampered",
            RefusalKind::OutOfScope => "out_of_scope",
            RefusalKind::NotAllowed => "not_allowed",
            RefusalKind::BadFact => "bad_fact",
            RefusalKind::Clock => "clock",
            RefusalKind::TooLarge => "too_large",
        }
    }

    /// The HTTP status the refusal would have on its own (the sync answer carries it per case).
    pub fn status(self) -> u16 {
        match self {
            RefusalKind::Malformed => 400,
            RefusalKind::Tampered | RefusalKind::OutOfScope | RefusalKind::NotAllowed => 403,
            RefusalKind::BadFact | RefusalKind::Clock => 422,
            RefusalKind::TooLarge => 413,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

pub(crate) fn refuse<T>(kind: RefusalKind, reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        kind,
        reason: reason.into(),
    })
}

fn tampered<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    refuse(RefusalKind::Tampered, reason)
}

// --- the shape of a change: which objects it touches, and how ------------------------------------------

/// The kinds of object in a case document ([`crate::doc`]'s schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Location,
    Details,
    PhotoList,
    Photo,
    Timeline,
    Event,
    Attachments,
    Edit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Str,
    OptStr,
    Int,
    OptInt,
    F64,
    OptF64,
    Obj(Kind, ObjType),
}

/// The fields each map kind may hold. `doc.rs` writes exactly these.
fn field(kind: Kind, name: &str) -> Option<Field> {
    use Field::*;
    let f = match (kind, name) {
        (Kind::Root, "schema" | "created_ms") => Int,
        (Kind::Root, "id" | "reporter" | "device") => Str,
        (Kind::Root, "cell") => OptStr,
        (Kind::Root, "location") => Obj(Kind::Location, ObjType::Map),
        (Kind::Root, "details") => Obj(Kind::Details, ObjType::Map),
        (Kind::Root, "photos") => Obj(Kind::PhotoList, ObjType::List),
        (Kind::Root, "timeline") => Obj(Kind::Timeline, ObjType::List),
        (Kind::Location, "lat" | "lon") => F64,
        (Kind::Location, "accuracy_m") => OptF64,
        (Kind::Location, "fix_ms") => OptInt,
        (Kind::Details, "standard" | "code" | "address" | "description") => Str,
        (Kind::Photo, "sha256" | "thumb_sha256" | "added_by") => Str,
        (Kind::Photo, "bytes" | "width" | "height" | "added_ms") => Int,
        (Kind::Photo, "taken_at") => OptStr,
        (Kind::Photo, "lat" | "lon") => OptF64,
        (Kind::Event, "id" | "actor" | "role" | "action" | "assignee") => Str,
        (Kind::Event, "wall_ms" | "counter") => Int,
        (Kind::Event, "device" | "note" | "department") => OptStr,
        (Kind::Event, "deadline_ms") => OptInt,
        (Kind::Event, "attachments") => Obj(Kind::Attachments, ObjType::List),
        (Kind::Event, "edit") => Obj(Kind::Edit, ObjType::Map),
        (Kind::Edit, "standard" | "code" | "address" | "description") => OptStr,
        _ => return None,
    };
    Some(f)
}

/// What a list kind holds.
fn element(kind: Kind) -> Option<Field> {
    match kind {
        Kind::PhotoList => Some(Field::Obj(Kind::Photo, ObjType::Map)),
        Kind::Timeline => Some(Field::Obj(Kind::Event, ObjType::Map)),
        Kind::Attachments => Some(Field::Str),
        _ => None,
    }
}

/// The longest string any field may hold, in bytes (the field limits below are tighter); bounds what a
/// change can make the server keep before the facts are read.
const MAX_STRING_BYTES: usize = 8 * 1024;

fn value_fits(field: Field, value: &ScalarValue) -> bool {
    match (field, value) {
        (Field::Str | Field::OptStr, ScalarValue::Str(s)) => s.len() <= MAX_STRING_BYTES,
        (Field::OptStr | Field::OptInt | Field::OptF64, ScalarValue::Null) => true,
        (Field::Int | Field::OptInt, ScalarValue::Int(_) | ScalarValue::Uint(_)) => true,
        (Field::F64 | Field::OptF64, ScalarValue::F64(f)) => f.is_finite(),
        _ => false,
    }
}

/// The lists of an existing case a change may insert into.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub timeline: Option<ObjKey>,
    pub photos: Option<ObjKey>,
}

impl Lists {
    pub fn of(doc: &CaseDoc) -> Result<Lists, Refusal> {
        let (timeline, photos) = doc.list_keys().map_err(|e| Refusal {
            kind: RefusalKind::Malformed,
            reason: format!("the stored case does not read: {e}"),
        })?;
        Ok(Lists { timeline, photos })
    }
}

/// The objects a set of changes created, by kind.
#[derive(Debug, Default)]
pub struct Created {
    objects: HashMap<ObjKey, Kind>,
    /// Each map and which fields it has been given.
    written: HashMap<ObjKey, HashSet<String>>,
    root_written: HashSet<String>,
}

impl Created {
    fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &ObjKey> {
        self.objects
            .iter()
            .filter(move |(_, k)| **k == kind)
            .map(|(o, _)| o)
    }

    pub fn is_event(&self, key: &Option<ObjKey>) -> bool {
        key.as_ref()
            .is_some_and(|k| self.objects.get(k) == Some(&Kind::Event))
    }

    pub fn is_photo(&self, key: &Option<ObjKey>) -> bool {
        key.as_ref()
            .is_some_and(|k| self.objects.get(k) == Some(&Kind::Photo))
    }

    pub fn events(&self) -> usize {
        self.of_kind(Kind::Event).count()
    }
}

/// Checks every operation of `change` against the schema. `creating`: the change is a new case's first
/// and may write the root; otherwise it may only insert into `lists`. Objects the change creates are
/// recorded in `created` (and are writable only by this change).
pub fn check_shape(
    change: &ExpandedChange,
    lists: &Lists,
    creating: bool,
    created: &mut Created,
) -> Result<(), Refusal> {
    let actor = &change.actor_id;
    // Objects of earlier changes of the same request are closed to this one.
    let mut mine: HashSet<ObjKey> = HashSet::new();
    for (i, op) in change.operations.iter().enumerate() {
        let id = ObjKey {
            counter: change.start_op.get() + i as u64,
            actor: actor.clone(),
        };
        if !op.pred.is_empty() {
            return tampered(format!(
                "operation {i} overwrites or deletes an earlier value: records are written once (不得改写或删除已有记录)"
            ));
        }
        let value_field = match &op.action {
            OpType::Put(v) => Some(v),
            OpType::Make(ObjType::Map | ObjType::List) => None,
            OpType::Delete => {
                return tampered(format!(
                    "operation {i} deletes: nothing in a case is ever deleted (不得删除记录)"
                ));
            }
            _ => {
                return tampered(format!(
                    "operation {i} is of a kind case documents never use (非法操作类型)"
                ));
            }
        };
        let parent = match &op.obj {
            ObjectId::Root if creating => Kind::Root,
            ObjectId::Root => {
                return tampered(
                    "the change rewrites the case's reported facts: they are written once, when the case is created (不得修改案件原始信息)",
                );
            }
            ObjectId::Id(opid) => {
                let key = ObjKey {
                    counter: opid.0,
                    actor: opid.1.clone(),
                };
                if mine.contains(&key) {
                    created.objects[&key]
                } else if lists.timeline.as_ref() == Some(&key) {
                    Kind::Timeline
                } else if lists.photos.as_ref() == Some(&key) {
                    Kind::PhotoList
                } else {
                    return tampered(format!(
                        "operation {i} changes an object this change did not create: earlier records may not be edited (不得修改已有记录)"
                    ));
                }
            }
        };
        let expected = if let Some(element) = element(parent) {
            if !op.insert {
                return tampered(format!(
                    "operation {i} replaces a list entry: lists only grow (记录只能追加)"
                ));
            }
            element
        } else {
            if op.insert {
                return tampered(format!("operation {i} inserts into a map (非法操作)"));
            }
            let Key::Map(name) = &op.key else {
                return tampered(format!("operation {i} has no field name (非法操作)"));
            };
            let Some(f) = field(parent, name) else {
                return tampered(format!(
                    "operation {i} writes an unknown field {:?} (未知字段)",
                    truncate(name)
                ));
            };
            let written = match &op.obj {
                ObjectId::Root => &mut created.root_written,
                ObjectId::Id(opid) => created
                    .written
                    .entry(ObjKey {
                        counter: opid.0,
                        actor: opid.1.clone(),
                    })
                    .or_default(),
            };
            if !written.insert(name.to_string()) {
                return tampered(format!(
                    "operation {i} writes field {name} twice: records are written once (字段重复写入)"
                ));
            }
            f
        };
        match (expected, value_field) {
            (Field::Obj(kind, ty), None) if op.action == OpType::Make(ty) => {
                created.objects.insert(id.clone(), kind);
                mine.insert(id);
            }
            (f, Some(v)) if !matches!(f, Field::Obj(..)) && value_fits(f, v) => {}
            _ => {
                return tampered(format!(
                    "operation {i} writes a value of the wrong type or size (字段类型或长度不符)"
                ));
            }
        }
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

// --- the facts: what the events, photos and the report say ---------------------------------------------

/// The actions a device records (the rest are desks' and the server's).
const DEVICE_ACTIONS: [ActionKind; 5] = [
    ActionKind::Report,
    ActionKind::AddEvidence,
    ActionKind::Edit,
    ActionKind::VerifyPass,
    ActionKind::VerifyFail,
];
/// Photos one event may bring.
const MAX_ATTACHMENTS: usize = 32;
/// A photo's longest side (the device resizes to 1600 px).
pub const MAX_PHOTO_SIDE: u64 = 8_192;
/// The largest photo blob.
pub const MAX_PHOTO_BYTES: u64 = 64 * 1024 * 1024;
/// A fix worse than this (metres) is not a position.
const MAX_ACCURACY_M: f64 = 10_000.0;
const MAX_ID_CHARS: usize = 100;
const MAX_TAKEN_AT_CHARS: usize = 40;

/// Checks a time a device claims against the server's clock.
fn check_time(
    what: &str,
    at: DateTime<Utc>,
    facts: &ServerFacts<'_>,
    limits: &DeviceLimits,
) -> Result<(), Refusal> {
    if at > facts.now + limits.clock_skew {
        return refuse(
            RefusalKind::Clock,
            format!(
                "{what} is stamped {at}, ahead of the server's clock ({now}) by more than {skew} min: set the device's clock (设备时间超前，请校准时间)",
                now = facts.now,
                skew = limits.clock_skew.num_minutes()
            ),
        );
    }
    if at < facts.now - limits.max_age {
        return refuse(
            RefusalKind::Clock,
            format!(
                "{what} is stamped {at}, more than {days} days before the server's clock: ask the command centre to enter it (记录时间过早)",
                days = limits.max_age.num_days()
            ),
        );
    }
    Ok(())
}

fn check_len(what: &str, text: &str, max: usize) -> Result<(), Refusal> {
    let n = text.chars().count();
    if n > max {
        return refuse(
            RefusalKind::BadFact,
            format!("{what} has {n} characters, at most {max} (内容过长)"),
        );
    }
    Ok(())
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The checks every event a device adds passes. `before` is the case as the server had it (`None`
/// when the device creates it); `ids` the event ids already in the case, to which this one is added.
#[allow(clippy::too_many_arguments)] // each is a distinct fact the rules need
pub fn check_device_event(
    scope: &DeviceScope,
    facts: &ServerFacts<'_>,
    limits: &DeviceLimits,
    before: Option<&Case>,
    reporter_device: &str,
    e: &TimelineEvent,
    ids: &mut HashSet<Uuid>,
    photos: &[PhotoRef],
) -> Result<(), Refusal> {
    if e.role != Role::GridWorker || e.actor != scope.worker_id {
        return refuse(
            RefusalKind::NotAllowed,
            format!(
                "event {} ({}) is recorded as {} in role {}: a device may only record its own worker's actions (设备只能记录本网格员的操作)",
                e.id,
                e.action,
                truncate(&e.actor),
                e.role
            ),
        );
    }
    if e.device.as_deref() != Some(scope.device_id.as_str()) {
        return refuse(
            RefusalKind::NotAllowed,
            format!("event {} names another device (事件设备不符)", e.id),
        );
    }
    if !DEVICE_ACTIONS.contains(&e.action) {
        return refuse(
            RefusalKind::NotAllowed,
            format!(
                "a grid worker's device may not record {} (设备无权记录此操作)",
                e.action
            ),
        );
    }
    if e.action == ActionKind::Report && before.is_some() {
        return refuse(
            RefusalKind::NotAllowed,
            "the case is already reported (案件已上报)",
        );
    }
    if !ids.insert(e.id) {
        return refuse(
            RefusalKind::Tampered,
            format!(
                "event id {} is already in the case: every event has its own id (事件编号重复)",
                e.id
            ),
        );
    }
    check_time(&format!("event {}", e.id), e.at.time(), facts, limits)?;
    if e.at.counter > limits.max_counter {
        return refuse(
            RefusalKind::Clock,
            format!(
                "event {} has clock counter {}, above {}: the clock could not advance after it (时钟计数异常)",
                e.id, e.at.counter, limits.max_counter
            ),
        );
    }
    if e.department.is_some() || e.deadline.is_some() || e.assignee.is_some() {
        return refuse(
            RefusalKind::NotAllowed,
            "a device's event may not set a department, deadline or assignee (设备不得指定部门、时限或核查人)",
        );
    }
    if let Some(note) = &e.note {
        check_len("the note", note, MAX_DESCRIPTION_CHARS)?;
    }
    if e.attachments.len() > MAX_ATTACHMENTS {
        return refuse(
            RefusalKind::TooLarge,
            format!("an event brings at most {MAX_ATTACHMENTS} photos (照片过多)"),
        );
    }
    for sha in &e.attachments {
        if !photos.iter().any(|p| &p.sha256 == sha) {
            return refuse(
                RefusalKind::BadFact,
                format!(
                    "event {} attaches photo {} that the case does not reference (附件照片不存在)",
                    e.id,
                    truncate(sha)
                ),
            );
        }
    }
    match e.action {
        ActionKind::Edit => {
            if reporter_device != scope.device_id {
                return refuse(
                    RefusalKind::NotAllowed,
                    "only the reporting device may correct a report (只有上报设备可以修改案件)",
                );
            }
            let Some(edit) = &e.edit else {
                return refuse(
                    RefusalKind::BadFact,
                    "an edit without changes (修改内容为空)",
                );
            };
            if let Some(c) = &edit.category
                && facts.catalog.get(c).is_none()
            {
                return refuse(
                    RefusalKind::BadFact,
                    format!(
                        "unknown category {}:{} (未知的案件类别)",
                        truncate(&c.standard),
                        truncate(&c.code)
                    ),
                );
            }
            if let Some(a) = &edit.address {
                check_len("the address", a, MAX_ADDRESS_CHARS)?;
            }
            if let Some(d) = &edit.description {
                check_len("the description", d, MAX_DESCRIPTION_CHARS)?;
            }
        }
        _ if e.edit.is_some() => {
            return refuse(
                RefusalKind::BadFact,
                "only an edit event carries changes (非修改事件不得携带修改内容)",
            );
        }
        ActionKind::VerifyPass | ActionKind::VerifyFail => {
            let assigned = before.is_some_and(|c| {
                c.timeline.entries.iter().any(|x| {
                    !x.is_flagged()
                        && x.event.action == ActionKind::RequestVerification
                        && x.event.assignee.as_deref() == Some(scope.worker_id.as_str())
                })
            });
            if !assigned {
                return refuse(
                    RefusalKind::NotAllowed,
                    format!(
                        "worker {} was never asked to verify this case: only the assigned verifier may verify (仅指定核查人可以核查)",
                        scope.worker_id
                    ),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// The checks every photo reference a device adds passes.
pub fn check_device_photo(
    scope: &DeviceScope,
    facts: &ServerFacts<'_>,
    limits: &DeviceLimits,
    p: &PhotoRef,
) -> Result<(), Refusal> {
    let bad = |what: &str| {
        refuse(
            RefusalKind::BadFact,
            format!("photo {}: {what} (照片信息不符)", truncate(&p.sha256)),
        )
    };
    if !is_sha256(&p.sha256) || !is_sha256(&p.thumb_sha256) {
        return bad("not a sha256");
    }
    if p.added_by != scope.worker_id {
        return bad("added by another worker");
    }
    if p.bytes == 0 || p.bytes > MAX_PHOTO_BYTES {
        return bad("size out of range");
    }
    if !(1..=MAX_PHOTO_SIDE).contains(&u64::from(p.width))
        || !(1..=MAX_PHOTO_SIDE).contains(&u64::from(p.height))
    {
        return bad("dimensions out of range");
    }
    if p.taken_at
        .as_deref()
        .is_some_and(|t| t.chars().count() > MAX_TAKEN_AT_CHARS)
    {
        return bad("capture time too long");
    }
    if let Some(g) = p.gps
        && !(in_range(g.lat, -90.0, 90.0) && in_range(g.lon, -180.0, 180.0))
    {
        return bad("position out of range");
    }
    check_time("a photo", p.added_at, facts, limits)
}

fn in_range(v: f64, lo: f64, hi: f64) -> bool {
    v.is_finite() && (lo..=hi).contains(&v)
}

/// The facts a new case was created with, checked against the server's own: its id is the one the
/// request names, the reporter and device are the token's, the position is a position, the cell is
/// where the server's grid puts it and is (or was, when reported) the worker's, the category exists,
/// the times are sane.
pub fn check_reported(
    scope: &DeviceScope,
    facts: &ServerFacts<'_>,
    limits: &DeviceLimits,
    labelled: Uuid,
    r: &Reported,
) -> Result<(), Refusal> {
    if r.id.0 != labelled {
        return refuse(
            RefusalKind::Tampered,
            format!(
                "the document is case {}, but the request names case {labelled} (案件编号不符)",
                r.id
            ),
        );
    }
    if r.reporter != scope.worker_id || r.device != scope.device_id {
        return refuse(
            RefusalKind::NotAllowed,
            format!(
                "the case names reporter {} on device {}, but this token is for {} on {} (上报人与令牌不符)",
                truncate(&r.reporter),
                truncate(&r.device),
                scope.worker_id,
                scope.device_id
            ),
        );
    }
    let l = &r.location;
    if !in_range(l.lat, -90.0, 90.0) || !in_range(l.lon, -180.0, 180.0) {
        return refuse(
            RefusalKind::BadFact,
            format!(
                "position ({}, {}) is not a WGS-84 position (坐标超出范围)",
                l.lat, l.lon
            ),
        );
    }
    if let Some(a) = l.accuracy_m
        && !(a.is_finite() && a > 0.0 && a <= MAX_ACCURACY_M)
    {
        return refuse(
            RefusalKind::BadFact,
            format!("accuracy {a} m is not between 0 and {MAX_ACCURACY_M} m (定位精度异常)"),
        );
    }
    check_time("the report", r.created_at, facts, limits)?;
    if let Some(fix) = l.fix_time {
        check_time("the position fix", fix, facts, limits)?;
    }
    let category = &r.details.category;
    if facts.catalog.get(category).is_none() {
        return refuse(
            RefusalKind::BadFact,
            format!(
                "unknown category {}:{} (未知的案件类别)",
                truncate(&category.standard),
                truncate(&category.code)
            ),
        );
    }
    check_len("the address", &r.details.address, MAX_ADDRESS_CHARS)?;
    check_len(
        "the description",
        &r.details.description,
        MAX_DESCRIPTION_CHARS,
    )?;
    check_len("the reporter", &r.reporter, MAX_ID_CHARS)?;
    let located = facts.grids.locate(l.lat, l.lon).cell();
    let Some(cell) = located.map(|c| c.code.as_str().to_owned()) else {
        return refuse(
            RefusalKind::BadFact,
            format!(
                "position ({}, {}) is in none of the district's grid cells (位置不在本辖区网格内)",
                l.lat, l.lon
            ),
        );
    };
    if r.cell.as_deref() != Some(cell.as_str()) {
        return refuse(
            RefusalKind::BadFact,
            format!(
                "the case says cell {}, but its position is in cell {cell}: the device's grid is out of date or wrong (网格编号与位置不符)",
                r.cell
                    .as_deref()
                    .map(truncate)
                    .unwrap_or_else(|| "(none)".into())
            ),
        );
    }
    if !scope.covered_cell_at(&cell, r.created_at) {
        return refuse(
            RefusalKind::OutOfScope,
            format!("cell {cell} is not one of this worker's cells (不在本网格员负责的网格内)"),
        );
    }
    Ok(())
}

/// The second line of defence: whatever the rules above let through, everything the case held before
/// reads back the same after.
pub fn check_unchanged(before: &CaseDoc, after: &CaseDoc) -> Result<(), Refusal> {
    fn read<T>(r: crate::Result<T>) -> Result<T, Refusal> {
        r.map_err(|e| Refusal {
            kind: RefusalKind::Tampered,
            reason: format!("the case no longer reads after the change: {e} (变更后案件无法读取)"),
        })
    }
    let (r0, r1) = (read(before.reported())?, read(after.reported())?);
    if r0 != r1 {
        return tampered("the case's reported facts changed (不得修改案件原始信息)");
    }
    let e1 = read(after.keyed_events())?;
    for (key, e) in read(before.keyed_events())? {
        if !e1.iter().any(|(k, x)| *k == key && *x == e) {
            return tampered(format!(
                "event {} ({}) changed or disappeared (不得修改或删除已有记录)",
                e.id, e.action
            ));
        }
    }
    let p1 = read(after.keyed_photos())?;
    for (key, p) in read(before.keyed_photos())? {
        if !p1.iter().any(|(k, x)| *k == key && *x == p) {
            return tampered(format!(
                "photo {} changed or disappeared (不得修改或删除照片)",
                truncate(&p.sha256)
            ));
        }
    }
    Ok(())
}

/// A device id may never be (a prefix of) the server's own automerge actors or the system's name, so
/// that no device can write as the server.
pub fn reserved_device_id(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    lower.starts_with("server") || lower == "system"
}

/// Whether an actor is a device's (not a server process's).
pub fn is_device_actor(actor: &ActorId, device_id: &str) -> bool {
    *actor == crate::doc::actor_for(device_id) && !reserved_device_id(device_id)
}
