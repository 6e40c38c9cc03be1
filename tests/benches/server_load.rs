//! Server budgets on loopback (BENCHMARKS.md): merge + route throughput with several devices syncing
//! concurrently (≥ 2,000 reports/s on SQLite), server RSS after 10,000 documents, and the 1,000-report
//! sync over real HTTP (round trips, wire bytes against the automerge bytes carried).
//!
//! cargo build --release -p gridpatrol-server && cargo bench -p gridpatrol-tests --bench server_load

use std::time::Instant;

use geo::Centroid;
use gridpatrol_client::{Remote, Silent};
use gridpatrol_core::case::Location;
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::wire::change_bytes;
use gridpatrol_tests::procs::{Server, admin};

const COMMUNITIES: [&str; 4] = [
    "110102001001",
    "110102001002",
    "110102002001",
    "110102002002",
];
/// Nine devices of 1,000 reports each: a device sends at most 1,000 documents per request
/// (`MAX_DOCS_PER_REQUEST`), so each pushes its reports in one request, as the measurement wants.
const DEVICES: usize = 9;
const PER_DEVICE: usize = 1_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn device(
    base: &str,
    token: &str,
    community: &str,
    n: usize,
) -> (tempfile::TempDir, DeviceStore, Remote) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = DeviceStore::init(dir.path(), "w").expect("init");
    let cells = GeneratedDistrict::demo().cells();
    store
        .import_grids(&GridIndex::new(cells.clone()).expect("grid").to_geojson())
        .expect("grids");
    let remote = Remote::new(base, token);
    remote.enroll_store(&mut store).expect("enroll");
    let centres: Vec<_> = cells
        .iter()
        .filter(|c| c.code.as_str().starts_with(community))
        .filter_map(|c| c.polygon.centroid())
        .collect();
    for i in 0..n {
        let c = centres[i % centres.len()];
        store
            .report(NewReport {
                category: if i % 3 == 0 { "09006" } else { "06010" }.into(),
                location: Location::new(c.y(), c.x()).expect("valid"),
                address: format!("门牌 {i}"),
                description: format!("巡查发现的问题 #{i}，需要处理"),
                photos: Vec::new(),
            })
            .expect("report");
    }
    (dir, store, remote)
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("server");
    let grids = tmp.path().join("cells.geojson");
    std::fs::write(
        &grids,
        GridIndex::new(GeneratedDistrict::demo().cells())
            .expect("grid")
            .to_geojson(),
    )
    .expect("write grids");
    admin(
        &data,
        &["district", "create", "--code", "110102", "--name", "西城区"],
    );
    admin(&data, &["grids", "import", grids.to_str().expect("utf-8")]);
    for what in ["catalog", "routing", "calendar"] {
        admin(&data, &[what, "import"]);
    }
    let mut tokens = Vec::new();
    // w-0 for the 1,000-report sync, w-1..w-9 for the concurrent load (communities in turn).
    let workers: Vec<&str> = std::iter::once(COMMUNITIES[0])
        .chain(COMMUNITIES.iter().copied().cycle().take(DEVICES))
        .collect();
    for (i, community) in workers.iter().enumerate() {
        let worker = format!("w-{i}");
        admin(
            &data,
            &[
                "worker", "add", "--id", &worker, "--name", &worker, "--cells", community,
            ],
        );
        let d = admin(&data, &["device", "add", "--worker", &worker]);
        tokens.push(d["token"].as_str().expect("token").to_owned());
    }
    let server = Server::serve(&data, &["--supervise-every", "3600"]);
    let base = server.base.clone();
    let pid = server.pid();
    let rss_idle = rss_kib(pid);

    // 1,000 new reports over real HTTP.
    let (_d, mut store, remote) = device(&base, &tokens[0], COMMUNITIES[0], 1_000);
    let request = store.sync_request(4 << 20).expect("request");
    let automerge_push = change_bytes(request.docs.iter().map(|d| &d.changes));
    let start = Instant::now();
    let summary = remote.sync(&mut store, &Silent).expect("sync");
    let elapsed = start.elapsed();
    println!("## 1,000 new reports device → server over HTTP (loopback, release server)");
    println!(
        "round trips: {} for {} documents pushed (budget ≤ 2)",
        summary.rounds, summary.pushed
    );
    println!(
        "wire bytes: {} sent + {} received = {}; automerge bytes pushed: {}; ratio {:.3}; {:.0} ms",
        summary.bytes_sent,
        summary.bytes_received,
        summary.bytes_sent + summary.bytes_received,
        automerge_push,
        (summary.bytes_sent + summary.bytes_received) as f64 / automerge_push as f64,
        elapsed.as_secs_f64() * 1e3
    );
    let again = remote.sync(&mut store, &Silent).expect("sync");
    println!(
        "then nothing changed: {} round trip, {} B sent, {} B received",
        again.rounds, again.bytes_sent, again.bytes_received
    );

    // Nine devices with 1,000 offline reports each sync at the same time.
    println!("\n## merge + route throughput, {DEVICES} devices concurrently");
    let mut devices: Vec<_> = tokens[1..]
        .iter()
        .zip(COMMUNITIES.iter().cycle())
        .map(|(t, c)| device(&base, t, c, PER_DEVICE))
        .collect();
    let requests_docs: Vec<usize> = devices
        .iter()
        .map(|(_, store, _)| store.sync_request(usize::MAX).expect("request").docs.len())
        .collect();
    assert!(
        requests_docs.iter().all(|&n| n == PER_DEVICE),
        "one request carries every report: {requests_docs:?}"
    );
    // The devices' own work (reading their stores, building requests) happens before the clock starts:
    // on this 2-core machine it would otherwise compete with the server being measured.
    let requests: Vec<Vec<u8>> = devices
        .iter()
        .map(|(_, store, _)| store.sync_request(usize::MAX).expect("request").encode())
        .collect();
    let start = Instant::now();
    let responses: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .zip(&requests)
            .map(|((_, _, remote), req)| scope.spawn(move || remote.round_trip(req).expect("sync")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let n = devices.len() * PER_DEVICE;
    println!(
        "{n} reports from {} devices in {secs:.2} s: {:.0} reports/s (budget ≥ 2,000)",
        devices.len(),
        n as f64 / secs
    );
    for ((_, store, _), resp) in devices.iter_mut().zip(&responses) {
        let response = gridpatrol_core::sync::SyncResponse::decode(resp).expect("response");
        store.apply_sync_response(&response).expect("apply");
        // (Cases of a neighbour in the same community arrive too and wait to be acknowledged.)
        assert!(
            store.unsynced().expect("unsynced").is_empty(),
            "every report acknowledged"
        );
    }
    let total_docs = 1_000 + n;
    println!(
        "\n## server RSS: idle {} MiB; after {total_docs} documents {} MiB",
        rss_idle / 1024,
        rss_kib(pid) / 1024
    );
    server.stop();
}
