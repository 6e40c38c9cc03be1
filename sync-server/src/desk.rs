//! The desks' side: lists from the case rows, a case with what this desk may do now, and actions
//! recorded into the case document as the server's actor, naming the person.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gridpatrol_core::action::Actor;
use gridpatrol_core::case::{Case, CaseId};
use gridpatrol_core::dispatch::{DeadlineState, deadline_state};
use gridpatrol_core::indicators::{self, GroupBy, IndicatorPolicy, Indicators, Period};
use gridpatrol_core::sync::SyncBackend;
use gridpatrol_core::workflow::{ActionKind, Stage, available_actions};
use serde::Serialize;

use crate::actions::{self, ActionRequest, DESK_ACTIONS};
use crate::centre::CommandCentre;
use crate::db::{DbError, PoolEntry, RouteRow, audit};
use crate::error::ServerError;
use crate::metrics::add;
use crate::principal::Desk;
use crate::reference::Reference;

/// `GET /api/v1/stats`: the indicators of the cases in a desk's scope over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub group_by: GroupBy,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Cases in the desk's scope that were looked at.
    pub cases: usize,
    pub groups: BTreeMap<String, Indicators>,
    pub total: Indicators,
}

/// A case as a desk sees it: the core's case (details, photos, timeline with outcomes) and the server's
/// view of it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: Case,
    pub stage: Option<Stage>,
    pub stage_zh: Option<&'static str>,
    /// The route the case was given when it entered the dispatch pool.
    pub route: Option<RouteRow>,
    pub pool_entered_at: Option<chrono::DateTime<Utc>>,
    pub deadline_state: DeadlineState,
    pub escalated: bool,
    /// What this desk may do now.
    pub actions: Vec<ActionKind>,
}

fn not_found(id: CaseId) -> ServerError {
    ServerError::NotFound(format!("no case {id} (案件不存在)"))
}

impl CommandCentre {
    fn view(&self, desk: &Desk, case: Case, pool: Option<PoolEntry>, escalated: bool) -> CaseView {
        let reference = self.reference();
        let clock = actions::case_clock(&reference, &case, pool.as_ref());
        let state = deadline_state(
            &case.timeline,
            clock,
            &reference.calendar,
            Utc::now(),
            &self.options.supervision,
        );
        let actions = case
            .stage()
            .map(|s| {
                available_actions(s, desk.role.role())
                    .into_iter()
                    .filter(|a| DESK_ACTIONS.contains(a))
                    .collect()
            })
            .unwrap_or_default();
        CaseView {
            stage: case.stage(),
            stage_zh: case.stage().map(Stage::label_zh),
            route: pool.as_ref().map(|p| p.route.clone()),
            pool_entered_at: pool.as_ref().map(|p| p.entered_at),
            deadline_state: state,
            escalated,
            actions,
            case,
        }
    }

    /// A case in this desk's scope.
    pub fn case_view(&self, desk: &Desk, id: CaseId) -> Result<CaseView, ServerError> {
        let now = Utc::now().timestamp_millis();
        let (case, pool, row) = self
            .db
            .read(|r| {
                let Some(case) = r.load_case(id)? else {
                    return Ok::<_, DbError>(None);
                };
                Ok(Some((case, r.pool_entry(id)?, r.case_row(id, now)?)))
            })?
            .ok_or_else(|| not_found(id))?;
        if !desk.sees(&case) {
            self.refused(desk, "view", id, &desk.out_of_scope())?;
            return Err(desk.out_of_scope());
        }
        let escalated = row.is_some_and(|r| r.escalated);
        Ok(self.view(desk, case, pool, escalated))
    }

    fn refused(
        &self,
        desk: &Desk,
        action: &str,
        id: CaseId,
        e: &ServerError,
    ) -> Result<(), ServerError> {
        add(&self.metrics.refusals, 1);
        tracing::warn!(principal = %desk.name(), action, case = %id, reason = %e, "desk request refused");
        audit(
            &self.db,
            &desk.name(),
            action,
            Some(id),
            Some(&e.to_string()),
        )?;
        Ok(())
    }

    /// Records a desk action in the case document, in one transaction with its audit entry.
    pub fn act(
        &self,
        desk: &Desk,
        id: CaseId,
        request: &ActionRequest,
    ) -> Result<CaseView, ServerError> {
        let kind = request.kind()?;
        let reference: std::sync::Arc<Reference> = self.reference();
        let now = Utc::now();
        let result = self.db.write(|w| {
            let Some(doc) = w.load(id)? else {
                return Err(not_found(id));
            };
            let case = doc.read().map_err(DbError::from)?;
            // Who may do this at all comes first: it says more than "not your case".
            if !kind.allowed_roles().contains(&desk.role.role()) {
                return Err(ServerError::conflict(
                    "workflow",
                    gridpatrol_core::workflow::Refusal::RoleNotAllowed {
                        role: desk.role.role(),
                        action: kind,
                    }
                    .to_string(),
                ));
            }
            if !desk.sees(&case) {
                return Err(desk.out_of_scope());
            }
            let pool = w.pool_entry(id)?;
            let workers = w.workers()?;
            let ctx = actions::ActionContext {
                case: &case,
                pool: pool.as_ref(),
                reference: &reference,
                workers: &workers,
                max_deadline: self.options.max_deadline,
            };
            let actor = Actor::new(&desk.id, desk.role.role(), None);
            let after = self
                .sync
                .record(w, id, kind, actor, now, |event| {
                    actions::fill(&ctx, request, event)
                })
                .map_err(|e| crate::sync::action_error(id, e))?;
            w.audit(
                &desk.name(),
                kind.as_str(),
                Some(id),
                request.note.as_deref(),
            )?;
            let escalated = w.case_row(id)?.is_some_and(|r| r.escalated);
            Ok((after, pool, escalated))
        });
        match result {
            Ok((case, pool, escalated)) => {
                add(&self.metrics.desk_actions, 1);
                tracing::info!(principal = %desk.name(), action = kind.as_str(), case = %id, "desk action recorded");
                Ok(self.view(desk, case, pool, escalated))
            }
            Err(e) => {
                if matches!(
                    e,
                    ServerError::Refused { .. } | ServerError::Conflict { .. }
                ) {
                    self.refused(desk, kind.as_str(), id, &e)?;
                }
                Err(e)
            }
        }
    }
}

impl CommandCentre {
    /// The indicators (core's `indicators::compute`) over the cases in this desk's scope.
    pub fn stats(
        &self,
        desk: &Desk,
        group_by: GroupBy,
        period: Period,
    ) -> Result<Stats, ServerError> {
        let cases = self.db.read(|r| {
            let mut cases = Vec::new();
            for id in r.case_ids(&desk.list_scope())? {
                if let Some(case) = r.load_case(id)? {
                    cases.push(case);
                }
            }
            Ok::<_, DbError>(cases)
        })?;
        let groups = indicators::compute(
            &cases,
            group_by,
            &period,
            Utc::now(),
            &IndicatorPolicy::default(),
        );
        Ok(Stats {
            group_by,
            from: period.from,
            to: period.to,
            cases: cases.len(),
            total: Indicators::total(groups.values()),
            groups,
        })
    }
}
