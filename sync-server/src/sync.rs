//! The device side: enrollment and one sync call = one transaction. New cases enter the dispatch pool in
//! the same transaction that stores them, so a case that was acknowledged is always in the pool, once.
//! A case the worker verified on site is closed by the server in that same transaction (the core's
//! `workflow::follow_up`), so the device receives the closure in the answer to the sync that carried
//! the verification.

use chrono::{DateTime, Utc};
use gridpatrol_core::case::CaseId;
use gridpatrol_core::sync::rules::reserved_device_id;
use gridpatrol_core::sync::server::{ActionError, SyncBackend};
use gridpatrol_core::sync::{Prepared, ServerFacts, SyncError, SyncRequest, SyncResponse};
use serde::Serialize;

use crate::centre::CommandCentre;
use crate::db::DbError;
use crate::error::ServerError;
use crate::metrics::add;
use crate::pool::DispatchPool;
use crate::principal::DeviceAuth;

/// What `POST /api/v1/devices/enroll` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolled {
    pub worker_id: String,
    pub device_id: String,
    pub cells: Vec<String>,
    pub server_time: DateTime<Utc>,
}

impl<E: Into<ServerError> + std::error::Error> From<SyncError<E>> for ServerError {
    fn from(e: SyncError<E>) -> Self {
        match e {
            SyncError::TooLarge(m) => ServerError::TooLarge(m),
            SyncError::Backend(e) => e.into(),
        }
    }
}

impl From<std::convert::Infallible> for ServerError {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

/// A desk or system action the core did not record, as the API says it.
pub fn action_error(case: CaseId, e: ActionError<ServerError>) -> ServerError {
    match e {
        ActionError::NoSuchCase(_) => ServerError::NotFound(format!("no case {case} (案件不存在)")),
        ActionError::Refused(r) => ServerError::conflict("workflow", r.to_string()),
        ActionError::Flagged(_) => ServerError::conflict("flagged", e.to_string()),
        ActionError::Clock(_) => ServerError::conflict("clock", e.to_string()),
        ActionError::Document(e) => ServerError::Storage(DbError::Document(e)),
        ActionError::Backend(e) => e,
    }
}

pub fn check_device_id(id: &str) -> Result<(), ServerError> {
    if reserved_device_id(id) {
        return Err(ServerError::bad_request(
            "bad_device_id",
            format!("device id {id:?} is reserved for the server (设备编号保留给服务器，不可使用)"),
        ));
    }
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::bad_request(
            "bad_device_id",
            format!(
                "device id {id:?} must be 1 to 100 letters, digits, '-', '_' or '.' (设备编号格式错误)"
            ),
        ))
    }
}

impl CommandCentre {
    /// Binds the device id to the token on the first call; the same id again is fine, another is a 409.
    pub fn enroll(&self, device: &DeviceAuth, device_id: &str) -> Result<Enrolled, ServerError> {
        check_device_id(device_id)?;
        self.db.write(|w| {
            let current = w
                .device_by_token(&device.token_hash)?
                .ok_or_else(|| ServerError::Unauthorized("unknown device token (设备令牌无效)".into()))?;
            match current.device_id.as_deref() {
                Some(bound) if bound == device_id => {}
                Some(bound) => {
                    return Err(ServerError::conflict(
                        "device_bound",
                        format!(
                            "this token is already bound to device {bound}; ask for a new token for another device (令牌已绑定其他设备)"
                        ),
                    ));
                }
                None => {
                    // A device id belongs to the worker who first enrolled it, for good: its automerge
                    // actor wrote that worker's records, and its sync state names their cases.
                    if let Some(owner) = w.device_id_owner(device_id)?
                        && owner != current.worker.id
                    {
                        return Err(ServerError::conflict(
                            "device_bound",
                            format!(
                                "device {device_id} belongs to another worker and can never be enrolled for {} (设备已属于其他网格员，不可转用)",
                                current.worker.id
                            ),
                        ));
                    }
                    if w.device_id_taken(device_id, &device.token_hash)? {
                        return Err(ServerError::conflict(
                            "device_bound",
                            format!("device {device_id} is enrolled with another token (设备已用其他令牌注册)"),
                        ));
                    }
                    w.bind_device(&device.token_hash, device_id)?;
                    w.audit(&format!("device:{}/{device_id}", current.worker.id), "enroll", None, None)?;
                }
            }
            Ok(Enrolled {
                worker_id: current.worker.id.clone(),
                device_id: device_id.to_owned(),
                cells: current.worker.cells.clone(),
                server_time: Utc::now(),
            })
        })
    }

