//! The command line: `serve`, `admin ...`, `demo`. Output is for people (Chinese with English) unless
//! `--json`; bad input exits non-zero with a message and writes nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand};
use gridpatrol_core::sync::DeviceLimits;
use serde::Serialize;

use crate::blobs::UploadPolicy;
use crate::centre::{CommandCentre, Options};
use crate::connections::Limits;
use crate::db::{Db, DeviceListing, DeviceSelector};
use crate::demo::{self, DemoToken};
use crate::{admin, serve};

#[derive(Parser)]
#[command(
    name = "gridpatrol-server",
    version,
    about = "GridPatrol 同步服务器 — sync server, dispatch pool and desk API for urban grid management"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Data directory (数据目录): the SQLite database and the photos.
    #[arg(long, env = "GRIDPATROL_DATA")]
    data: PathBuf,
    /// Address to listen on (监听地址); port 0 picks a free port, printed as `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:8080", env = "GRIDPATROL_LISTEN")]
    listen: String,
    /// Seconds between supervision passes (督办间隔秒数).
    #[arg(long, default_value_t = 60)]
    supervise_every: u64,
    /// Case documents kept open in memory (LRU).
    #[arg(long, default_value_t = 1000)]
    cache_docs: usize,
    /// Logs as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// Seconds a client has to send a request's head, counted from when the connection waits for one:
    /// opened, or done with its last response (请求头超时秒数).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_secs: u64,
    /// Seconds a connection may go with nothing read or written (outside the server's own work on a
    /// request), or a request body with no new bytes, before it is closed (空闲超时秒数).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout_secs: u64,
    /// Connections served at once; further ones get a 503 and are closed at accept (最大连接数).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    #[command(flatten)]
    devices: DeviceLimitArgs,
    /// MiB of unfinished photo uploads one device may have at once: the declared sizes of the uploads
    /// it started and has not finished; a new one past it is refused with 429 (每台设备未完成上传配额 MiB).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    upload_quota_mib: u64,
    /// Hours after its last chunk an unfinished photo upload is deleted, freeing its quota
    /// (未完成上传的保留小时数).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8760))]
    upload_expiry_hours: u64,
    /// The expiry in seconds instead, for tests.
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    upload_expiry_secs: Option<u64>,
}

/// What devices may send (SECURITY.md explains each).
#[derive(Args, Clone)]
struct DeviceLimitArgs {
    /// The largest case document, in KiB: the sum of its changes (单个案件数据上限 KiB).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=65_536))]
    max_case_kib: u64,
    /// The largest single change from a device, in KiB (单个变更上限 KiB).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(4..=16_384))]
    max_change_kib: u64,
    /// Operations in one change from a device (单个变更操作数上限).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(64..=1_000_000))]
    max_change_ops: u64,
    /// Minutes a device's clock may run ahead of the server's (设备时钟允许超前分钟数).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i64).range(0..=1440))]
    clock_skew_mins: i64,
    /// Days old a report or event may be when it reaches the server (上报最长滞后天数).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=3650))]
    max_report_age_days: i64,
    /// Days ahead a handling deadline may be set, by dispatch or extension (处置时限最长天数).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=3650))]
    max_deadline_days: i64,
}

