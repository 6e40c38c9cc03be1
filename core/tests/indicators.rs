//! Assessment indicators over hand-built cases, with every expected figure counted by hand below.
//! Times are Beijing time (+08:00); the period is March 2026 unless said otherwise.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use gridpatrol_core::case::{Case, CaseDetails, CaseId, Location};
use gridpatrol_core::catalog::CategoryKey;
use gridpatrol_core::indicators::{
    GroupBy, IndicatorPolicy, Indicators, NO_GROUP, Period, ScoreWeights, compute, score,
};
use gridpatrol_core::timeline::{Hlc, Timeline, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role, Stage};

use ActionKind::*;

const A: &str = "城管（环卫）";
const B: &str = "城管执法";
const C: &str = "住建/市政";
const S1: &str = "110102001001001";
const S2: &str = "110102002001001";

fn bj(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc)
}

/// An event by whoever usually takes `action`, at `when` (Beijing, "MM-DD HH:MM" in 2026).
fn at(action: ActionKind, when: &str) -> TimelineEvent {
    let role = match action {
        Report | VerifyPass | VerifyFail => Role::GridWorker,
        Accept | Return | Handle | Feedback => Role::Department,
        SpecialClose => Role::Supervisor,
        _ => Role::Dispatcher,
    };
    by(action, role, when)
}

fn by(action: ActionKind, role: Role, when: &str) -> TimelineEvent {
    let wall_ms = bj(&format!("2026-{when}")).timestamp_millis();
    let mut e = TimelineEvent::new(
        action,
        role.as_str(),
        role,
        Hlc {
            wall_ms,
            counter: 0,
        },
    );
    // Verification goes to the grid worker, who is the one to verify.
    if action == RequestVerification {
        e.assignee = Some(Role::GridWorker.as_str().into());
    }
    e
}

fn dispatch(when: &str, department: &str, deadline: &str) -> TimelineEvent {
    TimelineEvent {
        department: Some(department.into()),
        deadline: Some(bj(&format!("2026-{deadline}"))),
        ..at(Dispatch, when)
    }
}

fn extend(when: &str, deadline: &str) -> TimelineEvent {
    TimelineEvent {
        deadline: Some(bj(&format!("2026-{deadline}"))),
        ..at(Extend, when)
    }
}

fn case(reporter: &str, cell: Option<&str>, events: Vec<TimelineEvent>) -> Case {
    let timeline = Timeline::replay(events);
    Case {
        id: CaseId::generate(),
        reporter: reporter.into(),
        device: format!("pda-{reporter}"),
        cell: cell.map(str::to_string),
        location: Location::new(39.91, 116.37).unwrap(),
        created_at: timeline.entries[0].event.at.time(),
        details: CaseDetails {
            category: CategoryKey::current("06010"),
            address: "西城区".into(),
            description: "暴露垃圾".into(),
        },
        photos: Vec::new(),
        timeline,
    }
}

fn march() -> Period {
    Period {
        from: bj("2026-03-01 00:00"),
        to: bj("2026-04-01 00:00"),
    }
}

fn april() -> Period {
    Period {
        from: bj("2026-04-01 00:00"),
        to: bj("2026-05-01 00:00"),
    }
}

fn now() -> DateTime<Utc> {
    bj("2026-04-10 09:00")
}

fn figures(cases: &[Case], group_by: GroupBy, period: Period) -> BTreeMap<String, Indicators> {
    compute(cases, group_by, &period, now(), &IndicatorPolicy::default())
}

