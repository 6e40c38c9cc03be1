//! Who a desk token belongs to (`GET /api/v1/me`, for the dashboard's sign-in) and the live event
//! stream (`GET /api/v1/events`): server-sent `case_changed` events `{id, stage}` for the cases the desk
//! may see. EventSource cannot set headers, so the stream also takes the desk token as `?token=`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::extract::{QueryParams, desk_by_token};
use super::{AppState, blocking};
use crate::error::ServerError;
use crate::principal::{Desk, hash_token};

pub async fn me(desk: Desk) -> Json<Desk> {
    Json(desk)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub token: Option<String>,
}

async fn desk_from(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<String>,
) -> Result<(Desk, String), ServerError> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let token = header.or(query).filter(|t| !t.is_empty()).ok_or_else(|| {
        ServerError::Unauthorized(
            "a desk token is required: Authorization: Bearer or ?token= (缺少访问令牌)".into(),
        )
    })?;
    let hash = hash_token(&token);
    let desk = desk_by_token(token, state).await?;
    Ok((desk, hash))
}

/// How often an open stream checks that its token is still live: a desk revoked by `admin desk revoke`
/// (another process) loses its stream within this time. One indexed lookup per stream per period.
const RECHECK_TOKEN_EVERY: Duration = Duration::from_secs(10);

/// What the stream carries between events.
struct Listener {
    rx: tokio::sync::broadcast::Receiver<crate::events::CaseChanged>,
    closing: tokio::sync::watch::Receiver<bool>,
    desk: Desk,
    token_hash: String,
    recheck: tokio::time::Interval,
    state: AppState,
    first: bool,
    revoked: bool,
}

impl Listener {
    async fn token_live(&self) -> bool {
        let hash = self.token_hash.clone();
        // A storage error is not a revocation: keep the stream, check again next period.
        blocking(&self.state, move |c| {
            Ok(c.db.read(|r| r.desk_by_token(&hash))?)
        })
        .await
        .map_or(true, |row| row.is_some())
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Listener)> {
        if self.revoked {
            return None;
        }
        if self.first {
            self.first = false;
            // Tells the client the stream is live (and that it may have missed changes while it was not).
            let hello = Event::default().event("ready").data("{}");
            return Some((Ok(hello), self));
        }
        loop {
            if *self.closing.borrow() {
                return None;
            }
            tokio::select! {
                _ = self.closing.changed() => return None,
                _ = self.recheck.tick() => {
                    if !self.token_live().await {
                        // The dashboard signs out on this; the stream then ends.
                        self.revoked = true;
                        let event = Event::default().event("revoked").data("{}");
                        return Some((Ok(event), self));
                    }
                }
                got = self.rx.recv() => match got {
                    Ok(change) => {
                        if !self.desk.sees_parts(change.cell.as_deref(), change.department.as_deref()) {
                            continue;
                        }
                        let event = Event::default()
                            .event("case_changed")
                            .json_data(&change)
                            .unwrap_or_else(|_| Event::default().event("resync").data("{}"));
                        return Some((Ok(event), self));
                    }
                    // Fell behind: the client reloads what it shows.
                    Err(RecvError::Lagged(_)) => {
                        let event = Event::default().event("resync").data("{}");
                        return Some((Ok(event), self));
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ServerError> {
    let (desk, token_hash) = desk_from(&state, &headers, q.token).await?;
    let (rx, closing) = state.db.events().subscribe();
    let mut recheck = tokio::time::interval_at(
        tokio::time::Instant::now() + RECHECK_TOKEN_EVERY,
        RECHECK_TOKEN_EVERY,
    );
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let listener = Listener {
        rx,
        closing,
        desk,
        token_hash,
        recheck,
        state,
        first: true,
        revoked: false,
    };
    let stream = futures_util::stream::unfold(listener, Listener::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The OpenAPI entries of these endpoints.
pub fn document(doc: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let with = |description: &str| {
        let mut e = error.clone();
        e["description"] = json!(description);
        e
    };
    doc["components"]["schemas"]["CaseRow"]["properties"]["deadline_state"] =
        json!({"type": "string", "enum": ["no_deadline", "on_time", "approaching", "overdue"]});
    let paths = &mut doc["paths"];
    paths["/api/v1/me"] = json!({"get": {
        "summary": "The desk a token belongs to: id, role (dispatcher, supervisor, department), scope (cell code prefix), department",
        "security": [{"deskToken": []}],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object", "properties": {
                "id": {"type": "string"}, "role": {"type": "string", "enum": ["dispatcher", "supervisor", "department"]},
                "scope": {"type": "string"}, "department": {"type": ["string", "null"]}}}}}},
            "401": with("Missing or unknown token (令牌无效)"),
            "403": with("A device token (此接口仅供坐席使用)")
        }
    }});
    paths["/api/v1/events"] = json!({"get": {
        "summary": "Live updates (server-sent events): `ready` once, then `case_changed` {id, stage} whenever a case the desk may see is saved (device sync, desk action, supervision); `resync` when the listener fell behind; `revoked` (then the stream ends) when the desk's token has been revoked or rotated",
        "security": [{"deskToken": []}],
        "parameters": [{"name": "token", "in": "query", "description": "The desk token, for clients that cannot set headers (EventSource)", "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "object", "required": ["event", "data"], "properties": {
                "event": {"type": "string", "enum": ["ready", "case_changed", "resync", "revoked"]},
                "data": {"type": "string", "description": "JSON: {} or, for case_changed, {id, stage}"}}}}}},
            "400": with("An unknown query parameter (查询参数错误)"),
            "401": with("Missing or unknown token (令牌无效)"),
            "403": with("A device token (此接口仅供坐席使用)")
        }
    }});
}
