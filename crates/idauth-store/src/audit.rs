//! The shard's audit log: append-only, hash-chained.
//!
//! Entry `n` is stored under key `n` (u64 big-endian) and carries the BLAKE3 hash of
//! entry `n - 1`'s stored bytes; a head record (sorting after every entry) holds the
//! last sequence number and the last entry's hash. [`verify_chain`] walks the log and
//! names the first entry that was edited, removed or moved: an edit breaks the next
//! entry's link (or the head, for the last one), a removal leaves a gap in the
//! sequence, a reorder puts an entry under another entry's key. Entries never hold a
//! template, an identifier or a demographic value: the resident appears only as the
//! caller's token.
//!
//! A second tree, the history index, maps (storage key, sequence number) to nothing,
//! so that one resident's entries can be paged without reading the whole log. It is
//! written in the same transaction as the entry; it is an index, not evidence: the
//! chain is what `verify_chain` checks.

use std::sync::Mutex;

use idauth_core::StorageKey;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionError;

use crate::error::{Result, StoreError};

/// The head record's key: nine bytes, so it sorts after every eight-byte entry key.
const HEAD_KEY: [u8; 9] = [0xff; 9];

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

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) next_seq: u64,
    pub(crate) last_hash: [u8; 32],
}

/// The log of one store.
#[derive(Debug)]
pub(crate) struct AuditLog {
    tree: sled::Tree,
    history: sled::Tree,
    head: Mutex<Head>,
}

/// The history index key of one entry: storage key, then sequence number, so that a
/// resident's entries sort together and in log order.
fn history_key(subject: &StorageKey, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&subject.0);
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

impl AuditLog {
    pub(crate) fn open(tree: sled::Tree, history: sled::Tree) -> Result<Self> {
        let head = match tree.get(HEAD_KEY)? {
            Some(bytes) => postcard::from_bytes(&bytes)?,
            None => Head {
                next_seq: 0,
                last_hash: [0; 32],
            },
        };
        Ok(Self {
            tree,
            history,
            head: Mutex::new(head),
        })
    }

    /// Encodes and links `records` after `head` (this log's, held locked by the
    /// caller); what they become and the head they lead to, not yet written.
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

    /// Up to `limit` of `subject`'s entries older than `before` (only those under
    /// `token`, when given), newest first, and whether older ones remain.
    pub(crate) fn history(
        &self,
        subject: &StorageKey,
        before: Option<u64>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, bool)> {
        let start = history_key(subject, 0);
        let end = history_key(subject, before.unwrap_or(u64::MAX));
        let mut entries = Vec::with_capacity(limit.min(256));
        for item in self.history.range(start..end).rev() {
            let (key, _) = item?;
            let seq = u64::from_be_bytes(key[32..].try_into().expect("40-byte index key"));
            let bytes = self
                .tree
                .get(seq.to_be_bytes())?
                .ok_or(StoreError::IndexBroken(seq))?;
            let entry: AuditEntry = postcard::from_bytes(&bytes)?;
            if token.is_some_and(|token| entry.token != token) {
                continue;
            }
            if entries.len() == limit {
                return Ok((entries, true));
            }
            entries.push(entry);
        }
        Ok((entries, false))
    }
}

/// One log's entries, encoded and linked, with the head they lead to.
pub(crate) struct Prepared {
    /// Sequence number, stored bytes and subject of each entry.
    pub(crate) entries: Vec<(u64, Vec<u8>, Option<StorageKey>)>,
    pub(crate) head: Head,
    pub(crate) head_bytes: Vec<u8>,
}

