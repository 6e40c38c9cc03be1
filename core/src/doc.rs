//! One automerge document per case.
//!
//! Schema (version 1), under the root map:
//! ```text
//! schema: uint 1          id, reporter, device: str     cell: str | null     created_ms: int
//! location: { lat: f64, lon: f64, accuracy_m: f64 | null, fix_ms: int | null }
//! details:  { standard: str, code: str, address: str, description: str }   -- as reported, never rewritten
//! photos:   [ { sha256, thumb_sha256, bytes, width, height, taken_at|null, lat|null, lon|null,
//!               added_by, added_ms } ]
//! timeline: [ { id, wall_ms, counter, actor, role, device|null, action, note|null, department|null,
//!               deadline_ms|null, attachments: [str], edit: {standard?, code?, address?, description?}?,
//!               assignee? } ]
//! ```
//! Every list is append-only and every map is written once, so concurrent edits never overwrite each
//! other: corrections are `edit` events in the timeline, and the stage and current details are derived by
//! replay ([`crate::timeline`]).

use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
    transaction::Transactable,
};
use chrono::{DateTime, TimeZone, Utc};

use crate::case::{Case, CaseDetails, CaseEdit, CaseId, Location, PhotoRef};
use crate::catalog::CategoryKey;
use crate::photo::GpsFix;
use crate::timeline::{Hlc, Timeline, TimelineEvent};
use crate::{Error, Result};

pub const SCHEMA_VERSION: u64 = 1;

/// Who writes to a document: the automerge actor is derived from the device (or server) id, so that
/// the server can check that a change really comes from the device that sends it.
pub fn actor_for(device_or_server_id: &str) -> ActorId {
    ActorId::from(device_or_server_id.as_bytes())
}

/// An automerge object's identity: the id of the operation that created it. The same on every replica,
/// and what the operations of a decoded change name, so the server can tell which objects a change
/// touches ([`crate::sync::rules`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjKey {
    pub counter: u64,
    pub actor: ActorId,
}

impl ObjKey {
    /// `None` for the root map.
    pub fn of(id: &ObjId) -> Option<ObjKey> {
        match id {
            ObjId::Root => None,
            ObjId::Id(counter, actor, _) => Some(ObjKey {
                counter: *counter,
                actor: actor.clone(),
            }),
        }
    }
}

/// The facts a new case starts with.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub id: CaseId,
    pub reporter: String,
    pub device: String,
    pub cell: Option<String>,
    pub location: Location,
    pub details: CaseDetails,
    pub created_at: DateTime<Utc>,
}

/// The facts a case document is created with; nobody rewrites them afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    pub id: CaseId,
    pub reporter: String,
    pub device: String,
    pub cell: Option<String>,
    pub location: Location,
    pub created_at: DateTime<Utc>,
    pub details: CaseDetails,
}

/// A case read together with its raw items ([`CaseDoc::read_keyed`]).
#[derive(Debug, Clone)]
pub struct KeyedCase {
    pub case: Case,
    pub reported: Reported,
    /// Every event as stored (merge order), with the map that holds it.
    pub events: Vec<(Option<ObjKey>, TimelineEvent)>,
    /// Every photo reference as stored (duplicates included), with the map that holds it.
    pub photos: Vec<(Option<ObjKey>, PhotoRef)>,
}

fn case_of(r: Reported, timeline: Timeline, photos: Vec<PhotoRef>) -> Case {
    Case {
        id: r.id,
        reporter: r.reporter,
        device: r.device,
        cell: r.cell,
        location: r.location,
        created_at: r.created_at,
        details: timeline.details(&r.details),
        photos,
        timeline,
    }
}

/// A case's automerge document.
pub struct CaseDoc {
    doc: AutoCommit,
}

impl CaseDoc {
    /// Creates the document with its first event (the report) in one change.
    pub fn create(
        actor: ActorId,
        case: &NewCase,
        report: &TimelineEvent,
        photos: &[PhotoRef],
    ) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(actor);
        doc.put(ROOT, "schema", SCHEMA_VERSION)?;
        doc.put(ROOT, "id", case.id.to_string())?;
        doc.put(ROOT, "reporter", case.reporter.as_str())?;
        doc.put(ROOT, "device", case.device.as_str())?;
        put_opt_str(&mut doc, &ROOT, "cell", case.cell.as_deref())?;
        doc.put(ROOT, "created_ms", case.created_at.timestamp_millis())?;

