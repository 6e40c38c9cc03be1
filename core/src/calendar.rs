//! The work calendar (工作日历) that handling deadlines (处置时限) run on.
//!
//! Most categories count **working hours** (WH): only time inside the working periods of a working day
//! counts, so the clock pauses at lunch, at night, at weekends and on public holidays. Urgent and safety
//! categories count **continuous hours** (CH): plain wall-clock time.
//!
//! The calendar is reference data, shipped as `data/calendar.json` and editable per city: the UTC offset
//! (China has no DST, so a fixed offset is exact), the working periods of a day, the weekend days, the
//! public holidays (放假) and the make-up working days (调休上班) on which a weekend day is worked.
//!
//! All arithmetic happens on the calendar's local wall clock, then converts back to UTC.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, Duration, FixedOffset, NaiveDate, NaiveDateTime, Utc, Weekday,
};
use serde::{Deserialize, Serialize};

/// Minutes in a day; a working period may end at "24:00".
const MINUTES_PER_DAY: u32 = 24 * 60;

/// A holiday range longer than this is refused as a typo (e.g. a wrong year in `to`).
const MAX_HOLIDAY_RANGE_DAYS: i64 = 366;

/// Which clock a deadline runs on (时限类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClockType {
    /// 工作时: only working periods of working days count.
    #[serde(rename = "WH")]
    WorkingHours,
    /// 自然时 / 连续时: wall-clock time, nights and holidays included.
    #[serde(rename = "CH")]
    Continuous,
}

impl ClockType {
    /// The code used in the catalogue and in JSON: "WH" or "CH".
    pub fn as_code(self) -> &'static str {
        match self {
            ClockType::WorkingHours => "WH",
            ClockType::Continuous => "CH",
        }
    }
}

impl fmt::Display for ClockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

impl FromStr for ClockType {
    type Err = CalendarError;

    /// Accepts "WH" or "CH" (surrounding spaces and letter case are forgiven: the value is hand-edited).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim();
        if code.eq_ignore_ascii_case("WH") {
            Ok(ClockType::WorkingHours)
        } else if code.eq_ignore_ascii_case("CH") {
            Ok(ClockType::Continuous)
        } else {
            Err(CalendarError::UnknownClock(s.to_string()))
        }
    }
}

/// Why a calendar file was refused. English, with a Chinese gloss for the people who edit the file.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar JSON is malformed: {0} (日历文件格式错误)")]
    Json(#[from] serde_json::Error),
    #[error("utc_offset {0:?} is not an offset like \"+08:00\" (时区偏移格式应为 +08:00)")]
    BadOffset(String),
    #[error("working_periods[{index}].{field}: {value:?} is not a HH:MM time (时间格式应为 HH:MM)")]
    BadTime {
        index: usize,
        field: &'static str,
        value: String,
    },
    #[error("working_periods[{index}]: start {start} is not before end {end} (时段开始须早于结束)")]
    EmptyPeriod {
        index: usize,
        start: String,
        end: String,
    },
    #[error(
        "working_periods[{index}] starts at {start}, before the previous period ends at {previous_end}: \
         periods must be in order and must not overlap (工作时段须按时间顺序且不重叠)"
    )]
    PeriodOverlap {
        index: usize,
        start: String,
        previous_end: String,
    },
    #[error(
        "working_periods is empty: a working-hours deadline could never be reached (须至少有一个工作时段)"
    )]
    NoWorkingPeriods,
    #[error(
        "weekend: {0:?} is not a weekday such as \"Sat\" or \"Sun\" (周末须写英文星期，如 Sat、Sun)"
    )]
    BadWeekday(String),
    #[error(
        "weekend covers all seven days: no day would ever be a working day (周末不能包含全部七天)"
    )]
    NoWorkingDays,
    #[error("{field}: {value:?} is not a YYYY-MM-DD date (日期格式应为 YYYY-MM-DD)")]
    BadDate { field: String, value: String },
    #[error("holidays[{index}] ({name}): from {from} is after to {to} (假期起始日期晚于结束日期)")]
    ReversedRange {
        index: usize,
        name: String,
        from: NaiveDate,
        to: NaiveDate,
    },
    #[error(
        "holidays[{index}] ({name}) spans {days} days, surely a typo (假期范围过长，请检查年份)"
    )]
    RangeTooLong {
        index: usize,
        name: String,
        days: i64,
    },
    #[error("{date} is both a holiday and a make-up working day (同一天不能既放假又调休上班)")]
    HolidayAndMakeup { date: NaiveDate },
    #[error("unknown clock {0:?} (时限类型须为 WH 或 CH)")]
    UnknownClock(String),
}

