//! Work calendar: deadlines and elapsed working time, on the shipped 2026 calendar and on small
//! calendars written here. Times are written in the calendar's local time (Beijing, +08:00, for the
//! shipped one) because that is how a dispatcher reads them.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use gridpatrol_core::calendar::{CalendarError, ClockType, WorkCalendar};
use proptest::prelude::*;

const WH: ClockType = ClockType::WorkingHours;
const CH: ClockType = ClockType::Continuous;

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// "2026-03-10 10:00" Beijing time → UTC instant.
fn bj(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    beijing()
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc)
}

/// UTC instant → "2026-03-10 12:00" Beijing time.
fn show(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Deadline on the shipped calendar, shown in Beijing time.
fn builtin_deadline(start: &str, hours: f64, clock: ClockType) -> String {
    show(WorkCalendar::builtin().deadline(bj(start), hours, clock))
}

#[test]
fn builtin_calendar_is_the_8_hour_day() {
    let calendar = WorkCalendar::builtin();
    assert_eq!(calendar.working_minutes_per_day(), 480);
    assert_eq!(calendar.utc_offset(), beijing());
    assert!(calendar.covers_holidays(2026));
    assert!(
        !calendar.covers_holidays(2027),
        "2027 holidays are not in the shipped file"
    );
    assert!(calendar.note().is_some_and(|note| note.contains("2026")));
}

#[test]
fn years_without_holidays_are_named_before_deadlines_reach_them() {
    let calendar = WorkCalendar::builtin();
    // Mid-2026: 2026 is covered and the window stays in it.
    assert!(
        calendar
            .missing_holiday_years(bj("2026-06-01 10:00"), 45)
            .is_empty()
    );
    // December: the window reaches 2027, which the shipped file lacks.
    assert_eq!(
        calendar.missing_holiday_years(bj("2026-12-02 10:00"), 45),
        vec![2027]
    );
    // Local dates, not UTC: 2026-12-31 23:30 in Beijing is still 2026 with a window of 0 days...
    assert!(
        calendar
            .missing_holiday_years(bj("2026-12-31 23:30"), 0)
            .is_empty()
    );
    // ...and 00:30 on 1 January is 2027 although UTC is still in 2026.
    assert_eq!(
        calendar.missing_holiday_years(bj("2027-01-01 00:30"), 0),
        vec![2027]
    );
}

#[test]
fn within_a_day() {
    assert_eq!(
        builtin_deadline("2026-03-10 10:00", 2.0, WH),
        "2026-03-10 12:00"
    );
    // Across lunch: 11:00–12:00, then 13:30–14:30.
    assert_eq!(
        builtin_deadline("2026-03-10 11:00", 2.0, WH),
        "2026-03-10 14:30"
    );
    // Half an hour, in whole minutes, straddling lunch.
    assert_eq!(
        builtin_deadline("2026-03-10 11:45", 0.5, WH),
        "2026-03-10 13:45"
    );
    assert_eq!(
        builtin_deadline("2026-03-10 08:30", 8.0, WH),
        "2026-03-10 18:00"
    );
}

#[test]
fn across_a_night() {
    assert_eq!(
        builtin_deadline("2026-03-10 17:00", 2.0, WH),
        "2026-03-11 09:30"
    );
}

#[test]
fn across_a_weekend() {
    // Friday 17:00 + 2 WH → Monday 09:30.
    assert_eq!(
        builtin_deadline("2026-03-13 17:00", 2.0, WH),
        "2026-03-16 09:30"
    );
}

#[test]
fn across_national_day_2026() {
    // Wed 30 Sep: 6.5 h left that day; 1–7 Oct off; Thu 8 Oct 08:30 + 1.5 h.
    assert_eq!(
        builtin_deadline("2026-09-30 10:00", 8.0, WH),
        "2026-10-08 10:00"
    );
    // 30 Sep 1 h, 8 Oct 8 h, 9 Oct 8 h, then Saturday 10 Oct is a make-up working day: 7 h more.
    assert_eq!(
        builtin_deadline("2026-09-30 17:00", 24.0, WH),
        "2026-10-10 17:00"
    );
    // Friday 9 Oct + 8 WH lands on the make-up Saturday rather than on Monday.
    assert_eq!(
        builtin_deadline("2026-10-09 10:00", 8.0, WH),
        "2026-10-10 10:00"
    );
}

#[test]
fn across_spring_festival_2026() {
    // Saturday 14 Feb is a make-up working day, then 15–23 Feb are off.
    assert_eq!(
        builtin_deadline("2026-02-13 17:00", 2.0, WH),
        "2026-02-14 09:30"
    );
    assert_eq!(
        builtin_deadline("2026-02-14 17:00", 2.0, WH),
        "2026-02-24 09:30"
    );
}

#[test]
fn start_outside_working_time() {
    // At night, before dawn, at lunch: counting begins at the next working period.
    assert_eq!(
        builtin_deadline("2026-03-10 22:00", 2.0, WH),
        "2026-03-11 10:30"
    );
    assert_eq!(
        builtin_deadline("2026-03-11 03:00", 2.0, WH),
        "2026-03-11 10:30"
    );
    assert_eq!(
        builtin_deadline("2026-03-10 12:30", 1.0, WH),
        "2026-03-10 14:30"
    );
    // On a holiday (Saturday 3 Oct, inside National Day) and on an ordinary Saturday.
    assert_eq!(
        builtin_deadline("2026-10-03 10:00", 2.0, WH),
        "2026-10-08 10:30"
    );
    assert_eq!(
        builtin_deadline("2026-03-14 10:00", 2.0, WH),
        "2026-03-16 10:30"
    );
}

#[test]
fn make_up_days_are_working_days_and_holidays_are_not() {
    let calendar = WorkCalendar::builtin();
    for worked in [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ] {
        assert!(
            calendar.is_working_day(date(worked)),
            "{worked} is a make-up working day"
        );
    }
    for off in [
        "2026-01-01",
        "2026-02-16",
        "2026-02-23",
        "2026-04-06",
        "2026-05-05",
        "2026-06-19",
        "2026-09-25",
    ] {
        assert!(
            !calendar.is_working_day(date(off)),
            "{off} is a public holiday"
        );
    }
    assert!(
        calendar.is_working_day(date("2026-03-10")),
        "an ordinary Tuesday"
    );
    assert!(
        !calendar.is_working_day(date("2026-03-14")),
        "an ordinary Saturday"
    );
    // Saturday 19 Sep 10:00 + 2 WH → Sunday 20 Sep (make-up) 10:30.
    assert_eq!(
        builtin_deadline("2026-09-19 10:00", 2.0, WH),
        "2026-09-20 10:30"
    );
}

#[test]
fn continuous_clock_ignores_the_calendar() {
    assert_eq!(
        builtin_deadline("2026-03-13 23:00", 2.0, CH),
        "2026-03-14 01:00"
    );
    assert_eq!(
        builtin_deadline("2026-10-01 12:00", 0.5, CH),
        "2026-10-01 12:30"
    );
    let calendar = WorkCalendar::builtin();
    let span = calendar.elapsed(bj("2026-03-13 23:00"), bj("2026-03-14 01:00"), CH);
    assert_eq!(span, Duration::hours(2));
}

#[test]
fn long_spans_skip_whole_weeks() {
    // 240 WH = 30 working days from Monday 2 March; Qingming (4–6 Apr) costs Monday 6 April.
    assert_eq!(
        builtin_deadline("2026-03-02 08:30", 240.0, WH),
        "2026-04-13 18:00"
    );
    // Years of working hours, starting in 2026 and running past the holiday data: still instant.
    let calendar = WorkCalendar::builtin();
    let start = bj("2026-03-02 08:30");
    let end = calendar.deadline(start, 100_000.0, WH);
    assert_eq!(calendar.elapsed(start, end, WH), Duration::hours(100_000));
    // Beyond chrono's range the deadline saturates instead of looping or panicking.
    assert_eq!(calendar.deadline(start, 1e12, WH), DateTime::<Utc>::MAX_UTC);
    assert_eq!(
        calendar.deadline(start, f64::INFINITY, CH),
        DateTime::<Utc>::MAX_UTC
    );
}

#[test]
fn non_positive_hours_give_the_start() {
    let calendar = WorkCalendar::builtin();
    let start = bj("2026-03-10 22:00");
    assert_eq!(calendar.deadline(start, 0.0, WH), start);
    assert_eq!(calendar.deadline(start, -3.0, WH), start);
    assert_eq!(calendar.deadline(start, f64::NAN, CH), start);
}

#[test]
fn elapsed_counts_working_time_only() {
    let calendar = WorkCalendar::builtin();
    let elapsed = |from: &str, to: &str| calendar.elapsed(bj(from), bj(to), WH);
    assert_eq!(
        elapsed("2026-03-13 17:00", "2026-03-16 09:30"),
        Duration::hours(2)
    );
    assert_eq!(
        elapsed("2026-03-10 11:00", "2026-03-10 14:30"),
        Duration::hours(2)
    );
    assert_eq!(
        elapsed("2026-03-10 12:10", "2026-03-10 13:20"),
        Duration::zero(),
        "lunch"
    );
    assert_eq!(
        elapsed("2026-09-30 00:00", "2026-10-09 00:00"),
        Duration::hours(16),
        "30 Sep and 8 Oct"
    );
    assert_eq!(
        elapsed("2026-03-16 09:30", "2026-03-13 17:00"),
        Duration::zero(),
        "negative span"
    );
    assert_eq!(
        calendar.elapsed(bj("2026-03-16 09:30"), bj("2026-03-13 17:00"), CH),
        Duration::zero(),
        "negative span on the continuous clock"
    );
    // A whole year: 2026 has 261 weekdays, 19 of them holidays (Jan 1–2; Feb 16–20, 23; Apr 6; May 1, 4, 5;
    // Jun 19; Sep 25; Oct 1, 2, 5–7), and 6 make-up weekend days: 248 working days.
    let year = elapsed("2026-01-01 00:00", "2027-01-01 00:00");
    assert_eq!(year, Duration::hours(8 * 248));
}

/// A small calendar of our own: UTC, 09:00–12:00 and 14:00–17:00 (6 h), a three-day holiday
/// Wed 1 – Fri 3 May 2030 and Saturday 4 May 2030 worked.
fn small_calendar() -> WorkCalendar {
    WorkCalendar::from_json(
        r#"{
            "utc_offset": "+00:00",
            "working_periods": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "17:00"}],
            "weekend": ["Sat", "Sunday"],
            "holiday_years": [2030],
            "holidays": [{"name": "May Day", "from": "2030-05-01", "to": "2030-05-03"}],
            "makeup_workdays": [{"date": "2030-05-04"}]
        }"#,
    )
    .unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
}

