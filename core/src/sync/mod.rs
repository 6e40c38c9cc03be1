//! Batched sync between devices and the server, written sans IO: both sides are functions from
//! messages and storage to messages, so every fault (a dropped, duplicated or reordered message) is
//! tested deterministically without sockets. Transports (HTTP in the CLI, the FFI and the server) wrap it.
//!
//! One round trip moves everything: the device sends the changes of its dirty documents (those whose
//! heads differ from what the server acknowledged) and its change cursor; the server merges, answers
//! with what each pushed document lacks, and adds every document in the device's scope that changed
//! since the cursor. A sync where nothing changed is one request of a few bytes, whatever the number of
//! documents. Retries are harmless: automerge changes are content-addressed, so applying one twice is a
//! no-op, and the cursor only moves once a response has been applied.

pub mod memory;
pub mod preflight;
pub mod rules;
pub mod server;
pub mod wire;

/// The HTTP header on every sync response naming the version (fingerprint) of the server's category
/// catalogue: a device whose catalogue differs fetches the new one (`GET /api/v1/catalog?format=csv`), so
/// a catalogue edited at the command centre reaches the PDAs without an extra request per sync.
pub const CATALOG_VERSION_HEADER: &str = "gridpatrol-catalog-version";

/// The HTTP header on every sync response (and on `GET /api/v1/grids`) naming the version of the grid
/// cells the worker patrols: it changes when the district's grids are re-imported or the worker is given
/// other cells, and a device whose stored version differs pulls its cells again.
pub const GRIDS_VERSION_HEADER: &str = "gridpatrol-grids-version";

pub use rules::{DeviceLimits, Refusal, RefusalKind, ServerFacts};
pub use server::{
    DeviceScope, FormerCells, Prepared, ServerSync, SyncBackend, SyncError, SyncOutcome,
};
pub use wire::{DocPull, DocPush, DocStatus, SyncRequest, SyncResponse, WireError};
