//! The category catalogue (部件/事件分类): what a problem is, who handles it by default, and its deadline.
//!
//! Reference data, never code: the catalogue ships as `data/catalog.csv` and a city edits it (local
//! deadlines, departments, local codes under its own standard name). A category is keyed by
//! (standard, code) because the current national catalogue (GB/T 47678.5-2026, codes like `06010`) and
//! city-local catalogues live side by side, and workers still type the older CJ/T 214-2007 /
//! GB/T 30428.2 codes (`0102`, `01-10`), which [`Catalog::resolve`] maps to the current category.
//!
//! Two legacy notations coexist in the data and are NOT interchangeable: the four-digit form (`0111` is the
//! component 燃气井盖) and the dashed form (`01-11` is the event 积存垃圾渣土). So a dash is never
//! dropped when matching. The four-digit component and event trees of CJ/T 214-2007 also reuse numbers
//! (`0102` is both the component 污水井盖 and the event 暴露垃圾); legacy codes are therefore unique only
//! within a `kind`, and a bare legacy code that names two categories resolves to none (see
//! [`Catalog::resolve_all`] to let the user choose).

use std::collections::HashMap;

use crate::refdata::{Header, HeaderError, fingerprint, line_at};

use crate::calendar::ClockType;

/// The current national catalogue.
pub const CURRENT_STANDARD: &str = "GB/T 47678.5-2026";
/// The older catalogue whose codes are kept as `legacy_code`.
pub const LEGACY_STANDARD: &str = "CJ/T 214-2007";

/// What `to_csv` writes for "no legacy code" (the shipped file's convention).
const NO_LEGACY: &str = "–";

/// Column order written by `to_csv`.
const COLUMNS: [&str; 10] = [
    "standard",
    "code",
    "legacy_code",
    "kind",
    "major_class",
    "minor_class",
    "default_department",
    "deadline_hours",
    "clock",
    "note",
];

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct CategoryKey {
    pub standard: String,
    pub code: String,
}

impl CategoryKey {
    /// A key in the current national catalogue.
    pub fn current(code: &str) -> Self {
        CategoryKey {
            standard: CURRENT_STANDARD.to_string(),
            code: code.to_string(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Category {
    pub key: CategoryKey,
    /// As written in the file, possibly several codes separated by " / " (e.g. "01-10 / 0102").
    pub legacy_code: Option<String>,
    /// 部件异常 (component), 事件 (event), 地方扩展 (local extension) ...
    pub kind: String,
    pub major_class: String,
    pub minor_class: String,
    pub default_department: String,
    /// Handling deadline (处置时限) in hours on `clock`.
    pub deadline_hours: f64,
    pub clock: ClockType,
    pub note: Option<String>,
}

impl Category {
    /// "major_class / minor_class", e.g. "市容环境类 / 暴露垃圾".
    pub fn name(&self) -> String {
        format!("{} / {}", self.major_class, self.minor_class)
    }

    /// The individual legacy codes, as written ("01-10", "0102").
    pub fn legacy_codes(&self) -> impl Iterator<Item = &str> {
        self.legacy_code
            .iter()
            .flat_map(|field| field.split('/'))
            .map(str::trim)
            .filter(|code| !code.is_empty())
    }
}

/// Why a catalogue file was refused. Lines count from 1 (the header); English with a Chinese gloss.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("line {line}: malformed CSV: {message} (CSV 格式错误)")]
    Csv { line: u64, message: String },
    #[error("line 1: missing column {column:?} (缺少列 {column})")]
    MissingColumn { column: &'static str },
    #[error("line 1: unknown column {column:?}; known columns are {known} (未知列名)", known = COLUMNS.join(","))]
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
    #[error("line {line}: field {field:?}: {value:?} {problem} (编码格式错误)")]
    BadCode {
        line: u64,
        field: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error(
        "line {line}: field \"deadline_hours\": {value:?} is not a number of hours of at least one minute \
         (处置时限须为大于 0 的小时数)"
    )]
    BadHours { line: u64, value: String },
    #[error("line {line}: field \"clock\": unknown clock {value:?} (时限类型须为 WH 或 CH)")]
    BadClock { line: u64, value: String },
    #[error(
        "line {line}: duplicate category {standard}:{code}, first on line {first_line} (分类编码重复)"
    )]
    DuplicateCode {
        line: u64,
        standard: String,
        code: String,
        first_line: u64,
    },
    #[error(
        "line {line}: field \"legacy_code\": {legacy:?} ({kind}) is already mapped to {first_code} on line \
         {first_line} (同一旧编码不能映射到两个分类)"
    )]
    DuplicateLegacy {
        line: u64,
        legacy: String,
        kind: String,
        first_code: String,
        first_line: u64,
    },
}