impl ServeArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the sync and desk API (启动服务).
    Serve(ServeArgs),
    /// Seed a demo district in an empty directory (or reuse it), print the tokens, and serve (演示).
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Print the tokens as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Administration: district, reference data, workers, devices, desks (管理).
    Admin {
        #[arg(long, env = "GRIDPATROL_DATA")]
        data: PathBuf,
        /// Machine-readable output.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// The district (行政区).
    District {
        #[command(subcommand)]
        command: DistrictCommand,
    },
    /// Grid cells (网格), a GeoJSON FeatureCollection.
    Grids {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// The category catalogue (分类目录), CSV; without FILE the shipped one.
    Catalog {
        #[command(subcommand)]
        command: ImportOptCommand,
    },
    /// Routing rules (派遣规则), CSV; without FILE the shipped ones.
    Routing {
        #[command(subcommand)]
        command: ImportOptCommand,
    },
    /// The work calendar (工作日历), JSON; without FILE the shipped one.
    Calendar {
        #[command(subcommand)]
        command: ImportOptCommand,
    },
    /// Grid workers (网格员).
    Worker {
        #[command(subcommand)]
        command: WorkerCommand,
    },
    /// Workers' devices (设备); prints the device token once.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Desks: dispatchers, supervisors, departments (坐席); prints the desk token once.
    Desk {
        #[command(subcommand)]
        command: DeskCommand,
    },
}

#[derive(Subcommand)]
enum DistrictCommand {
    Create {
        /// 6-digit division code (GB/T 2260), e.g. 110102.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum ImportOptCommand {
    Import { file: Option<PathBuf> },
}

#[derive(Subcommand)]
enum WorkerCommand {
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Cell codes or prefixes (street, community), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        cells: Vec<String>,
    },
    /// Give a worker other cells (a reassignment); their PDAs follow at their next sync.
    SetCells {
        #[arg(long)]
        id: String,
        /// Cell codes or prefixes (street, community), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        cells: Vec<String>,
    },
    /// The workers, their cells and how many live device tokens each has.
    List,
}

#[derive(Subcommand)]
enum DeviceCommand {
    Add {
        #[arg(long)]
        worker: String,
    },
    /// Device tokens (never the tokens themselves): bound device id, enrolled, revoked.
    List {
        #[arg(long)]
        worker: Option<String>,
    },
    /// Revoke device tokens (a lost or stolen PDA, a worker who left): the server refuses them at once.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["device_id", "worker"])))]
    Revoke {
        /// The device id the token was enrolled with (see `device list`).
        #[arg(long)]
        device_id: Option<String>,
        /// Every live token of this worker, enrolled or not.
        #[arg(long)]
        worker: Option<String>,
    },
}

#[derive(Subcommand)]
enum DeskCommand {
    Add {
        #[arg(long)]
        id: String,
        /// dispatcher, supervisor or department.
        #[arg(long)]
        role: String,
        /// Cell code prefix of the desk's area: district, street or community.
        #[arg(long)]
        scope: String,
        /// For department desks: the department, as the catalogue and routing rules name it.
        #[arg(long)]
        department: Option<String>,
    },
    /// The desks: role, scope, department, revoked.
    List,
    /// Revoke a desk's token: the server refuses it at once and open dashboards are signed out.
    Revoke {
        #[arg(long)]
        id: String,
    },
    /// A new token for a desk (leaked or forgotten); the old one stops working, a revoked desk is reinstated.
    Rotate {
        #[arg(long)]
        id: String,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn open(args: &ServeArgs) -> Result<CommandCentre> {
    let d = &args.devices;
    let options = Options {
        cache_docs: args.cache_docs,
        device_limits: DeviceLimits {
            max_case_bytes: d.max_case_kib * 1024,
            max_change_bytes: (d.max_change_kib * 1024) as usize,
            max_change_ops: d.max_change_ops,
            clock_skew: chrono::Duration::minutes(d.clock_skew_mins),
            max_age: chrono::Duration::days(d.max_report_age_days),
            ..DeviceLimits::default()
        },
        max_deadline: chrono::Duration::days(d.max_deadline_days),
        uploads: UploadPolicy {
            quota_bytes: args.upload_quota_mib * 1024 * 1024,
            expiry: Duration::from_secs(
                args.upload_expiry_secs
                    .unwrap_or(args.upload_expiry_hours * 3600),
            ),
            ..UploadPolicy::default()
        },
        ..Options::default()
    };
    Ok(CommandCentre::open(&args.data, options)?)
}

fn execute(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_json);
            let centre = open(&args)?;
            serve::run(
                centre,
                &args.listen,
                Duration::from_secs(args.supervise_every.max(1)),
                args.limits(),
            )
        }
        Command::Demo { serve: args, json } => {
            init_logging(args.log_json);
            demo(&args, json)
        }
        Command::Admin {
            data,
            json,
            command,
        } => admin(&data, json, command),
    }
}