/// The file format of `calendar.json`. Kept as read so that `to_json` gives back what the editor wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)] // a misspelt key ("holiday") must not silently drop all holidays
struct CalendarFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    utc_offset: String,
    working_periods: Vec<PeriodSpec>,
    weekend: Vec<String>,
    /// Years for which `holidays` and `makeup_workdays` are complete (the official notice was entered).
    #[serde(default)]
    holiday_years: Vec<i32>,
    #[serde(default)]
    holidays: Vec<HolidaySpec>,
    #[serde(default)]
    makeup_workdays: Vec<MakeupSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodSpec {
    start: String,
    end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidaySpec {
    name: String,
    from: String,
    /// Last day, inclusive; absent for a one-day holiday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MakeupSpec {
    date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// A validated work calendar. Build it with [`WorkCalendar::from_json`] or [`WorkCalendar::builtin`].
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    file: CalendarFile,
    offset: FixedOffset,
    /// Working periods as [start, end) minutes since local midnight, ordered and disjoint; end ≤ 1440.
    periods: Vec<(u32, u32)>,
    /// Indexed by `Weekday::num_days_from_monday`.
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    makeups: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    /// Parses and validates a calendar file.
    pub fn from_json(text: &str) -> Result<Self, CalendarError> {
        let file: CalendarFile = serde_json::from_str(text)?;
        let offset = parse_offset(&file.utc_offset)?;
        let periods = parse_periods(&file.working_periods)?;
        let weekend = parse_weekend(&file.weekend)?;
        let holidays = parse_holidays(&file.holidays)?;
        let makeups = parse_makeups(&file.makeup_workdays)?;
        if let Some(date) = holidays.intersection(&makeups).next() {
            return Err(CalendarError::HolidayAndMakeup { date: *date });
        }
        Ok(WorkCalendar {
            file,
            offset,
            periods,
            weekend,
            holidays,
            makeups,
        })
    }

    /// The shipped calendar (`data/calendar.json`: 08:30–12:00 and 13:30–18:00, Sat/Sun, 2026 holidays).
    pub fn builtin() -> Self {
        // The shipped file is fixed at compile time and checked by the tests, so this cannot fail at run time.
        Self::from_json(include_str!("../data/calendar.json"))
            .expect("shipped data/calendar.json is valid")
    }

    /// The calendar as JSON, in the same shape `from_json` reads.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and vectors cannot fail.
        serde_json::to_string_pretty(&self.file).expect("calendar file serialises")
    }

    /// The calendar's fixed UTC offset (+08:00 for China).
    pub fn utc_offset(&self) -> FixedOffset {
        self.offset
    }

    /// The free-text note of the file (source of the holiday data).
    pub fn note(&self) -> Option<&str> {
        self.file.note.as_deref()
    }

    /// Whether the file declares the holidays of `year` complete. Outside such years only weekends pause
    /// the working clock, so a caller can warn that next year's official notice has not been entered yet.
    pub fn covers_holidays(&self, year: i32) -> bool {
        self.file.holiday_years.contains(&year)
    }

    /// The years between `now` and `days_ahead` days later (local dates) whose holidays the file does not
    /// cover: deadlines running into them pause only at weekends. The State Council publishes a year's
    /// arrangement around November of the year before, so a window of a few weeks warns in December
    /// that the new notice has to be entered.
    pub fn missing_holiday_years(&self, now: DateTime<Utc>, days_ahead: u32) -> Vec<i32> {
        let first = now.with_timezone(&self.offset).date_naive();
        let last = first
            .checked_add_days(Days::new(u64::from(days_ahead)))
            .unwrap_or(first);
        (first.year()..=last.year())
            .filter(|y| !self.covers_holidays(*y))
            .collect()
    }

    /// A make-up day (调休上班) is worked even on a weekend; a holiday is not worked even on a weekday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.makeups.contains(&date) {
            return true;
        }
        !self.holidays.contains(&date) && !self.weekend[weekday_index(date.weekday())]
    }

    pub fn working_minutes_per_day(&self) -> u32 {
        self.periods.iter().map(|(start, end)| end - start).sum()
    }

    /// The deadline: `start` + `hours` on the given clock. Hours are rounded to whole minutes; zero,
    /// negative or NaN hours give `start`. A deadline beyond chrono's range saturates at its maximum.
    ///
    /// Working hours count only time inside working periods of working days; a start outside them begins
    /// counting at the next working period. A deadline that falls exactly at the end of a period is that
    /// end (10:00 + 2 WH = 12:00, not 13:30).
    pub fn deadline(&self, start: DateTime<Utc>, hours: f64, clock: ClockType) -> DateTime<Utc> {
        let Some(amount) = hours_to_duration(hours) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        if amount <= Duration::zero() {
            return start;
        }
        match clock {
            ClockType::Continuous => start
                .checked_add_signed(amount)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ClockType::WorkingHours => self.working_deadline(start, amount),
        }
    }

    /// Time elapsed from `from` to `to` on the given clock: working time for WH, plain difference for CH.
    /// A negative span gives zero.
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>, clock: ClockType) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        match clock {
            ClockType::Continuous => to - from,
            ClockType::WorkingHours => self.working_elapsed(from, to),
        }
    }

    fn working_deadline(&self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        let mut remaining = amount;
        let mut cursor = self.to_local(start);
        let mut day = cursor.date();
        loop {
            if is_midnight(cursor) {
                // Whole weeks without special dates hold a known amount of working time: skip them, so
                // that long spans cost a few iterations. Keep at least a part of a week to walk through.
                let week_seconds = self.week_minutes() * 60;
                let wanted = (remaining.num_seconds() - 1).max(0) / week_seconds;
                let weeks = self.plain_weeks_from(day, wanted);
                if weeks > 0 {
                    let (Some(next), Some(skipped)) =
                        (add_weeks(day, weeks), self.weeks_duration(weeks))
                    else {
                        return DateTime::<Utc>::MAX_UTC;
                    };
                    day = next;
                    cursor = midnight(day);
                    remaining -= skipped;
                }
            }
            if self.is_working_day(day) {
                for (period_start, period_end) in self.periods_of(day) {
                    if period_end <= cursor {
                        continue;
                    }
                    let from = cursor.max(period_start);
                    let available = period_end - from;
                    if remaining <= available {
                        return self.to_utc(from + remaining);
                    }
                    remaining -= available;
                    cursor = period_end;
                }
            }
            let Some(next) = day.succ_opt() else {
                return DateTime::<Utc>::MAX_UTC;
            };
            day = next;
            cursor = midnight(day);
        }
    }

    fn working_elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let end = self.to_local(to);
        let mut cursor = self.to_local(from);
        let mut day = cursor.date();
        let mut total = Duration::zero();
        while day <= end.date() {
            if is_midnight(cursor) {
                // Skip whole weeks that end before the last day and contain no special dates.
                let wanted = (end.date() - day).num_days() / 7;
                let weeks = self.plain_weeks_from(day, wanted);
                if weeks > 0 {
                    let (Some(next), Some(skipped)) =
                        (add_weeks(day, weeks), self.weeks_duration(weeks))
                    else {
                        break;
                    };
                    total += skipped;
                    day = next;
                    cursor = midnight(day);
                    continue;
                }
            }
            if self.is_working_day(day) {
                for (period_start, period_end) in self.periods_of(day) {
                    let a = cursor.max(period_start);
                    let b = end.min(period_end);
                    if b > a {
                        total += b - a;
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
            cursor = midnight(day);
        }
        total
    }

    /// How many whole weeks from `day` (at most `wanted`) contain no holiday or make-up day, so that each
    /// holds exactly `week_duration()` of working time.
    fn plain_weeks_from(&self, day: NaiveDate, wanted: i64) -> i64 {
        if wanted <= 0 {
            return 0;
        }
        let next_holiday = self.holidays.range(day..).next();
        let next_makeup = self.makeups.range(day..).next();
        match next_holiday.into_iter().chain(next_makeup).min() {
            Some(special) => wanted.min((*special - day).num_days() / 7),
            None => wanted,
        }
    }

    /// Working minutes in a week without special dates. Never zero: construction refuses a calendar
    /// without working periods or with every weekday a weekend day.
    fn week_minutes(&self) -> i64 {
        let days = self
            .weekend
            .iter()
            .filter(|is_weekend| !**is_weekend)
            .count() as i64;
        days * i64::from(self.working_minutes_per_day())
    }

    /// Working time in `weeks` plain weeks; `None` beyond chrono's range.
    fn weeks_duration(&self, weeks: i64) -> Option<Duration> {
        Duration::try_minutes(self.week_minutes().checked_mul(weeks)?)
    }

    /// The working periods of `day` as local date-times (a period ending at 24:00 ends at next midnight).
    fn periods_of(
        &self,
        day: NaiveDate,
    ) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + '_ {
        let base = midnight(day);
        self.periods.iter().filter_map(move |&(start, end)| {
            let start = base.checked_add_signed(Duration::minutes(i64::from(start)))?;
            let end = base.checked_add_signed(Duration::minutes(i64::from(end)))?;
            Some((start, end))
        })
    }

    fn to_local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.offset).naive_local()
    }

    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let offset = Duration::seconds(i64::from(self.offset.local_minus_utc()));
        local
            .checked_sub_signed(offset)
            .map(|utc| utc.and_utc())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Whole minutes for `hours`; `None` if too large to represent (the caller saturates).
