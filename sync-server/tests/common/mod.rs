//! Helpers for the server's tests: the real binary as a child process on a loopback port, a real SQLite
//! file in a tempdir, HTTP through ureq, and PDAs that are real core `DeviceStore`s.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gridpatrol_core::case::{CaseId, Location};
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};
use gridpatrol_core::sync::{SyncRequest, SyncResponse};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_gridpatrol-server");

/// Runs `gridpatrol-server admin --data DIR --json ARGS...`.
pub fn admin(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("admin")
        .arg("--data")
        .arg(dir)
        .arg("--json")
        .args(args)
        .output()
        .expect("run gridpatrol-server admin")
}

/// Runs an admin command that must succeed, and returns its JSON output.
pub fn admin_ok(dir: &Path, args: &[&str]) -> Value {
    let out = admin(dir, args);
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("admin --json prints JSON")
}

/// The demo district's cells as GeoJSON.
pub fn district_geojson() -> String {
    GridIndex::new(GeneratedDistrict::demo().cells())
        .unwrap()
        .to_geojson()
}

/// The middle of a cell of the demo district, (lat, lon).
pub fn cell_center(code: &str) -> (f64, f64) {
    let cells = GeneratedDistrict::demo().cells();
    let cell = cells
        .iter()
        .find(|c| c.code.as_str() == code)
        .expect("a demo cell");
    let ring = &cell.polygon.0[0].exterior().0;
    let n = (ring.len() - 1) as f64;
    let (x, y) = ring[..ring.len() - 1]
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.x / n, y + p.y / n));
    (y, x)
}

/// Tokens of a seeded data directory.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// w-001 (street 110102001) and w-002 (street 110102002).
    pub device1: String,
    pub device2: String,
    /// Dispatcher and supervisor of the district.
    pub dispatcher: String,
    pub supervisor: String,
    /// A dispatcher of street 110102002 only.
    pub street2: String,
    /// The department 城管（环卫） (the catalogue default of 06010 outside the routing rules' areas).
    pub sanitation: String,
}

pub const SANITATION: &str = "城管（环卫）";

/// Creates the district, imports the demo grids and adds two workers with a device each and the desks.
pub fn seed(dir: &Path) -> Tokens {
    admin_ok(
        dir,
        &["district", "create", "--code", "110102", "--name", "西城区"],
    );
    let grids = dir.with_extension("cells.geojson");
    std::fs::write(&grids, district_geojson()).unwrap();
    admin_ok(dir, &["grids", "import", grids.to_str().unwrap()]);
    admin_ok(
        dir,
        &[
            "worker",
            "add",
            "--id",
            "w-001",
            "--name",
            "张三",
            "--cells",
            "110102001",
        ],
    );
    admin_ok(
        dir,
        &[
            "worker",
            "add",
            "--id",
            "w-002",
            "--name",
            "李四",
            "--cells",
            "110102002",
        ],
    );
    let token = |v: Value| v["token"].as_str().unwrap().to_owned();
    let desk = |id: &str, role: &str, scope: &str, dep: Option<&str>| {
        let mut args = vec!["desk", "add", "--id", id, "--role", role, "--scope", scope];
        if let Some(d) = dep {
            args.extend(["--department", d]);
        }
        token(admin_ok(dir, &args))
    };
    Tokens {
        device1: token(admin_ok(dir, &["device", "add", "--worker", "w-001"])),
        device2: token(admin_ok(dir, &["device", "add", "--worker", "w-002"])),
        dispatcher: desk("d-01", "dispatcher", "110102", None),
        supervisor: desk("s-01", "supervisor", "110102", None),
        street2: desk("d-street2", "dispatcher", "110102002", None),
        sanitation: desk("dept-sanitation", "department", "110102", Some(SANITATION)),
    }
}

