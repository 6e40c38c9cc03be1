//! The schema and its migrations (`PRAGMA user_version`).

use rusqlite::Connection;

use super::DbError;

pub const SCHEMA_VERSION: i64 = 1;

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
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}
