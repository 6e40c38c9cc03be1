//! `FieldStore`: the device store as the apps hold it. One object per store directory, shared by the
//! app's threads behind a mutex; every method is one call into the core. Network calls (`enroll`,
//! `sync`) are async and run on a thread of their own, so a UI thread awaiting them never blocks; a sync
//! holds the store only for its local steps, so reports recorded meanwhile do not wait for the network.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gridpatrol_client::{Phase, Remote, SyncProgress};
use gridpatrol_core::case::{CaseId, Location};
use gridpatrol_core::store::{DeviceStore, ListFilter, NewReport};

use crate::error::FieldError;
use crate::types::{
    CaseDetail, CaseSummary, EnrollInfo, PhotoInfo, ReportInput, Stage, StoreInfo, SyncPhase,
    SyncSummary,
};

type Result<T, E = FieldError> = std::result::Result<T, E>;

/// Told how a sync goes. Called on the sync's own thread: post to the UI thread from here, and do not
/// call back into the store (it is busy syncing), except `cancelSync()`.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    /// A phase starts: `total` cases to send, then `total` photo bytes to upload.
    fn on_phase(&self, phase: SyncPhase, total: u64);
    /// `done` of the phase's `total` are done.
    fn on_progress(&self, done: u64);
}

/// A GridPatrol device store: a directory holding the cases recorded on this device, their photos and
/// what the server sent. Close it (Kotlin `use {}` / `close()`, Swift: drop the last reference) to
/// release the directory for another process.
#[derive(uniffi::Object)]
pub struct FieldStore {
    store: Arc<Mutex<DeviceStore>>,
    /// `cancel_sync` bumps it; a sync stops when it changed since the sync started.
    cancel_generation: Arc<AtomicU64>,
}

#[uniffi::export]
impl FieldStore {
    /// Creates a new store in the directory `path` (created if missing) for the grid worker
    /// `worker_id`. Fails with `InvalidInput` when a store is already there.
    #[uniffi::constructor]
    pub fn create(path: String, worker_id: String) -> Result<Arc<Self>> {
        Ok(Self::wrap(DeviceStore::init(
            &PathBuf::from(path),
            &worker_id,
        )?))
    }

