//! The append-only timeline of a case, and its deterministic replay.
//!
//! Replicas append events concurrently and offline; after a merge every replica holds the same set of
//! events. Replay sorts them by (hybrid logical clock, actor, event id), a total order that every replica
//! computes alike and that respects causality (an event is stamped after every event its replica had
//! seen), and runs them through the [`crate::workflow`] machine. An event the machine refuses in that
//! order is kept and flagged, and does not move the stage.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case::{CaseDetails, CaseEdit};
use crate::workflow::{self, ActionKind, Refusal, Role, Stage};

/// A hybrid logical clock stamp: wall-clock milliseconds, with a counter that breaks ties and keeps the
/// order causal when a device's clock is behind the events it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: i64,
    pub counter: u32,
}

impl Hlc {
    /// The stamp for a new event on a replica whose latest known stamp is `seen`, at wall time `now_ms`.
    pub fn tick(seen: Option<Hlc>, now_ms: i64) -> Hlc {
        match seen {
            Some(s) if s.wall_ms >= now_ms => Hlc {
                wall_ms: s.wall_ms,
                counter: s.counter.saturating_add(1),
            },
            _ => Hlc {
                wall_ms: now_ms,
                counter: 0,
            },
        }
    }

    pub fn time(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.wall_ms)
            .single()
            .unwrap_or_default()
    }
}

/// One entry of the timeline: who did what, when, and with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub id: Uuid,
    pub at: Hlc,
    /// The person (worker, dispatcher, department account) or "system".
    pub actor: String,
    pub role: Role,
    /// The device the event was recorded on, for events from PDAs.
    pub device: Option<String>,
    pub action: ActionKind,
    pub note: Option<String>,
    /// The department a dispatch sends the case to.
    pub department: Option<String>,
    /// The handling deadline a dispatch or an extension sets.
    pub deadline: Option<DateTime<Utc>>,
    /// Photo hashes (sha256) that come with this event as evidence.
    pub attachments: Vec<String>,
    /// The corrected details of an edit.
    pub edit: Option<CaseEdit>,
    /// The grid worker a verification request goes to (the reporter, or the cell's current worker).
    pub assignee: Option<String>,
}

impl TimelineEvent {
    /// A bare event; set the optional parts with struct update syntax.
    pub fn new(action: ActionKind, actor: &str, role: Role, at: Hlc) -> Self {
        TimelineEvent {
            id: Uuid::now_v7(),
            at,
            actor: actor.to_owned(),
            role,
            device: None,
            action,
            note: None,
            department: None,
            deadline: None,
            attachments: Vec::new(),
            edit: None,
            assignee: None,
        }
    }

    fn order_key(&self) -> (Hlc, &str, Uuid) {
        (self.at, self.actor.as_str(), self.id)
    }
}

/// What replay made of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Valid; the stage went from `from` to `to` (equal for actions that do not move the case).
    Applied { from: Option<Stage>, to: Stage },
    /// Invalid in the replayed order: kept for the record, ignored for the stage.
    Flagged { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub event: TimelineEvent,
    pub outcome: Outcome,
}

impl TimelineEntry {
    pub fn is_flagged(&self) -> bool {
        matches!(self.outcome, Outcome::Flagged { .. })
    }
}

/// The replayed timeline: entries in replay order and what they add up to.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Timeline {
    pub entries: Vec<TimelineEntry>,
    pub stage: Option<Stage>,
    /// The department the case is with (the latest valid dispatch).
    pub department: Option<String>,
    /// The handling deadline in force (the latest valid dispatch or extension).
    pub deadline: Option<DateTime<Utc>>,
    /// When the case was last dispatched (the handling clock's start).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// The grid worker asked to verify (the latest valid verification request).
    pub verifier: Option<String>,
    /// The latest stamp in the timeline, valid or not: new events are stamped after it.
    pub latest: Option<Hlc>,
}

