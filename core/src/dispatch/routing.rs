//! Routing rules (派遣规则): which department a new case goes to, and its handling deadline.
//!
//! Reference data, never code: the rules ship as `data/routing.csv` and a district edits them. Each rule
//! names a category (or any), an area (a grid-code prefix, or anywhere), a department and optionally its
//! own deadline. The most specific matching rule wins; without one the catalogue's default department
//! and deadline for the category apply.

use crate::refdata::{Header, HeaderError, fingerprint, line_at};

use chrono::{DateTime, Utc};

use super::DispatchError;
use crate::calendar::{ClockType, WorkCalendar};
use crate::catalog::{Catalog, CategoryKey};

/// Column order written by `to_csv`.
pub(super) const COLUMNS: [&str; 6] = [
    "category",
    "area",
    "department",
    "deadline_hours",
    "clock",
    "note",
];

/// The name `Route::because` gives the rules file, whatever it was loaded from.
const RULES_FILE: &str = "routing.csv";

/// Grid-code prefix lengths that mean something: district, street, community, cell.
const AREA_LENGTHS: [usize; 4] = [6, 9, 12, 15];

/// One line of the rules file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoutingRule {
    /// A code of the current national catalogue ("06010"), or "standard:code" for a category of another
    /// standard; `None` matches every category.
    pub category: Option<String>,
    /// A grid-code prefix of 6 (district), 9 (street), 12 (community) or 15 (one cell) digits; `None`
    /// matches everywhere, including cases without a cell. A rule with an area and no category takes
    /// every category there that no category rule claims, urgent ones (gas, manholes) included.
    pub area: Option<String>,
    /// The department the case goes to, named as in the catalogue's `default_department`.
    pub department: String,
    /// Overrides the catalogue's handling deadline for the category.
    pub deadline_hours: Option<f64>,
    /// Overrides the catalogue's clock for the category.
    pub clock: Option<ClockType>,
    /// Why the rule exists, for the people who maintain the file.
    pub note: Option<String>,
}

impl RoutingRule {
    /// How specific the rule is: a category beats any area, then a longer area prefix beats a shorter
    /// one. Compared as a tuple, so category+area > category > area > neither.
    fn specificity(&self) -> (bool, usize) {
        (
            self.category.is_some(),
            self.area.as_ref().map_or(0, String::len),
        )
    }

    fn matches_area(&self, cell: Option<&str>) -> bool {
        match (&self.area, cell) {
            (None, _) => true,
            (Some(area), Some(cell)) => cell.starts_with(area.as_str()),
            (Some(_), None) => false,
        }
    }
}

/// Where a case goes and when it is due.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Route {
    pub department: String,
    /// The handling deadline if dispatched at the time given to [`RoutingRules::route`].
    pub deadline: DateTime<Utc>,
    /// The handling time allowed, in hours on `clock`.
    pub hours: f64,
    pub clock: ClockType,
    /// Which rule decided, for the dispatcher to see: "routing.csv line 4" or "catalogue default".
    pub because: String,
}

/// The routing rules, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingRules {
    rules: Vec<RoutingRule>,
    /// Per rule: the category key it matches (parsed once) and the line it was read from.
    index: Vec<(Option<CategoryKey>, u64)>,
}

