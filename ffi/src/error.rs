//! One error type at the boundary, mapped from the core's and the transport's. Each variant tells the
//! app what to do (fix the input, retake the photo, retry later, re-enroll); the message, in English
//! and Chinese, is the core's own and can be shown to the worker as it is.

use gridpatrol_client::ClientError;
use gridpatrol_core::Error as CoreError;
use gridpatrol_core::case::InputError;
use gridpatrol_core::photo::PhotoError;
use gridpatrol_core::store::StoreError;

/// Kotlin: `FieldException.InvalidInput` etc. (`e.message`); Swift: `FieldError.InvalidInput(message:)`.
#[derive(Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum FieldError {
    /// Refused before anything was written: unknown or ambiguous category, coordinates out of range,
    /// text too long, a malformed case id, a point outside every grid cell, a bad grid file, a store that
    /// already exists.
    #[error("{0}")]
    InvalidInput(String),
    /// The photo cannot be used: empty, not a JPEG or PNG, corrupt, too large.
    #[error("{0}")]
    Photo(String),
    /// No such case in this store, or no store at the path.
    #[error("{0}")]
    NotFound(String),
    /// The workflow does not allow this action at the case's stage (e.g. verifying a case that is not
    /// waiting for verification).
    #[error("{0}")]
    NotAllowed(String),
    /// Another process holds the store open.
    #[error("{0}")]
    StoreInUse(String),
    /// The store was written by a newer version of the app.
    #[error("{0}")]
    StoreTooNew(String),
    /// Sync needs `enroll` first.
    #[error("{0}")]
    NotEnrolled(String),
    /// The server could not be reached; everything stays queued on the device.
    #[error("{0}")]
    Unreachable(String),
    /// The token is not valid or was revoked (401): ask the command centre for a new one and enroll
    /// again; nothing recorded on the device is lost.
    #[error("{0}")]
    TokenInvalid(String),
    /// The server refused: not allowed (403), the token bound to another device or worker (409), or
    /// another client error.
    #[error("{0}")]
    Refused(String),
    /// The server failed (5xx) or answered something this app does not understand.
    #[error("{0}")]
    Server(String),
    /// The sync was cancelled; what was applied stays applied.
    #[error("{0}")]
    Cancelled(String),
    /// Anything else: a damaged store, a disk error, a bug.
    #[error("{0}")]
    Internal(String),
}

impl From<CoreError> for FieldError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::Input(InputError::NoSuchCase(_)) => FieldError::NotFound(message),
            CoreError::Input(
                InputError::OutOfScope(_) | InputError::NotReporter(_) | InputError::NotVerifier(_),
            ) => FieldError::NotAllowed(message),
            CoreError::Input(_) => FieldError::InvalidInput(message),
            CoreError::Photo(
                PhotoError::Empty
                | PhotoError::TooLarge { .. }
                | PhotoError::NotAnImage
                | PhotoError::Corrupt(_)
                | PhotoError::TooManyPixels { .. }
                | PhotoError::DataIncomplete { .. },
            ) => FieldError::Photo(message),
            // Grid cells come from the caller (`importGrids`); a bad file is bad input.
            CoreError::Grid(_) => FieldError::InvalidInput(message),
            CoreError::Workflow(_) | CoreError::Timeline(_) => FieldError::NotAllowed(message),
            CoreError::Store(store) => match store {
                StoreError::InUse(_) => FieldError::StoreInUse(message),
                StoreError::NotInitialized(_) => FieldError::NotFound(message),
                StoreError::AlreadyInitialized(_) => FieldError::InvalidInput(message),
                StoreError::TooNew { .. } => FieldError::StoreTooNew(message),
                StoreError::WrongWorker { .. } => FieldError::Refused(message),
                StoreError::Corrupt(_) | StoreError::Sqlite(_) | StoreError::Io { .. } => {
                    FieldError::Internal(message)
                }
            },
            CoreError::Photo(_)
            | CoreError::Catalog(_)
            | CoreError::Dispatch(_)
            | CoreError::Calendar(_)
            | CoreError::Document(_)
            | CoreError::Automerge(_) => FieldError::Internal(message),
        }
    }
}

impl From<ClientError> for FieldError {
    fn from(e: ClientError) -> Self {
        let message = e.to_string();
        match e {
            ClientError::Core(core) => core.into(),
            ClientError::Unreachable { .. } => FieldError::Unreachable(message),
            ClientError::Server { status: 401, .. } => FieldError::TokenInvalid(message),
            ClientError::Server { status, .. } if (400..500).contains(&status) => {
                FieldError::Refused(message)
            }
            ClientError::Server { .. } | ClientError::Protocol(_) => FieldError::Server(message),
            ClientError::Cancelled => FieldError::Cancelled(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_keep_the_core_message() {
        let e: FieldError = CoreError::Input(InputError::Latitude(91.0)).into();
        assert_eq!(
            e,
            FieldError::InvalidInput("latitude 91 is out of range -90..90 (纬度超出范围)".into())
        );
    }

    #[test]
    fn server_statuses_split_into_token_invalid_refused_and_server() {
        let server = |status| ClientError::Server {
            status,
            code: "x".into(),
            message: "y".into(),
        };
        assert!(matches!(server(401).into(), FieldError::TokenInvalid(_)));
        for status in [403, 409] {
            assert!(matches!(server(status).into(), FieldError::Refused(_)));
        }
        assert!(matches!(server(503).into(), FieldError::Server(_)));
        assert!(matches!(
            ClientError::Cancelled.into(),
            FieldError::Cancelled(_)
        ));
    }
}