fn small_deadline(start: &str, hours: f64) -> String {
    small_calendar()
        .deadline(utc(start), hours, WH)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[test]
fn small_calendar_deadlines() {
    assert_eq!(small_calendar().working_minutes_per_day(), 360);
    assert_eq!(small_deadline("2030-04-29 11:00", 2.0), "2030-04-29 15:00");
    assert_eq!(small_deadline("2030-04-29 16:00", 2.0), "2030-04-30 10:00");
    // Tue 30 Apr 16:00: one hour, three days off, then the make-up Saturday.
    assert_eq!(small_deadline("2030-04-30 16:00", 2.0), "2030-05-04 10:00");
    assert_eq!(
        small_deadline("2030-05-01 08:00", 1.0),
        "2030-05-04 10:00",
        "start on a holiday"
    );
    assert_eq!(
        small_deadline("2030-05-04 16:30", 1.0),
        "2030-05-06 09:30",
        "Sunday is off"
    );
    assert_eq!(small_deadline("2030-05-06 00:00", 12.0), "2030-05-07 17:00");
}

#[test]
fn round_the_clock_calendar_makes_working_hours_continuous() {
    let calendar = WorkCalendar::from_json(
        r#"{"utc_offset": "+08:00", "working_periods": [{"start": "00:00", "end": "24:00"}], "weekend": []}"#,
    )
    .unwrap();
    let start = bj("2026-10-01 23:15");
    for hours in [0.5, 2.0, 30.0, 1000.0] {
        assert_eq!(
            calendar.deadline(start, hours, WH),
            calendar.deadline(start, hours, CH)
        );
    }
    assert_eq!(
        calendar.elapsed(start, bj("2026-10-03 23:15"), WH),
        Duration::hours(48)
    );
}

#[test]
fn to_json_round_trips() {
    let text = include_str!("../data/calendar.json");
    let calendar = WorkCalendar::builtin();
    assert_eq!(
        calendar.to_json(),
        text.trim_end(),
        "the shipped file is in to_json's own layout"
    );
    let again = WorkCalendar::from_json(&calendar.to_json()).unwrap();
    assert_eq!(again.to_json(), calendar.to_json());
    let small = small_calendar();
    let again = WorkCalendar::from_json(&small.to_json()).unwrap();
    assert_eq!(
        again.deadline(utc("2030-04-30 16:00"), 2.0, WH),
        utc("2030-05-04 10:00")
    );
}

/// A valid calendar written field by field, one field replaced or added: one mistake at a time.
fn with(field: &str, value: &str) -> Result<WorkCalendar, CalendarError> {
    let mut fields = vec![
        ("utc_offset", r#""+08:00""#),
        (
            "working_periods",
            r#"[{"start": "08:30", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]"#,
        ),
        ("weekend", r#"["Sat", "Sun"]"#),
        (
            "holidays",
            r#"[{"name": "National Day", "from": "2026-10-01", "to": "2026-10-07"}]"#,
        ),
        ("makeup_workdays", r#"[{"date": "2026-10-10"}]"#),
    ];
    match fields.iter_mut().find(|(name, _)| *name == field) {
        Some(entry) => entry.1 = value,
        None => fields.push((field, value)),
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\": {value}"))
        .collect();
    WorkCalendar::from_json(&format!("{{{}}}", body.join(", ")))
}

fn error_of(result: Result<WorkCalendar, CalendarError>) -> String {
    match result {
        Ok(_) => panic!("calendar accepted"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn bad_calendars_are_refused_with_clear_errors() {
    assert!(
        with("note", r#""fine""#).is_ok(),
        "the helper builds a valid calendar"
    );

    let malformed = error_of(WorkCalendar::from_json(r#"{"utc_offset": "+08:00","#));
    assert!(
        malformed.contains("malformed") && malformed.contains("line 1"),
        "{malformed}"
    );
    let misspelt = error_of(with("holiday", "[]"));
    assert!(misspelt.contains("unknown field `holiday`"), "{misspelt}");
    let missing = error_of(WorkCalendar::from_json(
        r#"{"utc_offset": "+08:00", "weekend": []}"#,
    ));
    assert!(
        missing.contains("missing field `working_periods`"),
        "{missing}"
    );

    let offset = error_of(with("utc_offset", r#""UTC+8""#));
    assert!(
        offset.contains("\"UTC+8\"") && offset.contains("+08:00"),
        "{offset}"
    );

    let time = error_of(with(
        "working_periods",
        r#"[{"start": "8:30", "end": "12:00"}]"#,
    ));
    assert!(
        time.contains("working_periods[0].start") && time.contains("\"8:30\""),
        "{time}"
    );
    let late = error_of(with(
        "working_periods",
        r#"[{"start": "08:30", "end": "24:30"}]"#,
    ));
    assert!(late.contains("working_periods[0].end"), "{late}");
    let empty = error_of(with(
        "working_periods",
        r#"[{"start": "12:00", "end": "12:00"}]"#,
    ));
    assert!(
        empty.contains("working_periods[0]") && empty.contains("not before"),
        "{empty}"
    );
    let overlap = error_of(with(
        "working_periods",
        r#"[{"start": "08:30", "end": "12:00"}, {"start": "11:30", "end": "18:00"}]"#,
    ));
    assert!(
        overlap.contains("working_periods[1]") && overlap.contains("overlap"),
        "{overlap}"
    );
    let unordered = error_of(with(
        "working_periods",
        r#"[{"start": "13:30", "end": "18:00"}, {"start": "08:30", "end": "12:00"}]"#,
    ));
    assert!(unordered.contains("working_periods[1]"), "{unordered}");
    assert!(error_of(with("working_periods", "[]")).contains("working_periods is empty"));

    let weekday = error_of(with("weekend", r#"["Saturday", "Sonntag"]"#));
    assert!(weekday.contains("\"Sonntag\""), "{weekday}");
    let all_week = error_of(with(
        "weekend",
        r#"["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]"#,
    ));
    assert!(all_week.contains("all seven days"), "{all_week}");

    let bad_date = error_of(with("holidays", r#"[{"name": "x", "from": "2026-02-30"}]"#));
    assert!(
        bad_date.contains("holidays[0].from") && bad_date.contains("2026-02-30"),
        "{bad_date}"
    );
    let bad_makeup = error_of(with("makeup_workdays", r#"[{"date": "10/10/2026"}]"#));
    assert!(
        bad_makeup.contains("makeup_workdays[0].date"),
        "{bad_makeup}"
    );
    let reversed = error_of(with(
        "holidays",
        r#"[{"name": "Oops", "from": "2026-10-07", "to": "2026-10-01"}]"#,
    ));
    assert!(
        reversed.contains("holidays[0] (Oops)") && reversed.contains("after"),
        "{reversed}"
    );
    let too_long = error_of(with(
        "holidays",
        r#"[{"name": "Typo", "from": "2026-10-01", "to": "2029-10-07"}]"#,
    ));
    assert!(too_long.contains("holidays[0] (Typo)"), "{too_long}");
    let both = error_of(with("makeup_workdays", r#"[{"date": "2026-10-03"}]"#));
    assert!(
        both.contains("2026-10-03") && both.contains("both a holiday and a make-up"),
        "{both}"
    );
}

proptest! {
    /// elapsed() is the inverse of deadline() on working hours, from any minute of 2026.
    #[test]
    fn elapsed_inverts_deadline(minute in 0i64..365 * 24 * 60, hours in 0.0f64..200.0) {
        let calendar = WorkCalendar::builtin();
        let start = bj("2026-01-01 00:00") + Duration::minutes(minute);
        let due = calendar.deadline(start, hours, WH);
        let whole_minutes = (hours * 60.0).round() as i64;
        prop_assert_eq!(calendar.elapsed(start, due, WH), Duration::minutes(whole_minutes));
        prop_assert!(due >= start);
    }

    /// The same with starts at any second and on a calendar in another offset.
    #[test]
    fn elapsed_inverts_deadline_to_the_second(second in 0i64..400 * 24 * 3600, minutes in 0i64..20_000) {
        let calendar = small_calendar();
        let start = utc("2030-01-01 00:00") + Duration::seconds(second);
        let due = calendar.deadline(start, minutes as f64 / 60.0, WH);
        prop_assert_eq!(calendar.elapsed(start, due, WH), Duration::minutes(minutes));
    }

    /// A deadline never lands outside working time (unless it is the start itself).
    #[test]
    fn deadlines_land_in_working_time(minute in 0i64..365 * 24 * 60, minutes in 1i64..5_000) {
        let calendar = WorkCalendar::builtin();
        let start = bj("2026-01-01 00:00") + Duration::minutes(minute);
        let due = calendar.deadline(start, minutes as f64 / 60.0, WH);
        let local = due.with_timezone(&beijing());
        prop_assert!(calendar.is_working_day(local.date_naive()));
        let hhmm = local.format("%H:%M").to_string();
        prop_assert!(
            ("08:31".."12:01").contains(&hhmm.as_str()) || ("13:31".."18:01").contains(&hhmm.as_str()),
            "deadline at {}", hhmm
        );
    }
}
