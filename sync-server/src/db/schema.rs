//! The schema and its migrations (`PRAGMA user_version`).

use rusqlite::Connection;

use super::DbError;

pub const SCHEMA_VERSION: i64 = 3;

const V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- The change cursor: every save of a case moves it to the next value.
CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counter (name, value) VALUES ('cursor', 0);

-- Automerge changes, content-addressed. `bytes` is NULL once the change is folded into the case's
-- snapshot; the row stays so that the hash keeps deduplicating.
CREATE TABLE server_change (
    hash BLOB PRIMARY KEY,
    case_id TEXT NOT NULL,
    bytes BLOB,
    received_ms INTEGER NOT NULL
);
CREATE INDEX server_change_case ON server_change (case_id);

-- One row per case: what lists, filters, scopes and the pull query need, without opening documents.
CREATE TABLE server_case (
    case_id TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL UNIQUE,
    cell TEXT,
    verifier TEXT,
    device TEXT NOT NULL,
    reporter TEXT NOT NULL,
    stage TEXT NOT NULL,
    category_standard TEXT NOT NULL,
    category_code TEXT NOT NULL,
    department TEXT,
    deadline_ms INTEGER,
    dispatched_ms INTEGER,
    address TEXT NOT NULL,
    summary TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    photos INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    loose_changes INTEGER NOT NULL DEFAULT 0,
    snapshot BLOB,
    -- Supervision (督办): the deadline state last reminded, as 'state@deadline_ms'.
    supervision TEXT,
    escalated_ms INTEGER
);
CREATE INDEX server_case_cell ON server_case (cell);
CREATE INDEX server_case_stage ON server_case (stage);
CREATE INDEX server_case_department ON server_case (department);
CREATE INDEX server_case_verifier ON server_case (verifier);
CREATE INDEX server_case_device ON server_case (device);

CREATE TABLE device_heads (
    device_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    heads BLOB NOT NULL,
    PRIMARY KEY (device_id, case_id)
) WITHOUT ROWID;

-- The dispatch pool: a case enters once, with the route its category and cell gave it.
CREATE TABLE pool (
    case_id TEXT PRIMARY KEY,
    entered_ms INTEGER NOT NULL,
    route_department TEXT,
    route_deadline_ms INTEGER,
    route_hours REAL,
    route_clock TEXT,
    route_because TEXT NOT NULL
);

CREATE TABLE district (code TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms INTEGER NOT NULL);

CREATE TABLE worker (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cells TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE device (
    token_hash TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL REFERENCES worker (id),
    device_id TEXT UNIQUE,
    created_ms INTEGER NOT NULL,
    enrolled_ms INTEGER
);

CREATE TABLE desk (
    token_hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    department TEXT,
    created_ms INTEGER NOT NULL
);

CREATE TABLE reference (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    case_id TEXT,
    reason TEXT
);
CREATE INDEX audit_log_case ON audit_log (case_id);
";

/// Revocation (吊销) and reassignment. The device table is rebuilt because SQLite cannot drop a column's
/// UNIQUE: a device id is unique among live tokens only, so a device whose token was revoked by mistake
/// can enroll again with a new token and keep its actor and sync state. `synced_cells` is the worker's
/// cells as of the device's last sync: when the worker is given other cells, the next sync starts the
/// device's pull from the beginning, so that it receives the older cases of its new cells.
const V2: &str = "
CREATE TABLE device_v2 (
    token_hash TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL REFERENCES worker (id),
    device_id TEXT,
    created_ms INTEGER NOT NULL,
    enrolled_ms INTEGER,
    revoked_ms INTEGER,
    synced_cells TEXT
);
INSERT INTO device_v2 (token_hash, worker_id, device_id, created_ms, enrolled_ms)
    SELECT token_hash, worker_id, device_id, created_ms, enrolled_ms FROM device;
DROP TABLE device;
ALTER TABLE device_v2 RENAME TO device;
CREATE UNIQUE INDEX device_live_id ON device (device_id) WHERE revoked_ms IS NULL;
CREATE INDEX device_worker ON device (worker_id);
ALTER TABLE desk ADD COLUMN revoked_ms INTEGER;
";

/// Hostile devices (SECURITY.md). `doc_bytes` is the size of a case's changes, for its size limit.
/// `worker_cells_history` keeps the cells a worker had before each
/// reassignment, so a report made offline in the old cells is still accepted after it (the device
/// reported where it was responsible at the time). `blob_upload` names who started each unfinished photo
/// upload and when, so unfinished uploads are capped per device and expire.
const V3: &str = "
ALTER TABLE server_case ADD COLUMN doc_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE server_case SET doc_bytes = coalesce(length(snapshot), 0)
    + (SELECT coalesce(sum(length(bytes)), 0) FROM server_change c WHERE c.case_id = server_case.case_id);

CREATE TABLE worker_cells_history (
    worker_id TEXT NOT NULL REFERENCES worker (id),
    cells TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
CREATE INDEX worker_cells_history_worker ON worker_cells_history (worker_id, until_ms);

CREATE TABLE blob_upload (
    sha256 TEXT PRIMARY KEY,
    uploader TEXT NOT NULL,
    total INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX blob_upload_uploader ON blob_upload (uploader);
CREATE INDEX blob_upload_updated ON blob_upload (updated_ms);
";

pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(DbError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    if found < 1 {
        tx.execute_batch(V1)?;
    }
    if found < 2 {
        tx.execute_batch(V2)?;
    }
    if found < 3 {
        tx.execute_batch(V3)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by the first release keeps its workers, devices and desks, and gains
    /// revocation; a device id is then unique among live tokens only.
    #[test]
    fn version_1_migrates_to_revocation_keeping_every_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO worker VALUES ('w-001', '张三', '[\"110102001\"]', 1);
             INSERT INTO device VALUES ('h1', 'w-001', 'dev-a', 2, 3);
             INSERT INTO device VALUES ('h2', 'w-001', NULL, 4, NULL);
             INSERT INTO desk VALUES ('k1', 'd-01', 'dispatcher', '110102', NULL, 5);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        type DeviceCols = (String, Option<String>, i64, Option<i64>, Option<i64>);
        let devices: Vec<DeviceCols> = conn
            .prepare("SELECT token_hash, device_id, created_ms, enrolled_ms, revoked_ms FROM device ORDER BY token_hash")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            devices,
            vec![
                ("h1".into(), Some("dev-a".into()), 2, Some(3), None),
                ("h2".into(), None, 4, None, None),
            ]
        );
        let desk: (String, Option<i64>) = conn
            .query_row("SELECT id, revoked_ms FROM desk", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(desk, ("d-01".into(), None));

        // Two live tokens may not share a device id; a revoked one no longer holds it.
        let bind_h2 = "UPDATE device SET device_id = 'dev-a' WHERE token_hash = 'h2'";
        assert!(conn.execute(bind_h2, []).is_err());
        conn.execute(
            "UPDATE device SET revoked_ms = 9 WHERE token_hash = 'h1'",
            [],
        )
        .unwrap();
        assert_eq!(conn.execute(bind_h2, []).unwrap(), 1);

        // Migrating again is a no-op.
        migrate(&mut conn).unwrap();
    }
}
