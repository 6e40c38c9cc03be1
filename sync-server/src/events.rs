//! Live updates for open dashboards: every case the server saves (a device's sync, a desk's action, the
//! supervision job) is announced once its transaction has committed. `GET /api/v1/events` streams the
//! announcements a desk may see as server-sent events.

use gridpatrol_core::case::{Case, CaseId};
use gridpatrol_core::workflow::Stage;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// How many announcements a slow listener may fall behind before it is told to reload everything.
const CAPACITY: usize = 1024;

/// A case was saved. Cell and department decide which desks hear of it; only id and stage go out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseChanged {
    pub id: CaseId,
    pub stage: Option<Stage>,
    #[serde(skip)]
    pub cell: Option<String>,
    #[serde(skip)]
    pub department: Option<String>,
}

impl CaseChanged {
    pub fn of(case: &Case) -> CaseChanged {
        CaseChanged {
            id: case.id,
            stage: case.stage(),
            cell: case.cell.clone(),
            department: case.timeline.department.clone(),
        }
    }
}

/// The announcements of one server process.
pub struct CaseEvents {
    tx: broadcast::Sender<CaseChanged>,
    closing: watch::Sender<bool>,
}

impl Default for CaseEvents {
    fn default() -> Self {
        CaseEvents {
            tx: broadcast::channel(CAPACITY).0,
            closing: watch::channel(false).0,
        }
    }
}

impl CaseEvents {
    /// Announces committed saves; a case saved twice in one transaction is announced once, as it ended.
    pub fn publish(&self, changed: Vec<CaseChanged>) {
        let mut last: Vec<CaseChanged> = Vec::with_capacity(changed.len());
        for c in changed.into_iter().rev() {
            if !last.iter().any(|l| l.id == c.id) {
                last.push(c);
            }
        }
        for c in last.into_iter().rev() {
            // No listener is not an error.
            let _ = self.tx.send(c);
        }
    }

    pub fn subscribe(&self) -> (broadcast::Receiver<CaseChanged>, watch::Receiver<bool>) {
        (self.tx.subscribe(), self.closing.subscribe())
    }

    /// Ends every open stream, so that a graceful shutdown is not held up by dashboards left open.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}
