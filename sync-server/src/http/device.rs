//! Device endpoints: enrollment, sync, photo uploads.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderName;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use gridpatrol_core::sync::{CATALOG_VERSION_HEADER, GRIDS_VERSION_HEADER, SyncRequest};
use serde::Deserialize;

use super::extract::{JsonBody, QueryParams, RawBody};
use super::{AppState, blocking};
use crate::blobs::{BlobStatus, Chunk, parse_sha256};
use crate::error::ServerError;
use crate::metrics::add;
use crate::principal::{DeviceAuth, Principal};
use crate::sync::Enrolled;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub device_id: String,
}

pub async fn enroll(
    State(state): State<AppState>,
    device: DeviceAuth,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Json<Enrolled>, ServerError> {
    blocking(&state, move |c| c.enroll(&device, &req.device_id))
        .await
        .map(Json)
}

pub async fn sync(
    State(state): State<AppState>,
    device: DeviceAuth,
    RawBody(body): RawBody,
) -> Result<Response, ServerError> {
    let request = SyncRequest::decode(&body)?;
    add(&state.metrics.sync_bytes_in, body.len() as u64);
    let cells = device.worker.cells.clone();
    let response = blocking(&state, move |c| c.sync_device(&device, &request)).await?;
    let bytes = response.encode();
    add(&state.metrics.sync_bytes_out, bytes.len() as u64);
    let reference = state.reference();
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                HeaderName::from_static(CATALOG_VERSION_HEADER),
                reference.catalog_version.clone(),
            ),
            (
                HeaderName::from_static(GRIDS_VERSION_HEADER),
                reference.grids_version(&cells),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobStatusRequest {
    pub sha256: Vec<String>,
}

/// The most hashes one status call may ask about.
const MAX_STATUS_HASHES: usize = 1_000;

pub async fn blob_status(
    State(state): State<AppState>,
    _who: Principal,
    JsonBody(req): JsonBody<BlobStatusRequest>,
) -> Result<Json<BTreeMap<String, BlobStatus>>, ServerError> {
    if req.sha256.len() > MAX_STATUS_HASHES {
        return Err(ServerError::bad_request(
            "too_many",
            format!("ask about at most {MAX_STATUS_HASHES} hashes per call (单次查询数量过多)"),
        ));
    }
    let hashes = req
        .sha256
        .iter()
        .map(|s| parse_sha256(s))
        .collect::<Result<Vec<_>, _>>()?;
    blocking(&state, move |c| {
        hashes
            .into_iter()
            .map(|h| c.blobs.status(&h).map(|s| (h, s)))
            .collect()
    })
    .await
    .map(Json)
}

#[derive(Debug, Deserialize)]
pub struct PutQuery {
    pub offset: u64,
    pub total: u64,
}

/// Only devices upload (a desk gets 403 `device_only`): each unfinished upload is charged to the
/// device token that started it.
pub async fn blob_put(
    State(state): State<AppState>,
    device: DeviceAuth,
    Path(sha): Path<String>,
    QueryParams(q): QueryParams<PutQuery>,
    RawBody(body): RawBody,
) -> Result<Json<BlobStatus>, ServerError> {
    let sha = parse_sha256(&sha)?;
    blocking(&state, move |c| {
        let chunk = Chunk {
            sha: &sha,
            offset: q.offset,
            total: q.total,
            bytes: &body,
        };
        c.blobs
            .put(&c.db, &c.options.uploads, &device.token_hash, chunk)
    })
    .await
    .map(Json)
}

pub async fn blob_get(
    State(state): State<AppState>,
    _who: Principal,
    Path(sha): Path<String>,
) -> Result<Response, ServerError> {
    let sha = parse_sha256(&sha)?;
    let found = blocking(&state, {
        let sha = sha.clone();
        move |c| c.blobs.get(&sha)
    })
    .await?;
    match found {
        Some(bytes) => Ok(([(CONTENT_TYPE, "image/jpeg")], bytes).into_response()),
        None => Err(ServerError::NotFound(format!(
            "no complete blob {sha} (照片不存在或未上传完成)"
        ))),
    }
}
