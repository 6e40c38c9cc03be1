//! Case lists filtered by deadline state (`deadline_state=approaching,overdue`), sorted by deadline and
//! paged: the totals count every match, pages follow each other without gaps or overlaps, and the states
//! are the ones supervision measures (the route's clock on the work calendar), not a wall-clock guess.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use common::{Http, Pda, SANITATION, Server, seed};
use gridpatrol_core::calendar::{ClockType, WorkCalendar};
use gridpatrol_core::case::CaseId;
use gridpatrol_core::dispatch::{DeadlineState, SupervisionPolicy, deadline_state};
use gridpatrol_core::timeline::Timeline;
use gridpatrol_server::centre::{CommandCentre, Options};
use gridpatrol_server::db::{CaseFilter, CaseOrder};
use gridpatrol_server::listing::ListedPage;
use gridpatrol_server::principal::{Desk, DeskRole};
use serde_json::{Value, json};

fn list(http: &Http, token: &str, query: &str) -> Value {
    let (status, page) = http.get(&format!("/api/v1/cases?{query}"), Some(token));
    assert_eq!(status, 200, "{query}: {page}");
    page
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn strings(cases: &[CaseId]) -> Vec<String> {
    cases.iter().map(ToString::to_string).collect()
}

/// Every page of `query` with `limit`, joined; each page says the same total.
fn all_pages(http: &Http, token: &str, query: &str, limit: u32) -> (Vec<String>, u64) {
    let first = list(http, token, &format!("{query}&limit={limit}"));
    let total = first["total"].as_u64().unwrap();
    let mut out = ids(&first);
    let mut offset = limit;
    while u64::from(offset) < total {
        let page = list(
            http,
            token,
            &format!("{query}&limit={limit}&offset={offset}"),
        );
        assert_eq!(
            page["total"].as_u64().unwrap(),
            total,
            "{query} at {offset}"
        );
        let items = ids(&page);
        assert!(items.len() <= limit as usize);
        out.extend(items);
        offset += limit;
    }
    (out, total)
}

fn act(http: &Http, token: &str, id: CaseId, body: Value) {
    let (status, reply) = http.act(token, id, body.clone());
    assert_eq!(status, 200, "{body}: {reply}");
}

#[test]
fn lists_filter_by_deadline_state_sorted_by_deadline_with_true_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let mut pda = Pda::enroll(&http, &tokens.device1, "w-001");
    // 01001 (a manhole cover) runs on the continuous clock.
    let cells = ["110102001001001", "110102001001002", "110102001001003"];
    let reported: Vec<CaseId> = (0..9)
        .map(|i| pda.report("01001", cells[i % 3], &format!("井盖缺失 {i}")))
        .collect();
    pda.sync();
    let dispatch = |id: CaseId, deadline: DateTime<Utc>| {
        act(&http, &tokens.dispatcher, id, json!({"action": "register"}));
        act(
            &http,
            &tokens.dispatcher,
            id,
            json!({"action": "dispatch", "department": SANITATION, "deadline": deadline.to_rfc3339()}),
        );
    };
    // Deadlines in the reverse of the report order, so that the deadline order is not the report order.
    // Three soon to be overdue, four on time for days, two never dispatched.
    let late: Vec<CaseId> = reported[0..3].iter().rev().copied().collect();
    let mut last_late = Utc::now();
    for (k, id) in late.iter().enumerate() {
        last_late = Utc::now() + Duration::milliseconds(1_500 + 100 * k as i64);
        dispatch(*id, last_late);
    }
    let on_time: Vec<CaseId> = reported[3..7].iter().rev().copied().collect();
    for (k, id) in on_time.iter().enumerate() {
        dispatch(*id, Utc::now() + Duration::days(1 + k as i64));
    }
    let undispatched = &reported[7..9];
    // The department accepts one of the late cases: its clock keeps running.
    act(
        &http,
        &tokens.sanitation,
        late[1],
        json!({"action": "accept"}),
    );
    let wait = last_late - Utc::now() + Duration::milliseconds(300);
    std::thread::sleep(wait.to_std().unwrap_or_default());

    let d = &tokens.dispatcher;
    // Overdue, earliest deadline first, with the total of the filter.
    let page = list(&http, d, "deadline_state=overdue&order=deadline");
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(ids(&page), strings(&late));
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["deadline_state"], "overdue");
        assert_eq!(item["overdue"], true);
    }
    // Paged one or two at a time: the same cases in the same order, each page saying the same total.
    for limit in [1, 2] {
        let (joined, total) = all_pages(&http, d, "deadline_state=overdue&order=deadline", limit);
        assert_eq!(total, 3);
        assert_eq!(joined, strings(&late), "limit {limit}");
    }
    // A page past the end: no items, the total still true.
    let page = list(&http, d, "deadline_state=overdue&order=deadline&offset=10");
    assert_eq!(page["total"], 3);
    assert_eq!(ids(&page), Vec::<String>::new());

    // On time, by deadline; nothing approaching; a comma list is the union.
    let page = list(&http, d, "deadline_state=on_time&order=deadline");
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(ids(&page), strings(&on_time));
    assert_eq!(list(&http, d, "deadline_state=approaching")["total"], 0);
    let page = list(
        &http,
        d,
        "deadline_state=approaching,overdue&order=deadline",
    );
    assert_eq!(page["total"], 3);
    assert_eq!(ids(&page), strings(&late));
    let page = list(&http, d, "deadline_state=overdue,on_time&order=deadline");
    assert_eq!(
        ids(&page),
        strings(&[late.clone(), on_time.clone()].concat())
    );
    // No deadline: the cases still waiting to be dispatched, oldest first.
    let page = list(&http, d, "deadline_state=no_deadline&order=oldest");
    assert_eq!(ids(&page), strings(undispatched));
    // Every state: every case, as without the filter.
    let page = list(
        &http,
        d,
        "deadline_state=no_deadline,on_time,approaching,overdue&limit=500",
    );
    assert_eq!(page["total"], 9);
    assert_eq!(list(&http, d, "limit=500")["total"], 9);

    // With the other filters: stages (a comma list), the department's own desk, another street's desk.
    assert_eq!(
        list(&http, d, "stage=accepted&deadline_state=overdue")["total"],
        1
    );
    let page = list(
        &http,
        d,
        "stage=dispatched,accepted&deadline_state=overdue&order=deadline",
    );
    assert_eq!(ids(&page), strings(&late));
    let page = list(
        &http,
        d,
        "stage=dispatched&deadline_state=overdue&order=deadline",
    );
    assert_eq!(ids(&page), strings(&[late[0], late[2]]));
    assert_eq!(
        list(&http, &tokens.sanitation, "deadline_state=overdue")["total"],
        3
    );
    assert_eq!(
        list(&http, &tokens.street2, "deadline_state=overdue,on_time")["total"],
        0
    );
    assert_eq!(
        list(&http, d, "overdue=false&deadline_state=overdue")["total"],
        0
    );
    assert_eq!(
        list(
            &http,
            d,
            &format!("cell={}&deadline_state=overdue", cells[0])
        )["total"],
        1
    );

    // Orders: newest is the default, oldest its reverse; a queue of several stages is one list.
    let newest = ids(&list(&http, d, "limit=500"));
    assert_eq!(newest, ids(&list(&http, d, "order=newest&limit=500")));
    let mut oldest = ids(&list(&http, d, "order=oldest&limit=500"));
    assert_eq!(oldest, strings(&reported));
    oldest.reverse();
    assert_eq!(oldest, newest);
    let (joined, total) = all_pages(&http, d, "stage=reported,accepted&order=oldest", 2);
    assert_eq!(total, 3);
    assert_eq!(
        joined,
        strings(&[late[1], undispatched[0], undispatched[1]])
    );

    // Bad values: the usual JSON 400, English with Chinese.
    for (query, code, says) in [
        ("deadline_state=late", "bad_deadline_state", "时限状态错误"),
        (
            "deadline_state=overdue,soon",
            "bad_deadline_state",
            "\"soon\"",
        ),
        ("order=sideways", "bad_order", "排序方式错误"),
        ("stage=dispatched,nope", "bad_stage", "未知环节"),
        ("limit=501&deadline_state=overdue", "bad_limit", "每页条数"),
    ] {
        let (status, body) = http.get(&format!("/api/v1/cases?{query}"), Some(d));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], code, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
}