/// The hand-built set. Departments A, B, C; workers w1 (cell S1) and w2 (cell S2).
fn cases() -> Vec<Case> {
    vec![
        // 1. On time throughout. w1, A.
        case(
            "w1",
            Some(S1),
            vec![
                at(Report, "03-02 09:00"),
                at(Register, "03-02 09:30"),
                dispatch("03-02 09:40", A, "03-02 17:00"),
                at(Accept, "03-02 10:00"),
                at(Handle, "03-02 12:00"),
                at(Feedback, "03-02 12:10"),
                at(RequestVerification, "03-02 12:20"),
                at(VerifyPass, "03-02 13:00"),
                at(Close, "03-02 13:10"),
            ],
        ),
        // 2. Late everywhere: registered after 90 min, handled the next day, verified after 2 h 40.
        case(
            "w1",
            Some(S1),
            vec![
                at(Report, "03-03 09:00"),
                at(Register, "03-03 10:30"),
                dispatch("03-03 10:40", A, "03-03 14:00"),
                at(Accept, "03-03 11:00"),
                at(Handle, "03-04 10:00"),
                at(Feedback, "03-04 10:10"),
                at(RequestVerification, "03-04 10:20"),
                at(VerifyPass, "03-04 13:00"),
                at(Close, "03-04 13:05"),
            ],
        ),
        // 3. Reworked, then closed on time. w2, A.
        case(
            "w2",
            Some(S2),
            vec![
                at(Report, "03-05 09:00"),
                at(Register, "03-05 09:10"),
                dispatch("03-05 09:20", A, "03-06 17:00"),
                at(Accept, "03-05 09:30"),
                at(Handle, "03-05 15:00"),
                at(Feedback, "03-05 15:10"),
                at(RequestVerification, "03-05 15:20"),
                at(VerifyFail, "03-05 16:00"),
                at(Handle, "03-06 10:00"),
                at(Feedback, "03-06 10:10"),
                at(RequestVerification, "03-06 10:20"),
                at(VerifyPass, "03-06 11:00"),
                at(Close, "03-06 11:10"),
            ],
        ),
        // 4. Returned by B, redispatched to C; handled on time, closed 10 min late. w2.
        case(
            "w2",
            Some(S2),
            vec![
                at(Report, "03-10 09:00"),
                at(Register, "03-10 09:20"),
                dispatch("03-10 09:30", B, "03-10 17:00"),
                at(Return, "03-10 10:00"),
                dispatch("03-10 10:30", C, "03-11 12:00"),
                at(Accept, "03-10 11:00"),
                at(Handle, "03-11 11:00"),
                at(Feedback, "03-11 11:10"),
                at(RequestVerification, "03-11 11:20"),
                at(VerifyPass, "03-11 12:00"),
                at(Close, "03-11 12:10"),
            ],
        ),
        // 5. Special-closed by the supervisor before its deadline, never handled. w1, B.
        case(
            "w1",
            Some(S1),
            vec![
                at(Report, "03-12 09:00"),
                at(Register, "03-12 09:10"),
                dispatch("03-12 09:20", B, "03-12 12:00"),
                at(Accept, "03-12 09:30"),
                at(SpecialClose, "03-12 11:00"),
            ],
        ),
        // 6. Rejected within 20 min. w2, no cell, never dispatched.
        case(
            "w2",
            None,
            vec![at(Report, "03-15 09:00"), at(Reject, "03-15 09:20")],
        ),
        // 7. Still open and overdue at the end of March. w1, B.
        case(
            "w1",
            Some(S1),
            vec![
                at(Report, "03-20 09:00"),
                at(Register, "03-20 09:10"),
                dispatch("03-20 09:20", B, "03-20 17:00"),
                at(Accept, "03-20 10:00"),
            ],
        ),
        // 8. Extended, then handled and closed within the extension. w2, C.
        case(
            "w2",
            Some(S2),
            vec![
                at(Report, "03-25 09:00"),
                at(Register, "03-25 09:05"),
                dispatch("03-25 09:10", C, "03-25 17:00"),
                at(Accept, "03-25 09:30"),
                extend("03-25 16:00", "03-27 17:00"),
                at(Handle, "03-27 10:00"),
                at(Feedback, "03-27 10:10"),
                at(RequestVerification, "03-27 10:20"),
                at(VerifyPass, "03-27 11:00"),
                at(Close, "03-27 11:10"),
            ],
        ),
        // 9. All in February: outside the period.
        case(
            "w1",
            Some(S1),
            vec![
                at(Report, "02-10 09:00"),
                at(Register, "02-10 09:10"),
                dispatch("02-10 09:20", A, "02-10 17:00"),
                at(Accept, "02-10 09:30"),
                at(Handle, "02-10 10:00"),
                at(Feedback, "02-10 10:05"),
                at(RequestVerification, "02-10 10:10"),
                at(VerifyPass, "02-10 10:30"),
                at(Close, "02-10 10:40"),
            ],
        ),
        // 10. Flagged events only after the dispatch: a Handle before Accept, an Extend by a grid worker
        //     and a Close of an unhandled case. Still dispatched, overdue. w2, A.
        case(
            "w2",
            Some(S2),
            vec![
                at(Report, "03-26 09:00"),
                at(Register, "03-26 09:10"),
                dispatch("03-26 09:20", A, "03-26 17:00"),
                at(Handle, "03-26 09:25"),
                TimelineEvent {
                    deadline: Some(bj("2026-04-30 17:00")),
                    ..by(Extend, Role::GridWorker, "03-26 09:30")
                },
                at(Close, "03-26 09:40"),
            ],
        ),
        // 11. Reported in April: outside the period.
        case(
            "w1",
            Some(S1),
            vec![at(Report, "04-02 09:00"), at(Register, "04-02 09:10")],
        ),
    ]
}

