//! The sync wire format: one request carries the changes of every dirty document on a device and the
//! acknowledgements of what it received; one response carries the server's changes for all of them and
//! for whatever else changed in the device's scope since its cursor.
//!
//! Framing: the 4 bytes `GPSY`, a little-endian u16 version, then the message in postcard (compact,
//! varint-encoded serde). Document changes travel as automerge's own change bytes, untouched, so the
//! envelope adds only ids, heads and lengths.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAGIC: &[u8; 4] = b"GPSY";
/// The version this build speaks. A peer with another version gets [`WireError::Version`].
/// Version 2: a status per document (a refused case no longer fails the whole request) and the server's
/// clock in every response.
pub const WIRE_VERSION: u16 = 2;
/// The largest message either side accepts (a device splits its pushes to stay under it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// An automerge change hash.
pub type Head = [u8; 32];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The server's change cursor the device has applied everything up to.
    pub cursor: u64,
    /// Documents the device has changes for, or has received changes for and acknowledges.
    pub docs: Vec<DocPush>,
}

/// A document's state on the device: its current heads, and the changes the server has not acknowledged
/// (empty for a pure acknowledgement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocPush {
    pub case: Uuid,
    pub heads: Vec<Head>,
    pub changes: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Where the device's cursor goes once it has applied this response.
    pub cursor: u64,
    /// True when more changes wait beyond this response's size limit: sync again.
    pub more: bool,
    /// The server's clock (Unix milliseconds) when it answered: a device stamps its records with its
    /// own clock corrected by the difference, so a wrong clock on a PDA does not get its records refused.
    pub server_ms: i64,
    pub docs: Vec<DocPull>,
}

/// A document's state on the server: what became of the device's push, the heads after merging, and
/// the changes the device lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocPull {
    pub case: Uuid,
    pub status: DocStatus,
    pub heads: Vec<Head>,
    pub changes: Vec<Vec<u8>>,
}

/// What the server made of a document the device pushed (pulled documents are `Accepted`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocStatus {
    #[default]
    Accepted,
    /// Nothing of the push was kept: `code` is machine-readable (`tampered`, `out_of_scope`,
    /// `not_allowed`, `bad_fact`, `clock`, `too_large`, `malformed`), `reason` says which rule, in
    /// Chinese and English. The device keeps the case and shows the reason.
    Refused { code: String, reason: String },
    /// Not looked at because the response was full: the device sends it again.
    Deferred,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("not a GridPatrol sync message (不是同步报文)")]
    NotSync,
    #[error(
        "sync protocol version {found}, this side speaks {supported}; update the app or the server (协议版本不一致)"
    )]
    Version { found: u16, supported: u16 },
    #[error("sync message of {size} bytes exceeds the limit of {limit} (同步报文过大)")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed sync message: {0} (同步报文格式错误)")]
    Malformed(String),
}

fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    // Serializing plain structs of bytes and integers into a Vec cannot fail.
    postcard::to_io(msg, &mut out).expect("postcard into a Vec");
    out
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(WireError::NotSync);
    }
    let found = u16::from_le_bytes([bytes[4], bytes[5]]);
    if found != WIRE_VERSION {
        return Err(WireError::Version {
            found,
            supported: WIRE_VERSION,
        });
    }
    let (msg, rest) =
        postcard::take_from_bytes(&bytes[6..]).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(msg)
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

/// The automerge bytes a message carries (what the per-document protocol would have to move anyway),
/// for measuring the envelope's overhead.
pub fn change_bytes<'a>(docs: impl IntoIterator<Item = &'a Vec<Vec<u8>>>) -> usize {
    docs.into_iter().flatten().map(Vec::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SyncRequest {
        SyncRequest {
            cursor: 42,
            docs: vec![DocPush {
                case: Uuid::now_v7(),
                heads: vec![[7; 32]],
                changes: vec![vec![1, 2, 3]],
            }],
        }
    }

    #[test]
    fn round_trips() {
        let r = request();
        assert_eq!(SyncRequest::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn an_empty_request_is_tiny() {
        let r = SyncRequest {
            cursor: 123_456,
            docs: vec![],
        };
        assert!(r.encode().len() < 16);
    }

    #[test]
    fn a_version_mismatch_is_named() {
        let mut bytes = request().encode();
        bytes[4] = 9;
        assert_eq!(
            SyncRequest::decode(&bytes),
            Err(WireError::Version {
                found: 9,
                supported: WIRE_VERSION
            })
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(SyncRequest::decode(b"hello"), Err(WireError::NotSync));
        let mut bytes = request().encode();
        bytes.truncate(bytes.len() - 2);
        assert!(matches!(
            SyncRequest::decode(&bytes),
            Err(WireError::Malformed(_))
        ));
        let mut bytes = request().encode();
        bytes.push(0);
        assert!(matches!(
            SyncRequest::decode(&bytes),
            Err(WireError::Malformed(_))
        ));
    }
}
