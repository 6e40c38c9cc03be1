//! A hostile client changes nothing it may not and holds nothing for long: slow and idle connections
//! are closed within their limits, connections over the cap are refused at accept without slowing the
//! others, health and metrics tell strangers nothing, a token is a kind only once it is found, and every
//! response tells browsers not to sniff. Against a real `gridpatrol-server` on loopback, with raw TCP
//! where a well-behaved client would not do what is tested.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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

fn get(stream: &mut TcpStream, path: &str) -> (u16, String, Vec<u8>) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    read_response(stream)
}

/// How long until the server closes the connection (EOF or reset), reading and discarding whatever
/// it sends; `None` if it is still open after `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

fn is_closed_now(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
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
    for path in [
        "/api/v1/cases",
        "/api/v1/me",
        "/api/v1/notices",
        "/api/v1/workflow",
    ] {
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
    assert!(text.contains("gridpatrol_http_connections_open "), "{text}");
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

#[test]
fn a_flood_of_half_open_requests_is_closed_within_the_header_timeout() {
    const FLOOD: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    // The default limits: request heads within 10 s.
    let server = Server::start(&tmp.path().join("data"));
    let http = server.http();

    let start = Instant::now();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let mut stream = connect(&server);
        let opened = Instant::now();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        stream.set_nonblocking(true).unwrap();
        flood.push((stream, opened, None::<Duration>));
    }
    let opening = start.elapsed();

    // A normal client during the flood is answered at once, and again halfway through it.
    let timed = || {
        let t = Instant::now();
        let (status, body) = http.get("/healthz", None);
        assert_eq!(status, 200, "{body}");
        t.elapsed()
    };
    let mut latencies = vec![timed()];

    let deadline = start + Duration::from_secs(16);
    loop {
        let now = Instant::now();
        for (stream, opened, closed) in flood.iter_mut().filter(|f| f.2.is_none()) {
            if is_closed_now(stream) {
                *closed = Some(now - *opened);
            }
        }
        if flood.iter().all(|f| f.2.is_some()) || now > deadline {
            break;
        }
        if latencies.len() == 1 && start.elapsed() > Duration::from_secs(5) {
            latencies.push(timed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let open = flood.iter().filter(|f| f.2.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of {FLOOD} half-open connections still open"
    );
    let times: Vec<Duration> = flood.iter().filter_map(|f| f.2).collect();
    let (first, last) = (
        times.iter().min().copied().unwrap(),
        times.iter().max().copied().unwrap(),
    );
    eprintln!(
        "flood of {FLOOD}: opened in {opening:?}; closed {first:?} to {last:?} after opening; \
         all closed {:?} after the first connect; normal requests took {latencies:?}",
        flood
            .iter()
            .map(|f| f.1 + f.2.unwrap())
            .max()
            .unwrap()
            .duration_since(start)
    );
    assert!(
        last <= Duration::from_secs(12),
        "a half-open connection lived {last:?}"
    );
    // Closed by the header timeout (10 s), not dropped early for some other reason.
    assert!(first >= Duration::from_secs(9), "closed after {first:?}");
    for latency in &latencies {
        assert!(
            *latency < Duration::from_secs(2),
            "a normal request during the flood took {latency:?}"
        );
    }
    // The server is well afterwards.
    assert_eq!(http.get("/healthz", None).0, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &["--idle-timeout-secs", "2", "--header-timeout-secs", "30"],
    );

    // Used: one request a second keeps it open past the idle time.
    let mut busy = connect(&server);
    for _ in 0..4 {
        assert_eq!(get(&mut busy, "/healthz").0, 200);
        std::thread::sleep(Duration::from_millis(1000));
    }
    assert_eq!(
        get(&mut busy, "/healthz").0,
        200,
        "still open after 4 s of use"
    );

    // Left idle after a response: closed after about 2 s, well before the 30 s header timeout.
    let mut idle = connect(&server);
    assert_eq!(get(&mut idle, "/healthz").0, 200);
    let closed = closed_within(&mut idle, Duration::from_secs(10)).expect("closed");
    assert!(
        closed >= Duration::from_millis(1500) && closed <= Duration::from_secs(4),
        "closed after {closed:?}"
    );

    // A connection that never sends a byte: the same.
    let mut silent = connect(&server);
    let closed = closed_within(&mut silent, Duration::from_secs(10)).expect("closed");
    assert!(closed <= Duration::from_secs(4), "closed after {closed:?}");
    eprintln!("idle keep-alive and silent connections closed after ~{closed:?} (idle timeout 2 s)");
}

#[test]
fn the_header_timeout_also_bounds_the_wait_between_keep_alive_requests() {
    // hyper 1.x restarts the header clock when a connection waits for its next request, so a
    // keep-alive connection idle between requests goes after the header timeout, whatever the idle
    // timeout. If a hyper upgrade changed that, the idle timeout would still close it.
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &["--header-timeout-secs", "2", "--idle-timeout-secs", "600"],
    );
    let mut stream = connect(&server);
    assert_eq!(get(&mut stream, "/healthz").0, 200);
    let closed = closed_within(&mut stream, Duration::from_secs(10)).expect("closed");
    assert!(
        closed >= Duration::from_millis(1500) && closed <= Duration::from_secs(4),
        "closed after {closed:?}"
    );
    // A request head sent slowly, a byte at a time inside the idle time: cut at the header timeout.
    let mut slow = connect(&server);
    let start = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 0123456789012345678901234567890123456789\r\n\r\n";
    let mut cut = false;
    for byte in head {
        if slow.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let closed = if cut {
        start.elapsed()
    } else {
        closed_within(&mut slow, Duration::from_secs(10)).expect("closed") + start.elapsed()
    };
    assert!(
        closed <= Duration::from_secs(7),
        "slow head lived {closed:?}"
    );
}

#[test]
fn a_request_body_that_stops_arriving_gets_a_408() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start_with(&dir, &["--idle-timeout-secs", "2"]);
    let mut stream = connect(&server);
    let start = Instant::now();
    write!(
        stream,
        "POST /api/v1/blobs/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sha256\": [",
        tokens.dispatcher
    )
    .unwrap();
    let (status, head, body) = read_response(&mut stream);
    let took = start.elapsed();
    assert_eq!(status, 408, "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "body_timeout", "{body}");
    assert!(
        took >= Duration::from_millis(1500) && took <= Duration::from_secs(5),
        "answered after {took:?}"
    );
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)).is_some(),
        "the connection is closed after the 408"
    );
}

#[test]
fn connections_over_the_limit_are_refused_at_accept_without_hurting_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start_with(&dir, &["--max-connections", "8"]);

    // Eight keep-alive connections, each answered once: the server holds all eight.
    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(&server);
            assert_eq!(get(&mut s, "/healthz").0, 200);
            s
        })
        .collect();

    // The ninth is refused at once: a 503 if it reads it in time, else just closed.
    let start = Instant::now();
    let mut ninth = connect(&server);
    let _ = ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ninth
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut reply = Vec::new();
    let outcome = ninth.read_to_end(&mut reply);
    let took = start.elapsed();
    let reply = String::from_utf8_lossy(&reply).to_string();
    match outcome {
        Ok(_) => assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 503"),
            "{reply}"
        ),
        Err(e) => assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the ninth connection was held open: {e}"
        ),
    }
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    if !reply.is_empty() {
        assert!(reply.contains("too_many_connections"), "{reply}");
        assert!(reply.contains("retry-after: 1"), "{reply}");
    }

    // The eight are unhurt.
    for s in &mut held {
        assert_eq!(get(s, "/healthz").0, 200);
    }

    // One goes; a new client gets in.
    drop(held.pop());
    let http = server.http();
    let until = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let mut s = connect(&server);
        let _ = s.write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
                tokens.supervisor
            )
            .as_bytes(),
        );
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut first = [0u8; 12];
        if s.read_exact(&mut first).is_ok() && &first == b"HTTP/1.1 200" {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            break String::from_utf8_lossy(&rest).to_string();
        }
        assert!(Instant::now() < until, "no slot came free");
        std::thread::sleep(Duration::from_millis(50));
    };
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gridpatrol_http_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the refused counter");
    assert!(refused >= 1, "{metrics}");
    assert!(
        metrics.contains("gridpatrol_http_connections_open 8\n"),
        "{metrics}"
    );
    drop(held);
    drop(http);
}

#[test]
fn a_request_head_over_64_kib_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let mut stream = connect(&server);
    let big = "a".repeat(70 * 1024);
    let _ = stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let (status, _, _) = read_response(&mut stream);
    assert_eq!(status, 431);
    assert_eq!(server.http().get("/healthz", None).0, 200);
}

#[test]
fn sigterm_during_a_flood_of_half_open_connections_stops_within_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &["--header-timeout-secs", "2"]);
    let flood: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    assert_eq!(server.http().get("/healthz", None).0, 200);
    let start = Instant::now();
    let status = server.terminate();
    let took = start.elapsed();
    assert!(status.success(), "{status:?}");
    // Shutdown waits for requests in flight; a request head that never comes is not one for longer
    // than the header timeout.
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    drop(flood);
}
