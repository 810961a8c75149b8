//! Audit reference codes: short, unique, and unguessable enough that knowing one says
//! nothing about the next.

use std::sync::atomic::{AtomicU64, Ordering};

/// Issues reference codes for one shard.
#[derive(Debug)]
pub(crate) struct References {
    prefix: String,
    seed: [u8; 32],
    counter: AtomicU64,
}

impl References {
    /// A fresh issuer: its key comes from the operating system's random source, so
    /// the codes of one run say nothing about another's (a seed from the clock and
    /// the process id could be guessed); the keyed hash hides the counter.
    pub(crate) fn new(shard_id: &str) -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self {
            prefix: shard_id.to_owned(),
            seed,
            counter: AtomicU64::new(0),
        })
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
        let references = References::new("shard-2").unwrap();
        let other_run = References::new("shard-2").unwrap();
        assert_ne!(references.next(), other_run.next());
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