fn hours_to_duration(hours: f64) -> Option<Duration> {
    if hours.is_nan() || hours <= 0.0 {
        return Some(Duration::zero());
    }
    // `as` saturates for huge values; try_minutes then refuses what chrono cannot hold.
    Duration::try_minutes((hours * 60.0).round() as i64)
}

fn add_weeks(day: NaiveDate, weeks: i64) -> Option<NaiveDate> {
    day.checked_add_days(Days::new(u64::try_from(weeks).ok()?.checked_mul(7)?))
}

fn midnight(day: NaiveDate) -> NaiveDateTime {
    day.and_time(chrono::NaiveTime::MIN)
}

fn is_midnight(t: NaiveDateTime) -> bool {
    t.time() == chrono::NaiveTime::MIN
}

fn weekday_index(day: Weekday) -> usize {
    day.num_days_from_monday() as usize
}

/// "+08:00", "-05:30" or "+0800".
fn parse_offset(text: &str) -> Result<FixedOffset, CalendarError> {
    let bad = || CalendarError::BadOffset(text.to_string());
    let trimmed = text.trim();
    if !trimmed.is_ascii() {
        return Err(bad()); // also keeps the byte slicing below on character boundaries
    }
    let (sign, rest) = match trimmed.as_bytes().first() {
        Some(b'+') => (1, &trimmed[1..]),
        Some(b'-') => (-1, &trimmed[1..]),
        _ => return Err(bad()),
    };
    let (hh, mm) = rest
        .split_once(':')
        .unwrap_or_else(|| rest.split_at(rest.len().min(2)));
    let hours: i32 = parse_two_digits(hh).ok_or_else(bad)?;
    let minutes: i32 = parse_two_digits(mm).ok_or_else(bad)?;
    if hours > 14 || minutes > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(bad)
}

