//! `gridpatrol demo`: a store with a demo district, so that a newcomer sees something real at once.

use std::path::Path;

use anyhow::{Result, bail};
use geo::Centroid;
use gridpatrol_core::case::{CaseEdit, Location};
use gridpatrol_core::grid::{GeneratedDistrict, GridIndex};
use gridpatrol_core::store::{DeviceStore, NewReport};

/// What the demo worker found on patrol: (category, what they wrote, where).
const FINDINGS: &[(&str, &str, &str)] = &[
    (
        "01001",
        "供水井盖缺失，已设置临时围挡",
        "西长安街南侧人行道",
    ),
    ("06010", "路边暴露垃圾约两袋", "府右街 12 号门前"),
    ("09006", "早市摊贩占道经营", "灵境胡同东口"),
    ("09009", "机动车占用盲道停放", "西单北大街 88 号"),
    ("07001", "电线杆上张贴小广告", "大木仓胡同 3 号"),
    ("04002", "行道树倾斜，有倒伏风险", "太平桥大街西侧"),
    ("06042", "垃圾桶满溢未清运", "丰盛胡同社区垃圾站"),
    ("02014", "路口信号灯不亮", "西单路口"),
    ("08004", "工地未覆盖裸土，扬尘明显", "金融街 B7 地块"),
    ("01037", "路灯夜间不亮", "复兴门内大街 101 号"),
    ("09010", "共享单车堆放阻碍通行", "西单地铁站 D 口"),
    ("L9002", "电动车楼道内充电", "辟才胡同 21 号楼"),
];

pub fn create(dir: &Path) -> Result<DeviceStore> {
    if dir.join("store.sqlite3").exists() {
        bail!(
            "{} already holds a store; give an empty or new directory for the demo (目录中已有数据，请换一个空目录)",
            dir.display()
        );
    }
    let cells = GridIndex::new(GeneratedDistrict::demo().cells())?;
    let mut store = DeviceStore::init(dir, "worker-demo")?;
    store.import_grids(&cells.to_geojson())?;

    let centres: Vec<(f64, f64)> = cells
        .cells()
        .iter()
        .filter_map(|c| c.polygon.centroid())
        .map(|p| (p.y(), p.x()))
        .collect();
    let mut ids = Vec::new();
    for (i, (category, note, address)) in FINDINGS.iter().enumerate() {
        let (lat, lon) = centres[(i * 7) % centres.len()];
        let id = store.report(NewReport {
            category: (*category).to_owned(),
            location: Location::new(lat, lon)?.with_accuracy(5.0)?,
            address: (*address).to_owned(),
            description: (*note).to_owned(),
            photos: Vec::new(),
        })?;
        ids.push(id);
    }
    // A correction, as workers make them before the centre registers a case.
    if let Some(first) = ids.first() {
        store.edit(
            *first,
            CaseEdit {
                description: Some("供水井盖缺失，已设置临时围挡，需尽快更换".into()),
                ..CaseEdit::default()
            },
        )?;
    }
    Ok(store)
}
