//! All of the server's SQL, in one place: an embedded SQLite database (WAL, synchronous=FULL) in the
//! data directory.
//!
//! Writes go through one connection, one transaction per call ([`Db::write`]): a sync request, a desk
//! action or an admin command commits whole or not at all, so everything the server acknowledged is on
//! disk. Reads use a small pool of other connections, which WAL lets run beside the writer.

mod audit;
mod backend;
mod cases;
mod pool;
mod principals;
mod reference;
mod schema;
mod uploads;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use automerge::ActorId;
use gridpatrol_core::case::CaseId;
use gridpatrol_core::doc::CaseDoc;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::doc_cache::DocCache;
use crate::events::{CaseChanged, CaseEvents};

pub use audit::{AuditEntry, audit};
pub use backend::COMPACT_AFTER_CHANGES;
pub use cases::{CaseFilter, CaseOrder, CasePage, CaseRow, ListScope, Supervised};
pub use pool::{PoolEntry, RouteRow};
pub use principals::{DeskListing, DeskRow, DeviceListing, DeviceRow, DeviceSelector, WorkerRow};
pub use reference::{District, RefName};
pub use uploads::UploadRefusal;

pub const DB_FILE: &str = "server.sqlite3";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("case document: {0}")]
    Document(#[from] gridpatrol_core::Error),
    #[error("the database is damaged: {0} (数据库已损坏)")]
    Corrupt(String),
    #[error(
        "this database was written by a newer gridpatrol-server (schema {found}, this build reads up to {supported}) (请升级服务器)"
    )]
    TooNew { found: i64, supported: i64 },
}

pub struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    docs: DocCache,
    actor: ActorId,
    events: CaseEvents,
}

/// One write transaction. It is also the server's [`gridpatrol_core::sync::SyncBackend`], so one sync
/// call is one transaction.
pub struct Write<'a> {
    tx: Transaction<'a>,
    docs: &'a DocCache,
    actor: &'a ActorId,
    /// Documents saved in this transaction: they enter the cache only once it commits.
    saved: Vec<(CaseId, u64, CaseDoc)>,
    /// Cases saved in this transaction, announced once it commits.
    changed: Vec<CaseChanged>,
    now_ms: i64,
}

/// One read transaction on a pooled connection.
pub struct Read<'a> {
    conn: &'a Connection,
    docs: &'a DocCache,
    actor: &'a ActorId,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`, migrating it to the current schema.
    pub fn open(dir: &Path, actor: ActorId, cache_docs: usize) -> Result<Db, DbError> {
        let path = dir.join(DB_FILE);
        let mut writer = connect(&path)?;
        schema::migrate(&mut writer)?;
        Ok(Db {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            docs: DocCache::new(cache_docs),
            actor,
            events: CaseEvents::default(),
        })
    }

    pub fn exists(dir: &Path) -> bool {
        dir.join(DB_FILE).is_file()
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Announcements of committed case saves (live dashboards).
    pub fn events(&self) -> &CaseEvents {
        &self.events
    }

    pub fn cached_docs(&self) -> usize {
        self.docs.len()
    }

    /// Runs `f` in one IMMEDIATE transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn write<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut Write<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx =
            Transaction::new(&mut conn, TransactionBehavior::Immediate).map_err(DbError::from)?;
        let mut w = Write {
            tx,
            docs: &self.docs,
            actor: &self.actor,
            saved: Vec::new(),
            changed: Vec::new(),
            now_ms: chrono::Utc::now().timestamp_millis(),
        };
        match f(&mut w) {
            Ok(value) => {
                let Write {
                    tx, saved, changed, ..
                } = w;
                if let Err(e) = tx.commit() {
                    for (case, _, _) in &saved {
                        self.docs.remove(*case);
                    }
                    return Err(DbError::from(e).into());
                }
                for (case, cursor, doc) in saved {
                    self.docs.put(case, cursor, doc);
                }
                self.events.publish(changed);
                Ok(value)
            }
            Err(e) => {
                // Dropping the transaction rolls it back; forget whatever it cached.
                for (case, _, _) in &w.saved {
                    self.docs.remove(*case);
                }
                Err(e)
            }
        }
    }

    /// Runs `f` in a read transaction on a pooled connection (a consistent snapshot beside the writer).
    pub fn read<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Read<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = {
            let tx = conn.transaction().map_err(DbError::from)?;
            let r = Read {
                conn: &tx,
                docs: &self.docs,
                actor: &self.actor,
            };
            let out = f(&r);
            tx.finish().map_err(DbError::from)?;
            out
        };
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < 8 {
            readers.push(conn);
        }
        result
    }

    /// Checkpoints the WAL and closes every connection.
    pub fn close(self) -> Result<(), DbError> {
        let readers = self.readers.into_inner().unwrap_or_else(|e| e.into_inner());
        for r in readers {
            r.close().map_err(|(_, e)| e)?;
        }
        let writer = self.writer.into_inner().unwrap_or_else(|e| e.into_inner());
        writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        writer.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}

impl Write<'_> {
    pub fn conn(&self) -> &Connection {
        &self.tx
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The transaction's time (milliseconds, as stored).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms).unwrap_or_default()
    }
}

impl Read<'_> {
    pub fn conn(&self) -> &Connection {
        self.conn
    }
}

fn connect(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // FULL: a commit is on disk before the server answers, so nothing acknowledged is lost.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}
