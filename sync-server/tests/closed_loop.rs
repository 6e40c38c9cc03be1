//! The closed loop over a real server process: a PDA reports offline and syncs, the case enters the
//! dispatch pool routed as the core's rules say, desks register, dispatch, handle and request
//! verification, the PDA verifies on site and syncs, and the server closes the case. Plus the refusals.

mod common;

use chrono::{DateTime, Utc};
use common::{Http, Pda, SANITATION, Server, seed};
use gridpatrol_core::calendar::WorkCalendar;
use gridpatrol_core::case::CaseId;
use gridpatrol_core::catalog::{Catalog, CategoryKey};
use gridpatrol_core::dispatch::RoutingRules;
use gridpatrol_core::workflow::Stage;
use serde_json::{Value, json};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

fn stage(http: &Http, token: &str, case: CaseId) -> String {
    let (status, body) = http.case(token, case);
    assert_eq!(status, 200, "{body}");
    body["stage"].as_str().unwrap().to_owned()
}

#[test]
fn a_case_goes_round_the_closed_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();

    // Reported offline, synced later.
    let mut pda = Pda::enroll(&http, &tokens.device1, "w-001");
    let cell = "110102001001001";
    let id = pda.report("06010", cell, "路边暴露垃圾");
    let (request, status, body, _) = pda.sync_once().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(request.docs.len(), 1);
    pda.sync();

    // In the list, and in the pool with the route the core computes for it.
    let (status, page) = http.get("/api/v1/cases?stage=reported", Some(&tokens.dispatcher));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id.to_string());
    assert_eq!(page["items"][0]["cell"], cell);
    let (status, view) = http.case(&tokens.dispatcher, id);
    assert_eq!(status, 200, "{view}");
    let entered = time(&view["pool_entered_at"]);
    let (catalog, calendar, rules) = (
        Catalog::builtin(),
        WorkCalendar::builtin(),
        RoutingRules::builtin(),
    );
    let key = CategoryKey::current("06010");
    let expected = rules
        .route(&catalog, &calendar, &key, Some(cell), entered)
        .unwrap();
    assert_eq!(view["route"]["department"], expected.department.as_str());
    assert_eq!(view["route"]["department"], SANITATION);
    assert_eq!(time(&view["route"]["deadline"]), expected.deadline);
    assert_eq!(view["actions"], json!(["register", "reject"]));
    assert_eq!(view["stage"], "reported");

    // A retry of the same request changes nothing twice: the case entered the pool once.
    let (status, _) = http
        .post_bytes("/sync/v1", Some(&tokens.device1), &request.encode())
        .unwrap();
    assert_eq!(status, 200);
    let (_, again) = http.case(&tokens.dispatcher, id);
    assert_eq!(again["pool_entered_at"], view["pool_entered_at"]);
    assert_eq!(
        http.get("/api/v1/cases", Some(&tokens.dispatcher)).1["total"],
        1
    );

    // Register and dispatch by the route: department and deadline from the rules at dispatch time.
    let (status, body) = http.act(
        &tokens.dispatcher,
        id,
        json!({"action": "register", "note": "属实"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "registered");
    let (status, body) = http.act(&tokens.dispatcher, id, json!({"action": "dispatch"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "dispatched");
    let dispatched_at = time(&body["timeline"]["dispatched_at"]);
    let at_dispatch = rules
        .route(&catalog, &calendar, &key, Some(cell), dispatched_at)
        .unwrap();
    assert_eq!(body["timeline"]["department"], SANITATION);
    assert_eq!(time(&body["timeline"]["deadline"]), at_dispatch.deadline);
    assert_eq!(body["deadline_state"], "on_time");

    // The department takes it from there.
    for action in ["accept", "handle", "feedback"] {
        let (status, body) = http.act(
            &tokens.sanitation,
            id,
            json!({"action": action, "note": "处置中"}),
        );
        assert_eq!(status, 200, "{action}: {body}");
    }
    assert_eq!(stage(&http, &tokens.dispatcher, id), "feedback_given");
    let (status, body) = http.act(
        &tokens.dispatcher,
        id,
        json!({"action": "request_verification"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timeline"]["verifier"], "w-001");

    // The PDA sees the task, verifies on site (offline), syncs; the server closes the case.
    pda.sync();
    let tasks = pda.store.tasks().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].id, id);
    pda.store
        .verify(id, true, Some("已清理干净".into()), &[])
        .unwrap();
    pda.sync();
    assert_eq!(stage(&http, &tokens.dispatcher, id), "closed");
    pda.sync();
    assert_eq!(pda.store.case(id).unwrap().stage(), Some(Stage::Closed));
    let (_, view) = http.case(&tokens.dispatcher, id);
    let closing = view["timeline"]["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(closing["event"]["action"], "close");
    assert_eq!(closing["event"]["role"], "system");
    assert_eq!(closing["outcome"]["outcome"], "applied");
    assert_eq!(view["actions"], json!([]));

    // The indicators count it: dispatched, handled on time, closed.
    let (status, stats) = http.get(
        "/api/v1/stats?group_by=department",
        Some(&tokens.supervisor),
    );
    assert_eq!(status, 200, "{stats}");
    let g = &stats["groups"][SANITATION];
    assert_eq!(g["handled"], 1, "{stats}");
    assert_eq!(g["handled_on_time"], 1, "{stats}");
    assert_eq!(g["closed"], 1, "{stats}");
    let (status, stats) = http.get(
        "/api/v1/stats?group_by=worker&from=2020-01-01",
        Some(&tokens.supervisor),
    );
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["groups"]["w-001"]["reported"], 1, "{stats}");
}

#[test]
fn a_failed_verification_sends_the_case_back_to_the_department() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let mut pda = Pda::enroll(&http, &tokens.device1, "w-001");
    let id = pda.report("06010", "110102001001002", "垃圾");
    pda.sync();
    for (token, action) in [
        (&tokens.dispatcher, "register"),
        (&tokens.dispatcher, "dispatch"),
        (&tokens.sanitation, "accept"),
        (&tokens.sanitation, "handle"),
        (&tokens.sanitation, "feedback"),
        (&tokens.dispatcher, "request_verification"),
    ] {
        let (status, body) = http.act(token, id, json!({"action": action}));
        assert_eq!(status, 200, "{action}: {body}");
    }
    pda.sync();
    pda.store
        .verify(id, false, Some("仍有垃圾".into()), &[])
        .unwrap();
    pda.sync();
    assert_eq!(stage(&http, &tokens.dispatcher, id), "rework");
    let (status, body) = http.act(&tokens.sanitation, id, json!({"action": "handle"}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn refusals_are_clear_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();

    // No token, an unknown token, the wrong kind of token.
    let (status, body) = http.get("/api/v1/cases", None);
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    let (status, _) = http.post_bytes("/sync/v1", None, b"GPSY").unwrap();
    assert_eq!(status, 401);
    let (status, _) = http.get("/api/v1/cases", Some("gpk_0000"));
    assert_eq!(status, 401);
    let (status, body) = http.get("/api/v1/cases", Some(&tokens.device1));
    assert_eq!(status, 403, "{body}");
    let (status, _) = http
        .post_bytes("/sync/v1", Some(&tokens.dispatcher), b"GPSY")
        .unwrap();
    assert_eq!(status, 403);

    // Sync before enrolling, garbage, a version mismatch.
    let empty = gridpatrol_core::sync::SyncRequest {
        cursor: 0,
        docs: vec![],
    }
    .encode();
    let (status, bytes) = http
        .post_bytes("/sync/v1", Some(&tokens.device2), &empty)
        .unwrap();
    assert_eq!(status, 403);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "not_enrolled");
    let mut pda1 = Pda::enroll(&http, &tokens.device1, "w-001");
    let (status, bytes) = http
        .post_bytes("/sync/v1", Some(&tokens.device1), b"hello")
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes).unwrap()["code"],
        "wire"
    );
    let mut old = empty.clone();
    old[4] = 9;
    let (status, bytes) = http
        .post_bytes("/sync/v1", Some(&tokens.device1), &old)
        .unwrap();
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("version 9"),
        "{body}"
    );

    // Enrollment binds the device id: the same again is fine, another is a conflict.
    let device_id = pda1.store.identity().device_id.clone();
    let (status, _) = http.post(
        "/api/v1/devices/enroll",
        Some(&tokens.device1),
        &json!({"device_id": device_id}),
    );
    assert_eq!(status, 200);
    let (status, body) = http.post(
        "/api/v1/devices/enroll",
        Some(&tokens.device1),
        &json!({"device_id": "dev-other"}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "device_bound");

    // A device pushing a case in another worker's cell: that case is refused (403 in its outcome),
    // nothing of it is kept, and the device keeps it with the reason.
    let mut pda2 = Pda::enroll(&http, &tokens.device2, "w-002");
    let foreign = pda2.report("06010", "110102001001003", "别人的网格");
    let (_, status, refused, _) = pda2.sync_once().unwrap();
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused[0]["case"], foreign.to_string());
    assert_eq!(refused[0]["code"], "out_of_scope");
    let kept = pda2.store.refused().unwrap();
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0]
            .refused
            .as_ref()
            .unwrap()
            .reason
            .contains("不在本网格员负责的网格内")
    );
    let (status, _) = http.case(&tokens.dispatcher, foreign);
    assert_eq!(status, 404);

    // A street desk sees its own street only; a department cannot register.
    let mine = pda1.report("06010", "110102001001004", "一街道的案件");
    pda1.sync();
    let (status, body) = http.case(&tokens.street2, mine);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "out_of_scope");
    let (status, page) = http.get("/api/v1/cases", Some(&tokens.street2));
    assert_eq!(status, 200);
    assert_eq!(page["total"], 0);
    let (status, body) = http.act(&tokens.sanitation, mine, json!({"action": "register"}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "workflow");
    assert!(
        body["message"].as_str().unwrap().contains("角色无此权限"),
        "{body}"
    );
    let (status, body) = http.act(&tokens.dispatcher, mine, json!({"action": "accept"}));
    assert_eq!(status, 409, "{body}");
    // A department does not see a case before it is dispatched to it.
    let (status, _) = http.case(&tokens.sanitation, mine);
    assert_eq!(status, 403);
    // Stage refusal: close before verification.
    let (status, body) = http.act(&tokens.dispatcher, mine, json!({"action": "close"}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("当前环节不允许此操作"),
        "{body}"
    );
    let (status, body) = http.act(&tokens.dispatcher, mine, json!({"action": "fly"}));
    assert_eq!(status, 400, "{body}");
    let unknown = CaseId::generate();
    let (status, _) = http.act(&tokens.dispatcher, unknown, json!({"action": "register"}));
    assert_eq!(status, 404);

    // The refusals are in the audit log (supervisors only).
    let (status, _) = http.get("/api/v1/audit", Some(&tokens.dispatcher));
    assert_eq!(status, 403);
    for bad in ["0", "1001"] {
        let (status, body) = http.get(
            &format!("/api/v1/audit?limit={bad}"),
            Some(&tokens.supervisor),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_limit")),
            "limit={bad}"
        );
    }
    let (status, log) = http.get("/api/v1/audit?limit=1000", Some(&tokens.supervisor));
    assert_eq!(status, 200);
    let log = log.as_array().unwrap();
    let has = |principal: &str, action: &str| {
        log.iter().any(|e| {
            e["principal"] == principal && e["action"] == action && e["reason"].is_string()
        })
    };
    assert!(
        has(
            &format!("device:w-002/{}", pda2.store.identity().device_id),
            "sync_refused"
        ),
        "{log:?}"
    );
    assert!(has("desk:d-street2", "view"), "{log:?}");
    assert!(has("desk:dept-sanitation", "register"), "{log:?}");
}

#[test]
fn photos_upload_resumably_and_are_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let photo = gridpatrol_tests::synthetic_jpeg(64, 48, 7);
    let sha = gridpatrol_core::photo::sha256_hex(&photo);
    let total = photo.len();
    let half = total / 2;

    let (status, body) = http.post(
        "/api/v1/blobs/status",
        Some(&tokens.device1),
        &json!({"sha256": [sha]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[&sha], json!({"held": 0, "complete": false}));
    let put = |offset: usize, bytes: &[u8]| {
        http.put_bytes(
            &format!("/api/v1/blobs/{sha}?offset={offset}&total={total}"),
            &tokens.device1,
            bytes,
        )
    };
    let (status, body) = put(0, &photo[..half]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"held": half, "complete": false}));
    // A chunk that does not start where the server stopped: 409 with what it holds.
    let (status, body) = put(half + 3, &photo[half + 3..]);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["held"], half);
    let (status, body) = put(half, &photo[half..]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"held": total, "complete": true}));
    // Again: a no-op.
    let (status, body) = put(0, &photo);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], true);
    let (status, bytes) = http.get_bytes(&format!("/api/v1/blobs/{sha}"), &tokens.dispatcher);
    assert_eq!(status, 200);
    assert_eq!(bytes, photo);

    // An empty upload (total=0) is bad input, not a server error.
    let (status, body) = http.put_bytes(
        &format!("/api/v1/blobs/{}?offset=0&total=0", "0".repeat(64)),
        &tokens.device1,
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "empty_blob");

    // Bytes that do not hash to the name: 422, and the partial upload is gone.
    let wrong = "ab".repeat(32);
    let (status, body) = http.put_bytes(
        &format!("/api/v1/blobs/{wrong}?offset=0&total=4"),
        &tokens.device1,
        b"abcd",
    );
    assert_eq!(status, 422, "{body}");
    let (_, body) = http.post(
        "/api/v1/blobs/status",
        Some(&tokens.device1),
        &json!({"sha256": [wrong]}),
    );
    assert_eq!(body[&wrong]["held"], 0);
    let (status, _) = http.put_bytes(
        "/api/v1/blobs/nothex?offset=0&total=4",
        &tokens.device1,
        b"abcd",
    );
    assert_eq!(status, 400);
}

