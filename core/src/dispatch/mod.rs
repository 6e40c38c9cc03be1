//! The dispatch pool's rules: where a new case goes and by when ([`RoutingRules::route`]), and how a
//! case with a department is watched against its deadline (督办, [`deadline_state`]).
//!
//! Both are pure functions of reference data (routing rules, catalogue, work calendar) and a case's
//! timeline, so the server and a PDA show a dispatcher the same department and the same deadline.

mod routing;
mod supervision;

pub use routing::{Route, RoutingRule, RoutingRules};
pub use supervision::{DeadlineState, SupervisionPolicy, deadline_state, needs_escalation};

/// Why routing rules were refused or a case could not be routed. Lines count from 1 (the header);
/// English with a Chinese gloss for the people who edit the file.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("line {line}: malformed CSV: {message} (CSV 格式错误)")]
    Csv { line: u64, message: String },
    #[error("line 1: missing column {column:?} (缺少列 {column})")]
    MissingColumn { column: &'static str },
    #[error(
        "line 1: unknown column {column:?}; known columns are {known} (未知列名)",
        known = routing::COLUMNS.join(",")
    )]
    UnknownColumn { column: String },
    #[error("line 1: column {column:?} appears twice (列名重复)")]
    DuplicateColumn { column: String },
    #[error("line {line}: expected {expected} fields, found {found} (字段数与表头不符)")]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: field {field:?} is empty (字段 {field} 不能为空)")]
    EmptyField { line: u64, field: &'static str },
    #[error("line {line}: field \"category\": {value:?} {problem} (类别编码格式错误)")]
    BadCategory {
        line: u64,
        value: String,
        problem: &'static str,
    },
    #[error(
        "line {line}: field \"area\": {value:?} is not a grid code prefix of 6, 9, 12 or 15 digits \
         (district, street, community or cell) (区域须为 6、9、12 或 15 位数字的网格编码前缀)"
    )]
    BadArea { line: u64, value: String },
    #[error(
        "line {line}: field \"deadline_hours\": {value:?} is not a number of hours of at least one minute \
         (处置时限须为大于 0 的小时数)"
    )]
    BadHours { line: u64, value: String },
    #[error("line {line}: field \"clock\": unknown clock {value:?} (时限类型须为 WH 或 CH)")]
    BadClock { line: u64, value: String },
    #[error(
        "line {line}: field \"category\": {category:?} is not in the catalogue, so the rule would never \
         apply (类别不在分类目录中)"
    )]
    RuleCategoryNotInCatalog { line: u64, category: String },
    #[error("cannot route category {standard}:{code}: it is not in the catalogue (未知的案件类别)")]
    UnknownCategory { standard: String, code: String },
}