/// The category catalogue, in file order, with lookup indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    rows: Vec<Category>,
    by_key: HashMap<CategoryKey, usize>,
    /// Normalised code → rows in any standard with that code.
    by_code: HashMap<String, Vec<usize>>,
    /// Normalised legacy code → rows mapping it (two at most in practice: one component, one event).
    by_legacy: HashMap<String, Vec<usize>>,
}

impl Catalog {
    /// Parses a catalogue CSV (UTF-8, header line first, any column order). `standard`, `legacy_code`
    /// and `note` may be absent: a file without `standard` is the current national catalogue.
    pub fn from_csv(text: &str) -> Result<Self, CatalogError> {
        // Excel saves UTF-8 CSV with a byte-order mark, which would otherwise glue onto the first header.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true) // counted below, to report the line in our own words
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| csv_error(text, e))?.clone();
        let columns = Columns::from_headers(&headers)?;
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(text, e))?;
            let line = record.position().map_or(0, |p| line_at(text, p));
            rows.push((line, columns.parse_row(&record, line)?));
        }
        Self::build(rows)
    }

    /// The shipped catalogue (`data/catalog.csv`, 80 rows).
    pub fn builtin() -> Self {
        // Fixed at compile time and checked by the tests, so this cannot fail at run time.
        Self::from_csv(include_str!("../data/catalog.csv"))
            .expect("shipped data/catalog.csv is valid")
    }

    /// The catalogue as CSV with every column, CRLF line ends (RFC 4180, as Excel writes). `from_csv`
    /// reads it back to an equal catalogue; the shipped file is byte-for-byte `builtin().to_csv()`.
    pub fn to_csv(&self) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        // Writing to memory cannot fail, and every field is a valid UTF-8 string.
        writer.write_record(COLUMNS).expect("CSV to memory");
        for row in &self.rows {
            writer.write_record(row_fields(row)).expect("CSV to memory");
        }
        let bytes = writer.into_inner().expect("CSV to memory");
        String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
    }

    pub fn get(&self, key: &CategoryKey) -> Option<&Category> {
        self.by_key.get(key).map(|&index| &self.rows[index])
    }

    /// Resolve what a worker typed: a current code ("06010"), a prefixed code
    /// ("GB/T 47678.5-2026:06010", or a local standard's name and code), or a legacy code ("0101",
    /// "01-10", optionally prefixed "CJ/T 214-2007:0101") → the category. Full-width characters and dash
    /// variants from Chinese input methods are accepted. Unknown or ambiguous → `None`.
    pub fn resolve(&self, input: &str) -> Option<&Category> {
        match self.resolve_all(input).as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Every category `input` could mean, in file order, for a UI to offer a choice when `resolve` gives
    /// `None` (e.g. "0102" is the component 污水井盖 and the event 暴露垃圾 in CJ/T 214-2007).
    /// Precedence: current-standard code, then a code of any standard, then a legacy code.
    pub fn resolve_all(&self, input: &str) -> Vec<&Category> {
        let input = normalise(input);
        let indexes = match input.rsplit_once(':') {
            Some((standard, code)) => self.prefixed(standard, &compact(code)),
            None => self.bare(&compact(&input)),
        };
        indexes.into_iter().map(|index| &self.rows[index]).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.rows.iter()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A content fingerprint (16 hex digits, FNV-1a 64 of `to_csv()`), stable across Rust versions and
    /// platforms, so devices and server can tell which catalogue a device has cached.
    pub fn version(&self) -> String {
        fingerprint(&self.to_csv())
    }

    /// Checks uniqueness across rows and builds the indexes.
    fn build(rows: Vec<(u64, Category)>) -> Result<Self, CatalogError> {
        let mut catalog = Catalog {
            rows: Vec::with_capacity(rows.len()),
            by_key: HashMap::new(),
            by_code: HashMap::new(),
            by_legacy: HashMap::new(),
        };
        // (standard, normalised code) → line; so "l9001" cannot shadow "L9001".
        let mut seen_codes: HashMap<(String, String), u64> = HashMap::new();
        // (kind, normalised legacy code) → (line, code): the legacy trees are per kind (see module docs).
        let mut seen_legacy: HashMap<(String, String), (u64, String)> = HashMap::new();
        for (line, row) in rows {
            let code = compact(&normalise(&row.key.code));
            if let Some(&first_line) = seen_codes.get(&(row.key.standard.clone(), code.clone())) {
                return Err(CatalogError::DuplicateCode {
                    line,
                    standard: row.key.standard.clone(),
                    code: row.key.code.clone(),
                    first_line,
                });
            }
            seen_codes.insert((row.key.standard.clone(), code.clone()), line);
            let index = catalog.rows.len();
            for legacy in distinct_legacy_codes(&row) {
                let scope = (row.kind.clone(), legacy.clone());
                if let Some((first_line, first_code)) = seen_legacy.get(&scope) {
                    return Err(CatalogError::DuplicateLegacy {
                        line,
                        legacy,
                        kind: row.kind.clone(),
                        first_code: first_code.clone(),
                        first_line: *first_line,
                    });
                }
                seen_legacy.insert(scope, (line, row.key.code.clone()));
                catalog.by_legacy.entry(legacy).or_default().push(index);
            }
            catalog.by_code.entry(code).or_default().push(index);
            catalog.by_key.insert(row.key.clone(), index);
            catalog.rows.push(row);
        }
        Ok(catalog)
    }

    /// "STANDARD:CODE": a legacy standard's name looks the code up among legacy codes.
    fn prefixed(&self, standard: &str, code: &str) -> Vec<usize> {
        let standard = standard_key(standard);
        if is_legacy_standard(&standard) {
            return self.by_legacy.get(code).cloned().unwrap_or_default();
        }
        let rows = self
            .by_code
            .get(code)
            .map(Vec::as_slice)
            .unwrap_or_default();
        rows.iter()
            .copied()
            .filter(|&index| standard_key(&self.rows[index].key.standard) == standard)
            .collect()
    }

    fn bare(&self, code: &str) -> Vec<usize> {
        let Some(rows) = self.by_code.get(code) else {
            return self.by_legacy.get(code).cloned().unwrap_or_default();
        };
        let current: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&index| self.rows[index].key.standard == CURRENT_STANDARD)
            .collect();
        if current.is_empty() {
            rows.clone()
        } else {
            current
        }
    }
}