    /// One sync call: decode and bound what the device pushed (outside the write lock), then merge it
    /// and answer with what it lacks, in one transaction. A refused case is answered as refused, written
    /// to the audit log, and does not stop the others.
    pub fn sync_device(
        &self,
        device: &DeviceAuth,
        request: &SyncRequest,
    ) -> Result<SyncResponse, ServerError> {
        let scope = device.scope()?;
        let prepared = self.sync.prepare(&scope, request)?;
        let reference = self.reference();
        let now = Utc::now();
        let facts = ServerFacts {
            catalog: &reference.catalog,
            grids: &reference.grids,
            now,
        };
        // The worker was given other cells since this device last synced: pull from the beginning, so
        // the device receives the older cases of its new cells (what it holds already is not resent).
        let rescoped = device.synced_cells.as_ref() != Some(&scope.cells);
        let prepared = Prepared {
            cursor: if rescoped { 0 } else { prepared.cursor },
            ..prepared
        };
        let outcome = self.db.write(|w| {
            if rescoped {
                w.set_synced_cells(&device.token_hash, &scope.cells)?;
            }
            let outcome = self.sync.handle(w, &scope, &facts, &prepared)?;
            for case in &outcome.new_cases {
                DispatchPool::enter(w, &reference, *case)?;
            }
            for (case, refusal) in &outcome.refused {
                w.audit(
                    &device.name(),
                    "sync_refused",
                    Some(*case),
                    Some(&format!("{}: {}", refusal.kind.code(), refusal.reason)),
                )?;
            }
            for (case, action) in &outcome.followed_up {
                w.audit(
                    "system",
                    action.kind.as_str(),
                    Some(*case),
                    Some(action.note),
                )?;
            }
            Ok::<_, ServerError>(outcome)
        })?;
        for (case, refusal) in &outcome.refused {
            add(&self.metrics.refusals, 1);
            tracing::warn!(principal = %device.name(), %case, code = refusal.kind.code(), reason = %refusal.reason, "sync refused a case");
        }
        add(&self.metrics.sync_requests, 1);
        add(&self.metrics.sync_docs_in, request.docs.len() as u64);
        add(
            &self.metrics.sync_docs_out,
            outcome.response.docs.len() as u64,
        );
        for (case, _) in &outcome.followed_up {
            add(&self.metrics.auto_closed, 1);
            tracing::info!(case = %case, "verified case closed");
        }
        Ok(outcome.response)
    }

    /// What the system does by itself for a case that reached a stage without it (a sync that failed
    /// after committing, data from before the follow-up was recorded in the sync): the sweep of
    /// supervision calls it for verified cases. Returns whether it recorded anything.
    pub fn close_if_verified(&self, case: CaseId) -> Result<bool, ServerError> {
        let closed = self.db.write(|w| {
            let Some(mut doc) = w.load(case)? else {
                return Ok(false);
            };
            let read = doc.read().map_err(DbError::from)?;
            let Some(action) = self.sync.follow_up(w, &mut doc, &read, Utc::now())? else {
                return Ok(false);
            };
            w.audit(
                "system",
                action.kind.as_str(),
                Some(case),
                Some(action.note),
            )?;
            Ok::<_, ServerError>(true)
        })?;
        if closed {
            add(&self.metrics.auto_closed, 1);
            tracing::info!(case = %case, "verified case closed");
        }
        Ok(closed)
    }
}
