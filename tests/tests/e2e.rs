//! The closed loop end to end: a real `gridpatrol-server` process on a loopback port with a real SQLite
//! store, three grid workers' devices (the core's device store + the HTTP client, exactly what the PDA
//! apps embed) recording offline and syncing in random orders, desks acting through the HTTP API.
//!
//! Asserted: every replica's document is identical; each case entered the pool once; deadlines follow
//! the routing rules and the work calendar; the indicators equal a count done by hand; a device can
//! neither read nor change another street's case; a retry after a lost response duplicates nothing.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, Utc};
use geo::Centroid;
use gridpatrol_client::{Remote, Silent};
use gridpatrol_core::calendar::WorkCalendar;
use gridpatrol_core::case::{CaseEdit, CaseId, Location};
use gridpatrol_core::catalog::{Catalog, CategoryKey};
use gridpatrol_core::dispatch::RoutingRules;
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::SyncResponse;
use gridpatrol_core::workflow::Stage;
use gridpatrol_tests::procs::{Server, admin};
use gridpatrol_tests::synthetic_jpeg;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

const STREET_A: &str = "110102001";
const STREET_B: &str = "110102002";

struct Device {
    name: &'static str,
    street: &'static str,
    store: DeviceStore,
    remote: Remote,
    _dir: tempfile::TempDir,
}

impl Device {
    fn sync(&mut self) {
        self.remote
            .sync(&mut self.store, &Silent)
            .unwrap_or_else(|e| panic!("{} sync: {e}", self.name));
    }

    fn report(&mut self, i: usize, category: &str) -> CaseId {
        self.store
            .report(NewReport {
                category: category.into(),
                location: point_in(self.street, i),
                address: format!("{} 门前 {i} 号", self.name),
                description: format!("{} 巡查发现 #{i}", self.name),
                photos: vec![synthetic_jpeg(
                    640,
                    480,
                    i as u64 + 1000 * self.name.len() as u64,
                )],
            })
            .unwrap()
    }
}

struct Desk {
    token: String,
}

