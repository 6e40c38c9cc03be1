//! Three replicas of one case (the worker's PDA, the dispatch desk, the department) take random actions,
//! valid and invalid, concurrently and offline, and merge in random orders. Whatever happens, every
//! replica ends with the identical timeline and stage, nothing appended is lost, and the stage is one
//! the workflow machine can reach.

use chrono::{TimeZone, Utc};
use gridpatrol_core::case::{CaseDetails, CaseEdit, CaseId, Location};
use gridpatrol_core::catalog::CategoryKey;
use gridpatrol_core::doc::{CaseDoc, NewCase, actor_for};
use gridpatrol_core::timeline::{Hlc, Outcome, Timeline, TimelineEvent};
use gridpatrol_core::workflow::{self, ActionKind, Role};
use proptest::prelude::*;
use std::collections::BTreeSet;

const REPLICAS: [(&str, &str, &[Role]); 3] = [
    ("pda-1", "worker-1", &[Role::GridWorker]),
    (
        "desk",
        "dispatcher-1",
        &[Role::Dispatcher, Role::Supervisor],
    ),
    ("dept", "cg-dept", &[Role::Department]),
];

#[derive(Debug, Clone)]
enum Step {
    /// Replica `replica` takes `action` in its `role_pick`-th role, `dt` ms after its previous step
    /// (clocks are skewed per replica). `only_if_valid` models a UI that hides invalid actions; the
    /// others are appended even when the local replica already sees they are invalid.
    Act {
        replica: usize,
        action: ActionKind,
        role_pick: usize,
        dt: i64,
        only_if_valid: bool,
    },
    /// `into` receives everything `from` has.
    Merge { into: usize, from: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..ActionKind::ALL.len(), 0..2usize, 0..600_000i64, any::<bool>()).prop_map(
            |(replica, a, role_pick, dt, only_if_valid)| Step::Act {
                replica,
                action: ActionKind::ALL[a],
                role_pick,
                dt,
                only_if_valid,
            }
        ),
        2 => (0..3usize, 0..3usize).prop_map(|(into, from)| Step::Merge { into, from }),
    ]
}

fn new_case() -> (NewCase, TimelineEvent) {
    let created_at = Utc.with_ymd_and_hms(2026, 5, 6, 9, 0, 0).unwrap();
    let case = NewCase {
        id: CaseId::generate(),
        reporter: "worker-1".into(),
        device: "pda-1".into(),
        cell: Some("110102001001001".into()),
        location: Location::new(39.91, 116.36).unwrap(),
        details: CaseDetails {
            category: CategoryKey {
                standard: "GB/T 47678.5-2026".into(),
                code: "06010".into(),
            },
            address: "addr".into(),
            description: "暴露垃圾".into(),
        },
        created_at,
    };
    let report = TimelineEvent::new(
        ActionKind::Report,
        "worker-1",
        Role::GridWorker,
        Hlc::tick(None, created_at.timestamp_millis()),
    );
    (case, report)
}

fn event_for(action: ActionKind, actor: &str, role: Role, at: Hlc) -> TimelineEvent {
    let mut e = TimelineEvent::new(action, actor, role, at);
    match action {
        ActionKind::Dispatch => {
            e.department = Some("城管".into());
            e.deadline = Some(at.time() + chrono::Duration::hours(8));
        }
        ActionKind::Extend => e.deadline = Some(at.time() + chrono::Duration::hours(24)),
        ActionKind::Edit => {
            e.edit = Some(CaseEdit {
                description: Some(format!("edited by {actor} at {}", at.wall_ms)),
                ..CaseEdit::default()
            })
        }
        _ => {}
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_merge_order(
        steps in prop::collection::vec(step(), 1..60),
        final_order in Just([0usize, 1, 2]).prop_shuffle(),
        skew in prop::array::uniform3(-3_600_000i64..3_600_000),
    ) {
        let (case, report) = new_case();
        let mut origin = CaseDoc::create(actor_for(REPLICAS[0].0), &case, &report, &[]).unwrap();
        let mut docs: Vec<CaseDoc> = REPLICAS.iter().map(|(dev, _, _)| origin.fork(actor_for(dev))).collect();
        let mut clocks: Vec<i64> = skew.iter().map(|s| report.at.wall_ms + s).collect();
        let mut appended = BTreeSet::from([report.id]);

        for s in &steps {
            match *s {
                Step::Act { replica, action, role_pick, dt, only_if_valid } => {
                    let (_, actor, roles) = REPLICAS[replica];
                    let role = roles[role_pick % roles.len()];
                    clocks[replica] += dt;
                    let timeline = docs[replica].read().unwrap().timeline;
                    if only_if_valid && timeline.check(action, role).is_err() {
                        continue;
                    }
                    let at = Hlc::tick(timeline.latest, clocks[replica]);
                    let ev = event_for(action, actor, role, at);
                    appended.insert(ev.id);
                    docs[replica].append(&ev, &[]).unwrap();
                }
                Step::Merge { into, from } if into != from => {
                    let (a, b) = pick_two(&mut docs, into, from);
                    a.merge(b).unwrap();
                }
                Step::Merge { .. } => {}
            }
        }

        // Final exchange in a random order: each replica pulls from the others, twice round.
        for _ in 0..2 {
            for &i in &final_order {
                for &j in &final_order {
                    if i != j {
                        let (a, b) = pick_two(&mut docs, i, j);
                        a.merge(b).unwrap();
                    }
                }
            }
        }

        let cases: Vec<_> = docs.iter().map(|d| d.read().unwrap()).collect();
        for c in &cases[1..] {
            prop_assert_eq!(&c.timeline, &cases[0].timeline);
            prop_assert_eq!(&c.details, &cases[0].details);
        }
        let t = &cases[0].timeline;
        let ids: BTreeSet<_> = t.entries.iter().map(|e| e.event.id).collect();
        prop_assert_eq!(&ids, &appended, "every appended event is kept");

        // The stage is reachable: the applied events form a valid run of the machine from nothing.
        let mut stage = None;
        for e in &t.entries {
            let replayed = workflow::apply(stage, e.event.action, e.event.role);
            match &e.outcome {
                Outcome::Applied { from, to } => {
                    prop_assert_eq!(*from, stage);
                    prop_assert_eq!(replayed.as_ref().ok(), Some(to));
                    stage = Some(*to);
                }
                Outcome::Flagged { .. } => prop_assert!(replayed.is_err()),
            }
        }
        prop_assert_eq!(stage, t.stage);

        // Replay depends only on the set of events, not on the order a merge produced.
        let mut events: Vec<_> = t.entries.iter().map(|e| e.event.clone()).collect();
        events.reverse();
        prop_assert_eq!(&Timeline::replay(events), t);
    }
}

fn pick_two(docs: &mut [CaseDoc], a: usize, b: usize) -> (&mut CaseDoc, &mut CaseDoc) {
    assert_ne!(a, b);
    if a < b {
        let (l, r) = docs.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = docs.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}
