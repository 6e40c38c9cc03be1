//! gridpatrol-ffi: the core as the Android and iOS apps call it, through uniffi.
//!
//! A facade with no logic of its own: [`FieldStore`] wraps the core's `DeviceStore` (and the HTTP
//! transport for `enroll` and `sync`), the records copy the core's types, and [`FieldError`] maps the
//! core's and the transport's errors to what an app can act on. Kotlin bindings live in package
//! `org.gridpatrol.core`, Swift in module `GridPatrolCore` (see `uniffi.toml`).

mod error;
mod store;
mod types;

pub use error::FieldError;
pub use store::{FieldStore, SyncListener};
pub use types::{
    CaseAction, CaseDetail, CaseSummary, Category, EnrollInfo, PhotoInfo, ReportInput, Role, Stage,
    StoreInfo, SyncPhase, SyncSummary, TimelineEntry, UploadState,
};

uniffi::setup_scaffolding!();
