//! Extractors: who is calling (from the bearer token), and request bodies whose rejections become the
//! crate's JSON errors.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{AppState, blocking};
use crate::error::ServerError;
use crate::principal::{
    DESK_TOKEN_PREFIX, DEVICE_TOKEN_PREFIX, Desk, DeviceAuth, Principal, hash_token,
};

fn bearer(parts: &Parts) -> Result<String, ServerError> {
    let missing = || {
        ServerError::Unauthorized(
            "an Authorization: Bearer token is required (缺少访问令牌)".into(),
        )
    };
    let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(missing)?;
    Ok(token.to_owned())
}

fn unknown_token() -> ServerError {
    ServerError::Unauthorized("unknown or revoked token (令牌无效或已吊销)".into())
}

fn device_only() -> ServerError {
    ServerError::refused(
        "device_only",
        "this endpoint is for grid workers' devices, not desks (此接口仅供网格员设备使用)",
    )
}

fn desk_only() -> ServerError {
    ServerError::refused(
        "desk_only",
        "this endpoint is for desks (dispatchers, supervisors, departments), not devices (此接口仅供坐席使用)",
    )
}

async fn device(token: String, state: &AppState) -> Result<DeviceAuth, ServerError> {
    let hash = hash_token(&token);
    let found = blocking(state, {
        let hash = hash.clone();
        move |c| Ok(c.db.read(|r| r.device_by_token(&hash))?)
    })
    .await?;
    let row = found.ok_or_else(unknown_token)?;
    Ok(DeviceAuth {
        token_hash: hash,
        worker: row.worker,
        device_id: row.device_id,
        synced_cells: row.synced_cells,
        former_cells: row.former_cells,
    })
}

async fn desk(token: String, state: &AppState) -> Result<Desk, ServerError> {
    let hash = hash_token(&token);
    let found = blocking(state, move |c| Ok(c.db.read(|r| r.desk_by_token(&hash))?)).await?;
    Desk::from_row(found.ok_or_else(unknown_token)?)
}

/// Who a token belongs to: a live device or desk token, or a 401. The prefix only says which table
/// to look in; a token is a kind only once it is found, so an unknown token is a 401 whatever its
/// prefix, and only a live token of the other kind is told it is the wrong kind (403).
async fn principal(token: String, state: &AppState) -> Result<Principal, ServerError> {
    if token.starts_with(DEVICE_TOKEN_PREFIX) {
        Ok(Principal::Device(device(token, state).await?))
    } else if token.starts_with(DESK_TOKEN_PREFIX) {
        Ok(Principal::Desk(desk(token, state).await?))
    } else {
        Err(unknown_token())
    }
}

/// A live desk token (the event stream takes it from the query string too): 401 when unknown or
/// revoked, 403 `desk_only` for a live device token.
pub async fn desk_by_token(token: String, state: &AppState) -> Result<Desk, ServerError> {
    match principal(token, state).await? {
        Principal::Desk(desk) => Ok(desk),
        Principal::Device(_) => Err(desk_only()),
    }
}

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServerError> {
        match principal(bearer(parts)?, state).await? {
            Principal::Device(device) => Ok(device),
            Principal::Desk(_) => Err(device_only()),
        }
    }
}

impl FromRequestParts<AppState> for Desk {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServerError> {
        desk_by_token(bearer(parts)?, state).await
    }
}

/// `Option<Desk>`: `None` when the request carries no `Authorization` header at all; a header that is
/// there must hold a live desk token (401, or 403 for a device token), as for [`Desk`].
impl OptionalFromRequestParts<AppState> for Desk {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ServerError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        desk_by_token(bearer(parts)?, state).await.map(Some)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServerError> {
        principal(bearer(parts)?, state).await
    }
}

/// A JSON body; a malformed or oversized one is a JSON error like every other.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ServerError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

/// The request body stopped arriving: the connection's idle timeout ([`crate::connections`]) wraps
/// every body, and its error is somewhere in the rejection's chain of sources.
fn body_stalled(e: &(dyn std::error::Error + 'static)) -> Option<ServerError> {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return Some(ServerError::BodyTimeout(
                "the request body stopped arriving; send it again (请求体传输超时，请重试)".into(),
            ));
        }
        source = err.source();
    }
    None
}

fn json_rejection(e: JsonRejection) -> ServerError {
    if let Some(stalled) = body_stalled(&e) {
        return stalled;
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ServerError::TooLarge(format!("{} (请求体过大)", e.body_text()));
    }
    let code = match e {
        JsonRejection::MissingJsonContentType(_) => "content_type",
        _ => "bad_json",
    };
    ServerError::bad_request(code, format!("{} (请求格式错误)", e.body_text()))
}

/// A raw body (sync messages, photo chunks).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ServerError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e: BytesRejection| {
                if let Some(stalled) = body_stalled(&e) {
                    stalled
                } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ServerError::TooLarge(format!("{} (请求体过大)", e.body_text()))
                } else {
                    ServerError::bad_request("bad_body", e.body_text())
                }
            })
    }
}

/// Query parameters.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ServerError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e: QueryRejection| {
                ServerError::bad_request("bad_query", format!("{} (查询参数错误)", e.body_text()))
            })
    }
}
