//! The demo district: the core's generated district (36 cells in two streets), the shipped reference
//! data, two grid workers with a device each, a dispatcher, a supervisor, one desk per department the
//! demo cases are routed to, and a few cases already in the pool at various stages. Seeding goes through
//! the same paths as real use: admin commands, a device sync, desk actions.

use std::path::Path;

use chrono::{Duration, Utc};
use gridpatrol_core::case::{CaseDetails, CaseId, Location};
use gridpatrol_core::catalog::CategoryKey;
use gridpatrol_core::doc::{CaseDoc, NewCase, actor_for};
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::sync::server::{encode_changes, heads_to_wire};
use gridpatrol_core::sync::{DocPush, SyncRequest};
use gridpatrol_core::timeline::{Hlc, TimelineEvent};
use gridpatrol_core::workflow::{ActionKind, Role, Stage};
use serde::{Deserialize, Serialize};

use crate::actions::ActionRequest;
use crate::admin;
use crate::centre::CommandCentre;
use crate::db::DbError;
use crate::error::ServerError;
use crate::principal::{Desk, DeskRole, DeviceAuth, hash_token};

pub const TOKENS_FILE: &str = "demo-tokens.json";
const DEMO_MARK: &str = "demo";
pub const DISTRICT: &str = "110102";

/// One token the demo hands out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoToken {
    /// "device", "dispatcher", "supervisor" or "department".
    pub role: String,
    pub role_zh: String,
    /// The worker (devices) or the desk id.
    pub id: String,
    pub name: String,
    pub scope: String,
    pub department: Option<String>,
    pub token: String,
}

/// Whether `dir` holds a seeded demo.
pub fn is_seeded(centre: &CommandCentre) -> Result<bool, DbError> {
    Ok(centre.db.read(|r| r.meta(DEMO_MARK))?.as_deref() == Some("1"))
}

/// Case facts for the demo: category, street (1 or 2), cell number in the street's first community,
/// description, address, and how far along the loop it is.
struct DemoCase {
    code: &'static str,
    street: u32,
    cell: u32,
    description: &'static str,
    address: &'static str,
    stage: Stage,
}

const CASES: [DemoCase; 6] = [
    DemoCase {
        code: "06010",
        street: 1,
        cell: 1,
        description: "路边堆放生活垃圾约两立方米 (rubbish piled by the road)",
        address: "西长安街府右街口",
        stage: Stage::Reported,
    },
    DemoCase {
        code: "07001",
        street: 2,
        cell: 2,
        description: "电线杆上张贴小广告 (illegal flyers on a pole)",
        address: "新街口北大街 12 号",
        stage: Stage::Registered,
    },
    DemoCase {
        code: "01037",
        street: 1,
        cell: 3,
        description: "路灯夜间不亮 (street light out at night)",
        address: "灵境胡同东口",
        stage: Stage::Dispatched,
    },
    DemoCase {
        code: "09006",
        street: 2,
        cell: 4,
        description: "人行道上摆摊占道经营 (street vending on the pavement)",
        address: "西直门内大街 88 号",
        stage: Stage::Accepted,
    },
    DemoCase {
        code: "06012",
        street: 1,
        cell: 5,
        description: "路面散落泥土 (soil spilled on the road)",
        address: "西单北大街 120 号",
        stage: Stage::VerificationRequested,
    },
    DemoCase {
        code: "06010",
        street: 2,
        cell: 6,
        description: "小区门口暴露垃圾 (exposed rubbish at an estate gate)",
        address: "赵登禹路 30 号",
        stage: Stage::FeedbackGiven,
    },
];

fn seed_device(centre: &CommandCentre, worker: &str) -> Result<DeviceAuth, ServerError> {
    // A device that reported the demo cases "earlier"; its token is never shown.
    let token = admin::add_device(centre, worker)?.token;
    let hash = hash_token(&token);
    let device_id = format!("dev-demo-seed-{worker}");
    let row = centre
        .db
        .read(|r| r.device_by_token(&hash))?
        .ok_or_else(|| ServerError::Internal("seed device vanished".into()))?;
    let device = DeviceAuth {
        token_hash: hash,
        worker: row.worker,
        device_id: None,
        synced_cells: None,
        former_cells: row.former_cells,
    };
    centre.enroll(&device, &device_id)?;
    Ok(DeviceAuth {
        device_id: Some(device_id),
        ..device
    })
}

fn report(
    centre: &CommandCentre,
    device: &DeviceAuth,
    grids: &GridIndex,
    c: &DemoCase,
    minutes_ago: i64,
) -> Result<CaseId, ServerError> {
    let code = format!("{DISTRICT}{:03}001{:03}", c.street, c.cell);
    let cell = grids
        .cells()
        .iter()
        .find(|x| x.code.as_str() == code)
        .ok_or_else(|| ServerError::Internal(format!("demo cell {code} missing")))?;
    // The middle of the cell's outline.
    let ring = &cell.polygon.0[0].exterior().0;
    let n = ring.len().max(1) as f64;
    let (lon, lat) = ring
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.x / n, y + p.y / n));
    let device_id = device.device_id.clone().unwrap_or_default();
    let created_at = Utc::now() - Duration::minutes(minutes_ago);
    let case = NewCase {
        id: CaseId::generate(),
        reporter: device.worker.id.clone(),
        device: device_id.clone(),
        cell: Some(code),
        location: Location::new(lat, lon)
            .and_then(|l| l.with_accuracy(8.0))
            .map_err(|e| ServerError::Internal(e.to_string()))?,
        details: CaseDetails {
            category: CategoryKey::current(c.code),
            address: c.address.into(),
            description: c.description.into(),
        },
        created_at,
    };
    let mut event = TimelineEvent::new(
        ActionKind::Report,
        &device.worker.id,
        Role::GridWorker,
        Hlc::tick(None, created_at.timestamp_millis()),
    );
    event.device = Some(device_id.clone());
    let mut doc = CaseDoc::create(actor_for(&device_id), &case, &event, &[])
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    let request = SyncRequest {
        cursor: 0,
        docs: vec![DocPush {
            case: case.id.0,
            heads: heads_to_wire(&doc.heads()),
            changes: encode_changes(doc.changes_since(&[])),
        }],
    };
    centre.sync_device(device, &request)?;
    Ok(case.id)
}

