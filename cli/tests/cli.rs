//! The device CLI as a person or a script uses it: real binary, real store directory.

use std::path::Path;
use std::process::{Command, Output};

use gridpatrol_tests::synthetic_jpeg;
use serde_json::Value;

fn gp(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridpatrol"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("GRIDPATROL_STORE")
        .output()
        .expect("run gridpatrol")
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = gp(store, args);
    assert!(
        out.status.success(),
        "gridpatrol {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(store: &Path, args: &[&str], expect_in_stderr: &str) {
    let out = gp(store, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "gridpatrol {args:?} should fail");
    assert!(
        stderr.contains(expect_in_stderr),
        "gridpatrol {args:?}: stderr {stderr:?} should mention {expect_in_stderr:?}"
    );
}

fn json(store: &Path, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(store, &a)).unwrap()
}

fn case_count(store: &Path) -> usize {
    json(store, &["list"]).as_array().unwrap().len()
}

#[test]
fn report_list_show_attach() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("pda");
    ok(&store, &["init", "--worker", "w-7"]);
    let out = ok(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "39.91",
            "--lon",
            "116.36",
            "--note",
            "暴露垃圾两袋",
        ],
    );
    let id = out.lines().next().unwrap().trim().to_owned();
    assert_eq!(id.len(), 36, "first line is the case id: {out}");

    let list = json(&store, &["list"]);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["stage"], "reported");
    assert_eq!(list[0]["summary"], "暴露垃圾两袋");
    assert!(ok(&store, &["list"]).contains("已上报"));

    let photo = tmp.path().join("p.jpg");
    std::fs::write(&photo, synthetic_jpeg(400, 300, 1)).unwrap();
    let attached = json(&store, &["attach", &id, photo.to_str().unwrap()]);
    assert_eq!(attached["photo"]["width"], 400);

    let shown = json(&store, &["show", &id]);
    assert_eq!(shown["photos"].as_array().unwrap().len(), 1);
    assert_eq!(shown["timeline"]["entries"].as_array().unwrap().len(), 2);
    assert_eq!(shown["reporter"], "w-7");
    let text = ok(&store, &["show", &id]);
    assert!(
        text.contains("暴露垃圾") && text.contains("补充材料"),
        "{text}"
    );

    // A legacy code is mapped to the current category.
    let legacy = json(
        &store,
        &[
            "report",
            "--category",
            "01-10",
            "--lat",
            "39.9",
            "--lon",
            "116.3",
        ],
    );
    assert_eq!(legacy["details"]["category"]["code"], "06010");

    // Filter by stage.
    assert_eq!(
        json(&store, &["list", "--stage", "reported"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        json(&store, &["list", "--stage", "closed"])
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Status: nothing has left this device yet (two cases, the photo and its thumbnail).
    let status = json(&store, &["status"]);
    assert_eq!(status["worker_id"], "w-7");
    assert_eq!(status["server"], Value::Null);
    assert_eq!(status["unsynced_cases"], 2);
    assert_eq!(status["photos_not_uploaded"], 2);
    assert_eq!(status["photos_failed"], serde_json::json!([]));
    assert!(status["categories"].as_u64().unwrap() > 0);
    let text = ok(&store, &["status"]);
    assert!(
        text.contains("未注册 not enrolled") && text.contains("cases waiting to sync: 2"),
        "{text}"
    );
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("pda");
    ok(&store, &["init"]);
    let base = ["report", "--lat", "39.91", "--lon", "116.36"];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    }
    fails(
        &store,
        &with(&base, &["--category", "99999"]),
        "unknown category",
    );
    fails(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "91",
            "--lon",
            "116.36",
        ],
        "latitude 91",
    );
    fails(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "39.9",
            "--lon",
            "-181",
        ],
        "longitude -181",
    );
    let missing = tmp.path().join("missing.jpg");
    fails(
        &store,
        &with(
            &base,
            &["--category", "06010", "--photo", missing.to_str().unwrap()],
        ),
        "cannot read",
    );
    let text = tmp.path().join("notes.jpg");
    std::fs::write(&text, "this is not a photo").unwrap();
    fails(
        &store,
        &with(
            &base,
            &["--category", "06010", "--photo", text.to_str().unwrap()],
        ),
        "not a JPEG or PNG",
    );
    let mut truncated = synthetic_jpeg(640, 480, 2);
    truncated.truncate(truncated.len() / 3);
    let cut = tmp.path().join("cut.jpg");
    std::fs::write(&cut, truncated).unwrap();
    fails(
        &store,
        &with(
            &base,
            &["--category", "06010", "--photo", cut.to_str().unwrap()],
        ),
        "",
    );
    assert_eq!(
        case_count(&store),
        0,
        "nothing was written by refused commands"
    );

    fails(&store, &["show", "not-an-id"], "");
    fails(
        &store,
        &["show", "01936f0e-0000-7000-8000-000000000000"],
        "no case",
    );
    let nowhere = tmp.path().join("nowhere");
    fails(&nowhere, &["list"], "no store");
}

