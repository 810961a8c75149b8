//! The transaction index: which (caller, txn) pairs this shard has seen recently, so a
//! replayed verify is refused.
//!
//! Keys are the hour of the request timestamp (8 bytes, big-endian) followed by a hash
//! of caller and txn. A check looks the hash up in every hour of the retention window
//! (about 26 point reads) and purging drops whole hours, so the index never needs a
//! scan of live entries. A replay reuses the request's own timestamp and so always
//! lands in the same hour as the original.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;

const HOUR_MS: i64 = 3_600_000;

/// The transaction index of one store.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    tree: sled::Tree,
    retention_hours: i64,
    purged_below: AtomicU64,
}

fn hour(timestamp_ms: i64) -> u64 {
    timestamp_ms.div_euclid(HOUR_MS).max(0) as u64
}

pub(crate) fn txn_hash(caller: &str, txn: &str) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"idauth txn v1\0");
    hasher.update(&(caller.len() as u64).to_le_bytes());
    hasher.update(caller.as_bytes());
    hasher.update(txn.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    out
}

fn key(hour: u64, hash: &[u8; 16]) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&hour.to_be_bytes());
    key[8..].copy_from_slice(hash);
    key
}

impl TxnIndex {
    pub(crate) fn new(tree: sled::Tree, retention_ms: i64) -> Self {
        Self {
            tree,
            retention_hours: retention_ms.div_euclid(HOUR_MS) + 1,
            purged_below: AtomicU64::new(0),
        }
    }

    /// Records (caller, txn) at `timestamp_ms`; `false` when it was already seen
    /// within the retention window around `now_ms`.
    pub(crate) fn record(
        &self,
        caller: &str,
        txn: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let hash = txn_hash(caller, txn);
        let now = hour(now_ms) as i64;
        for h in (now - self.retention_hours).max(0)..=now + 1 {
            if self.tree.contains_key(key(h as u64, &hash))? {
                return Ok(false);
            }
        }
        let entry = key(hour(timestamp_ms), &hash);
        let fresh = self
            .tree
            .compare_and_swap(entry, None::<&[u8]>, Some(&timestamp_ms.to_le_bytes()[..]))?
            .is_ok();
        self.purge(now)?;
        Ok(fresh)
    }

    /// Drops hours older than the retention window, at most once per hour.
    fn purge(&self, now_hour: i64) -> Result<()> {
        let below = (now_hour - self.retention_hours - 1).max(0) as u64;
        if self.purged_below.swap(below, Ordering::Relaxed) >= below {
            return Ok(());
        }
        for entry in self.tree.range(..below.to_be_bytes().to_vec()) {
            let (key, _) = entry?;
            self.tree.remove(key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_across_hours_and_old_hours_are_purged() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let index = TxnIndex::new(db.open_tree("t").unwrap(), 25 * HOUR_MS);
        let now = 1_800_000_000_000;
        assert!(index.record("a", "t1", now, now).unwrap());
        assert!(!index.record("a", "t1", now, now).unwrap(), "exact replay");
        assert!(
            !index
                .record("a", "t1", now + 2 * HOUR_MS, now + 2 * HOUR_MS)
                .unwrap(),
            "same txn, new timestamp"
        );
        assert!(
            index.record("b", "t1", now, now).unwrap(),
            "another caller's txn"
        );
        let later = now + 30 * HOUR_MS;
        assert!(
            index.record("a", "t1", later, later).unwrap(),
            "outside the window"
        );
        assert!(
            index.tree.len() <= 2,
            "old hours not purged: {}",
            index.tree.len()
        );
    }
}
