//! The records and enums the apps see, each a plain copy of a core type. Times are `SystemTime`
//! (Kotlin `java.time.Instant`, Swift `Date`); case ids are strings (UUID v7).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use gridpatrol_client::{EnrollReply, Phase};
use gridpatrol_core::case::{Case, PhotoRef};
use gridpatrol_core::catalog::{Catalog, CategoryKey};
use gridpatrol_core::store::upload::UploadState as CoreUploadState;
use gridpatrol_core::store::{self, Identity};
use gridpatrol_core::timeline::{Outcome, TimelineEntry as CoreEntry};
use gridpatrol_core::workflow::{ActionKind, Role as CoreRole, Stage as CoreStage};

/// What a worker enters for a new report. `category` is what they typed or picked: a current code
/// ("06010"), `standard:code`, or a legacy code. Photos are the files as the camera wrote them (JPEG or
/// PNG); the core shrinks them and strips their EXIF.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReportInput {
    pub category: String,
    pub lat: f64,
    pub lon: f64,
    #[uniffi(default)]
    pub accuracy_m: Option<f64>,
    #[uniffi(default)]
    pub address: String,
    #[uniffi(default)]
    pub description: String,
    #[uniffi(default)]
    pub photos: Vec<Vec<u8>>,
}

/// A row of the case list (read from the store's index, never from the documents).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseSummary {
    pub id: String,
    /// The grid cell's 15-digit code, when the store has grid cells.
    pub cell: Option<String>,
    pub category: Category,
    pub stage: Stage,
    /// The department handling it, once dispatched.
    pub department: Option<String>,
    pub deadline: Option<SystemTime>,
    pub lat: f64,
    pub lon: f64,
    pub address: String,
    /// The start of the description.
    pub summary: String,
    pub photo_count: u32,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    /// Changed on this device since the last sync.
    pub unsynced: bool,
    /// The server refused this case at the last sync: why. It stays here and is offered again at the
    /// next sync; the other cases are not held up.
    pub refused: Option<SyncRefusal>,
}

/// Why the server refused a case: a machine code (`tampered`, `out_of_scope`, `not_allowed`,
/// `bad_fact`, `clock`, `too_large`, `malformed`) and a reason in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncRefusal {
    pub case_id: String,
    pub code: String,
    pub reason: String,
}

/// A category of the catalogue: the standard it belongs to, its code, and its name for people.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Category {
    pub standard: String,
    pub code: String,
    pub name: String,
}

/// A whole case: the report as corrected, its photos and its replayed timeline.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseDetail {
    pub id: String,
    pub reporter: String,
    pub device: String,
    pub cell: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub address: String,
    pub description: String,
    pub category: Category,
    pub created_at: SystemTime,
    /// `None` only for a document whose report event is missing.
    pub stage: Option<Stage>,
    pub department: Option<String>,
    pub deadline: Option<SystemTime>,
    /// The grid worker asked to verify on site.
    pub verifier: Option<String>,
    pub photos: Vec<PhotoInfo>,
    pub timeline: Vec<TimelineEntry>,
}

/// A photo of a case. The image and its thumbnail are read with `FieldStore.photo(sha256)`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoInfo {
    pub sha256: String,
    pub thumb_sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    /// When the camera took it (EXIF), as the camera wrote it.
    pub taken_at: Option<String>,
    pub added_by: String,
    pub added_at: SystemTime,
    /// `None` when this device does not hold the photo (it came from another device or the desk).
    pub upload: Option<UploadState>,
    /// Why the last upload attempt failed.
    pub upload_error: Option<String>,
}

/// One event of the timeline, in replay order.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TimelineEntry {
    pub id: String,
    pub at: SystemTime,
    /// The person (worker, dispatcher, department account) or "system".
    pub actor: String,
    pub role: Role,
    pub action: CaseAction,
    pub note: Option<String>,
    pub department: Option<String>,
    pub deadline: Option<SystemTime>,
    /// sha256 of the photos that came with this event.
    pub attachments: Vec<String>,
    /// Invalid in the replayed order (e.g. two devices acted concurrently): kept, but ignored for the
    /// stage.
    pub flagged: bool,
    pub flag_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadState {
    Pending,
    Uploading,
    Uploaded,
    Failed,
}

/// Where a case stands in the closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Stage {
    Reported,
    Registered,
    Rejected,
    Dispatched,
    Accepted,
    Returned,
    Handled,
    FeedbackGiven,
    VerificationRequested,
    Verified,
    Rework,
    Closed,
    SpecialClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    GridWorker,
    Dispatcher,
    Department,
    Supervisor,
    System,
}

