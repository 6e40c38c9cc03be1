//! A look at a change's raw bytes before automerge parses them.
//!
//! Parsing an automerge change is not bounded by its size. A compressed change chunk inflates (a 1 MB
//! body became 1 GiB), and the columnar encoding run-length encodes: a run of a billion identical
//! operations, or an operation with a billion predecessors, takes a few bytes. automerge's parser
//! counts every operation while it verifies a change and then materialises them, so a small hostile
//! change can hold a thread for minutes and exhaust memory. automerge exposes no count before that, so
//! this reads just enough of the binary format (<https://automerge.org/automerge-binary-format-spec/>)
//! to bound the work: the chunk type (an uncompressed change only), the column layout (no deflated
//! columns) and the run lengths of the two columns that decide how much decoding costs: `action` (one
//! entry per operation) and the `pred` group (predecessors per operation). Nothing is allocated in
//! proportion to what the bytes claim.

use sha2::{Digest, Sha256};

/// The first bytes of every automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED_CHANGE: u8 = 2;
const HASH_BYTES: usize = 32;
/// Column specification: id in the high bits, a deflate flag, and the type in the low three bits.
const COLUMN_DEFLATE: u32 = 0b1000;
const COLUMN_TYPE_GROUP: u32 = 0;
const COLUMN_TYPE_ACTOR: u32 = 1;
const COLUMN_TYPE_INTEGER: u32 = 2;
const ACTION_COLUMN: u32 = 4;
const PRED_COLUMN: u32 = 7;
/// A change has at most a dozen op columns; more is not a change this code wrote.
const MAX_COLUMNS: u64 = 32;

/// What one change may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeBudget {
    /// Encoded size.
    pub max_bytes: usize,
    /// Operations, and predecessors over all operations.
    pub max_ops: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    #[error("a change of {size} bytes exceeds the limit of {limit} (单个变更过大)")]
    TooLarge { size: usize, limit: usize },
    #[error("not an automerge change (不是自动合并变更)")]
    NotAChange,
    #[error("compressed changes are not accepted from devices (不接受压缩的变更)")]
    Compressed,
    #[error("a change of more than {limit} operations (单个变更操作数过多)")]
    TooManyOps { limit: u64 },
    #[error("malformed change: {0} (变更格式错误)")]
    Malformed(&'static str),
}

/// Checks `bytes` against `budget` and returns the number of operations the change holds.
pub fn preflight(bytes: &[u8], budget: &ChangeBudget) -> Result<u64, PreflightError> {
    if bytes.len() > budget.max_bytes {
        return Err(PreflightError::TooLarge {
            size: bytes.len(),
            limit: budget.max_bytes,
        });
    }
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(PreflightError::NotAChange);
    }
    let mut r = Reader {
        bytes,
        pos: MAGIC.len(),
    };
    let checksum = r.take(4)?;
    match r.byte()? {
        CHUNK_CHANGE => {}
        CHUNK_COMPRESSED_CHANGE => return Err(PreflightError::Compressed),
        _ => return Err(PreflightError::NotAChange),
    }
    let len = r.uleb()?;
    if len != r.remaining() as u64 {
        return Err(PreflightError::Malformed("chunk length"));
    }
    // The checksum is the first bytes of the change's hash (SHA-256 of the chunk type, length and
    // contents). Parsing a change does not verify it, but `load` does: a change kept and passed on
    // with a wrong checksum would make every saved copy that holds it fail to load elsewhere.
    let hash = Sha256::digest(&bytes[MAGIC.len() + 4..]);
    if hash[..4] != *checksum {
        return Err(PreflightError::Malformed("checksum"));
    }
    let deps = r.uleb()?;
    r.skip_n(deps, HASH_BYTES)?;
    r.skip_prefixed()?; // actor
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.uleb()?; // time (signed LEB128 has the same length rules)
    r.skip_prefixed()?; // message
    let others = r.uleb()?;
    if others > r.remaining() as u64 {
        return Err(PreflightError::Malformed("actor count"));
    }
    // Index 0 is the change's own actor, then the others in order.
    let actors = others + 1;
    for _ in 0..others {
        r.skip_prefixed()?;
    }
    let columns = r.uleb()?;
    if columns > MAX_COLUMNS {
        return Err(PreflightError::Malformed("column count"));
    }
    let mut layout = Vec::with_capacity(columns as usize);
    for _ in 0..columns {
        let spec = u32::try_from(r.uleb()?).map_err(|_| PreflightError::Malformed("column"))?;
        let len = usize::try_from(r.uleb()?).map_err(|_| PreflightError::Malformed("column"))?;
        if spec & COLUMN_DEFLATE != 0 {
            return Err(PreflightError::Compressed);
        }
        layout.push((spec, len));
    }
    let mut ops = 0;
    for (spec, len) in layout {
        let data = r.take(len)?;
        let (id, kind) = (spec >> 4, spec & 0b111);
        if id == ACTION_COLUMN && kind == COLUMN_TYPE_INTEGER {
            ops = count_runs(data, budget.max_ops, Count::Entries)?;
        } else if id == PRED_COLUMN && kind == COLUMN_TYPE_GROUP {
            count_runs(data, budget.max_ops, Count::Values)?;
        } else if kind == COLUMN_TYPE_ACTOR {
            // automerge indexes the change's actor list with these and panics past its end.
            count_runs(data, budget.max_ops, Count::ActorIndices { actors })?;
        }
    }
    Ok(ops)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Count {
    /// How many entries the column holds.
    Entries,
    /// The sum of the (unsigned) values it holds.
    Values,
    /// How many entries it holds, each an index into the change's `actors` actors.
    ActorIndices { actors: u64 },
}

