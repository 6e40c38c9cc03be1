//! The dispatch pool (派遣池): a new case enters once, routed by its category and area to a department
//! with a deadline from the category's rule and the work calendar. Dispatchers work from the pool.

use chrono::{DateTime, Utc};
use gridpatrol_core::case::CaseId;
use gridpatrol_core::catalog::CategoryKey;
use gridpatrol_core::dispatch::Route;

use crate::db::{DbError, RouteRow, Write};
use crate::reference::Reference;

pub struct DispatchPool;

impl DispatchPool {
    /// The route for a category in a cell if dispatched at `at` (core's routing rules).
    pub fn route(
        reference: &Reference,
        category: &CategoryKey,
        cell: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Route, gridpatrol_core::dispatch::DispatchError> {
        reference
            .routing
            .route(&reference.catalog, &reference.calendar, category, cell, at)
    }

    /// Puts a case just received into the pool, in the transaction that stored it, routed as if
    /// dispatched at the moment it entered. A case that cannot be routed (a category unknown to this
    /// server's catalogue) still enters, without a department, and says why. Returns false when the case
    /// was already in the pool.
    pub fn enter(w: &Write<'_>, reference: &Reference, case: CaseId) -> Result<bool, DbError> {
        let at = w.now();
        let row = w
            .case_row(case)?
            .ok_or_else(|| DbError::Corrupt(format!("case {case} entered the pool unsaved")))?;
        let route = match Self::route(reference, &row.category, row.cell.as_deref(), at) {
            Ok(r) => RouteRow {
                department: Some(r.department),
                deadline: Some(r.deadline),
                hours: Some(r.hours),
                clock: Some(r.clock.as_code().to_owned()),
                because: r.because,
            },
            Err(e) => RouteRow {
                department: None,
                deadline: None,
                hours: None,
                clock: None,
                because: e.to_string(),
            },
        };
        let entered = w.enter_pool(case, &route)?;
        if entered {
            tracing::info!(case = %case, department = ?route.department, because = %route.because, "case entered the dispatch pool");
        }
        Ok(entered)
    }
}
