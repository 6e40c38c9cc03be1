//! Admin commands: the district, reference data, workers, devices and desks. Each command is one
//! transaction: bad input is refused before anything is written.

use gridpatrol_core::calendar::WorkCalendar;
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::dispatch::RoutingRules;
use gridpatrol_core::grid::GridIndex;
use serde::Serialize;

use crate::centre::CommandCentre;
use crate::db::{
    DeskListing, DeskRow, DeviceListing, DeviceSelector, District, RefName, WorkerRow,
};
use crate::error::ServerError;
use crate::principal::{DESK_TOKEN_PREFIX, DEVICE_TOKEN_PREFIX, DeskRole, new_token};

fn bad(code: &'static str, message: String) -> ServerError {
    ServerError::bad_request(code, message)
}

fn sha_version(body: &str) -> String {
    gridpatrol_core::photo::sha256_hex(body.as_bytes())[..16].to_owned()
}

/// An id people type: letters, digits, '-', '_', '.', 1 to 64 characters.
pub fn check_id(what: &str, id: &str) -> Result<(), ServerError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "bad_id",
            format!(
                "{what} id {id:?} must be 1 to 64 letters, digits, '-', '_' or '.' (编号格式错误)"
            ),
        ))
    }
}

fn check_name(what: &str, name: &str) -> Result<String, ServerError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad(
            "bad_name",
            format!("{what} name must be 1 to 100 characters (名称不能为空且不超过100字)"),
        ));
    }
    Ok(name.to_owned())
}

/// A cell code or prefix (district 6, street 9, community 12, cell 15 digits) naming known cells.
fn check_cell_prefix(centre: &CommandCentre, prefix: &str) -> Result<(), ServerError> {
    let well_formed =
        [6, 9, 12, 15].contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(bad(
            "bad_cell",
            format!(
                "{prefix:?} is not a cell code or prefix of 6, 9, 12 or 15 digits (网格编码或前缀须为 6、9、12 或 15 位数字)"
            ),
        ));
    }
    if !centre.reference().knows_cells(prefix) {
        return Err(bad(
            "unknown_cell",
            format!(
                "unknown cell code or prefix {prefix}: no imported grid cell has it; import the grids first (未知的网格编码)"
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub what: &'static str,
    pub items: usize,
    pub version: String,
}

pub fn create_district(
    centre: &CommandCentre,
    code: &str,
    name: &str,
) -> Result<District, ServerError> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "bad_district",
            format!(
                "district code {code:?} must be 6 digits (GB/T 2260) (行政区划代码须为6位数字)"
            ),
        ));
    }
    let district = District {
        code: code.to_owned(),
        name: check_name("district", name)?,
    };
    centre.db.write(|w| {
        if !w.add_district(&district)? {
            return Err(ServerError::conflict(
                "exists",
                format!("district {code} exists already (行政区已存在)"),
            ));
        }
        Ok(())
    })?;
    centre.refresh_reference()?;
    Ok(district)
}

pub fn import_grids(centre: &CommandCentre, geojson: &str) -> Result<Imported, ServerError> {
    let index = GridIndex::from_geojson(geojson).map_err(|e| bad("bad_grids", e.to_string()))?;
    if index.is_empty() {
        return Err(bad(
            "bad_grids",
            "the grid file holds no cells (网格文件为空)".into(),
        ));
    }
    let districts = centre.reference().districts.clone();
    if districts.is_empty() {
        return Err(bad(
            "no_district",
            "create the district first: admin district create --code ... --name ... (请先创建行政区)".into(),
        ));
    }
    if let Some(cell) = index
        .cells()
        .iter()
        .find(|c| !districts.iter().any(|d| d.code == c.code.division()))
    {
        return Err(bad(
            "unknown_district",
            format!(
                "cell {} lies in division {}, which is not a created district (网格所属行政区未创建)",
                cell.code,
                cell.code.division()
            ),
        ));
    }
    let body = index.to_geojson();
    let version = sha_version(&body);
    centre
        .db
        .write(|w| w.put_reference(RefName::Grids, &version, &body))?;
    centre.refresh_reference()?;
    Ok(Imported {
        what: "grids",
        items: index.len(),
        version,
    })
}

pub fn import_catalog(centre: &CommandCentre, csv: Option<&str>) -> Result<Imported, ServerError> {
    let catalog = match csv {
        Some(text) => Catalog::from_csv(text).map_err(|e| bad("bad_catalog", e.to_string()))?,
        None => Catalog::builtin(),
    };
    // Routing rules naming a category the new catalogue lacks would silently never apply.
    centre
        .reference()
        .routing
        .check_categories(&catalog)
        .map_err(|e| {
            bad(
                "bad_catalog",
                format!("the routing rules no longer fit: {e}"),
            )
        })?;
    let version = catalog.version();
    centre
        .db
        .write(|w| w.put_reference(RefName::Catalog, &version, &catalog.to_csv()))?;
    centre.refresh_reference()?;
    Ok(Imported {
        what: "catalog",
        items: catalog.len(),
        version,
    })
}

