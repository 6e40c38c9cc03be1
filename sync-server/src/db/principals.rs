//! Workers, their devices and the desks, with tokens stored only as their sha256.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use gridpatrol_core::sync::FormerCells;

use super::{DbError, Read, Write};

/// The reassignments a device's scope remembers (reports older than the server's age limit are
/// refused anyway).
const FORMER_CELLS_KEPT: i64 = 16;

fn former_cells(conn: &Connection, worker_id: &str) -> Result<Vec<FormerCells>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT cells, until_ms FROM worker_cells_history WHERE worker_id = ?1
         ORDER BY until_ms DESC LIMIT ?2",
    )?;
    let rows: Vec<(String, i64)> = stmt
        .query_map(params![worker_id, FORMER_CELLS_KEPT], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(cells, until)| {
            Ok(FormerCells {
                cells: serde_json::from_str(&cells).map_err(|e| {
                    DbError::Corrupt(format!("worker {worker_id}: former cells: {e}"))
                })?,
                until: at(until),
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRow {
    pub id: String,
    pub name: String,
    /// Cell codes or prefixes the worker patrols.
    pub cells: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub worker: WorkerRow,
    /// Bound at enrollment; `None` before.
    pub device_id: Option<String>,
    /// The worker's cells as of this device's last sync; `None` before its first.
    pub synced_cells: Option<Vec<String>>,
    /// The worker's cells before each reassignment, newest first.
    pub former_cells: Vec<FormerCells>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskRow {
    pub id: String,
    /// "dispatcher", "supervisor" or "department".
    pub role: String,
    /// A cell code prefix: district, street or community.
    pub scope: String,
    pub department: Option<String>,
}

/// A device token as the admin lists it (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceListing {
    pub worker_id: String,
    /// Bound at enrollment; `None` before.
    pub device_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A desk as the admin lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskListing {
    #[serde(flatten)]
    pub desk: DeskRow,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which device tokens to revoke.
#[derive(Debug, Clone, Copy)]
pub enum DeviceSelector<'a> {
    /// The live token bound to this device id.
    DeviceId(&'a str),
    /// Every live token of this worker, enrolled or not.
    Worker(&'a str),
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Columns: worker_id, device_id, created_ms, enrolled_ms, revoked_ms.
fn device_listing(r: &Row<'_>) -> rusqlite::Result<DeviceListing> {
    Ok(DeviceListing {
        worker_id: r.get(0)?,
        device_id: r.get(1)?,
        created_at: at(r.get(2)?),
        enrolled_at: r.get::<_, Option<i64>>(3)?.map(at),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(at),
    })
}

fn worker_from(id: String, name: String, cells: String) -> Result<WorkerRow, DbError> {
    let cells = serde_json::from_str(&cells)
        .map_err(|e| DbError::Corrupt(format!("worker {id}: cells: {e}")))?;
    Ok(WorkerRow { id, name, cells })
}

fn worker(conn: &Connection, id: &str) -> Result<Option<WorkerRow>, DbError> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached("SELECT id, name, cells FROM worker WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(id, name, cells)| worker_from(id, name, cells))
        .transpose()
}

fn workers(conn: &Connection) -> Result<Vec<WorkerRow>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT id, name, cells FROM worker ORDER BY id")?;
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, name, cells)| worker_from(id, name, cells))
        .collect()
}

fn device_by_token(conn: &Connection, token_hash: &str) -> Result<Option<DeviceRow>, DbError> {
    let row: Option<(String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT worker_id, device_id, synced_cells FROM device
             WHERE token_hash = ?1 AND revoked_ms IS NULL",
        )?
        .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((worker_id, device_id, synced)) = row else {
        return Ok(None);
    };
    let worker = worker(conn, &worker_id)?
        .ok_or_else(|| DbError::Corrupt(format!("device of unknown worker {worker_id}")))?;
    let synced_cells = synced
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| DbError::Corrupt(format!("device of {worker_id}: synced_cells: {e}")))?;
    let former_cells = former_cells(conn, &worker.id)?;
    Ok(Some(DeviceRow {
        worker,
        device_id,
        synced_cells,
        former_cells,
    }))
}

fn desk_by_token(conn: &Connection, token_hash: &str) -> Result<Option<DeskRow>, DbError> {
    Ok(conn
        .prepare_cached("SELECT id, role, scope, department FROM desk WHERE token_hash = ?1 AND revoked_ms IS NULL")?
        .query_row([token_hash], desk_row)
        .optional()?)
}

/// Columns: id, role, scope, department.
fn desk_row(r: &Row<'_>) -> rusqlite::Result<DeskRow> {
    Ok(DeskRow {
        id: r.get(0)?,
        role: r.get(1)?,
        scope: r.get(2)?,
        department: r.get(3)?,
    })
}

impl Read<'_> {
    pub fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceRow>, DbError> {
        device_by_token(self.conn, token_hash)
    }

    pub fn desk_by_token(&self, token_hash: &str) -> Result<Option<DeskRow>, DbError> {
        desk_by_token(self.conn, token_hash)
    }

    pub fn workers(&self) -> Result<Vec<WorkerRow>, DbError> {
        workers(self.conn)
    }

    /// Device tokens, newest first within a worker; all workers' when `worker` is `None`.
    pub fn devices(&self, worker: Option<&str>) -> Result<Vec<DeviceListing>, DbError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT worker_id, device_id, created_ms, enrolled_ms, revoked_ms FROM device
             WHERE ?1 IS NULL OR worker_id = ?1 ORDER BY worker_id, created_ms DESC, rowid DESC",
        )?;
        let rows = stmt.query_map([worker], device_listing)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn desks(&self) -> Result<Vec<DeskListing>, DbError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, role, scope, department, created_ms, revoked_ms FROM desk ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeskListing {
                desk: desk_row(r)?,
                created_at: at(r.get(4)?),
                revoked_at: r.get::<_, Option<i64>>(5)?.map(at),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Write<'_> {
    pub fn worker(&self, id: &str) -> Result<Option<WorkerRow>, DbError> {
        worker(&self.tx, id)
    }

    pub fn workers(&self) -> Result<Vec<WorkerRow>, DbError> {
        workers(&self.tx)
    }

    pub fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceRow>, DbError> {
        device_by_token(&self.tx, token_hash)
    }

    /// Returns false when the id is taken.
    pub fn add_worker(&self, w: &WorkerRow) -> Result<bool, DbError> {
        let cells = serde_json::to_string(&w.cells).unwrap_or_else(|_| "[]".into());
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO worker (id, name, cells, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![w.id, w.name, cells, self.now_ms],
        )?;
        Ok(n == 1)
    }

    pub fn add_device(&self, token_hash: &str, worker_id: &str) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO device (token_hash, worker_id, created_ms) VALUES (?1, ?2, ?3)",
            params![token_hash, worker_id, self.now_ms],
        )?;
        Ok(())
    }

    /// The worker a device id was first enrolled for, whether its tokens are live or revoked.
    pub fn device_id_owner(&self, device_id: &str) -> Result<Option<String>, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT worker_id FROM device WHERE device_id = ?1 ORDER BY enrolled_ms, rowid LIMIT 1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A device token already bound to `device_id` under another token, if any.
    pub fn device_id_taken(&self, device_id: &str, token_hash: &str) -> Result<bool, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT 1 FROM device WHERE device_id = ?1 AND token_hash <> ?2 AND revoked_ms IS NULL",
                params![device_id, token_hash],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn bind_device(&self, token_hash: &str, device_id: &str) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE device SET device_id = ?2, enrolled_ms = ?3 WHERE token_hash = ?1 AND device_id IS NULL",
            params![token_hash, device_id, self.now_ms],
        )?;
        Ok(())
    }

    /// Returns false when the id is taken.
    pub fn add_desk(&self, token_hash: &str, desk: &DeskRow) -> Result<bool, DbError> {
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO desk (token_hash, id, role, scope, department, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token_hash,
                desk.id,
                desk.role,
                desk.scope,
                desk.department,
                self.now_ms
            ],
        )?;
        Ok(n == 1)
    }

    /// Revokes the selected live device tokens; returns what was revoked (empty when nothing matched).
    pub fn revoke_devices(
        &self,
        selector: DeviceSelector<'_>,
    ) -> Result<Vec<DeviceListing>, DbError> {
        let (sql, key) = match selector {
            DeviceSelector::DeviceId(id) => (
                "UPDATE device SET revoked_ms = ?2 WHERE device_id = ?1 AND revoked_ms IS NULL
                 RETURNING worker_id, device_id, created_ms, enrolled_ms, revoked_ms",
                id,
            ),
            DeviceSelector::Worker(w) => (
                "UPDATE device SET revoked_ms = ?2 WHERE worker_id = ?1 AND revoked_ms IS NULL
                 RETURNING worker_id, device_id, created_ms, enrolled_ms, revoked_ms",
                w,
            ),
        };
        let mut stmt = self.tx.prepare(sql)?;
        let rows = stmt.query_map(params![key, self.now_ms], device_listing)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Gives a worker other cells, remembering the ones they had (a report made offline in them before
    /// now is still theirs to send). Returns false when there is no such worker.
    pub fn set_worker_cells(&self, id: &str, cells: &[String]) -> Result<bool, DbError> {
        let cells = serde_json::to_string(cells).unwrap_or_else(|_| "[]".into());
        self.tx.execute(
            "INSERT INTO worker_cells_history (worker_id, cells, until_ms)
             SELECT id, cells, ?3 FROM worker WHERE id = ?1 AND cells <> ?2",
            params![id, cells, self.now_ms],
        )?;
        let n = self.tx.execute(
            "UPDATE worker SET cells = ?2 WHERE id = ?1",
            params![id, cells],
        )?;
        Ok(n == 1)
    }

    /// Records the cells a device synced with.
    pub fn set_synced_cells(&self, token_hash: &str, cells: &[String]) -> Result<(), DbError> {
        let cells = serde_json::to_string(cells).unwrap_or_else(|_| "[]".into());
        self.tx.execute(
            "UPDATE device SET synced_cells = ?2 WHERE token_hash = ?1",
            params![token_hash, cells],
        )?;
        Ok(())
    }

    /// Revokes a desk's token. Returns false when there is no such live desk.
    pub fn revoke_desk(&self, id: &str) -> Result<bool, DbError> {
        let n = self.tx.execute(
            "UPDATE desk SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            params![id, self.now_ms],
        )?;
        Ok(n == 1)
    }

    /// Gives a desk a new token (the old one stops working) and lifts a revocation. Returns the desk, or
    /// `None` when there is no desk with that id.
    pub fn rotate_desk(&self, id: &str, token_hash: &str) -> Result<Option<DeskRow>, DbError> {
        Ok(self
            .tx
            .query_row(
                "UPDATE desk SET token_hash = ?2, revoked_ms = NULL WHERE id = ?1
                 RETURNING id, role, scope, department",
                params![id, token_hash],
                desk_row,
            )
            .optional()?)
    }
}