fn demo(args: &ServeArgs, json: bool) -> Result<()> {
    let fresh = !Db::exists(&args.data);
    if fresh && args.data.is_dir() && std::fs::read_dir(&args.data)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty and holds no GridPatrol data; give an empty or new directory (目录非空)",
            args.data.display()
        );
    }
    let centre = open(args)?;
    if fresh {
        let tokens =
            demo::seed(&centre, &args.data).context("seeding the demo (初始化演示数据)")?;
        print_tokens(&tokens, &args.data, json)?;
    } else if demo::is_seeded(&centre)? {
        let path = args.data.join(demo::TOKENS_FILE);
        if json {
            let tokens: Vec<DemoToken> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            println!("{}", serde_json::to_string_pretty(&tokens)?);
        } else {
            println!(
                "演示数据已存在，沿用 Reusing the demo in {}",
                args.data.display()
            );
            println!("令牌见 The tokens are in {}", path.display());
        }
    } else {
        anyhow::bail!(
            "{} holds a GridPatrol database that is not the demo (or an unfinished seeding); use `serve`, or remove it (非演示数据)",
            args.data.display()
        );
    }
    serve::run(
        centre,
        &args.listen,
        Duration::from_secs(args.supervise_every.max(1)),
        args.limits(),
    )
}

fn print_tokens(tokens: &[DemoToken], dir: &Path, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(tokens)?);
        return Ok(());
    }
    println!("演示区已创建 Demo district seeded: 110102 西城区（演示）, 36 cells, 6 cases");
    println!(
        "令牌（仅此一次显示，另存于 {}）",
        dir.join(demo::TOKENS_FILE).display()
    );
    println!("Tokens (shown once here, also saved in the file above, mode 0600):");
    for t in tokens {
        let extra = t.department.as_deref().unwrap_or(&t.scope);
        println!(
            "  {:<12} {:<10} {:<14} {:<18} {}",
            t.role_zh, t.role, t.id, extra, t.token
        );
    }
    Ok(())
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

type Utc = chrono::DateTime<chrono::Utc>;

/// One table row: each cell padded to its column's width in terminal columns (a Chinese character
/// takes two, so `format!`'s padding would misalign them); the last cell is not padded.
fn row(cells: &[(&str, usize)]) -> String {
    let mut out = String::new();
    for (i, (text, width)) in cells.iter().enumerate() {
        out += text;
        if i + 1 < cells.len() {
            let used = unicode_width::UnicodeWidthStr::width(*text);
            out += &" ".repeat(width.saturating_sub(used) + 1);
        }
    }
    out.push('\n');
    out
}

const DEVICE_COLUMNS: [usize; 5] = [14, 36, 16, 16, 0];

