//! `gridpatrol-server demo`: seeds an empty directory, prints the tokens, serves; run again, it reuses
//! the demo and points at the tokens file.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{BIN, Http};
use serde_json::Value;

/// Starts `demo --json`, returns (tokens printed, base URL, the child).
fn start_demo(dir: &std::path::Path) -> (String, String, std::process::Child) {
    let mut child = Command::new(BIN)
        .args(["demo", "--json", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let base = loop {
        let line = lines.next().expect("demo output").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break format!("http://{}", addr.trim());
        }
        printed.push_str(&line);
        printed.push('\n');
    };
    std::thread::spawn(move || for _ in lines {});
    (printed, base, child)
}

fn stop(mut child: std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_demo_seeds_once_and_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let (printed, base, child) = start_demo(&dir);
    let tokens: Value = serde_json::from_str(&printed).expect("--json prints the tokens");
    let tokens = tokens.as_array().unwrap();
    let token = |role: &str| {
        tokens
            .iter()
            .find(|t| t["role"] == role)
            .unwrap_or_else(|| panic!("a {role} token"))["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(tokens.iter().filter(|t| t["role"] == "device").count(), 2);
    assert!(tokens.iter().filter(|t| t["role"] == "department").count() >= 3);
    let http = Http::new(&base);
    let (status, page) = http.get("/api/v1/cases?limit=100", Some(&token("dispatcher")));
    assert_eq!(status, 200);
    assert_eq!(page["total"], 6);
    let stages: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["stage"].as_str().unwrap())
        .collect();
    for s in [
        "reported",
        "registered",
        "dispatched",
        "accepted",
        "feedback_given",
        "verification_requested",
    ] {
        assert!(stages.contains(&s), "{s} in {stages:?}");
    }
    // Every department desk sees the cases routed to it.
    for t in tokens.iter().filter(|t| t["role"] == "department") {
        let (status, page) = http.get("/api/v1/cases", Some(t["token"].as_str().unwrap()));
        assert_eq!(status, 200);
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["department"], t["department"]);
        }
    }
    // The printed device tokens are not bound yet: a PDA can enroll with them.
    let mut pda = common::Pda::enroll(&http, &token("device"), "w-001");
    pda.sync();
    assert!(
        !pda.store.tasks().unwrap().is_empty(),
        "w-001 has a verification task"
    );
    stop(child);

    let file = dir.join("demo-tokens.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut saved = String::new();
    std::fs::File::open(&file)
        .unwrap()
        .read_to_string(&mut saved)
        .unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved.as_array().unwrap().len(), tokens.len());

    // Again: the demo is reused, not seeded twice.
    let (printed, base, child) = start_demo(&dir);
    let again: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(again, saved);
    let (_, page) = Http::new(&base).get("/api/v1/cases", Some(&token("dispatcher")));
    assert_eq!(page["total"], 6);
    stop(child);

    // A directory holding something else is refused.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "x").unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}