#[test]
fn the_set_replays_as_described() {
    let cases = cases();
    let stages: Vec<Option<Stage>> = cases.iter().map(Case::stage).collect();
    use Stage::*;
    assert_eq!(
        stages,
        [
            Closed,
            Closed,
            Closed,
            Closed,
            SpecialClosed,
            Rejected,
            Accepted,
            Closed,
            Closed,
            Dispatched,
            Registered
        ]
        .map(Some)
    );
    let flagged = cases[9].timeline.entries.iter().filter(|e| e.is_flagged());
    assert_eq!(flagged.count(), 3);
    assert!(
        cases
            .iter()
            .take(9)
            .all(|c| { c.timeline.entries.iter().all(|e| !e.is_flagged()) })
    );
}

#[test]
fn by_department() {
    let got = figures(&cases(), GroupBy::Department, march());
    // A: cases 1, 2, 3, 10 (their current dispatch). B: cases 5, 7, plus case 4's returned dispatch.
    // C: cases 4, 8. (none): case 6, rejected, never dispatched.
    let a = Indicators {
        due_for_handling: 4, // 1, 2, 3 handled in March; 10 unhandled, deadline 03-26 17:00 passed
        handled: 3,          // 1, 2, 3 (case 3's second Handle is rework, not counted again)
        handled_on_time: 2,  // 1, 3; case 2 handled 03-04 after its 03-03 14:00 deadline
        due_for_closure: 4,  // 1, 2, 3 closed in March; 10 open past its deadline
        closed: 3,
        closed_on_time: 2, // 1, 3
        reworked: 1,       // 3
        extended: 0,       // case 10's Extend is flagged
        overdue_open: 1,   // 10
        reported: 4,
        valid_reports: 4,
        verification_requested: 4, // 1, 2, and both of case 3's
        verified_on_time: 3,       // case 2's took 2 h 40
        registration_due: 4,
        registered_on_time: 3, // case 2 waited 90 min
        dispatched: 3,         // settled by their Handle; case 10's flagged Handle settles nothing
        dispatched_without_return: 3,
        handling_rate: Some(0.75),
        on_time_handling_rate: Some(0.5),
        rework_rate: Some(0.25),
        closure_rate: Some(0.75),
        on_time_closure_rate: Some(0.5),
        overdue_open_rate: Some(0.25),
        extension_rate: Some(0.0),
        valid_report_rate: Some(1.0),
        on_time_verification_rate: Some(0.75),
        on_time_registration_rate: Some(0.75),
        accurate_dispatch_rate: Some(1.0),
    };
    let b = Indicators {
        due_for_handling: 1, // 7; case 5 was special-closed before its deadline
        handled: 0,
        handled_on_time: 0,
        due_for_closure: 2, // 5 (special-closed), 7 (open past its deadline)
        closed: 1,          // 5
        closed_on_time: 1,  // 5, at 11:00 before its 12:00 deadline
        reworked: 0,
        extended: 0,
        overdue_open: 1, // 7
        reported: 2,
        valid_reports: 2,
        verification_requested: 0,
        verified_on_time: 0,
        registration_due: 2,
        registered_on_time: 2,
        dispatched: 2, // case 5 (settled by its special closure), case 4's first dispatch (returned)
        dispatched_without_return: 1,
        handling_rate: Some(0.0),
        on_time_handling_rate: Some(0.0),
        rework_rate: Some(0.0),
        closure_rate: Some(0.5),
        on_time_closure_rate: Some(0.5),
        overdue_open_rate: Some(0.5),
        extension_rate: Some(0.0),
        valid_report_rate: Some(1.0),
        on_time_verification_rate: None,
        on_time_registration_rate: Some(1.0),
        accurate_dispatch_rate: Some(0.5),
    };
    let c = Indicators {
        due_for_handling: 2, // 4, 8
        handled: 2,
        handled_on_time: 2, // case 8 by its extended deadline
        due_for_closure: 2,
        closed: 2,
        closed_on_time: 1, // case 4 closed at 12:10, deadline 12:00
        reworked: 0,
        extended: 1, // 8
        overdue_open: 0,
        reported: 2,
        valid_reports: 2,
        verification_requested: 2,
        verified_on_time: 2,
        registration_due: 2,
        registered_on_time: 2,
        dispatched: 2,
        dispatched_without_return: 2,
        handling_rate: Some(1.0),
        on_time_handling_rate: Some(1.0),
        rework_rate: Some(0.0),
        closure_rate: Some(1.0),
        on_time_closure_rate: Some(0.5),
        overdue_open_rate: Some(0.0),
        extension_rate: Some(0.5),
        valid_report_rate: Some(1.0),
        on_time_verification_rate: Some(1.0),
        on_time_registration_rate: Some(1.0),
        accurate_dispatch_rate: Some(1.0),
    };
    let none = Indicators {
        reported: 1,
        valid_reports: 0,
        registration_due: 1,
        registered_on_time: 1, // rejected after 20 min: decided on time
        valid_report_rate: Some(0.0),
        on_time_registration_rate: Some(1.0),
        ..Indicators::default()
    };
    let expected: BTreeMap<String, Indicators> = [(A, a), (B, b), (C, c), (NO_GROUP, none)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn by_worker() {
    let got = figures(&cases(), GroupBy::Worker, march());
    // w1: cases 1, 2, 5, 7 (9 and 11 are outside March). w2: cases 3, 4, 6, 8, 10.
    let w1 = Indicators {
        due_for_handling: 3, // 1, 2, 7
        handled: 2,          // 1, 2
        handled_on_time: 1,  // 1
        due_for_closure: 4,  // 1, 2, 5, 7
        closed: 3,           // 1, 2, 5
        closed_on_time: 2,   // 1, 5
        reworked: 0,
        extended: 0,
        overdue_open: 1, // 7
        reported: 4,
        valid_reports: 4,
        verification_requested: 2, // 1, 2
        verified_on_time: 1,       // 1
        registration_due: 4,
        registered_on_time: 3, // not case 2
        dispatched: 3,         // 1, 2, 5 (7's dispatch is not settled yet)
        dispatched_without_return: 3,
        handling_rate: Some(2.0 / 3.0),
        on_time_handling_rate: Some(1.0 / 3.0),
        rework_rate: Some(0.0),
        closure_rate: Some(0.75),
        on_time_closure_rate: Some(0.5),
        overdue_open_rate: Some(0.25),
        extension_rate: Some(0.0),
        valid_report_rate: Some(1.0),
        on_time_verification_rate: Some(0.5),
        on_time_registration_rate: Some(0.75),
        accurate_dispatch_rate: Some(1.0),
    };
    let w2 = Indicators {
        due_for_handling: 4, // 3, 4, 8, 10
        handled: 3,          // 3, 4, 8
        handled_on_time: 3,
        due_for_closure: 4,        // 3, 4, 8, 10
        closed: 3,                 // 3, 4, 8
        closed_on_time: 2,         // 3, 8
        reworked: 1,               // 3
        extended: 1,               // 8
        overdue_open: 1,           // 10
        reported: 5,               // 3, 4, 6, 8, 10
        valid_reports: 4,          // not 6
        verification_requested: 4, // 3 (twice), 4, 8
        verified_on_time: 4,
        registration_due: 5,
        registered_on_time: 5,
        dispatched: 4, // 3, 4 (B, returned), 4 (C), 8
        dispatched_without_return: 3,
        handling_rate: Some(0.75),
        on_time_handling_rate: Some(0.75),
        rework_rate: Some(0.25),
        closure_rate: Some(0.75),
        on_time_closure_rate: Some(0.5),
        overdue_open_rate: Some(0.25),
        extension_rate: Some(0.25),
        valid_report_rate: Some(0.8),
        on_time_verification_rate: Some(1.0),
        on_time_registration_rate: Some(1.0),
        accurate_dispatch_rate: Some(0.75),
    };
    let expected: BTreeMap<String, Indicators> = [("w1", w1), ("w2", w2)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn by_street_and_cell() {
    let cases = cases();
    let streets = figures(&cases, GroupBy::Street, march());
    let workers = figures(&cases, GroupBy::Worker, march());
    assert_eq!(
        streets.keys().collect::<Vec<_>>(),
        [NO_GROUP, "110102001", "110102002"]
    );
    // w1 works street 110102001 alone.
    assert_eq!(streets["110102001"], workers["w1"]);
    // Street 110102002 is w2 without the rejected case 6, which has no cell.
    let s2 = &streets["110102002"];
    assert_eq!(
        (s2.reported, s2.valid_reports, s2.registration_due),
        (4, 4, 4)
    );
    assert_eq!(s2.due_for_closure, workers["w2"].due_for_closure);
    assert_eq!(
        (streets[NO_GROUP].reported, streets[NO_GROUP].valid_reports),
        (1, 0)
    );
    let cells = figures(&cases, GroupBy::Cell, march());
    assert_eq!(cells.keys().collect::<Vec<_>>(), [NO_GROUP, S1, S2]);
    assert_eq!(cells[S1], streets["110102001"]);
}

#[test]
fn every_grouping_adds_up_to_the_same_totals() {
    let cases = cases();
    let totals: Vec<Indicators> = [
        GroupBy::Department,
        GroupBy::Cell,
        GroupBy::Street,
        GroupBy::Worker,
    ]
    .into_iter()
    .map(|g| Indicators::total(figures(&cases, g, march()).values()))
    .collect();
    assert!(totals.windows(2).all(|w| w[0] == w[1]));
    let t = &totals[0];
    assert_eq!(
        (t.due_for_handling, t.handled, t.handled_on_time),
        (7, 5, 4)
    );
    assert_eq!((t.due_for_closure, t.closed, t.closed_on_time), (8, 6, 4));
    assert_eq!((t.reported, t.valid_reports), (9, 8));
    assert_eq!((t.dispatched, t.dispatched_without_return), (7, 6));
    assert_eq!(t.on_time_closure_rate, Some(0.5));
}

#[test]
fn cases_outside_the_period_are_not_counted() {
    let cases = cases();
    // Case 9 lies in February and case 11 in April: March sees nothing of them.
    let outside = [cases[8].clone(), cases[10].clone()];
    assert!(figures(&outside, GroupBy::Worker, march()).is_empty());
    // February sees case 9 complete.
    let february = Period {
        from: bj("2026-02-01 00:00"),
        to: bj("2026-03-01 00:00"),
    };
    let feb = figures(&outside, GroupBy::Department, february);
    assert_eq!(feb.keys().collect::<Vec<_>>(), [A]);
    assert_eq!(
        (
            feb[A].due_for_handling,
            feb[A].handled_on_time,
            feb[A].closed_on_time
        ),
        (1, 1, 1)
    );
}

#[test]
fn flagged_events_do_not_count() {
    let cases = cases();
    let flagged = &cases[9];
    let clean = case(
        "w2",
        Some(S2),
        flagged
            .timeline
            .entries
            .iter()
            .filter(|e| !e.is_flagged())
            .map(|e| e.event.clone())
            .collect(),
    );
    let with = figures(std::slice::from_ref(flagged), GroupBy::Department, march());
    let without = figures(&[clean], GroupBy::Department, march());
    assert_eq!(with, without);
    let a = &with[A];
    assert_eq!((a.handled, a.closed, a.extended), (0, 0, 0));
    assert_eq!((a.due_for_handling, a.overdue_open), (1, 1));
    assert_eq!(
        a.dispatched, 0,
        "a flagged Handle does not settle the dispatch"
    );
}

#[test]
fn unfinished_cases_carry_over_into_the_next_period() {
    let got = figures(&cases(), GroupBy::Department, april());
    // Only cases 7 (B) and 10 (A) are still open; both stay due and overdue. Case 11 was reported and
    // registered in April.
    let open = Indicators {
        due_for_handling: 1,
        due_for_closure: 1,
        overdue_open: 1,
        handling_rate: Some(0.0),
        on_time_handling_rate: Some(0.0),
        rework_rate: Some(0.0),
        closure_rate: Some(0.0),
        on_time_closure_rate: Some(0.0),
        overdue_open_rate: Some(1.0),
        extension_rate: Some(0.0),
        ..Indicators::default()
    };
    assert_eq!(got[A], open);
    assert_eq!(got[B], open);
    assert_eq!(got.len(), 3);
    assert_eq!(
        (got[NO_GROUP].reported, got[NO_GROUP].registered_on_time),
        (1, 1)
    );
}

#[test]
fn a_case_handled_late_counts_in_its_deadline_period_and_in_its_handling_period() {
    let late = [case(
        "w1",
        Some(S1),
        vec![
            at(Report, "02-20 09:00"),
            at(Register, "02-20 09:10"),
            dispatch("02-20 09:20", A, "02-25 17:00"),
            at(Accept, "02-20 09:30"),
            at(Handle, "03-03 10:00"),
        ],
    )];
    let february = Period {
        from: bj("2026-02-01 00:00"),
        to: bj("2026-03-01 00:00"),
    };
    let feb = &figures(&late, GroupBy::Department, february)[A];
    assert_eq!(
        (feb.due_for_handling, feb.handled, feb.overdue_open),
        (1, 0, 1)
    );
    let mar = &figures(&late, GroupBy::Department, march())[A];
    assert_eq!(
        (mar.due_for_handling, mar.handled, mar.handled_on_time),
        (1, 1, 0)
    );
    // Handled but not yet verified or closed: still due for closure, no longer with the department.
    assert_eq!(
        (mar.due_for_closure, mar.closed, mar.overdue_open),
        (1, 0, 0)
    );
    // April: handled before it began, so not due for handling; still unclosed, so due for closure.
    let apr = &figures(&late, GroupBy::Department, april())[A];
    assert_eq!((apr.due_for_handling, apr.due_for_closure), (0, 1));
}

#[test]
fn a_running_period_counts_only_deadlines_already_past() {
    let open = [case(
        "w1",
        Some(S1),
        vec![
            at(Report, "03-20 09:00"),
            at(Register, "03-20 09:10"),
            dispatch("03-20 09:20", B, "03-20 17:00"),
        ],
    )];
    let at_noon = compute(
        &open,
        GroupBy::Department,
        &march(),
        bj("2026-03-20 12:00"),
        &IndicatorPolicy::default(),
    );
    assert_eq!(
        (at_noon[B].due_for_handling, at_noon[B].overdue_open),
        (0, 0)
    );
    let evening = compute(
        &open,
        GroupBy::Department,
        &march(),
        bj("2026-03-20 18:00"),
        &IndicatorPolicy::default(),
    );
    assert_eq!(
        (evening[B].due_for_handling, evening[B].overdue_open),
        (1, 1)
    );
}

#[test]
fn a_special_closure_after_the_deadline_leaves_the_handling_undone() {
    let late = [case(
        "w1",
        Some(S1),
        vec![
            at(Report, "03-12 09:00"),
            at(Register, "03-12 09:10"),
            dispatch("03-12 09:20", B, "03-12 12:00"),
            at(SpecialClose, "03-13 10:00"),
        ],
    )];
    let b = &figures(&late, GroupBy::Department, march())[B];
    assert_eq!((b.due_for_handling, b.handled), (1, 0));
    assert_eq!((b.due_for_closure, b.closed, b.closed_on_time), (1, 1, 0));
}

#[test]
fn short_tasks_are_counted_when_settled() {
    // Reported 30 min before the end of March, registered 40 min later in April.
    let straddling = [case(
        "w1",
        Some(S1),
        vec![at(Report, "03-31 23:30"), at(Register, "04-01 00:10")],
    )];
    let mar = &figures(&straddling, GroupBy::Worker, march())["w1"];
    assert_eq!(
        (mar.reported, mar.valid_reports, mar.registration_due),
        (1, 0, 0),
        "not registered as of the end of March, and its hour not yet run out"
    );
    let apr = &figures(&straddling, GroupBy::Worker, april())["w1"];
    assert_eq!(
        (apr.reported, apr.registration_due, apr.registered_on_time),
        (0, 1, 1)
    );
    // Verified 2 h 40 after the request: late under the default 2 h, on time under a 3 h limit.
    let slow = [case(
        "w1",
        Some(S1),
        vec![
            at(Report, "03-02 09:00"),
            at(Register, "03-02 09:10"),
            dispatch("03-02 09:20", A, "03-02 17:00"),
            at(Accept, "03-02 09:30"),
            at(Handle, "03-02 10:00"),
            at(Feedback, "03-02 10:10"),
            at(RequestVerification, "03-02 10:20"),
            at(VerifyPass, "03-02 13:00"),
        ],
    )];
    let strict = &figures(&slow, GroupBy::Worker, march())["w1"];
    assert_eq!(
        (strict.verification_requested, strict.verified_on_time),
        (1, 0)
    );
    let lenient = IndicatorPolicy {
        verify_limit: chrono::Duration::hours(3),
        ..IndicatorPolicy::default()
    };
    let relaxed = &compute(&slow, GroupBy::Worker, &march(), now(), &lenient)["w1"];
    assert_eq!(
        (relaxed.verification_requested, relaxed.verified_on_time),
        (1, 1)
    );
}

#[test]
fn scores_with_the_default_weights() {
    let got = figures(&cases(), GroupBy::Department, march());
    let weights = ScoreWeights::default();
    // A: 30 x 0.5 + 20 x 0.5 + 20 x 0.75 + 20 x (1 - 0.25) + 10 x (1 - 0.25) = 62.5
    assert_eq!(score(&got[A], &weights), Some(62.5));
    // B: 30 x 0 + 20 x 0.5 + 20 x 0.5 + 20 x 1 + 10 x 0.5 = 45
    assert_eq!(score(&got[B], &weights), Some(45.0));
    // C: 30 + 20 x 0.5 + 20 + 20 + 10 = 90
    assert_eq!(score(&got[C], &weights), Some(90.0));
    // (none) has none of the weighted rates.
    assert_eq!(score(&got[NO_GROUP], &weights), None);
    // Worker weights: valid reports 50, on-time verification 50 → w1: 50 x 1 + 50 x 0.5.
    let workers = ScoreWeights {
        on_time_handling: 0.0,
        on_time_closure: 0.0,
        closure: 0.0,
        rework: 0.0,
        overdue_open: 0.0,
        valid_report: 50.0,
        on_time_verification: 50.0,
        ..weights
    };
    let w = figures(&cases(), GroupBy::Worker, march());
    assert_eq!(score(&w["w1"], &workers), Some(75.0));
}

mod properties {
    use super::*;
    use gridpatrol_core::workflow::{apply, available_actions};
    use proptest::prelude::*;

    /// The next action: mostly one the machine accepts at `stage` (so that cases get far along the
    /// loop), sometimes any action by any role (so that flagged events are mixed in).
    fn next_action(stage: Option<Stage>, valid: bool, pick: usize) -> (ActionKind, Role) {
        let stage = stage.unwrap_or(Stage::Reported);
        // One entry per action (with the first role allowed to take it), so that the actions every
        // role may take (evidence, reminders) do not crowd out the ones that move the case.
        let mut candidates: Vec<(ActionKind, Role)> = Vec::new();
        for role in Role::ALL {
            for action in available_actions(stage, role) {
                // Special closure ends a case: keep it rare so that most cases run the loop.
                let rare = action == SpecialClose && !pick.is_multiple_of(8);
                if !rare && !candidates.iter().any(|(a, _)| *a == action) {
                    candidates.push((action, role));
                }
            }
        }
        if valid && !candidates.is_empty() {
            candidates[pick % candidates.len()]
        } else {
            (
                ActionKind::ALL[pick % ActionKind::ALL.len()],
                Role::ALL[(pick / ActionKind::ALL.len()) % Role::ALL.len()],
            )
        }
    }

    /// A random case: a report, then actions a few minutes to hours apart; dispatches and extensions
    /// with random deadlines.
    fn arbitrary_case() -> impl Strategy<Value = Case> {
        let step = (
            prop::bool::weighted(0.85),
            0..1000usize,
            1i64..300,
            0i64..3000,
            0..3usize,
        );
        (
            prop::collection::vec(step, 0..40),
            0..2usize,
            prop::option::of(0..3usize),
        )
            .prop_map(|(steps, worker, cell)| {
                let mut ms = bj("2026-02-20 08:00").timestamp_millis();
                let stamp = |ms| Hlc {
                    wall_ms: ms,
                    counter: 0,
                };
                let mut events = vec![TimelineEvent::new(Report, "w", Role::GridWorker, stamp(ms))];
                let mut stage = Some(Stage::Reported);
                for (valid, pick, gap_min, deadline_min, dept) in steps {
                    ms += gap_min * 60_000;
                    let (action, role) = next_action(stage, valid, pick);
                    stage = apply(stage, action, role).ok().or(stage);
                    let deadline = DateTime::from_timestamp_millis(ms + deadline_min * 60_000);
                    events.push(TimelineEvent {
                        department: (action == Dispatch).then(|| [A, B, C][dept].to_string()),
                        deadline: matches!(action, Dispatch | Extend)
                            .then_some(deadline)
                            .flatten(),
                        ..TimelineEvent::new(action, "x", role, stamp(ms))
                    });
                }
                let cell = cell.map(|c| [S1, S2, "110102002002003"][c]);
                case(["w1", "w2"][worker], cell, events)
            })
    }

    fn bounded(ind: &Indicators) -> bool {
        let pairs = [
            (ind.handled, ind.due_for_handling),
            (ind.handled_on_time, ind.handled),
            (ind.closed, ind.due_for_closure),
            (ind.closed_on_time, ind.closed),
            (ind.reworked, ind.due_for_closure),
            (ind.extended, ind.due_for_closure),
            (ind.overdue_open, ind.due_for_closure),
            (ind.valid_reports, ind.reported),
            (ind.verified_on_time, ind.verification_requested),
            (ind.registered_on_time, ind.registration_due),
            (ind.dispatched_without_return, ind.dispatched),
        ];
        let rates = [
            ind.handling_rate,
            ind.on_time_handling_rate,
            ind.rework_rate,
            ind.closure_rate,
            ind.on_time_closure_rate,
            ind.overdue_open_rate,
            ind.extension_rate,
            ind.valid_report_rate,
            ind.on_time_verification_rate,
            ind.on_time_registration_rate,
            ind.accurate_dispatch_rate,
        ];
        pairs.iter().all(|(part, whole)| part <= whole)
            && rates.iter().flatten().all(|r| (0.0..=1.0).contains(r))
            && score(ind, &ScoreWeights::default()).is_none_or(|s| (0.0..=100.0).contains(&s))
    }

    proptest! {
        #[test]
        fn rates_stay_in_0_1_and_groupings_agree(
            cases in prop::collection::vec(arbitrary_case(), 1..20),
            start_day in 0i64..15,
            days in 1i64..30,
            now_day in 0i64..80,
        ) {
            let from = bj("2026-02-15 00:00") + chrono::Duration::days(start_day);
            let period = Period { from, to: from + chrono::Duration::days(days) };
            let now = bj("2026-02-15 00:00") + chrono::Duration::days(now_day);
            let policy = IndicatorPolicy::default();
            let mut totals = Vec::new();
            for group_by in [GroupBy::Department, GroupBy::Cell, GroupBy::Street, GroupBy::Worker] {
                let groups = compute(&cases, group_by, &period, now, &policy);
                for (key, ind) in &groups {
                    prop_assert!(bounded(ind), "{group_by:?} {key}: {ind:?}");
                }
                totals.push(Indicators::total(groups.values()));
            }
            prop_assert!(totals.windows(2).all(|w| w[0] == w[1]));
        }
    }
}
