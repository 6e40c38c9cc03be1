//! The 15-digit unit grid cell code (单元网格编码).

use std::fmt;
use std::str::FromStr;

use super::GridError;

/// A unit grid cell code: 15 ASCII digits.
///
/// | digits | meaning |
/// |---|---|
/// | 1–6 | administrative division (GB/T 2260), e.g. `110102` Beijing Xicheng |
/// | 7–9 | street (街道) |
/// | 10–12 | community (社区) |
/// | 13–15 | cell, numbered west→east, north→south within the community |
///
/// Ordering is lexicographic, which for fixed-width digit strings is numeric order and keeps the cells of
/// one street or community contiguous.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct CellCode(String);

impl CellCode {
    /// Number of digits in a cell code.
    pub const LEN: usize = 15;
    const DIVISION_LEN: usize = 6;
    const STREET_LEN: usize = 9;
    const COMMUNITY_LEN: usize = 12;

    /// Parses a code, refusing anything but exactly 15 ASCII digits (no trimming: a stray space in a
    /// grid file is a data error worth seeing).
    pub fn parse(s: &str) -> Result<Self, GridError> {
        if s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(GridError::BadCode { got: s.to_owned() })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The administrative division code, 6 digits (the district).
    pub fn division(&self) -> &str {
        &self.0[..Self::DIVISION_LEN]
    }

    /// Division and street, the first 9 digits.
    pub fn street(&self) -> &str {
        &self.0[..Self::STREET_LEN]
    }

    /// Division, street and community, the first 12 digits.
    pub fn community(&self) -> &str {
        &self.0[..Self::COMMUNITY_LEN]
    }

    /// Whether this cell lies in a supervisor's scope, given as a code prefix (a district `110102`, a
    /// street `110102001`, a community, or a whole code). The empty prefix covers every cell.
    pub fn is_within(&self, scope_prefix: &str) -> bool {
        self.0.starts_with(scope_prefix)
    }
}

impl fmt::Display for CellCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CellCode {
    type Err = GridError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CellCode {
    type Error = GridError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CellCode> for String {
    fn from(code: CellCode) -> Self {
        code.0
    }
}

impl AsRef<str> for CellCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fifteen_digits_and_splits_prefixes() {
        let code = CellCode::parse("110102003004012").expect("valid code");
        assert_eq!(code.as_str(), "110102003004012");
        assert_eq!(code.division(), "110102");
        assert_eq!(code.street(), "110102003");
        assert_eq!(code.community(), "110102003004");
        assert_eq!(code.to_string(), "110102003004012");
        assert_eq!("110102003004012".parse::<CellCode>().ok(), Some(code));
    }

    #[test]
    fn refuses_wrong_length_letters_and_non_ascii_digits() {
        for bad in [
            "11010200300401",   // 14 digits, the older scheme
            "1101020030040120", // 16
            "",
            "11010200300401A",
            " 110102003004012",
            "１１０１０２００３００４０１", // full-width digits
        ] {
            match CellCode::parse(bad) {
                Err(GridError::BadCode { got }) => assert_eq!(got, bad),
                other => panic!("{bad:?} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn message_names_the_rule_and_the_input() {
        let err = CellCode::parse("1101").expect_err("too short");
        assert_eq!(
            err.to_string(),
            "cell code must be 15 digits (网格编码须为15位数字): got \"1101\""
        );
    }

    #[test]
    fn is_within_a_scope_prefix() {
        let code = CellCode::parse("110102003004012").expect("valid code");
        assert!(code.is_within("110102"));
        assert!(code.is_within("110102003"));
        assert!(code.is_within("110102003004"));
        assert!(code.is_within("110102003004012"));
        assert!(code.is_within(""));
        assert!(!code.is_within("110105"));
        assert!(!code.is_within("110102004"));
        assert!(!code.is_within("1101020030040123"));
    }

    #[test]
    fn serde_is_a_plain_string_and_validates() {
        let code = CellCode::parse("110102003004012").expect("valid code");
        let json = serde_json::to_string(&code).expect("serialize");
        assert_eq!(json, "\"110102003004012\"");
        let back: CellCode = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, code);
        assert!(serde_json::from_str::<CellCode>("\"12345\"").is_err());
        assert!(serde_json::from_str::<CellCode>("110102003004012").is_err());
    }
}