/// What a timeline event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseAction {
    Report,
    Register,
    Reject,
    Dispatch,
    Accept,
    Return,
    Handle,
    Feedback,
    RequestVerification,
    VerifyPass,
    VerifyFail,
    Close,
    Extend,
    SpecialClose,
    AddEvidence,
    Edit,
    Remind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Case documents, both ways; `total` is the number of cases waiting to go up.
    Cases,
    /// Photo upload; `total` is the number of bytes to send.
    Photos,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    pub rounds: u32,
    /// Cases whose changes went up.
    pub pushed: u32,
    /// Cases that received changes (e.g. a desk action).
    pub received: u32,
    /// Cases new to this device (e.g. a verification task).
    pub new_cases: u32,
    pub photos_uploaded: u32,
    pub photos_failed: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The number of categories when the server's catalogue differed and replaced this device's.
    pub catalog_updated: Option<u32>,
    /// The number of cells when the worker's grid cells changed (re-imported or reassigned) and were pulled.
    pub grids_updated: Option<u32>,
    /// Cases the server refused in this sync; they stay on the device and the rest synced.
    pub refused: Vec<SyncRefusal>,
}

/// The server's answer to enrollment: whose token it was and which grid cells they patrol.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrollInfo {
    pub worker_id: String,
    pub device_id: String,
    pub cells: Vec<String>,
}

/// Who this store belongs to, and where it syncs to once enrolled.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreInfo {
    pub worker_id: String,
    pub device_id: String,
    pub server: Option<String>,
    /// Cases whose changes the server has not acknowledged yet.
    pub unsynced: u64,
}

// ----- from the core -----

pub(crate) fn time(t: DateTime<Utc>) -> SystemTime {
    t.into()
}

pub(crate) fn category(catalog: &Catalog, key: &CategoryKey) -> Category {
    Category {
        standard: key.standard.clone(),
        code: key.code.clone(),
        name: catalog
            .get(key)
            .map(|c| c.name())
            .unwrap_or_else(|| key.code.clone()),
    }
}

impl CaseSummary {
    pub(crate) fn from_core(c: store::CaseSummary) -> Self {
        CaseSummary {
            id: c.id.to_string(),
            cell: c.cell,
            category: Category {
                standard: c.category.standard,
                code: c.category.code,
                name: c.category_name,
            },
            stage: c.stage.into(),
            department: c.department,
            deadline: c.deadline.map(time),
            lat: c.lat,
            lon: c.lon,
            address: c.address,
            summary: c.summary,
            photo_count: c.photos,
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
            unsynced: c.dirty,
            refused: c.refused.map(|r| SyncRefusal {
                case_id: c.id.to_string(),
                code: r.code,
                reason: r.reason,
            }),
        }
    }
}

impl CaseDetail {
    /// `uploads`: the upload state of each of the case's photos, in order (`None`: not held here).
    pub(crate) fn from_core(
        case: Case,
        catalog: &Catalog,
        uploads: Vec<Option<(CoreUploadState, Option<String>)>>,
    ) -> Self {
        let photos = case
            .photos
            .into_iter()
            .zip(uploads)
            .map(|(p, upload)| PhotoInfo::from_core(p, upload))
            .collect();
        CaseDetail {
            id: case.id.to_string(),
            reporter: case.reporter,
            device: case.device,
            cell: case.cell,
            lat: case.location.lat,
            lon: case.location.lon,
            accuracy_m: case.location.accuracy_m,
            category: category(catalog, &case.details.category),
            address: case.details.address,
            description: case.details.description,
            created_at: time(case.created_at),
            stage: case.timeline.stage.map(Stage::from),
            department: case.timeline.department,
            deadline: case.timeline.deadline.map(time),
            verifier: case.timeline.verifier,
            photos,
            timeline: case
                .timeline
                .entries
                .into_iter()
                .map(TimelineEntry::from)
                .collect(),
        }
    }
}

impl PhotoInfo {
    pub(crate) fn from_core(
        p: PhotoRef,
        upload: Option<(CoreUploadState, Option<String>)>,
    ) -> Self {
        let (upload, upload_error) = match upload {
            Some((state, error)) => (Some(state.into()), error),
            None => (None, None),
        };
        PhotoInfo {
            sha256: p.sha256,
            thumb_sha256: p.thumb_sha256,
            bytes: p.bytes,
            width: p.width,
            height: p.height,
            taken_at: p.taken_at,
            added_by: p.added_by,
            added_at: time(p.added_at),
            upload,
            upload_error,
        }
    }
}

