//! The closed loop as a state machine (GB/T 30428 / CJ/T 315 stages plus the variants real centres use).
//!
//! The machine is a pure function of (current stage, action, role). The timeline replays events through it
//! ([`crate::timeline`]), so the same rules decide what a PDA may do offline, what the server accepts, and what
//! every replica derives after a merge.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Who takes an action. A person acts in one role at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 网格员: patrols cells, reports, adds evidence, verifies on site.
    GridWorker,
    /// 受理员/派遣员: registers or rejects, dispatches, requests verification, closes.
    Dispatcher,
    /// 专业部门: accepts or returns the task order, handles it, reports back.
    Department,
    /// 值班长/监督: everything a dispatcher may, plus special closure.
    Supervisor,
    /// The server's own jobs: auto-dispatch, supervision reminders, closing after a passed verification.
    System,
}

/// Where a case stands in the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Reported,
    Registered,
    Rejected,
    Dispatched,
    Accepted,
    Returned,
    Handled,
    FeedbackGiven,
    VerificationRequested,
    Verified,
    Rework,
    Closed,
    SpecialClosed,
}

/// What an event does. Some actions move the stage; the others (evidence, edits, extensions, reminders)
/// are valid only in certain stages but leave the stage where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Report,
    Register,
    Reject,
    Dispatch,
    Accept,
    Return,
    Handle,
    Feedback,
    RequestVerification,
    VerifyPass,
    VerifyFail,
    Close,
    Extend,
    SpecialClose,
    AddEvidence,
    Edit,
    Remind,
}

/// Why the machine refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a {role} may not {action} (角色无此权限)")]
    RoleNotAllowed { role: Role, action: ActionKind },
    #[error("cannot {action} a case that is {stage} (当前环节不允许此操作)")]
    InvalidInStage { stage: Stage, action: ActionKind },
    #[error("cannot {action} before the case is reported (案件尚未上报)")]
    NotReported { action: ActionKind },
    #[error("the case is already reported (案件已上报)")]
    AlreadyReported,
}

impl Stage {
    pub const ALL: [Stage; 13] = [
        Stage::Reported,
        Stage::Registered,
        Stage::Rejected,
        Stage::Dispatched,
        Stage::Accepted,
        Stage::Returned,
        Stage::Handled,
        Stage::FeedbackGiven,
        Stage::VerificationRequested,
        Stage::Verified,
        Stage::Rework,
        Stage::Closed,
        Stage::SpecialClosed,
    ];

    /// No action moves a case out of these.
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Rejected | Stage::Closed | Stage::SpecialClosed)
    }

    /// The case is with a department and its handling clock runs.
    pub fn is_with_department(self) -> bool {
        matches!(self, Stage::Dispatched | Stage::Accepted | Stage::Rework)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reported => "reported",
            Stage::Registered => "registered",
            Stage::Rejected => "rejected",
            Stage::Dispatched => "dispatched",
            Stage::Accepted => "accepted",
            Stage::Returned => "returned",
            Stage::Handled => "handled",
            Stage::FeedbackGiven => "feedback_given",
            Stage::VerificationRequested => "verification_requested",
            Stage::Verified => "verified",
            Stage::Rework => "rework",
            Stage::Closed => "closed",
            Stage::SpecialClosed => "special_closed",
        }
    }

    /// The name a Chinese command centre uses.
    pub fn label_zh(self) -> &'static str {
        match self {
            Stage::Reported => "已上报",
            Stage::Registered => "已立案",
            Stage::Rejected => "不予立案",
            Stage::Dispatched => "已派遣",
            Stage::Accepted => "处置中",
            Stage::Returned => "已回退",
            Stage::Handled => "已处置",
            Stage::FeedbackGiven => "已反馈",
            Stage::VerificationRequested => "待核查",
            Stage::Verified => "已核查",
            Stage::Rework => "返工",
            Stage::Closed => "已结案",
            Stage::SpecialClosed => "特殊结案",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Stage::Reported => "Reported",
            Stage::Registered => "Registered",
            Stage::Rejected => "Rejected",
            Stage::Dispatched => "Dispatched",
            Stage::Accepted => "Accepted",
            Stage::Returned => "Returned",
            Stage::Handled => "Handled",
            Stage::FeedbackGiven => "Feedback given",
            Stage::VerificationRequested => "To verify",
            Stage::Verified => "Verified",
            Stage::Rework => "Rework",
            Stage::Closed => "Closed",
            Stage::SpecialClosed => "Specially closed",
        }
    }
}

