//! Workers, their devices and the desks, with tokens stored only as their sha256.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{DbError, Read, Write};

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
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT worker_id, device_id FROM device WHERE token_hash = ?1")?
        .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((worker_id, device_id)) = row else {
        return Ok(None);
    };
    let worker = worker(conn, &worker_id)?
        .ok_or_else(|| DbError::Corrupt(format!("device of unknown worker {worker_id}")))?;
    Ok(Some(DeviceRow { worker, device_id }))
}

fn desk_by_token(conn: &Connection, token_hash: &str) -> Result<Option<DeskRow>, DbError> {
    Ok(conn
        .prepare_cached("SELECT id, role, scope, department FROM desk WHERE token_hash = ?1")?
        .query_row([token_hash], |r| {
            Ok(DeskRow {
                id: r.get(0)?,
                role: r.get(1)?,
                scope: r.get(2)?,
                department: r.get(3)?,
            })
        })
        .optional()?)
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

    /// A device token already bound to `device_id` under another token, if any.
    pub fn device_id_taken(&self, device_id: &str, token_hash: &str) -> Result<bool, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT 1 FROM device WHERE device_id = ?1 AND token_hash <> ?2",
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
}
