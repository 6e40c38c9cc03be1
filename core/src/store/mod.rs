//! The device store: a directory holding one SQLite database (WAL, bundled SQLite) and a lock file.
//!
//! Every user action is one SQLite transaction that writes the automerge change, the case index row and
//! any photo blobs together, so an action that returned success survives a kill or a battery pull the
//! next instant, and an action that failed left nothing behind. Lists read only the index, never
//! documents. One process at a time owns a store: a second one gets [`StoreError::InUse`].

mod schema;
mod sync;
pub mod upload;

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

use crate::action::{self, ActionError, Actor};
use crate::case::{
    Case, CaseDetails, CaseEdit, CaseId, InputError, Location, MAX_ADDRESS_CHARS,
    MAX_DESCRIPTION_CHARS, PhotoRef, check_text,
};
use crate::catalog::{Catalog, CategoryKey};
use crate::doc::{CaseDoc, NewCase, actor_for};
use crate::grid::{GridIndex, Lookup};
use crate::photo::{PhotoLimits, ProcessedPhoto, process_photo};
use crate::sync::DeviceScope;
use crate::timeline::TimelineEvent;
use crate::workflow::{ActionKind, Role, Stage};
use crate::{Error, Result};

pub use schema::SCHEMA_VERSION;

const DB_FILE: &str = "store.sqlite3";
const LOCK_FILE: &str = "store.lock";
const REF_CATALOG: &str = "catalog";
const REF_GRIDS: &str = "grids";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {0} is in use by another process (数据存储正被其他进程使用); close it and try again"
    )]
    InUse(PathBuf),
    #[error("no store at {0} (数据存储不存在); create one with `gridpatrol --store DIR init`")]
    NotInitialized(PathBuf),
    #[error("a store already exists at {0} (数据存储已存在)")]
    AlreadyInitialized(PathBuf),
    #[error(
        "this store was written by a newer GridPatrol (schema {found}, this build reads up to {supported}); update the app (请升级应用)"
    )]
    TooNew { found: u32, supported: u32 },
    #[error(
        "this store holds cases recorded by worker {store}, but the token belongs to {token} (数据属于其他网格员)"
    )]
    WrongWorker { store: String, token: String },
    #[error("the store is damaged: {0} (数据存储已损坏)")]
    Corrupt(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(StoreError::Sqlite(e))
    }
}

/// Who this store belongs to: the worker signed in on the device, and the device itself (whose id is
/// also the automerge actor of every change made here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub device_id: String,
    pub worker_id: String,
}

/// What a worker enters for a new report. `category` is what they typed or picked: a current code, a
/// `standard:code` pair or a legacy code.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub category: String,
    pub location: Location,
    pub address: String,
    pub description: String,
    /// Photo files as read from the camera or disk (JPEG or PNG).
    pub photos: Vec<Vec<u8>>,
}

/// A row of the case list, read from the index alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    pub id: CaseId,
    pub cell: Option<String>,
    pub category: CategoryKey,
    pub category_name: String,
    pub stage: Stage,
    pub department: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub lat: f64,
    pub lon: f64,
    pub address: String,
    pub summary: String,
    pub photos: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Changed here since the last sync.
    pub dirty: bool,
    /// The server refused this case's changes at the last sync: why. The case stays here, is tried
    /// again at the next sync, and never stops the others.
    pub refused: Option<SyncRefused>,
}

/// Why the server refused a case (see `gridpatrol_core::sync::DocStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRefused {
    /// Machine-readable: `tampered`, `out_of_scope`, `not_allowed`, `bad_fact`, `clock`, `too_large`,
    /// `malformed`.
    pub code: String,
    /// Which rule, in Chinese and English.
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub stage: Option<Stage>,
    pub cell: Option<String>,
    pub limit: Option<usize>,
}

pub struct DeviceStore {
    dir: PathBuf,
    conn: Connection,
    identity: Identity,
    photo_limits: PhotoLimits,
    catalog: OnceLock<Arc<Catalog>>,
    grids: OnceLock<Option<GridIndex>>,
    /// The server's clock minus this device's, as of the last enrollment or sync: records are stamped
    /// with the corrected time, so a PDA whose clock is wrong still records when things happened.
    clock_offset_ms: i64,
    // Held for the store's lifetime: the OS releases it when the process dies, even by SIGKILL.
    _lock: File,
}