impl ActionKind {
    pub const ALL: [ActionKind; 17] = [
        ActionKind::Report,
        ActionKind::Register,
        ActionKind::Reject,
        ActionKind::Dispatch,
        ActionKind::Accept,
        ActionKind::Return,
        ActionKind::Handle,
        ActionKind::Feedback,
        ActionKind::RequestVerification,
        ActionKind::VerifyPass,
        ActionKind::VerifyFail,
        ActionKind::Close,
        ActionKind::Extend,
        ActionKind::SpecialClose,
        ActionKind::AddEvidence,
        ActionKind::Edit,
        ActionKind::Remind,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Report => "report",
            ActionKind::Register => "register",
            ActionKind::Reject => "reject",
            ActionKind::Dispatch => "dispatch",
            ActionKind::Accept => "accept",
            ActionKind::Return => "return",
            ActionKind::Handle => "handle",
            ActionKind::Feedback => "feedback",
            ActionKind::RequestVerification => "request_verification",
            ActionKind::VerifyPass => "verify_pass",
            ActionKind::VerifyFail => "verify_fail",
            ActionKind::Close => "close",
            ActionKind::Extend => "extend",
            ActionKind::SpecialClose => "special_close",
            ActionKind::AddEvidence => "add_evidence",
            ActionKind::Edit => "edit",
            ActionKind::Remind => "remind",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ActionKind::Report => "上报",
            ActionKind::Register => "立案",
            ActionKind::Reject => "不予立案",
            ActionKind::Dispatch => "派遣",
            ActionKind::Accept => "签收",
            ActionKind::Return => "回退",
            ActionKind::Handle => "处置",
            ActionKind::Feedback => "反馈",
            ActionKind::RequestVerification => "派发核查",
            ActionKind::VerifyPass => "核查通过",
            ActionKind::VerifyFail => "核查不通过",
            ActionKind::Close => "结案",
            ActionKind::Extend => "延期",
            ActionKind::SpecialClose => "特殊结案",
            ActionKind::AddEvidence => "补充材料",
            ActionKind::Edit => "修改",
            ActionKind::Remind => "督办",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            ActionKind::Report => "Report",
            ActionKind::Register => "Register",
            ActionKind::Reject => "Reject",
            ActionKind::Dispatch => "Dispatch",
            ActionKind::Accept => "Accept",
            ActionKind::Return => "Return",
            ActionKind::Handle => "Handle",
            ActionKind::Feedback => "Feedback",
            ActionKind::RequestVerification => "Request verification",
            ActionKind::VerifyPass => "Verified: fixed",
            ActionKind::VerifyFail => "Verified: not fixed",
            ActionKind::Close => "Close",
            ActionKind::Extend => "Extend",
            ActionKind::SpecialClose => "Special close",
            ActionKind::AddEvidence => "Add evidence",
            ActionKind::Edit => "Edit",
            ActionKind::Remind => "Remind",
        }
    }

    /// Which roles may take this action at all.
    pub fn allowed_roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            ActionKind::Report => &[GridWorker, Dispatcher, System],
            ActionKind::Register | ActionKind::Reject => &[Dispatcher, Supervisor],
            ActionKind::Dispatch => &[Dispatcher, Supervisor, System],
            ActionKind::Accept | ActionKind::Return | ActionKind::Handle | ActionKind::Feedback => {
                &[Department]
            }
            ActionKind::RequestVerification | ActionKind::Close => {
                &[Dispatcher, Supervisor, System]
            }
            ActionKind::VerifyPass | ActionKind::VerifyFail => &[GridWorker],
            ActionKind::Extend => &[Dispatcher, Supervisor],
            ActionKind::SpecialClose => &[Supervisor],
            ActionKind::AddEvidence => &[GridWorker, Dispatcher, Department, Supervisor],
            ActionKind::Edit => &[GridWorker, Dispatcher],
            ActionKind::Remind => &[Dispatcher, Supervisor, System],
        }
    }

    /// Where the action leads from `stage`: `Some(next)` when it is valid there (`next == stage` for the
    /// actions that do not move the case), `None` when the action is not valid in that stage.
    fn target(self, stage: Stage) -> Option<Stage> {
        use Stage::*;
        let next = match (self, stage) {
            (ActionKind::Register, Reported) => Registered,
            (ActionKind::Reject, Reported) => Rejected,
            (ActionKind::Dispatch, Registered | Returned | Dispatched) => Dispatched,
            (ActionKind::Accept, Dispatched) => Accepted,
            (ActionKind::Return, Dispatched | Accepted) => Returned,
            (ActionKind::Handle, Accepted | Rework) => Handled,
            (ActionKind::Feedback, Handled) => FeedbackGiven,
            (ActionKind::RequestVerification, FeedbackGiven) => VerificationRequested,
            (ActionKind::VerifyPass, VerificationRequested) => Verified,
            (ActionKind::VerifyFail, VerificationRequested) => Rework,
            (ActionKind::Close, Verified) => Closed,
            (ActionKind::SpecialClose, s) if !s.is_terminal() => SpecialClosed,
            (ActionKind::Extend | ActionKind::Remind, s) if s.is_with_department() => s,
            (ActionKind::AddEvidence, s) if !s.is_terminal() => s,
            (ActionKind::Edit, Reported) => Reported,
            _ => return None,
        };
        Some(next)
    }
}

