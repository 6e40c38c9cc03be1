//! Assessment indicators (考核指标): counts and rates over a period, per department, cell, street or
//! worker, computed from case timelines alone.
//!
//! These are the figures a city audits, so each one is defined exactly below and can be counted by hand
//! from the timelines. Rules that hold for all of them:
//!
//! - **Valid events only.** Only timeline entries replay applied (`Outcome::Applied`) count; flagged
//!   entries are kept for the record and ignored here. An event's time is its stamp (`Hlc::time`).
//! - **As of the period's end.** Only events stamped before `period.to` are looked at, so a past
//!   period's figures do not change when later events arrive. "Now-ish" comparisons (is a deadline past?)
//!   use `cutoff = min(period.to, now)`, so that a period still running does not count deadlines that
//!   have not come yet.
//! - **Half-open periods.** An instant `t` is in the period when `from <= t < to`.
//! - **The current dispatch.** A case's handling and closure figures belong to its latest valid
//!   Dispatch before `period.to`, unless a valid Return followed it (then the case sits at the dispatch
//!   desk, no department owes anything, and the case is not due). The deadline in force at an instant is
//!   the one set by the latest valid Dispatch or Extend (with a deadline) before it.
//! - **Carry-over (结转).** A case whose deadline has passed and that is still not handled (or closed)
//!   stays due in every following period until it is, as city monthly reports carry unfinished cases
//!   over. A case finished before a period starts is not due in it. So every "open and overdue" case is
//!   in the matching denominator, and every rate is in 0..=1.
//! - **Short tasks are counted once, when settled.** Registration, verification and dispatch are counted
//!   in the period in which their outcome became known (see each field), never twice.
//! - **Groups.** A case belongs to one group: its department (of the current dispatch; [`NO_GROUP`]
//!   when there is none), its cell, its street (the cell code's first 9 digits), or its reporter. The one
//!   exception: per-dispatch figures (`dispatched`, `dispatched_without_return`) go, when grouping by
//!   department, to the department each dispatch sent the case to. Groups with nothing to count are
//!   left out; the counts of all groups add up to the same totals whatever the grouping.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::case::Case;
use crate::timeline::{Outcome, Timeline, TimelineEvent};
use crate::workflow::{ActionKind, Stage};

/// The group key of cases without a department, cell or street.
pub const NO_GROUP: &str = "(none)";

/// Street codes are the cell code's first 9 digits (division 6 + street 3).
const STREET_LEN: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Department,
    Cell,
    Street,
    /// The case's reporter (the grid worker who reported it, and who verifies it).
    Worker,
}

/// The assessment period, half-open: `from <= t < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// Local time limits for the desk's and the worker's tasks (both on the continuous clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorPolicy {
    /// A verification is on time when the worker verifies within this after it was requested.
    pub verify_limit: Duration,
    /// A report is registered on time when the desk decides within this after it was reported.
    pub register_limit: Duration,
}

impl Default for IndicatorPolicy {
    /// 2 h to verify, 1 h to register: common local practice, not a national rule.
    fn default() -> Self {
        IndicatorPolicy {
            verify_limit: Duration::hours(2),
            register_limit: Duration::hours(1),
        }
    }
}

/// How an indicator is named where people read it (the assessment table, its CSV): the field of
/// [`Indicators`], the Chinese name the seeds use and the English beside it. In display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IndicatorLabel {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// A rate (0..=1, or none when its denominator is 0) rather than a count.
    pub rate: bool,
}

const fn count(key: &'static str, zh: &'static str, en: &'static str) -> IndicatorLabel {
    IndicatorLabel {
        key,
        zh,
        en,
        rate: false,
    }
}

const fn rate(key: &'static str, zh: &'static str, en: &'static str) -> IndicatorLabel {
    IndicatorLabel {
        key,
        zh,
        en,
        rate: true,
    }
}

