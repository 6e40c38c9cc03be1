//! The device store's schema and its migrations: every statement that shapes the database lives here.
//!
//! `PRAGMA user_version` holds the schema version. Migrations run in order inside one transaction on
//! open; a store written by a newer build (a higher version than [`SCHEMA_VERSION`]) is refused rather
//! than guessed at.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::StoreError;

/// The version this build writes.
pub const SCHEMA_VERSION: u32 = 3;

const MIGRATIONS: &[&str] = &[
    // 1: documents (snapshot + incremental chunks), the case index, blobs, reference data, metadata.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- One row per case document: the last compacted snapshot.
    CREATE TABLE doc (
        case_id      TEXT PRIMARY KEY,
        snapshot     BLOB NOT NULL,
        chunks_bytes INTEGER NOT NULL DEFAULT 0,
        next_seq     INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;

    -- Changes since the snapshot, in the order they were made (automerge save_after output).
    CREATE TABLE doc_chunk (
        case_id TEXT NOT NULL REFERENCES doc(case_id),
        seq     INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (case_id, seq)
    ) WITHOUT ROWID;

    -- What lists show, kept in step with the documents in the same transaction.
    CREATE TABLE case_index (
        case_id       TEXT PRIMARY KEY REFERENCES doc(case_id),
        cell          TEXT,
        standard      TEXT NOT NULL,
        code          TEXT NOT NULL,
        category_name TEXT NOT NULL,
        stage         TEXT NOT NULL,
        department    TEXT,
        deadline_ms   INTEGER,
        lat           REAL NOT NULL,
        lon           REAL NOT NULL,
        address       TEXT NOT NULL,
        summary       TEXT NOT NULL,
        photos        INTEGER NOT NULL,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL,
        dirty         INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE INDEX case_index_created ON case_index (created_ms DESC);
    CREATE INDEX case_index_stage ON case_index (stage, created_ms DESC);

    -- Photos and thumbnails, content-addressed.
    CREATE TABLE blob (
        sha256     TEXT PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('full', 'thumb')),
        data       BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Reference data the device caches: catalogue (CSV), grids (GeoJSON), calendar (JSON).
    CREATE TABLE reference (
        name       TEXT PRIMARY KEY,
        version    TEXT NOT NULL,
        body       TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: sync. The heads the server acknowledged per document; whether received changes still need
    // acknowledging; who is asked to verify (tasks); photo upload state.
    r#"
    ALTER TABLE doc ADD COLUMN acked_heads BLOB NOT NULL DEFAULT x'';
    ALTER TABLE case_index ADD COLUMN ack_pending INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE case_index ADD COLUMN verifier TEXT;
    CREATE INDEX case_index_outbox ON case_index (case_id) WHERE dirty = 1 OR ack_pending = 1;
    CREATE INDEX case_index_tasks ON case_index (verifier, stage);
    ALTER TABLE blob ADD COLUMN upload_state TEXT NOT NULL DEFAULT 'pending'
        CHECK (upload_state IN ('pending', 'uploading', 'uploaded', 'failed'));
    ALTER TABLE blob ADD COLUMN upload_error TEXT;
    "#,
    // 3: refusals. A case the server refused stays here with the reason (machine code and text); it is
    // retried once per sync (`refused_retry`) rather than in every round, and a refusal never stops the
    // other cases syncing.
    r#"
    ALTER TABLE case_index ADD COLUMN refused_code TEXT;
    ALTER TABLE case_index ADD COLUMN refused_reason TEXT;
    ALTER TABLE case_index ADD COLUMN refused_retry INTEGER NOT NULL DEFAULT 0;
    "#,
];

/// Sets the pragmas every connection needs. WAL with `synchronous = FULL`: a transaction that returned
/// is on disk even after a battery pull, and readers never block the writer.
pub fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "cannot switch to WAL (got {mode})"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema to [`SCHEMA_VERSION`], all or nothing.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = Transaction::new(conn, TransactionBehavior::Immediate)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_store_migrates_with_its_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO doc (case_id, snapshot) VALUES ('c1', x'00')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let acked: Vec<u8> = conn
            .query_row(
                "SELECT acked_heads FROM doc WHERE case_id = 'c1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(acked.is_empty());
    }

    #[test]
    fn a_version_2_store_gains_refusals_and_keeps_its_outbox() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO doc (case_id, snapshot) VALUES ('c1', x'00');
             INSERT INTO case_index (case_id, standard, code, category_name, stage, lat, lon,
                                     address, summary, photos, created_ms, updated_ms, dirty)
             VALUES ('c1', 'S', '1', 'n', 'reported', 1, 2, 'a', 's', 0, 3, 4, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let row: (bool, Option<String>, i64) = conn
            .query_row(
                "SELECT dirty, refused_code, refused_retry FROM case_index WHERE case_id = 'c1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, (true, None, 0));
    }

    #[test]
    fn a_newer_store_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        match migrate(&mut conn) {
            Err(StoreError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION + 1);
    }
}
