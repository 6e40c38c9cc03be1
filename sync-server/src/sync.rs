//! The device side: enrollment and one sync call = one transaction. New cases enter the dispatch pool in
//! the same transaction that stores them, so a case that was acknowledged is always in the pool, once.
//! After the commit, a case the worker verified on site is closed by the server.

use chrono::{DateTime, Utc};
use gridpatrol_core::case::CaseId;
use gridpatrol_core::sync::server::ActionError;
use gridpatrol_core::sync::{SyncError, SyncRequest, SyncResponse};
use gridpatrol_core::timeline::{Hlc, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role, Stage};
use serde::Serialize;

use crate::centre::CommandCentre;
use crate::db::{DbError, audit};
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

impl From<SyncError<DbError>> for ServerError {
    fn from(e: SyncError<DbError>) -> Self {
        match e {
            SyncError::Refused { case, reason } => {
                ServerError::refused("sync_refused", format!("case {case}: {reason}"))
            }
            SyncError::Malformed { case, reason } => {
                ServerError::bad_request("malformed", format!("case {case}: {reason}"))
            }
            SyncError::Backend(e) => ServerError::Storage(e),
        }
    }
}

pub fn check_device_id(id: &str) -> Result<(), ServerError> {
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

    /// One sync call: merge what the device pushed, answer with what it lacks, in one transaction.
    pub fn sync_device(
        &self,
        device: &DeviceAuth,
        request: &SyncRequest,
    ) -> Result<SyncResponse, ServerError> {
        let scope = device.scope()?;
        let reference = self.reference();
        let mut refused_case = None;
        // The worker was given other cells since this device last synced: pull from the beginning, so
        // the device receives the older cases of its new cells (what it holds already is not resent).
        let rescoped = device.synced_cells.as_ref() != Some(&scope.cells);
        let from_start;
        let request = if rescoped && request.cursor > 0 {
            from_start = SyncRequest {
                cursor: 0,
                docs: request.docs.clone(),
            };
            &from_start
        } else {
            request
        };
        let result = self.db.write(|w| {
            if rescoped {
                w.set_synced_cells(&device.token_hash, &scope.cells)?;
            }
            let outcome = self.sync.handle(w, &scope, request).map_err(|e| {
                if let SyncError::Refused { case, .. } = &e {
                    refused_case = Some(CaseId(*case));
                }
                ServerError::from(e)
            })?;
            for case in &outcome.new_cases {
                DispatchPool::enter(w, &reference, *case)?;
            }
            Ok::<_, ServerError>(outcome)
        });
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                if let ServerError::Refused { reason, .. } = &e {
                    add(&self.metrics.refusals, 1);
                    tracing::warn!(principal = %device.name(), %reason, "sync refused");
                    audit(&self.db, &device.name(), "sync", refused_case, Some(reason))?;
                }
                return Err(e);
            }
        };
        add(&self.metrics.sync_requests, 1);
        add(&self.metrics.sync_docs_in, request.docs.len() as u64);
        add(
            &self.metrics.sync_docs_out,
            outcome.response.docs.len() as u64,
        );
        for case in &outcome.changed_cases {
            if let Err(e) = self.close_if_verified(*case) {
                // The sync is committed; supervision's sweep closes the case later.
                tracing::error!(case = %case, error = %e, "closing a verified case failed");
            }
        }
        Ok(outcome.response)
    }

    /// Closes a case whose valid verification passed (the worker checked on site). Returns whether it did.
    pub fn close_if_verified(&self, case: CaseId) -> Result<bool, ServerError> {
        let closed = self.db.write(|w| {
            let Some(row) = w.case_row(case)? else {
                return Ok(false);
            };
            if row.stage != Stage::Verified {
                return Ok(false);
            }
            let mut event = TimelineEvent::new(
                ActionKind::Close,
                "system",
                Role::System,
                Hlc {
                    wall_ms: 0,
                    counter: 0,
                },
            );
            event.note = Some("核查通过，系统结案 (verified on site; closed by the system)".into());
            match self.sync.record(w, case, event, Utc::now()) {
                Ok(_) => {
                    w.audit("system", "close", Some(case), Some("verification passed"))?;
                    Ok(true)
                }
                Err(ActionError::Refused(_)) | Err(ActionError::NoSuchCase(_)) => Ok(false),
                Err(ActionError::Document(e)) => Err(ServerError::Storage(DbError::Document(e))),
                Err(ActionError::Backend(e)) => Err(ServerError::Storage(e)),
            }
        })?;
        if closed {
            add(&self.metrics.auto_closed, 1);
            tracing::info!(case = %case, "verified case closed");
        }
        Ok(closed)
    }
}