impl RoutingRules {
    /// Parses a rules CSV (UTF-8, header line first, any column order; `note` may be absent).
    pub fn from_csv(text: &str) -> Result<Self, DispatchError> {
        // Excel saves UTF-8 CSV with a byte-order mark, which would otherwise glue onto the first header.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true) // counted below, to report the line in our own words
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let csv_error = |error: csv::Error| csv_error(text, error);
        let headers = reader.headers().map_err(csv_error)?.clone();
        let columns = Columns::from_headers(&headers)?;
        let mut rules = RoutingRules {
            rules: Vec::new(),
            index: Vec::new(),
        };
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            let line = record.position().map_or(0, |p| line_at(text, p));
            let rule = columns.parse_row(&record, line)?;
            rules
                .index
                .push((rule.category.as_deref().map(category_key), line));
            rules.rules.push(rule);
        }
        Ok(rules)
    }

    /// The shipped rules for the demo district (`data/routing.csv`).
    pub fn builtin() -> Self {
        // Fixed at compile time and checked by the tests, so this cannot fail at run time.
        Self::from_csv(include_str!("../../data/routing.csv"))
            .expect("shipped data/routing.csv is valid")
    }

    /// The rules as CSV with every column, CRLF line ends (as Excel writes). `from_csv` reads it back to
    /// equal rules; the shipped file is byte-for-byte `builtin().to_csv()`.
    pub fn to_csv(&self) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        // Writing to memory cannot fail, and every field is a valid UTF-8 string.
        writer.write_record(COLUMNS).expect("CSV to memory");
        for rule in &self.rules {
            writer
                .write_record(row_fields(rule))
                .expect("CSV to memory");
        }
        let bytes = writer.into_inner().expect("CSV to memory");
        String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
    }

    /// A content fingerprint (16 hex digits, FNV-1a 64 of `to_csv()`), like `Catalog::version`, so that
    /// devices and server can tell which rules a route was computed with.
    pub fn version(&self) -> String {
        fingerprint(&self.to_csv())
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[RoutingRule] {
        &self.rules
    }

    /// Refuses rules whose category is not in `catalog`: a typo there would silently never match.
    /// Not part of `from_csv` because the rules and the catalogue are edited and loaded separately.
    pub fn check_categories(&self, catalog: &Catalog) -> Result<(), DispatchError> {
        for (rule, (key, line)) in self.rules.iter().zip(&self.index) {
            if let (Some(key), Some(category)) = (key, &rule.category)
                && catalog.get(key).is_none()
            {
                return Err(DispatchError::RuleCategoryNotInCatalog {
                    line: *line,
                    category: category.clone(),
                });
            }
        }
        Ok(())
    }

    /// Where a case goes and when it is due if dispatched at `at`: the most specific matching rule
    /// (category and area, then category only, then area only; a longer area prefix first; on a tie the
    /// earlier line), else the catalogue's default department and deadline for the category. A rule
    /// without its own deadline or clock takes the catalogue's.
    pub fn route(
        &self,
        catalog: &Catalog,
        calendar: &WorkCalendar,
        category: &CategoryKey,
        cell: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Route, DispatchError> {
        let entry = catalog
            .get(category)
            .ok_or_else(|| DispatchError::UnknownCategory {
                standard: category.standard.clone(),
                code: category.code.clone(),
            })?;
        let (department, hours, clock, because) = match self.best_rule(category, cell) {
            Some((rule, line)) => (
                rule.department.clone(),
                rule.deadline_hours.unwrap_or(entry.deadline_hours),
                rule.clock.unwrap_or(entry.clock),
                format!("{RULES_FILE} line {line}"),
            ),
            None => (
                entry.default_department.clone(),
                entry.deadline_hours,
                entry.clock,
                "catalogue default".to_string(),
            ),
        };
        Ok(Route {
            department,
            deadline: calendar.deadline(at, hours, clock),
            hours,
            clock,
            because,
        })
    }

    /// The winning rule and its line, if any rule matches.
    fn best_rule(&self, category: &CategoryKey, cell: Option<&str>) -> Option<(&RoutingRule, u64)> {
        let mut best: Option<(&RoutingRule, u64)> = None;
        for (rule, (key, line)) in self.rules.iter().zip(&self.index) {
            let category_matches = key.as_ref().is_none_or(|key| key == category);
            if !category_matches || !rule.matches_area(cell) {
                continue;
            }
            // Strictly more specific only: on a tie the earlier line keeps its place.
            if best.is_none_or(|(winner, _)| rule.specificity() > winner.specificity()) {
                best = Some((rule, *line));
            }
        }
        best
    }
}

/// "06010" is a code of the current national catalogue; "standard:code" names another standard.
fn category_key(field: &str) -> CategoryKey {
    match field.rsplit_once(':') {
        Some((standard, code)) => CategoryKey {
            standard: standard.trim().to_string(),
            code: code.trim().to_string(),
        },
        None => CategoryKey::current(field),
    }
}

/// Where each column sits in the file being read.
struct Columns {
    count: usize,
    category: usize,
    area: usize,
    department: usize,
    deadline_hours: usize,
    clock: usize,
    note: Option<usize>,
}

impl Columns {
    fn from_headers(headers: &csv::StringRecord) -> Result<Self, DispatchError> {
        let h = Header::read(headers, &COLUMNS).map_err(DispatchError::from)?;
        Ok(Columns {
            count: h.count,
            category: h.required("category")?,
            area: h.required("area")?,
            department: h.required("department")?,
            deadline_hours: h.required("deadline_hours")?,
            clock: h.required("clock")?,
            note: h.optional("note"),
        })
    }

    fn parse_row(
        &self,
        record: &csv::StringRecord,
        line: u64,
    ) -> Result<RoutingRule, DispatchError> {
        if record.len() != self.count {
            return Err(DispatchError::FieldCount {
                line,
                expected: self.count,
                found: record.len(),
            });
        }
        let field = |index: usize| record.get(index).unwrap_or_default();
        let optional = |index: usize| Some(field(index)).filter(|value| !value.is_empty());
        let department = match field(self.department) {
            "" => {
                return Err(DispatchError::EmptyField {
                    line,
                    field: "department",
                });
            }
            value => value.to_string(),
        };
        Ok(RoutingRule {
            category: optional(self.category)
                .map(|value| parse_category(value, line))
                .transpose()?,
            area: optional(self.area)
                .map(|value| parse_area(value, line))
                .transpose()?,
            department,
            deadline_hours: optional(self.deadline_hours)
                .map(|value| parse_hours(value, line))
                .transpose()?,
            clock: optional(self.clock)
                .map(|value| parse_clock(value, line))
                .transpose()?,
            note: self.note.and_then(optional).map(str::to_string),
        })
    }
}

fn parse_category(value: &str, line: u64) -> Result<String, DispatchError> {
    let bad = |problem| DispatchError::BadCategory {
        line,
        value: value.to_string(),
        problem,
    };
    let key = category_key(value);
    if key.standard.is_empty() || key.code.is_empty() {
        return Err(bad("has an empty standard or code around ':'"));
    }
    // Catalogue codes never contain spaces; a space here is an editing slip that would never match.
    if key.code.chars().any(char::is_whitespace) {
        return Err(bad("contains a space"));
    }
    Ok(value.to_string())
}

fn parse_area(value: &str, line: u64) -> Result<String, DispatchError> {
    if AREA_LENGTHS.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(DispatchError::BadArea {
            line,
            value: value.to_string(),
        })
    }
}

