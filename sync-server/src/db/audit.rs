//! The audit log: every refusal and every desk action, with who, what, which case and why.

use gridpatrol_core::case::CaseId;
use rusqlite::params;
use serde::Serialize;

use super::{DbError, Read, Write};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub principal: String,
    pub action: String,
    pub case_id: Option<String>,
    pub reason: Option<String>,
}

/// Writes one entry in its own transaction (used after a refused request rolled back).
pub fn audit(
    db: &super::Db,
    principal: &str,
    action: &str,
    case: Option<CaseId>,
    reason: Option<&str>,
) -> Result<(), DbError> {
    db.write(|w| w.audit(principal, action, case, reason))
}

impl Write<'_> {
    pub fn audit(
        &self,
        principal: &str,
        action: &str,
        case: Option<CaseId>,
        reason: Option<&str>,
    ) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO audit_log (at_ms, principal, action, case_id, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                self.now_ms,
                principal,
                action,
                case.map(|c| c.to_string()),
                reason
            ])?;
        Ok(())
    }
}

impl Read<'_> {
    /// The latest entries, newest first (optionally for one case).
    pub fn audit_log(&self, case: Option<CaseId>, limit: u32) -> Result<Vec<AuditEntry>, DbError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at_ms, principal, action, case_id, reason FROM audit_log
             WHERE ?1 IS NULL OR case_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![case.map(|c| c.to_string()), limit], |r| {
            Ok(AuditEntry {
                at_ms: r.get(0)?,
                principal: r.get(1)?,
                action: r.get(2)?,
                case_id: r.get(3)?,
                reason: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
