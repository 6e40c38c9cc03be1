//! What the dashboard needs from the server: the page at `/`, `GET /api/v1/me`, the deadline state in
//! case lists, and the live event stream, which tells each desk only of the cases it may see and does not
//! hold up a graceful shutdown. (The dashboard itself is tested in a browser: dashboard/tests/e2e.mjs.)

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Pda, Server, listen, ready, seed};
use gridpatrol_core::case::CaseId;
use serde_json::{Value, json};

/// The next `case_changed` event, skipping the others; `None` when none comes within `wait`.
fn next_change(rx: &mpsc::Receiver<(String, Value)>, wait: Duration) -> Option<Value> {
    let until = Instant::now() + wait;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok((event, data)) if event == "case_changed" => return Some(data),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[test]
fn the_dashboard_is_served_and_live_events_follow_the_desks_scope() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();

    // The page: the built dashboard, or the page saying how to build it.
    let (status, page) = http.get("/", None);
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("<html"), "{page}");

    // Who a token belongs to.
    let (status, me) = http.get("/api/v1/me", Some(&tokens.street2));
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({"id": "d-street2", "role": "dispatcher", "scope": "110102002", "department": null})
    );
    assert_eq!(http.get("/api/v1/me", Some(&tokens.device1)).0, 403);
    assert_eq!(http.get("/api/v1/me", None).0, 401);

    // The stream wants a desk token, in the header or the query.
    assert_eq!(http.get("/api/v1/events", None).0, 401);
    assert_eq!(
        http.get(&format!("/api/v1/events?token={}", tokens.device1), None)
            .0,
        403
    );
    assert_eq!(http.get("/api/v1/events?token=gpk_nope", None).0, 401);

    let district = listen(&server.base, &tokens.dispatcher);
    let street2 = listen(&server.base, &tokens.street2);
    ready(&district);
    ready(&street2);

    // A report in street 1: the district desk hears of it, the street-2 desk does not.
    let mut pda1 = Pda::enroll(&http, &tokens.device1, "w-001");
    let one: CaseId = pda1.report("06010", "110102001001001", "街道一的暴露垃圾");
    pda1.sync();
    let heard = next_change(&district, Duration::from_secs(10)).expect("district hears");
    assert_eq!(heard, json!({"id": one.to_string(), "stage": "reported"}));

    // A report in street 2: both hear of it, and it is the first thing street 2 hears.
    let mut pda2 = Pda::enroll(&http, &tokens.device2, "w-002");
    let two: CaseId = pda2.report("06010", "110102002001001", "街道二的暴露垃圾");
    pda2.sync();
    let heard = next_change(&street2, Duration::from_secs(10)).expect("street 2 hears");
    assert_eq!(heard["id"], two.to_string());
    assert_eq!(
        next_change(&district, Duration::from_secs(10)).unwrap()["id"],
        two.to_string()
    );

    // A desk action is announced once, with the new stage.
    let (status, body) = http.act(&tokens.dispatcher, one, json!({"action": "register"}));
    assert_eq!(status, 200, "{body}");
    let heard = next_change(&district, Duration::from_secs(10)).unwrap();
    assert_eq!(heard, json!({"id": one.to_string(), "stage": "registered"}));
    assert_eq!(next_change(&street2, Duration::from_millis(500)), None);
    assert_eq!(next_change(&district, Duration::from_millis(300)), None);

    // Lists carry the deadline state the map colours cases by.
    let (status, page) = http.get("/api/v1/cases", Some(&tokens.dispatcher));
    assert_eq!(status, 200, "{page}");
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["deadline_state"] == "no_deadline")
    );
    let (status, body) = http.act(&tokens.dispatcher, one, json!({"action": "dispatch"}));
    assert_eq!(status, 200, "{body}");
    let (_, page) = http.get("/api/v1/cases?stage=dispatched", Some(&tokens.dispatcher));
    assert_eq!(page["items"][0]["deadline_state"], "on_time");

    // Open streams do not hold up a graceful shutdown.
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        started.elapsed()
    );
}