fn parse_two_digits(text: &str) -> Option<i32> {
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// "HH:MM" → minutes since midnight; "24:00" is allowed so that a period can run to the end of the day.
fn parse_clock_time(text: &str) -> Option<u32> {
    let (hh, mm) = text.trim().split_once(':')?;
    let hours = u32::try_from(parse_two_digits(hh)?).ok()?;
    let minutes = u32::try_from(parse_two_digits(mm)?).ok()?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

fn format_clock_time(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_periods(specs: &[PeriodSpec]) -> Result<Vec<(u32, u32)>, CalendarError> {
    if specs.is_empty() {
        return Err(CalendarError::NoWorkingPeriods);
    }
    let mut periods: Vec<(u32, u32)> = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let time = |field: &'static str, value: &str| {
            parse_clock_time(value).ok_or_else(|| CalendarError::BadTime {
                index,
                field,
                value: value.to_string(),
            })
        };
        let start = time("start", &spec.start)?;
        let end = time("end", &spec.end)?;
        if start >= end {
            return Err(CalendarError::EmptyPeriod {
                index,
                start: spec.start.clone(),
                end: spec.end.clone(),
            });
        }
        // Touching periods (12:00–12:00) are fine; overlapping or unordered ones are an editing mistake.
        if let Some(&(_, previous_end)) = periods.last()
            && start < previous_end
        {
            return Err(CalendarError::PeriodOverlap {
                index,
                start: spec.start.clone(),
                previous_end: format_clock_time(previous_end),
            });
        }
        periods.push((start, end));
    }
    Ok(periods)
}

fn parse_weekend(names: &[String]) -> Result<[bool; 7], CalendarError> {
    let mut weekend = [false; 7];
    for name in names {
        let day =
            Weekday::from_str(name.trim()).map_err(|_| CalendarError::BadWeekday(name.clone()))?;
        weekend[weekday_index(day)] = true;
    }
    if weekend.iter().all(|is_weekend| *is_weekend) {
        return Err(CalendarError::NoWorkingDays);
    }
    Ok(weekend)
}

fn parse_date(field: String, value: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| CalendarError::BadDate {
        field,
        value: value.to_string(),
    })
}

