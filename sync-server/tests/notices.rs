//! Notices for the command centre: a work calendar that lacks the holidays of a year the deadlines will
//! reach is named in `/api/v1/notices` and `/healthz` (desks), and the notice goes once the calendar is
//! completed and imported, while the server runs.

mod common;

use std::time::{Duration, Instant};

use chrono::{Datelike, FixedOffset, Utc};
use common::{Server, admin_ok, seed};
use gridpatrol_core::calendar::WorkCalendar;
use serde_json::Value;

/// The shipped calendar with `holiday_years` replaced (the holidays themselves stay).
fn calendar_declaring(dir: &std::path::Path, years: &[i32]) -> String {
    let mut file: Value = serde_json::from_str(&WorkCalendar::builtin().to_json()).unwrap();
    file["holiday_years"] = years.iter().copied().collect();
    let path = dir.join(format!("calendar-{}.json", years.len()));
    std::fs::write(&path, file.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_calendar_missing_a_years_holidays_is_a_notice_until_it_is_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let tokens = seed(&dir);
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let this_year = Utc::now().with_timezone(&beijing).year();

    admin_ok(
        &dir,
        &["calendar", "import", &calendar_declaring(tmp.path(), &[])],
    );
    let server = Server::start_with(&dir, &["--supervise-every", "1"]);
    let http = server.http();

    let (status, notices) = http.get("/api/v1/notices", Some(&tokens.dispatcher));
    assert_eq!(status, 200, "{notices}");
    let notices = notices.as_array().unwrap().clone();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["code"], "calendar_holidays_missing");
    let years: Vec<i64> = notices[0]["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y.as_i64().unwrap())
        .collect();
    assert_eq!(years[0], i64::from(this_year), "{years:?}");
    assert!(
        notices[0]["message_zh"]
            .as_str()
            .unwrap()
            .contains(&this_year.to_string())
    );
    let (_, health) = http.get("/healthz", Some(&tokens.supervisor));
    assert_eq!(health["notices"], Value::Array(notices.clone()));
    // Desks only: a device token is refused, no token is a 401.
    assert_eq!(http.get("/api/v1/notices", Some(&tokens.device1)).0, 403);
    assert_eq!(http.get("/api/v1/notices", None).0, 401);

    // Completed (the years ahead declared) and imported while the server runs: the notice goes.
    let covered = [this_year, this_year + 1];
    admin_ok(
        &dir,
        &[
            "calendar",
            "import",
            &calendar_declaring(tmp.path(), &covered),
        ],
    );
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, notices) = http.get("/api/v1/notices", Some(&tokens.supervisor));
        assert_eq!(status, 200);
        if notices.as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < until, "the notice stayed: {notices}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, health) = http.get("/healthz", Some(&tokens.supervisor));
    assert_eq!(health["notices"], Value::Array(Vec::new()));
}
