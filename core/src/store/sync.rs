//! The device's side of sync: enrollment, building a request from what is dirty, applying a response,
//! verification tasks. No IO beyond the store itself: a transport carries the bytes.

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

use super::{
    CaseSummary, DeviceStore, ListFilter, SUMMARY_COLUMNS, StoreError, load_doc_in,
    summary_from_row, write_index_row,
};
use crate::case::CaseId;
use crate::case::InputError;
use crate::doc::{CaseDoc, actor_for};
use crate::sync::server::{
    encode_changes, heads_from_wire, heads_to_wire, pack_heads, unpack_heads,
};
use crate::sync::wire::{DocPull, DocPush, DocStatus, SyncRequest, SyncResponse};
use crate::workflow::{ActionKind, Stage};
use crate::{Error, Result};

/// Where this device syncs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrollment {
    pub server: String,
    pub token: String,
}

/// What applying a response did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Documents that received changes from the server.
    pub updated: usize,
    /// Cases new to this device (e.g. verification tasks from another cell).
    pub new_cases: usize,
    /// Documents whose local changes the server now has.
    pub acknowledged: usize,
    /// The server has more: send another request.
    pub more: bool,
    /// Cases the server refused, with why: they stay here and are tried again at the next sync.
    pub refused: Vec<(CaseId, super::SyncRefused)>,
    /// Cases the server had no room for in this response: they go in the next request.
    pub deferred: usize,
}

/// Documents in one request, well under the server's limit (`DeviceLimits::max_docs_per_request`).
pub const MAX_DOCS_PER_REQUEST: usize = 1_000;

/// The rows a request takes: dirty or awaiting acknowledgement, and not refused (unless retrying).
const OUTBOX: &str =
    "(i.dirty = 1 OR i.ack_pending = 1) AND (i.refused_code IS NULL OR i.refused_retry = 1)";

impl DeviceStore {
    /// Records the server and token. Refused when the store already holds cases recorded by another
    /// worker than the one the server says the token belongs to.
    /// Learns the server's clock (at enrollment, and from every sync response): records are stamped
    /// with the corrected time.
    pub fn set_server_time(&mut self, server: DateTime<Utc>) -> Result<()> {
        let offset = (server - Utc::now()).num_milliseconds();
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('clock_offset_ms', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            [offset.to_string()],
        )?;
        self.clock_offset_ms = offset;
        Ok(())
    }

