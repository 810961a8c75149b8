//! The shard's audit log: append-only, hash-chained; what every engine shares.
//!
//! Entry `n` carries the BLAKE3 hash of entry `n - 1`'s stored bytes. [`verify_chain`]
//! walks the log and names the first entry that was edited, removed or moved: an edit
//! breaks the next entry's link (or the recorded hash, for the last one), a removal
//! leaves a gap in the sequence, a reorder puts an entry where another's number is
//! expected. Entries never hold a template, an identifier or a demographic value: the
//! resident appears only as the caller's token. On the embedded engine the entries
//! live in the store's journal ([`crate::audit_log`]), on RADOS in segment objects.

use std::path::Path;

use idauth_core::StorageKey;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::journal::Scan;

/// One audited operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// The authenticated caller.
    pub caller: String,
    /// The resident's token for that caller.
    pub token: String,
    /// What was done (enrol, verify, lock_biometrics, ...).
    pub operation: String,
    /// Factors used and whether each matched (verifies).
    pub factors: Vec<(String, bool)>,
    /// The decision of a verify (`None` for writes).
    pub decision: Option<bool>,
    /// The error code, if the operation failed or did not match.
    pub error_code: Option<u16>,
    /// The reference code given to the caller.
    pub reference: String,
    /// BLAKE3 of the previous entry's stored bytes (zeros for the first).
    pub prev_hash: [u8; 32],
}

/// What the caller of [`crate::Store::audit`] provides; the log adds the sequence number
/// and the link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// The authenticated caller.
    pub caller: String,
    /// The resident's token for that caller.
    pub token: String,
    /// What was done.
    pub operation: String,
    /// Factors used and whether each matched.
    pub factors: Vec<(String, bool)>,
    /// The decision of a verify.
    pub decision: Option<bool>,
    /// The error code.
    pub error_code: Option<u16>,
    /// The reference code.
    pub reference: String,
    /// The resident concerned, whose history the entry joins (not stored in the
    /// entry itself).
    pub subject: Option<StorageKey>,
}

/// The head of a chain: the next sequence number and the last entry's hash (the
/// RADOS engine stores it; the journal derives it from its files).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) next_seq: u64,
    pub(crate) last_hash: [u8; 32],
}

/// Encodes and links `records` after `head`; what they become and the head they
/// lead to, not yet written.
pub(crate) fn prepare(head: &Head, records: Vec<AuditRecord>) -> Result<Prepared> {
    let (mut next_seq, mut last_hash) = (head.next_seq, head.last_hash);
    let mut entries = Vec::with_capacity(records.len());
    for record in records {
        let entry = AuditEntry {
            seq: next_seq,
            time_ms: record.time_ms,
            caller: record.caller,
            token: record.token,
            operation: record.operation,
            factors: record.factors,
            decision: record.decision,
            error_code: record.error_code,
            reference: record.reference,
            prev_hash: last_hash,
        };
        let bytes = postcard::to_stdvec(&entry)?;
        last_hash = *blake3::hash(&bytes).as_bytes();
        next_seq += 1;
        entries.push((entry.seq, bytes, record.subject));
    }
    let head = Head {
        next_seq,
        last_hash,
    };
    let head_bytes = postcard::to_stdvec(&head)?;
    Ok(Prepared {
        entries,
        head,
        head_bytes,
    })
}

/// Entries encoded and linked, with the head they lead to.
pub(crate) struct Prepared {
    /// Sequence number, stored bytes and subject of each entry.
    pub(crate) entries: Vec<(u64, Vec<u8>, Option<StorageKey>)>,
    pub(crate) head: Head,
    /// The head, encoded (the RADOS engine stores it).
    #[cfg_attr(not(feature = "rados"), allow(dead_code))]
    pub(crate) head_bytes: Vec<u8>,
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first entry (sequence number) that is not what the chain says it must be.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The chain's rules, one entry at a time, the same for every engine: each entry under
/// the next sequence number, decoding, holding its own number, linked to the hash of
/// the one before; then the head naming the last.
pub(crate) struct ChainWalk {
    expected_seq: u64,
    prev_hash: [u8; 32],
}

impl ChainWalk {
    pub(crate) fn new() -> Self {
        Self {
            expected_seq: 0,
            prev_hash: [0; 32],
        }
    }

