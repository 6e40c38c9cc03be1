//! An in-memory [`SyncBackend`]: the protocol's reference backend for deterministic tests, simulations
//! and benchmarks without a database. It keeps exactly what the SQL backends keep: content-addressed
//! changes per case, a change log with cursor positions, the scope columns, and per-device heads.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use automerge::{ActorId, Change, ChangeHash};

use super::server::{DeviceScope, ScopeKeys, SyncBackend};
use crate::case::{Case, CaseId};
use crate::doc::CaseDoc;

#[derive(Default, Clone)]
pub struct MemoryBackend {
    /// Every change of every case, by hash (inserting a known change is a no-op).
    changes: HashMap<CaseId, BTreeMap<ChangeHash, Vec<u8>>>,
    keys: HashMap<CaseId, ScopeKeys>,
    position: HashMap<CaseId, u64>,
    log: BTreeMap<u64, CaseId>,
    last: u64,
    device_heads: HashMap<(String, CaseId), Vec<ChangeHash>>,
    actor: Option<ActorId>,
}

impl MemoryBackend {
    pub fn new(server_actor: ActorId) -> Self {
        MemoryBackend {
            actor: Some(server_actor),
            ..MemoryBackend::default()
        }
    }

    pub fn case_ids(&self) -> Vec<CaseId> {
        self.changes.keys().copied().collect()
    }

    pub fn change_count(&self) -> usize {
        self.changes.values().map(BTreeMap::len).sum()
    }
}

impl SyncBackend for MemoryBackend {
    type Error = Infallible;

    fn load(&mut self, case: CaseId) -> Result<Option<CaseDoc>, Infallible> {
        let Some(stored) = self.changes.get(&case) else {
            return Ok(None);
        };
        let changes = stored
            .values()
            .filter_map(|b| Change::try_from(b.as_slice()).ok())
            .collect();
        let actor = self.actor.clone().unwrap_or_else(ActorId::random);
        Ok(CaseDoc::from_changes(actor, changes).ok())
    }

    fn save(
        &mut self,
        doc: &mut CaseDoc,
        case: &Case,
        changes: &[Change],
    ) -> Result<u64, Infallible> {
        let stored = self.changes.entry(case.id).or_default();
        for c in changes {
            stored
                .entry(c.hash())
                .or_insert_with(|| c.raw_bytes().to_vec());
        }
        // The document may hold changes made on the server itself: keep them too.
        for c in doc.changes_since(&[]) {
            stored
                .entry(c.hash())
                .or_insert_with(|| c.raw_bytes().to_vec());
        }
        self.keys.insert(case.id, ScopeKeys::of(case));
        if let Some(old) = self.position.remove(&case.id) {
            self.log.remove(&old);
        }
        self.last += 1;
        self.log.insert(self.last, case.id);
        self.position.insert(case.id, self.last);
        Ok(self.last)
    }

    fn case_bytes(&mut self, case: CaseId) -> Result<u64, Infallible> {
        Ok(self
            .changes
            .get(&case)
            .map_or(0, |c| c.values().map(|b| b.len() as u64).sum()))
    }

    fn device_heads(&mut self, device: &str, case: CaseId) -> Result<Vec<ChangeHash>, Infallible> {
        Ok(self
            .device_heads
            .get(&(device.to_owned(), case))
            .cloned()
            .unwrap_or_default())
    }

    fn set_device_heads(
        &mut self,
        device: &str,
        case: CaseId,
        heads: &[ChangeHash],
    ) -> Result<(), Infallible> {
        self.device_heads
            .insert((device.to_owned(), case), heads.to_vec());
        Ok(())
    }

    fn changed_since(
        &mut self,
        scope: &DeviceScope,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, CaseId)>, Infallible> {
        Ok(self
            .log
            .range(cursor + 1..)
            .filter(|(_, case)| self.keys.get(case).is_some_and(|k| k.visible_to(scope)))
            .take(limit)
            .map(|(p, c)| (*p, *c))
            .collect())
    }

    fn latest_cursor(&mut self) -> Result<u64, Infallible> {
        Ok(self.last)
    }
}
