//! Dispatch: routing rules (who gets a case, by when) and supervision (督办) against the deadline.
//! Times are written in Beijing time (+08:00), as a dispatcher reads them; the shipped catalogue and
//! work calendar (08:30–12:00, 13:30–18:00, Sat/Sun off, 2026 holidays) are used unless said otherwise.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use gridpatrol_core::calendar::{ClockType, WorkCalendar};
use gridpatrol_core::catalog::{Catalog, CategoryKey};
use gridpatrol_core::dispatch::{
    DeadlineState, DispatchError, Route, RoutingRules, SupervisionPolicy, deadline_state,
    needs_escalation,
};
use gridpatrol_core::timeline::{Hlc, Timeline, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role};

const WH: ClockType = ClockType::WorkingHours;
const CH: ClockType = ClockType::Continuous;

const HEADER: &str = "category,area,department,deadline_hours,clock,note";

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// "2026-03-06 17:00" Beijing time → UTC instant.
fn bj(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    beijing()
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc)
}

fn show(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn rules(body: &str) -> RoutingRules {
    RoutingRules::from_csv(&format!("{HEADER}\n{body}")).unwrap()
}

fn refused(body: &str) -> String {
    match RoutingRules::from_csv(&format!("{HEADER}\n{body}")) {
        Ok(_) => panic!("accepted: {body}"),
        Err(e) => e.to_string(),
    }
}

/// Routes `code` in `cell` on the shipped catalogue and calendar, dispatched at `at` (Beijing).
fn route(rules: &RoutingRules, code: &str, cell: Option<&str>, at: &str) -> Route {
    rules
        .route(
            &Catalog::builtin(),
            &WorkCalendar::builtin(),
            &CategoryKey::current(code),
            cell,
            bj(at),
        )
        .unwrap()
}

/// (department, because) of a route dispatched on a Monday morning.
fn decided(rules: &RoutingRules, code: &str, cell: Option<&str>) -> (String, String) {
    let r = route(rules, code, cell, "2026-03-09 09:00");
    (r.department, r.because)
}

fn pair(department: &str, because: &str) -> (String, String) {
    (department.to_string(), because.to_string())
}

// ---------------------------------------------------------------- routing rules

#[test]
fn the_most_specific_rule_wins() {
    let r = rules(
        "\
,110102,AreaDistrict,,,
06010,,CategoryOnly,,,
06010,110102002,CategoryStreet,,,
06010,110102002001,CategoryCommunity,,,
,110102002001,AreaCommunity,,,
06010,110102002001,CategoryCommunityAgain,,,
",
    );
    // category + area beats everything; the longer prefix beats the street; the tie goes to line 5.
    assert_eq!(
        decided(&r, "06010", Some("110102002001003")),
        pair("CategoryCommunity", "routing.csv line 5")
    );
    assert_eq!(
        decided(&r, "06010", Some("110102002002001")),
        pair("CategoryStreet", "routing.csv line 4")
    );
    // category only beats an area-only rule, even a matching one.
    assert_eq!(
        decided(&r, "06010", Some("110102001001001")),
        pair("CategoryOnly", "routing.csv line 3")
    );
    assert_eq!(
        decided(&r, "06010", None),
        pair("CategoryOnly", "routing.csv line 3")
    );
    // area only: the longer prefix wins.
    assert_eq!(
        decided(&r, "06012", Some("110102002001003")),
        pair("AreaCommunity", "routing.csv line 6")
    );
    assert_eq!(
        decided(&r, "06012", Some("110102001001001")),
        pair("AreaDistrict", "routing.csv line 2")
    );
    // nothing matches: the catalogue's default.
    assert_eq!(
        decided(&r, "06012", Some("110105001001001")),
        pair("城管（环卫）", "catalogue default")
    );
    assert_eq!(
        decided(&r, "06012", None),
        pair("城管（环卫）", "catalogue default")
    );
}

#[test]
fn an_exact_tie_goes_to_the_earlier_line() {
    let r = rules("06010,110102,First,,,\n06010,110102,Second,,,\n");
    assert_eq!(
        decided(&r, "06010", Some("110102001001001")),
        pair("First", "routing.csv line 2")
    );
}

#[test]
fn a_rule_with_neither_category_nor_area_catches_everything_else() {
    let r = rules(",,CommandCentre,,,\n06010,,Sanitation,,,\n");
    assert_eq!(decided(&r, "09009", None).0, "CommandCentre");
    assert_eq!(decided(&r, "06010", None).0, "Sanitation");
}

#[test]
fn overrides_replace_only_what_they_name() {
    // Catalogue: 06010 暴露垃圾 4 WH; 01001 供水井盖异常 2 CH.
    let r = rules(
        "\
06010,110102001,HoursOnly,3,,
06010,110102002,ClockOnly,,CH,
01001,110102001,Both,1.5,WH,
01001,110102002,Neither,,,
",
    );
    let at = "2026-03-09 09:00";
    let summary = |code: &str, cell: &str| {
        let x = route(&r, code, Some(cell), at);
        (x.department, x.hours, x.clock, show(x.deadline))
    };
    assert_eq!(
        summary("06010", "110102001001001"),
        ("HoursOnly".into(), 3.0, WH, "2026-03-09 12:00".into())
    );
    assert_eq!(
        summary("06010", "110102002001001"),
        ("ClockOnly".into(), 4.0, CH, "2026-03-09 13:00".into())
    );
    assert_eq!(
        summary("01001", "110102001001001"),
        ("Both".into(), 1.5, WH, "2026-03-09 10:30".into())
    );
    assert_eq!(
        summary("01001", "110102002001001"),
        ("Neither".into(), 2.0, CH, "2026-03-09 11:00".into())
    );
}

#[test]
fn a_rule_for_another_standard_is_written_standard_colon_code() {
    let catalog = Catalog::from_csv(
        "standard,code,kind,major_class,minor_class,default_department,deadline_hours,clock\n\
         XC-2025,X01,事件,地方,测试,Default,8,WH\n",
    )
    .unwrap();
    let r = rules("XC-2025:X01,,Local,,,\n");
    r.check_categories(&catalog).unwrap();
    let key = CategoryKey {
        standard: "XC-2025".into(),
        code: "X01".into(),
    };
    let routed = r
        .route(
            &catalog,
            &WorkCalendar::builtin(),
            &key,
            None,
            bj("2026-03-09 09:00"),
        )
        .unwrap();
    assert_eq!(routed.department, "Local");
    // A bare code means the current national catalogue, so it does not match the local category.
    let bare = rules("X01,,Current,,,\n");
    assert!(bare.check_categories(&catalog).is_err());
}

#[test]
fn working_hours_deadlines_skip_nights_weekends_and_holidays() {
    let r = RoutingRules::builtin();
    // 06010 暴露垃圾 in street 110102001: no rule, the catalogue's 4 WH.
    let friday = route(&r, "06010", Some("110102001001001"), "2026-03-06 17:00");
    assert_eq!(friday.because, "catalogue default");
    assert_eq!((friday.hours, friday.clock), (4.0, WH));
    // Friday 17:00–18:00 is one hour; Monday 08:30 + 3 h.
    assert_eq!(show(friday.deadline), "2026-03-09 11:30");
    // Before 清明: Friday 3 April, then 4–6 April are holidays.
    let qingming = route(&r, "06010", Some("110102001001001"), "2026-04-03 17:00");
    assert_eq!(show(qingming.deadline), "2026-04-07 11:30");
    // Street 110102002's 2 WH across a night: Thursday 17:30 → Friday 10:00.
    let night = route(&r, "06010", Some("110102002002001"), "2026-03-05 17:30");
    assert_eq!(show(night.deadline), "2026-03-06 10:00");
}

#[test]
fn continuous_deadlines_run_through_the_night() {
    let r = RoutingRules::builtin();
    // 06037 动物尸体: the shipped rule makes it 2 CH (catalogue 2 WH).
    let x = route(&r, "06037", Some("110102001001001"), "2026-03-06 17:00");
    assert_eq!((x.hours, x.clock), (2.0, CH));
    assert_eq!(show(x.deadline), "2026-03-06 19:00");
    assert!(x.because.starts_with("routing.csv line "));
    // 01001 供水井盖异常 is 2 CH in the catalogue: Saturday 23:00 → Sunday 01:00.
    let y = route(&r, "01001", None, "2026-03-07 23:00");
    assert_eq!(
        (y.department.as_str(), y.clock, show(y.deadline).as_str()),
        ("水务（供水企业）", CH, "2026-03-08 01:00")
    );
}

#[test]
fn shipped_rules_route_the_demo_district() {
    let r = RoutingRules::builtin();
    let summary = |code: &str, cell: &str| {
        let x = route(&r, code, Some(cell), "2026-03-09 09:00");
        (x.department, x.hours, x.clock, x.because)
    };
    // Street 110102002's exposed rubbish: the street's own sanitation team, 2 WH.
    assert_eq!(
        summary("06010", "110102002002004"),
        ("街道环卫所".into(), 2.0, WH, "routing.csv line 2".into())
    );
    // Its A core area (community 110102002001): 1 WH, the longer prefix wins.
    assert_eq!(
        summary("06010", "110102002001004"),
        ("街道环卫所".into(), 1.0, WH, "routing.csv line 4".into())
    );
    // Street 110102001: the catalogue's 城管（环卫）, 4 WH.
    assert_eq!(
        summary("06010", "110102001001004"),
        ("城管（环卫）".into(), 4.0, WH, "catalogue default".into())
    );
    // A district-wide (6-digit) rule.
    assert_eq!(summary("01037", "110102001001004").1, 8.0);
}

#[test]
fn an_unknown_category_is_an_error() {
    let err = RoutingRules::builtin()
        .route(
            &Catalog::builtin(),
            &WorkCalendar::builtin(),
            &CategoryKey::current("99999"),
            None,
            bj("2026-03-09 09:00"),
        )
        .unwrap_err();
    assert!(matches!(err, DispatchError::UnknownCategory { .. }));
    assert!(err.to_string().contains("99999"), "{err}");
    // It converts into the core's error type.
    let core: gridpatrol_core::Error = err.into();
    assert!(core.to_string().contains("未知的案件类别"));
}

// ---------------------------------------------------------------- the rules file

#[test]
fn shipped_rules_are_to_csv_output_and_round_trip() {
    let r = RoutingRules::builtin();
    assert!(r.len() >= 5 && !r.is_empty());
    assert_eq!(
        r.to_csv(),
        include_str!("../data/routing.csv"),
        "the shipped file is to_csv's own output"
    );
    let again = RoutingRules::from_csv(&r.to_csv()).unwrap();
    assert_eq!(again, r);
    assert_eq!(again.version(), r.version());
    assert_eq!(r.version().len(), 16);
    assert!(r.version().chars().all(|c| c.is_ascii_hexdigit()));
    // Every shipped rule names a category the shipped catalogue has, and explains itself.
    r.check_categories(&Catalog::builtin()).unwrap();
    assert!(r.rules().iter().all(|rule| rule.note.is_some()));
    // Rules name departments in the catalogue's words or a local unit.
    let rubbish = &r.rules()[0];
    assert_eq!(
        (
            rubbish.category.as_deref(),
            rubbish.area.as_deref(),
            rubbish.department.as_str()
        ),
        (Some("06010"), Some("110102002"), "街道环卫所")
    );
}

#[test]
fn version_changes_with_content() {
    let a = rules("06010,110102,A,,,\n");
    let b = rules("06010,110102,B,,,\n");
    assert_ne!(a.version(), b.version());
}

#[test]
fn columns_may_come_in_any_order_and_note_may_be_absent() {
    let r = RoutingRules::from_csv(
        "\u{feff}department,clock,category,area,deadline_hours\nX,CH,06010,110102,3\n",
    )
    .unwrap();
    let rule = &r.rules()[0];
    assert_eq!(rule.department, "X");
    assert_eq!(rule.clock, Some(CH));
    assert_eq!(rule.deadline_hours, Some(3.0));
    assert_eq!(rule.note, None);
    assert_eq!(RoutingRules::from_csv(HEADER).unwrap().len(), 0);
}

#[test]
fn bad_files_name_the_line_and_the_field() {
    let cases = [
        (
            "06010,110102,A,,,\n06010,11010,A,,,\n",
            "line 3",
            "\"area\"",
        ),
        ("06010,11010200A,A,,,\n", "line 2", "\"area\""),
        ("06010,1101020010010011,A,,,\n", "line 2", "\"area\""),
        ("06010,,A,0,,\n", "line 2", "\"deadline_hours\""),
        ("06010,,A,-2,,\n", "line 2", "\"deadline_hours\""),
        ("06010,,A,two,,\n", "line 2", "\"deadline_hours\""),
        ("06010,,A,inf,,\n", "line 2", "\"deadline_hours\""),
        ("06010,,A,2,XX,\n", "line 2", "\"clock\""),
        ("06010,,,2,WH,\n", "line 2", "\"department\""),
        ("060 10,,A,,,\n", "line 2", "\"category\""),
        (":06010,,A,,,\n", "line 2", "\"category\""),
        ("06010,,A,,\n", "line 2", "expected 6 fields, found 5"),
    ];
    for (body, line, field) in cases {
        let message = refused(body);
        assert!(message.contains(line), "{body:?}: {message}");
        assert!(message.contains(field), "{body:?}: {message}");
    }
}

#[test]
fn bad_headers_are_refused_on_line_1() {
    let missing =
        RoutingRules::from_csv("category,area,department,deadline_hours,note\n").unwrap_err();
    assert!(matches!(
        missing,
        DispatchError::MissingColumn { column: "clock" }
    ));
    assert!(missing.to_string().starts_with("line 1"), "{missing}");
    let unknown =
        RoutingRules::from_csv("category,area,department,deadline_hours,clock,dept\n").unwrap_err();
    assert!(matches!(unknown, DispatchError::UnknownColumn { .. }));
    let twice =
        RoutingRules::from_csv("category,area,area,department,deadline_hours,clock\n").unwrap_err();
    assert!(matches!(twice, DispatchError::DuplicateColumn { .. }));
}

#[test]
fn a_rule_for_a_category_missing_from_the_catalogue_is_named() {
    let r = rules("06010,,A,,,\n0601O,,B,,,\n");
    let err = r.check_categories(&Catalog::builtin()).unwrap_err();
    assert!(err.to_string().starts_with("line 3"), "{err}");
    assert!(err.to_string().contains("0601O"), "{err}");
}

// ---------------------------------------------------------------- supervision

fn event(action: ActionKind, role: Role, at: &str) -> TimelineEvent {
    let mut e = TimelineEvent::new(
        action,
        "someone",
        role,
        Hlc {
            wall_ms: bj(at).timestamp_millis(),
            counter: 0,
        },
    );
    // Verification goes to a named worker, who is the one to verify.
    if action == ActionKind::RequestVerification {
        e.assignee = Some("someone".into());
    }
    e
}

/// Reported, registered and dispatched at `dispatched` with `deadline`; then `more`.
fn dispatched(dispatched: &str, deadline: DateTime<Utc>, more: Vec<TimelineEvent>) -> Timeline {
    let mut events = vec![
        event(ActionKind::Report, Role::GridWorker, "2026-03-01 08:00"),
        event(ActionKind::Register, Role::Dispatcher, "2026-03-01 08:01"),
        TimelineEvent {
            department: Some("城管（环卫）".into()),
            deadline: Some(deadline),
            ..event(ActionKind::Dispatch, Role::Dispatcher, dispatched)
        },
    ];
    events.extend(more);
    Timeline::replay(events)
}

fn state(timeline: &Timeline, clock: ClockType, now: &str) -> DeadlineState {
    deadline_state(
        timeline,
        clock,
        &WorkCalendar::builtin(),
        bj(now),
        &SupervisionPolicy::default(),
    )
}

fn escalate(timeline: &Timeline, clock: ClockType, now: &str) -> bool {
    needs_escalation(
        timeline,
        clock,
        &WorkCalendar::builtin(),
        bj(now),
        &SupervisionPolicy::default(),
    )
}

#[test]
fn default_policy_warns_at_a_quarter_left_and_escalates_at_half_over() {
    let p = SupervisionPolicy::default();
    assert_eq!((p.warn_fraction, p.escalate_after_fraction), (0.25, 0.5));
}

#[test]
fn a_working_hours_case_through_its_day() {
    // Monday 09:00 + 4 WH = 14:30 (lunch 12:00–13:30 does not count). A quarter is 1 h.
    let t = dispatched("2026-03-09 09:00", bj("2026-03-09 14:30"), vec![]);
    assert_eq!(state(&t, WH, "2026-03-09 09:30"), DeadlineState::OnTime);
    assert_eq!(state(&t, WH, "2026-03-09 11:59"), DeadlineState::OnTime);
    // At lunch exactly 1 working hour is left: approaching, and it stays so through lunch.
    assert_eq!(
        state(&t, WH, "2026-03-09 12:30"),
        DeadlineState::Approaching
    );
    assert_eq!(
        state(&t, WH, "2026-03-09 14:30"),
        DeadlineState::Approaching
    );
    assert_eq!(state(&t, WH, "2026-03-09 14:31"), DeadlineState::Overdue);
    // Escalation: overdue by more than 2 working hours, i.e. after 16:30.
    assert!(!escalate(&t, WH, "2026-03-09 14:31"));
    assert!(!escalate(&t, WH, "2026-03-09 16:30"));
    assert!(escalate(&t, WH, "2026-03-09 16:31"));
    assert!(escalate(&t, WH, "2026-03-10 09:00"));
}

#[test]
fn a_continuous_case_through_its_two_hours() {
    let t = dispatched("2026-03-07 22:00", bj("2026-03-08 00:00"), vec![]);
    assert_eq!(state(&t, CH, "2026-03-07 23:29"), DeadlineState::OnTime);
    assert_eq!(
        state(&t, CH, "2026-03-07 23:30"),
        DeadlineState::Approaching
    );
    assert_eq!(state(&t, CH, "2026-03-08 00:01"), DeadlineState::Overdue);
    assert!(!escalate(&t, CH, "2026-03-08 01:00"));
    assert!(escalate(&t, CH, "2026-03-08 01:01"));
}

#[test]
fn a_working_hours_case_dispatched_friday_evening_is_not_overdue_on_sunday() {
    // Friday 17:00 + 4 WH = Monday 11:30.
    let deadline = WorkCalendar::builtin().deadline(bj("2026-03-06 17:00"), 4.0, WH);
    assert_eq!(show(deadline), "2026-03-09 11:30");
    let t = dispatched("2026-03-06 17:00", deadline, vec![]);
    // Sunday noon: 3 of the 4 working hours are left.
    assert_eq!(state(&t, WH, "2026-03-08 12:00"), DeadlineState::OnTime);
    assert!(!escalate(&t, WH, "2026-03-08 12:00"));
    // Monday 10:30: 1 h left.
    assert_eq!(
        state(&t, WH, "2026-03-09 10:30"),
        DeadlineState::Approaching
    );
    // Overdue since Monday 11:30, escalated after 2 more working hours: lunch does not count, so
    // that is 15:00, not 13:30.
    assert_eq!(state(&t, WH, "2026-03-09 13:00"), DeadlineState::Overdue);
    assert!(!escalate(&t, WH, "2026-03-09 15:00"));
    assert!(escalate(&t, WH, "2026-03-09 15:01"));
}

#[test]
fn only_cases_with_a_department_have_a_deadline_state() {
    let deadline = bj("2026-03-09 14:30");
    let at = |a, r, t| event(a, r, t);
    let late = "2026-03-20 09:00";
    // Accepted: still with the department.
    let accepted = dispatched(
        "2026-03-09 09:00",
        deadline,
        vec![at(ActionKind::Accept, Role::Department, "2026-03-09 09:10")],
    );
    assert_eq!(state(&accepted, WH, late), DeadlineState::Overdue);
    // Handled: the department's clock stopped.
    let handled = dispatched(
        "2026-03-09 09:00",
        deadline,
        vec![
            at(ActionKind::Accept, Role::Department, "2026-03-09 09:10"),
            at(ActionKind::Handle, Role::Department, "2026-03-09 10:00"),
        ],
    );
    assert_eq!(state(&handled, WH, late), DeadlineState::NoDeadline);
    assert!(!escalate(&handled, WH, late));
    // Returned: back at the desk.
    let returned = dispatched(
        "2026-03-09 09:00",
        deadline,
        vec![at(ActionKind::Return, Role::Department, "2026-03-09 09:10")],
    );
    assert_eq!(state(&returned, WH, late), DeadlineState::NoDeadline);
    // Rework: back with the department, under the same deadline.
    let rework = dispatched(
        "2026-03-09 09:00",
        deadline,
        vec![
            at(ActionKind::Accept, Role::Department, "2026-03-09 09:10"),
            at(ActionKind::Handle, Role::Department, "2026-03-09 10:00"),
            at(ActionKind::Feedback, Role::Department, "2026-03-09 10:05"),
            at(
                ActionKind::RequestVerification,
                Role::System,
                "2026-03-09 10:06",
            ),
            at(ActionKind::VerifyFail, Role::GridWorker, "2026-03-09 11:00"),
        ],
    );
    // 50 working minutes of 4 h left.
    assert_eq!(
        state(&rework, WH, "2026-03-09 13:40"),
        DeadlineState::Approaching
    );
    assert_eq!(state(&rework, WH, late), DeadlineState::Overdue);
    // Registered, never dispatched.
    let registered = Timeline::replay(vec![
        at(ActionKind::Report, Role::GridWorker, "2026-03-09 08:00"),
        at(ActionKind::Register, Role::Dispatcher, "2026-03-09 08:10"),
    ]);
    assert_eq!(state(&registered, WH, late), DeadlineState::NoDeadline);
    // Dispatched without a deadline.
    let open_ended = Timeline::replay(vec![
        at(ActionKind::Report, Role::GridWorker, "2026-03-09 08:00"),
        at(ActionKind::Register, Role::Dispatcher, "2026-03-09 08:10"),
        at(ActionKind::Dispatch, Role::Dispatcher, "2026-03-09 08:20"),
    ]);
    assert_eq!(state(&open_ended, WH, late), DeadlineState::NoDeadline);
}

#[test]
fn an_extension_moves_the_deadline_and_grows_the_allowed_time() {
    let extension = TimelineEvent {
        deadline: Some(bj("2026-03-10 14:30")),
        ..event(ActionKind::Extend, Role::Dispatcher, "2026-03-09 14:00")
    };
    let t = dispatched("2026-03-09 09:00", bj("2026-03-09 14:30"), vec![extension]);
    // Allowed: Monday 09:00 → Tuesday 14:30 = 12 WH; at Monday 15:00, 7.5 WH are left.
    assert_eq!(state(&t, WH, "2026-03-09 15:00"), DeadlineState::OnTime);
    // A quarter of 12 WH is 3 WH: approaching from Tuesday 10:00 (3 WH before 14:30).
    assert_eq!(state(&t, WH, "2026-03-10 09:59"), DeadlineState::OnTime);
    assert_eq!(
        state(&t, WH, "2026-03-10 10:00"),
        DeadlineState::Approaching
    );
}