fn parse_holidays(specs: &[HolidaySpec]) -> Result<BTreeSet<NaiveDate>, CalendarError> {
    let mut dates = BTreeSet::new();
    for (index, spec) in specs.iter().enumerate() {
        let from = parse_date(format!("holidays[{index}].from"), &spec.from)?;
        let to = match &spec.to {
            Some(to) => parse_date(format!("holidays[{index}].to"), to)?,
            None => from,
        };
        if from > to {
            return Err(CalendarError::ReversedRange {
                index,
                name: spec.name.clone(),
                from,
                to,
            });
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_HOLIDAY_RANGE_DAYS {
            return Err(CalendarError::RangeTooLong {
                index,
                name: spec.name.clone(),
                days,
            });
        }
        dates.extend(from.iter_days().take(days as usize));
    }
    Ok(dates)
}

fn parse_makeups(specs: &[MakeupSpec]) -> Result<BTreeSet<NaiveDate>, CalendarError> {
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| parse_date(format!("makeup_workdays[{index}].date"), &spec.date))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+08:00").ok(), FixedOffset::east_opt(8 * 3600));
        assert_eq!(parse_offset("+0800").ok(), FixedOffset::east_opt(8 * 3600));
        assert_eq!(
            parse_offset("-05:30").ok(),
            FixedOffset::east_opt(-(5 * 3600 + 1800))
        );
        for bad in ["08:00", "+8", "+08:0", "+25:00", "UTC+8", ""] {
            assert!(parse_offset(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn clock_times_parse() {
        assert_eq!(parse_clock_time("08:30"), Some(510));
        assert_eq!(parse_clock_time("24:00"), Some(1440));
        for bad in ["8:30", "24:01", "12:60", "noon", "12-00"] {
            assert_eq!(parse_clock_time(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn hours_round_to_whole_minutes() {
        assert_eq!(hours_to_duration(0.5), Some(Duration::minutes(30)));
        assert_eq!(hours_to_duration(1.0 / 3.0), Some(Duration::minutes(20)));
        assert_eq!(hours_to_duration(-1.0), Some(Duration::zero()));
        assert_eq!(hours_to_duration(f64::NAN), Some(Duration::zero()));
        assert_eq!(hours_to_duration(f64::INFINITY), None);
    }

    #[test]
    fn clock_type_codes() {
        assert_eq!(
            "WH".parse::<ClockType>().ok(),
            Some(ClockType::WorkingHours)
        );
        assert_eq!(
            " ch ".parse::<ClockType>().ok(),
            Some(ClockType::Continuous)
        );
        assert!("XX".parse::<ClockType>().is_err());
        assert_eq!(ClockType::Continuous.as_code(), "CH");
        assert_eq!(
            serde_json::to_string(&ClockType::WorkingHours)
                .ok()
                .as_deref(),
            Some("\"WH\"")
        );
    }
}