fn act(
    centre: &CommandCentre,
    desk: &Desk,
    case: CaseId,
    action: &str,
    note: &str,
) -> Result<(), ServerError> {
    let request = ActionRequest {
        action: action.into(),
        note: Some(note.into()),
        department: None,
        deadline: None,
        hours: None,
        assignee: None,
    };
    centre.act(desk, case, &request).map(|_| ())
}

fn desk(id: &str, role: DeskRole, department: Option<&str>) -> Desk {
    Desk {
        id: id.into(),
        role,
        scope: DISTRICT.into(),
        department: department.map(Into::into),
    }
}

/// Seeds an empty data directory with the demo and writes the tokens file (mode 0600).
pub fn seed(centre: &CommandCentre, dir: &Path) -> Result<Vec<DemoToken>, ServerError> {
    admin::create_district(centre, DISTRICT, "西城区（演示）")?;
    let grids = GridIndex::new(GeneratedDistrict::demo().cells())
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    admin::import_grids(centre, &grids.to_geojson())?;
    admin::import_catalog(centre, None)?;
    admin::import_routing(centre, None)?;
    admin::import_calendar(centre, None)?;

    let mut tokens = Vec::new();
    let workers = [
        ("w-001", "张三", "110102001"),
        ("w-002", "李四", "110102002"),
    ];
    for (id, name, street) in workers {
        admin::add_worker(centre, id, name, &[street.to_owned()])?;
        let device = admin::add_device(centre, id)?;
        tokens.push(DemoToken {
            role: "device".into(),
            role_zh: "网格员设备".into(),
            id: id.into(),
            name: name.into(),
            scope: street.into(),
            department: None,
            token: device.token,
        });
    }
    for (id, role, name) in [
        ("d-dispatch", DeskRole::Dispatcher, "区指挥中心派遣员"),
        ("d-supervisor", DeskRole::Supervisor, "区指挥中心值班长"),
    ] {
        let new = admin::add_desk(centre, id, role.as_str(), DISTRICT, None)?;
        tokens.push(DemoToken {
            role: role.as_str().into(),
            role_zh: role.label_zh().into(),
            id: id.into(),
            name: name.into(),
            scope: DISTRICT.into(),
            department: None,
            token: new.token,
        });
    }

    // The cases, reported by seed devices of the two workers, then taken along the loop.
    let seeders = [seed_device(centre, "w-001")?, seed_device(centre, "w-002")?];
    let dispatcher = desk("d-dispatch", DeskRole::Dispatcher, None);
    let mut departments: Vec<String> = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let device = &seeders[(c.street - 1) as usize];
        let id = report(centre, device, &grids, c, 180 - 20 * i as i64)?;
        let route = centre
            .db
            .read(|r| r.pool_entry(id))?
            .and_then(|p| p.route.department)
            .ok_or_else(|| ServerError::Internal(format!("demo case {id} was not routed")))?;
        if !departments.contains(&route) {
            departments.push(route.clone());
        }
        let department = desk(
            &format!(
                "dept-{:02}",
                departments.iter().position(|d| *d == route).unwrap_or(0) + 1
            ),
            DeskRole::Department,
            Some(&route),
        );
        let steps: &[(&Desk, &str, &str)] = &[
            (
                &dispatcher,
                "register",
                "核实属实，立案 (verified, registered)",
            ),
            (
                &dispatcher,
                "dispatch",
                "按派遣规则派遣 (dispatched by the routing rules)",
            ),
            (&department, "accept", "已签收 (accepted)"),
            (&department, "handle", "已安排人员处置 (handled)"),
            (
                &department,
                "feedback",
                "处置完毕，请核查 (done, please verify)",
            ),
            (
                &dispatcher,
                "request_verification",
                "请网格员现场核查 (please verify on site)",
            ),
        ];
        let target = match c.stage {
            Stage::Reported => 0,
            Stage::Registered => 1,
            Stage::Dispatched => 2,
            Stage::Accepted => 3,
            Stage::FeedbackGiven => 5,
            Stage::VerificationRequested => 6,
            _ => 0,
        };
        for (who, action, note) in &steps[..target] {
            act(centre, who, id, action, note)?;
        }
    }
    for (i, department) in departments.iter().enumerate() {
        let id = format!("dept-{:02}", i + 1);
        let new = admin::add_desk(centre, &id, "department", DISTRICT, Some(department))?;
        tokens.push(DemoToken {
            role: "department".into(),
            role_zh: DeskRole::Department.label_zh().into(),
            id,
            name: department.clone(),
            scope: DISTRICT.into(),
            department: Some(department.clone()),
            token: new.token,
        });
    }
    write_tokens(dir, &tokens)?;
    centre.db.write(|w| w.set_meta(DEMO_MARK, "1"))?;
    Ok(tokens)
}

fn write_tokens(dir: &Path, tokens: &[DemoToken]) -> Result<(), ServerError> {
    use std::io::Write as _;
    let path = dir.join(TOKENS_FILE);
    let body =
        serde_json::to_string_pretty(tokens).map_err(|e| ServerError::Internal(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(&path)?;
    f.write_all(body.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
