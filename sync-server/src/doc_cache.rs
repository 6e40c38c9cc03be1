//! An LRU of open case documents, so hot cases are not re-read and re-parsed from SQLite on every sync.
//!
//! An entry is tagged with the case's cursor position at the time it was read or written. The cursor
//! moves on every save, so an entry is used only when its tag equals the cursor in the database: a stale
//! entry (another process wrote, a transaction rolled back) is never handed out.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use automerge::ActorId;
use gridpatrol_core::case::CaseId;
use gridpatrol_core::doc::CaseDoc;
use lru::LruCache;

pub struct DocCache {
    entries: Mutex<LruCache<CaseId, (u64, CaseDoc)>>,
}

impl DocCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        DocCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<CaseId, (u64, CaseDoc)>> {
        // A panic while holding the lock leaves nothing half-done in an LRU: keep using it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the document as it stood at `cursor`, if cached.
    pub fn get(&self, case: CaseId, cursor: u64, actor: &ActorId) -> Option<CaseDoc> {
        let mut entries = self.lock();
        match entries.get_mut(&case) {
            Some((tag, doc)) if *tag == cursor => Some(doc.fork(actor.clone())),
            _ => None,
        }
    }

    /// Keeps `doc` as the case at `cursor`, unless a newer version is already cached.
    pub fn put(&self, case: CaseId, cursor: u64, doc: CaseDoc) {
        let mut entries = self.lock();
        if entries.peek(&case).is_some_and(|(tag, _)| *tag > cursor) {
            return;
        }
        entries.put(case, (cursor, doc));
    }

    pub fn remove(&self, case: CaseId) {
        self.lock().pop(&case);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