fn point_in(street: &str, i: usize) -> Location {
    let cells: Vec<_> = GeneratedDistrict::demo()
        .cells()
        .into_iter()
        .filter(|c| c.code.as_str().starts_with(street))
        .collect();
    let c = cells[i % cells.len()].polygon.centroid().unwrap();
    Location::new(c.y(), c.x()).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let agent = agent();
    let auth = format!("Bearer {token}");
    let resp = match (method, body) {
        ("GET", _) => agent.get(url).header("Authorization", &auth).call(),
        (_, Some(b)) => agent.post(url).header("Authorization", &auth).send_json(b),
        (_, None) => agent.post(url).header("Authorization", &auth).send_empty(),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Desk {
    fn get(&self, base: &str, path: &str) -> Value {
        let (status, v) = call("GET", &format!("{base}{path}"), &self.token, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    fn act(&self, base: &str, id: CaseId, body: Value) -> Value {
        let (status, v) = call(
            "POST",
            &format!("{base}/api/v1/cases/{id}/actions"),
            &self.token,
            Some(body.clone()),
        );
        assert_eq!(status, 200, "action {body} on {id}: {v}");
        v
    }
}

fn setup(data: &Path) -> (HashMap<&'static str, String>, HashMap<&'static str, Desk>) {
    let grids = data.with_extension("geojson");
    std::fs::write(
        &grids,
        GridIndex::new(GeneratedDistrict::demo().cells())
            .unwrap()
            .to_geojson(),
    )
    .unwrap();
    admin(
        data,
        &["district", "create", "--code", "110102", "--name", "西城区"],
    );
    admin(data, &["grids", "import", grids.to_str().unwrap()]);
    admin(data, &["catalog", "import"]);
    admin(data, &["routing", "import"]);
    admin(data, &["calendar", "import"]);
    let mut device_tokens = HashMap::new();
    for (worker, cells) in [("w-a", STREET_A), ("w-b", STREET_B), ("w-c", STREET_A)] {
        admin(
            data,
            &[
                "worker", "add", "--id", worker, "--name", worker, "--cells", cells,
            ],
        );
        let d = admin(data, &["device", "add", "--worker", worker]);
        device_tokens.insert(worker, d["token"].as_str().unwrap().to_owned());
    }
    let mut desks = HashMap::new();
    for (id, role, scope, dept) in [
        ("d-district", "dispatcher", "110102", None),
        ("d-street-b", "dispatcher", STREET_B, None),
        ("sup", "supervisor", "110102", None),
        ("dept-cg", "department", "110102", Some("城管（环卫）")),
        ("dept-street", "department", "110102", Some("街道环卫所")),
        ("dept-zf", "department", "110102", Some("城管执法")),
    ] {
        let mut args = vec!["desk", "add", "--id", id, "--role", role, "--scope", scope];
        if let Some(d) = dept {
            args.extend(["--department", d]);
        }
        let v = admin(data, &args);
        desks.insert(
            id,
            Desk {
                token: v["token"].as_str().unwrap().to_owned(),
            },
        );
    }
    (device_tokens, desks)
}

fn device(name: &'static str, street: &'static str, base: &str, token: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), name).unwrap();
    let remote = Remote::new(base, token);
    let reply = remote.enroll_store(&mut store).unwrap();
    assert_eq!(reply.worker_id, name);
    // Enrolling brought the worker's cells, and only those.
    let cells = store.grids().unwrap().expect("grids pulled at enrollment");
    assert!(!cells.is_empty());
    assert!(
        cells
            .cells()
            .iter()
            .all(|c| c.code.as_str().starts_with(street))
    );
    Device {
        name,
        street,
        store,
        remote,
        _dir: dir,
    }
}

/// The server's view of a case and the device's are the same document: same timeline (events and
/// their replay), same details and photos.
fn assert_replica(dev: &Device, server: &Value, id: CaseId) {
    let local = dev.store.case(id).unwrap();
    assert_eq!(
        serde_json::to_value(&local.timeline).unwrap(),
        server["timeline"],
        "{}: timeline of {id}",
        dev.name
    );
    assert_eq!(
        serde_json::to_value(&local.details).unwrap(),
        server["details"]
    );
    assert_eq!(
        serde_json::to_value(&local.photos).unwrap(),
        server["photos"]
    );
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn the_closed_loop_across_devices_desks_and_a_real_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    let (tokens, desks) = setup(&data);
    let server = Server::serve(&data, &["--supervise-every", "3600"]);
    let base = server.base.clone();
    let mut rng = StdRng::seed_from_u64(20261125);

    let mut devices = [
        device("w-a", STREET_A, &base, &tokens["w-a"]),
        device("w-b", STREET_B, &base, &tokens["w-b"]),
        device("w-c", STREET_A, &base, &tokens["w-c"]),
    ];

    // Offline on patrol: every device records cases, none has a network.
    let mut reported: Vec<(usize, CaseId)> = Vec::new();
    for (d, dev) in devices.iter_mut().enumerate() {
        for i in 0..3 {
            let category = if i == 2 { "09006" } else { "06010" };
            reported.push((d, dev.report(i, category)));
        }
    }
    // Devices come online in a random order.
    let mut order: Vec<usize> = (0..devices.len()).collect();
    order.shuffle(&mut rng);
    for &d in &order {
        devices[d].sync();
    }

    let dispatcher = &desks["d-district"];
    let listed = dispatcher.get(&base, "/api/v1/cases?limit=500");
    let server_ids: BTreeSet<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let ours: BTreeSet<String> = reported.iter().map(|(_, id)| id.to_string()).collect();
    assert_eq!(server_ids, ours, "every report reached the pool");
    assert_eq!(listed["total"], ours.len());

    // A retry after a lost response: the same request again changes nothing twice.
    let (a_case_dev, a_case) = reported[0];
    devices[a_case_dev]
        .store
        .edit(
            a_case,
            CaseEdit {
                description: Some("暴露垃圾，约三袋，已拍照".into()),
                ..CaseEdit::default()
            },
        )
        .unwrap();
    let request = devices[a_case_dev]
        .store
        .sync_request(1 << 20)
        .unwrap()
        .encode();
    let _lost = devices[a_case_dev].remote.round_trip(&request).unwrap();
    let retry = devices[a_case_dev].remote.round_trip(&request).unwrap();
    let resp = SyncResponse::decode(&retry).unwrap();
    devices[a_case_dev]
        .store
        .apply_sync_response(&resp)
        .unwrap();
    let after_retry = dispatcher.get(&base, "/api/v1/cases?limit=500");
    assert_eq!(
        after_retry["total"],
        ours.len(),
        "no duplicate case after a retry"
    );
    let detail = dispatcher.get(&base, &format!("/api/v1/cases/{a_case}"));
    let edits = detail["timeline"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == "edit")
        .count();
    assert_eq!(edits, 1, "the edit was recorded once");

    // The same case edited on the device and at the desk concurrently: the worker adds a photo offline
    // while the dispatcher registers it.
    devices[a_case_dev]
        .store
        .attach(a_case, &synthetic_jpeg(800, 600, 77), Some("近景".into()))
        .unwrap();
    dispatcher.act(
        &base,
        a_case,
        json!({"action": "register", "note": "属实，立案"}),
    );
    devices[a_case_dev].sync();

    // Register and dispatch everything; the route decides department and deadline.
    let catalog = Catalog::builtin();
    let calendar = WorkCalendar::builtin();
    let rules = RoutingRules::builtin();
    for (_, id) in &reported {
        if *id != a_case {
            dispatcher.act(&base, *id, json!({"action": "register"}));
        }
        let case = dispatcher.act(&base, *id, json!({"action": "dispatch"}));
        let dispatch = case["timeline"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["event"]["action"] == "dispatch")
            .unwrap()["event"]
            .clone();
        let at =
            chrono::DateTime::from_timestamp_millis(dispatch["at"]["wall_ms"].as_i64().unwrap())
                .unwrap();
        let category: CategoryKey =
            serde_json::from_value(case["details"]["category"].clone()).unwrap();
        let route = rules
            .route(&catalog, &calendar, &category, case["cell"].as_str(), at)
            .unwrap();
        assert_eq!(
            dispatch["department"],
            route.department.as_str(),
            "department of {id}"
        );
        let deadline = ts(&dispatch["deadline"]);
        assert!(
            (deadline - route.deadline).num_seconds().abs() <= 60,
            "deadline of {id}: {deadline} vs calendar {}",
            route.deadline
        );
        assert_eq!(case["stage"], "dispatched");
    }

    // Departments work through their queues; one case fails verification once.
    let rework_case = reported[1].1;
    for (_, id) in &reported {
        let case = dispatcher.get(&base, &format!("/api/v1/cases/{id}"));
        let dept = department_desk(&desks, &case);
        for action in ["accept", "handle", "feedback"] {
            dept.act(
                &base,
                *id,
                json!({"action": action, "note": format!("{action} by dept")}),
            );
        }
        dispatcher.act(&base, *id, json!({"action": "request_verification"}));
    }

    // Workers sync (random order), find their verification tasks, verify offline, sync again.
    order.shuffle(&mut rng);
    for &d in &order {
        devices[d].sync();
        let tasks: BTreeSet<CaseId> = devices[d]
            .store
            .tasks()
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        let mine: BTreeSet<CaseId> = reported
            .iter()
            .filter(|(r, _)| *r == d)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            tasks, mine,
            "{}: tasks are the cases it reported",
            devices[d].name
        );
        for id in mine {
            let pass = id != rework_case;
            devices[d]
                .store
                .verify(
                    id,
                    pass,
                    Some(if pass { "已整改" } else { "仍有垃圾" }.into()),
                    &[],
                )
                .unwrap();
        }
    }
    order.shuffle(&mut rng);
    for &d in &order {
        devices[d].sync();
    }
    // The rework case goes back to its department and round again.
    let rework = dispatcher.get(&base, &format!("/api/v1/cases/{rework_case}"));
    assert_eq!(rework["stage"], "rework");
    let dept = department_desk(&desks, &rework);
    dept.act(&base, rework_case, json!({"action": "handle"}));
    dept.act(&base, rework_case, json!({"action": "feedback"}));
    dispatcher.act(
        &base,
        rework_case,
        json!({"action": "request_verification"}),
    );
    let rework_dev = reported
        .iter()
        .find(|(_, id)| *id == rework_case)
        .unwrap()
        .0;
    devices[rework_dev].sync();
    devices[rework_dev]
        .store
        .verify(rework_case, true, None, &[])
        .unwrap();
    devices[rework_dev].sync();
    // The server closed the case in the sync that carried the verification: the PDA shows it closed
    // (已结案) at once, with no second sync.
    assert_eq!(
        devices[rework_dev].store.case(rework_case).unwrap().stage(),
        Some(Stage::Closed)
    );
    for d in devices.iter_mut() {
        d.sync();
    }

    // Everything closed, and every replica holds the identical document.
    for (d, id) in &reported {
        let case = dispatcher.get(&base, &format!("/api/v1/cases/{id}"));
        assert_eq!(case["stage"], "closed", "{id}");
        assert_replica(&devices[*d], &case, *id);
        assert_eq!(
            devices[*d].store.case(*id).unwrap().stage(),
            Some(Stage::Closed)
        );
        // The other worker of the same street holds the same document too.
        for other in devices.iter() {
            if other.street == devices[*d].street && other.name != devices[*d].name {
                assert_replica(other, &case, *id);
            }
        }
    }

    // A device never receives another street's case.
    let b = &devices[1];
    for (d, id) in &reported {
        if devices[*d].street != b.street {
            assert!(b.store.case(*id).is_err(), "w-b must not hold {id}");
        }
    }

    // A street desk sees only its street.
    let street_desk = &desks["d-street-b"];
    let seen = street_desk.get(&base, "/api/v1/cases?limit=500");
    for item in seen["items"].as_array().unwrap() {
        assert!(
            item["cell"].as_str().unwrap().starts_with(STREET_B),
            "{item}"
        );
    }
    let (status, _) = call(
        "GET",
        &format!("{base}/api/v1/cases/{a_case}"),
        &street_desk.token,
        None,
    );
    assert!(
        status == 403 || status == 404,
        "street B desk reading street A's case: {status}"
    );

    // Indicators equal a count by hand: 9 cases all dispatched, handled and closed in this period,
    // one of them reworked once; nothing overdue (deadlines are hours away).
    let from = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let stats = dispatcher.get(
        &base,
        &format!(
            "/api/v1/stats?group_by=worker&from={}&to={}",
            urlencode(&from),
            urlencode(&to)
        ),
    );
    for worker in ["w-a", "w-b", "w-c"] {
        let g = &stats["groups"][worker];
        assert_eq!(g["reported"], 3, "{worker}: {g}");
        assert_eq!(g["valid_reports"], 3, "{worker}");
        assert_eq!(g["handled"], 3, "{worker}");
        assert_eq!(g["closed"], 3, "{worker}");
        let reworked = if worker == devices[rework_dev].name {
            1
        } else {
            0
        };
        assert_eq!(g["reworked"], reworked, "{worker}");
        assert_eq!(g["overdue_open"], 0, "{worker}");
    }
    let total = &stats["total"];
    assert_eq!(total["handled"], 9);
    assert_eq!(total["handled_on_time"], 9);
    assert_eq!(total["closed"], 9);
    assert_eq!(total["reworked"], 1);

    // Finally, authority: w-b's device records a case in street A (its map allows it); the server
    // refuses that case (per case, with a code and a reason) and it stays on the device, marked.
    // (Its own cell list refuses that point; a tampered app with the whole district's map would not.)
    let outside = devices[1].store.report(NewReport {
        category: "06010".into(),
        location: point_in(STREET_A, 4),
        address: String::new(),
        description: "越界上报".into(),
        photos: vec![],
    });
    assert!(
        outside
            .unwrap_err()
            .to_string()
            .contains("outside every grid cell")
    );
    devices[1]
        .store
        .import_grids(
            &GridIndex::new(GeneratedDistrict::demo().cells())
                .unwrap()
                .to_geojson(),
        )
        .unwrap();
    let stray_loc = point_in(STREET_A, 4);
    let stray = devices[1]
        .store
        .report(NewReport {
            category: "06010".into(),
            location: stray_loc,
            address: String::new(),
            description: "越界上报".into(),
            photos: vec![],
        })
        .unwrap();
    let b = &mut devices[1];
    let summary = b.remote.sync(&mut b.store, &Silent).unwrap();
    assert_eq!(summary.refused.len(), 1, "{:?}", summary.refused);
    let refusal = &summary.refused[0];
    assert_eq!(refusal.case, stray);
    assert_eq!(refusal.code, "out_of_scope");
    assert!(
        refusal.reason.contains("not one of this worker's cells"),
        "{}",
        refusal.reason
    );
    // The refused case stays on the device, marked with why, and leaves the outbox until retried.
    let kept = devices[1].store.refused().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, stray);
    assert_eq!(kept[0].refused.as_ref().unwrap().code, "out_of_scope");
    assert_eq!(devices[1].store.outbox_len().unwrap(), 0);
    let (status, _) = call(
        "GET",
        &format!("{base}/api/v1/cases/{stray}"),
        &dispatcher.token,
        None,
    );
    assert_eq!(status, 404, "the refused case is not on the server");

    // A device token is no desk token, and no token is nothing.
    let (status, _) = call("GET", &format!("{base}/api/v1/cases"), &tokens["w-a"], None);
    assert!(status == 401 || status == 403);
    let (status, _) = call("GET", &format!("{base}/api/v1/cases"), "nope", None);
    assert_eq!(status, 401);

    // Graceful stop.
    let status = server.stop();
    assert!(status.success(), "server exit: {status}");
}