pub fn import_routing(centre: &CommandCentre, csv: Option<&str>) -> Result<Imported, ServerError> {
    let rules = match csv {
        Some(text) => {
            RoutingRules::from_csv(text).map_err(|e| bad("bad_routing", e.to_string()))?
        }
        None => RoutingRules::builtin(),
    };
    rules
        .check_categories(&centre.reference().catalog)
        .map_err(|e| bad("bad_routing", e.to_string()))?;
    let version = rules.version();
    centre
        .db
        .write(|w| w.put_reference(RefName::Routing, &version, &rules.to_csv()))?;
    centre.refresh_reference()?;
    Ok(Imported {
        what: "routing",
        items: rules.len(),
        version,
    })
}

pub fn import_calendar(
    centre: &CommandCentre,
    json: Option<&str>,
) -> Result<Imported, ServerError> {
    let calendar = match json {
        Some(text) => {
            WorkCalendar::from_json(text).map_err(|e| bad("bad_calendar", e.to_string()))?
        }
        None => WorkCalendar::builtin(),
    };
    let body = calendar.to_json();
    let version = sha_version(&body);
    centre
        .db
        .write(|w| w.put_reference(RefName::Calendar, &version, &body))?;
    centre.refresh_reference()?;
    Ok(Imported {
        what: "calendar",
        items: 1,
        version,
    })
}

/// A worker's cells as typed: trimmed, at least one, each naming known cells.
fn check_cells(centre: &CommandCentre, cells: &[String]) -> Result<Vec<String>, ServerError> {
    let cells: Vec<String> = cells
        .iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if cells.is_empty() {
        return Err(bad(
            "bad_cell",
            "a worker needs at least one cell (须指定网格)".into(),
        ));
    }
    for c in &cells {
        check_cell_prefix(centre, c)?;
    }
    Ok(cells)
}

pub fn add_worker(
    centre: &CommandCentre,
    id: &str,
    name: &str,
    cells: &[String],
) -> Result<WorkerRow, ServerError> {
    check_id("worker", id)?;
    let cells = check_cells(centre, cells)?;
    let worker = WorkerRow {
        id: id.to_owned(),
        name: check_name("worker", name)?,
        cells,
    };
    centre.db.write(|w| {
        if !w.add_worker(&worker)? {
            return Err(ServerError::conflict(
                "exists",
                format!("worker {id} exists already (网格员已存在)"),
            ));
        }
        w.audit("admin", "worker add", None, Some(id))?;
        Ok(())
    })?;
    Ok(worker)
}