/// Appends each log's records in order, with one head update per log, and returns
/// their sequence numbers, log by log. Every log of the batch is written in one
/// transaction: each sled transaction writes out sled's IO buffer (twice), so one
/// per log would multiply the disk writes a batch waits for. The logs must share
/// one database, and each may appear once. Each log's head stays locked from linking
/// to writing, so the head the entries follow cannot move in between. Not yet
/// durable: the group-commit thread, the only caller, flushes right after.
pub(crate) fn append(batch: Vec<(&AuditLog, Vec<AuditRecord>)>) -> Result<Vec<Vec<u64>>> {
    debug_assert!(
        batch.iter().enumerate().all(|(i, (log, _))| batch[..i]
            .iter()
            .all(|(other, _)| !std::ptr::eq(*log, *other))),
        "a log appears twice in one append"
    );
    let mut prepared = Vec::with_capacity(batch.len());
    let mut trees = Vec::with_capacity(2 * batch.len());
    for (log, records) in batch {
        let head = log.head.lock().expect("audit lock poisoned");
        let next = AuditLog::prepare(&head, records)?;
        prepared.push((head, next));
        trees.extend([&log.tree, &log.history]);
    }
    trees
        .as_slice()
        .transaction(|views| {
            for ((_, prepared), pair) in prepared.iter().zip(views.chunks(2)) {
                let (log, history) = (&pair[0], &pair[1]);
                for (seq, bytes, subject) in &prepared.entries {
                    log.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                    if let Some(subject) = subject {
                        history.insert(&history_key(subject, *seq)[..], &[][..])?;
                    }
                }
                log.insert(&HEAD_KEY, prepared.head_bytes.as_slice())?;
            }
            Ok(())
        })
        .map_err(|error: TransactionError<()>| match error {
            TransactionError::Storage(error) => StoreError::from(error),
            TransactionError::Abort(()) => StoreError::Flush("audit append aborted".into()),
        })?;
    Ok(prepared
        .into_iter()
        .map(|(mut head, prepared)| {
            *head = prepared.head;
            prepared
                .entries
                .into_iter()
                .map(|(seq, _, _)| seq)
                .collect()
        })
        .collect())
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

/// Walks the audit log of the store under tree prefix `prefix` (empty for a store
/// with an engine of its own); the number of entries, or the first break.
pub fn verify_chain(db: &sled::Db, prefix: &str) -> Result<std::result::Result<u64, ChainBreak>> {
    let tree = db.open_tree(format!("{prefix}audit"))?;
    let mut walk = ChainWalk::new();
    for item in tree.range(..HEAD_KEY.to_vec()) {
        let (key, bytes) = item?;
        let key_seq = <[u8; 8]>::try_from(key.as_ref())
            .ok()
            .map(u64::from_be_bytes);
        if let Err(chain_break) = walk.entry(key_seq, &bytes) {
            return Ok(Err(chain_break));
        }
    }
    let head = match tree.get(HEAD_KEY)? {
        Some(bytes) => Some(postcard::from_bytes::<Head>(&bytes)?),
        None => None,
    };
    Ok(walk.finish(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(db: &sled::Db, prefix: &str) -> AuditLog {
        AuditLog::open(
            db.open_tree(format!("{prefix}audit")).unwrap(),
            db.open_tree(format!("{prefix}history")).unwrap(),
        )
        .unwrap()
    }

    fn records(subject: u8, references: &[&str]) -> Vec<AuditRecord> {
        references
            .iter()
            .map(|reference| AuditRecord {
                reference: (*reference).into(),
                subject: Some(StorageKey([subject; 32])),
                ..AuditRecord::default()
            })
            .collect()
    }

    #[test]
    fn one_append_keeps_each_logs_order_and_chain() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (a, b) = (log(&db, "a/"), log(&db, "b/"));
        let first = append(vec![
            (&a, records(1, &["a0", "a1", "a2"])),
            (&b, records(2, &["b0", "b1"])),
        ])
        .unwrap();
        assert_eq!(first, vec![vec![0, 1, 2], vec![0, 1]]);
        let second = append(vec![(&b, records(2, &["b2"])), (&a, records(1, &["a3"]))]).unwrap();
        assert_eq!(second, vec![vec![2], vec![3]]);
        assert_eq!(verify_chain(&db, "a/").unwrap(), Ok(4));
        assert_eq!(verify_chain(&db, "b/").unwrap(), Ok(3));
        let (page, more) = a.history(&StorageKey([1; 32]), None, None, 10).unwrap();
        let references: Vec<_> = page.iter().map(|entry| entry.reference.as_str()).collect();
        assert_eq!((references, more), (vec!["a3", "a2", "a1", "a0"], false));
        assert!(
            b.history(&StorageKey([1; 32]), None, None, 10)
                .unwrap()
                .0
                .is_empty()
        );
    }
}