/// Walks a run-length encoded column of unsigned integers without expanding it: a positive count is a
/// run of one repeated value, a negative count a literal run of that many values, zero a run of nulls.
fn count_runs(data: &[u8], limit: u64, what: Count) -> Result<u64, PreflightError> {
    let mut r = Reader {
        bytes: data,
        pos: 0,
    };
    let mut total: u64 = 0;
    let too_many = || PreflightError::TooManyOps { limit };
    while r.remaining() > 0 {
        let count = r.sleb()?;
        let add = match count {
            c if c > 0 => {
                let value = r.uleb()?;
                match what {
                    Count::Entries => c as u64,
                    Count::Values => (c as u64).checked_mul(value).ok_or_else(too_many)?,
                    Count::ActorIndices { actors } => {
                        check_actor(value, actors)?;
                        c as u64
                    }
                }
            }
            c if c < 0 => {
                let n = c.unsigned_abs();
                if n > r.remaining() as u64 {
                    return Err(PreflightError::Malformed("literal run"));
                }
                let mut sum: u64 = 0;
                for _ in 0..n {
                    let value = r.uleb()?;
                    if let Count::ActorIndices { actors } = what {
                        check_actor(value, actors)?;
                    }
                    sum = sum.saturating_add(value);
                }
                match what {
                    Count::Entries | Count::ActorIndices { .. } => n,
                    Count::Values => sum,
                }
            }
            _ => {
                let nulls = r.uleb()?;
                match what {
                    Count::Entries | Count::ActorIndices { .. } => nulls,
                    Count::Values => 0,
                }
            }
        };
        total = total.checked_add(add).ok_or_else(too_many)?;
        if total > limit {
            return Err(too_many());
        }
    }
    Ok(total)
}

