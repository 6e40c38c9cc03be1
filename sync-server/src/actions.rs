//! Desk actions (`POST /api/v1/cases/{id}/actions`): what a person at a desk asks for, turned into the
//! timeline event the core records. The workflow itself (who may do what, when) is the core's.

use chrono::{DateTime, Utc};
use gridpatrol_core::calendar::ClockType;
use gridpatrol_core::case::{Case, MAX_DESCRIPTION_CHARS, check_text};
use gridpatrol_core::timeline::TimelineEvent;
use gridpatrol_core::workflow::ActionKind;
use serde::Deserialize;

use crate::db::{PoolEntry, WorkerRow};
use crate::error::ServerError;
use crate::pool::DispatchPool;
use crate::reference::Reference;

/// The actions a desk can take through the API.
pub const DESK_ACTIONS: [ActionKind; 12] = [
    ActionKind::Register,
    ActionKind::Reject,
    ActionKind::Dispatch,
    ActionKind::Accept,
    ActionKind::Return,
    ActionKind::Handle,
    ActionKind::Feedback,
    ActionKind::RequestVerification,
    ActionKind::Close,
    ActionKind::Extend,
    ActionKind::SpecialClose,
    ActionKind::Remind,
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Dispatch: the department (default: the route's).
    #[serde(default)]
    pub department: Option<String>,
    /// Dispatch or extend: the deadline, RFC 3339.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    /// Dispatch or extend: hours on the case's clock instead of a deadline.
    #[serde(default)]
    pub hours: Option<f64>,
    /// Request verification: the grid worker (default: the reporter, or the cell's current worker).
    #[serde(default)]
    pub assignee: Option<String>,
}

impl ActionRequest {
    pub fn kind(&self) -> Result<ActionKind, ServerError> {
        let unknown = || {
            ServerError::bad_request(
                "bad_action",
                format!(
                    "unknown action {:?}; a desk may: {} (未知操作)",
                    self.action,
                    DESK_ACTIONS.map(|a| a.as_str()).join(", ")
                ),
            )
        };
        let kind: ActionKind = self.action.parse().map_err(|_| unknown())?;
        if DESK_ACTIONS.contains(&kind) {
            Ok(kind)
        } else {
            Err(unknown())
        }
    }
}

/// The clock a case's handling deadline runs on: the route's, else the category's, else working hours.
pub fn case_clock(reference: &Reference, case: &Case, pool: Option<&PoolEntry>) -> ClockType {
    pool.and_then(|p| p.route.clock.as_deref())
        .and_then(|c| c.parse().ok())
        .or_else(|| {
            reference
                .catalog
                .get(&case.details.category)
                .map(|c| c.clock)
        })
        .unwrap_or(ClockType::WorkingHours)
}

/// The grid worker who verifies: the reporter while they still cover the cell, else the worker whose
/// cells cover it most specifically, else the reporter.
pub fn default_verifier(case: &Case, workers: &[WorkerRow]) -> String {
    let cell = case.cell.as_deref().unwrap_or("");
    let covers = |w: &WorkerRow| {
        w.cells
            .iter()
            .filter(|p| cell.starts_with(p.as_str()))
            .map(|p| p.len())
            .max()
    };
    if workers
        .iter()
        .any(|w| w.id == case.reporter && covers(w).is_some())
    {
        return case.reporter.clone();
    }
    workers
        .iter()
        .filter_map(|w| covers(w).map(|len| (len, w)))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.id.cmp(&a.1.id)))
        .map_or_else(|| case.reporter.clone(), |(_, w)| w.id.clone())
}

fn positive_hours(h: f64) -> Result<f64, ServerError> {
    if h.is_finite() && h > 0.0 && h <= 24.0 * 366.0 {
        Ok(h)
    } else {
        Err(ServerError::bad_request(
            "bad_hours",
            format!("hours must be a positive number up to a year, got {h} (时限须为正数小时)"),
        ))
    }
}

/// What an action is prepared against: who acts, on which case, with which reference data, when.
pub struct ActionContext<'a> {
    pub case: &'a Case,
    pub pool: Option<&'a PoolEntry>,
    pub reference: &'a Reference,
    pub workers: &'a [WorkerRow],
    /// The latest a deadline may be, from now.
    pub max_deadline: chrono::Duration,
}

