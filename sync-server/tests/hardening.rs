//! A hostile client changes nothing it may not: a token is a kind only once it is found. Against a real
//! `gridpatrol-server` on loopback.

mod common;

use common::{Server, admin_ok, seed};
use serde_json::{Value, json};

#[test]
fn an_unknown_token_is_401_whatever_its_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let fake_device = format!("gpd_{}", "ab".repeat(32));
    let fake_desk = format!("gpk_{}", "ab".repeat(32));
    let enroll = json!({"device_id": "pda-1"});
    let code = |reply: (u16, Value)| (reply.0, reply.1["code"].as_str().map(str::to_owned));
    let unauthorized = (401, Some("unauthorized".to_owned()));

    // Desk endpoints: an unknown token of either kind is a 401, a live device token a 403.
    for path in ["/api/v1/cases", "/api/v1/me", "/api/v1/notices"] {
        for fake in [&fake_device, &fake_desk, &"nonsense".to_owned()] {
            assert_eq!(
                code(http.get(path, Some(fake))),
                unauthorized,
                "{path} {fake}"
            );
        }
        assert_eq!(
            code(http.get(path, Some(&tokens.device1))),
            (403, Some("desk_only".to_owned())),
            "{path}"
        );
    }
    for fake in [&fake_device, &fake_desk] {
        assert_eq!(
            http.get(&format!("/api/v1/events?token={fake}"), None).0,
            401
        );
    }
    assert_eq!(
        http.get(&format!("/api/v1/events?token={}", tokens.device1), None)
            .0,
        403
    );

    // Device endpoints: the same the other way round.
    for fake in [&fake_device, &fake_desk] {
        assert_eq!(
            code(http.post("/api/v1/devices/enroll", Some(fake), &enroll)),
            unauthorized
        );
        let (status, _) = http.post_bytes("/sync/v1", Some(fake), b"GPSY").unwrap();
        assert_eq!(status, 401);
    }
    assert_eq!(
        code(http.post("/api/v1/devices/enroll", Some(&tokens.dispatcher), &enroll)),
        (403, Some("device_only".to_owned()))
    );

    // A revoked token is no longer a kind of anything: 401 on both sides.
    admin_ok(&dir, &["device", "revoke", "--worker", "w-002"]);
    admin_ok(&dir, &["desk", "revoke", "--id", "d-street2"]);
    assert_eq!(
        code(http.get("/api/v1/cases", Some(&tokens.device2))),
        unauthorized
    );
    assert_eq!(
        code(http.post("/api/v1/devices/enroll", Some(&tokens.street2), &enroll)),
        unauthorized
    );
}