impl From<CoreEntry> for TimelineEntry {
    fn from(entry: CoreEntry) -> Self {
        let e = entry.event;
        let flag_reason = match entry.outcome {
            Outcome::Flagged { reason } => Some(reason),
            Outcome::Applied { .. } => None,
        };
        TimelineEntry {
            id: e.id.to_string(),
            at: time(e.at.time()),
            actor: e.actor,
            role: e.role.into(),
            action: e.action.into(),
            note: e.note,
            department: e.department,
            deadline: e.deadline.map(time),
            attachments: e.attachments,
            flagged: flag_reason.is_some(),
            flag_reason,
        }
    }
}

impl From<gridpatrol_client::SyncSummary> for SyncSummary {
    fn from(s: gridpatrol_client::SyncSummary) -> Self {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        SyncSummary {
            rounds: n(s.rounds),
            pushed: n(s.pushed),
            received: n(s.received),
            new_cases: n(s.new_cases),
            photos_uploaded: n(s.photos_uploaded),
            photos_failed: n(s.photos_failed),
            bytes_sent: s.bytes_sent as u64,
            bytes_received: s.bytes_received as u64,
            catalog_updated: s.catalog_updated.map(n),
            grids_updated: s.grids_updated.map(n),
            refused: s
                .refused
                .into_iter()
                .map(|r| SyncRefusal {
                    case_id: r.case.to_string(),
                    code: r.code,
                    reason: r.reason,
                })
                .collect(),
        }
    }
}

impl EnrollInfo {
    pub(crate) fn from_core(reply: EnrollReply) -> Self {
        EnrollInfo {
            worker_id: reply.worker_id,
            device_id: reply.device_id,
            cells: reply.cells,
        }
    }
}

impl StoreInfo {
    pub(crate) fn from_core(identity: &Identity, server: Option<String>, unsynced: u64) -> Self {
        StoreInfo {
            worker_id: identity.worker_id.clone(),
            device_id: identity.device_id.clone(),
            server,
            unsynced,
        }
    }
}

impl From<Phase> for SyncPhase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Cases => SyncPhase::Cases,
            Phase::Photos => SyncPhase::Photos,
        }
    }
}

/// Both directions, one variant per line: the compiler checks that neither side misses one.
macro_rules! mirror_enum {
    ($ours:ident, $core:ident, [$($v:ident),+ $(,)?]) => {
        impl From<$core> for $ours {
            fn from(v: $core) -> Self {
                match v { $($core::$v => $ours::$v),+ }
            }
        }
        impl From<$ours> for $core {
            fn from(v: $ours) -> Self {
                match v { $($ours::$v => $core::$v),+ }
            }
        }
    };
}

mirror_enum!(
    Stage,
    CoreStage,
    [
        Reported,
        Registered,
        Rejected,
        Dispatched,
        Accepted,
        Returned,
        Handled,
        FeedbackGiven,
        VerificationRequested,
        Verified,
        Rework,
        Closed,
        SpecialClosed,
    ]
);
mirror_enum!(
    UploadState,
    CoreUploadState,
    [Pending, Uploading, Uploaded, Failed]
);
mirror_enum!(
    Role,
    CoreRole,
    [GridWorker, Dispatcher, Department, Supervisor, System]
);
mirror_enum!(
    CaseAction,
    ActionKind,
    [
        Report,
        Register,
        Reject,
        Dispatch,
        Accept,
        Return,
        Handle,
        Feedback,
        RequestVerification,
        VerifyPass,
        VerifyFail,
        Close,
        Extend,
        SpecialClose,
        AddEvidence,
        Edit,
        Remind,
    ]
);

// Names for people, straight from the core: apps show these rather than keep their own tables.
#[uniffi::export]
impl Stage {
    /// The name a Chinese command centre uses, e.g. 待核查.
    pub fn label_zh(&self) -> String {
        CoreStage::from(*self).label_zh().to_owned()
    }

    /// The wire name, e.g. "verification_requested".
    pub fn code(&self) -> String {
        CoreStage::from(*self).as_str().to_owned()
    }
}

#[uniffi::export]
impl CaseAction {
    /// e.g. 核查通过.
    pub fn label_zh(&self) -> String {
        ActionKind::from(*self).label_zh().to_owned()
    }

    pub fn code(&self) -> String {
        ActionKind::from(*self).as_str().to_owned()
    }
}

#[uniffi::export]
impl UploadState {
    /// e.g. 待上传.
    pub fn label_zh(&self) -> String {
        CoreUploadState::from(*self).label_zh().to_owned()
    }
}
