//! The action kernel: the one way an event enters a case, on a PDA (the device store) and on the
//! server (desks, supervision, the system's follow-ups).
//!
//! It checks the action against the workflow for the actor's role, gives the event its stamp (after
//! everything the case has seen, [`crate::timeline::Timeline::next_stamp`]), lets the caller fill in
//! the rest knowing that stamp (a deadline's clock starts there), appends the event with its photos,
//! and replays the case to make sure the event took effect where it landed. No caller predicts or
//! invents a stamp, and what "recording an action" means is written once.

use automerge::ChangeHash;
use chrono::{DateTime, Utc};

use crate::case::{Case, CaseId, PhotoRef};
use crate::doc::CaseDoc;
use crate::timeline::{Hlc, Outcome, TimelineEvent};
use crate::workflow::{ActionKind, Refusal, Role};

/// Who acts: the person (or "system"), the role they act in, and the device for a PDA's actions.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: &'a str,
    pub role: Role,
    pub device: Option<&'a str>,
}

impl<'a> Actor<'a> {
    /// The server acting by itself (supervision's reminders, closing a verified case).
    pub const SYSTEM: Actor<'static> = Actor {
        id: "system",
        role: Role::System,
        device: None,
    };

    /// A person at a desk, or a grid worker on a PDA (`device`).
    pub fn new(id: &'a str, role: Role, device: Option<&'a str>) -> Self {
        Actor { id, role, device }
    }
}

/// An action that was recorded: the case as it now stands and the document's heads before it, from
/// which the caller takes the new changes to persist.
#[derive(Debug)]
pub struct Recorded {
    pub case: Case,
    pub heads_before: Vec<ChangeHash>,
}

/// Why an action was not recorded. `E` is the caller's own error (its storage, or what its `fill`
/// found wrong with the request).
#[derive(Debug, thiserror::Error)]
pub enum ActionError<E: std::error::Error> {
    #[error("no case {0} (案件不存在)")]
    NoSuchCase(CaseId),
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The event would not take effect where it lands in the timeline (HTTP 409): nothing is recorded.
    #[error("{0} (操作与案件时间线冲突，未记录)")]
    Flagged(String),
    /// The case's clock cannot advance (a stamp at the counter's end): nothing is recorded.
    #[error(
        "the case's clock cannot advance past {0:?}; ask an administrator (案件时钟异常，未记录)"
    )]
    Clock(Hlc),
    #[error(transparent)]
    Document(crate::Error),
    #[error(transparent)]
    Backend(E),
}

/// Records `action` by `actor` on `doc` (which reads as `before`). `fill` completes the event (note,
/// department, deadline, attachments…) with its stamp already set, and returns the photos that come
/// with it, or `None` to record nothing after all. On an error nothing is appended.
pub fn record<E: std::error::Error>(
    doc: &mut CaseDoc,
    before: &Case,
    action: ActionKind,
    actor: Actor<'_>,
    now: DateTime<Utc>,
    fill: impl FnOnce(&mut TimelineEvent) -> Result<Option<Vec<PhotoRef>>, E>,
) -> Result<Option<Recorded>, ActionError<E>> {
    before.timeline.check(action, actor.role)?;
    let at = before.timeline.next_stamp(now);
    if before.timeline.latest.is_some_and(|l| at <= l) {
        return Err(ActionError::Clock(at));
    }
    let mut event = TimelineEvent::new(action, actor.id, actor.role, at);
    event.device = actor.device.map(str::to_owned);
    let Some(photos) = fill(&mut event).map_err(ActionError::Backend)? else {
        return Ok(None);
    };
    // What the kernel decided stays decided: `fill` adds to the event, it does not re-stamp or re-cast it.
    event.at = at;
    event.action = action;
    event.role = actor.role;
    event.actor = actor.id.to_owned();
    let heads_before = doc.heads();
    doc.append(&event, &photos).map_err(ActionError::Document)?;
    let case = doc.read().map_err(ActionError::Document)?;
    // Stamped after everything the case has seen, the event replays last; should it not take effect
    // there (a clock anomaly), an answer of success would be a lie.
    if let Some(entry) = case
        .timeline
        .entries
        .iter()
        .find(|e| e.event.id == event.id)
        && let Outcome::Flagged { reason } = &entry.outcome
    {
        return Err(ActionError::Flagged(reason.clone()));
    }
    Ok(Some(Recorded { case, heads_before }))
}