/// A deadline past the configured horizon is refused: a case parked for a decade is not handled.
fn check_horizon(
    deadline: DateTime<Utc>,
    start: DateTime<Utc>,
    max: chrono::Duration,
) -> Result<(), ServerError> {
    if deadline > start + max {
        return Err(ServerError::bad_request(
            "bad_deadline",
            format!(
                "the deadline {deadline} is more than {} days ahead; the server allows at most that (处置时限超过允许的最长天数)",
                max.num_days()
            ),
        ));
    }
    Ok(())
}

/// Completes the event for `request`, as the `fill` of the core's action kernel: the kernel has
/// checked the workflow and stamped the event, and the handling clock starts at that stamp. Here are
/// the parts only the server knows (routes, deadlines, workers).
pub fn fill(
    ctx: &ActionContext<'_>,
    request: &ActionRequest,
    event: &mut TimelineEvent,
) -> Result<(), ServerError> {
    let ActionContext {
        case,
        pool,
        reference,
        workers,
        max_deadline,
    } = *ctx;
    if let Some(note) = &request.note {
        check_text("note", note, MAX_DESCRIPTION_CHARS)
            .map_err(|e| ServerError::bad_request("bad_note", e.to_string()))?;
    }
    let kind = event.action;
    let start = event.at.time();
    let clock = case_clock(reference, case, pool);
    event.note = request.note.clone().filter(|n| !n.trim().is_empty());
    match kind {
        ActionKind::Dispatch => {
            let route = DispatchPool::route(
                reference,
                &case.details.category,
                case.cell.as_deref(),
                start,
            )
            .ok();
            let department = request
                .department
                .clone()
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .or_else(|| route.as_ref().map(|r| r.department.clone()))
                .ok_or_else(|| {
                    ServerError::Unprocessable {
                        code: "no_route",
                        message: format!(
                            "no routing rule covers category {}:{}; name the department (无派遣规则，请指定处置部门)",
                            case.details.category.standard, case.details.category.code
                        ),
                    }
                })?;
            check_text("department", &department, 100)
                .map_err(|e| ServerError::bad_request("bad_department", e.to_string()))?;
            let clock = route.as_ref().map_or(clock, |r| r.clock);
            let deadline = match (request.deadline, request.hours) {
                (Some(d), _) => d,
                (None, Some(h)) => reference.calendar.deadline(start, positive_hours(h)?, clock),
                (None, None) => route.as_ref().map(|r| r.deadline).ok_or_else(|| ServerError::Unprocessable {
                    code: "no_route",
                    message: "no routing rule gives a deadline for this case; give a deadline or hours (无处置时限，请指定)".into(),
                })?,
            };
            if deadline <= start {
                return Err(ServerError::bad_request(
                    "bad_deadline",
                    format!(
                        "the deadline {deadline} is not after now ({start}) (处置时限须晚于当前时间)"
                    ),
                ));
            }
            check_horizon(deadline, start, max_deadline)?;
            event.department = Some(department);
            event.deadline = Some(deadline);
        }
        ActionKind::Extend => {
            let current = case.timeline.deadline.unwrap_or(start);
            let deadline = match (request.deadline, request.hours) {
                (Some(d), _) => d,
                (None, Some(h)) => {
                    reference
                        .calendar
                        .deadline(current.max(start), positive_hours(h)?, clock)
                }
                (None, None) => {
                    return Err(ServerError::bad_request(
                        "bad_deadline",
                        "an extension needs a new deadline or hours (延期须指定新时限或小时数)",
                    ));
                }
            };
            if deadline <= current {
                return Err(ServerError::bad_request(
                    "bad_deadline",
                    format!(
                        "an extension must move the deadline {current} later, not to {deadline} (延期后时限须晚于原时限)"
                    ),
                ));
            }
            check_horizon(deadline, start, max_deadline)?;
            event.deadline = Some(deadline);
        }
        ActionKind::RequestVerification => {
            let assignee = match request
                .assignee
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                Some(a) => {
                    if !workers.iter().any(|w| w.id == a) {
                        return Err(ServerError::bad_request(
                            "unknown_worker",
                            format!("no grid worker {a:?} (网格员不存在)"),
                        ));
                    }
                    a.to_owned()
                }
                None => default_verifier(case, workers),
            };
            event.assignee = Some(assignee);
        }
        _ => {}
    }
    Ok(())
}
