//! Server merge + route throughput: several PDAs (core device stores) that recorded reports offline sync
//! them concurrently to a real `gridpatrol-server` process on loopback. Budget: ≥ 2,000 reports/s.
//!
//! ```sh
//! cargo build --release -p gridpatrol-server
//! cargo run --release -p gridpatrol-server --example throughput -- [devices] [reports-per-device]
//! ```

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use gridpatrol_core::case::Location;
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::SyncResponse;
use serde_json::{Value, json};

fn admin(bin: &Path, data: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(4);
    let per_device = args.get(1).copied().unwrap_or(1000);
    let bin = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("gridpatrol-server");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let district = GeneratedDistrict::demo();
    let geojson = GridIndex::new(district.cells()).unwrap().to_geojson();
    let grids = tmp.path().join("cells.geojson");
    std::fs::write(&grids, &geojson).unwrap();
    admin(
        &bin,
        &data,
        &["district", "create", "--code", "110102", "--name", "西城区"],
    );
    admin(&bin, &data, &["grids", "import", grids.to_str().unwrap()]);
    // One worker per community, as in a real district: each device pulls little besides its own.
    let communities = [
        "110102001001",
        "110102001002",
        "110102002001",
        "110102002002",
    ];
    for (i, c) in communities.iter().enumerate() {
        let id = format!("w-{i}");
        admin(
            &bin,
            &data,
            &[
                "worker", "add", "--id", &id, "--name", "bench", "--cells", c,
            ],
        );
    }

    let mut child = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            break format!("http://{}", a.trim());
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();

    // Offline: every device records its reports (not timed).
    let cells = district.cells();
    let mut stores = Vec::new();
    for d in 0..devices {
        let worker = format!("w-{}", d % communities.len());
        let community = communities[d % communities.len()];
        let mine: Vec<_> = cells
            .iter()
            .filter(|c| c.code.as_str().starts_with(community))
            .collect();
        let dir = tmp.path().join(format!("pda-{d}"));
        let mut store = DeviceStore::init(&dir, &worker).unwrap();
        store.import_grids(&geojson).unwrap();
        let token = admin(&bin, &data, &["device", "add", "--worker", &worker])["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut r = agent
            .post(format!("{base}/api/v1/devices/enroll"))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(json!({"device_id": store.identity().device_id}))
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{}",
            r.body_mut().read_to_string().unwrap()
        );
        for i in 0..per_device {
            let ring = &mine[i % mine.len()].polygon.0[0].exterior().0;
            let (lat, lon) = ((ring[0].y + ring[2].y) / 2.0, (ring[0].x + ring[2].x) / 2.0);
            store
                .report(NewReport {
                    category: "06010".into(),
                    location: Location::new(lat, lon).unwrap(),
                    address: "bench".into(),
                    description: format!("report {i}"),
                    photos: Vec::new(),
                })
                .unwrap();
        }
        stores.push((store, token));
    }
    eprintln!("{devices} devices × {per_device} reports recorded offline; syncing");

    // The requests are built before the clock starts and applied after it stops: what is timed is the
    // server merging, storing and routing (plus loopback HTTP).
    let requests: Vec<(Vec<Vec<u8>>, String)> = stores
        .iter()
        .map(|(store, token)| {
            let request = store.sync_request(usize::MAX).unwrap();
            // Split as a device does over a weak link: about 4 MiB of changes per request.
            let mut bodies = Vec::new();
            let mut chunk = gridpatrol_core::sync::SyncRequest {
                cursor: request.cursor,
                docs: Vec::new(),
            };
            let mut bytes = 0;
            for doc in request.docs {
                bytes += doc.changes.iter().map(Vec::len).sum::<usize>();
                chunk.docs.push(doc);
                if bytes >= 4 * 1024 * 1024 {
                    bodies.push(chunk.encode());
                    chunk.docs.clear();
                    bytes = 0;
                }
            }
            if !chunk.docs.is_empty() {
                bodies.push(chunk.encode());
            }
            (bodies, token.clone())
        })
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = requests
        .into_iter()
        .map(|(bodies, token)| {
            let agent = agent.clone();
            let base = base.clone();
            std::thread::spawn(move || {
                let mut responses = Vec::new();
                let mut bytes_up = 0;
                for body in bodies {
                    bytes_up += body.len();
                    let mut r = agent
                        .post(format!("{base}/sync/v1"))
                        .header("Authorization", format!("Bearer {token}"))
                        .send(&body[..])
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    responses.push(
                        r.body_mut()
                            .with_config()
                            .limit(1 << 30)
                            .read_to_vec()
                            .unwrap(),
                    );
                }
                (responses, bytes_up)
            })
        })
        .collect();
    let results: Vec<(Vec<Vec<u8>>, usize)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = start.elapsed();
    let total = devices * per_device;
    println!(
        "{total} reports from {devices} devices merged and routed in {:.2} s: {:.0} reports/s ({} requests, {} bytes up)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        results.iter().map(|r| r.0.len()).sum::<usize>(),
        results.iter().map(|r| r.1).sum::<usize>(),
    );
    for ((store, _), (responses, _)) in stores.iter_mut().zip(&results) {
        for bytes in responses {
            store
                .apply_sync_response(&SyncResponse::decode(bytes).unwrap())
                .unwrap();
        }
        assert_eq!(store.outbox_len().unwrap(), 0, "every report acknowledged");
    }
    // The server's resident memory after holding every document (Linux).
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        && let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS"))
    {
        println!("server {rss}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