/// A `gridpatrol-server serve` child process.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub dir: PathBuf,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        Self::start_with(dir, &[])
    }

    pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--data")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            // No supervision pass unless a test asks for one.
            .args(if extra.contains(&"--supervise-every") {
                &[][..]
            } else {
                &["--supervise-every", "3600"][..]
            })
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gridpatrol-server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed its address")
                .unwrap();
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child: Some(child),
            base: format!("http://{addr}"),
            dir: dir.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn http(&self) -> Http {
        Http::new(&self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// HTTP calls with statuses as values, not errors.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    pub base: String,
}

pub type Reply = (u16, Value);

fn json_reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("an HTTP response");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

impl Http {
    pub fn new(base: &str) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Http {
            agent,
            base: base.to_owned(),
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        json_reply(req.call())
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        json_reply(req.send_json(body))
    }

    /// Raw bytes in and out (the sync endpoint). `Err` when no response came at all.
    pub fn post_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ureq::Error> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/octet-stream");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.send(body)?;
        let status = r.status().as_u16();
        let bytes = r
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()?;
        Ok((status, bytes))
    }

    pub fn put_bytes(&self, path: &str, token: &str, body: &[u8]) -> Reply {
        let req = self
            .agent
            .put(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/octet-stream");
        json_reply(req.send(body))
    }

    pub fn get_bytes(&self, path: &str, token: &str) -> (u16, Vec<u8>) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_vec().unwrap())
    }

    /// A desk action; returns the reply.
    pub fn act(&self, token: &str, case: CaseId, body: Value) -> Reply {
        self.post(&format!("/api/v1/cases/{case}/actions"), Some(token), &body)
    }

    pub fn case(&self, token: &str, case: CaseId) -> Reply {
        self.get(&format!("/api/v1/cases/{case}"), Some(token))
    }
}

/// A grid worker's PDA: a real core device store, enrolled with the server.
pub struct Pda {
    pub store: DeviceStore,
    pub token: String,
    pub http: Http,
    _dir: tempfile::TempDir,
}

impl Pda {
    pub fn enroll(http: &Http, token: &str, worker: &str) -> Pda {
        let dir = tempfile::tempdir().unwrap();
        let mut store = DeviceStore::init(dir.path(), worker).unwrap();
        store.import_grids(&district_geojson()).unwrap();
        let device_id = store.identity().device_id.clone();
        let (status, body) = http.post(
            "/api/v1/devices/enroll",
            Some(token),
            &json!({"device_id": device_id}),
        );
        assert_eq!(status, 200, "enroll: {body}");
        assert_eq!(body["device_id"], device_id.as_str());
        let worker_id = body["worker_id"].as_str().unwrap();
        store.enroll(&http.base, token, worker_id).unwrap();
        Pda {
            store,
            token: token.to_owned(),
            http: http.clone(),
            _dir: dir,
        }
    }

    pub fn report(&mut self, category: &str, cell: &str, description: &str) -> CaseId {
        let (lat, lon) = cell_center(cell);
        self.store
            .report(NewReport {
                category: category.into(),
                location: Location::new(lat, lon).unwrap(),
                address: "测试地址".into(),
                description: description.into(),
                photos: Vec::new(),
            })
            .unwrap()
    }

    /// One round trip: the request it sent, and the reply (applied when it was a 200, and then the
    /// value is the cases the server refused, `[{case, code, reason}]`; the last field says the server
    /// has more).
    pub fn sync_once(&mut self) -> Result<(SyncRequest, u16, Value, bool), ureq::Error> {
        let request = self.store.sync_request(4 * 1024 * 1024).unwrap();
        let (status, bytes) =
            self.http
                .post_bytes("/sync/v1", Some(&self.token), &request.encode())?;
        if status != 200 {
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Ok((request, status, body, false));
        }
        let response = SyncResponse::decode(&bytes).expect("a sync response");
        let applied = self.store.apply_sync_response(&response).unwrap();
        let refused = applied
            .refused
            .iter()
            .map(|(case, r)| json!({"case": case.to_string(), "code": r.code, "reason": r.reason}))
            .collect();
        Ok((request, status, Value::Array(refused), applied.more))
    }

    /// Syncs until the server has nothing more; panics on a non-200 or a refused case.
    pub fn sync(&mut self) {
        self.store.retry_refused().unwrap();
        for _ in 0..100 {
            let (_, status, body, more) = self.sync_once().expect("server reachable");
            assert_eq!(status, 200, "sync: {body}");
            assert_eq!(body, json!([]), "sync refused cases");
            if !more && self.store.outbox_len().unwrap() == 0 {
                return;
            }
        }
        panic!("sync did not settle");
    }
}

/// The events of `GET /api/v1/events` as (event, data), read on a thread.
pub fn listen(base: &str, query_token: &str) -> mpsc::Receiver<(String, Value)> {
    let (tx, rx) = mpsc::channel();
    let url = format!("{base}/api/v1/events?token={query_token}");
    std::thread::spawn(move || {
        let response = ureq::get(&url).call().expect("the event stream");
        let reader = BufReader::new(response.into_body().into_reader());
        let mut event = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                let data = serde_json::from_str(d.trim()).unwrap_or(Value::Null);
                if tx.send((std::mem::take(&mut event), data)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Waits for the stream's first event, `ready`.
pub fn ready(rx: &mpsc::Receiver<(String, Value)>) {
    let (event, _) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the stream says it is ready");
    assert_eq!(event, "ready");
}