    /// Opens the store in `path`. Fails with `NotFound` when there is none, `StoreInUse` when another
    /// process has it open, `StoreTooNew` when a newer app wrote it.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        Ok(Self::wrap(DeviceStore::open(&PathBuf::from(path))?))
    }

    /// Who the store belongs to, where it syncs to, and how many cases wait to go up.
    pub fn info(&self) -> Result<StoreInfo> {
        let store = self.lock();
        let server = store.enrollment()?.map(|e| e.server);
        Ok(StoreInfo::from_core(
            store.identity(),
            server,
            store.outbox_len()?,
        ))
    }

    /// Replaces the grid cells this device files reports under, from a GeoJSON FeatureCollection.
    /// `enroll` already fetches the worker's cells from the server; this is for updates and for
    /// cells shipped with the app. Returns the number of cells. With
    /// cells imported, a report outside all of them is refused (`InvalidInput`).
    pub fn import_grids(&self, geojson: String) -> Result<u32> {
        let cells = self.lock().import_grids(&geojson)?;
        Ok(u32::try_from(cells).unwrap_or(u32::MAX))
    }

    /// Records a new report with its photos and returns its case id. Nothing is written when any
    /// part is refused.
    pub fn report(&self, input: ReportInput) -> Result<String> {
        let mut location = Location::new(input.lat, input.lon).map_err(core_err)?;
        if let Some(metres) = input.accuracy_m {
            location = location.with_accuracy(metres).map_err(core_err)?;
        }
        let id = self.lock().report(NewReport {
            category: input.category,
            location,
            address: input.address,
            description: input.description,
            photos: input.photos,
        })?;
        Ok(id.to_string())
    }

    /// Adds a photo to a case as evidence. The same photo twice is recorded once.
    pub fn attach_photo(
        &self,
        case_id: String,
        photo: Vec<u8>,
        note: Option<String>,
    ) -> Result<PhotoInfo> {
        let id = parse_id(&case_id)?;
        let mut store = self.lock();
        let added = store.attach(id, &photo, note)?;
        let upload = store.upload_state(&added.sha256)?;
        Ok(PhotoInfo::from_core(added, upload))
    }

    /// Cases on this device, newest first; only those at `stage` when given.
    pub fn list_cases(&self, stage: Option<Stage>) -> Result<Vec<CaseSummary>> {
        let filter = ListFilter {
            stage: stage.map(Into::into),
            ..ListFilter::default()
        };
        let rows = self.lock().list(&filter)?;
        Ok(rows.into_iter().map(CaseSummary::from_core).collect())
    }

    /// One case with its photos (and their upload state) and its timeline.
    pub fn show_case(&self, case_id: String) -> Result<CaseDetail> {
        let id = parse_id(&case_id)?;
        let store = self.lock();
        let case = store.case(id)?;
        let uploads = case
            .photos
            .iter()
            .map(|p| store.upload_state(&p.sha256))
            .collect::<Result<Vec<_>, _>>()?;
        let catalog = store.catalog()?;
        Ok(CaseDetail::from_core(case, &catalog, uploads))
    }

    /// A photo or thumbnail held on this device, by its sha256 (`PhotoInfo.sha256`/`thumbSha256`).
    pub fn photo(&self, sha256: String) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().blob(&sha256)?)
    }

    /// Verification tasks for this worker: cases waiting for them to check on site.
    pub fn tasks(&self) -> Result<Vec<CaseSummary>> {
        let rows = self.lock().tasks()?;
        Ok(rows.into_iter().map(CaseSummary::from_core).collect())
    }

    /// Cases the server refused, each with its reason (`CaseSummary.refused`): they stay on this device
    /// and are offered again at every sync. Show them so the worker can ask the command centre.
    pub fn refused_cases(&self) -> Result<Vec<CaseSummary>> {
        let rows = self.lock().refused()?;
        Ok(rows.into_iter().map(CaseSummary::from_core).collect())
    }

    /// The on-site verdict: `passed` (the case can close) or not (back to the department for rework),
    /// with photos of what the worker found.
    pub fn verify(
        &self,
        case_id: String,
        passed: bool,
        note: Option<String>,
        photos: Vec<Vec<u8>>,
    ) -> Result<()> {
        let id = parse_id(&case_id)?;
        Ok(self.lock().verify(id, passed, note, &photos)?)
    }

    /// Registers this device with the server at `server` (e.g. "https://gridpatrol.example.gov.cn")
    /// with the device token the command centre issued. The token's worker becomes the store's worker.
    pub async fn enroll(&self, server: String, token: String) -> Result<EnrollInfo> {
        let store = self.store.clone();
        off_thread("gridpatrol-enroll", move || {
            let reply = Remote::new(&server, &token).enroll_store(&mut lock(&store))?;
            Ok(EnrollInfo::from_core(reply))
        })
        .await?
    }

    /// Sends what was recorded here and receives what changed for this worker, then uploads photos.
    /// Stops with `Cancelled` at its next step after `cancelSync()`; what was applied before stays
    /// applied, and the next sync goes on from there. In Kotlin, cancelling the calling coroutine
    /// cancels the sync too. uniffi's Swift bindings do not pass Task cancellation on: wrap the call in
    /// `withTaskCancellationHandler { ... } onCancel: { store.cancelSync() }`.
    pub async fn sync(&self, listener: Arc<dyn SyncListener>) -> Result<SyncSummary> {
        let store = self.store.clone();
        let cancel = Cancel {
            started: self.cancel_generation.load(Ordering::SeqCst),
            generation: self.cancel_generation.clone(),
            dropped: Arc::new(AtomicBool::new(false)),
        };
        let _on_drop = CancelOnDrop(cancel.dropped.clone());
        off_thread("gridpatrol-sync", move || {
            let enrollment = lock(&store).enrollment()?.ok_or_else(|| {
                FieldError::NotEnrolled(
                    "this device is not enrolled: call enroll first (设备尚未注册)".into(),
                )
            })?;
            let progress = Progress {
                listener,
                done: AtomicU64::new(0),
                cancel,
            };
            let summary = Remote::new(&enrollment.server, &enrollment.token)
                .sync_shared(&*store, &progress)?;
            Ok(summary.into())
        })
        .await?
    }

    /// Stops the syncs in progress at their next step (they end with `Cancelled`). A sync started
    /// afterwards is not affected.
    pub fn cancel_sync(&self) {
        self.cancel_generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl FieldStore {
    fn wrap(store: DeviceStore) -> Arc<Self> {
        Arc::new(FieldStore {
            store: Arc::new(Mutex::new(store)),
            cancel_generation: Arc::new(AtomicU64::new(0)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, DeviceStore> {
        lock(&self.store)
    }
}

/// A panic in a call (a bug) poisons the mutex; the store itself stays consistent, since every write
/// is one SQLite transaction that rolled back, so later calls go on.
fn lock(store: &Mutex<DeviceStore>) -> MutexGuard<'_, DeviceStore> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parse_id(id: &str) -> Result<CaseId> {
    id.parse::<CaseId>().map_err(core_err)
}

fn core_err(e: impl Into<gridpatrol_core::Error>) -> FieldError {
    e.into().into()
}

/// Runs blocking work on a thread of its own and awaits its result, whatever executor polls us.
async fn off_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // The receiver is gone when the caller was cancelled: nobody wants the result.
            let _ = tx.send(work());
        })
        .map_err(|e| FieldError::Internal(format!("cannot start a thread: {e}")))?;
    rx.await
        .map_err(|_| FieldError::Internal(format!("{name} stopped without an answer (a bug)")))
}

struct Cancel {
    started: u64,
    generation: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
}

/// Set when the app drops the sync's future (a cancelled coroutine or task).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Progress {
    listener: Arc<dyn SyncListener>,
    done: AtomicU64,
    cancel: Cancel,
}

impl SyncProgress for Progress {
    fn phase(&self, phase: Phase, total: u64) {
        self.done.store(0, Ordering::SeqCst);
        self.listener.on_phase(phase.into(), total);
    }

    fn advance(&self, units: u64) {
        let done = self.done.fetch_add(units, Ordering::SeqCst) + units;
        self.listener.on_progress(done);
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.dropped.load(Ordering::SeqCst)
            || self.cancel.generation.load(Ordering::SeqCst) != self.cancel.started
    }
}
