//! The case list as desks see it: each row with its deadline state (on time, approaching, overdue),
//! measured like supervision measures it (the route's clock on the work calendar), so that the
//! dashboard colours cases without opening them.
//!
//! A list may also keep only some deadline states (`deadline_state=approaching,overdue`). "Approaching"
//! depends on the case's clock and the calendar, so SQL cannot count those: the filter's candidates come
//! from SQL with only their deadline facts, in the list's order; the states are computed here, once, at
//! one instant; and then the matches are counted and paged, and only the page's rows are read in full.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gridpatrol_core::dispatch::DeadlineState;
use serde::Serialize;

use crate::centre::CommandCentre;
use crate::db::{CaseFilter, CaseRow, DbError, Supervised};
use crate::error::ServerError;
use crate::principal::Desk;
use crate::supervision::{state_at, state_name};

#[derive(Debug, Clone, Serialize)]
pub struct ListedCase {
    #[serde(flatten)]
    pub row: CaseRow,
    pub deadline_state: DeadlineState,
}

/// `GET /api/v1/cases`: a page of case rows with their deadline states.
#[derive(Debug, Clone, Serialize)]
pub struct ListedPage {
    pub items: Vec<ListedCase>,
    /// Every case matching the filters, deadline states included, not only this page's.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// Every deadline state, as the API names them.
pub const DEADLINE_STATES: [DeadlineState; 4] = [
    DeadlineState::NoDeadline,
    DeadlineState::OnTime,
    DeadlineState::Approaching,
    DeadlineState::Overdue,
];

/// A deadline state by its API name (`on_time`, ...).
pub fn parse_deadline_state(name: &str) -> Option<DeadlineState> {
    DEADLINE_STATES.into_iter().find(|s| state_name(*s) == name)
}

impl CommandCentre {
    /// A page of the cases in the desk's scope matching `filter` and, unless `states` is empty, whose
    /// deadline state at `now` is one of `states`; each with its deadline state at `now`.
    pub fn list_cases(
        &self,
        desk: &Desk,
        filter: &CaseFilter,
        states: &[DeadlineState],
        now: DateTime<Utc>,
    ) -> Result<ListedPage, ServerError> {
        let reference = self.reference();
        let policy = self.options.supervision;
        let state_of = |s: &Supervised| state_at(&reference, &policy, s, now);
        let scope = desk.list_scope();
        let now_ms = now.timestamp_millis();
        Ok(self.db.read(|r| {
            if states.is_empty() {
                let page = r.list_cases(&scope, filter, now_ms)?;
                let mut items = Vec::with_capacity(page.items.len());
                for row in page.items {
                    let state = if row.stage.is_with_department() && row.deadline.is_some() {
                        let route_clock = r.pool_entry(row.id)?.and_then(|p| p.route.clock);
                        state_of(&facts(&row, route_clock))
                    } else {
                        DeadlineState::NoDeadline
                    };
                    items.push(ListedCase {
                        row,
                        deadline_state: state,
                    });
                }
                return Ok::<_, DbError>(ListedPage {
                    items,
                    total: page.total,
                    limit: page.limit,
                    offset: page.offset,
                });
            }
            // Without "no deadline" wanted, only cases with a handling window can match.
            let windows_only = !states.contains(&DeadlineState::NoDeadline);
            let candidates = r.deadline_candidates(&scope, filter, windows_only, now_ms)?;
            let mut total = 0_u64;
            let mut page = Vec::new();
            for s in &candidates {
                let state = state_of(s);
                if !states.contains(&state) {
                    continue;
                }
                if total >= u64::from(filter.offset) && page.len() < filter.limit as usize {
                    page.push((s.case, state));
                }
                total += 1;
            }
            let ids: Vec<_> = page.iter().map(|(id, _)| *id).collect();
            let state_by_id: HashMap<_, _> = page.into_iter().collect();
            // In the candidates' order (and all there: this is the same read).
            let items = r
                .case_rows(&ids, now_ms)?
                .into_iter()
                .map(|row| ListedCase {
                    deadline_state: state_by_id[&row.id],
                    row,
                })
                .collect();
            Ok(ListedPage {
                items,
                total,
                limit: filter.limit,
                offset: filter.offset,
            })
        })?)
    }
}

/// A row's deadline facts, with its route's clock.
fn facts(row: &CaseRow, route_clock: Option<String>) -> Supervised {
    Supervised {
        case: row.id,
        stage: row.stage,
        category: row.category.clone(),
        dispatched_at: row.dispatched_at,
        deadline: row.deadline,
        route_clock,
        supervision: None,
        escalated: row.escalated,
    }
}
