//! The `server_case` rows: what desks list and filter, read without opening documents.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use gridpatrol_core::case::{Case, CaseId};
use gridpatrol_core::catalog::CategoryKey;
use gridpatrol_core::workflow::Stage;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::backend::parse_case_id;
use super::{DbError, Read, Write};

/// A case as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    pub id: CaseId,
    pub cursor: u64,
    pub cell: Option<String>,
    pub stage: Stage,
    pub stage_zh: &'static str,
    pub category: CategoryKey,
    pub department: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub escalated: bool,
    pub reporter: String,
    pub device: String,
    pub verifier: Option<String>,
    pub address: String,
    pub summary: String,
    pub lat: f64,
    pub lon: f64,
    pub photos: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which cases a desk may see: cells under a code prefix, and for a department only its own cases.
#[derive(Debug, Clone, Default)]
pub struct ListScope {
    pub cell_prefix: String,
    pub department: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Cases in any of these stages; empty: any stage.
    pub stages: Vec<Stage>,
    /// A cell code or prefix.
    pub cell: Option<String>,
    pub department: Option<String>,
    pub overdue: Option<bool>,
    pub order: CaseOrder,
    pub limit: u32,
    pub offset: u32,
}

/// How a list is sorted. Ties go by case id, so that pages never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Newest report first.
    #[default]
    Newest,
    /// Oldest report first: a queue worked from the front.
    Oldest,
    /// Earliest deadline first, cases without a deadline last (then oldest first): what supervision chases.
    Deadline,
}

impl CaseOrder {
    pub const ALL: [CaseOrder; 3] = [CaseOrder::Newest, CaseOrder::Oldest, CaseOrder::Deadline];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseOrder::Newest => "newest",
            CaseOrder::Oldest => "oldest",
            CaseOrder::Deadline => "deadline",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            CaseOrder::Newest => "created_ms DESC, case_id DESC",
            CaseOrder::Oldest => "created_ms ASC, case_id ASC",
            CaseOrder::Deadline => {
                "deadline_ms IS NULL, deadline_ms ASC, created_ms ASC, case_id ASC"
            }
        }
    }
}

impl FromStr for CaseOrder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        CaseOrder::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown order {s:?}: use newest, oldest or deadline"))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CasePage {
    pub items: Vec<CaseRow>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// Stages in which a department holds the case and its clock runs (`Stage::is_with_department`).
const WITH_DEPARTMENT: &str = "('dispatched', 'accepted', 'rework')";

const COLUMNS: &str = "case_id, cursor, cell, stage, category_standard, category_code, department,
    deadline_ms, dispatched_ms, escalated_ms, reporter, device, verifier, address, summary, lat, lon,
    photos, created_ms, updated_ms";

pub(super) fn cursor_of(conn: &Connection, case: CaseId) -> Result<Option<u64>, DbError> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM server_case WHERE case_id = ?1")?
        .query_row([case.to_string()], |r| r.get(0))
        .optional()?)
}

