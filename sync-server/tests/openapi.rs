//! Every route the router serves is in the OpenAPI document, with its method, and the document the
//! server serves is that one.

mod common;

use gridpatrol_server::http::{openapi, routes};

#[test]
fn every_route_is_documented() {
    let doc = openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    let served = routes();
    assert!(!served.is_empty());
    for r in &served {
        let method = r.method.as_str().to_ascii_lowercase();
        assert!(
            paths.get(r.path).and_then(|p| p.get(&method)).is_some(),
            "{} {} is served but not in the OpenAPI document",
            r.method,
            r.path
        );
    }
    // And nothing is documented that is not served.
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                served
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not served"
            );
        }
    }
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn the_served_document_is_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = common::seed(&dir);
    let server = common::Server::start(&dir);
    let (status, body) = server.http().get("/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(body, openapi::document());
    let (status, body) = server.http().get("/healthz", None);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let (status, body) = server.http().get("/metrics", Some(&tokens.supervisor));
    assert_eq!(status, 200);
    assert!(
        body.as_str().unwrap().contains("gridpatrol_pool_open 0"),
        "{body}"
    );
}