/// Gives a worker other cells (a reassignment, 调整网格). The worker's devices receive the cases of the
/// new cells and the new cells' polygons at their next sync; the worker keeps their id and history.
pub fn set_worker_cells(
    centre: &CommandCentre,
    id: &str,
    cells: &[String],
) -> Result<WorkerRow, ServerError> {
    let cells = check_cells(centre, cells)?;
    centre.db.write(|w| {
        let Some(mut worker) = w.worker(id)? else {
            return Err(ServerError::NotFound(format!(
                "no worker {id} (网格员不存在)"
            )));
        };
        w.set_worker_cells(id, &cells)?;
        w.audit(
            "admin",
            "worker set-cells",
            None,
            Some(&format!("{id}: {}", cells.join(","))),
        )?;
        worker.cells = cells;
        Ok(worker)
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct NewDevice {
    pub worker_id: String,
    pub token: String,
}

pub fn add_device(centre: &CommandCentre, worker_id: &str) -> Result<NewDevice, ServerError> {
    let (token, hash) = new_token(DEVICE_TOKEN_PREFIX);
    centre.db.write(|w| {
        if w.worker(worker_id)?.is_none() {
            return Err(bad(
                "unknown_worker",
                format!("no worker {worker_id}; add it first (网格员不存在)"),
            ));
        }
        w.add_device(&hash, worker_id)?;
        w.audit("admin", "device add", None, Some(worker_id))?;
        Ok(())
    })?;
    Ok(NewDevice {
        worker_id: worker_id.to_owned(),
        token,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct NewDesk {
    #[serde(flatten)]
    pub desk: DeskRow,
    pub token: String,
}

pub fn add_desk(
    centre: &CommandCentre,
    id: &str,
    role: &str,
    scope: &str,
    department: Option<&str>,
) -> Result<NewDesk, ServerError> {
    check_id("desk", id)?;
    let role = DeskRole::parse(role)?;
    check_cell_prefix(centre, scope)?;
    let department = department.map(str::trim).filter(|d| !d.is_empty());
    let department = match (role, department) {
        (DeskRole::Department, Some(d)) => Some(check_name("department", d)?),
        (DeskRole::Department, None) => {
            return Err(bad(
                "bad_department",
                "a department desk needs --department, named as in the catalogue or routing rules (须指定部门)".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(bad(
                "bad_department",
                "--department is only for department desks (仅专业部门坐席可指定部门)".into(),
            ));
        }
        (_, None) => None,
    };
    let desk = DeskRow {
        id: id.to_owned(),
        role: role.as_str().to_owned(),
        scope: scope.to_owned(),
        department,
    };
    let (token, hash) = new_token(DESK_TOKEN_PREFIX);
    centre.db.write(|w| {
        if !w.add_desk(&hash, &desk)? {
            return Err(ServerError::conflict(
                "exists",
                format!("desk {id} exists already (坐席已存在)"),
            ));
        }
        w.audit("admin", "desk add", None, Some(id))?;
        Ok(())
    })?;
    Ok(NewDesk { desk, token })
}

/// The workers, each with how many live device tokens it has.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerListing {
    #[serde(flatten)]
    pub worker: WorkerRow,
    pub live_devices: usize,
}

pub fn list_workers(centre: &CommandCentre) -> Result<Vec<WorkerListing>, ServerError> {
    Ok(centre.db.read(|r| {
        let devices = r.devices(None)?;
        Ok::<_, crate::db::DbError>(
            r.workers()?
                .into_iter()
                .map(|worker| {
                    let live_devices = devices
                        .iter()
                        .filter(|d| d.worker_id == worker.id && d.revoked_at.is_none())
                        .count();
                    WorkerListing {
                        worker,
                        live_devices,
                    }
                })
                .collect(),
        )
    })?)
}

pub fn list_devices(
    centre: &CommandCentre,
    worker: Option<&str>,
) -> Result<Vec<DeviceListing>, ServerError> {
    Ok(centre.db.read(|r| r.devices(worker))?)
}

pub fn list_desks(centre: &CommandCentre) -> Result<Vec<DeskListing>, ServerError> {
    Ok(centre.db.read(|r| r.desks())?)
}

/// Revokes device tokens (a lost or stolen PDA, a worker who left): from the next request on, the
/// server answers them 401. What the device had not synced stays on the device.
pub fn revoke_devices(
    centre: &CommandCentre,
    selector: DeviceSelector<'_>,
) -> Result<Vec<DeviceListing>, ServerError> {
    centre.db.write(|w| {
        let revoked = w.revoke_devices(selector)?;
        if revoked.is_empty() {
            let what = match selector {
                DeviceSelector::DeviceId(id) => {
                    format!("no live token is bound to device {id} (该设备无有效令牌)")
                }
                DeviceSelector::Worker(worker) => {
                    format!("worker {worker} has no live device token (该网格员无有效设备令牌)")
                }
            };
            return Err(ServerError::NotFound(what));
        }
        for d in &revoked {
            let who = format!(
                "device:{}/{}",
                d.worker_id,
                d.device_id.as_deref().unwrap_or("-")
            );
            w.audit("admin", "device revoke", None, Some(&who))?;
        }
        Ok(revoked)
    })
}

pub fn revoke_desk(centre: &CommandCentre, id: &str) -> Result<(), ServerError> {
    centre.db.write(|w| {
        if !w.revoke_desk(id)? {
            return Err(ServerError::NotFound(format!(
                "no desk {id} with a live token (无此坐席或已吊销)"
            )));
        }
        w.audit("admin", "desk revoke", None, Some(id))?;
        Ok(())
    })
}

/// A new token for a desk (a leaked or forgotten one); the old token stops working, and a revoked desk
/// is reinstated.
pub fn rotate_desk(centre: &CommandCentre, id: &str) -> Result<NewDesk, ServerError> {
    let (token, hash) = new_token(DESK_TOKEN_PREFIX);
    let desk = centre.db.write(|w| {
        let desk = w
            .rotate_desk(id, &hash)?
            .ok_or_else(|| ServerError::NotFound(format!("no desk {id} (无此坐席)")))?;
        w.audit("admin", "desk rotate", None, Some(id))?;
        Ok::<_, ServerError>(desk)
    })?;
    Ok(NewDesk { desk, token })
}