/// The indicators the assessment shows, in order.
pub const INDICATOR_LABELS: &[IndicatorLabel] = &[
    count("reported", "上报数", "Reported"),
    count("valid_reports", "有效上报数", "Valid reports"),
    count("dispatched", "派遣数", "Dispatched"),
    count("due_for_handling", "应处置数", "Due for handling"),
    count("handled", "处置数", "Handled"),
    count("handled_on_time", "按期处置数", "Handled on time"),
    count("due_for_closure", "应结案数", "Due for closure"),
    count("closed", "结案数", "Closed"),
    count("reworked", "返工数", "Reworked"),
    count("overdue_open", "超期待处置数", "Overdue open"),
    rate("on_time_handling_rate", "按期处置率", "On-time handling"),
    rate("handling_rate", "处置率", "Handling rate"),
    rate("closure_rate", "结案率", "Closure rate"),
    rate("on_time_closure_rate", "按时结案率", "Closed on time"),
    rate("rework_rate", "返工率", "Rework rate"),
    rate("overdue_open_rate", "超期待处置率", "Overdue-open rate"),
    rate("extension_rate", "延期率", "Extension rate"),
    rate("valid_report_rate", "有效上报率", "Valid report rate"),
    rate(
        "on_time_verification_rate",
        "按时核查率",
        "On-time verification",
    ),
    rate(
        "on_time_registration_rate",
        "按时立案率",
        "On-time registration",
    ),
    rate("accurate_dispatch_rate", "准确派遣率", "Accurate dispatch"),
];

/// The figures of one group over one period. Rates are `None` when their denominator is 0.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Indicators {
    /// 应处置数. Cases with a current dispatch that either got their first valid Handle after that
    /// dispatch in the period, or were not handled by the period's end and whose deadline (in force at
    /// the period's end) is before the cutoff, however long ago (carried over). A case special-closed
    /// without a handle counts only if its deadline had passed before the special closure, and not in
    /// periods after the one of the special closure.
    pub due_for_handling: u64,
    /// 处置数. Due cases whose first valid Handle after the current dispatch is in the period.
    pub handled: u64,
    /// 按期处置数. Handled cases whose Handle is at or before the deadline in force at that moment (a
    /// dispatch without a deadline cannot be late).
    pub handled_on_time: u64,
    /// 应结案数. Cases with a current dispatch that were closed (Close or SpecialClose) in the period, or
    /// that were not closed before the period and whose deadline (in force at the period's end) is
    /// before the cutoff. The closure deadline is the handling deadline.
    pub due_for_closure: u64,
    /// 结案数. Due cases closed (Close or SpecialClose) in the period.
    pub closed: u64,
    /// 按时结案数. Closed cases whose closure is at or before the deadline in force at that moment.
    pub closed_on_time: u64,
    /// 返工数. Cases due for closure that got a valid VerifyFail after the current dispatch (before the
    /// period's end). A case carried over counts again in each period it is due: the figure describes
    /// the cases due, not the rework events of the period, so that a rework is never lost when its case
    /// is due only in a later period.
    pub reworked: u64,
    /// 延期数. Cases due for closure that got a valid Extend after the current dispatch (before the
    /// period's end); carried over like `reworked`.
    pub extended: u64,
    /// 超期待处置数. Cases with a department (Dispatched, Accepted or Rework) at the period's end whose
    /// deadline is before the cutoff (the period's end, or now if earlier). Always also due for closure.
    pub overdue_open: u64,
    /// 上报数. Cases whose valid Report is in the period.
    pub reported: u64,
    /// 有效上报数. Reported cases registered (valid Register) before the period's end; a report still
    /// waiting for the desk at the period's end is not (yet) valid.
    pub valid_reports: u64,
    /// 应核查数. Verification requests (valid RequestVerification) settled in the period: a request is
    /// settled when the next valid VerifyPass or VerifyFail answers it, or when its limit
    /// (`verify_limit` after the request) runs out, whichever comes first.
    pub verification_requested: u64,
    /// 按时核查数. Settled requests answered at or before the limit.
    pub verified_on_time: u64,
    /// 应立案数. Reports whose registration was settled in the period: when the desk decided (a valid
    /// Register or Reject), or when `register_limit` after the report ran out, whichever comes first.
    pub registration_due: u64,
    /// 按时立案数. Settled reports decided (registered, or rejected) at or before the limit.
    pub registered_on_time: u64,
    /// 派遣数. Valid dispatches settled in the period: a dispatch is settled by the next valid Return,
    /// Dispatch, Handle or SpecialClose of the case, whichever comes first.
    pub dispatched: u64,
    /// 准确派遣数. Settled dispatches that were not settled by a Return.
    pub dispatched_without_return: u64,

    /// 处置率 = handled / due_for_handling.
    pub handling_rate: Option<f64>,
    /// 按期处置率 = handled_on_time / due_for_handling.
    pub on_time_handling_rate: Option<f64>,
    /// 返工率 = reworked / due_for_closure.
    pub rework_rate: Option<f64>,
    /// 结案率 = closed / due_for_closure.
    pub closure_rate: Option<f64>,
    /// 按时结案率 = closed_on_time / due_for_closure.
    pub on_time_closure_rate: Option<f64>,
    /// 超期待处置率 = overdue_open / due_for_closure (not due_for_handling: a case in rework was already
    /// handled once, but is still open and overdue, and due for closure).
    pub overdue_open_rate: Option<f64>,
    /// 延期率 = extended / due_for_closure.
    pub extension_rate: Option<f64>,
    /// 有效上报率 = valid_reports / reported.
    pub valid_report_rate: Option<f64>,
    /// 按时核查率 = verified_on_time / verification_requested.
    pub on_time_verification_rate: Option<f64>,
    /// 按时立案率 = registered_on_time / registration_due.
    pub on_time_registration_rate: Option<f64>,
    /// 准确派遣率 = dispatched_without_return / dispatched.
    pub accurate_dispatch_rate: Option<f64>,
}