#[test]
fn supervision_reminds_once_per_state_and_escalates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let mut pda = Pda::enroll(&http, &tokens.device1, "w-001");
    // 01001 (a water manhole cover) runs on the continuous clock: seconds count at any hour.
    let id = pda.report("01001", "110102001002001", "井盖缺失");
    pda.sync();
    let (status, body) = http.act(&tokens.dispatcher, id, json!({"action": "register"}));
    assert_eq!(status, 200, "{body}");
    let deadline = Utc::now() + chrono::Duration::seconds(2);
    let (status, body) = http.act(
        &tokens.dispatcher,
        id,
        json!({"action": "dispatch", "department": "水务（供水企业）", "deadline": deadline.to_rfc3339()}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["route"]["clock"], "CH");

    let (status, _) = http.post(
        "/api/v1/supervision/run",
        Some(&tokens.dispatcher),
        &json!({}),
    );
    assert_eq!(status, 403, "supervisors only");
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let (status, report) = http.post(
        "/api/v1/supervision/run",
        Some(&tokens.supervisor),
        &json!({}),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["reminded"], 1, "{report}");
    assert_eq!(report["escalated"], 1, "{report}");
    let (_, report) = http.post(
        "/api/v1/supervision/run",
        Some(&tokens.supervisor),
        &json!({}),
    );
    assert_eq!(report["reminded"], 0, "once per state: {report}");
    assert_eq!(report["escalated"], 0, "{report}");

    let (_, view) = http.case(&tokens.dispatcher, id);
    assert_eq!(view["deadline_state"], "overdue");
    assert_eq!(view["escalated"], true);
    let reminders: Vec<&Value> = view["timeline"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == "remind")
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0]["event"]["role"], "system");
    let (_, page) = http.get("/api/v1/cases?overdue=true", Some(&tokens.dispatcher));
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["escalated"], true);
    // The worker's PDA sees the reminder after its next sync.
    pda.sync();
    let case = pda.store.case(id).unwrap();
    assert!(
        case.timeline
            .entries
            .iter()
            .any(|e| e.event.action == gridpatrol_core::workflow::ActionKind::Remind)
    );

    // An extension puts it back on time and clears the escalation.
    let (status, body) = http.act(
        &tokens.dispatcher,
        id,
        json!({"action": "extend", "hours": 2, "note": "延期"}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, report) = http.post(
        "/api/v1/supervision/run",
        Some(&tokens.supervisor),
        &json!({}),
    );
    assert_eq!(report["reminded"], 0, "{report}");
    let (_, view) = http.case(&tokens.dispatcher, id);
    assert_eq!(view["deadline_state"], "on_time");
    assert_eq!(view["escalated"], false);
}