/// A 640x480 JPEG whose frame header was edited to claim 7000x7000: decoding it would fill 49 MP of
/// missing blocks (seconds and hundreds of MB); it must be refused from its structure at once.
#[test]
fn a_photo_whose_header_claims_more_than_its_data_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("pda");
    ok(&store, &["init"]);
    let mut bomb = synthetic_jpeg(640, 480, 3);
    let mut pos = 2;
    while !matches!(bomb[pos + 1], 0xC0..=0xC2) {
        pos += 2 + usize::from(u16::from_be_bytes([bomb[pos + 2], bomb[pos + 3]]));
    }
    bomb[pos + 5..pos + 9].copy_from_slice(&[0x1B, 0x58, 0x1B, 0x58]); // 7000 x 7000
    let path = tmp.path().join("bomb.jpg");
    std::fs::write(&path, &bomb).unwrap();

    let started = std::time::Instant::now();
    fails(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "39.91",
            "--lon",
            "116.36",
            "--photo",
            path.to_str().unwrap(),
        ],
        "照片数据不完整",
    );
    // The process, store and all: well under the decode's seconds even in a debug build.
    let took = started.elapsed();
    assert!(took.as_secs() < 5, "took {took:?}");
    assert_eq!(case_count(&store), 0, "nothing was written");

    let id = ok(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "39.91",
            "--lon",
            "116.36",
        ],
    )
    .lines()
    .next()
    .unwrap()
    .trim()
    .to_owned();
    fails(
        &store,
        &["attach", &id, path.to_str().unwrap()],
        "shorter than its header claims",
    );
    let shown = json(&store, &["show", &id]);
    assert_eq!(shown["photos"], serde_json::json!([]));
}

#[test]
fn grids_decide_the_cell_and_refuse_points_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("pda");
    ok(&store, &["init"]);
    let geojson = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"code":"110102001001001","name":"A"},
       "geometry":{"type":"Polygon","coordinates":[[[116.30,39.90],[116.31,39.90],[116.31,39.91],[116.30,39.91],[116.30,39.90]]]}},
      {"type":"Feature","properties":{"code":"110102001001002","name":"B"},
       "geometry":{"type":"Polygon","coordinates":[[[116.31,39.90],[116.32,39.90],[116.32,39.91],[116.31,39.91],[116.31,39.90]]]}}]}"#;
    let file = tmp.path().join("cells.geojson");
    std::fs::write(&file, geojson).unwrap();
    assert_eq!(
        json(&store, &["grids", "import", file.to_str().unwrap()])["cells"],
        2
    );

    let c = json(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "39.905",
            "--lon",
            "116.315",
        ],
    );
    assert_eq!(c["cell"], "110102001001002");
    fails(
        &store,
        &[
            "report",
            "--category",
            "06010",
            "--lat",
            "39.95",
            "--lon",
            "116.315",
        ],
        "outside every grid cell",
    );
    let bad = tmp.path().join("bad.geojson");
    std::fs::write(&bad, "{\"type\":\"FeatureCollection\",\"features\":[{]}").unwrap();
    fails(&store, &["grids", "import", bad.to_str().unwrap()], "");
    assert_eq!(case_count(&store), 1);
}

#[test]
fn demo_creates_a_district_with_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("demo");
    let out = json(&store, &["demo"]);
    assert!(out["cells"].as_u64().unwrap() >= 24);
    assert_eq!(out["categories"], 80);
    let cases = out["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    assert!(
        cases
            .iter()
            .all(|c| c["cell"].as_str().is_some_and(|s| s.len() == 15))
    );
    // Running the demo again into the same directory is refused, not merged into.
    fails(&store, &["demo"], "already holds a store");
    assert!(ok(&store, &["list"]).contains("共"));
}

#[test]
fn an_ambiguous_legacy_code_is_refused_with_the_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("pda");
    ok(&store, &["init"]);
    // 0102 is 污水井盖 among components and 暴露垃圾 among events in the old standard.
    fails(
        &store,
        &[
            "report",
            "--category",
            "0102",
            "--lat",
            "39.9",
            "--lon",
            "116.3",
        ],
        "01002",
    );
    assert_eq!(case_count(&store), 0);
}

/// `gridpatrol list | head -1`: the reader goes away before the list is written. The command ends
/// quietly (SIGPIPE, as `cat` or `ls` would), not with a Rust panic and a backtrace on stderr.
#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("demo");
    ok(&store, &["demo"]);
    for args in [&["list"][..], &["--json", "list"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridpatrol"))
            .arg("--store")
            .arg(&store)
            .args(args)
            .env_remove("GRIDPATROL_STORE")
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the store is even open: the first write meets a pipe with no reader.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?}: stderr {stderr:?}");
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            out.status
        );
    }
}