impl Indicators {
    /// The counts of every group added up, with rates over the sums.
    pub fn total<'a>(groups: impl IntoIterator<Item = &'a Indicators>) -> Indicators {
        let mut total = Indicators::default();
        for group in groups {
            total.add(group);
        }
        total.with_rates()
    }

    fn add(&mut self, other: &Indicators) {
        self.due_for_handling += other.due_for_handling;
        self.handled += other.handled;
        self.handled_on_time += other.handled_on_time;
        self.due_for_closure += other.due_for_closure;
        self.closed += other.closed;
        self.closed_on_time += other.closed_on_time;
        self.reworked += other.reworked;
        self.extended += other.extended;
        self.overdue_open += other.overdue_open;
        self.reported += other.reported;
        self.valid_reports += other.valid_reports;
        self.verification_requested += other.verification_requested;
        self.verified_on_time += other.verified_on_time;
        self.registration_due += other.registration_due;
        self.registered_on_time += other.registered_on_time;
        self.dispatched += other.dispatched;
        self.dispatched_without_return += other.dispatched_without_return;
    }

    fn with_rates(mut self) -> Indicators {
        self.handling_rate = ratio(self.handled, self.due_for_handling);
        self.on_time_handling_rate = ratio(self.handled_on_time, self.due_for_handling);
        self.rework_rate = ratio(self.reworked, self.due_for_closure);
        self.closure_rate = ratio(self.closed, self.due_for_closure);
        self.on_time_closure_rate = ratio(self.closed_on_time, self.due_for_closure);
        self.overdue_open_rate = ratio(self.overdue_open, self.due_for_closure);
        self.extension_rate = ratio(self.extended, self.due_for_closure);
        self.valid_report_rate = ratio(self.valid_reports, self.reported);
        self.on_time_verification_rate = ratio(self.verified_on_time, self.verification_requested);
        self.on_time_registration_rate = ratio(self.registered_on_time, self.registration_due);
        self.accurate_dispatch_rate = ratio(self.dispatched_without_return, self.dispatched);
        self
    }

    fn is_zero(&self) -> bool {
        *self == Indicators::default()
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The indicators of `cases` over `period`, per group. `now` bounds "is the deadline past?" for a
/// period still running. See the module documentation and each field for the definitions.
pub fn compute<'a>(
    cases: impl IntoIterator<Item = &'a Case>,
    group_by: GroupBy,
    period: &Period,
    now: DateTime<Utc>,
    policy: &IndicatorPolicy,
) -> BTreeMap<String, Indicators> {
    let mut groups: BTreeMap<String, Indicators> = BTreeMap::new();
    let mut add = |key: String, counts: Indicators| {
        if !counts.is_zero() {
            groups.entry(key).or_default().add(&counts);
        }
    };
    for case in cases {
        let view = CaseView::new(&case.timeline, period, now);
        let key = case_group(case, group_by, view.current_department());
        add(key.clone(), view.case_counts(policy));
        for (department, counts) in view.dispatch_counts() {
            let dispatch_key = match group_by {
                GroupBy::Department => department.unwrap_or(NO_GROUP).to_string(),
                _ => key.clone(),
            };
            add(dispatch_key, counts);
        }
    }
    groups
        .into_iter()
        .map(|(key, counts)| (key, counts.with_rates()))
        .collect()
}