        let loc = doc.put_object(ROOT, "location", ObjType::Map)?;
        doc.put(&loc, "lat", case.location.lat)?;
        doc.put(&loc, "lon", case.location.lon)?;
        put_opt(&mut doc, &loc, "accuracy_m", case.location.accuracy_m)?;
        put_opt(
            &mut doc,
            &loc,
            "fix_ms",
            case.location.fix_time.map(|t| t.timestamp_millis()),
        )?;

        let details = doc.put_object(ROOT, "details", ObjType::Map)?;
        doc.put(
            &details,
            "standard",
            case.details.category.standard.as_str(),
        )?;
        doc.put(&details, "code", case.details.category.code.as_str())?;
        doc.put(&details, "address", case.details.address.as_str())?;
        doc.put(&details, "description", case.details.description.as_str())?;

        doc.put_object(ROOT, "photos", ObjType::List)?;
        doc.put_object(ROOT, "timeline", ObjType::List)?;
        let mut this = CaseDoc { doc };
        for photo in photos {
            this.write_photo(photo)?;
        }
        this.write_event(report)?;
        this.doc.commit();
        Ok(this)
    }

    /// Loads a document from a snapshot followed by incremental chunks, as the store keeps them.
    pub fn load<'a>(
        actor: ActorId,
        snapshot: &[u8],
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self> {
        let mut doc = AutoCommit::load(snapshot)?.with_actor(actor);
        for chunk in chunks {
            doc.load_incremental(chunk)?;
        }
        Ok(CaseDoc { doc })
    }

    /// Appends an event (and, with it, photos it brings) as one change.
    pub fn append(&mut self, event: &TimelineEvent, photos: &[PhotoRef]) -> Result<()> {
        for photo in photos {
            self.write_photo(photo)?;
        }
        self.write_event(event)?;
        self.doc.commit();
        Ok(())
    }

    pub fn merge(&mut self, other: &mut CaseDoc) -> Result<()> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    pub fn fork(&mut self, actor: ActorId) -> CaseDoc {
        CaseDoc {
            doc: self.doc.fork().with_actor(actor),
        }
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Only the changes made since `heads` (what the store appends after an action).
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// The automerge document, to read.
    pub fn automerge_ref(&self) -> &AutoCommit {
        &self.doc
    }

    /// Builds a document from changes received over sync (a case first seen on this replica).
    pub fn from_changes(actor: ActorId, changes: Vec<Change>) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(actor);
        doc.apply_changes(changes)?;
        Ok(CaseDoc { doc })
    }

    /// Applies changes received over sync. Changes already present are ignored, so a retry is harmless.
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> Result<()> {
        self.doc.apply_changes(changes)?;
        Ok(())
    }

    /// The changes a replica that has `have` (heads) lacks. Unknown hashes in `have` are ignored, so the
    /// answer is never short.
    pub fn changes_since(&mut self, have: &[ChangeHash]) -> Vec<Change> {
        // The common answer, cheaply: a replica that has every head lacks nothing. (Asking automerge
        // whether it knows a hash rebuilds that change from the op set.)
        let heads = self.doc.get_heads();
        if heads.iter().all(|h| have.contains(h)) {
            return Vec::new();
        }
        let known: Vec<ChangeHash> = have
            .iter()
            .copied()
            .filter(|h| self.doc.get_change_by_hash(h).is_some())
            .collect();
        self.doc.get_changes(&known)
    }

    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(hash).is_some()
    }

    /// Dependencies of received changes that have not arrived: non-empty means the document is
    /// incomplete (some changes are queued until their dependencies come).
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    /// The facts written once when the case was created.
    pub fn reported(&self) -> Result<Reported> {
        let d = &self.doc;
        let schema = get_u64(d, &ROOT, "schema")?;
        if schema != SCHEMA_VERSION {
            return Err(Error::Document(format!(
                "schema version {schema}, this build reads {SCHEMA_VERSION}"
            )));
        }
        let loc = get_obj(d, &ROOT, "location")?;
        let details = get_obj(d, &ROOT, "details")?;
        Ok(Reported {
            id: get_str(d, &ROOT, "id")?
                .parse()
                .map_err(|_| malformed("id"))?,
            reporter: get_str(d, &ROOT, "reporter")?,
            device: get_str(d, &ROOT, "device")?,
            cell: get_opt_str(d, &ROOT, "cell")?,
            location: Location {
                lat: get_f64(d, &loc, "lat")?,
                lon: get_f64(d, &loc, "lon")?,
                accuracy_m: get_opt_f64(d, &loc, "accuracy_m")?,
                fix_time: get_opt_i64(d, &loc, "fix_ms")?.map(ms_to_time),
            },
            created_at: ms_to_time(get_i64(d, &ROOT, "created_ms")?),
            details: CaseDetails {
                category: CategoryKey {
                    standard: get_str(d, &details, "standard")?,
                    code: get_str(d, &details, "code")?,
                },
                address: get_str(d, &details, "address")?,
                description: get_str(d, &details, "description")?,
            },
        })
    }

    /// The case as people see it: fields read back and the timeline replayed.
    pub fn read(&self) -> Result<Case> {
        let r = self.reported()?;
        let timeline = Timeline::replay(self.events()?);
        Ok(case_of(r, timeline, self.photos()?))
    }

    /// The case, and what it was read from: the report, and every event and photo reference as stored
    /// with the map that holds it. One pass over the document, for a reader that needs both (the
    /// server's write rules check the items a change created, then store the case).
    pub fn read_keyed(&self) -> Result<KeyedCase> {
        let reported = self.reported()?;
        let events = self.keyed_events()?;
        let photos = self.keyed_photos()?;
        let timeline = Timeline::replay(events.iter().map(|(_, e)| e.clone()).collect());
        let mut once: Vec<PhotoRef> = Vec::new();
        for (_, p) in &photos {
            if !once.iter().any(|q| q.sha256 == p.sha256) {
                once.push(p.clone());
            }
        }
        Ok(KeyedCase {
            case: case_of(reported.clone(), timeline, once),
            reported,
            events,
            photos,
        })
    }

    /// The events as stored (merge order, not replay order).
    pub fn events(&self) -> Result<Vec<TimelineEvent>> {
        let d = &self.doc;
        let list = get_obj(d, &ROOT, "timeline")?;
        (0..d.length(&list))
            .map(|i| {
                let m = list_obj(d, &list, i)?;
                read_event(d, &m)
            })
            .collect()
    }

    /// The two append-only lists: (timeline, photos).
    pub fn list_keys(&self) -> Result<(Option<ObjKey>, Option<ObjKey>)> {
        let d = &self.doc;
        Ok((
            ObjKey::of(&get_obj(d, &ROOT, "timeline")?),
            ObjKey::of(&get_obj(d, &ROOT, "photos")?),
        ))
    }

    /// Every event as stored, with the map that holds it.
    pub fn keyed_events(&self) -> Result<Vec<(Option<ObjKey>, TimelineEvent)>> {
        let d = &self.doc;
        let list = get_obj(d, &ROOT, "timeline")?;
        (0..d.length(&list))
            .map(|i| {
                let m = list_obj(d, &list, i)?;
                Ok((ObjKey::of(&m), read_event(d, &m)?))
            })
            .collect()
    }

    /// Every photo reference as stored (duplicates included), with the map that holds it.
    pub fn keyed_photos(&self) -> Result<Vec<(Option<ObjKey>, PhotoRef)>> {
        let d = &self.doc;
        let list = get_obj(d, &ROOT, "photos")?;
        (0..d.length(&list))
            .map(|i| {
                let m = list_obj(d, &list, i)?;
                Ok((ObjKey::of(&m), read_photo(d, &m)?))
            })
            .collect()
    }

    /// Photos, once each (two replicas attaching the same photo concurrently add it twice).
    fn photos(&self) -> Result<Vec<PhotoRef>> {
        let d = &self.doc;
        let list = get_obj(d, &ROOT, "photos")?;
        let mut photos: Vec<PhotoRef> = Vec::new();
        for i in 0..d.length(&list) {
            let m = list_obj(d, &list, i)?;
            let p = read_photo(d, &m)?;
            if !photos.iter().any(|q| q.sha256 == p.sha256) {
                photos.push(p);
            }
        }
        Ok(photos)
    }

    pub fn has_photo(&self, sha256: &str) -> Result<bool> {
        Ok(self.photos()?.iter().any(|p| p.sha256 == sha256))
    }

    fn write_event(&mut self, e: &TimelineEvent) -> Result<()> {
        let d = &mut self.doc;
        let list = get_obj(d, &ROOT, "timeline")?;
        let m = d.insert_object(&list, d.length(&list), ObjType::Map)?;
        d.put(&m, "id", e.id.to_string())?;
        d.put(&m, "wall_ms", e.at.wall_ms)?;
        d.put(&m, "counter", u64::from(e.at.counter))?;
        d.put(&m, "actor", e.actor.as_str())?;
        d.put(&m, "role", e.role.as_str())?;
        put_opt_str(d, &m, "device", e.device.as_deref())?;
        d.put(&m, "action", e.action.as_str())?;
        put_opt_str(d, &m, "note", e.note.as_deref())?;
        put_opt_str(d, &m, "department", e.department.as_deref())?;
        put_opt(
            d,
            &m,
            "deadline_ms",
            e.deadline.map(|t| t.timestamp_millis()),
        )?;
        if let Some(assignee) = &e.assignee {
            d.put(&m, "assignee", assignee.as_str())?;
        }
        let att = d.put_object(&m, "attachments", ObjType::List)?;
        for (i, sha) in e.attachments.iter().enumerate() {
            d.insert(&att, i, sha.as_str())?;
        }
        if let Some(edit) = &e.edit {
            let em = d.put_object(&m, "edit", ObjType::Map)?;
            if let Some(c) = &edit.category {
                d.put(&em, "standard", c.standard.as_str())?;
                d.put(&em, "code", c.code.as_str())?;
            }
            put_opt_str(d, &em, "address", edit.address.as_deref())?;
            put_opt_str(d, &em, "description", edit.description.as_deref())?;
        }
        Ok(())
    }

    fn write_photo(&mut self, p: &PhotoRef) -> Result<()> {
        let d = &mut self.doc;
        let list = get_obj(d, &ROOT, "photos")?;
        let m = d.insert_object(&list, d.length(&list), ObjType::Map)?;
        d.put(&m, "sha256", p.sha256.as_str())?;
        d.put(&m, "thumb_sha256", p.thumb_sha256.as_str())?;
        d.put(&m, "bytes", p.bytes)?;
        d.put(&m, "width", u64::from(p.width))?;
        d.put(&m, "height", u64::from(p.height))?;
        put_opt_str(d, &m, "taken_at", p.taken_at.as_deref())?;
        put_opt(d, &m, "lat", p.gps.map(|g| g.lat))?;
        put_opt(d, &m, "lon", p.gps.map(|g| g.lon))?;
        d.put(&m, "added_by", p.added_by.as_str())?;
        d.put(&m, "added_ms", p.added_at.timestamp_millis())?;
        Ok(())
    }
}