/// The machine: the stage after `role` takes `action` on a case at `stage` (`None`: not reported yet).
pub fn apply(stage: Option<Stage>, action: ActionKind, role: Role) -> Result<Stage, Refusal> {
    if !action.allowed_roles().contains(&role) {
        return Err(Refusal::RoleNotAllowed { role, action });
    }
    match (stage, action) {
        (None, ActionKind::Report) => Ok(Stage::Reported),
        (None, _) => Err(Refusal::NotReported { action }),
        (Some(_), ActionKind::Report) => Err(Refusal::AlreadyReported),
        (Some(stage), _) => action
            .target(stage)
            .ok_or(Refusal::InvalidInStage { stage, action }),
    }
}

/// The actions `role` may take on a case at `stage`, for menus and for the desk API.
pub fn available_actions(stage: Stage, role: Role) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|a| apply(Some(stage), *a, role).is_ok())
        .collect()
}

macro_rules! text_enum {
    ($ty:ty, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s))
            }
        }
    };
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::GridWorker,
        Role::Dispatcher,
        Role::Department,
        Role::Supervisor,
        Role::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::Dispatcher => "dispatcher",
            Role::Department => "department",
            Role::Supervisor => "supervisor",
            Role::System => "system",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::GridWorker => "网格员",
            Role::Dispatcher => "派遣员",
            Role::Department => "专业部门",
            Role::Supervisor => "值班长/监督",
            Role::System => "系统",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::GridWorker => "Grid worker",
            Role::Dispatcher => "Dispatcher",
            Role::Department => "Department",
            Role::Supervisor => "Supervisor",
            Role::System => "System",
        }
    }
}

/// An action the system takes by itself once a case reaches a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUp {
    pub kind: ActionKind,
    /// The note the timeline shows for it.
    pub note: &'static str,
}

/// What follows a stage without anyone acting: a case whose on-site verification passed is closed by
/// the system (核查通过即结案). The server records it in the same transaction as the change that
/// reached the stage, so the worker's device sees the case closed after the sync that carried the
/// verification.
pub fn follow_up(stage: Stage) -> Option<FollowUp> {
    match stage {
        Stage::Verified => Some(FollowUp {
            kind: ActionKind::Close,
            note: "核查通过，系统结案 (verified on site; closed by the system)",
        }),
        _ => None,
    }
}

text_enum!(Role, "role");
text_enum!(Stage, "stage");
text_enum!(ActionKind, "action");

#[cfg(test)]
mod tests {
    use super::*;

    /// The happy path of the closed loop, with the role that takes each step.
    const LOOP: [(ActionKind, Role, Stage); 9] = [
        (ActionKind::Report, Role::GridWorker, Stage::Reported),
        (ActionKind::Register, Role::Dispatcher, Stage::Registered),
        (ActionKind::Dispatch, Role::Dispatcher, Stage::Dispatched),
        (ActionKind::Accept, Role::Department, Stage::Accepted),
        (ActionKind::Handle, Role::Department, Stage::Handled),
        (ActionKind::Feedback, Role::Department, Stage::FeedbackGiven),
        (
            ActionKind::RequestVerification,
            Role::System,
            Stage::VerificationRequested,
        ),
        (ActionKind::VerifyPass, Role::GridWorker, Stage::Verified),
        (ActionKind::Close, Role::System, Stage::Closed),
    ];