fn case_group(case: &Case, group_by: GroupBy, department: Option<&str>) -> String {
    let key = match group_by {
        GroupBy::Department => department,
        GroupBy::Cell => case.cell.as_deref(),
        GroupBy::Street => case.cell.as_deref().and_then(|cell| cell.get(..STREET_LEN)),
        GroupBy::Worker => Some(case.reporter.as_str()),
    };
    key.filter(|k| !k.is_empty())
        .unwrap_or(NO_GROUP)
        .to_string()
}

/// A valid timeline entry before the period's end.
struct Step<'a> {
    at: DateTime<Utc>,
    event: &'a TimelineEvent,
    /// The stage after it.
    to: Stage,
}

impl Step<'_> {
    fn is(&self, actions: &[ActionKind]) -> bool {
        actions.contains(&self.event.action)
    }
}

/// One case as of the period's end.
struct CaseView<'a> {
    steps: Vec<Step<'a>>,
    period: Period,
    /// min(period.to, now): the instant against which "is the deadline past?" is asked.
    cutoff: DateTime<Utc>,
    /// Index of the current dispatch (latest valid Dispatch not followed by a Return).
    dispatch: Option<usize>,
}

impl<'a> CaseView<'a> {
    fn new(timeline: &'a Timeline, period: &Period, now: DateTime<Utc>) -> Self {
        // Replay order is stamp order, so "before the period's end" is a prefix of the entries.
        let steps: Vec<Step<'a>> = timeline
            .entries
            .iter()
            .filter_map(|entry| match entry.outcome {
                Outcome::Applied { to, .. } => Some(Step {
                    at: entry.event.at.time(),
                    event: &entry.event,
                    to,
                }),
                Outcome::Flagged { .. } => None,
            })
            .take_while(|step| step.at < period.to)
            .collect();
        let dispatch = current_dispatch(&steps);
        CaseView {
            steps,
            period: *period,
            cutoff: period.to.min(now),
            dispatch,
        }
    }

