//! Revocation while the server runs: `admin device revoke` and `admin desk revoke|rotate` write the
//! database from another process, and the running server refuses the old tokens from the next request
//! on; an open dashboard stream is told `revoked` and ends. Listing never shows a token.

mod common;

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use common::{Pda, Server, admin, admin_ok, listen, ready, seed};
use serde_json::json;

#[test]
fn a_lost_pda_is_cut_off_and_the_same_device_can_come_back_with_a_new_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();

    let mut pda = Pda::enroll(&http, &tokens.device1, "w-001");
    pda.report("06010", "110102001001001", "暴露垃圾 before the loss");
    pda.sync();
    let device_id = pda.store.identity().device_id.clone();

    // Listing shows the binding, never the token.
    let list = admin_ok(&dir, &["device", "list", "--worker", "w-001"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["device_id"], device_id.as_str());
    assert!(rows[0]["revoked_at"].is_null());
    assert!(!list.to_string().contains(&tokens.device1));

    // Revoked while the server runs: the next sync is a 401 and the case stays queued on the PDA.
    let revoked = admin_ok(&dir, &["device", "revoke", "--device-id", &device_id]);
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    assert!(revoked[0]["revoked_at"].is_string());
    pda.report("06010", "110102001001002", "暴露垃圾 after the loss");
    let (_, status, body, _) = pda.sync_once().unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized");
    assert_eq!(pda.store.outbox_len().unwrap(), 1);
    let (status, _) = http.post(
        "/api/v1/devices/enroll",
        Some(&tokens.device1),
        &json!({"device_id": device_id}),
    );
    assert_eq!(status, 401);

    // Revoking again finds nothing live: non-zero, says so, writes nothing.
    let out = admin(&dir, &["device", "revoke", "--device-id", &device_id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no live token"));
    let out = admin(&dir, &["device", "revoke"]);
    assert!(
        !out.status.success(),
        "revoke needs --device-id or --worker"
    );

    // A new token for the same device (revoked by mistake): it enrolls with its old id and its queued
    // case goes through; the worker has one live token again.
    let new = admin_ok(&dir, &["device", "add", "--worker", "w-001"]);
    pda.token = new["token"].as_str().unwrap().to_owned();
    let (status, body) = http.post(
        "/api/v1/devices/enroll",
        Some(&pda.token),
        &json!({"device_id": device_id}),
    );
    assert_eq!(status, 200, "{body}");
    pda.sync();
    assert_eq!(pda.store.outbox_len().unwrap(), 0);
    let (_, cases) = http.get("/api/v1/cases?cell=110102001", Some(&tokens.dispatcher));
    assert_eq!(cases["total"], 2, "{cases}");
    let workers = admin_ok(&dir, &["worker", "list"]);
    let w1 = workers
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "w-001")
        .unwrap();
    assert_eq!(w1["live_devices"], 1);
    assert_eq!(
        admin_ok(&dir, &["device", "list", "--worker", "w-001"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A worker who left: every live token of theirs at once (w-002's was never enrolled).
    let gone = admin_ok(&dir, &["device", "revoke", "--worker", "w-002"]);
    assert_eq!(gone.as_array().unwrap().len(), 1);
    assert!(gone[0]["device_id"].is_null());
    let (status, _) = http.post(
        "/api/v1/devices/enroll",
        Some(&tokens.device2),
        &json!({"device_id": "dev-w2"}),
    );
    assert_eq!(status, 401);

    // Each revocation is in the audit log.
    let (_, audit) = http.get("/api/v1/audit", Some(&tokens.supervisor));
    let revokes = audit
        .as_array()
        .or_else(|| audit["items"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "device revoke")
        .count();
    assert_eq!(revokes, 2, "{audit}");
}

#[test]
fn a_revoked_desk_is_refused_and_its_open_stream_ends_and_a_rotated_one_gets_a_new_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();

    assert_eq!(http.get("/api/v1/me", Some(&tokens.street2)).0, 200);
    let events = listen(&server.base, &tokens.street2);
    ready(&events);

    admin_ok(&dir, &["desk", "revoke", "--id", "d-street2"]);
    let (status, body) = http.get("/api/v1/me", Some(&tokens.street2));
    assert_eq!(status, 401, "{body}");
    // The open stream learns of it at its next token check (every 10 s), then ends.
    let until = Instant::now() + Duration::from_secs(30);
    let mut said_revoked = false;
    loop {
        let left = until
            .checked_duration_since(Instant::now())
            .expect("the stream of a revoked desk ends");
        match events.recv_timeout(left) {
            Ok((event, _)) if event == "revoked" => said_revoked = true,
            Ok(_) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("the stream of a revoked desk stayed open"),
        }
    }
    assert!(said_revoked, "the stream said `revoked` before it ended");

    let desks = admin_ok(&dir, &["desk", "list"]);
    let row = |id: &str| {
        desks
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap()
            .clone()
    };
    assert!(row("d-street2")["revoked_at"].is_string());
    assert!(row("d-01")["revoked_at"].is_null());
    assert!(!desks.to_string().contains("gpk_"), "no token in a listing");
    let out = admin(&dir, &["desk", "revoke", "--id", "d-street2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no desk d-street2 with a live token"));

    // Rotation: the old token stops, the new one works with the same role and scope; a revoked desk
    // is reinstated by it.
    let rotated = admin_ok(&dir, &["desk", "rotate", "--id", "d-01"]);
    let new = rotated["token"].as_str().unwrap();
    assert_eq!(http.get("/api/v1/me", Some(&tokens.dispatcher)).0, 401);
    let (status, me) = http.get("/api/v1/me", Some(new));
    assert_eq!(status, 200);
    assert_eq!(me["role"], "dispatcher");
    assert_eq!(me["scope"], "110102");
    let back = admin_ok(&dir, &["desk", "rotate", "--id", "d-street2"]);
    let (status, me) = http.get("/api/v1/me", Some(back["token"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(me["scope"], "110102002");
    let out = admin(&dir, &["desk", "rotate", "--id", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no desk nobody"));
}