impl DeviceStore {
    /// Creates a new store in `dir` (created if missing) for `worker_id`, with a fresh device id and the
    /// built-in catalogue.
    pub fn init(dir: &Path, worker_id: &str) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
        let lock = lock_dir(dir)?;
        let mut conn = connect(dir)?;
        if schema::version(&conn)? != 0 {
            return Err(StoreError::AlreadyInitialized(dir.to_owned()).into());
        }
        schema::migrate(&mut conn)?;
        let identity = Identity {
            device_id: format!("dev-{}", uuid::Uuid::now_v7().simple()),
            worker_id: worker_id.to_owned(),
        };
        let catalog = Catalog::builtin();
        let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('device_id', ?1), ('worker_id', ?2)",
            params![identity.device_id, identity.worker_id],
        )?;
        put_reference(&tx, REF_CATALOG, &catalog.version(), &catalog.to_csv())?;
        tx.commit()?;
        Ok(Self::assemble(dir, conn, identity, lock))
    }

    /// Opens an existing store. Fails with [`StoreError::InUse`] when another process has it open.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.join(DB_FILE).is_file() {
            return Err(StoreError::NotInitialized(dir.to_owned()).into());
        }
        let lock = lock_dir(dir)?;
        let mut conn = connect(dir)?;
        if schema::version(&conn)? == 0 {
            return Err(StoreError::NotInitialized(dir.to_owned()).into());
        }
        schema::migrate(&mut conn)?;
        let meta = |key: &str| -> Result<String> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::Corrupt(format!("meta {key} missing")).into())
        };
        let identity = Identity {
            device_id: meta("device_id")?,
            worker_id: meta("worker_id")?,
        };
        Ok(Self::assemble(dir, conn, identity, lock))
    }

    fn assemble(dir: &Path, conn: Connection, identity: Identity, lock: File) -> Self {
        let clock_offset_ms = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'clock_offset_ms'",
                [],
                |r| r.get::<_, String>(0),
            )
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        DeviceStore {
            clock_offset_ms,
            dir: dir.to_owned(),
            conn,
            identity,
            photo_limits: PhotoLimits::default(),
            catalog: OnceLock::new(),
            grids: OnceLock::new(),
            _lock: lock,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Now, by the server's clock as this device last learned it.
    pub fn clock(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms)
    }

    /// The server's clock minus this device's, in milliseconds.
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The cached catalogue (parsed on first use).
    pub fn catalog(&self) -> Result<Arc<Catalog>> {
        if let Some(c) = self.catalog.get() {
            return Ok(c.clone());
        }
        let csv = self
            .reference(REF_CATALOG)?
            .ok_or_else(|| StoreError::Corrupt("catalogue missing".into()))?;
        let parsed = Arc::new(Catalog::from_csv(&csv)?);
        Ok(self.catalog.get_or_init(|| parsed).clone())
    }

    /// The cached grid cells, if any were imported (parsed on first use).
    pub fn grids(&self) -> Result<Option<&GridIndex>> {
        if let Some(g) = self.grids.get() {
            return Ok(g.as_ref());
        }
        let parsed = match self.reference(REF_GRIDS)? {
            Some(text) => Some(GridIndex::from_geojson(&text)?),
            None => None,
        };
        Ok(self.grids.get_or_init(|| parsed).as_ref())
    }

    /// Replaces the cached grid cells. Returns the number of cells.
    pub fn import_grids(&mut self, geojson: &str) -> Result<usize> {
        self.import_grids_as(geojson, None)
    }

    /// Replaces the grid cells with the server's, remembering the version the server named for them,
    /// so that a later sync knows whether the worker's cells changed.
    pub fn import_server_grids(&mut self, geojson: &str, version: &str) -> Result<usize> {
        self.import_grids_as(geojson, Some(version))
    }

    /// The version of the stored grid cells (the server's when they came from it), if any.
    pub fn grids_version(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT version FROM reference WHERE name = ?1",
                [REF_GRIDS],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn import_grids_as(&mut self, geojson: &str, version: Option<&str>) -> Result<usize> {
        let index = GridIndex::from_geojson(geojson)?;
        let body = index.to_geojson();
        let version = version
            .map(str::to_owned)
            .unwrap_or_else(|| crate::photo::sha256_hex(body.as_bytes()));
        let tx = self.write_tx()?;
        put_reference(&tx, REF_GRIDS, &version, &body)?;
        tx.commit()?;
        let n = index.len();
        self.grids = OnceLock::from(Some(index));
        Ok(n)
    }

    /// The version (fingerprint) of the catalogue in use, to compare with the one the server names on
    /// every sync.
    pub fn catalog_version(&self) -> Result<String> {
        Ok(self.catalog()?.version())
    }

    /// Replaces the cached catalogue. Returns the number of categories.
    pub fn import_catalog(&mut self, csv: &str) -> Result<usize> {
        let catalog = Catalog::from_csv(csv)?;
        let tx = self.write_tx()?;
        put_reference(&tx, REF_CATALOG, &catalog.version(), &catalog.to_csv())?;
        tx.commit()?;
        let n = catalog.len();
        self.catalog = OnceLock::from(Arc::new(catalog));
        Ok(n)
    }

    /// Records a new report with its photos: one transaction, nothing written when any part is refused.
    pub fn report(&mut self, report: NewReport) -> Result<CaseId> {
        check_text("description", &report.description, MAX_DESCRIPTION_CHARS)?;
        check_text("address", &report.address, MAX_ADDRESS_CHARS)?;
        let catalog = self.catalog()?;
        let category = resolve_category(&catalog, &report.category)?;
        let cell = self.cell_for(&report.location)?;
        // Photo work is CPU-heavy: do it before the write transaction opens.
        let photos = self.process_photos(&report.photos)?;
        let now = self.clock();
        let case = NewCase {
            id: CaseId::generate(),
            reporter: self.identity.worker_id.clone(),
            device: self.identity.device_id.clone(),
            cell,
            location: report.location,
            details: CaseDetails {
                category,
                address: report.address,
                description: report.description,
            },
            created_at: now,
        };
        let mut event = self.event(
            ActionKind::Report,
            crate::timeline::Hlc::tick(None, now.timestamp_millis()),
        );
        event.attachments = photos.iter().map(|p| p.meta.sha256.clone()).collect();
        let refs = self.photo_refs(&photos, now);

        let mut doc = CaseDoc::create(actor_for(&self.identity.device_id), &case, &event, &refs)?;
        let snapshot = doc.save();
        let read = doc.read()?;
        let tx = self.write_tx()?;
        insert_blobs(&tx, &photos, now)?;
        tx.execute(
            "INSERT INTO doc (case_id, snapshot) VALUES (?1, ?2)",
            params![case.id.to_string(), snapshot],
        )?;
        write_index_row(&tx, &catalog, &read, now)?;
        tx.commit()?;
        Ok(case.id)
    }

    /// Attaches a photo to a case as evidence.
    pub fn attach(&mut self, id: CaseId, photo: &[u8], note: Option<String>) -> Result<PhotoRef> {
        let processed = self.process_photos(&[photo.to_vec()])?;
        let now = self.clock();
        let refs = self.photo_refs(&processed, now);
        let mut result = refs[0].clone();
        self.append(
            id,
            ActionKind::AddEvidence,
            now,
            |case, event| {
                if let Some(held) = case.photos.iter().find(|p| p.sha256 == result.sha256) {
                    // The same photo again: keep the reference already there, record nothing new.
                    result = held.clone();
                    return Ok(None);
                }
                event.note = note;
                event.attachments = vec![result.sha256.clone()];
                Ok(Some(refs.clone()))
            },
            &processed,
        )?;
        Ok(result)
    }

    /// Corrects a report before it is registered.
    pub fn edit(&mut self, id: CaseId, mut edit: CaseEdit) -> Result<()> {
        if edit.is_empty() {
            return Err(InputError::EmptyEdit.into());
        }
        if let Some(d) = &edit.description {
            check_text("description", d, MAX_DESCRIPTION_CHARS)?;
        }
        if let Some(a) = &edit.address {
            check_text("address", a, MAX_ADDRESS_CHARS)?;
        }
        if let Some(c) = &edit.category {
            let catalog = self.catalog()?;
            let key = match catalog.get(c) {
                Some(found) => found.key.clone(),
                None => resolve_category(&catalog, &c.code)?,
            };
            edit.category = Some(key);
        }
        let device = self.identity.device_id.clone();
        self.append(
            id,
            ActionKind::Edit,
            self.clock(),
            |case, event| {
                // The server takes corrections only from the device that reported the case.
                if case.device != device {
                    return Err(InputError::NotReporter(id).into());
                }
                event.edit = Some(edit);
                Ok(Some(Vec::new()))
            },
            &[],
        )
    }

    /// The full case, timeline replayed.
    pub fn case(&self, id: CaseId) -> Result<Case> {
        self.load_doc(&self.conn, id)?.read()
    }

    /// The case list, newest first, from the index alone.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<CaseSummary>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM case_index
             WHERE (?1 IS NULL OR stage = ?1) AND (?2 IS NULL OR cell = ?2)
             ORDER BY created_ms DESC, case_id DESC
             LIMIT ?3"
        ))?;
        let limit = filter.limit.map_or(-1, |l| l as i64);
        let rows = stmt.query_map(
            params![filter.stage.map(|s| s.as_str()), filter.cell, limit],
            summary_from_row,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    pub fn count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM case_index", [], |r| r.get(0))?)
    }

    /// A stored photo or thumbnail by its sha256.
    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT data FROM blob WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Rewrites every document whose chunks have outgrown its snapshot as one compact snapshot.
    /// Returns how many were compacted. (Appends compact as they go; this catches up after imports.)
    pub fn compact(&mut self) -> Result<usize> {
        let ids: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT case_id FROM doc WHERE chunks_bytes > length(snapshot)")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        for id in &ids {
            let id: CaseId = id.parse()?;
            let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)?;
            let mut doc = load_doc_in(&tx, &self.identity.device_id, id)?;
            write_snapshot(&tx, id, &mut doc)?;
            tx.commit()?;
        }
        Ok(ids.len())
    }

    /// How a case's document is stored: (snapshot bytes, change chunks, chunk bytes).
    pub fn storage_stats(&self, id: CaseId) -> Result<(u64, u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT length(snapshot), (SELECT count(*) FROM doc_chunk c WHERE c.case_id = d.case_id),
                    chunks_bytes
             FROM doc d WHERE case_id = ?1",
            [id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    /// Checks the database file (SQLite's own integrity check).
    pub fn check_integrity(&self) -> Result<()> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result != "ok" {
            return Err(StoreError::Corrupt(result).into());
        }
        Ok(())
    }

    // ----- internals -----

    fn write_tx(&mut self) -> Result<Transaction<'_>> {
        Ok(Transaction::new(
            &mut self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    fn reference(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT body FROM reference WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn cell_for(&self, at: &Location) -> Result<Option<String>> {
        match self.grids()? {
            None => Ok(None),
            Some(grids) => match grids.locate(at.lat, at.lon) {
                Lookup::Inside(cell) => Ok(Some(cell.code.as_str().to_owned())),
                Lookup::Outside => Err(InputError::OutsideGrid {
                    lat: at.lat,
                    lon: at.lon,
                }
                .into()),
            },
        }
    }

    fn process_photos(&self, files: &[Vec<u8>]) -> Result<Vec<ProcessedPhoto>> {
        files
            .iter()
            .map(|f| process_photo(f, &self.photo_limits).map_err(Error::from))
            .collect()
    }

    fn photo_refs(&self, photos: &[ProcessedPhoto], now: DateTime<Utc>) -> Vec<PhotoRef> {
        photos
            .iter()
            .map(|p| PhotoRef {
                sha256: p.meta.sha256.clone(),
                thumb_sha256: p.meta.thumb_sha256.clone(),
                bytes: p.meta.bytes,
                width: p.meta.width,
                height: p.meta.height,
                taken_at: p.meta.taken_at.clone(),
                gps: p.meta.gps,
                added_by: self.identity.worker_id.clone(),
                added_at: now,
            })
            .collect()
    }

    fn event(&self, action: ActionKind, at: crate::timeline::Hlc) -> TimelineEvent {
        let mut e = TimelineEvent::new(action, &self.identity.worker_id, Role::GridWorker, at);
        e.device = Some(self.identity.device_id.clone());
        e
    }

    /// One worker action on an existing case, as one transaction: load, record through the action
    /// kernel ([`crate::action::record`]: workflow check, stamp, `fill` with the case as it stands,
    /// which may decline with `None`, replay), persist the change as an incremental chunk (or a new
    /// snapshot when chunks outgrow it), update the index, store blobs.
    fn append(
        &mut self,
        id: CaseId,
        action: ActionKind,
        now: DateTime<Utc>,
        fill: impl FnOnce(&Case, &mut TimelineEvent) -> Result<Option<Vec<PhotoRef>>>,
        blobs: &[ProcessedPhoto],
    ) -> Result<()> {
        let catalog = self.catalog()?;
        let scope = self.scope()?;
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)?;
        let mut doc = load_doc_in(&tx, &self.identity.device_id, id)?;
        let case = doc.read()?;
        if scope.as_ref().is_some_and(|s| !s.covers(&case)) {
            return Err(InputError::OutOfScope(id).into());
        }
        let actor = Actor::new(
            &self.identity.worker_id,
            Role::GridWorker,
            Some(&self.identity.device_id),
        );
        let recorded = action::record(&mut doc, &case, action, actor, now, |event| {
            fill(&case, event)
        })
        .map_err(|e| match e {
            ActionError::Refused(r) => crate::Error::Workflow(r),
            ActionError::Document(e) | ActionError::Backend(e) => e,
            ActionError::NoSuchCase(id) => InputError::NoSuchCase(id).into(),
            ActionError::Flagged(_) | ActionError::Clock(_) => {
                crate::Error::Timeline(e.to_string())
            }
        })?;
        // Nothing to record after all (the same photo again): the transaction ends with nothing written.
        let Some(recorded) = recorded else {
            return Ok(());
        };
        let chunk = doc.save_after(&recorded.heads_before);
        append_chunk(&tx, id, &chunk, &mut doc)?;
        insert_blobs(&tx, blobs, now)?;
        write_index_row(&tx, &catalog, &recorded.case, now)?;
        tx.commit()?;
        Ok(())
    }

    /// What this device may change, judged as the server judges it (its cells, its own reports, its
    /// verification tasks); `None` while no grid cells are known, as in a store never enrolled.
    fn scope(&self) -> Result<Option<DeviceScope>> {
        Ok(self.grids()?.map(|grids| {
            DeviceScope::new(
                &self.identity.device_id,
                &self.identity.worker_id,
                grids
                    .cells()
                    .iter()
                    .map(|c| c.code.as_str().to_owned())
                    .collect(),
            )
        }))
    }

    fn load_doc(&self, conn: &Connection, id: CaseId) -> Result<CaseDoc> {
        load_doc_in(conn, &self.identity.device_id, id)
    }
}

/// What a worker typed → a category of the catalogue, or a clear refusal.
pub fn resolve_category(catalog: &Catalog, input: &str) -> Result<CategoryKey, InputError> {
    if let Some(c) = catalog.resolve(input) {
        return Ok(c.key.clone());
    }
    let all = catalog.resolve_all(input);
    if all.len() > 1 {
        let candidates = all
            .iter()
            .map(|c| format!("{} {}", c.key.code, c.minor_class))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(InputError::AmbiguousCategory {
            input: input.to_owned(),
            candidates,
        });
    }
    Err(InputError::UnknownCategory(input.to_owned()))
}

fn connect(dir: &Path) -> Result<Connection> {
    let path = dir.join(DB_FILE);
    let conn = Connection::open(&path)?;
    schema::configure(&conn)?;
    Ok(conn)
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| io_err(&path, source))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse(dir.to_owned()).into()),
        Err(TryLockError::Error(source)) => Err(io_err(&path, source).into()),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn put_reference(tx: &Transaction<'_>, name: &str, version: &str, body: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO reference (name, version, body, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET version = ?2, body = ?3, updated_ms = ?4",
        params![name, version, body, Utc::now().timestamp_millis()],
    )?;
    Ok(())
}

