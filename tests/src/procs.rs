//! Real processes for end-to-end tests: the workspace's binaries, built on demand, and a server on a
//! loopback port that is stopped (SIGTERM, then waited for) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The path of a binary of this workspace (`gridpatrol`, `gridpatrol-server`) in the same target
/// directory and profile as the running test. `cargo test --workspace` builds every package's binaries
/// before it runs any test. (A test cannot run cargo itself: cargo holds the build lock while tests run.)
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>  →  target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build --workspace` first)",
        path.display()
    );
    path
}

/// Runs `gridpatrol-server admin --data DIR --json ARGS...` and returns its JSON output.
pub fn admin(data: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(binary("gridpatrol-server"))
        .arg("admin")
        .arg("--data")
        .arg(data)
        .arg("--json")
        .args(args)
        .output()
        .expect("run gridpatrol-server admin");
    json_of(&out, &format!("admin {args:?}"))
}

pub fn json_of(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A `gridpatrol-server` process on a free loopback port.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// `gridpatrol-server serve --data DIR --listen 127.0.0.1:0 EXTRA...`, waiting for its
    /// `listening on ADDR` line.
    pub fn serve(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(binary("gridpatrol-server"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gridpatrol-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server printed `listening on ADDR`");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and wait for a graceful exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Sets up the demo district (110102, the 36 generated cells) in a new data directory with the shipped
/// catalogue and routing rules, through `gridpatrol-server admin`, as an operator would.
pub fn demo_district(data: &Path) {
    let grids = data.with_extension("cells.geojson");
    let geojson = gridpatrol_core::grid::GridIndex::new(
        gridpatrol_core::grid::GeneratedDistrict::demo().cells(),
    )
    .expect("the demo cells form an index")
    .to_geojson();
    std::fs::write(&grids, geojson).expect("write the demo cells");
    admin(
        data,
        &["district", "create", "--code", "110102", "--name", "西城区"],
    );
    admin(data, &["grids", "import", &grids.to_string_lossy()]);
    admin(data, &["catalog", "import"]);
    admin(data, &["routing", "import"]);
}

/// Adds a grid worker patrolling `cells` (codes or prefixes) and a device for them; returns the
/// device token.
pub fn add_worker(data: &Path, id: &str, cells: &str) -> String {
    admin(
        data,
        &["worker", "add", "--id", id, "--name", id, "--cells", cells],
    );
    let device = admin(data, &["device", "add", "--worker", id]);
    device["token"].as_str().expect("a device token").to_owned()
}

/// Adds a district dispatcher desk; returns its token.
pub fn add_dispatcher(data: &Path, id: &str) -> String {
    let desk = admin(
        data,
        &[
            "desk",
            "add",
            "--id",
            id,
            "--role",
            "dispatcher",
            "--scope",
            "110102",
        ],
    );
    desk["token"].as_str().expect("a desk token").to_owned()
}
