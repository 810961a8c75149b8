//! Audit reference codes: short, unique, and unguessable enough that knowing one says
//! nothing about the next.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Issues reference codes for one shard.
#[derive(Debug)]
pub(crate) struct References {
    prefix: String,
    seed: [u8; 32],
    counter: AtomicU64,
}

impl References {
    pub(crate) fn new(shard_id: &str) -> Self {
        // Start time and process id make the seed differ across restarts; the hash
        // hides the counter.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut hasher = blake3::Hasher::new();
        hasher.update(shard_id.as_bytes());
        hasher.update(&nanos.to_le_bytes());
        hasher.update(&std::process::id().to_le_bytes());
        Self {
            prefix: shard_id.to_owned(),
            seed: *hasher.finalize().as_bytes(),
            counter: AtomicU64::new(0),
        }
    }

    /// The next code: `<shard>-<16 hex digits>`.
    pub(crate) fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let digest = blake3::keyed_hash(&self.seed, &n.to_le_bytes());
        let tail: String = digest.as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}-{tail}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_carry_the_shard() {
        let references = References::new("shard-2");
        let codes: std::collections::HashSet<String> =
            (0..10_000).map(|_| references.next()).collect();
        assert_eq!(codes.len(), 10_000);
        assert!(
            codes
                .iter()
                .all(|c| c.starts_with("shard-2-") && c.len() == 24)
        );
    }
}