    #[test]
    fn the_closed_loop_runs_end_to_end() {
        let mut stage = None;
        for (action, role, expected) in LOOP {
            stage = Some(apply(stage, action, role).unwrap());
            assert_eq!(stage, Some(expected), "after {action}");
        }
    }

    #[test]
    fn failed_verification_goes_to_rework_and_back_to_the_department() {
        let s = apply(
            Some(Stage::VerificationRequested),
            ActionKind::VerifyFail,
            Role::GridWorker,
        );
        assert_eq!(s, Ok(Stage::Rework));
        assert_eq!(
            apply(Some(Stage::Rework), ActionKind::Handle, Role::Department),
            Ok(Stage::Handled)
        );
    }

    #[test]
    fn a_return_goes_back_to_dispatch() {
        let s = apply(Some(Stage::Accepted), ActionKind::Return, Role::Department).unwrap();
        assert_eq!(s, Stage::Returned);
        assert_eq!(
            apply(Some(s), ActionKind::Dispatch, Role::Dispatcher),
            Ok(Stage::Dispatched)
        );
    }

    #[test]
    fn roles_are_enforced() {
        assert_eq!(
            apply(
                Some(Stage::Reported),
                ActionKind::Register,
                Role::GridWorker
            ),
            Err(Refusal::RoleNotAllowed {
                role: Role::GridWorker,
                action: ActionKind::Register
            })
        );
        assert!(
            apply(
                Some(Stage::Dispatched),
                ActionKind::Accept,
                Role::Dispatcher
            )
            .is_err()
        );
        assert!(
            apply(
                Some(Stage::Dispatched),
                ActionKind::SpecialClose,
                Role::Dispatcher
            )
            .is_err()
        );
        assert_eq!(
            apply(
                Some(Stage::Dispatched),
                ActionKind::SpecialClose,
                Role::Supervisor
            ),
            Ok(Stage::SpecialClosed)
        );
    }

    #[test]
    fn terminal_stages_accept_nothing() {
        for stage in Stage::ALL.into_iter().filter(|s| s.is_terminal()) {
            for role in Role::ALL {
                assert!(available_actions(stage, role).is_empty(), "{stage} {role}");
            }
        }
    }

    #[test]
    fn non_moving_actions_keep_the_stage() {
        assert_eq!(
            apply(Some(Stage::Accepted), ActionKind::Extend, Role::Dispatcher),
            Ok(Stage::Accepted)
        );
        assert_eq!(
            apply(
                Some(Stage::Handled),
                ActionKind::AddEvidence,
                Role::GridWorker
            ),
            Ok(Stage::Handled)
        );
        assert!(apply(Some(Stage::Registered), ActionKind::Edit, Role::GridWorker).is_err());
    }

    #[test]
    fn a_grid_worker_may_only_report_add_evidence_edit_and_verify() {
        let mut allowed: Vec<ActionKind> = ActionKind::ALL
            .into_iter()
            .filter(|a| a.allowed_roles().contains(&Role::GridWorker))
            .collect();
        allowed.sort();
        assert_eq!(
            allowed,
            vec![
                ActionKind::Report,
                ActionKind::VerifyPass,
                ActionKind::VerifyFail,
                ActionKind::AddEvidence,
                ActionKind::Edit
            ]
        );
    }

    #[test]
    fn every_non_terminal_stage_is_reachable_and_can_end() {
        // Breadth-first over the machine: each stage is reachable from nothing, and from each
        // non-terminal stage some terminal stage can be reached (no dead ends).
        let mut reached = vec![Stage::Reported];
        let mut i = 0;
        while i < reached.len() {
            for a in ActionKind::ALL {
                for r in Role::ALL {
                    if let Ok(n) = apply(Some(reached[i]), a, r)
                        && !reached.contains(&n)
                    {
                        reached.push(n);
                    }
                }
            }
            i += 1;
        }
        assert_eq!(reached.len(), Stage::ALL.len());
        for s in Stage::ALL.into_iter().filter(|s| !s.is_terminal()) {
            assert!(!available_actions(s, Role::Supervisor).is_empty());
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(s.as_str().parse::<Stage>(), Ok(s));
        }
        for a in ActionKind::ALL {
            assert_eq!(a.as_str().parse::<ActionKind>(), Ok(a));
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("nope".parse::<Stage>().is_err());
    }
}
