//! The DPoP `jti` replay cache.

use std::collections::HashMap;
use std::sync::Mutex;

/// Remembers proofs already seen until they could no longer be accepted anyway.
pub trait ReplayCache {
    /// Records `jkt_and_jti` until `expires_at`; returns `true` if it was not already recorded (the
    /// proof is fresh) and `false` if it was (a replay) or it cannot be recorded (fail closed).
    fn check_and_insert(&self, jkt_and_jti: &str, expires_at: u64, now: u64) -> bool;
}

/// An in-process [`ReplayCache`]: a map under a mutex, expired entries purged when it fills up, and a
/// hard bound on its size. When it is full of live entries it refuses new proofs rather than forget
/// old ones (forgetting would let a replay through).
#[derive(Debug)]
pub struct InMemoryReplayCache {
    entries: Mutex<HashMap<String, u64>>,
    max_entries: usize,
}

impl InMemoryReplayCache {
    /// A cache holding at most `max_entries` live proofs.
    pub fn new(max_entries: usize) -> InMemoryReplayCache {
        InMemoryReplayCache {
            entries: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// The number of entries held (live or not yet purged).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ReplayCache for InMemoryReplayCache {
    fn check_and_insert(&self, jkt_and_jti: &str, expires_at: u64, now: u64) -> bool {
        // A poisoned lock still holds a consistent map: every mutation below is a single call.
        let mut map = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&until) = map.get(jkt_and_jti) {
            if until > now {
                return false;
            }
        }
        if map.len() >= self.max_entries {
            map.retain(|_, until| *until > now);
            if map.len() >= self.max_entries {
                return false;
            }
        }
        map.insert(jkt_and_jti.to_owned(), expires_at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_expiry_and_bound() {
        let cache = InMemoryReplayCache::new(2);
        assert!(cache.check_and_insert("a", 100, 10));
        assert!(!cache.check_and_insert("a", 100, 50), "replay");
        assert!(
            cache.check_and_insert("a", 200, 100),
            "expired entry may be reused"
        );
        assert!(cache.check_and_insert("b", 150, 100));
        assert!(
            !cache.check_and_insert("c", 150, 100),
            "full of live entries: fail closed"
        );
        assert!(
            cache.check_and_insert("c", 300, 160),
            "b expired and is purged"
        );
        assert_eq!(cache.len(), 2);
    }
}
