//! Desk endpoints: cases, actions, indicators, supervision, the audit log.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use gridpatrol_core::case::CaseId;
use gridpatrol_core::dispatch::DeadlineState;
use gridpatrol_core::indicators::{GroupBy, Period};
use gridpatrol_core::workflow::Stage;
use serde::Deserialize;

use super::extract::{JsonBody, QueryParams};
use super::{AppState, blocking};
use crate::actions::ActionRequest;
use crate::db::{AuditEntry, CaseFilter, CaseOrder};
use crate::desk::{CaseView, Stats};
use crate::error::ServerError;
use crate::listing::{ListedPage, parse_deadline_state};
use crate::principal::{Desk, DeskRole};
use crate::supervision::{Supervision, SupervisionReport};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesQuery {
    /// A stage, or several separated by commas.
    pub stage: Option<String>,
    pub cell: Option<String>,
    pub department: Option<String>,
    pub overdue: Option<bool>,
    /// A deadline state, or several separated by commas.
    pub deadline_state: Option<String>,
    pub order: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

fn case_id(id: &str) -> Result<CaseId, ServerError> {
    id.parse().map_err(|_| {
        ServerError::bad_request(
            "bad_case_id",
            format!("{id:?} is not a case id (案件编号格式错误)"),
        )
    })
}

/// The items of a comma-separated parameter, each parsed; an empty parameter is none.
fn comma_list<T>(
    text: Option<&str>,
    parse: impl Fn(&str) -> Result<T, ServerError>,
) -> Result<Vec<T>, ServerError> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

fn stage(text: &str) -> Result<Stage, ServerError> {
    text.parse::<Stage>()
        .map_err(|e| ServerError::bad_request("bad_stage", format!("{e} (未知环节)")))
}

fn deadline_state(text: &str) -> Result<DeadlineState, ServerError> {
    parse_deadline_state(text).ok_or_else(|| {
        ServerError::bad_request(
            "bad_deadline_state",
            format!(
                "deadline_state={text:?}: use on_time, approaching, overdue or no_deadline, several separated by commas (时限状态错误)"
            ),
        )
    })
}

fn order(text: Option<&str>) -> Result<CaseOrder, ServerError> {
    match text.filter(|o| !o.is_empty()) {
        None => Ok(CaseOrder::default()),
        Some(o) => o
            .parse()
            .map_err(|e| ServerError::bad_request("bad_order", format!("{e} (排序方式错误)"))),
    }
}

pub async fn list_cases(
    State(state): State<AppState>,
    desk: Desk,
    QueryParams(q): QueryParams<CasesQuery>,
) -> Result<Json<ListedPage>, ServerError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ServerError::bad_request(
            "bad_limit",
            format!("limit must be 1 to {MAX_PAGE} (每页条数须为 1 至 {MAX_PAGE})"),
        ));
    }
    let filter = CaseFilter {
        stages: comma_list(q.stage.as_deref(), stage)?,
        cell: q.cell.filter(|c| !c.is_empty()),
        department: q.department.filter(|d| !d.is_empty()),
        overdue: q.overdue,
        order: order(q.order.as_deref())?,
        limit,
        offset: q.offset.unwrap_or(0),
    };
    let states = comma_list(q.deadline_state.as_deref(), deadline_state)?;
    blocking(&state, move |c| {
        c.list_cases(&desk, &filter, &states, Utc::now())
    })
    .await
    .map(Json)
}

pub async fn get_case(
    State(state): State<AppState>,
    desk: Desk,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ServerError> {
    let id = case_id(&id)?;
    blocking(&state, move |c| c.case_view(&desk, id))
        .await
        .map(Json)
}

pub async fn act(
    State(state): State<AppState>,
    desk: Desk,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ActionRequest>,
) -> Result<Json<CaseView>, ServerError> {
    let id = case_id(&id)?;
    blocking(&state, move |c| c.act(&desk, id, &req))
        .await
        .map(Json)
}

fn supervisor_only(desk: &Desk) -> Result<(), ServerError> {
    if desk.role == DeskRole::Supervisor {
        Ok(())
    } else {
        Err(ServerError::refused(
            "supervisor_only",
            "only a supervisor desk may do this (仅值班长/监督可操作)",
        ))
    }
}

pub async fn run_supervision(
    State(state): State<AppState>,
    desk: Desk,
) -> Result<Json<SupervisionReport>, ServerError> {
    supervisor_only(&desk)?;
    blocking(&state, move |c| Supervision::run(c, Utc::now()))
        .await
        .map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub case: Option<String>,
    pub limit: Option<u32>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    desk: Desk,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ServerError> {
    supervisor_only(&desk)?;
    let case = q.case.as_deref().map(case_id).transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ServerError::bad_request(
            "bad_limit",
            "limit must be 1 to 1000 (条数须为 1 至 1000)",
        ));
    }
    blocking(&state, move |c| {
        Ok(c.db.read(|r| r.audit_log(case, limit))?)
    })
    .await
    .map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    pub group_by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// An instant as RFC 3339, or a date (YYYY-MM-DD) meaning its local midnight on the work calendar.
fn instant(field: &str, text: &str, offset: FixedOffset) -> Result<DateTime<Utc>, ServerError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(offset).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            ServerError::bad_request(
                "bad_time",
                format!("{field}={text:?} is neither RFC 3339 nor YYYY-MM-DD (时间格式错误)"),
            )
        })
}

pub async fn stats(
    State(state): State<AppState>,
    desk: Desk,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<Json<Stats>, ServerError> {
    let group_by = match q.group_by.as_deref().unwrap_or("department") {
        "department" => GroupBy::Department,
        "cell" => GroupBy::Cell,
        "street" => GroupBy::Street,
        "worker" => GroupBy::Worker,
        other => {
            return Err(ServerError::bad_request(
                "bad_group_by",
                format!(
                    "group_by={other:?}: use department, cell, street or worker (分组方式错误)"
                ),
            ));
        }
    };
    let offset = state.reference().calendar.utc_offset();
    let now = Utc::now();
    let to =
        q.to.as_deref()
            .map(|t| instant("to", t, offset))
            .transpose()?
            .unwrap_or(now);
    // Default: the calendar month so far, as monthly assessments count.
    let from = match q.from.as_deref() {
        Some(t) => instant("from", t, offset)?,
        None => {
            let local = to.with_timezone(&offset).date_naive();
            instant(
                "from",
                &format!("{}-{:02}-01", local.year(), local.month()),
                offset,
            )?
        }
    };
    if from >= to {
        return Err(ServerError::bad_request(
            "bad_period",
            format!("from {from} must be before to {to} (起始时间须早于结束时间)"),
        ));
    }
    let period = Period { from, to };
    blocking(&state, move |c| c.stats(&desk, group_by, period))
        .await
        .map(Json)
}