fn read_event(d: &AutoCommit, m: &ObjId) -> Result<TimelineEvent> {
    let att_list = get_obj(d, m, "attachments")?;
    let attachments = (0..d.length(&att_list))
        .map(|i| match d.get(&att_list, i)? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => Ok(s.to_string()),
                _ => Err(malformed("attachments")),
            },
            _ => Err(malformed("attachments")),
        })
        .collect::<Result<Vec<_>>>()?;
    let edit = match d.get(m, "edit")? {
        Some((Value::Object(ObjType::Map), em)) => Some(read_edit(d, &em)?),
        _ => None,
    };
    Ok(TimelineEvent {
        id: get_str(d, m, "id")?
            .parse()
            .map_err(|_| malformed("timeline id"))?,
        at: Hlc {
            wall_ms: get_i64(d, m, "wall_ms")?,
            counter: u32::try_from(get_u64(d, m, "counter")?).map_err(|_| malformed("counter"))?,
        },
        actor: get_str(d, m, "actor")?,
        role: get_str(d, m, "role")?.parse().map_err(Error::Document)?,
        device: get_opt_str(d, m, "device")?,
        action: get_str(d, m, "action")?.parse().map_err(Error::Document)?,
        note: get_opt_str(d, m, "note")?,
        department: get_opt_str(d, m, "department")?,
        deadline: get_opt_i64(d, m, "deadline_ms")?.map(ms_to_time),
        attachments,
        edit,
        assignee: get_opt_str(d, m, "assignee")?,
    })
}

