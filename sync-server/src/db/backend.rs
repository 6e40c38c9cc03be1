//! The core's [`SyncBackend`] on a SQLite write transaction: content-addressed changes, the case row
//! with its cursor, per-device heads, and snapshot compaction.

use automerge::{ActorId, Change, ChangeHash};
use gridpatrol_core::case::{Case, CaseId};
use gridpatrol_core::doc::CaseDoc;
use gridpatrol_core::sync::server::{pack_heads, unpack_heads};
use gridpatrol_core::sync::{DeviceScope, SyncBackend};
use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, Read, Write, cases};
use crate::doc_cache::DocCache;

/// A case whose loose (not yet snapshotted) changes exceed this is compacted into a snapshot.
pub const COMPACT_AFTER_CHANGES: i64 = 64;

impl SyncBackend for Write<'_> {
    type Error = DbError;

    fn load(&mut self, case: CaseId) -> Result<Option<CaseDoc>, DbError> {
        let Some(cursor) = cases::cursor_of(&self.tx, case)? else {
            return Ok(None);
        };
        // A document saved earlier in this same transaction is newer than anything cached.
        if let Some((_, _, doc)) = self
            .saved
            .iter_mut()
            .rev()
            .find(|(id, c, _)| *id == case && *c == cursor)
        {
            return Ok(Some(doc.fork(self.actor.clone())));
        }
        load_doc(&self.tx, self.docs, self.actor, case, cursor, false).map(Some)
    }

    fn save(&mut self, doc: &mut CaseDoc, case: &Case, changes: &[Change]) -> Result<u64, DbError> {
        let id = case.id.to_string();
        let mut inserted = 0;
        let mut bytes = 0;
        {
            let mut stmt = self.tx.prepare_cached(
                "INSERT OR IGNORE INTO server_change (hash, case_id, bytes, received_ms)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for c in changes {
                let n = stmt.execute(params![&c.hash().0[..], id, c.raw_bytes(), self.now_ms])?;
                inserted += n;
                bytes += n * c.raw_bytes().len();
            }
        }
        let cursor: u64 = self.tx.query_row(
            "UPDATE counter SET value = value + 1 WHERE name = 'cursor' RETURNING value",
            [],
            |r| r.get(0),
        )?;
        cases::upsert(&self.tx, case, cursor, inserted as i64, self.now_ms)?;
        self.tx
            .prepare_cached("UPDATE server_case SET doc_bytes = doc_bytes + ?2 WHERE case_id = ?1")?
            .execute(params![id, bytes as i64])?;
        let loose: i64 = self.tx.query_row(
            "SELECT loose_changes FROM server_case WHERE case_id = ?1",
            [&id],
            |r| r.get(0),
        )?;
        if loose > COMPACT_AFTER_CHANGES {
            self.tx.execute(
                "UPDATE server_case SET snapshot = ?2, loose_changes = 0 WHERE case_id = ?1",
                params![id, doc.save()],
            )?;
            self.tx.execute(
                "UPDATE server_change SET bytes = NULL WHERE case_id = ?1 AND bytes IS NOT NULL",
                [&id],
            )?;
        }
        let copy = doc.fork(self.actor.clone());
        self.saved.push((case.id, cursor, copy));
        self.changed.push(crate::events::CaseChanged::of(case));
        Ok(cursor)
    }

    fn case_bytes(&mut self, case: CaseId) -> Result<u64, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT doc_bytes FROM server_case WHERE case_id = ?1")?
            .query_row([case.to_string()], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    fn device_heads(&mut self, device: &str, case: CaseId) -> Result<Vec<ChangeHash>, DbError> {
        let packed: Option<Vec<u8>> = self
            .tx
            .prepare_cached("SELECT heads FROM device_heads WHERE device_id = ?1 AND case_id = ?2")?
            .query_row(params![device, case.to_string()], |r| r.get(0))
            .optional()?;
        Ok(packed.map(|p| unpack_heads(&p)).unwrap_or_default())
    }

    fn set_device_heads(
        &mut self,
        device: &str,
        case: CaseId,
        heads: &[ChangeHash],
    ) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO device_heads (device_id, case_id, heads) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id, case_id) DO UPDATE SET heads = ?3",
            )?
            .execute(params![device, case.to_string(), pack_heads(heads)])?;
        Ok(())
    }

    fn changed_since(
        &mut self,
        scope: &DeviceScope,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, CaseId)>, DbError> {
        let cells = serde_json::to_string(&scope.cells).unwrap_or_else(|_| "[]".into());
        let mut stmt = self.tx.prepare_cached(
            "SELECT cursor, case_id FROM server_case
             WHERE cursor > ?1
               AND (verifier = ?2 OR device = ?3
                    OR EXISTS (SELECT 1 FROM json_each(?4) p
                               WHERE substr(server_case.cell, 1, length(p.value)) = p.value))
             ORDER BY cursor LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                // A cursor past i64::MAX (only a broken or hostile device sends one) means "nothing
                // newer", not -1 ("everything").
                i64::try_from(cursor).unwrap_or(i64::MAX),
                scope.worker_id,
                scope.device_id,
                cells,
                limit as i64
            ],
            |r| Ok((r.get::<_, u64>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (position, id) = row?;
            out.push((position, parse_case_id(&id)?));
        }
        Ok(out)
    }

    fn latest_cursor(&mut self) -> Result<u64, DbError> {
        Ok(self
            .tx
            .query_row("SELECT value FROM counter WHERE name = 'cursor'", [], |r| {
                r.get(0)
            })?)
    }
}

