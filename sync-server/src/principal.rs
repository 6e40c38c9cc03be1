//! Who calls: a grid worker's device or a desk (dispatcher, supervisor, department), known by a bearer
//! token. Tokens are 32 random bytes shown once (`gpd_<hex>` for devices, `gpk_<hex>` for desks) and
//! stored only as their sha256.

use gridpatrol_core::case::Case;
use gridpatrol_core::sync::DeviceScope;
use gridpatrol_core::workflow::Role;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::{CaseRow, DeskRow, ListScope, WorkerRow};
use crate::error::ServerError;

pub const DEVICE_TOKEN_PREFIX: &str = "gpd_";
pub const DESK_TOKEN_PREFIX: &str = "gpk_";

/// A new token and the hash the database keeps.
pub fn new_token(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", hex::encode(bytes));
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A grid worker's device, authenticated.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub token_hash: String,
    pub worker: WorkerRow,
    /// Bound at enrollment.
    pub device_id: Option<String>,
    /// The worker's cells as of this device's last sync; `None` before its first.
    pub synced_cells: Option<Vec<String>>,
    /// The worker's cells before each reassignment, newest first.
    pub former_cells: Vec<gridpatrol_core::sync::FormerCells>,
}

impl DeviceAuth {
    /// What the device may see and touch; only once it is enrolled.
    pub fn scope(&self) -> Result<DeviceScope, ServerError> {
        let device_id = self.device_id.clone().ok_or_else(|| {
            ServerError::refused(
                "not_enrolled",
                "this device token is not enrolled yet: call POST /api/v1/devices/enroll first (设备尚未注册)",
            )
        })?;
        Ok(DeviceScope {
            device_id,
            worker_id: self.worker.id.clone(),
            cells: self.worker.cells.clone(),
            former_cells: self.former_cells.clone(),
        })
    }

    pub fn name(&self) -> String {
        format!(
            "device:{}/{}",
            self.worker.id,
            self.device_id.as_deref().unwrap_or("-")
        )
    }
}

/// The kinds of desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskRole {
    Dispatcher,
    Supervisor,
    Department,
}

impl DeskRole {
    pub fn parse(s: &str) -> Result<DeskRole, ServerError> {
        match s {
            "dispatcher" => Ok(DeskRole::Dispatcher),
            "supervisor" => Ok(DeskRole::Supervisor),
            "department" => Ok(DeskRole::Department),
            other => Err(ServerError::bad_request(
                "bad_role",
                format!(
                    "unknown desk role {other:?}: use dispatcher, supervisor or department (角色须为 dispatcher、supervisor 或 department)"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeskRole::Dispatcher => "dispatcher",
            DeskRole::Supervisor => "supervisor",
            DeskRole::Department => "department",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            DeskRole::Dispatcher => "派遣员",
            DeskRole::Supervisor => "值班长/监督",
            DeskRole::Department => "专业部门",
        }
    }

    /// The role the workflow knows.
    pub fn role(self) -> Role {
        match self {
            DeskRole::Dispatcher => Role::Dispatcher,
            DeskRole::Supervisor => Role::Supervisor,
            DeskRole::Department => Role::Department,
        }
    }
}

/// A person at a desk, authenticated: a role, a scope (cell code prefix) and, for a department, which.
#[derive(Debug, Clone, Serialize)]
pub struct Desk {
    pub id: String,
    pub role: DeskRole,
    pub scope: String,
    pub department: Option<String>,
}

impl Desk {
    pub fn from_row(row: DeskRow) -> Result<Desk, ServerError> {
        Ok(Desk {
            role: DeskRole::parse(&row.role)?,
            id: row.id,
            scope: row.scope,
            department: row.department,
        })
    }

    pub fn name(&self) -> String {
        format!("desk:{}", self.id)
    }

    pub fn list_scope(&self) -> ListScope {
        ListScope {
            cell_prefix: self.scope.clone(),
            department: match self.role {
                DeskRole::Department => Some(self.department.clone().unwrap_or_default()),
                _ => None,
            },
        }
    }

    pub(crate) fn sees_parts(&self, cell: Option<&str>, department: Option<&str>) -> bool {
        let in_area = cell.is_some_and(|c| c.starts_with(self.scope.as_str()));
        let own = match self.role {
            DeskRole::Department => {
                department.is_some() && department == self.department.as_deref()
            }
            _ => true,
        };
        in_area && own
    }

    pub fn sees_row(&self, row: &CaseRow) -> bool {
        self.sees_parts(row.cell.as_deref(), row.department.as_deref())
    }

    pub fn sees(&self, case: &Case) -> bool {
        self.sees_parts(case.cell.as_deref(), case.timeline.department.as_deref())
    }

    pub fn out_of_scope(&self) -> ServerError {
        let why = match self.role {
            DeskRole::Department => format!(
                "the case is not dispatched to {} in {} (案件未派遣给本部门或不在本辖区)",
                self.department.as_deref().unwrap_or("-"),
                self.scope
            ),
            _ => format!(
                "the case is outside this desk's area {} (案件不在本辖区)",
                self.scope
            ),
        };
        ServerError::refused("out_of_scope", why)
    }
}

/// Whoever called: reference data (grids, catalogue) is served to both.
#[derive(Debug, Clone)]
pub enum Principal {
    Device(DeviceAuth),
    Desk(Desk),
}

impl Principal {
    /// The cell prefixes this principal may see grids of.
    pub fn cell_prefixes(&self) -> Vec<String> {
        match self {
            Principal::Device(d) => d.worker.cells.clone(),
            Principal::Desk(d) => vec![d.scope.clone()],
        }
    }
}
