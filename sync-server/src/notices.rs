//! Notices for the people who run the command centre: configuration that will make the server compute
//! wrong results soon unless someone acts. Shown on the dashboard, in `/healthz` and in the log.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::reference::Reference;

/// How far ahead the holiday coverage is checked: longer than any deadline in the catalogue runs, and
/// long enough to warn in December that the State Council's notice for next year (published around
/// November) has to be entered.
pub const HOLIDAY_HORIZON_DAYS: u32 = 45;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// Stable, for scripts and monitoring: `calendar_holidays_missing`.
    pub code: &'static str,
    /// `warning`: results will be wrong from a known date unless someone acts.
    pub severity: &'static str,
    pub message_zh: String,
    pub message_en: String,
    /// The years concerned, for `calendar_holidays_missing`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<i32>,
}

/// What needs someone's attention now.
pub fn notices(reference: &Reference, now: DateTime<Utc>) -> Vec<Notice> {
    let mut out = Vec::new();
    let years = reference
        .calendar
        .missing_holiday_years(now, HOLIDAY_HORIZON_DAYS);
    if !years.is_empty() {
        let list = years
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Notice {
            code: "calendar_holidays_missing",
            severity: "warning",
            message_zh: format!(
                "工作日历缺少 {list} 年的法定节假日和调休安排：这些年份的工作时限只在周末暂停。请按国务院办公厅通知补充 calendar.json 后执行 `gridpatrol-server admin calendar import`。"
            ),
            message_en: format!(
                "The work calendar lacks the public holidays and make-up working days of {list}: working-hours deadlines in those years pause only at weekends. Add them to calendar.json from the State Council notice and run `gridpatrol-server admin calendar import`."
            ),
            years,
        });
    }
    out
}
