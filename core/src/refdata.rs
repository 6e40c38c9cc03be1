//! What the reference-data files (catalogue, routing rules) share: reading a CSV header whose columns
//! may come in any order, and a content fingerprint that devices compare to know which version they
//! cache.

use std::collections::HashMap;

/// A header problem; each file type turns it into its own error with its own column list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    Unknown(String),
    Duplicate(String),
    Missing(&'static str),
}

/// Where each known column sits in a header: unknown and repeated names are refused.
pub struct Header {
    pub count: usize,
    found: HashMap<&'static str, usize>,
}

impl Header {
    pub fn read(headers: &csv::StringRecord, known: &[&'static str]) -> Result<Self, HeaderError> {
        let mut found = HashMap::new();
        for (index, name) in headers.iter().enumerate() {
            let Some(&column) = known.iter().find(|column| **column == name) else {
                return Err(HeaderError::Unknown(name.to_string()));
            };
            if found.insert(column, index).is_some() {
                return Err(HeaderError::Duplicate(name.to_string()));
            }
        }
        Ok(Header {
            count: headers.len(),
            found,
        })
    }

    pub fn optional(&self, column: &'static str) -> Option<usize> {
        self.found.get(column).copied()
    }

    pub fn required(&self, column: &'static str) -> Result<usize, HeaderError> {
        self.optional(column).ok_or(HeaderError::Missing(column))
    }
}

/// FNV-1a (64 bit) of the text, in hex: tiny, and unlike std's `DefaultHasher` fixed by definition, so
/// a device and the server agree on it across builds.
pub fn fingerprint(text: &str) -> String {
    format!("{:016x}", fnv1a64(text.as_bytes()))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The 1-based line a record starts on. Counted from the byte offset because the csv crate's own line
/// number is one short after CRLF line ends (the files Excel writes): its record starts point at the
/// '\n' of the previous line end.
pub fn line_at(text: &str, position: &csv::Position) -> u64 {
    let bytes = text.as_bytes();
    let mut start = usize::try_from(position.byte()).map_or(bytes.len(), |b| b.min(bytes.len()));
    while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
        start += 1;
    }
    let newlines = bytes[..start].iter().filter(|&&b| b == b'\n').count();
    newlines as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn headers_in_any_order_unknown_and_repeated_refused() {
        let known = ["a", "b", "c"];
        let h = Header::read(&csv::StringRecord::from(vec!["c", "a"]), &known).unwrap();
        assert_eq!(h.required("a"), Ok(1));
        assert_eq!(h.optional("b"), None);
        assert_eq!(h.required("b"), Err(HeaderError::Missing("b")));
        assert!(matches!(
            Header::read(&csv::StringRecord::from(vec!["a", "x"]), &known),
            Err(HeaderError::Unknown(x)) if x == "x"
        ));
        assert!(matches!(
            Header::read(&csv::StringRecord::from(vec!["a", "a"]), &known),
            Err(HeaderError::Duplicate(_))
        ));
    }
}
