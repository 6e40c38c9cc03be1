//! A catalogue edited at the command centre reaches the PDAs: the city adds a category of its own with
//! `admin catalog import`; the running server takes it up; a device's next sync sees the new version in
//! the response header and pulls it; the worker can report in the new category offline, and the case is
//! routed by it. A sync where nothing changed stays one request.

use std::time::{Duration, Instant};

use gridpatrol_client::{Remote, Silent};
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::grid::GeneratedDistrict;
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::CATALOG_VERSION_HEADER;
use gridpatrol_tests::procs::{Server, add_dispatcher, add_worker, admin, demo_district};
use serde_json::Value;

const OWN: &str =
    "本市扩展 local,99001,,事件,市容环境,共享单车乱停放,城管（环卫）,24,WH,测试用本市扩展类别\r\n";

fn get(base: &str, path: &str, token: &str) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("an HTTP response");
    let version = r
        .headers()
        .get(CATALOG_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = r.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (r.status().as_u16(), version, body)
}

fn report(
    store: &mut DeviceStore,
    category: &str,
) -> gridpatrol_core::Result<gridpatrol_core::case::CaseId> {
    let cells = GeneratedDistrict::demo().cells();
    let c = geo::Centroid::centroid(&cells[0].polygon).unwrap();
    store.report(NewReport {
        category: category.into(),
        location: gridpatrol_core::case::Location::new(c.y(), c.x()).unwrap(),
        address: "西长安街 1 号".into(),
        description: "人行道上十余辆共享单车".into(),
        photos: Vec::new(),
    })
}

#[test]
fn a_category_added_at_the_command_centre_reaches_the_pda_on_its_next_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    demo_district(&data);
    let token = add_worker(&data, "w-001", "110102001");
    let desk = add_dispatcher(&data, "d-01");
    // Supervision passes (which also take up new reference data) every second.
    let server = Server::serve(&data, &["--supervise-every", "1"]);

    let dir = tempfile::tempdir().unwrap();
    let mut store = DeviceStore::init(dir.path(), "w-001").unwrap();
    let remote = Remote::new(&server.base, &token);
    remote.enroll_store(&mut store).unwrap();
    let shipped = store.catalog_version().unwrap();
    assert_eq!(shipped, Catalog::builtin().version());
    let err = report(&mut store, "99001").unwrap_err();
    assert!(err.to_string().contains("99001"), "{err}");

    // The city's own category, imported while the server runs.
    let own_csv = format!("{}{OWN}", Catalog::builtin().to_csv());
    let own = Catalog::from_csv(&own_csv).unwrap();
    let file = tmp.path().join("catalog.csv");
    std::fs::write(&file, &own_csv).unwrap();
    let imported = admin(&data, &["catalog", "import", file.to_str().unwrap()]);
    assert_eq!(imported["version"], own.version().as_str());
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, version, _) = get(&server.base, "/api/v1/catalog?format=csv", &desk);
        assert_eq!(status, 200);
        if version.as_deref() == Some(own.version().as_str()) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the server took up the new catalogue"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _, body) = get(&server.base, "/api/v1/catalog?format=xml", &desk);
    assert_eq!(status, 400);
    assert_eq!(body["code"], "bad_format");

    // Nothing else changed: one round trip, and the catalogue comes with it.
    let summary = remote.sync(&mut store, &Silent).unwrap();
    assert_eq!(summary.rounds, 1);
    assert_eq!(summary.catalog_updated, Some(own.len()));
    assert_eq!(store.catalog_version().unwrap(), own.version());

    // Reported offline in the new category, synced, routed by the catalogue's default department.
    let id = report(&mut store, "99001").unwrap();
    let summary = remote.sync(&mut store, &Silent).unwrap();
    assert_eq!(summary.catalog_updated, None, "pulled once, not again");
    let (status, _, case) = get(&server.base, &format!("/api/v1/cases/{id}"), &desk);
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["details"]["category"]["code"], "99001", "{case}");
    assert_eq!(case["route"]["department"], "城管（环卫）", "{case}");

    let quiet = remote.sync(&mut store, &Silent).unwrap();
    assert_eq!((quiet.rounds, quiet.catalog_updated), (1, None));
    server.stop();
}
