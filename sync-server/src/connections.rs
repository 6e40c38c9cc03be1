//! The HTTP listener: accepts connections and serves each with hyper's HTTP/1, within bounds a hostile
//! client cannot stretch (`serve` flags, [`Limits`]):
//!
//! - at most `max_connections` at once: one more is answered `503` (when its socket takes the bytes at
//!   once) and closed at accept, so the connections already open are not slowed;
//! - a request head must be in within `header_timeout` of the connection waiting for one: hyper 1.x
//!   starts that clock when the connection opens and again after every response, so it also closes a
//!   keep-alive connection left idle between requests;
//! - `idle_timeout`: a connection on which nothing moves is closed: no byte read or written while no
//!   request is being handled, or a response the client has stopped reading; a request body that stops
//!   arriving fails with a 408 (`body_timeout`). A request the server itself is still working on is
//!   never cut.
//! - a request head is at most [`MAX_HEAD_BYTES`] (431 beyond).
//!
//! `axum::serve` does not expose these, so this is the accept loop `axum::serve` would run, with them.
//! Only HTTP/1 is served (as before: axum's `http2` feature is off). Hyper's `auto` builder is not used
//! on purpose: before a request it waits, with no clock, for enough bytes to tell HTTP/2 from HTTP/1.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

use crate::centre::CommandCentre;
use crate::metrics::add;

/// The largest request head (request line and headers) read; a larger one is answered 431. Also
/// hyper's read buffer per connection, so it bounds the memory of many slow clients.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The bounds on connections; each is a `serve` flag (defaults there: 10 s, 60 s, 2048).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head must arrive within this, counted from when the connection waits for one.
    pub header_timeout: Duration,
    /// A connection (or request body) on which nothing moves for this long is closed.
    pub idle_timeout: Duration,
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
    let activity = Arc::new(Activity::new());
    let busy = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn({
        let busy = busy.clone();
        let idle = limits.idle_timeout;
        move |req: hyper::Request<Incoming>| {
            let working = Working::start(&busy);
            let req = req.map(|body| Body::new(TimeoutBody::new(idle, body)));
            let call = app.clone().oneshot(req);
            async move {
                let response = match call.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                // Still working until the response body has been written out (or dropped).
                Ok::<_, Infallible>(response.map(|body| WorkingBody {
                    body,
                    _working: working,
                }))
            }
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut shutting_down = false;
    loop {
        if !shutting_down && *closing.borrow_and_update() {
            shutting_down = true;
            conn.as_mut().graceful_shutdown();
        }
        let deadline = activity.deadline(busy.load(Ordering::Relaxed) > 0, limits.idle_timeout);
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
            () = tokio::time::sleep_until(deadline) => {
                let now_due = activity.deadline(busy.load(Ordering::Relaxed) > 0, limits.idle_timeout);
                if now_due <= Instant::now() {
                    add(&counters.connections_timed_out, 1);
                    tracing::debug!("closing an idle connection");
                    break;
                }
            }
        }
    }
    counters.connections_open.fetch_sub(1, Ordering::Relaxed);
}

/// When bytes last moved on a connection, and since when a write has been waiting on the client.
struct Activity {
    start: Instant,
    /// Milliseconds from `start`.
    last_ms: AtomicU64,
    /// Milliseconds from `start` plus one; 0 when no write is waiting.
    write_blocked_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            write_blocked_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn moved(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn write_waiting(&self, waiting: bool) {
        if !waiting {
            self.write_blocked_ms.store(0, Ordering::Relaxed);
        } else if self.write_blocked_ms.load(Ordering::Relaxed) == 0 {
            self.write_blocked_ms
                .store(self.now_ms().saturating_add(1), Ordering::Relaxed);
        }
    }

    /// When the connection is to be closed unless something moves. While a request is being handled
    /// only a write the client does not take counts (the handler's own time never does).
    fn deadline(&self, working: bool, idle: Duration) -> Instant {
        let at = |ms: u64| self.start + Duration::from_millis(ms) + idle;
        if working {
            match self.write_blocked_ms.load(Ordering::Relaxed) {
                0 => Instant::now() + idle,
                blocked => at(blocked - 1),
            }
        } else {
            at(self.last_ms.load(Ordering::Relaxed))
        }
    }
}

/// The socket, noting every byte that moves.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn wrote(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Pending => self.activity.write_waiting(true),
            Poll::Ready(written) => {
                self.activity.write_waiting(false);
                if matches!(written, Ok(n) if *n > 0) {
                    self.activity.moved();
                }
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.moved();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request being handled on a connection, from the call until its response body is done.
struct Working(Arc<AtomicUsize>);

impl Working {
    fn start(count: &Arc<AtomicUsize>) -> Working {
        count.fetch_add(1, Ordering::Relaxed);
        Working(count.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request [`Working`] until hyper drops it.
struct WorkingBody {
    body: Body,
    _working: Working,
}

impl HttpBody for WorkingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
