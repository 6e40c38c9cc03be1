//! Supervision (督办): how a case with a department stands against its handling deadline.
//!
//! The allowed time runs from the latest dispatch to the deadline in force (an extension moves the
//! deadline, so it also grows the allowed time). Both the time left and the time overdue are measured on
//! the route's clock, so nights, weekends and holidays do not count for a working-hours case: a case
//! dispatched on Friday evening is not overdue on Sunday, and is not "more overdue" after a weekend.

use chrono::{DateTime, Duration, Utc};

use crate::calendar::{ClockType, WorkCalendar};
use crate::timeline::Timeline;

/// Where a case stands against its handling deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Not with a department (not yet dispatched, returned, handled, closed ...), or dispatched without
    /// a deadline: nothing to watch.
    NoDeadline,
    OnTime,
    /// At most `warn_fraction` of the allowed time is left: warn the department (预警).
    Approaching,
    /// Past the deadline (超期).
    Overdue,
}

/// When supervision warns and escalates, as fractions of the time a case was allowed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SupervisionPolicy {
    /// Warn when this fraction of the allowed time is left, e.g. 0.25.
    pub warn_fraction: f64,
    /// Escalate when overdue by more than this fraction of the allowed time, e.g. 0.5.
    pub escalate_after_fraction: f64,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        SupervisionPolicy {
            warn_fraction: 0.25,
            escalate_after_fraction: 0.5,
        }
    }
}

/// The handling clock of a case: (started, deadline), while the case is with a department
/// (Dispatched, Accepted or Rework) and has a deadline.
fn handling_window(timeline: &Timeline) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let with_department = timeline.stage.is_some_and(|s| s.is_with_department());
    if !with_department {
        return None;
    }
    Some((timeline.dispatched_at?, timeline.deadline?))
}

/// `fraction` of `span`, in milliseconds (fractions are policy knobs, not exact quantities).
fn share(span: Duration, fraction: f64) -> f64 {
    span.num_milliseconds() as f64 * fraction
}

/// The deadline state of a case at `now`, on `clock` (the route's: working hours or continuous).
pub fn deadline_state(
    timeline: &Timeline,
    clock: ClockType,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
    policy: &SupervisionPolicy,
) -> DeadlineState {
    let Some((started, deadline)) = handling_window(timeline) else {
        return DeadlineState::NoDeadline;
    };
    // At the deadline itself the case is still on time, as a handling at that instant is.
    if now > deadline {
        return DeadlineState::Overdue;
    }
    let allowed = calendar.elapsed(started, deadline, clock);
    let left = calendar.elapsed(now, deadline, clock);
    if left.num_milliseconds() as f64 <= share(allowed, policy.warn_fraction) {
        DeadlineState::Approaching
    } else {
        DeadlineState::OnTime
    }
}

/// Whether the case is overdue by more than `escalate_after_fraction` of its allowed time, measured on
/// `clock`, so that it goes up to the supervisor (升级督办).
pub fn needs_escalation(
    timeline: &Timeline,
    clock: ClockType,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
    policy: &SupervisionPolicy,
) -> bool {
    let Some((started, deadline)) = handling_window(timeline) else {
        return false;
    };
    if now <= deadline {
        return false;
    }
    let allowed = calendar.elapsed(started, deadline, clock);
    let overdue_by = calendar.elapsed(deadline, now, clock);
    overdue_by.num_milliseconds() as f64 > share(allowed, policy.escalate_after_fraction)
}