fn parse_hours(value: &str, line: u64) -> Result<f64, DispatchError> {
    let bad = || DispatchError::BadHours {
        line,
        value: value.to_string(),
    };
    let hours: f64 = value.parse().map_err(|_| bad())?;
    // Deadlines are counted in whole minutes (as in the catalogue): under half a minute is no deadline.
    if !hours.is_finite() || (hours * 60.0).round() < 1.0 {
        return Err(bad());
    }
    Ok(hours)
}

fn parse_clock(value: &str, line: u64) -> Result<ClockType, DispatchError> {
    value.parse().map_err(|_| DispatchError::BadClock {
        line,
        value: value.to_string(),
    })
}

fn row_fields(rule: &RoutingRule) -> [String; 6] {
    [
        rule.category.clone().unwrap_or_default(),
        rule.area.clone().unwrap_or_default(),
        rule.department.clone(),
        // Shortest form that parses back to the same f64: "2", "0.5".
        rule.deadline_hours
            .map(|h| h.to_string())
            .unwrap_or_default(),
        rule.clock
            .map(|c| c.as_code().to_string())
            .unwrap_or_default(),
        rule.note.clone().unwrap_or_default(),
    ]
}

fn csv_error(text: &str, error: csv::Error) -> DispatchError {
    DispatchError::Csv {
        line: error.position().map_or(0, |p| line_at(text, p)),
        message: error.to_string(),
    }
}

impl From<HeaderError> for DispatchError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Unknown(column) => DispatchError::UnknownColumn { column },
            HeaderError::Duplicate(column) => DispatchError::DuplicateColumn { column },
            HeaderError::Missing(column) => DispatchError::MissingColumn { column },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_fields_name_a_key() {
        assert_eq!(category_key("06010"), CategoryKey::current("06010"));
        assert_eq!(
            category_key("XC-2025:X01"),
            CategoryKey {
                standard: "XC-2025".into(),
                code: "X01".into()
            }
        );
    }

    #[test]
    fn lines_are_counted_alike_with_lf_and_crlf() {
        for end in ["\n", "\r\n"] {
            // Line 3 is blank (skipped by the reader, still a line for the person editing the file).
            let text = [COLUMNS.join(","), "06010,110102,A,,,".into(), String::new()].join(end)
                + end
                + "06010,1,A,,,"
                + end;
            match RoutingRules::from_csv(&text) {
                Err(DispatchError::BadArea { line, .. }) => assert_eq!(line, 4, "{end:?}"),
                other => panic!("{end:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn specificity_orders_the_four_kinds() {
        let rule = |category: Option<&str>, area: Option<&str>| RoutingRule {
            category: category.map(str::to_string),
            area: area.map(str::to_string),
            department: "d".into(),
            deadline_hours: None,
            clock: None,
            note: None,
        };
        let both = rule(Some("06010"), Some("110102"));
        let category = rule(Some("06010"), None);
        let long_area = rule(None, Some("110102001001001"));
        let area = rule(None, Some("110102"));
        let neither = rule(None, None);
        assert!(both.specificity() > category.specificity());
        assert!(category.specificity() > long_area.specificity());
        assert!(long_area.specificity() > area.specificity());
        assert!(area.specificity() > neither.specificity());
    }
}