    fn current_department(&self) -> Option<&'a str> {
        self.dispatch
            .and_then(|index| self.steps[index].event.department.as_deref())
    }

    /// The index of the first step after `index` that is one of `actions`.
    fn first_after(&self, index: usize, actions: &[ActionKind]) -> Option<usize> {
        (index + 1..self.steps.len()).find(|&i| self.steps[i].is(actions))
    }

    fn step_after(&self, index: usize, actions: &[ActionKind]) -> Option<&Step<'a>> {
        self.first_after(index, actions).map(|i| &self.steps[i])
    }

    fn any_after(&self, index: usize, action: ActionKind) -> bool {
        self.first_after(index, &[action]).is_some()
    }

    /// The deadline in force just before step `end` (or at the period's end for `steps.len()`), as
    /// `Timeline` derives it: a Dispatch sets it (or clears it), an Extend with a deadline moves it.
    fn deadline_before(&self, end: usize) -> Option<DateTime<Utc>> {
        self.steps[..end]
            .iter()
            .fold(None, |deadline, step| match step.event.action {
                ActionKind::Dispatch => step.event.deadline,
                ActionKind::Extend => step.event.deadline.or(deadline),
                _ => deadline,
            })
    }

    /// Whether the deadline in force just before step `end` is past by `limit`.
    fn deadline_passed_before(&self, end: usize, limit: DateTime<Utc>) -> bool {
        self.deadline_before(end).is_some_and(|d| d < limit)
    }

    fn case_counts(&self, policy: &IndicatorPolicy) -> Indicators {
        let mut counts = Indicators::default();
        if let Some(dispatch) = self.dispatch {
            self.count_handling(dispatch, &mut counts);
            self.count_closure(dispatch, &mut counts);
        }
        self.count_report(policy, &mut counts);
        self.count_verifications(policy, &mut counts);
        counts
    }

    fn count_handling(&self, dispatch: usize, counts: &mut Indicators) {
        let from = self.period.from;
        if let Some(index) = self.first_after(dispatch, &[ActionKind::Handle]) {
            let handle = &self.steps[index];
            if handle.at >= from {
                let deadline = self.deadline_before(index);
                counts.due_for_handling = 1;
                counts.handled = 1;
                counts.handled_on_time = u64::from(deadline.is_none_or(|d| handle.at <= d));
            }
            return;
        }
        // Not handled: due once its deadline has passed, unless a special closure ended the obligation
        // first (before the period, or before the deadline).
        let special = self.step_after(dispatch, &[ActionKind::SpecialClose]);
        if special.is_some_and(|s| s.at < from) {
            return;
        }
        let limit = special.map_or(self.cutoff, |s| s.at.min(self.cutoff));
        if self.deadline_passed_before(self.steps.len(), limit) {
            counts.due_for_handling = 1;
        }
    }

    fn count_closure(&self, dispatch: usize, counts: &mut Indicators) {
        let closings = [ActionKind::Close, ActionKind::SpecialClose];
        let due = match self.first_after(dispatch, &closings) {
            Some(index) if self.steps[index].at >= self.period.from => {
                let closure = &self.steps[index];
                let deadline = self.deadline_before(index);
                counts.closed = 1;
                counts.closed_on_time = u64::from(deadline.is_none_or(|d| closure.at <= d));
                true
            }
            Some(_) => false,
            None => self.deadline_passed_before(self.steps.len(), self.cutoff),
        };
        if !due {
            return;
        }
        counts.due_for_closure = 1;
        counts.reworked = u64::from(self.any_after(dispatch, ActionKind::VerifyFail));
        counts.extended = u64::from(self.any_after(dispatch, ActionKind::Extend));
        let with_department = self.steps.last().is_some_and(|s| s.to.is_with_department());
        counts.overdue_open = u64::from(
            with_department && self.deadline_passed_before(self.steps.len(), self.cutoff),
        );
    }

    fn count_report(&self, policy: &IndicatorPolicy, counts: &mut Indicators) {
        let Some(report) = self.steps.first().filter(|s| s.is(&[ActionKind::Report])) else {
            return;
        };
        if self.period.contains(report.at) {
            counts.reported = 1;
            counts.valid_reports = u64::from(self.any_after(0, ActionKind::Register));
        }
        let decision = self.step_after(0, &[ActionKind::Register, ActionKind::Reject]);
        if let Some(on_time) = self.settled(report.at + policy.register_limit, decision) {
            counts.registration_due = 1;
            counts.registered_on_time = u64::from(on_time);
        }
    }

    fn count_verifications(&self, policy: &IndicatorPolicy, counts: &mut Indicators) {
        let answers = [ActionKind::VerifyPass, ActionKind::VerifyFail];
        for (index, request) in self.steps.iter().enumerate() {
            if !request.is(&[ActionKind::RequestVerification]) {
                continue;
            }
            let answer = self.step_after(index, &answers);
            if let Some(on_time) = self.settled(request.at + policy.verify_limit, answer) {
                counts.verification_requested += 1;
                counts.verified_on_time += u64::from(on_time);
            }
        }
    }

    /// A task with a time limit, settled by `answer` or by the limit running out, whichever comes
    /// first: `Some(on time?)` when it was settled in the period, else `None`.
    fn settled(&self, limit: DateTime<Utc>, answer: Option<&Step<'a>>) -> Option<bool> {
        let settled_at = answer.map_or(limit, |a| a.at.min(limit));
        // Without an answer before the period's end, the task is settled only if its limit ran out
        // inside the period (an answer after the end is not known "as of the period's end").
        self.period
            .contains(settled_at)
            .then(|| answer.is_some_and(|a| a.at <= limit))
    }

    /// Per settled dispatch: (its department, its counts).
    fn dispatch_counts(&self) -> Vec<(Option<&'a str>, Indicators)> {
        let settling = [
            ActionKind::Return,
            ActionKind::Dispatch,
            ActionKind::Handle,
            ActionKind::SpecialClose,
        ];
        let mut out = Vec::new();
        for (index, dispatch) in self.steps.iter().enumerate() {
            if !dispatch.is(&[ActionKind::Dispatch]) {
                continue;
            }
            let Some(settle) = self.step_after(index, &settling) else {
                continue;
            };
            if self.period.contains(settle.at) {
                let counts = Indicators {
                    dispatched: 1,
                    dispatched_without_return: u64::from(!settle.is(&[ActionKind::Return])),
                    ..Indicators::default()
                };
                out.push((dispatch.event.department.as_deref(), counts));
            }
        }
        out
    }
}