fn read_edit(d: &AutoCommit, em: &ObjId) -> Result<CaseEdit> {
    let standard = get_opt_str(d, em, "standard")?;
    let code = get_opt_str(d, em, "code")?;
    Ok(CaseEdit {
        category: standard
            .zip(code)
            .map(|(standard, code)| CategoryKey { standard, code }),
        address: get_opt_str(d, em, "address")?,
        description: get_opt_str(d, em, "description")?,
    })
}

fn read_photo(d: &AutoCommit, m: &ObjId) -> Result<PhotoRef> {
    let lat = get_opt_f64(d, m, "lat")?;
    let lon = get_opt_f64(d, m, "lon")?;
    Ok(PhotoRef {
        sha256: get_str(d, m, "sha256")?,
        thumb_sha256: get_str(d, m, "thumb_sha256")?,
        bytes: get_u64(d, m, "bytes")?,
        width: u32::try_from(get_u64(d, m, "width")?).map_err(|_| malformed("width"))?,
        height: u32::try_from(get_u64(d, m, "height")?).map_err(|_| malformed("height"))?,
        taken_at: get_opt_str(d, m, "taken_at")?,
        gps: lat.zip(lon).map(|(lat, lon)| GpsFix { lat, lon }),
        added_by: get_str(d, m, "added_by")?,
        added_at: ms_to_time(get_i64(d, m, "added_ms")?),
    })
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn malformed(field: &str) -> Error {
    Error::Document(format!("field {field:?} is missing or has the wrong type"))
}

fn put_opt<V: Into<ScalarValue>>(
    d: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    v: Option<V>,
) -> Result<()> {
    match v {
        Some(v) => d.put(obj, key, v)?,
        None => d.put(obj, key, ScalarValue::Null)?,
    }
    Ok(())
}

fn put_opt_str(d: &mut AutoCommit, obj: &ObjId, key: &str, v: Option<&str>) -> Result<()> {
    put_opt(d, obj, key, v)
}

fn get_obj(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match d.get(obj, key)? {
        Some((Value::Object(_), id)) => Ok(id),
        _ => Err(malformed(key)),
    }
}

fn list_obj(d: &AutoCommit, list: &ObjId, i: usize) -> Result<ObjId> {
    match d.get(list, i)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(malformed("list entry")),
    }
}

