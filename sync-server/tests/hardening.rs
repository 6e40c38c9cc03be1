//! A hostile client changes nothing it may not: a token is a kind only once it is found, health and
//! metrics tell strangers nothing, and every response tells browsers not to sniff. Against a real
//! `gridpatrol-server` on loopback, with raw TCP where a well-behaved client would not do what is tested.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, admin_ok, seed};
use serde_json::{Value, json};

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(addr(server)).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// One response read off a raw connection: status, head (lower-cased), body.
fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("a response head");
        assert!(
            n == 1,
            "closed mid-head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap().to_ascii_lowercase();
    let status: u16 = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, head, body)
}

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

#[test]
fn healthz_tells_strangers_only_that_it_is_up_and_metrics_want_a_desk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();

    let (status, body) = http.get("/healthz", None);
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok"}), "no version, counts or clock");

    let (status, body) = http.get("/healthz", Some(&tokens.supervisor));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["cases"], 0);
    assert!(body["server_time"].is_string(), "{body}");
    assert!(body["notices"].is_array(), "{body}");

    let unknown = format!("gpk_{}", "0".repeat(64));
    let (status, body) = http.get("/healthz", Some(&unknown));
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body) = http.get("/healthz", Some(&tokens.device1));
    assert_eq!((status, body["code"].as_str()), (403, Some("desk_only")));
    // A header that is there but no bearer token is refused, not ignored.
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9vOmJhcg==\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream).0, 401);

    let (status, body) = http.get("/metrics", None);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(http.get("/metrics", Some(&unknown)).0, 401);
    let (status, body) = http.get("/metrics", Some(&tokens.device1));
    assert_eq!((status, body["code"].as_str()), (403, Some("desk_only")));
    let (status, body) = http.get("/metrics", Some(&tokens.sanitation));
    assert_eq!(status, 200);
    let text = body.as_str().unwrap();
    assert!(text.contains("gridpatrol_pool_open 0"), "{text}");
}

#[test]
fn every_response_says_nosniff_and_json_is_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);

    // A photo, uploaded as a PDA does.
    let photo = gridpatrol_tests::synthetic_jpeg(64, 48, 7);
    let sha = gridpatrol_core::photo::sha256_hex(&photo);
    let (status, body) = server.http().put_bytes(
        &format!("/api/v1/blobs/{sha}?offset=0&total={}", photo.len()),
        &tokens.device1,
        &photo,
    );
    assert_eq!(status, 200, "{body}");

    let desk = format!("Authorization: Bearer {}\r\n", tokens.dispatcher);
    let cases: [(&str, &str, u16, Option<&str>); 9] = [
        ("/healthz", "", 200, Some("application/json")),
        ("/api/v1/cases", &desk, 200, Some("application/json")),
        ("/api/v1/cases", "", 401, Some("application/json")),
        ("/api/v1/nothing", "", 404, Some("application/json")),
        (
            &format!("/api/v1/blobs/{sha}"),
            &desk,
            200,
            Some("image/jpeg"),
        ),
        (
            &format!("/api/v1/blobs/{}", "0".repeat(64)),
            &desk,
            404,
            None,
        ),
        ("/api/v1/catalog?format=csv", &desk, 200, Some("text/csv")),
        ("/metrics", &desk, 200, Some("text/plain")),
        ("/", "", 200, Some("text/html")),
    ];
    for (path, auth, want, content_type) in cases {
        let mut stream = connect(&server);
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes())
            .unwrap();
        let (status, head, body) = read_response(&mut stream);
        assert_eq!(status, want, "{path}: {head}");
        assert!(
            head.contains("\r\nx-content-type-options: nosniff\r\n"),
            "{path}: {head}"
        );
        if let Some(ct) = content_type {
            assert!(
                head.contains(&format!("content-type: {ct}")),
                "{path}: {head}"
            );
        }
        let json = head.contains("content-type: application/json");
        assert_eq!(
            head.contains("cache-control: no-store"),
            json,
            "{path}: no-store on JSON only: {head}"
        );
        if path.starts_with("/api/v1/blobs/") && status == 200 {
            assert_eq!(body, photo);
        }
    }
}