/// Writes the case's row from its document as just read back.
pub(super) fn upsert(
    conn: &Connection,
    case: &Case,
    cursor: u64,
    new_changes: i64,
    now_ms: i64,
) -> Result<(), DbError> {
    let d = &case.details;
    let t = &case.timeline;
    let summary: String = d.description.chars().take(80).collect();
    conn.prepare_cached(
        "INSERT INTO server_case (case_id, cursor, cell, verifier, device, reporter, stage,
             category_standard, category_code, department, deadline_ms, dispatched_ms, address, summary,
             lat, lon, photos, created_ms, updated_ms, loose_changes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
         ON CONFLICT (case_id) DO UPDATE SET
             cursor = ?2, cell = ?3, verifier = ?4, stage = ?7, category_standard = ?8,
             category_code = ?9, department = ?10, deadline_ms = ?11, dispatched_ms = ?12,
             address = ?13, summary = ?14, photos = ?17, updated_ms = ?19,
             loose_changes = loose_changes + ?20",
    )?
    .execute(params![
        case.id.to_string(),
        cursor,
        case.cell,
        t.verifier,
        case.device,
        case.reporter,
        case.stage().unwrap_or(Stage::Reported).as_str(),
        d.category.standard,
        d.category.code,
        t.department,
        t.deadline.map(|x| x.timestamp_millis()),
        t.dispatched_at.map(|x| x.timestamp_millis()),
        d.address,
        summary,
        case.location.lat,
        case.location.lon,
        case.photos.len() as i64,
        case.created_at.timestamp_millis(),
        now_ms,
        new_changes,
    ])?;
    Ok(())
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn row_to_case(r: &Row<'_>, now_ms: i64) -> rusqlite::Result<Result<CaseRow, DbError>> {
    let id: String = r.get(0)?;
    let stage: String = r.get(3)?;
    let deadline_ms: Option<i64> = r.get(7)?;
    let built = (|| {
        let stage: Stage = stage.parse().map_err(DbError::Corrupt)?;
        Ok(CaseRow {
            id: parse_case_id(&id)?,
            cursor: r.get(1)?,
            cell: r.get(2)?,
            stage,
            stage_zh: stage.label_zh(),
            category: CategoryKey {
                standard: r.get(4)?,
                code: r.get(5)?,
            },
            department: r.get(6)?,
            deadline: deadline_ms.map(time),
            dispatched_at: r.get::<_, Option<i64>>(8)?.map(time),
            overdue: stage.is_with_department() && deadline_ms.is_some_and(|d| d < now_ms),
            escalated: r.get::<_, Option<i64>>(9)?.is_some(),
            reporter: r.get(10)?,
            device: r.get(11)?,
            verifier: r.get(12)?,
            address: r.get(13)?,
            summary: r.get(14)?,
            lat: r.get(15)?,
            lon: r.get(16)?,
            photos: r.get(17)?,
            created_at: time(r.get(18)?),
            updated_at: time(r.get(19)?),
        })
    })();
    Ok(built)
}

fn scope_clause(scope: &ListScope, sql: &mut String, args: &mut Vec<Value>) {
    sql.push_str(" AND substr(cell, 1, length(?)) = ?");
    args.push(Value::Text(scope.cell_prefix.clone()));
    args.push(Value::Text(scope.cell_prefix.clone()));
    if let Some(dep) = &scope.department {
        sql.push_str(" AND department = ?");
        args.push(Value::Text(dep.clone()));
    }
}

/// The WHERE clause of a filtered list (scope and filter; not the limit, offset or order).
fn filter_clause(
    scope: &ListScope,
    filter: &CaseFilter,
    now_ms: i64,
    sql: &mut String,
    args: &mut Vec<Value>,
) {
    scope_clause(scope, sql, args);
    if !filter.stages.is_empty() {
        let marks = vec!["?"; filter.stages.len()].join(", ");
        sql.push_str(&format!(" AND stage IN ({marks})"));
        args.extend(filter.stages.iter().map(|s| Value::Text(s.as_str().into())));
    }
    if let Some(cell) = &filter.cell {
        sql.push_str(" AND substr(cell, 1, length(?)) = ?");
        args.push(Value::Text(cell.clone()));
        args.push(Value::Text(cell.clone()));
    }
    if let Some(dep) = &filter.department {
        sql.push_str(" AND department = ?");
        args.push(Value::Text(dep.clone()));
    }
    match filter.overdue {
        Some(true) => {
            sql.push_str(&format!(
                " AND stage IN {WITH_DEPARTMENT} AND deadline_ms IS NOT NULL AND deadline_ms < ?"
            ));
            args.push(Value::Integer(now_ms));
        }
        Some(false) => {
            sql.push_str(&format!(
                " AND NOT (stage IN {WITH_DEPARTMENT} AND deadline_ms IS NOT NULL AND deadline_ms < ?)"
            ));
            args.push(Value::Integer(now_ms));
        }
        None => {}
    }
}

impl Read<'_> {
    /// One page of the cases in `scope` matching `filter`, in its order.
    pub fn list_cases(
        &self,
        scope: &ListScope,
        filter: &CaseFilter,
        now_ms: i64,
    ) -> Result<CasePage, DbError> {
        let mut sql = String::from(" FROM server_case WHERE 1 = 1");
        let mut args = Vec::new();
        filter_clause(scope, filter, now_ms, &mut sql, &mut args);
        let total: u64 = self.conn.query_row(
            &format!("SELECT count(*){sql}"),
            rusqlite::params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        let mut page_args = args.clone();
        page_args.push(Value::Integer(i64::from(filter.limit)));
        page_args.push(Value::Integer(i64::from(filter.offset)));
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS}{sql} ORDER BY {} LIMIT ? OFFSET ?",
            filter.order.sql()
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(page_args.iter()), |r| {
            row_to_case(r, now_ms)
        })?;
        let mut items = Vec::new();
        for row in rows {
            items.push(row??);
        }
        Ok(CasePage {
            items,
            total,
            limit: filter.limit,
            offset: filter.offset,
        })
    }

    /// The deadline facts of every case in `scope` matching `filter` (its limit and offset aside), in its
    /// order: what a list filtered by deadline state computes the states from before it counts and pages.
    /// With `windows_only`, only the cases that have a handling window (with a department, dispatched,
    /// with a deadline): the only ones whose state can be other than "no deadline".
    pub fn deadline_candidates(
        &self,
        scope: &ListScope,
        filter: &CaseFilter,
        windows_only: bool,
        now_ms: i64,
    ) -> Result<Vec<Supervised>, DbError> {
        let mut sql = format!("SELECT {SUPERVISED_COLUMNS} FROM server_case c WHERE 1 = 1");
        let mut args = Vec::new();
        filter_clause(scope, filter, now_ms, &mut sql, &mut args);
        if windows_only {
            sql.push_str(&format!(
                " AND stage IN {WITH_DEPARTMENT} AND deadline_ms IS NOT NULL AND dispatched_ms IS NOT NULL"
            ));
        }
        sql.push_str(&format!(" ORDER BY {}", filter.order.sql()));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), supervised)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// The rows of these cases, in the order given (those that do not exist are left out).
    pub fn case_rows(&self, ids: &[CaseId], now_ms: i64) -> Result<Vec<CaseRow>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM server_case WHERE case_id IN ({marks})"
        ))?;
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
            row_to_case(r, now_ms)
        })?;
        let mut found = HashMap::with_capacity(ids.len());
        for row in rows {
            let row = row??;
            found.insert(row.id, row);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub fn case_row(&self, case: CaseId, now_ms: i64) -> Result<Option<CaseRow>, DbError> {
        case_row(self.conn, case, now_ms)
    }

    /// Every case id in `scope` (for the indicators).
    pub fn case_ids(&self, scope: &ListScope) -> Result<Vec<CaseId>, DbError> {
        let mut sql = String::from("SELECT case_id FROM server_case WHERE 1 = 1");
        let mut args = Vec::new();
        scope_clause(scope, &mut sql, &mut args);
        sql.push_str(" ORDER BY created_ms");
        let mut stmt = self.conn.prepare(&sql)?;
        let ids: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.iter().map(|id| parse_case_id(id)).collect()
    }

    /// How many cases are with a department past their deadline.
    pub fn overdue_count(&self, now_ms: i64) -> Result<u64, DbError> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT count(*) FROM server_case WHERE stage IN {WITH_DEPARTMENT}
                 AND deadline_ms IS NOT NULL AND deadline_ms < ?1"
            ),
            [now_ms],
            |r| r.get(0),
        )?)
    }

    pub fn case_count(&self) -> Result<u64, DbError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM server_case", [], |r| r.get(0))?)
    }
}

