//! Admin commands: the happy path, and bad input refused with a non-zero exit and nothing written.

mod common;

use std::path::Path;

use common::{admin, admin_ok, district_geojson};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

fn count(dir: &Path, table: &str) -> i64 {
    let conn = Connection::open(dir.join("server.sqlite3")).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn fails(dir: &Path, args: &[&str], says: &str) {
    let out = admin(dir, args);
    assert!(!out.status.success(), "admin {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "admin {args:?}: {stderr}");
}

#[test]
fn admin_sets_up_a_district_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let grids = tmp.path().join("cells.geojson");
    std::fs::write(&grids, district_geojson()).unwrap();
    let grids = grids.to_str().unwrap();

    // Grids before the district: refused.
    fails(
        &dir,
        &["grids", "import", grids],
        "create the district first",
    );
    assert_eq!(count(&dir, "reference"), 0);

    let d = admin_ok(
        &dir,
        &["district", "create", "--code", "110102", "--name", "西城区"],
    );
    assert_eq!(d["code"], "110102");
    fails(
        &dir,
        &["district", "create", "--code", "110102", "--name", "again"],
        "exists",
    );
    fails(
        &dir,
        &["district", "create", "--code", "1101", "--name", "x"],
        "6 digits",
    );
    assert_eq!(count(&dir, "district"), 1);

    // Malformed GeoJSON, a file that is missing, a cell outside the district: nothing written.
    let bad = tmp.path().join("bad.geojson");
    std::fs::write(&bad, "{\"type\": \"FeatureCollection\", \"features\": [ {").unwrap();
    fails(&dir, &["grids", "import", bad.to_str().unwrap()], "JSON");
    fails(
        &dir,
        &["grids", "import", "/nonexistent.geojson"],
        "cannot read",
    );
    let other = district_geojson().replace("110102", "110105");
    let other_path = tmp.path().join("other.geojson");
    std::fs::write(&other_path, other).unwrap();
    fails(
        &dir,
        &["grids", "import", other_path.to_str().unwrap()],
        "not a created district",
    );
    assert_eq!(count(&dir, "reference"), 0);

    let g = admin_ok(&dir, &["grids", "import", grids]);
    assert_eq!(g["items"], 36);
    admin_ok(&dir, &["catalog", "import"]);
    admin_ok(&dir, &["routing", "import"]);
    admin_ok(&dir, &["calendar", "import"]);
    assert_eq!(count(&dir, "reference"), 4);
    let bad_csv = tmp.path().join("routing.csv");
    std::fs::write(
        &bad_csv,
        "category,area,department,deadline_hours,clock\n99999,,x,,\n",
    )
    .unwrap();
    fails(
        &dir,
        &["routing", "import", bad_csv.to_str().unwrap()],
        "not in the catalogue",
    );

    // Workers: cells must be known codes or prefixes.
    fails(
        &dir,
        &[
            "worker",
            "add",
            "--id",
            "w-1",
            "--name",
            "张三",
            "--cells",
            "110102009",
        ],
        "unknown",
    );
    fails(
        &dir,
        &[
            "worker",
            "add",
            "--id",
            "w-1",
            "--name",
            "张三",
            "--cells",
            "110102001,12",
        ],
        "6, 9, 12 or 15",
    );
    assert_eq!(count(&dir, "worker"), 0);
    let w = admin_ok(
        &dir,
        &[
            "worker",
            "add",
            "--id",
            "w-1",
            "--name",
            "张三",
            "--cells",
            "110102001,110102002001001",
        ],
    );
    assert_eq!(
        w["cells"],
        serde_json::json!(["110102001", "110102002001001"])
    );
    fails(
        &dir,
        &[
            "worker",
            "add",
            "--id",
            "w-1",
            "--name",
            "again",
            "--cells",
            "110102001",
        ],
        "exists",
    );

    // Devices: tokens shown once, kept as sha256 only.
    fails(
        &dir,
        &["device", "add", "--worker", "w-nobody"],
        "no worker",
    );
    let dev = admin_ok(&dir, &["device", "add", "--worker", "w-1"]);
    let token = dev["token"].as_str().unwrap();
    assert!(
        token.starts_with("gpd_") && token.len() == 4 + 64,
        "{token}"
    );
    let conn = Connection::open(dir.join("server.sqlite3")).unwrap();
    let stored: String = conn
        .query_row("SELECT token_hash FROM device", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, hex::encode(Sha256::digest(token.as_bytes())));
    let raw: i64 = conn
        .query_row(
            "SELECT count(*) FROM device WHERE token_hash = ?1",
            [token],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raw, 0);

    // Desks: a role, a known scope, a department only for department desks.
    fails(
        &dir,
        &[
            "desk", "add", "--id", "d-1", "--role", "boss", "--scope", "110102",
        ],
        "unknown desk role",
    );
    fails(
        &dir,
        &[
            "desk",
            "add",
            "--id",
            "d-1",
            "--role",
            "dispatcher",
            "--scope",
            "110199",
        ],
        "unknown",
    );
    fails(
        &dir,
        &[
            "desk",
            "add",
            "--id",
            "d-1",
            "--role",
            "department",
            "--scope",
            "110102",
        ],
        "needs --department",
    );
    fails(
        &dir,
        &[
            "desk",
            "add",
            "--id",
            "d-1",
            "--role",
            "dispatcher",
            "--scope",
            "110102",
            "--department",
            "城管",
        ],
        "only for department desks",
    );
    assert_eq!(count(&dir, "desk"), 0);
    let desk = admin_ok(
        &dir,
        &[
            "desk",
            "add",
            "--id",
            "d-1",
            "--role",
            "department",
            "--scope",
            "110102001",
            "--department",
            "城管（环卫）",
        ],
    );
    assert!(desk["token"].as_str().unwrap().starts_with("gpk_"));
    assert_eq!(desk["role"], "department");
    assert_eq!(desk["department"], "城管（环卫）");
    fails(
        &dir,
        &[
            "desk",
            "add",
            "--id",
            "d-1",
            "--role",
            "supervisor",
            "--scope",
            "110102",
        ],
        "exists",
    );
    assert_eq!(count(&dir, "desk"), 1);

    // Text output for people, in Chinese and English.
    let out = std::process::Command::new(common::BIN)
        .args([
            "admin",
            "--data",
            dir.to_str().unwrap(),
            "device",
            "add",
            "--worker",
            "w-1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("设备令牌") && text.contains("Device token") && text.contains("gpd_"),
        "{text}"
    );
}
