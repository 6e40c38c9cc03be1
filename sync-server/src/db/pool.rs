//! The dispatch pool's rows: each case enters once, with the route it was given on entry.

use chrono::{DateTime, TimeZone, Utc};
use gridpatrol_core::case::CaseId;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{DbError, Read, Write};

/// The route a case was given when it entered the pool: who should handle it and by when, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRow {
    pub department: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub hours: Option<f64>,
    /// "WH" or "CH".
    pub clock: Option<String>,
    pub because: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolEntry {
    pub case_id: CaseId,
    pub entered_at: DateTime<Utc>,
    pub route: RouteRow,
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn pool_entry(conn: &Connection, case: CaseId) -> Result<Option<PoolEntry>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT entered_ms, route_department, route_deadline_ms, route_hours, route_clock,
                    route_because
             FROM pool WHERE case_id = ?1",
        )?
        .query_row([case.to_string()], |r| {
            Ok(PoolEntry {
                case_id: case,
                entered_at: time(r.get(0)?),
                route: RouteRow {
                    department: r.get(1)?,
                    deadline: r.get::<_, Option<i64>>(2)?.map(time),
                    hours: r.get(3)?,
                    clock: r.get(4)?,
                    because: r.get(5)?,
                },
            })
        })
        .optional()?)
}

impl Write<'_> {
    /// Puts a case into the pool with its route. Returns false when it was already there: a case enters
    /// exactly once.
    pub fn enter_pool(&self, case: CaseId, route: &RouteRow) -> Result<bool, DbError> {
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO pool (case_id, entered_ms, route_department, route_deadline_ms,
                                         route_hours, route_clock, route_because)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                case.to_string(),
                self.now_ms,
                route.department,
                route.deadline.map(|d| d.timestamp_millis()),
                route.hours,
                route.clock,
                route.because,
            ],
        )?;
        Ok(n == 1)
    }

    pub fn pool_entry(&self, case: CaseId) -> Result<Option<PoolEntry>, DbError> {
        pool_entry(&self.tx, case)
    }
}

impl Read<'_> {
    pub fn pool_entry(&self, case: CaseId) -> Result<Option<PoolEntry>, DbError> {
        pool_entry(self.conn, case)
    }

    /// Cases in the pool that are not finished (rejected, closed, special-closed).
    pub fn pool_size(&self) -> Result<u64, DbError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM pool JOIN server_case USING (case_id)
             WHERE server_case.stage NOT IN ('rejected', 'closed', 'special_closed')",
            [],
            |r| r.get(0),
        )?)
    }
}
