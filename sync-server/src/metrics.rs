//! Counters for `GET /metrics` (Prometheus text format).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP responses by status class: 1xx .. 5xx.
    responses: [AtomicU64; 5],
    pub sync_requests: AtomicU64,
    pub sync_docs_in: AtomicU64,
    pub sync_docs_out: AtomicU64,
    pub sync_bytes_in: AtomicU64,
    pub sync_bytes_out: AtomicU64,
    pub refusals: AtomicU64,
    pub desk_actions: AtomicU64,
    pub reminders: AtomicU64,
    pub escalations: AtomicU64,
    pub auto_closed: AtomicU64,
    /// HTTP connections being served now (a gauge kept by the accept loop).
    pub connections_open: AtomicU64,
    /// Connections closed at accept because `--max-connections` were open.
    pub connections_refused: AtomicU64,
    /// Connections closed for a request head not in within `--header-timeout-secs`, or idle for
    /// `--idle-timeout-secs`.
    pub connections_timed_out: AtomicU64,
}

/// Figures read from the database when the metrics are scraped.
#[derive(Debug, Default)]
pub struct Gauges {
    pub cases: u64,
    pub pool_open: u64,
    pub overdue: u64,
    pub cached_docs: u64,
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        add(&self.responses[class], 1);
    }

    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP gridpatrol_http_responses_total HTTP responses by status class."
        );
        let _ = writeln!(out, "# TYPE gridpatrol_http_responses_total counter");
        for (i, c) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "gridpatrol_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                get(c)
            );
        }
        let counters = [
            (
                "gridpatrol_sync_requests_total",
                "Sync requests handled.",
                &self.sync_requests,
            ),
            (
                "gridpatrol_sync_docs_in_total",
                "Documents pushed by devices.",
                &self.sync_docs_in,
            ),
            (
                "gridpatrol_sync_docs_out_total",
                "Documents sent to devices.",
                &self.sync_docs_out,
            ),
            (
                "gridpatrol_sync_bytes_in_total",
                "Sync request bytes.",
                &self.sync_bytes_in,
            ),
            (
                "gridpatrol_sync_bytes_out_total",
                "Sync response bytes.",
                &self.sync_bytes_out,
            ),
            (
                "gridpatrol_refusals_total",
                "Requests refused by an authorization rule.",
                &self.refusals,
            ),
            (
                "gridpatrol_desk_actions_total",
                "Desk actions recorded.",
                &self.desk_actions,
            ),
            (
                "gridpatrol_reminders_total",
                "Supervision reminders recorded.",
                &self.reminders,
            ),
            (
                "gridpatrol_escalations_total",
                "Cases escalated by supervision.",
                &self.escalations,
            ),
            (
                "gridpatrol_auto_closed_total",
                "Cases closed after a passed verification.",
                &self.auto_closed,
            ),
            (
                "gridpatrol_http_connections_refused_total",
                "Connections closed at accept because the connection limit was reached.",
                &self.connections_refused,
            ),
            (
                "gridpatrol_http_connections_timed_out_total",
                "Connections closed for a slow request head or for being idle.",
                &self.connections_timed_out,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(c)
            );
        }
        let gauges = [
            (
                "gridpatrol_http_connections_open",
                "HTTP connections being served.",
                get(&self.connections_open),
            ),
            ("gridpatrol_cases", "Cases stored.", g.cases),
            (
                "gridpatrol_pool_open",
                "Cases in the dispatch pool not yet finished.",
                g.pool_open,
            ),
            (
                "gridpatrol_overdue",
                "Cases with a department past their deadline.",
                g.overdue,
            ),
            (
                "gridpatrol_cached_docs",
                "Case documents in the LRU.",
                g.cached_docs,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}
