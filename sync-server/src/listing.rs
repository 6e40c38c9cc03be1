//! The case list as desks see it: each row with its deadline state (on time, approaching, overdue),
//! measured like supervision measures it (the route's clock on the work calendar), so that the
//! dashboard colours cases without opening them.

use chrono::Utc;
use gridpatrol_core::calendar::ClockType;
use gridpatrol_core::dispatch::{DeadlineState, deadline_state};
use gridpatrol_core::timeline::Timeline;
use serde::Serialize;

use crate::centre::CommandCentre;
use crate::db::{CasePage, CaseRow};
use crate::error::ServerError;

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
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

impl CommandCentre {
    pub fn with_deadline_states(&self, page: CasePage) -> Result<ListedPage, ServerError> {
        let reference = self.reference();
        let now = Utc::now();
        let mut items = Vec::with_capacity(page.items.len());
        for row in page.items {
            let state = if row.stage.is_with_department() && row.deadline.is_some() {
                let route_clock = self
                    .db
                    .read(|r| r.pool_entry(row.id))?
                    .and_then(|p| p.route.clock);
                let clock = route_clock
                    .as_deref()
                    .and_then(|c| c.parse().ok())
                    .or_else(|| reference.catalog.get(&row.category).map(|c| c.clock))
                    .unwrap_or(ClockType::WorkingHours);
                let window = Timeline {
                    stage: Some(row.stage),
                    dispatched_at: row.dispatched_at,
                    deadline: row.deadline,
                    ..Timeline::default()
                };
                deadline_state(
                    &window,
                    clock,
                    &reference.calendar,
                    now,
                    &self.options.supervision,
                )
            } else {
                DeadlineState::NoDeadline
            };
            items.push(ListedCase {
                row,
                deadline_state: state,
            });
        }
        Ok(ListedPage {
            items,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        })
    }
}
