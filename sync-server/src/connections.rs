//! The HTTP listener: accepts connections and serves each with hyper's HTTP/1, within bounds a hostile
//! client cannot stretch (`serve` flags, [`Limits`]):
//!
//! - at most `max_connections` at once: one more is answered `503` (when its socket takes the bytes at
//!   once) and closed at accept, so the connections already open are not slowed;
//! - a request head must be in within `header_timeout` of the connection waiting for one: hyper 1.x
//!   starts that clock when the connection opens and again after every response, so it also closes a
//!   keep-alive connection left idle between requests;
//! - a request head is at most [`MAX_HEAD_BYTES`] (431 beyond).
//!
//! `axum::serve` does not expose these, so this is the accept loop `axum::serve` would run, with them.
//! Only HTTP/1 is served (as before: axum's `http2` feature is off). Hyper's `auto` builder is not used
//! on purpose: before a request it waits, with no clock, for enough bytes to tell HTTP/2 from HTTP/1.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::centre::CommandCentre;
use crate::metrics::add;

/// The largest request head (request line and headers) read; a larger one is answered 431. Also
/// hyper's read buffer per connection, so it bounds the memory of many slow clients.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The bounds on connections; each is a `serve` flag (defaults there: 10 s, 2048).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head must arrive within this, counted from when the connection waits for one.
    pub header_timeout: Duration,
    /// Connections served at once; more are closed at accept.
    pub max_connections: u32,
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every connection
/// finish its request in flight (idle ones close at once, one still sending a request head within the
/// header timeout), and returns when the last one has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    centre: Arc<CommandCentre>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (closing, closing_rx) = watch::channel(false);
    let refusal = refusal_response();
    let mut refused_since_warning = 0u64;
    let mut last_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: wait a little rather than spin on the error.
                tracing::error!(error = %e, "accepting a connection failed (接受连接失败)");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the limit: a 503 if the socket takes it without waiting, then closed. Never waits
            // on this client, so a flood costs the others nothing but the accept.
            let _ = stream.try_write(&refusal);
            drop(stream);
            add(&centre.metrics.connections_refused, 1);
            refused_since_warning += 1;
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(
                    refused = refused_since_warning,
                    max = limits.max_connections,
                    "connection limit reached: closing new connections (连接数已达上限)"
                );
                refused_since_warning = 0;
                last_warning = Some(Instant::now());
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            app.clone(),
            limits,
            centre.clone(),
            closing_rx.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a slot until it closes: all of them back means all closed.
    let _ = slots.acquire_many(limits.max_connections).await;
}

/// The reply to a connection over the limit.
fn refusal_response() -> Vec<u8> {
    let body = r#"{"code":"too_many_connections","message":"the server has too many open connections; try again shortly (连接数已达上限，请稍后重试)"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         x-content-type-options: nosniff\r\ncache-control: no-store\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Errors of one connection that `accept` reports and that say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    centre: Arc<CommandCentre>,
    mut closing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let counters = &centre.metrics;
    add(&counters.connections_open, 1);
    let service = TowerToHyperService::new(
        app.map_request(|req: hyper::Request<Incoming>| req.map(Body::new)),
    );
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut shutting_down = false;
    loop {
        if !shutting_down && *closing.borrow_and_update() {
            shutting_down = true;
            conn.as_mut().graceful_shutdown();
        }
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    if e.is_timeout() {
                        add(&counters.connections_timed_out, 1);
                    }
                    tracing::debug!(error = %e, "connection closed with an error");
                }
                break;
            }
            changed = closing.changed(), if !shutting_down => {
                if changed.is_err() {
                    // The accept loop is gone: shut down as if told to.
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    counters.connections_open.fetch_sub(1, Ordering::Relaxed);
}