/// The latest valid Dispatch, unless a valid Return followed it.
fn current_dispatch(steps: &[Step<'_>]) -> Option<usize> {
    let latest = steps.iter().rposition(|s| s.is(&[ActionKind::Dispatch]))?;
    let returned = steps[latest + 1..]
        .iter()
        .any(|s| s.is(&[ActionKind::Return]));
    (!returned).then_some(latest)
}

/// Weights of a composite score (综合评分). Each rate counts as `weight x rate`, or for the bad
/// indicators (rework, overdue open, extension) `weight x (1 - rate)`. Weights must not be negative.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreWeights {
    pub on_time_handling: f64,
    pub on_time_closure: f64,
    pub closure: f64,
    /// Bad indicator.
    pub rework: f64,
    /// Bad indicator.
    pub overdue_open: f64,
    /// Bad indicator.
    pub extension: f64,
    pub handling: f64,
    pub valid_report: f64,
    pub on_time_verification: f64,
    pub on_time_registration: f64,
    pub accurate_dispatch: f64,
}

impl Default for ScoreWeights {
    /// A department's score as many cities weight it (30/20/20/20/10, local practice): on-time handling
    /// 30, on-time closure 20, closure 20, rework 20 (bad), overdue open 10 (bad); every other weight 0.
    fn default() -> Self {
        ScoreWeights {
            on_time_handling: 30.0,
            on_time_closure: 20.0,
            closure: 20.0,
            rework: 20.0,
            overdue_open: 10.0,
            extension: 0.0,
            handling: 0.0,
            valid_report: 0.0,
            on_time_verification: 0.0,
            on_time_registration: 0.0,
            accurate_dispatch: 0.0,
        }
    }
}