fn department_desk<'a>(desks: &'a HashMap<&'static str, Desk>, case: &Value) -> &'a Desk {
    match case["timeline"]["department"].as_str().unwrap() {
        "城管（环卫）" => &desks["dept-cg"],
        "街道环卫所" => &desks["dept-street"],
        "城管执法" => &desks["dept-zf"],
        other => panic!("no desk for department {other}"),
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// A PDA app records while a sync is under way (a long photo upload on 4G): the report is not held up
/// by the network, and it goes to the server with the same or the next sync.
#[test]
fn a_report_made_during_a_sync_does_not_wait_for_it() {
    use gridpatrol_client::{Phase, SyncProgress};
    use std::sync::Mutex;

    struct ReportMidUpload<'a> {
        store: &'a Mutex<DeviceStore>,
        recorded: Mutex<Option<CaseId>>,
    }
    impl SyncProgress for ReportMidUpload<'_> {
        fn phase(&self, phase: Phase, _total: u64) {
            if phase == Phase::Photos {
                // With the store held for the whole sync, this would deadlock.
                let mut store = self.store.lock().unwrap();
                let id = store
                    .report(NewReport {
                        category: "06010".into(),
                        location: point_in(STREET_A, 1),
                        address: "府右街".into(),
                        description: "上传照片时又发现一处".into(),
                        photos: vec![],
                    })
                    .unwrap();
                *self.recorded.lock().unwrap() = Some(id);
            }
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    let (tokens, desks) = setup(&data);
    let server = Server::serve(&data, &["--supervise-every", "3600"]);
    let mut dev = device("w-a", STREET_A, &server.base, &tokens["w-a"]);
    dev.report(0, "06010");
    let Device { store, remote, .. } = dev;
    let shared = Mutex::new(store);
    let progress = ReportMidUpload {
        store: &shared,
        recorded: Mutex::new(None),
    };
    let summary = remote.sync_shared(&shared, &progress).unwrap();
    assert_eq!(summary.photos_uploaded, 2, "the photo and its thumbnail");
    let late = progress
        .recorded
        .lock()
        .unwrap()
        .expect("recorded during the upload");
    // Recorded after the documents went up: it waits in the outbox for the next sync.
    assert_eq!(shared.lock().unwrap().unsynced().unwrap().len(), 1);
    remote
        .sync_shared(&shared, &gridpatrol_client::Silent)
        .unwrap();
    assert!(shared.lock().unwrap().unsynced().unwrap().is_empty());
    let (status, case) = call(
        "GET",
        &format!("{}/api/v1/cases/{late}", server.base),
        &desks["d-district"].token,
        None,
    );
    assert_eq!(status, 200, "{case}");
    server.stop();
}
