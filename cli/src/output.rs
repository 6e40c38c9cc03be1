//! What the CLI prints: text for people (Chinese with English), or JSON for scripts.

use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, FixedOffset, Utc};
use gridpatrol_core::case::{Case, CaseId, PhotoRef};
use gridpatrol_core::catalog::Catalog;
use gridpatrol_core::store::upload::UploadState;
use gridpatrol_core::store::{CaseSummary, DeviceStore, Identity, ListFilter};
use gridpatrol_core::timeline::Outcome;
use serde::Serialize;
use serde_json::json;

pub struct Output {
    pub json: bool,
}

/// Times are shown in China Standard Time, as the people using this read them.
fn local(t: DateTime<Utc>) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    t.with_timezone(&cst).format("%Y-%m-%d %H:%M").to_string()
}

fn print_json<T: Serialize + ?Sized>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

impl Output {
    pub fn initialized(&self, id: &Identity, dir: &Path) -> Result<()> {
        if self.json {
            return print_json(&json!({ "store": dir, "identity": id }));
        }
        println!("已创建数据目录 Store created: {}", dir.display());
        println!(
            "  网格员 worker: {}   设备 device: {}",
            id.worker_id, id.device_id
        );
        Ok(())
    }

    pub fn grids_imported(&self, n: usize) -> Result<()> {
        if self.json {
            return print_json(&json!({ "cells": n }));
        }
        println!("已导入 {n} 个网格 Imported {n} grid cells");
        Ok(())
    }

    pub fn reported(&self, case: &Case) -> Result<()> {
        if self.json {
            return print_json(case);
        }
        // The id alone on the first line, so that `id=$(gridpatrol ... report ... | head -1)` works.
        println!("{}", case.id);
        println!(
            "已上报 Reported: {} 网格 cell {}",
            case.details.category.code,
            case.cell.as_deref().unwrap_or("-")
        );
        Ok(())
    }

    pub fn list(&self, rows: &[CaseSummary]) -> Result<()> {
        if self.json {
            return print_json(rows);
        }
        if rows.is_empty() {
            println!("没有案件 No cases.");
            return Ok(());
        }
        println!(
            "{:<36}  {:<10}  {:<16}  {:<15}  {:<16}  摘要 summary",
            "编号 id", "环节 stage", "类别 category", "网格 cell", "上报 reported"
        );
        for r in rows {
            println!(
                "{:<36}  {:<10}  {:<16}  {:<15}  {:<16}  {}",
                r.id.to_string(),
                r.stage.label_zh(),
                truncate(&r.category_name, 16),
                r.cell.as_deref().unwrap_or("-"),
                local(r.created_at),
                truncate(&r.summary, 40),
            );
        }
        println!("共 {} 件 {} case(s)", rows.len(), rows.len());
        Ok(())
    }

    pub fn show(&self, case: &Case, catalog: &Catalog, store: &DeviceStore) -> Result<()> {
        if self.json {
            return print_json(case);
        }
        let d = &case.details;
        let category = catalog
            .get(&d.category)
            .map(|c| c.name())
            .unwrap_or_default();
        println!("案件 Case {}", case.id);
        if let Some(stage) = case.stage() {
            println!("  环节 stage:      {} ({})", stage.label_zh(), stage);
        }
        println!(
            "  类别 category:   {} {} [{}]",
            d.category.code, category, d.category.standard
        );
        println!("  网格 cell:       {}", case.cell.as_deref().unwrap_or("-"));
        println!(
            "  位置 location:   {:.6}, {:.6}{}",
            case.location.lat,
            case.location.lon,
            case.location
                .accuracy_m
                .map(|a| format!(" ±{a} m"))
                .unwrap_or_default()
        );
        println!("  地址 address:    {}", d.address);
        println!("  描述 note:       {}", d.description);
        println!("  上报人 reporter: {} ({})", case.reporter, case.device);
        if let Some(dept) = &case.timeline.department {
            println!("  处置部门 dept:   {dept}");
        }
        if let Some(deadline) = case.timeline.deadline {
            println!("  处置时限 due:    {}", local(deadline));
        }
        println!("  照片 photos:     {}", case.photos.len());
        for p in &case.photos {
            let upload = match store.upload_state(&p.sha256)? {
                Some((state, error)) => format!(
                    " [{} {}{}]",
                    state.label_zh(),
                    state.as_str(),
                    error.map(|e| format!(": {e}")).unwrap_or_default()
                ),
                None => " [仅服务器 on the server only]".to_owned(),
            };
            println!(
                "    {} {}x{} {} KB{}{}",
                &p.sha256[..12],
                p.width,
                p.height,
                p.bytes / 1024,
                upload,
                p.taken_at
                    .as_deref()
                    .map(|t| format!(" 拍摄 taken {t}"))
                    .unwrap_or_default()
            );
        }
        println!("  时间线 timeline:");
        for e in &case.timeline.entries {
            let ev = &e.event;
            let flag = match &e.outcome {
                Outcome::Applied { .. } => String::new(),
                Outcome::Flagged { reason } => format!("  [无效 invalid: {reason}]"),
            };
            println!(
                "    {}  {} {:<20} {} ({}){}{}",
                local(ev.at.time()),
                ev.action.label_zh(),
                ev.action.as_str(),
                ev.actor,
                ev.role,
                ev.note
                    .as_deref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default(),
                flag
            );
        }
        Ok(())
    }

    pub fn attached(&self, id: CaseId, photo: &PhotoRef) -> Result<()> {
        if self.json {
            return print_json(&json!({ "case": id, "photo": photo }));
        }
        println!(
            "已添加照片 Photo attached to {id}: {} ({}x{}, {} KB)",
            photo.sha256,
            photo.width,
            photo.height,
            photo.bytes / 1024
        );
        Ok(())
    }

