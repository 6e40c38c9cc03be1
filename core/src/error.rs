//! The core's one error type. Each capability keeps a precise error of its own; this wraps them so that
//! callers (the CLI, the FFI, the server) map one type at their edge.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Photo(#[from] crate::photo::PhotoError),
    #[error(transparent)]
    Grid(#[from] crate::grid::GridError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
    #[error(transparent)]
    Workflow(#[from] crate::workflow::Refusal),
    #[error(transparent)]
    Input(#[from] crate::case::InputError),
    /// An action the case's timeline cannot take where it would land (its clock at the end of its
    /// range, or the event flagged on replay): nothing was recorded.
    #[error("{0}")]
    Timeline(String),
    #[error("case document is malformed: {0}")]
    Document(String),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Dispatch(#[from] crate::dispatch::DispatchError),
}