impl Timeline {
    /// Replays `events` (in any order, as a merge produced them) into the derived timeline.
    pub fn replay(mut events: Vec<TimelineEvent>) -> Timeline {
        events.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        // The same event can arrive twice (e.g. re-recorded after a lost acknowledgement): keep one.
        events.dedup_by(|a, b| a.id == b.id);
        let mut t = Timeline::default();
        for event in events {
            let outcome = t.step(&event);
            t.latest = t.latest.max(Some(event.at));
            t.entries.push(TimelineEntry { event, outcome });
        }
        t
    }

    fn step(&mut self, event: &TimelineEvent) -> Outcome {
        // Only the grid worker the verification was sent to may verify: a rule of the record, so every
        // replica ignores anyone else's verdict however it got into the document.
        if matches!(
            event.action,
            ActionKind::VerifyPass | ActionKind::VerifyFail
        ) && self.verifier.as_deref() != Some(event.actor.as_str())
        {
            return Outcome::Flagged {
                reason: format!(
                    "{} is not the assigned verifier (非指定核查人，核查无效)",
                    event.actor
                ),
            };
        }
        match workflow::apply(self.stage, event.action, event.role) {
            Ok(to) => {
                let from = self.stage;
                self.stage = Some(to);
                self.note_effects(event);
                Outcome::Applied { from, to }
            }
            Err(refusal) => Outcome::Flagged {
                reason: refusal.to_string(),
            },
        }
    }

    fn note_effects(&mut self, event: &TimelineEvent) {
        match event.action {
            ActionKind::Dispatch => {
                self.department = event.department.clone();
                self.deadline = event.deadline;
                self.dispatched_at = Some(event.at.time());
            }
            ActionKind::Extend if event.deadline.is_some() => self.deadline = event.deadline,
            ActionKind::Return => self.department = None,
            ActionKind::RequestVerification => self.verifier = event.assignee.clone(),
            _ => {}
        }
    }

    /// Would `role` be allowed to `action` now? Used before appending, so a replica refuses at once what
    /// it can already tell is invalid (a concurrent event can still make it invalid after a merge).
    pub fn check(&self, action: ActionKind, role: Role) -> Result<Stage, Refusal> {
        workflow::apply(self.stage, action, role)
    }

    /// The report's details with every valid edit applied in replay order.
    pub fn details(&self, reported: &CaseDetails) -> CaseDetails {
        let mut details = reported.clone();
        for entry in self.entries.iter().filter(|e| !e.is_flagged()) {
            if let Some(edit) = &entry.event.edit {
                edit.apply_to(&mut details);
            }
        }
        details
    }

    /// The sequence of stages the valid events passed through, starting from nothing.
    pub fn path(&self) -> Vec<Stage> {
        self.entries
            .iter()
            .filter_map(|e| match e.outcome {
                Outcome::Applied { from, to } if from != Some(to) => Some(to),
                _ => None,
            })
            .collect()
    }