/// Where each column sits in the file being read.
struct Columns {
    count: usize,
    standard: Option<usize>,
    code: usize,
    legacy_code: Option<usize>,
    kind: usize,
    major_class: usize,
    minor_class: usize,
    default_department: usize,
    deadline_hours: usize,
    clock: usize,
    note: Option<usize>,
}

impl Columns {
    fn from_headers(headers: &csv::StringRecord) -> Result<Self, CatalogError> {
        let h = Header::read(headers, &COLUMNS).map_err(CatalogError::from)?;
        Ok(Columns {
            count: h.count,
            standard: h.optional("standard"),
            code: h.required("code")?,
            legacy_code: h.optional("legacy_code"),
            kind: h.required("kind")?,
            major_class: h.required("major_class")?,
            minor_class: h.required("minor_class")?,
            default_department: h.required("default_department")?,
            deadline_hours: h.required("deadline_hours")?,
            clock: h.required("clock")?,
            note: h.optional("note"),
        })
    }

    fn parse_row(&self, record: &csv::StringRecord, line: u64) -> Result<Category, CatalogError> {
        if record.len() != self.count {
            return Err(CatalogError::FieldCount {
                line,
                expected: self.count,
                found: record.len(),
            });
        }
        let field = |index: usize| record.get(index).unwrap_or_default();
        let required = |index: usize, name: &'static str| match field(index) {
            "" => Err(CatalogError::EmptyField { line, field: name }),
            value => Ok(value.to_string()),
        };
        let standard = match self.standard {
            Some(index) => required(index, "standard")?,
            None => CURRENT_STANDARD.to_string(),
        };
        let code = required(self.code, "code")?;
        check_code(&code, "code", line)?;
        let legacy_code = match self.legacy_code {
            Some(index) => parse_legacy(field(index), line)?,
            None => None,
        };
        Ok(Category {
            key: CategoryKey { standard, code },
            legacy_code,
            kind: required(self.kind, "kind")?,
            major_class: required(self.major_class, "major_class")?,
            minor_class: required(self.minor_class, "minor_class")?,
            default_department: required(self.default_department, "default_department")?,
            deadline_hours: parse_hours(field(self.deadline_hours), line)?,
            clock: parse_clock(field(self.clock), line)?,
            note: self
                .note
                .map(field)
                .filter(|note| !note.is_empty())
                .map(str::to_string),
        })
    }
}

