//! The crate's one error type, mapped to HTTP at the edge ([`ServerError::status`]) and to an exit code in
//! the admin commands. Messages are English with the Chinese alongside, as people at desks read them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gridpatrol_core::sync::WireError;
use serde::Serialize;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No token, or a token the server does not know (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the rule says no (403); `code` names the rule.
    #[error("{reason}")]
    Refused { code: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the state: a workflow refusal, an upload offset, a bound device (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The request is malformed or names something that does not exist (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The request is well formed but its content is wrong (422), e.g. an upload whose hash differs.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{0}")]
    TooLarge(String),
    /// A per-principal allowance is used up, e.g. a device's unfinished photo uploads (429).
    #[error("{message}")]
    TooMany { code: &'static str, message: String },
    /// A request body that stopped arriving for the idle timeout (408).
    #[error("{0}")]
    BodyTimeout(String),
    /// A blob chunk that does not start where the server's copy ends (409, with the held size).
    #[error(
        "the server holds {held} bytes of this blob, the chunk starts at {offset}: resume from {held} (续传位置不符)"
    )]
    UploadOffset { held: u64, offset: u64 },
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("storage: {0} (存储错误)")]
    Storage(#[from] DbError),
    #[error("{0}")]
    Io(String),
    #[error("internal error: {0} (服务器内部错误)")]
    Internal(String),
}

impl ServerError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ServerError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn refused(code: &'static str, reason: impl Into<String>) -> Self {
        ServerError::Refused {
            code,
            reason: reason.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServerError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Refused { .. } => StatusCode::FORBIDDEN,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Conflict { .. } | ServerError::UploadOffset { .. } => StatusCode::CONFLICT,
            ServerError::BadRequest { .. } | ServerError::Wire(_) => StatusCode::BAD_REQUEST,
            ServerError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServerError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServerError::Storage(_) | ServerError::Io(_) | ServerError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ServerError::Unauthorized(_) => "unauthorized",
            ServerError::Refused { code, .. }
            | ServerError::Conflict { code, .. }
            | ServerError::BadRequest { code, .. }
            | ServerError::Unprocessable { code, .. }
            | ServerError::TooMany { code, .. } => code,
            ServerError::NotFound(_) => "not_found",
            ServerError::TooLarge(_) => "too_large",
            ServerError::BodyTimeout(_) => "body_timeout",
            ServerError::UploadOffset { .. } => "offset_mismatch",
            ServerError::Wire(_) => "wire",
            ServerError::Storage(_) => "storage",
            ServerError::Io(_) => "io",
            ServerError::Internal(_) => "internal",
        }
    }
}

impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError::Io(format!("{e} (文件读写错误)"))
    }
}

impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        ServerError::Storage(DbError::Sqlite(e))
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: String,
    /// For `offset_mismatch`: the bytes the server holds, where the upload resumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<u64>,
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
            held: match self {
                ServerError::UploadOffset { held, .. } => Some(held),
                _ => None,
            },
        };
        (status, Json(body)).into_response()
    }
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;