    pub fn enroll(&mut self, server: &str, token: &str, worker_id: &str) -> Result<()> {
        let other: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'worker_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if other.as_deref() != Some(worker_id) && self.count()? > 0 {
            return Err(StoreError::WrongWorker {
                store: other.unwrap_or_default(),
                token: worker_id.to_owned(),
            }
            .into());
        }
        let tx = self.write_tx()?;
        for (k, v) in [
            ("server", server),
            ("token", token),
            ("worker_id", worker_id),
        ] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![k, v],
            )?;
        }
        tx.commit()?;
        self.identity.worker_id = worker_id.to_owned();
        Ok(())
    }

    pub fn enrollment(&self) -> Result<Option<Enrollment>> {
        let server = self.meta("server")?;
        let token = self.meta("token")?;
        Ok(server
            .zip(token)
            .map(|(server, token)| Enrollment { server, token }))
    }

    /// The server change cursor this device has applied everything up to.
    pub fn sync_cursor(&self) -> Result<u64> {
        Ok(self
            .meta("sync_cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// How many documents wait to be pushed or acknowledged in this sync (refused ones wait for the next).
    pub fn outbox_len(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            &format!("SELECT count(*) FROM case_index i WHERE {OUTBOX}"),
            [],
            |r| r.get(0),
        )?)
    }

    /// Cases the server refused, with the reason, newest first.
    pub fn refused(&self) -> Result<Vec<CaseSummary>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM case_index
             WHERE refused_code IS NOT NULL ORDER BY updated_ms DESC"
        ))?;
        let rows = stmt.query_map([], summary_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// Called as a sync starts: refused cases are offered to the server once more (a refusal may not
    /// hold any more: a clock set right, a reassignment undone). Within the sync they are sent once.
    pub fn retry_refused(&mut self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE case_index SET refused_retry = 1 WHERE refused_code IS NOT NULL",
            [],
        )?)
    }

    /// The next request: every dirty document's unacknowledged changes and every pending
    /// acknowledgement, up to about `max_bytes` of changes and [`MAX_DOCS_PER_REQUEST`] documents (the
    /// rest goes in the next request).
    pub fn sync_request(&self, max_bytes: usize) -> Result<SyncRequest> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT d.case_id, d.acked_heads, i.dirty FROM case_index i JOIN doc d USING (case_id)
             WHERE {OUTBOX} ORDER BY i.created_ms"
        ))?;
        let rows: Vec<(String, Vec<u8>, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut docs = Vec::new();
        let mut bytes = 0;
        for (id, acked, dirty) in rows {
            if (bytes >= max_bytes && !docs.is_empty()) || docs.len() >= MAX_DOCS_PER_REQUEST {
                break;
            }
            let id: CaseId = id.parse()?;
            let mut doc = self.load_doc(&self.conn, id)?;
            let changes = if dirty {
                encode_changes(doc.changes_since(&unpack_heads(&acked)))
            } else {
                Vec::new()
            };
            bytes += changes.iter().map(Vec::len).sum::<usize>();
            docs.push(DocPush {
                case: id.0,
                heads: heads_to_wire(&doc.heads()),
                changes,
            });
        }
        Ok(SyncRequest {
            cursor: self.sync_cursor()?,
            docs,
        })
    }

    /// Applies the server's response, all of it or nothing. Safe to apply twice.
    pub fn apply_sync_response(&mut self, response: &SyncResponse) -> Result<Applied> {
        let catalog = self.catalog()?;
        let device = self.identity.device_id.clone();
        let now = Utc::now();
        let offset = (response.server_ms > 0).then(|| response.server_ms - now.timestamp_millis());
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)?;
        let mut applied = Applied {
            more: response.more,
            ..Applied::default()
        };
        for pull in &response.docs {
            match &pull.status {
                DocStatus::Accepted => {}
                DocStatus::Deferred => {
                    applied.deferred += 1;
                    continue;
                }
                DocStatus::Refused { code, reason } => {
                    // Kept as it is, with the reason; nothing of the server's is applied to it.
                    tx.execute(
                        "UPDATE case_index SET refused_code = ?2, refused_reason = ?3, refused_retry = 0
                         WHERE case_id = ?1",
                        params![pull.case.to_string(), code, reason],
                    )?;
                    applied.refused.push((
                        CaseId(pull.case),
                        super::SyncRefused {
                            code: code.clone(),
                            reason: reason.clone(),
                        },
                    ));
                    continue;
                }
            }
            let outcome = apply_pull(&tx, &device, pull)?;
            let Some((mut doc, received, is_new)) = outcome else {
                continue;
            };
            let case = doc.read()?;
            write_index_row(&tx, &catalog, &case, now)?;
            let server_heads = heads_from_wire(&pull.heads);
            let dirty = !same_heads(&doc.heads(), &server_heads);
            tx.execute(
                "UPDATE doc SET acked_heads = ?2 WHERE case_id = ?1",
                params![case.id.to_string(), pack_heads(&server_heads)],
            )?;
            tx.execute(
                "UPDATE case_index SET dirty = ?2, ack_pending = ?3, refused_code = NULL,
                        refused_reason = NULL, refused_retry = 0
                 WHERE case_id = ?1",
                params![case.id.to_string(), dirty, received],
            )?;
            applied.updated += usize::from(received && !is_new);
            applied.new_cases += usize::from(is_new);
            applied.acknowledged += usize::from(!dirty);
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('sync_cursor', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            [response.cursor.to_string()],
        )?;
        if let Some(offset) = offset {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('clock_offset_ms', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = ?1",
                [offset.to_string()],
            )?;
        }
        tx.commit()?;
        if let Some(offset) = offset {
            self.clock_offset_ms = offset;
        }
        Ok(applied)
    }

    /// Verification tasks for this device's worker: cases waiting for them to check on site.
    pub fn tasks(&self) -> Result<Vec<CaseSummary>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM case_index
             WHERE verifier = ?1 AND stage = ?2 ORDER BY updated_ms"
        ))?;
        let rows = stmt.query_map(
            params![
                self.identity.worker_id,
                Stage::VerificationRequested.as_str()
            ],
            summary_from_row,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// The worker's verdict on site: passed (the case can close) or failed (back to the department).
    pub fn verify(
        &mut self,
        id: CaseId,
        passed: bool,
        note: Option<String>,
        photos: &[Vec<u8>],
    ) -> Result<()> {
        let processed = self.process_photos(photos)?;
        let now = self.clock();
        let refs = self.photo_refs(&processed, now);
        let action = if passed {
            ActionKind::VerifyPass
        } else {
            ActionKind::VerifyFail
        };
        let worker = self.identity.worker_id.clone();
        self.append(
            id,
            action,
            now,
            |case, event| {
                if case.timeline.verifier.as_deref() != Some(worker.as_str()) {
                    return Err(InputError::NotVerifier(id).into());
                }
                event.note = note;
                event.attachments = refs.iter().map(|p| p.sha256.clone()).collect();
                Ok(Some(refs.clone()))
            },
            &processed,
        )
    }

    /// Cases with changes the server has not acknowledged.
    pub fn unsynced(&self) -> Result<Vec<CaseSummary>> {
        Ok(self
            .list(&ListFilter::default())?
            .into_iter()
            .filter(|c| c.dirty)
            .collect())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }
}

/// Applies one pulled document. Returns the document, whether it received anything, and whether it is
/// new here; `None` when there was nothing to do.
fn apply_pull(
    tx: &Transaction<'_>,
    device: &str,
    pull: &DocPull,
) -> Result<Option<(CaseDoc, bool, bool)>> {
    let id = CaseId(pull.case);
    let changes = crate::sync::server::decode_changes(&pull.changes).map_err(Error::Document)?;
    let exists: bool = tx
        .query_row(
            "SELECT 1 FROM doc WHERE case_id = ?1",
            [id.to_string()],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if !exists {
        if changes.is_empty() {
            return Ok(None);
        }
        let mut doc = CaseDoc::from_changes(actor_for(device), changes)?;
        if !doc.missing_deps().is_empty() {
            return Err(Error::Document(format!(
                "case {id} arrived incomplete from the server"
            )));
        }
        tx.execute(
            "INSERT INTO doc (case_id, snapshot) VALUES (?1, ?2)",
            params![id.to_string(), doc.save()],
        )?;
        return Ok(Some((doc, true, true)));
    }
    let mut doc = load_doc_in(tx, device, id)?;
    let before = doc.heads();
    doc.apply_changes(changes)?;
    let received = !same_heads(&before, &doc.heads());
    if received {
        let chunk = doc.save_after(&before);
        super::append_chunk(tx, id, &chunk, &mut doc)?;
    }
    Ok(Some((doc, received, false)))
}

fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}