/// Local wall-clock minutes (the work calendar's offset), as people at the command centre read times.
fn local(at: Utc, offset: FixedOffset) -> String {
    at.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn state(revoked: Option<Utc>, offset: FixedOffset) -> String {
    match revoked {
        Some(at) => format!("已吊销 revoked {}", local(at, offset)),
        None => "有效 live".to_owned(),
    }
}

fn device_line(d: &DeviceListing, offset: FixedOffset) -> String {
    let enrolled = d
        .enrolled_at
        .map(|at| local(at, offset))
        .unwrap_or_else(|| "-".into());
    let cells = [
        d.worker_id.as_str(),
        d.device_id.as_deref().unwrap_or("（未注册 not enrolled）"),
        &local(d.created_at, offset),
        &enrolled,
        &state(d.revoked_at, offset),
    ];
    row(&cells
        .iter()
        .zip(DEVICE_COLUMNS)
        .map(|(c, w)| (*c, w))
        .collect::<Vec<_>>())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (无法读取文件)", path.display()))
}

fn admin(data: &Path, json: bool, command: AdminCommand) -> Result<()> {
    let centre = CommandCentre::open(data, Options::default())?;
    let offset = centre.reference().calendar.utc_offset();
    match command {
        AdminCommand::District {
            command: DistrictCommand::Create { code, name },
        } => {
            let d = admin::create_district(&centre, &code, &name)?;
            print(json, &d, || {
                format!("已创建行政区 District created: {} {}", d.code, d.name)
            })?;
        }
        AdminCommand::Grids {
            command: ImportCommand::Import { file },
        } => {
            let i = admin::import_grids(&centre, &read(&file)?)?;
            print(json, &i, || {
                format!(
                    "已导入 {} 个网格 Imported {} grid cells (version {})",
                    i.items, i.items, i.version
                )
            })?;
        }
        AdminCommand::Catalog {
            command: ImportOptCommand::Import { file },
        } => {
            let text = file.as_deref().map(read).transpose()?;
            let i = admin::import_catalog(&centre, text.as_deref())?;
            print(json, &i, || {
                format!(
                    "已导入 {} 个类别 Imported {} categories (version {})",
                    i.items, i.items, i.version
                )
            })?;
        }
        AdminCommand::Routing {
            command: ImportOptCommand::Import { file },
        } => {
            let text = file.as_deref().map(read).transpose()?;
            let i = admin::import_routing(&centre, text.as_deref())?;
            print(json, &i, || {
                format!(
                    "已导入 {} 条派遣规则 Imported {} routing rules (version {})",
                    i.items, i.items, i.version
                )
            })?;
        }
        AdminCommand::Calendar {
            command: ImportOptCommand::Import { file },
        } => {
            let text = file.as_deref().map(read).transpose()?;
            let i = admin::import_calendar(&centre, text.as_deref())?;
            print(json, &i, || {
                format!(
                    "已导入工作日历 Imported the work calendar (version {})",
                    i.version
                )
            })?;
        }
        AdminCommand::Worker {
            command: WorkerCommand::Add { id, name, cells },
        } => {
            let w = admin::add_worker(&centre, &id, &name, &cells)?;
            print(json, &w, || {
                format!(
                    "已添加网格员 Worker added: {} {} cells {}",
                    w.id,
                    w.name,
                    w.cells.join(",")
                )
            })?;
        }
        AdminCommand::Worker {
            command: WorkerCommand::SetCells { id, cells },
        } => {
            let w = admin::set_worker_cells(&centre, &id, &cells)?;
            print(json, &w, || {
                format!(
                    "网格员 {} 的网格已调整为 {}，其设备下次同步时更新 Worker {} now patrols {}; their devices follow at their next sync",
                    w.id,
                    w.cells.join(","),
                    w.id,
                    w.cells.join(",")
                )
            })?;
        }
        AdminCommand::Worker {
            command: WorkerCommand::List,
        } => {
            let list = admin::list_workers(&centre)?;
            print(json, &list, || {
                let widths = [14, 12, 12, 0];
                let mut out = row(&[
                    ("网格员 worker", widths[0]),
                    ("姓名 name", widths[1]),
                    ("设备 devices", widths[2]),
                    ("网格 cells", widths[3]),
                ]);
                for w in &list {
                    out += &row(&[
                        (&w.worker.id, widths[0]),
                        (&w.worker.name, widths[1]),
                        (&w.live_devices.to_string(), widths[2]),
                        (&w.worker.cells.join(","), widths[3]),
                    ]);
                }
                out += &format!("共 {} 名网格员 {} workers", list.len(), list.len());
                out
            })?;
        }
        AdminCommand::Device {
            command: DeviceCommand::List { worker },
        } => {
            let list = admin::list_devices(&centre, worker.as_deref())?;
            print(json, &list, || {
                let headers = [
                    "网格员 worker",
                    "设备 device id",
                    "签发 issued",
                    "注册 enrolled",
                    "状态 state",
                ];
                let mut out = row(&headers
                    .iter()
                    .zip(DEVICE_COLUMNS)
                    .map(|(h, w)| (*h, w))
                    .collect::<Vec<_>>());
                for d in &list {
                    out += &device_line(d, offset);
                }
                out += &format!("共 {} 个设备令牌 {} device tokens", list.len(), list.len());
                out
            })?;
        }
        AdminCommand::Device {
            command: DeviceCommand::Revoke { device_id, worker },
        } => {
            let selector = match (&device_id, &worker) {
                (Some(id), _) => DeviceSelector::DeviceId(id),
                (None, Some(w)) => DeviceSelector::Worker(w),
                (None, None) => anyhow::bail!("give --device-id or --worker (须指定设备或网格员)"),
            };
            let revoked = admin::revoke_devices(&centre, selector)?;
            print(json, &revoked, || {
                let mut out = format!(
                    "已吊销 {} 个设备令牌 Revoked {} device tokens; the server refuses them from now on:\n",
                    revoked.len(),
                    revoked.len()
                );
                for d in &revoked {
                    out += &device_line(d, offset);
                }
                out.trim_end().to_owned()
            })?;
        }
        AdminCommand::Desk {
            command: DeskCommand::List,
        } => {
            let list = admin::list_desks(&centre)?;
            print(json, &list, || {
                let widths = [14, 12, 15, 16, 0];
                let mut out = row(&[
                    ("坐席 desk", widths[0]),
                    ("角色 role", widths[1]),
                    ("范围 scope", widths[2]),
                    ("部门 dept", widths[3]),
                    ("状态 state", widths[4]),
                ]);
                for d in &list {
                    out += &row(&[
                        (&d.desk.id, widths[0]),
                        (&d.desk.role, widths[1]),
                        (&d.desk.scope, widths[2]),
                        (d.desk.department.as_deref().unwrap_or("-"), widths[3]),
                        (&state(d.revoked_at, offset), widths[4]),
                    ]);
                }
                out += &format!("共 {} 个坐席 {} desks", list.len(), list.len());
                out
            })?;
        }
        AdminCommand::Desk {
            command: DeskCommand::Revoke { id },
        } => {
            admin::revoke_desk(&centre, &id)?;
            print(
                json,
                &serde_json::json!({"id": id, "revoked": true}),
                || {
                    format!(
                        "已吊销坐席 {id} 的令牌 Revoked desk {id}: the server refuses its token from now on"
                    )
                },
            )?;
        }
        AdminCommand::Desk {
            command: DeskCommand::Rotate { id },
        } => {
            let d = admin::rotate_desk(&centre, &id)?;
            print(json, &d, || {
                format!(
                    "已为坐席 {} 换发令牌，旧令牌已失效 New token for desk {}; the old one no longer works\n坐席令牌（仅显示一次）Desk token (shown once): {}",
                    d.desk.id, d.desk.id, d.token
                )
            })?;
        }
        AdminCommand::Device {
            command: DeviceCommand::Add { worker },
        } => {
            let d = admin::add_device(&centre, &worker)?;
            print(json, &d, || {
                format!(
                    "已为网格员 {} 添加设备 Device added for worker {}\n设备令牌（仅显示一次）Device token (shown once): {}",
                    d.worker_id, d.worker_id, d.token
                )
            })?;
        }
        AdminCommand::Desk {
            command:
                DeskCommand::Add {
                    id,
                    role,
                    scope,
                    department,
                },
        } => {
            let d = admin::add_desk(&centre, &id, &role, &scope, department.as_deref())?;
            print(json, &d, || {
                format!(
                    "已添加坐席 Desk added: {} {} scope {}{}\n坐席令牌（仅显示一次）Desk token (shown once): {}",
                    d.desk.id,
                    d.desk.role,
                    d.desk.scope,
                    d.desk
                        .department
                        .as_deref()
                        .map(|x| format!(" department {x}"))
                        .unwrap_or_default(),
                    d.token
                )
            })?;
        }
    }
    centre.close()?;
    Ok(())
}