fn check_actor(index: u64, actors: u64) -> Result<(), PreflightError> {
    if index < actors {
        Ok(())
    } else {
        Err(PreflightError::Malformed("actor index"))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PreflightError> {
        if n > self.remaining() {
            return Err(PreflightError::Malformed("truncated"));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, PreflightError> {
        Ok(self.take(1)?[0])
    }

    fn skip_n(&mut self, count: u64, size: usize) -> Result<(), PreflightError> {
        let total = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(size))
            .ok_or(PreflightError::Malformed("count"))?;
        self.take(total).map(|_| ())
    }

    fn skip_prefixed(&mut self) -> Result<(), PreflightError> {
        let len = self.uleb()?;
        self.skip_n(len, 1)
    }

    fn uleb(&mut self) -> Result<u64, PreflightError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(PreflightError::Malformed("integer overflow"));
            }
            value |= part << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(PreflightError::Malformed("integer overflow"))
    }

    fn sleb(&mut self) -> Result<i64, PreflightError> {
        let mut value: i64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift == 63 && !(b == 0 || b == 0x7f) {
                return Err(PreflightError::Malformed("integer overflow"));
            }
            value |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
            if shift > 63 {
                return Err(PreflightError::Malformed("integer overflow"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{AutoCommit, ObjType, ROOT, ScalarValue, transaction::Transactable};

    const BUDGET: ChangeBudget = ChangeBudget {
        max_bytes: 256 * 1024,
        max_ops: 4096,
    };

    fn last_change(doc: &mut AutoCommit) -> Vec<u8> {
        let heads = doc.get_heads();
        doc.get_change_by_hash(&heads[0])
            .unwrap()
            .raw_bytes()
            .to_vec()
    }

    /// A real change with one byte changed (checksum repaired) so that automerge's decoder panics on an
    /// actor index past the change's actor list: preflight refuses every such change first.
    #[test]
    fn an_actor_index_past_the_actor_list_is_refused_before_automerge_panics() {
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
        let event = doc.insert_object(&list, 0, ObjType::Map).unwrap();
        doc.put(&event, "a", "x").unwrap();
        doc.put(&event, "b", 2).unwrap();
        doc.commit();
        let real = last_change(&mut doc);
        let panics = |bytes: &[u8]| {
            std::panic::catch_unwind(|| {
                if let Ok(c) = automerge::Change::try_from(bytes) {
                    let _ = c.decode();
                }
            })
            .is_err()
        };
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let mut found = 0;
        for i in 8..real.len() {
            for value in 1..8u8 {
                let mut bytes = real.clone();
                bytes[i] = value;
                let digest = Sha256::digest(&bytes[8..]);
                bytes[4..8].copy_from_slice(&digest[..4]);
                if panics(&bytes) {
                    found += 1;
                    assert!(
                        preflight(&bytes, &BUDGET).is_err(),
                        "byte {i} = {value} makes automerge panic and passed preflight"
                    );
                }
            }
        }
        std::panic::set_hook(quiet);
        assert!(
            found > 0,
            "no mutation made automerge panic: the test tests nothing"
        );
    }

    #[test]
    fn an_ordinary_change_passes_with_its_op_count() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 1).unwrap();
        let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
        doc.insert(&list, 0, "x").unwrap();
        doc.commit();
        let bytes = last_change(&mut doc);
        assert_eq!(preflight(&bytes, &BUDGET), Ok(3));
        let parsed = automerge::Change::try_from(bytes.as_slice()).unwrap();
        assert_eq!(parsed.len(), 3);
    }

    #[test]
    fn a_run_length_bomb_is_counted_without_expanding_it() {
        // The stock library encodes five thousand identical inserts in a few hundred bytes (a billion
        // cost no more bytes; this many keeps the test quick).
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
        for _ in 0..5_000 {
            doc.insert(&list, 0, ScalarValue::Null).unwrap();
        }
        doc.commit();
        let bytes = last_change(&mut doc);
        assert!(bytes.len() < 2_000, "{} bytes", bytes.len());
        assert_eq!(
            preflight(&bytes, &BUDGET),
            Err(PreflightError::TooManyOps { limit: 4096 })
        );
        let roomy = ChangeBudget {
            max_ops: 1_000_000,
            ..BUDGET
        };
        assert_eq!(preflight(&bytes, &roomy), Ok(5_001));
    }

    #[test]
    fn compressed_and_foreign_chunks_are_refused() {
        let mut doc = AutoCommit::new();
        for i in 0..200 {
            doc.put(ROOT, format!("key{i}"), "some text that compresses well")
                .unwrap();
        }
        doc.commit();
        let heads = doc.get_heads();
        let mut change = doc.get_change_by_hash(&heads[0]).unwrap().clone();
        let compressed = change.bytes().into_owned();
        assert_eq!(compressed[8], CHUNK_COMPRESSED_CHANGE);
        assert_eq!(
            preflight(&compressed, &BUDGET),
            Err(PreflightError::Compressed)
        );
        assert_eq!(
            preflight(&doc.save(), &BUDGET),
            Err(PreflightError::NotAChange)
        );
        assert_eq!(
            preflight(b"hello", &BUDGET),
            Err(PreflightError::NotAChange)
        );
        assert_eq!(preflight(&[], &BUDGET), Err(PreflightError::NotAChange));
    }

    #[test]
    fn a_wrong_checksum_is_refused() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", "b").unwrap();
        doc.commit();
        let mut bytes = last_change(&mut doc);
        assert_eq!(preflight(&bytes, &BUDGET), Ok(1));
        bytes[4] ^= 0xff;
        assert_eq!(
            preflight(&bytes, &BUDGET),
            Err(PreflightError::Malformed("checksum"))
        );
        // automerge itself parses it: only the preflight catches it.
        assert!(automerge::Change::try_from(bytes.as_slice()).is_ok());
    }

    #[test]
    fn size_is_checked_first() {
        let big = vec![0u8; BUDGET.max_bytes + 1];
        assert!(matches!(
            preflight(&big, &BUDGET),
            Err(PreflightError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncations_of_a_change_are_refused_not_panics() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", "b").unwrap();
        doc.commit();
        let bytes = last_change(&mut doc);
        for n in 0..bytes.len() {
            assert!(preflight(&bytes[..n], &BUDGET).is_err(), "prefix of {n}");
        }
    }

    #[test]
    fn leb128_edges() {
        let mut r = Reader {
            bytes: &[0xff; 11],
            pos: 0,
        };
        assert!(r.uleb().is_err());
        let mut r = Reader {
            bytes: &[0x7f],
            pos: 0,
        };
        assert_eq!(r.sleb(), Ok(-1));
        let mut r = Reader {
            bytes: &[0x80, 0x01],
            pos: 0,
        };
        assert_eq!(r.sleb(), Ok(128));
        let mut r = Reader {
            bytes: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            pos: 0,
        };
        assert_eq!(r.uleb(), Ok(u64::MAX));
    }
}
