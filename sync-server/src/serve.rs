//! Running the server: the HTTP listener (bounded by [`Limits`], see [`crate::connections`]), the
//! supervision job, and a graceful shutdown on SIGTERM or ctrl-c (stop accepting, let in-flight
//! requests finish, stop the job, then close the database).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::centre::CommandCentre;
use crate::connections::{self, Limits};
use crate::http;
use crate::supervision::Supervision;

pub fn run(
    centre: CommandCentre,
    listen: &str,
    supervise_every: Duration,
    limits: Limits,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let centre = Arc::new(centre);
    runtime.block_on(serve(centre.clone(), listen, supervise_every, limits))?;
    drop(runtime);
    close(centre)
}

async fn serve(
    centre: Arc<CommandCentre>,
    listen: &str,
    every: Duration,
    limits: Limits,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (无法监听该地址)"))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        data = %centre.data_dir.display(),
        header_timeout_secs = limits.header_timeout.as_secs(),
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        max_connections = limits.max_connections,
        "serving"
    );
    for n in crate::notices::notices(&centre.reference(), chrono::Utc::now()) {
        tracing::warn!(code = n.code, "{}", n.message_en);
    }
    // Tests and scripts read this line to learn the port when given 127.0.0.1:0.
    println!("listening on {addr}");
    std::io::stdout().flush().ok();

    let (stop, stopped) = watch::channel(false);
    let job = tokio::spawn(supervise(centre.clone(), every, stopped.clone()));
    let sweeper = tokio::spawn(sweep_uploads(centre.clone(), stopped));
    let events = centre.clone();
    let app = http::router(centre.clone());
    connections::serve(listener, app, limits, centre, async move {
        shutdown_signal().await;
        // Open dashboards' event streams would otherwise keep the server waiting.
        events.db.events().close();
    })
    .await;
    tracing::info!("stopped accepting; in-flight requests finished");
    let _ = stop.send(true);
    let _ = job.await;
    let _ = sweeper.await;
    Ok(())
}

async fn supervise(
    centre: Arc<CommandCentre>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        let c = centre.clone();
        // Awaited to the end, so shutdown never cuts a pass short.
        match tokio::task::spawn_blocking(move || Supervision::run(&c, Utc::now())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "supervision pass failed"),
            Err(e) => tracing::error!(error = %e, "supervision pass panicked"),
        }
    }
}

/// Deletes expired unfinished photo uploads, a few times per expiry period (at most every 10 minutes).
async fn sweep_uploads(centre: Arc<CommandCentre>, mut stopped: watch::Receiver<bool>) {
    let expiry = centre.options.uploads.expiry;
    let every = (expiry / 4).clamp(Duration::from_millis(250), Duration::from_secs(600));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        let c = centre.clone();
        let swept =
            tokio::task::spawn_blocking(move || c.blobs.sweep(&c.db, expiry, Utc::now())).await;
        match swept {
            Ok(Ok(report)) if report.expired + report.orphans > 0 => {
                tracing::info!(?report, "expired unfinished uploads deleted");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "upload sweep failed"),
            Err(e) => tracing::error!(error = %e, "upload sweep panicked"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c: shutting down (正在停止)"),
        _ = terminate => tracing::info!("SIGTERM: shutting down (正在停止)"),
    }
}

/// Closes the database once the last blocking task holding the centre has finished.
fn close(mut centre: Arc<CommandCentre>) -> anyhow::Result<()> {
    for _ in 0..300 {
        match Arc::try_unwrap(centre) {
            Ok(c) => {
                c.close().context("closing the database")?;
                tracing::info!("database closed");
                return Ok(());
            }
            Err(still_shared) => {
                centre = still_shared;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    tracing::warn!(
        "a task still holds the database after 30 s; exiting without a final checkpoint"
    );
    Ok(())
}