pub(super) fn case_row(
    conn: &Connection,
    case: CaseId,
    now_ms: i64,
) -> Result<Option<CaseRow>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM server_case WHERE case_id = ?1"
    ))?;
    let row = stmt
        .query_row([case.to_string()], |r| row_to_case(r, now_ms))
        .optional()?;
    row.transpose()
}

/// A case's deadline facts, what its deadline state is computed from: what supervision looks at (with
/// what was last reminded), and what a list filtered by deadline state sorts out.
#[derive(Debug, Clone)]
pub struct Supervised {
    pub case: CaseId,
    pub stage: Stage,
    pub category: CategoryKey,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    /// The clock of the route the case was given, "WH" or "CH".
    pub route_clock: Option<String>,
    pub supervision: Option<String>,
    pub escalated: bool,
}

/// The columns of [`Supervised`], from `server_case c` (the route's clock from the pool).
const SUPERVISED_COLUMNS: &str = "c.case_id, c.stage, c.category_standard, c.category_code,
    c.dispatched_ms, c.deadline_ms,
    (SELECT p.route_clock FROM pool p WHERE p.case_id = c.case_id), c.supervision, c.escalated_ms";

fn supervised(r: &Row<'_>) -> rusqlite::Result<Result<Supervised, DbError>> {
    let id: String = r.get(0)?;
    let stage: String = r.get(1)?;
    let category = CategoryKey {
        standard: r.get(2)?,
        code: r.get(3)?,
    };
    let dispatched: Option<i64> = r.get(4)?;
    let deadline: Option<i64> = r.get(5)?;
    let route_clock: Option<String> = r.get(6)?;
    let supervision: Option<String> = r.get(7)?;
    let escalated: Option<i64> = r.get(8)?;
    Ok((|| {
        Ok(Supervised {
            case: parse_case_id(&id)?,
            stage: stage.parse().map_err(DbError::Corrupt)?,
            category,
            dispatched_at: dispatched.map(time),
            deadline: deadline.map(time),
            route_clock,
            supervision,
            escalated: escalated.is_some(),
        })
    })())
}

impl Read<'_> {
    /// Cases a department holds with a deadline: the ones supervision checks.
    pub fn supervised_cases(&self) -> Result<Vec<Supervised>, DbError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SUPERVISED_COLUMNS} FROM server_case c
             WHERE c.stage IN {WITH_DEPARTMENT} AND c.deadline_ms IS NOT NULL ORDER BY c.deadline_ms"
        ))?;
        let rows = stmt.query_map([], supervised)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }
}

impl Write<'_> {
    pub fn case_row(&self, case: CaseId) -> Result<Option<CaseRow>, DbError> {
        case_row(&self.tx, case, self.now_ms)
    }

    /// Cases verified on site and not yet closed.
    pub fn verified_cases(&self) -> Result<Vec<CaseId>, DbError> {
        let mut stmt = self
            .tx
            .prepare("SELECT case_id FROM server_case WHERE stage = 'verified'")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.iter().map(|id| parse_case_id(id)).collect()
    }

    pub fn set_supervision(&self, case: CaseId, state: &str) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE server_case SET supervision = ?2 WHERE case_id = ?1",
            params![case.to_string(), state],
        )?;
        Ok(())
    }

    pub fn set_escalated(&self, case: CaseId, escalated: bool) -> Result<(), DbError> {
        let at = escalated.then_some(self.now_ms);
        self.tx.execute(
            "UPDATE server_case SET escalated_ms = ?2 WHERE case_id = ?1",
            params![case.to_string(), at],
        )?;
        Ok(())
    }
}
