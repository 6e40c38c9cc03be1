//! Reference data endpoints (grids, catalogue) and the operational ones (health, metrics).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderName;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridpatrol_core::catalog::Category;
use gridpatrol_core::grid::{GridCell, GridIndex};
use gridpatrol_core::indicators::{INDICATOR_LABELS, IndicatorLabel};
use gridpatrol_core::sync::{CATALOG_VERSION_HEADER, GRIDS_VERSION_HEADER};
use gridpatrol_core::workflow::{ActionKind, Role, Stage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::extract::QueryParams;
use super::{AppState, blocking};
use crate::error::ServerError;
use crate::metrics::Gauges;
use crate::notices::{Notice, notices};
use crate::principal::{Desk, Principal};

pub async fn grids(State(state): State<AppState>, who: Principal) -> Result<Response, ServerError> {
    let (body, version) = blocking(&state, move |c| {
        let reference = c.reference();
        let prefixes = who.cell_prefixes();
        let mut cells: Vec<GridCell> = Vec::new();
        for prefix in &prefixes {
            for cell in reference.grids.cells_within(prefix) {
                if !cells.iter().any(|c| c.code == cell.code) {
                    cells.push(cell.clone());
                }
            }
        }
        let index = GridIndex::new(cells)
            .map_err(|e| ServerError::Internal(format!("grids in scope: {e}")))?;
        Ok((index.to_geojson(), reference.grids_version(&prefixes)))
    })
    .await?;
    Ok((
        [
            (CONTENT_TYPE, "application/geo+json".to_owned()),
            (HeaderName::from_static(GRIDS_VERSION_HEADER), version),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// `json` (the default) or `csv`: the catalogue file itself, as devices import it.
    pub format: Option<String>,
}

/// The catalogue in force, as JSON rows or as its CSV file; either way the version is in the
/// [`CATALOG_VERSION_HEADER`] header.
pub async fn catalog(
    State(state): State<AppState>,
    _who: Principal,
    QueryParams(q): QueryParams<CatalogQuery>,
) -> Result<Response, ServerError> {
    let reference = state.reference();
    let version = (
        HeaderName::from_static(CATALOG_VERSION_HEADER),
        reference.catalog_version.clone(),
    );
    match q.format.as_deref() {
        None | Some("json") => {
            let rows: Vec<Category> = reference.catalog.iter().cloned().collect();
            Ok(([version], Json(rows)).into_response())
        }
        Some("csv") => Ok((
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                version,
            ],
            reference.catalog.to_csv(),
        )
            .into_response()),
        Some(other) => Err(ServerError::bad_request(
            "bad_format",
            format!("format {other:?}: use json or csv (格式须为 json 或 csv)"),
        )),
    }
}

/// Health. Anyone learns only that the server answers (`{"status": "ok"}`); a desk token also gets the
/// version, the case count, the server's clock and the notices. A token that is there must be a live
/// desk's: 401 when unknown, 403 for a device token.
pub async fn healthz(
    State(state): State<AppState>,
    desk: Option<Desk>,
) -> Result<Json<Value>, ServerError> {
    if desk.is_none() {
        return Ok(Json(json!({"status": "ok"})));
    }
    let cases = blocking(&state, |c| Ok(c.db.read(|r| r.case_count())?)).await?;
    let now = Utc::now();
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "cases": cases,
        "server_time": now,
        "notices": notices(&state.reference(), now),
    })))
}

/// What needs the command centre's attention (`GET /api/v1/notices`, any desk): the dashboard shows it.
pub async fn list_notices(
    State(state): State<AppState>,
    _desk: Desk,
) -> Result<Json<Vec<Notice>>, ServerError> {
    Ok(Json(notices(&state.reference(), Utc::now())))
}

/// A word of the workflow (a stage, an action, a role) with its labels in both languages.
#[derive(Debug, Serialize)]
pub struct Term {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

#[derive(Debug, Serialize)]
pub struct StageTerm {
    #[serde(flatten)]
    pub term: Term,
    /// No action moves a case out of it.
    pub terminal: bool,
    /// A department holds the case and its handling clock runs.
    pub with_department: bool,
}

/// The workflow's words and the assessment's indicators as the core names them, so that the
/// dashboard shows the same labels as the CLI and the apps instead of keeping copies.
#[derive(Debug, Serialize)]
pub struct Workflow {
    /// In the order of the closed loop.
    pub stages: Vec<StageTerm>,
    pub actions: Vec<Term>,
    pub roles: Vec<Term>,
    /// In the order the assessment shows them.
    pub indicators: &'static [IndicatorLabel],
}

pub async fn workflow(_desk: Desk) -> Json<Workflow> {
    Json(Workflow {
        stages: Stage::ALL
            .into_iter()
            .map(|s| StageTerm {
                term: Term {
                    code: s.as_str(),
                    zh: s.label_zh(),
                    en: s.label_en(),
                },
                terminal: s.is_terminal(),
                with_department: s.is_with_department(),
            })
            .collect(),
        actions: ActionKind::ALL
            .into_iter()
            .map(|a| Term {
                code: a.as_str(),
                zh: a.label_zh(),
                en: a.label_en(),
            })
            .collect(),
        roles: Role::ALL
            .into_iter()
            .map(|r| Term {
                code: r.as_str(),
                zh: r.label_zh(),
                en: r.label_en(),
            })
            .collect(),
        indicators: INDICATOR_LABELS,
    })
}

/// Prometheus metrics, for desk tokens only (Prometheus sends one with `authorization: {credentials: …}`).
pub async fn metrics(State(state): State<AppState>, _desk: Desk) -> Result<Response, ServerError> {
    let text = blocking(&state, |c| {
        let now = Utc::now().timestamp_millis();
        let gauges = c.db.read(|r| {
            Ok::<_, crate::db::DbError>(Gauges {
                cases: r.case_count()?,
                pool_open: r.pool_size()?,
                overdue: r.overdue_count(now)?,
                cached_docs: c.db.cached_docs() as u64,
            })
        })?;
        Ok(c.metrics.render(&gauges))
    })
    .await?;
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