    fn broken(seq: u64, reason: &str) -> ChainBreak {
        ChainBreak {
            seq,
            reason: reason.into(),
        }
    }

    /// The entry stored under `key_seq` (`None`: a key that is no sequence number).
    pub(crate) fn entry(
        &mut self,
        key_seq: Option<u64>,
        bytes: &[u8],
    ) -> std::result::Result<(), ChainBreak> {
        let Some(key_seq) = key_seq else {
            return Err(Self::broken(
                self.expected_seq,
                "a record with a foreign key is in the log",
            ));
        };
        if key_seq != self.expected_seq {
            return Err(Self::broken(
                self.expected_seq,
                "missing: the sequence jumps past it",
            ));
        }
        let Ok(entry) = postcard::from_bytes::<AuditEntry>(bytes) else {
            return Err(Self::broken(key_seq, "does not decode (edited)"));
        };
        if entry.seq != key_seq {
            return Err(Self::broken(key_seq, "holds another entry (reordered)"));
        }
        if entry.prev_hash != self.prev_hash {
            if key_seq == 0 {
                return Err(Self::broken(
                    0,
                    "edited: its link is not the start of the chain",
                ));
            }
            // The usual edit changes an entry's content, which breaks the next
            // entry's link; an edit of the link itself is reported one entry early.
            return Err(Self::broken(
                key_seq - 1,
                "edited: its hash no longer matches the next entry's link (or that link was edited)",
            ));
        }
        self.prev_hash = *blake3::hash(bytes).as_bytes();
        self.expected_seq += 1;
        Ok(())
    }

    /// The end of the log, with the head found (if any): the number of entries.
    #[cfg_attr(not(feature = "rados"), allow(dead_code))]
    pub(crate) fn finish(self, head: Option<Head>) -> std::result::Result<u64, ChainBreak> {
        let Some(head) = head else {
            return if self.expected_seq == 0 {
                Ok(0)
            } else {
                Err(Self::broken(
                    self.expected_seq,
                    "the head record is missing",
                ))
            };
        };
        if head.next_seq != self.expected_seq {
            return Err(Self::broken(
                self.expected_seq,
                "missing: the head names later entries",
            ));
        }
        if head.last_hash != self.prev_hash {
            return Err(Self::broken(
                self.expected_seq.saturating_sub(1),
                "edited: the head's hash does not match it",
            ));
        }
        Ok(self.expected_seq)
    }
}

/// Walks the audit journal of the store under tree prefix `prefix` (empty for a store
/// with an engine of its own) of the engine in `dir`; the number of entries, or the
/// first break. The journal must reach the point sled records as synced, with the
/// hash recorded there: entries removed from its end show as missing.
pub fn verify_chain(
    dir: &Path,
    db: &sled::Db,
    prefix: &str,
) -> Result<std::result::Result<u64, ChainBreak>> {
    let synced = crate::audit_log::synced(db, prefix)?;
    let mut walk = ChainWalk::new();
    for frame in Scan::new(&crate::audit_log::journal_dir(dir, prefix)).map_err(journal_error)? {
        let frame = match frame {
            Ok(frame) => frame,
            Err(why) => {
                return Ok(Err(ChainBreak {
                    seq: walk.expected_seq,
                    reason: format!("damaged on disk ({why})"),
                }));
            }
        };
        if let Err(chain_break) = walk.entry(Some(frame.seq), &frame.entry) {
            return Ok(Err(chain_break));
        }
        if walk.expected_seq == synced.next_seq && walk.prev_hash != synced.last_hash {
            return Ok(Err(ChainBreak {
                seq: frame.seq,
                reason: "edited: its hash is not the one recorded when it was written".into(),
            }));
        }
    }
    if walk.expected_seq < synced.next_seq {
        return Ok(Err(ChainBreak {
            seq: walk.expected_seq,
            reason: format!(
                "missing: {} entries were written, the journal ends here",
                synced.next_seq
            ),
        }));
    }
    Ok(Ok(walk.expected_seq))
}

/// A journal file's error as the store's.
pub(crate) fn journal_error(error: std::io::Error) -> StoreError {
    StoreError::Journal(error.to_string())
}