fn insert_blobs(tx: &Transaction<'_>, photos: &[ProcessedPhoto], now: DateTime<Utc>) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO blob (sha256, kind, data, created_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (sha256) DO NOTHING",
    )?;
    for p in photos {
        stmt.execute(params![
            p.meta.sha256,
            "full",
            p.full,
            now.timestamp_millis()
        ])?;
        stmt.execute(params![
            p.meta.thumb_sha256,
            "thumb",
            p.thumb,
            now.timestamp_millis()
        ])?;
    }
    Ok(())
}

fn load_doc_in(conn: &Connection, device_id: &str, id: CaseId) -> Result<CaseDoc> {
    let key = id.to_string();
    let snapshot: Vec<u8> = conn
        .query_row("SELECT snapshot FROM doc WHERE case_id = ?1", [&key], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(InputError::NoSuchCase(id))?;
    let mut stmt =
        conn.prepare_cached("SELECT data FROM doc_chunk WHERE case_id = ?1 ORDER BY seq")?;
    let chunks: Vec<Vec<u8>> = stmt
        .query_map([&key], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    CaseDoc::load(
        actor_for(device_id),
        &snapshot,
        chunks.iter().map(Vec::as_slice),
    )
}

/// Stores a change chunk, or compacts when the chunks would outgrow the snapshot (loading many small
/// chunks costs more than one larger snapshot).
fn append_chunk(tx: &Transaction<'_>, id: CaseId, chunk: &[u8], doc: &mut CaseDoc) -> Result<()> {
    let key = id.to_string();
    let (snapshot_len, chunks_bytes, next_seq): (i64, i64, i64) = tx.query_row(
        "SELECT length(snapshot), chunks_bytes, next_seq FROM doc WHERE case_id = ?1",
        [&key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if chunks_bytes + chunk.len() as i64 > snapshot_len {
        return write_snapshot(tx, id, doc);
    }
    tx.execute(
        "INSERT INTO doc_chunk (case_id, seq, data) VALUES (?1, ?2, ?3)",
        params![key, next_seq, chunk],
    )?;
    tx.execute(
        "UPDATE doc SET chunks_bytes = chunks_bytes + ?2, next_seq = next_seq + 1 WHERE case_id = ?1",
        params![key, chunk.len() as i64],
    )?;
    Ok(())
}

fn write_snapshot(tx: &Transaction<'_>, id: CaseId, doc: &mut CaseDoc) -> Result<()> {
    let key = id.to_string();
    tx.execute("DELETE FROM doc_chunk WHERE case_id = ?1", [&key])?;
    tx.execute(
        "UPDATE doc SET snapshot = ?2, chunks_bytes = 0 WHERE case_id = ?1",
        params![key, doc.save()],
    )?;
    Ok(())
}

fn write_index_row(
    tx: &Transaction<'_>,
    catalog: &Catalog,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<()> {
    let d = &case.details;
    let category_name = catalog
        .get(&d.category)
        .map(|c| c.name())
        .unwrap_or_else(|| d.category.code.clone());
    let summary: String = d.description.chars().take(80).collect();
    let stage = case.stage().unwrap_or(Stage::Reported);
    tx.execute(
        "INSERT INTO case_index (case_id, cell, standard, code, category_name, stage, department,
                                 deadline_ms, lat, lon, address, summary, photos, created_ms,
                                 updated_ms, verifier, dirty)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 1)
         ON CONFLICT (case_id) DO UPDATE SET
             cell = ?2, standard = ?3, code = ?4, category_name = ?5, stage = ?6, department = ?7,
             deadline_ms = ?8, lat = ?9, lon = ?10, address = ?11, summary = ?12, photos = ?13,
             updated_ms = ?15, verifier = ?16, dirty = 1",
        params![
            case.id.to_string(),
            case.cell,
            d.category.standard,
            d.category.code,
            category_name,
            stage.as_str(),
            case.timeline.department,
            case.timeline.deadline.map(|t| t.timestamp_millis()),
            case.location.lat,
            case.location.lon,
            d.address,
            summary,
            case.photos.len() as i64,
            case.created_at.timestamp_millis(),
            now.timestamp_millis(),
            case.timeline.verifier,
        ],
    )?;
    Ok(())
}

/// The columns [`summary_from_row`] reads, in its order.
const SUMMARY_COLUMNS: &str = "case_id, cell, standard, code, category_name, stage, department, \
     deadline_ms, lat, lon, address, summary, photos, created_ms, updated_ms, dirty, refused_code, \
     refused_reason";

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<CaseSummary>> {
    let id: String = r.get(0)?;
    let stage: String = r.get(5)?;
    let time = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    let built = (|| -> Result<CaseSummary> {
        Ok(CaseSummary {
            id: id.parse()?,
            cell: r.get(1)?,
            category: CategoryKey {
                standard: r.get(2)?,
                code: r.get(3)?,
            },
            category_name: r.get(4)?,
            stage: stage.parse().map_err(StoreError::Corrupt)?,
            department: r.get(6)?,
            deadline: r.get::<_, Option<i64>>(7)?.map(time),
            lat: r.get(8)?,
            lon: r.get(9)?,
            address: r.get(10)?,
            summary: r.get(11)?,
            photos: r.get(12)?,
            created_at: time(r.get(13)?),
            updated_at: time(r.get(14)?),
            dirty: r.get(15)?,
            refused: r
                .get::<_, Option<String>>(16)?
                .map(|code| -> rusqlite::Result<SyncRefused> {
                    Ok(SyncRefused {
                        code,
                        reason: r.get::<_, Option<String>>(17)?.unwrap_or_default(),
                    })
                })
                .transpose()?,
        })
    })();
    Ok(built)
}