/// The weighted score out of 100: `100 x sum(weight x value) / sum(weight)`, over the indicators that
/// have a weight above 0 and a rate (a rate with a zero denominator is left out rather than counted as
/// perfect or as failed). With the default weights and every rate present this is simply
/// `sum(weight x value)`. `None` when no weighted rate is present.
pub fn score(ind: &Indicators, weights: &ScoreWeights) -> Option<f64> {
    let good = |rate: Option<f64>| rate;
    let bad = |rate: Option<f64>| rate.map(|r| 1.0 - r);
    let terms = [
        (weights.on_time_handling, good(ind.on_time_handling_rate)),
        (weights.on_time_closure, good(ind.on_time_closure_rate)),
        (weights.closure, good(ind.closure_rate)),
        (weights.rework, bad(ind.rework_rate)),
        (weights.overdue_open, bad(ind.overdue_open_rate)),
        (weights.extension, bad(ind.extension_rate)),
        (weights.handling, good(ind.handling_rate)),
        (weights.valid_report, good(ind.valid_report_rate)),
        (
            weights.on_time_verification,
            good(ind.on_time_verification_rate),
        ),
        (
            weights.on_time_registration,
            good(ind.on_time_registration_rate),
        ),
        (weights.accurate_dispatch, good(ind.accurate_dispatch_rate)),
    ];
    let (points, weight) = terms
        .iter()
        .filter(|(weight, _)| *weight > 0.0)
        .filter_map(|(weight, value)| value.map(|v| (weight * v, *weight)))
        .fold((0.0, 0.0), |(p, w), (dp, dw)| (p + dp, w + dw));
    (weight > 0.0).then(|| 100.0 * points / weight)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_label_names_a_field_of_the_indicators_with_its_kind() {
        let json = serde_json::to_value(super::Indicators::default()).unwrap();
        let fields = json.as_object().unwrap();
        for l in super::INDICATOR_LABELS {
            let value = fields
                .get(l.key)
                .unwrap_or_else(|| panic!("no field {}", l.key));
            assert_eq!(
                value.is_null(),
                l.rate,
                "{}: rates are null when empty, counts are 0",
                l.key
            );
        }
        let mut keys: Vec<_> = super::INDICATOR_LABELS.iter().map(|l| l.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(
            keys.len(),
            super::INDICATOR_LABELS.len(),
            "a key named twice"
        );
    }

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rates_need_a_denominator() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(0, 4), Some(0.0));
        assert_eq!(ratio(3, 4), Some(0.75));
    }

    #[test]
    fn periods_are_half_open() {
        let t = |h| Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap();
        let p = Period {
            from: t(1),
            to: t(2),
        };
        assert!(p.contains(t(1)));
        assert!(!p.contains(t(2)));
        assert!(!p.contains(t(0)));
    }

    #[test]
    fn a_score_leaves_out_rates_without_a_denominator() {
        let weights = ScoreWeights::default();
        assert_eq!(score(&Indicators::default(), &weights), None);
        // Only on-time handling (weight 30) and rework (20, bad) are known: 100 x (30 x 0.5 + 20 x 0.9) / 50.
        let ind = Indicators {
            on_time_handling_rate: Some(0.5),
            rework_rate: Some(0.1),
            ..Indicators::default()
        };
        let got = score(&ind, &weights).unwrap_or_default();
        assert!((got - 66.0).abs() < 1e-9, "{got}");
        // A rate whose weight is 0 does not count.
        let only_reports = Indicators {
            valid_report_rate: Some(0.2),
            ..Indicators::default()
        };
        assert_eq!(score(&only_reports, &weights), None);
    }

    #[test]
    fn default_weights_add_up_to_100() {
        let w = ScoreWeights::default();
        let sum = w.on_time_handling + w.on_time_closure + w.closure + w.rework + w.overdue_open;
        assert_eq!(sum, 100.0);
    }
}
