//! A PDA whose token the command centre revokes, driven through the device CLI against a real server:
//! its sync fails with a message that says what to do, what it recorded stays queued, and after
//! enrolling again with a new token the same device (same id, same actor) syncs it through.

use std::path::Path;
use std::process::{Command, Output};

use gridpatrol_core::grid::GeneratedDistrict;
use gridpatrol_tests::procs::{
    Server, add_dispatcher, add_worker, admin, binary, demo_district, json_of,
};
use serde_json::Value;

fn gridpatrol(store: &Path, args: &[&str]) -> Output {
    Command::new(binary("gridpatrol"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run gridpatrol")
}

fn ok(store: &Path, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    json_of(
        &gridpatrol(store, &with_json),
        &format!("gridpatrol {args:?}"),
    )
}

#[test]
fn a_revoked_pda_keeps_its_cases_and_syncs_them_after_enrolling_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    let store = tmp.path().join("pda");
    demo_district(&data);
    let first = add_worker(&data, "w-001", "110102001");
    add_dispatcher(&data, "d-01");
    let server = Server::serve(&data, &["--supervise-every", "3600"]);

    ok(&store, &["init", "--worker", "w-001"]);
    ok(
        &store,
        &["enroll", "--server", &server.base, "--token", &first],
    );
    let (lat, lon) = {
        let cells = GeneratedDistrict::demo().cells();
        let c = geo::Centroid::centroid(&cells[0].polygon).unwrap();
        (c.y(), c.x())
    };
    let report = |note: &str| {
        ok(
            &store,
            &[
                "report",
                "--category",
                "06010",
                "--lat",
                &lat.to_string(),
                "--lon",
                &lon.to_string(),
                "--note",
                note,
            ],
        )
    };
    report("before the token was revoked");
    ok(&store, &["sync"]);

    let devices = admin(&data, &["device", "list", "--worker", "w-001"]);
    let device_id = devices[0]["device_id"].as_str().unwrap().to_owned();
    admin(&data, &["device", "revoke", "--device-id", &device_id]);

    // Recorded offline after the revocation; the sync is refused and says what to do.
    report("after the token was revoked");
    let out = gridpatrol(&store, &["sync"]);
    assert!(!out.status.success(), "a revoked token's sync fails");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("revoked"), "{said}");
    assert!(said.contains("enroll again"), "{said}");
    let queued = ok(&store, &["list"]);
    assert_eq!(queued.as_array().unwrap().len(), 2, "{queued}");

    // A new token; the same device enrolls again and its queued case goes through.
    let second = admin(&data, &["device", "add", "--worker", "w-001"]);
    let second = second["token"].as_str().unwrap();
    ok(
        &store,
        &["enroll", "--server", &server.base, "--token", second],
    );
    ok(&store, &["sync"]);
    let devices = admin(&data, &["device", "list", "--worker", "w-001"]);
    let live: Vec<&Value> = devices
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["revoked_at"].is_null())
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["device_id"], device_id.as_str(), "the same device");

    let desk = admin(&data, &["desk", "list"]);
    assert_eq!(desk[0]["id"], "d-01");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let dispatcher = admin(&data, &["desk", "rotate", "--id", "d-01"]);
    let mut reply = agent
        .get(format!("{}/api/v1/cases", server.base))
        .header(
            "Authorization",
            format!("Bearer {}", dispatcher["token"].as_str().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let cases: Value = serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(cases["total"], 2, "both reports reached the pool: {cases}");
    server.stop();
}
