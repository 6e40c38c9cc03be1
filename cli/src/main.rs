//! `gridpatrol`: the device CLI. It drives the core exactly as a PDA app does, for people trying
//! GridPatrol without a phone, for scripts (`--json`) and for tests.

mod demo;
mod output;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use gridpatrol_client::Remote;
use gridpatrol_core::case::{CaseEdit, CaseId, Location};
use gridpatrol_core::store::{DeviceStore, ListFilter, NewReport, resolve_category};
use gridpatrol_core::workflow::Stage;

#[derive(Parser)]
#[command(
    name = "gridpatrol",
    version,
    about = "GridPatrol 网格巡查终端 — the grid worker's device, on the command line",
    long_about = "GridPatrol 网格巡查终端: record cases offline (上报), list and show them, attach photos.\n\
                  Every command takes --json for scripts; the default output is for people."
)]
struct Cli {
    /// The store directory (数据目录). Also read from GRIDPATROL_STORE.
    #[arg(long, global = true, env = "GRIDPATROL_STORE")]
    store: Option<PathBuf>,
    /// Machine-readable output (JSON) instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new, empty store (新建数据目录).
    Init {
        /// The grid worker signed in on this device (网格员编号).
        #[arg(long, default_value = "worker-1")]
        worker: String,
    },
    /// Reference data: grid cells (网格).
    Grids {
        #[command(subcommand)]
        command: GridsCommand,
    },
    /// Record a new case (上报案件). Prints the new case id.
    Report {
        /// Category code (类别编码): current code like 06010, standard:code, or a legacy code.
        #[arg(long)]
        category: String,
        /// Latitude, WGS-84 (纬度).
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Longitude, WGS-84 (经度).
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// GPS accuracy in metres (定位精度).
        #[arg(long)]
        accuracy: Option<f64>,
        /// Address text (地址).
        #[arg(long, default_value = "")]
        address: String,
        /// What the worker saw (描述).
        #[arg(long, default_value = "")]
        note: String,
        /// A photo (JPEG or PNG); repeat for several (照片).
        #[arg(long)]
        photo: Vec<PathBuf>,
    },
    /// List cases, newest first (案件列表).
    List {
        /// Only cases at this stage, e.g. reported, dispatched, closed (环节).
        #[arg(long)]
        stage: Option<Stage>,
        /// Only cases in this grid cell (网格编码).
        #[arg(long)]
        cell: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one case with its photos and timeline (案件详情).
    Show { id: CaseId },
    /// Attach a photo to a case (补充照片).
    Attach {
        id: CaseId,
        file: PathBuf,
        #[arg(long)]
        note: Option<String>,
    },
    /// Correct a case before it is registered (修改案件).
    Edit {
        id: CaseId,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Create a store with a demo district (cells, catalogue, cases) and list it (演示数据).
    Demo,
    /// Register this device with a server, using the token the centre issued (设备注册).
    Enroll {
        /// The server's address, e.g. http://127.0.0.1:8080 (服务器地址).
        #[arg(long)]
        server: String,
        /// The device token printed by `gridpatrol-server admin device add` (设备令牌).
        #[arg(long)]
        token: String,
    },
    /// Send what was recorded offline and receive what changed; then upload photos (同步).
    Sync,
    /// Verification tasks assigned to this worker (核查任务).
    Tasks,
    /// This device: worker, server, what waits to be synced, photos not uploaded, cells, catalogue (状态).
    Status,
    /// Record the on-site verification of a case: passed or failed (核查).
    Verify {
        id: CaseId,
        /// The problem is fixed (核查通过).
        #[arg(long, conflicts_with = "fail", required_unless_present = "fail")]
        pass: bool,
        /// The problem is not fixed: back to the department for rework (核查不通过，返工).
        #[arg(long)]
        fail: bool,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        photo: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GridsCommand {
    /// Import grid cells from a GeoJSON FeatureCollection (导入网格).
    Import { file: PathBuf },
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if cli.json {
                let msg = serde_json::json!({ "error": format!("{e:#}") });
                eprintln!("{msg}");
            } else {
                eprintln!("错误 error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `gridpatrol list | head -1`: when the reader goes away the command ends quietly, as Unix tools do,
/// instead of panicking in `println!` ("failed printing to stdout: Broken pipe"). Rust ignores SIGPIPE
/// by default; the default action (end the process) is what a command-line tool wants. It ends nothing
/// half written: every store change is one SQLite transaction (a sync cut between rounds resumes on the
/// next). Sockets are unaffected: std writes to them with MSG_NOSIGNAL, so a server that hangs up is
/// still an error the sync reports, not a signal.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let dir = cli
        .store
        .as_deref()
        .context("no store given: pass --store DIR or set GRIDPATROL_STORE (未指定数据目录)")?;
    let out = output::Output { json: cli.json };
    match &cli.command {
        Command::Init { worker } => {
            let store = DeviceStore::init(dir, worker)?;
            out.initialized(store.identity(), dir)
        }
        Command::Grids {
            command: GridsCommand::Import { file },
        } => {
            let text = read_text(file)?;
            let n = DeviceStore::open(dir)?.import_grids(&text)?;
            out.grids_imported(n)
        }
        Command::Report {
            category,
            lat,
            lon,
            accuracy,
            address,
            note,
            photo,
        } => {
            let mut location = Location::new(*lat, *lon)?;
            if let Some(a) = accuracy {
                location = location.with_accuracy(*a)?;
            }
            // Read every file before touching the store: a missing photo must leave nothing written.
            let photos = photo.iter().map(|p| read_bytes(p)).collect::<Result<_>>()?;
            let mut store = DeviceStore::open(dir)?;
            let id = store.report(NewReport {
                category: category.clone(),
                location,
                address: address.clone(),
                description: note.clone(),
                photos,
            })?;
            out.reported(&store.case(id)?)
        }
        Command::List { stage, cell, limit } => {
            let store = DeviceStore::open(dir)?;
            let filter = ListFilter {
                stage: *stage,
                cell: cell.clone(),
                limit: *limit,
            };
            out.list(&store.list(&filter)?)
        }
        Command::Show { id } => {
            let store = DeviceStore::open(dir)?;
            out.show(&store.case(*id)?, &*store.catalog()?, &store)
        }
        Command::Attach { id, file, note } => {
            let bytes = read_bytes(file)?;
            let mut store = DeviceStore::open(dir)?;
            let photo = store.attach(*id, &bytes, note.clone())?;
            out.attached(*id, &photo)
        }
        Command::Edit {
            id,
            category,
            address,
            note,
        } => {
            let mut store = DeviceStore::open(dir)?;
            let category = match category {
                Some(c) => Some(resolve_category(&*store.catalog()?, c)?),
                None => None,
            };
            store.edit(
                *id,
                CaseEdit {
                    category,
                    address: address.clone(),
                    description: note.clone(),
                },
            )?;
            out.show(&store.case(*id)?, &*store.catalog()?, &store)
        }
        Command::Demo => {
            let store = demo::create(dir)?;
            out.demo_created(&store)
        }
        Command::Enroll { server, token } => {
            let mut store = DeviceStore::open(dir)?;
            let reply = Remote::new(server, token).enroll_store(&mut store)?;
            out.enrolled(&reply.worker_id, &reply.cells, server)
        }
        Command::Sync => {
            let mut store = DeviceStore::open(dir)?;
            let enrollment = store.enrollment()?.context(
                "this device is not enrolled: run `gridpatrol enroll` first (设备尚未注册)",
            )?;
            let remote = Remote::new(&enrollment.server, &enrollment.token);
            let bar = progress::Bar::new(cli.json);
            let summary = remote.sync(&mut store, &bar);
            bar.finish();
            match summary {
                Ok(summary) => out.synced(&summary, &store),
                Err(e) => {
                    let queued = store.outbox_len().unwrap_or(0);
                    Err(anyhow::Error::new(e)
                        .context(format!("{queued} 件案件待同步 case(s) still queued")))
                }
            }
        }
        Command::Status => {
            let store = DeviceStore::open(dir)?;
            out.status(&store)
        }
        Command::Tasks => {
            let store = DeviceStore::open(dir)?;
            out.list(&store.tasks()?)
        }
        Command::Verify {
            id,
            pass,
            fail: _,
            note,
            photo,
        } => {
            let photos: Vec<Vec<u8>> =
                photo.iter().map(|p| read_bytes(p)).collect::<Result<_>>()?;
            let mut store = DeviceStore::open(dir)?;
            store.verify(*id, *pass, note.clone(), &photos)?;
            out.show(&store.case(*id)?, &*store.catalog()?, &store)
        }
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {} (无法读取文件)", path.display()))
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => bail!("{} is not UTF-8 text (文件不是 UTF-8 文本)", path.display()),
    }
}
