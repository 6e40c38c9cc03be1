//! Supervision (督办): a periodic job that watches every case a department holds against its deadline.
//! When a case's deadline state becomes Approaching or Overdue it records one reminder (a `Remind`
//! event as the system, which the PDAs and desks see), and when it is overdue past the escalation
//! threshold it marks the case escalated (升级督办) for the supervisors. The same pass closes any case
//! verified on site but not yet closed (e.g. the server stopped between the two steps).
//!
//! The states are computed from the case rows (stage, dispatch time, deadline), so a pass over many
//! open cases opens documents only for the few whose state changed.

use chrono::{DateTime, Utc};
use gridpatrol_core::action::Actor;
use gridpatrol_core::calendar::ClockType;
use gridpatrol_core::dispatch::{
    DeadlineState, SupervisionPolicy, deadline_state, needs_escalation,
};
use gridpatrol_core::sync::server::ActionError;
use gridpatrol_core::timeline::Timeline;
use gridpatrol_core::workflow::ActionKind;
use serde::Serialize;

use crate::centre::CommandCentre;
use crate::db::Supervised;
use crate::error::ServerError;
use crate::metrics::add;
use crate::reference::Reference;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SupervisionReport {
    /// Cases with a department and a deadline that were looked at.
    pub checked: u32,
    pub reminded: u32,
    pub escalated: u32,
    /// Verified cases closed by the sweep.
    pub closed: u32,
}

pub struct Supervision;

pub fn state_name(s: DeadlineState) -> &'static str {
    match s {
        DeadlineState::NoDeadline => "no_deadline",
        DeadlineState::OnTime => "on_time",
        DeadlineState::Approaching => "approaching",
        DeadlineState::Overdue => "overdue",
    }
}

/// The clock a case's deadline runs on: the route's, else the category's, else working hours.
pub fn clock_of(reference: &Reference, s: &Supervised) -> ClockType {
    s.route_clock
        .as_deref()
        .and_then(|c| c.parse().ok())
        .or_else(|| reference.catalog.get(&s.category).map(|c| c.clock))
        .unwrap_or(ClockType::WorkingHours)
}

/// The handling window of the timeline, as the case row mirrors it.
pub fn window(s: &Supervised) -> Timeline {
    Timeline {
        stage: Some(s.stage),
        dispatched_at: s.dispatched_at,
        deadline: s.deadline,
        ..Timeline::default()
    }
}

/// The deadline state of a case at `now`, measured as supervision measures it.
pub fn state_at(
    reference: &Reference,
    policy: &SupervisionPolicy,
    s: &Supervised,
    now: DateTime<Utc>,
) -> DeadlineState {
    deadline_state(
        &window(s),
        clock_of(reference, s),
        &reference.calendar,
        now,
        policy,
    )
}

impl Supervision {
    pub fn run(
        centre: &CommandCentre,
        now: DateTime<Utc>,
    ) -> Result<SupervisionReport, ServerError> {
        if let Err(e) = centre.refresh_reference() {
            tracing::error!(error = %e, "reloading reference data failed");
        }
        let mut report = SupervisionReport::default();
        let verified = centre.db.write(|w| w.verified_cases())?;
        for case in verified {
            if centre.close_if_verified(case)? {
                report.closed += 1;
            }
        }
        let reference = centre.reference();
        let policy = centre.options.supervision;
        for s in centre.db.read(|r| r.supervised_cases())? {
            report.checked += 1;
            let state = state_at(&reference, &policy, &s, now);
            let escalate = needs_escalation(
                &window(&s),
                clock_of(&reference, &s),
                &reference.calendar,
                now,
                &policy,
            );
            let key = format!(
                "{}@{}",
                state_name(state),
                s.deadline.map_or(0, |d| d.timestamp_millis())
            );
            if s.supervision.as_deref() == Some(key.as_str()) && escalate == s.escalated {
                continue;
            }
            let (reminded, escalated) = centre.db.write(|w| {
                let mut reminded = false;
                if s.supervision.as_deref() != Some(key.as_str()) {
                    if matches!(state, DeadlineState::Approaching | DeadlineState::Overdue) {
                        let note = match state {
                            DeadlineState::Overdue => "已超期，请尽快处置 (overdue: handle it now)",
                            _ => "即将超期，请抓紧处置 (deadline approaching)",
                        };
                        let recorded = centre.sync.record(
                            w,
                            s.case,
                            ActionKind::Remind,
                            Actor::SYSTEM,
                            now,
                            |event| {
                                event.note = Some(note.into());
                                Ok::<_, ServerError>(())
                            },
                        );
                        match recorded {
                            Ok(_) => reminded = true,
                            // The case left the department meanwhile: nothing to chase.
                            Err(ActionError::Refused(_) | ActionError::NoSuchCase(_)) => {
                                return Ok::<_, ServerError>((false, false));
                            }
                            Err(ActionError::Flagged(_) | ActionError::Clock(_)) => {
                                tracing::warn!(case = %s.case, "a reminder would not take effect; skipped");
                                return Ok::<_, ServerError>((false, false));
                            }
                            Err(e) => return Err(crate::sync::action_error(s.case, e)),
                        }
                        w.audit("system", "remind", Some(s.case), Some(state_name(state)))?;
                    }
                    w.set_supervision(s.case, &key)?;
                }
                let mut escalated = false;
                if escalate != s.escalated {
                    w.set_escalated(s.case, escalate)?;
                    if escalate {
                        escalated = true;
                        w.audit(
                            "system",
                            "escalate",
                            Some(s.case),
                            Some("overdue past the escalation threshold (超期升级督办)"),
                        )?;
                    }
                }
                Ok((reminded, escalated))
            })?;
            report.reminded += u32::from(reminded);
            report.escalated += u32::from(escalated);
        }
        add(&centre.metrics.reminders, u64::from(report.reminded));
        add(&centre.metrics.escalations, u64::from(report.escalated));
        if report.reminded + report.escalated + report.closed > 0 {
            tracing::info!(?report, "supervision pass");
        }
        Ok(report)
    }
}
