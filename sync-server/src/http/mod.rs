//! The HTTP API (axum): thin handlers over the shared [`CommandCentre`]. Every route is declared once in
//! [`routes`], which builds the router and is what the OpenAPI document is checked against.

mod dashboard;
mod desk;
mod device;
mod extract;
mod live;
pub mod openapi;
mod reference;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_http::trace::TraceLayer;

use crate::blobs::MAX_CHUNK_BYTES;
use crate::centre::CommandCentre;
use crate::error::{ErrorBody, ServerError};

pub type AppState = Arc<CommandCentre>;

/// Request bodies: JSON up to 1 MiB; sync messages and photo chunks have their own limits.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Runs blocking work (SQLite, automerge, file IO) off the async runtime.
pub async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ServerError>
where
    T: Send + 'static,
    F: FnOnce(&CommandCentre) -> Result<T, ServerError> + Send + 'static,
{
    let centre = state.clone();
    tokio::task::spawn_blocking(move || f(&centre))
        .await
        .map_err(|e| ServerError::Internal(format!("worker task failed: {e}")))?
}

/// One route of the API.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub router: MethodRouter<AppState>,
}

fn api<H, T>(method: Method, path: &'static str, body_limit: usize, handler: H) -> ApiRoute
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
    ApiRoute {
        method,
        path,
        router: on(filter, handler).layer(DefaultBodyLimit::max(body_limit)),
    }
}

/// Every route the server serves.
pub fn routes() -> Vec<ApiRoute> {
    use gridpatrol_core::sync::wire::MAX_MESSAGE_BYTES;
    let json = MAX_JSON_BYTES;
    vec![
        api(Method::GET, "/healthz", json, reference::healthz),
        api(Method::GET, "/metrics", json, reference::metrics),
        api(Method::GET, "/api/v1/openapi.json", json, openapi::serve),
        api(Method::POST, "/api/v1/devices/enroll", json, device::enroll),
        api(Method::POST, "/sync/v1", MAX_MESSAGE_BYTES, device::sync),
        api(
            Method::POST,
            "/api/v1/blobs/status",
            json,
            device::blob_status,
        ),
        api(
            Method::PUT,
            "/api/v1/blobs/{sha256}",
            MAX_CHUNK_BYTES,
            device::blob_put,
        ),
        api(
            Method::GET,
            "/api/v1/blobs/{sha256}",
            json,
            device::blob_get,
        ),
        api(Method::GET, "/api/v1/cases", json, desk::list_cases),
        api(Method::GET, "/api/v1/cases/{id}", json, desk::get_case),
        api(Method::POST, "/api/v1/cases/{id}/actions", json, desk::act),
        api(Method::GET, "/api/v1/stats", json, desk::stats),
        api(
            Method::POST,
            "/api/v1/supervision/run",
            json,
            desk::run_supervision,
        ),
        api(Method::GET, "/api/v1/audit", json, desk::audit_log),
        api(Method::GET, "/api/v1/grids", json, reference::grids),
        api(Method::GET, "/api/v1/catalog", json, reference::catalog),
        api(Method::GET, "/api/v1/me", json, live::me),
        api(Method::GET, "/api/v1/workflow", json, reference::workflow),
        api(
            Method::GET,
            "/api/v1/notices",
            json,
            reference::list_notices,
        ),
        api(Method::GET, "/api/v1/events", json, live::events),
    ]
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.router);
    }
    router
        .merge(dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .layer(middleware::map_response(security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ServerError {
    ServerError::NotFound(format!("no route {method} {} (接口不存在)", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let body = ErrorBody {
        code: "method_not_allowed",
        message: format!(
            "{method} is not allowed on {} (不支持的请求方法)",
            uri.path()
        ),
        held: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// The span of a request in the log. The event stream takes the desk token in its query string
/// (EventSource cannot set headers), so the query is logged with every `token` value blanked.
fn request_span(req: &Request) -> tracing::Span {
    let uri = req.uri();
    let shown = match uri.query() {
        Some(query) => format!("{}?{}", uri.path(), redact_tokens(query)),
        None => uri.path().to_owned(),
    };
    tracing::debug_span!("request", method = %req.method(), uri = %shown, version = ?req.version())
}

fn redact_tokens(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=<redacted>",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// On every response: `X-Content-Type-Options: nosniff`, so a browser takes a photo, a CSV or an error
/// for what its `Content-Type` says and never sniffs it into HTML or script; and `Cache-Control:
/// no-store` on JSON (cases, people, the audit log), so no browser or proxy keeps a copy, unless the
/// handler chose otherwise.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn count_responses(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    state.metrics.response(response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::redact_tokens;

    #[test]
    fn tokens_in_query_strings_never_reach_the_log() {
        assert_eq!(
            redact_tokens("token=gpk_secret&x=1"),
            "token=<redacted>&x=1"
        );
        assert_eq!(redact_tokens("a=1&token=gpk_s"), "a=1&token=<redacted>");
        assert_eq!(redact_tokens("stage=reported"), "stage=reported");
        assert_eq!(redact_tokens("tokens=1"), "tokens=1");
    }
}