impl Read<'_> {
    /// The case's document, from the cache or the database; `None` for an unknown case.
    pub fn load_doc(&self, case: CaseId) -> Result<Option<CaseDoc>, DbError> {
        let Some(cursor) = cases::cursor_of(self.conn, case)? else {
            return Ok(None);
        };
        load_doc(self.conn, self.docs, self.actor, case, cursor, true).map(Some)
    }

    pub fn load_case(&self, case: CaseId) -> Result<Option<Case>, DbError> {
        match self.load_doc(case)? {
            Some(doc) => Ok(Some(doc.read()?)),
            None => Ok(None),
        }
    }
}

/// Loads a document: the cached copy at `cursor`, or the snapshot plus the loose changes. A read
/// transaction may cache what it loaded, since the cursor tag keeps it from ever being mistaken for a
/// newer version; a write transaction caches only after commit.
fn load_doc(
    conn: &Connection,
    docs: &DocCache,
    actor: &ActorId,
    case: CaseId,
    cursor: u64,
    cache_it: bool,
) -> Result<CaseDoc, DbError> {
    if let Some(doc) = docs.get(case, cursor, actor) {
        return Ok(doc);
    }
    let id = case.to_string();
    let snapshot: Option<Vec<u8>> = conn
        .prepare_cached("SELECT snapshot FROM server_case WHERE case_id = ?1")?
        .query_row([&id], |r| r.get(0))?;
    let loose: Vec<Vec<u8>> = conn
        .prepare_cached(
            "SELECT bytes FROM server_change WHERE case_id = ?1 AND bytes IS NOT NULL ORDER BY rowid",
        )?
        .query_map([&id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let changes = loose
        .iter()
        .map(|b| Change::try_from(b.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DbError::Corrupt(format!("case {case}: stored change: {e}")))?;
    let mut doc = match snapshot {
        Some(s) => {
            let mut doc = CaseDoc::load(actor.clone(), &s, [])?;
            doc.apply_changes(changes)?;
            doc
        }
        None => CaseDoc::from_changes(actor.clone(), changes)?,
    };
    if !doc.missing_deps().is_empty() {
        return Err(DbError::Corrupt(format!(
            "case {case}: stored changes are incomplete"
        )));
    }
    if cache_it {
        docs.put(case, cursor, doc.fork(actor.clone()));
    }
    Ok(doc)
}

pub fn parse_case_id(id: &str) -> Result<CaseId, DbError> {
    id.parse()
        .map_err(|_| DbError::Corrupt(format!("bad case id {id:?}")))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use gridpatrol_core::action::Actor;
    use gridpatrol_core::case::{CaseDetails, Location};
    use gridpatrol_core::catalog::Catalog;
    use gridpatrol_core::catalog::CategoryKey;
    use gridpatrol_core::doc::{NewCase, actor_for};
    use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
    use gridpatrol_core::sync::server::{encode_changes, heads_to_wire};
    use gridpatrol_core::sync::{DocPush, ServerFacts, ServerSync, SyncRequest};
    use gridpatrol_core::timeline::{Hlc, TimelineEvent};
    use gridpatrol_core::workflow::{ActionKind, Role};

    use super::*;
    use crate::db::Db;

    fn scope() -> DeviceScope {
        DeviceScope::new("dev-1", "w-1", vec!["110102001".into()])
    }

    /// A case reported on a device and pushed to the server, as one sync call.
    fn push_new_case(db: &Db, sync: &ServerSync) -> CaseId {
        let now = Utc::now();
        let grids = GridIndex::new(GeneratedDistrict::demo().cells()).unwrap();
        let catalog = Catalog::builtin();
        let cell = grids
            .cells()
            .iter()
            .find(|c| c.code.as_str() == "110102001001001")
            .unwrap();
        let (lat, lon) = cell.inside_point().unwrap();
        let case = NewCase {
            id: CaseId::generate(),
            reporter: "w-1".into(),
            device: "dev-1".into(),
            cell: Some("110102001001001".into()),
            location: Location::new(lat, lon).unwrap(),
            details: CaseDetails {
                category: CategoryKey::current("06010"),
                address: "a".into(),
                description: "d".into(),
            },
            created_at: now,
        };
        let mut report = TimelineEvent::new(
            ActionKind::Report,
            "w-1",
            Role::GridWorker,
            Hlc::tick(None, now.timestamp_millis()),
        );
        report.device = Some("dev-1".into());
        let mut doc = CaseDoc::create(actor_for("dev-1"), &case, &report, &[]).unwrap();
        let request = SyncRequest {
            cursor: 0,
            docs: vec![DocPush {
                case: case.id.0,
                heads: heads_to_wire(&doc.heads()),
                changes: encode_changes(doc.changes_since(&[])),
            }],
        };
        let facts = ServerFacts {
            catalog: &catalog,
            grids: &grids,
            now,
        };
        let prepared = sync.prepare(&scope(), &request).unwrap();
        let outcome = db
            .write(|w| {
                sync.handle(w, &scope(), &facts, &prepared)
                    .map_err(|e| DbError::Corrupt(e.to_string()))
            })
            .unwrap();
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
        assert_eq!(outcome.new_cases, vec![case.id]);
        case.id
    }

    /// A dispatcher's note on a case, through the action kernel.
    fn evidence(sync: &ServerSync, w: &mut Write<'_>, id: CaseId, n: usize) -> Result<(), DbError> {
        let actor = Actor::new("d-1", Role::Dispatcher, None);
        sync.record(w, id, ActionKind::AddEvidence, actor, Utc::now(), |e| {
            e.note = Some(format!("note {n}"));
            Ok::<_, DbError>(())
        })
        .map(|_| ())
        .map_err(|e| DbError::Corrupt(e.to_string()))
    }

    #[test]
    fn many_changes_are_compacted_into_a_snapshot_and_load_back_equal() {
        let tmp = tempfile::tempdir().unwrap();
        let sync = ServerSync::new(actor_for("server-test-1"));
        let db = Db::open(tmp.path(), sync.actor.clone(), 10).unwrap();
        let id = push_new_case(&db, &sync);
        let n = COMPACT_AFTER_CHANGES as usize + 6;
        for i in 0..n {
            db.write(|w| evidence(&sync, w, id, i)).unwrap();
        }
        let (has_snapshot, loose, folded): (bool, i64, i64) = db
            .read(|r| {
                Ok::<_, DbError>(r.conn().query_row(
                    "SELECT snapshot IS NOT NULL, loose_changes,
                            (SELECT count(*) FROM server_change WHERE bytes IS NULL)
                     FROM server_case WHERE case_id = ?1",
                    [id.to_string()],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )?)
            })
            .unwrap();
        assert!(has_snapshot);
        assert!(
            loose < COMPACT_AFTER_CHANGES,
            "loose changes after compaction: {loose}"
        );
        assert!(folded > COMPACT_AFTER_CHANGES);
        let cached = db.read(|r| r.load_case(id)).unwrap().unwrap();
        assert_eq!(cached.timeline.entries.len(), n + 1);
        drop(db);

        // Another process (a fresh cache) reads snapshot + loose changes to the same case.
        let other = ServerSync::new(actor_for("server-test-2"));
        let db = Db::open(tmp.path(), other.actor.clone(), 10).unwrap();
        assert!(db.cached_docs() == 0);
        let loaded = db.read(|r| r.load_case(id)).unwrap().unwrap();
        assert_eq!(loaded.timeline, cached.timeline);
        // And keeps appending to it.
        db.write(|w| evidence(&other, w, id, n)).unwrap();
        let after = db.read(|r| r.load_case(id)).unwrap().unwrap();
        assert_eq!(after.timeline.entries.len(), n + 2);
    }

    #[test]
    fn a_rolled_back_write_leaves_no_trace_in_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let sync = ServerSync::new(actor_for("server-test"));
        let db = Db::open(tmp.path(), sync.actor.clone(), 10).unwrap();
        let id = push_new_case(&db, &sync);
        let failed: Result<(), DbError> = db.write(|w| {
            evidence(&sync, w, id, 1)?;
            Err(DbError::Corrupt("abort".into()))
        });
        assert!(failed.is_err());
        let case = db.read(|r| r.load_case(id)).unwrap().unwrap();
        assert_eq!(case.timeline.entries.len(), 1, "the aborted event is gone");
        let replayed = db
            .write(|w| {
                let doc = w.load(id)?.unwrap();
                Ok::<_, DbError>(doc.read()?)
            })
            .unwrap();
        assert_eq!(replayed.timeline.entries.len(), 1);
    }
}