fn scalar(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<ScalarValue>> {
    match d.get(obj, key)? {
        Some((Value::Scalar(s), _)) => Ok(match s.as_ref() {
            ScalarValue::Null => None,
            other => Some(other.clone()),
        }),
        None => Ok(None),
        Some(_) => Err(malformed(key)),
    }
}

fn get_opt_str(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<String>> {
    match scalar(d, obj, key)? {
        Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
        None => Ok(None),
        Some(_) => Err(malformed(key)),
    }
}

fn get_str(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<String> {
    get_opt_str(d, obj, key)?.ok_or_else(|| malformed(key))
}

fn get_opt_i64(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<i64>> {
    match scalar(d, obj, key)? {
        Some(ScalarValue::Int(i)) => Ok(Some(i)),
        Some(ScalarValue::Uint(u)) => i64::try_from(u).map(Some).map_err(|_| malformed(key)),
        None => Ok(None),
        Some(_) => Err(malformed(key)),
    }
}

fn get_i64(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<i64> {
    get_opt_i64(d, obj, key)?.ok_or_else(|| malformed(key))
}

fn get_u64(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<u64> {
    match scalar(d, obj, key)? {
        Some(ScalarValue::Uint(u)) => Ok(u),
        Some(ScalarValue::Int(i)) => u64::try_from(i).map_err(|_| malformed(key)),
        _ => Err(malformed(key)),
    }
}

fn get_opt_f64(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<f64>> {
    match scalar(d, obj, key)? {
        Some(ScalarValue::F64(f)) => Ok(Some(f)),
        None => Ok(None),
        Some(_) => Err(malformed(key)),
    }
}

fn get_f64(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<f64> {
    get_opt_f64(d, obj, key)?.ok_or_else(|| malformed(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{ActionKind, Role, Stage};

    pub(crate) fn sample_case() -> (NewCase, TimelineEvent) {
        let created_at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let case = NewCase {
            id: CaseId::generate(),
            reporter: "worker-1".into(),
            device: "dev-1".into(),
            cell: Some("110102001001001".into()),
            location: Location::new(39.91, 116.36)
                .unwrap()
                .with_accuracy(5.0)
                .unwrap(),
            details: CaseDetails {
                category: CategoryKey {
                    standard: "GB/T 47678.5-2026".into(),
                    code: "01001".into(),
                },
                address: "西长安街 1 号".into(),
                description: "井盖缺失".into(),
            },
            created_at,
        };
        let mut report = TimelineEvent::new(
            ActionKind::Report,
            "worker-1",
            Role::GridWorker,
            Hlc::tick(None, created_at.timestamp_millis()),
        );
        report.device = Some("dev-1".into());
        (case, report)
    }

    #[test]
    fn a_case_round_trips_through_save_and_load() {
        let (case, report) = sample_case();
        let mut doc = CaseDoc::create(actor_for("dev-1"), &case, &report, &[]).unwrap();
        let bytes = doc.save();
        let loaded = CaseDoc::load(actor_for("dev-1"), &bytes, []).unwrap();
        let c = loaded.read().unwrap();
        assert_eq!(c.id, case.id);
        assert_eq!(c.details, case.details);
        assert_eq!(c.location, case.location);
        assert_eq!(c.cell, case.cell);
        assert_eq!(c.stage(), Some(Stage::Reported));
        assert_eq!(c.timeline.entries[0].event, report);
    }

    #[test]
    fn incremental_chunks_rebuild_the_document() {
        let (case, report) = sample_case();
        let mut doc = CaseDoc::create(actor_for("dev-1"), &case, &report, &[]).unwrap();
        let snapshot = doc.save();
        let heads = doc.heads();
        let photo = PhotoRef {
            sha256: "ab".repeat(32),
            thumb_sha256: "cd".repeat(32),
            bytes: 1234,
            width: 1600,
            height: 1200,
            taken_at: Some("2026-03-02T08:59:00".into()),
            gps: Some(GpsFix {
                lat: 39.91,
                lon: 116.36,
            }),
            added_by: "worker-1".into(),
            added_at: case.created_at,
        };
        let ev = TimelineEvent {
            attachments: vec![photo.sha256.clone()],
            ..TimelineEvent::new(
                ActionKind::AddEvidence,
                "worker-1",
                Role::GridWorker,
                Hlc::tick(Some(report.at), 0),
            )
        };
        doc.append(&ev, std::slice::from_ref(&photo)).unwrap();
        let chunk = doc.save_after(&heads);
        assert!(
            chunk.len() < snapshot.len() + 200,
            "a chunk holds only the new change"
        );
        let loaded = CaseDoc::load(actor_for("dev-1"), &snapshot, [chunk.as_slice()]).unwrap();
        let c = loaded.read().unwrap();
        assert_eq!(c.photos, vec![photo]);
        assert_eq!(c.timeline.entries.len(), 2);
    }

    #[test]
    fn concurrent_appends_merge() {
        let (case, report) = sample_case();
        let mut a = CaseDoc::create(actor_for("dev-1"), &case, &report, &[]).unwrap();
        let mut b = a.fork(actor_for("server"));
        let reg = TimelineEvent::new(
            ActionKind::Register,
            "disp",
            Role::Dispatcher,
            Hlc::tick(Some(report.at), report.at.wall_ms + 10),
        );
        b.append(&reg, &[]).unwrap();
        let ev = TimelineEvent {
            note: Some("更多照片".into()),
            ..TimelineEvent::new(
                ActionKind::AddEvidence,
                "worker-1",
                Role::GridWorker,
                Hlc::tick(Some(report.at), report.at.wall_ms + 5),
            )
        };
        a.append(&ev, &[]).unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let (ca, cb) = (a.read().unwrap(), b.read().unwrap());
        assert_eq!(ca.timeline, cb.timeline);
        assert_eq!(ca.stage(), Some(Stage::Registered));
        assert_eq!(ca.timeline.entries.len(), 3);
    }
}
