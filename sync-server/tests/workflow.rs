//! `GET /api/v1/workflow`: the workflow's words and the assessment's indicators with their labels, as
//! the core names them (the dashboard shows these instead of keeping copies that drift).

mod common;

use common::{Server, seed};
use gridpatrol_core::indicators::INDICATOR_LABELS;
use gridpatrol_core::workflow::{ActionKind, Role, Stage};

#[test]
fn the_workflow_words_are_the_cores() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let server = Server::start(&dir);
    let http = server.http();
    let (status, w) = http.get("/api/v1/workflow", Some(&tokens.dispatcher));
    assert_eq!(status, 200, "{w}");

    let stages = w["stages"].as_array().unwrap();
    let codes: Vec<&str> = stages.iter().map(|s| s["code"].as_str().unwrap()).collect();
    let expected: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(codes, expected, "every stage, in the loop's order");
    let closed = stages.iter().find(|s| s["code"] == "closed").unwrap();
    assert_eq!(
        (&closed["zh"], &closed["en"], &closed["terminal"]),
        (&"已结案".into(), &"Closed".into(), &true.into())
    );
    let dispatched = stages.iter().find(|s| s["code"] == "dispatched").unwrap();
    assert_eq!(dispatched["with_department"], true);
    assert_eq!(dispatched["terminal"], false);

    let action = |code: &str| {
        w["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == code)
            .unwrap_or_else(|| panic!("no action {code}"))
            .clone()
    };
    assert_eq!(
        w["actions"].as_array().unwrap().len(),
        ActionKind::ALL.len()
    );
    // The words the dashboard had drifted from: the core's are served.
    assert_eq!(
        action("add_evidence")["zh"],
        ActionKind::AddEvidence.label_zh()
    );
    assert_eq!(action("add_evidence")["zh"], "补充材料");
    assert_eq!(action("remind")["zh"], "督办");
    assert_eq!(action("verify_pass")["en"], "Verified: fixed");

    assert_eq!(w["roles"].as_array().unwrap().len(), Role::ALL.len());
    let indicators = w["indicators"].as_array().unwrap();
    assert_eq!(indicators.len(), INDICATOR_LABELS.len());
    let otv = indicators
        .iter()
        .find(|i| i["key"] == "on_time_verification_rate")
        .unwrap();
    assert_eq!(
        (&otv["zh"], &otv["rate"]),
        (&"按时核查率".into(), &true.into())
    );
    // The indicators named are the ones the assessment sends.
    let (_, stats) = http.get("/api/v1/stats", Some(&tokens.supervisor));
    for i in indicators {
        let key = i["key"].as_str().unwrap();
        assert!(
            stats["total"].get(key).is_some(),
            "stats lack {key}: {stats}"
        );
    }
}