/// A code is matched after normalisation, and ':' separates a standard from a code when typed.
fn check_code(value: &str, field: &'static str, line: u64) -> Result<(), CatalogError> {
    let problem = if value.chars().any(char::is_whitespace) {
        "contains a space"
    } else if value.contains(':') || value.contains('：') {
        "contains ':', which separates a standard from a code"
    } else {
        return Ok(());
    };
    Err(CatalogError::BadCode {
        line,
        field,
        value: value.to_string(),
        problem,
    })
}

/// "–", "-", "—" or empty mean "no legacy code"; otherwise one or more codes separated by '/'.
fn parse_legacy(value: &str, line: u64) -> Result<Option<String>, CatalogError> {
    if value.is_empty() || value.chars().all(is_dash) {
        return Ok(None);
    }
    for part in value.split('/') {
        let part = part.trim();
        if part.is_empty() {
            return Err(CatalogError::BadCode {
                line,
                field: "legacy_code",
                value: value.to_string(),
                problem: "has an empty code between '/' separators",
            });
        }
        check_code(part, "legacy_code", line)?;
    }
    Ok(Some(value.to_string()))
}

fn parse_hours(value: &str, line: u64) -> Result<f64, CatalogError> {
    let bad = || CatalogError::BadHours {
        line,
        value: value.to_string(),
    };
    let hours: f64 = value.parse().map_err(|_| bad())?;
    // Deadlines are counted in whole minutes: anything under half a minute would be no deadline at all.
    if !hours.is_finite() || (hours * 60.0).round() < 1.0 {
        return Err(bad());
    }
    Ok(hours)
}

fn parse_clock(value: &str, line: u64) -> Result<ClockType, CatalogError> {
    value.parse().map_err(|_| CatalogError::BadClock {
        line,
        value: value.to_string(),
    })
}

fn row_fields(row: &Category) -> [String; 10] {
    [
        row.key.standard.clone(),
        row.key.code.clone(),
        row.legacy_code
            .clone()
            .unwrap_or_else(|| NO_LEGACY.to_string()),
        row.kind.clone(),
        row.major_class.clone(),
        row.minor_class.clone(),
        row.default_department.clone(),
        row.deadline_hours.to_string(), // shortest form that parses back to the same f64: "2", "0.5"
        row.clock.as_code().to_string(),
        row.note.clone().unwrap_or_default(),
    ]
}

/// A row's legacy codes, normalised, without repeats (a row may list the same code in two notations).
fn distinct_legacy_codes(row: &Category) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for code in row.legacy_codes().map(|code| compact(&normalise(code))) {
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '－' | '−')
}

/// What Chinese input methods produce, folded to ASCII: full-width forms (０６０１０, ：), the
/// ideographic space, and the many dashes; ASCII letters upper-cased ("l9001" → "L9001").
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            c if is_dash(c) => '-',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            c => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Codes never contain spaces, so spaces a user typed ("01 - 10") are dropped.
fn compact(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Standard names compared without spaces and case: "gb/t47678.5-2026" names "GB/T 47678.5-2026".
fn standard_key(standard: &str) -> String {
    compact(&normalise(standard))
}

/// Both older notations are kept as legacy codes: CJ/T 214 (any edition) and GB/T 30428(.2).
fn is_legacy_standard(standard_key: &str) -> bool {
    standard_key.starts_with("CJ/T214") || standard_key.starts_with("GB/T30428")
}

fn csv_error(text: &str, error: csv::Error) -> CatalogError {
    CatalogError::Csv {
        line: error.position().map_or(0, |p| line_at(text, p)),
        message: error.to_string(),
    }
}

impl From<HeaderError> for CatalogError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Unknown(column) => CatalogError::UnknownColumn { column },
            HeaderError::Duplicate(column) => CatalogError::DuplicateColumn { column },
            HeaderError::Missing(column) => CatalogError::MissingColumn { column },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_method_forms_are_folded() {
        assert_eq!(normalise(" ０６０１０ "), "06010");
        assert_eq!(normalise("01－10"), "01-10");
        assert_eq!(normalise("01—10"), "01-10");
        assert_eq!(
            normalise("gb/t 47678.5-2026：06010"),
            "GB/T 47678.5-2026:06010"
        );
        assert_eq!(compact("01 - 10"), "01-10");
    }

    #[test]
    fn legacy_standard_names() {
        assert!(is_legacy_standard(&standard_key(LEGACY_STANDARD)));
        assert!(is_legacy_standard(&standard_key("GB/T 30428.2-2013")));
        assert!(!is_legacy_standard(&standard_key(CURRENT_STANDARD)));
    }
}