    /// The next stamp for an event appended now.
    pub fn next_stamp(&self, now: DateTime<Utc>) -> Hlc {
        Hlc::tick(self.latest, now.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: ActionKind, role: Role, wall_ms: i64, actor: &str) -> TimelineEvent {
        TimelineEvent::new(
            action,
            actor,
            role,
            Hlc {
                wall_ms,
                counter: 0,
            },
        )
    }

    #[test]
    fn replay_orders_by_stamp_whatever_the_input_order() {
        let events = vec![
            ev(ActionKind::Register, Role::Dispatcher, 2_000, "d1"),
            ev(ActionKind::Report, Role::GridWorker, 1_000, "w1"),
        ];
        let mut reversed = events.clone();
        reversed.reverse();
        let a = Timeline::replay(events);
        let b = Timeline::replay(reversed);
        assert_eq!(a, b);
        assert_eq!(a.stage, Some(Stage::Registered));
        assert_eq!(a.path(), vec![Stage::Reported, Stage::Registered]);
    }

    #[test]
    fn an_invalid_event_is_kept_flagged_and_ignored() {
        let t = Timeline::replay(vec![
            ev(ActionKind::Report, Role::GridWorker, 1, "w1"),
            ev(ActionKind::Reject, Role::Dispatcher, 2, "d1"),
            // Concurrently, another dispatcher registered it: too late in the replayed order.
            ev(ActionKind::Register, Role::Dispatcher, 3, "d2"),
        ]);
        assert_eq!(t.stage, Some(Stage::Rejected));
        assert_eq!(t.entries.len(), 3);
        assert!(t.entries[2].is_flagged());
        assert!(!t.entries[1].is_flagged());
    }

    #[test]
    fn ties_are_broken_by_actor_then_id() {
        let a = ev(ActionKind::Reject, Role::Dispatcher, 5, "a");
        let b = ev(ActionKind::Register, Role::Dispatcher, 5, "b");
        let report = ev(ActionKind::Report, Role::GridWorker, 1, "w");
        let t1 = Timeline::replay(vec![report.clone(), b.clone(), a.clone()]);
        let t2 = Timeline::replay(vec![a, report, b]);
        assert_eq!(t1, t2);
        assert_eq!(t1.stage, Some(Stage::Rejected));
    }

    #[test]
    fn dispatch_sets_department_and_deadline_and_extension_moves_it() {
        let d1 = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
        let d2 = Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0).unwrap();
        let t = Timeline::replay(vec![
            ev(ActionKind::Report, Role::GridWorker, 1, "w"),
            ev(ActionKind::Register, Role::Dispatcher, 2, "d"),
            TimelineEvent {
                department: Some("城管".into()),
                deadline: Some(d1),
                ..ev(ActionKind::Dispatch, Role::Dispatcher, 3, "d")
            },
            TimelineEvent {
                deadline: Some(d2),
                ..ev(ActionKind::Extend, Role::Supervisor, 4, "s")
            },
        ]);
        assert_eq!(t.department.as_deref(), Some("城管"));
        assert_eq!(t.deadline, Some(d2));
        assert_eq!(t.stage, Some(Stage::Dispatched));
    }

    #[test]
    fn edits_apply_only_while_valid() {
        let reported = CaseDetails {
            category: crate::catalog::CategoryKey {
                standard: "S".into(),
                code: "1".into(),
            },
            address: "a".into(),
            description: "first".into(),
        };
        let edit = |d: &str, at| TimelineEvent {
            edit: Some(CaseEdit {
                description: Some(d.into()),
                ..CaseEdit::default()
            }),
            ..ev(ActionKind::Edit, Role::GridWorker, at, "w")
        };
        let t = Timeline::replay(vec![
            ev(ActionKind::Report, Role::GridWorker, 1, "w"),
            edit("second", 2),
            ev(ActionKind::Register, Role::Dispatcher, 3, "d"),
            edit("too late", 4),
        ]);
        assert_eq!(t.details(&reported).description, "second");
        assert!(t.entries[3].is_flagged());
    }

    #[test]
    fn stamps_stay_causal_when_the_clock_is_behind() {
        let seen = Hlc {
            wall_ms: 10_000,
            counter: 3,
        };
        assert_eq!(
            Hlc::tick(Some(seen), 5_000),
            Hlc {
                wall_ms: 10_000,
                counter: 4
            }
        );
        assert_eq!(
            Hlc::tick(Some(seen), 20_000),
            Hlc {
                wall_ms: 20_000,
                counter: 0
            }
        );
        assert!(Hlc::tick(Some(seen), 5_000) > seen);
    }

    #[test]
    fn duplicate_events_count_once() {
        let r = ev(ActionKind::Report, Role::GridWorker, 1, "w");
        let t = Timeline::replay(vec![r.clone(), r]);
        assert_eq!(t.entries.len(), 1);
        assert!(!t.entries[0].is_flagged());
    }
}