    /// What a worker or the support desk asks first: is this device enrolled, and is anything stuck.
    pub fn status(&self, store: &DeviceStore) -> Result<()> {
        let id = store.identity();
        let server = store.enrollment()?.map(|e| e.server);
        let unsynced = store.outbox_len()?;
        let photos = store.pending_uploads()?;
        let failed: Vec<_> = photos
            .iter()
            .filter(|p| p.state == UploadState::Failed)
            .collect();
        let cells = store.grids()?.map_or(0, |g| g.len());
        let catalog = store.catalog()?;
        let refused = store.refused()?;
        if self.json {
            return print_json(&json!({
                "worker_id": id.worker_id,
                "device_id": id.device_id,
                "server": server,
                "unsynced_cases": unsynced,
                "refused_cases": refused.iter().map(|c| json!({
                    "id": c.id,
                    "code": c.refused.as_ref().map(|r| r.code.as_str()),
                    "reason": c.refused.as_ref().map(|r| r.reason.as_str()),
                })).collect::<Vec<_>>(),
                "photos_not_uploaded": photos.len(),
                "photos_failed": failed.iter().map(|p| json!({"sha256": p.sha256, "error": p.error})).collect::<Vec<_>>(),
                "cells": cells,
                "categories": catalog.len(),
                "catalog_version": catalog.version(),
                "tasks": store.tasks()?.len(),
            }));
        }
        println!(
            "网格员 worker: {}   设备 device: {}",
            id.worker_id, id.device_id
        );
        match &server {
            Some(s) => println!("服务器 server: {s}"),
            None => println!("未注册 not enrolled: gridpatrol enroll --server URL --token TOKEN"),
        }
        println!("待同步案件 cases waiting to sync: {unsynced}");
        if !refused.is_empty() {
            println!(
                "被服务器拒收的案件 cases refused by the server: {} (保留在本机，下次同步重试 kept here, retried at the next sync)",
                refused.len()
            );
            for c in &refused {
                if let Some(r) = &c.refused {
                    println!("  {} [{}] {}", c.id, r.code, r.reason);
                }
            }
        }
        println!("未上传照片 photos not uploaded: {}", photos.len());
        for p in &failed {
            println!(
                "  上传失败 failed {}: {}",
                &p.sha256[..12.min(p.sha256.len())],
                p.error.as_deref().unwrap_or("-")
            );
        }
        println!(
            "负责网格 cells: {cells}   分类目录 catalogue: {} 类 categories ({})",
            catalog.len(),
            catalog.version()
        );
        println!("待核查任务 verification tasks: {}", store.tasks()?.len());
        Ok(())
    }

    pub fn enrolled(&self, worker: &str, cells: &[String], server: &str) -> Result<()> {
        if self.json {
            return print_json(&json!({ "worker_id": worker, "cells": cells, "server": server }));
        }
        println!("已注册 Enrolled with {server} as {worker}");
        println!("  负责网格 cells: {}", cells.join(", "));
        Ok(())
    }

    /// The sync's summary. Refused cases make it an error (exit code 1) after the summary: the others
    /// synced, but the worker must look at these.
    pub fn synced(&self, s: &gridpatrol_client::SyncSummary, store: &DeviceStore) -> Result<()> {
        self.sync_summary(s, store)?;
        if !s.refused.is_empty() {
            anyhow::bail!(
                "服务器拒收 {} 件案件，已保留在本机 the server refused {} case(s); they stay on this device: gridpatrol status",
                s.refused.len(),
                s.refused.len()
            );
        }
        Ok(())
    }

    fn sync_summary(&self, s: &gridpatrol_client::SyncSummary, store: &DeviceStore) -> Result<()> {
        if self.json {
            return print_json(s);
        }
        println!(
            "同步完成 Synced in {} round trip(s): 上传 {} 件 pushed, 收到更新 {} updated, 新案件 {} new; 照片 photos {} uploaded{}",
            s.rounds,
            s.pushed,
            s.received,
            s.new_cases,
            s.photos_uploaded,
            if s.photos_failed > 0 {
                format!(", {} 失败 failed", s.photos_failed)
            } else {
                String::new()
            }
        );
        if let Some(n) = s.grids_updated {
            println!("负责网格已按服务器更新 Grid cells updated from the server: {n} 个 cells");
        }
        if let Some(n) = s.catalog_updated {
            println!(
                "分类目录已按服务器更新 Category catalogue updated from the server: {n} 类 categories"
            );
        }
        let tasks = store.tasks()?.len();
        if tasks > 0 {
            println!("待核查任务 {tasks} verification task(s): gridpatrol tasks");
        }
        for r in &s.refused {
            println!("服务器拒收 refused {} [{}]: {}", r.case, r.code, r.reason);
        }
        if let Some(why) = &s.photos_deferred {
            println!(
                "照片暂停上传，下次同步继续 Photo uploads stopped for this sync, they stay queued: {why}"
            );
        }
        Ok(())
    }

    pub fn demo_created(&self, store: &DeviceStore) -> Result<()> {
        let rows = store.list(&ListFilter::default())?;
        let cells = store.grids()?.map_or(0, |g| g.len());
        if self.json {
            return print_json(&json!({
                "store": store.dir(),
                "identity": store.identity(),
                "cells": cells,
                "categories": store.catalog()?.len(),
                "cases": rows,
            }));
        }
        println!(
            "演示数据已创建 Demo store created at {}: {} 个网格 cells, {} 个类别 categories",
            store.dir().display(),
            cells,
            store.catalog()?.len()
        );
        self.list(&rows)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}