/// The state the core gives a case's window at `now`, on `clock`.
fn expected_state(item: &serde_json::Value, clock: ClockType, now: DateTime<Utc>) -> DeadlineState {
    let time = |v: &Value| v.as_str().map(|s| s.parse::<DateTime<Utc>>().unwrap());
    let window = Timeline {
        stage: Some(item["stage"].as_str().unwrap().parse().unwrap()),
        dispatched_at: time(&item["dispatched_at"]),
        deadline: time(&item["deadline"]),
        ..Timeline::default()
    };
    deadline_state(
        &window,
        clock,
        &WorkCalendar::builtin(),
        now,
        &SupervisionPolicy::default(),
    )
}

fn listed(
    centre: &CommandCentre,
    desk: &Desk,
    states: &[DeadlineState],
    limit: u32,
    offset: u32,
    now: DateTime<Utc>,
) -> ListedPage {
    let filter = CaseFilter {
        order: CaseOrder::Deadline,
        limit,
        offset,
        ..CaseFilter::default()
    };
    centre.list_cases(desk, &filter, states, now).unwrap()
}

#[test]
fn approaching_is_measured_on_each_cases_clock_and_the_work_calendar() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let mut pda = Pda::enroll(&http, &tokens.device1, "w-001");
    // Three on the continuous clock (01001), three on working hours (06010), 2, 8 and 20 hours each.
    let mut cases = Vec::new();
    for (code, what) in [("01001", "井盖缺失"), ("06010", "暴露垃圾")] {
        for hours in [2, 8, 20] {
            let id = pda.report(code, "110102001001001", &format!("{what} {hours}h"));
            cases.push((id, hours));
        }
    }
    pda.sync();
    for (id, hours) in &cases {
        act(
            &http,
            &tokens.dispatcher,
            *id,
            json!({"action": "register"}),
        );
        act(
            &http,
            &tokens.dispatcher,
            *id,
            json!({"action": "dispatch", "department": SANITATION, "hours": hours}),
        );
    }
    assert!(server.terminate().success());

    // In process, on the same data, at instants of our choosing.
    let centre = CommandCentre::open(&dir, Options::default()).unwrap();
    let desk = Desk {
        id: "s-01".into(),
        role: DeskRole::Supervisor,
        scope: "110102".into(),
        department: None,
    };
    let start = Utc::now();
    let all = listed(&centre, &desk, &[], 500, 0, start);
    assert_eq!(all.total, 6);
    let facts: Vec<(Value, ClockType)> = all
        .items
        .iter()
        .map(|item| {
            let entry = centre
                .db
                .read(|r| r.pool_entry(item.row.id))
                .unwrap()
                .unwrap();
            let clock: ClockType = entry.route.clock.unwrap().parse().unwrap();
            (serde_json::to_value(item).unwrap(), clock)
        })
        .collect();
    let clocks: Vec<ClockType> = facts.iter().map(|(_, c)| *c).collect();
    assert!(clocks.contains(&ClockType::Continuous) && clocks.contains(&ClockType::WorkingHours));

    let wanted_sets: [&[DeadlineState]; 4] = [
        &[DeadlineState::Approaching],
        &[DeadlineState::Approaching, DeadlineState::Overdue],
        &[DeadlineState::OnTime],
        &[DeadlineState::Overdue],
    ];
    let mut seen = BTreeSet::new();
    let mut calendar_mattered = false;
    // Every 90 minutes over ten days: nights, weekends and each case's deadline go by.
    for step in 0..160 {
        let now = start + Duration::minutes(90 * step);
        for wanted in wanted_sets {
            let mut expected: Vec<(&Value, DeadlineState)> = facts
                .iter()
                .map(|(item, clock)| (item, expected_state(item, *clock, now)))
                .filter(|(_, s)| wanted.contains(s))
                .collect();
            expected.sort_by_key(|(item, _)| {
                (
                    item["deadline"]
                        .as_str()
                        .unwrap()
                        .parse::<DateTime<Utc>>()
                        .unwrap(),
                    item["created_at"]
                        .as_str()
                        .unwrap()
                        .parse::<DateTime<Utc>>()
                        .unwrap(),
                    item["id"].as_str().unwrap().to_owned(),
                )
            });
            let page = listed(&centre, &desk, wanted, 500, 0, now);
            assert_eq!(page.total, expected.len() as u64, "{wanted:?} at {now}");
            let got: Vec<(String, DeadlineState)> = page
                .items
                .iter()
                .map(|c| (c.row.id.to_string(), c.deadline_state))
                .collect();
            let want: Vec<(String, DeadlineState)> = expected
                .iter()
                .map(|(item, s)| (item["id"].as_str().unwrap().to_owned(), *s))
                .collect();
            assert_eq!(got, want, "{wanted:?} at {now}");
            // Two at a time, the same.
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let page = listed(&centre, &desk, wanted, 2, offset, now);
                assert_eq!(page.total, expected.len() as u64);
                if page.items.is_empty() {
                    break;
                }
                paged.extend(
                    page.items
                        .iter()
                        .map(|c| (c.row.id.to_string(), c.deadline_state)),
                );
                offset += 2;
            }
            assert_eq!(paged, want, "{wanted:?} at {now}, two at a time");
        }
        for (item, clock) in &facts {
            let state = expected_state(item, *clock, now);
            seen.insert((format!("{clock:?}"), format!("{state:?}")));
            // The wall clock would say otherwise: the calendar decides.
            if *clock == ClockType::WorkingHours
                && state != expected_state(item, ClockType::Continuous, now)
            {
                calendar_mattered = true;
            }
        }
    }
    // The scan saw each clock's cases on time, approaching and overdue, and the calendar made a difference.
    for clock in ["Continuous", "WorkingHours"] {
        for state in ["OnTime", "Approaching", "Overdue"] {
            assert!(
                seen.contains(&(clock.to_owned(), state.to_owned())),
                "{clock} {state} never seen: {seen:?}"
            );
        }
    }
    assert!(calendar_mattered);
}
