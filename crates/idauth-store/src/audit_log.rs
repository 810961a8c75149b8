//! The audit log of one store on the embedded engine: the chain in the store's
//! journal ([`crate::journal`]), and in sled one key per resident naming the
//! resident's latest entry, from which the frames' back links lead through the
//! resident's history.
//!
//! A batch goes in two steps around sled's flush, both on the group-commit thread:
//! [`stage`] links the entries, sets each resident's latest entry in sled, and
//! records how far the journal is synced and where this batch will end; after the
//! flush, [`write`] appends the frames to the journal and syncs them. The entries are
//! acknowledged only after both. A crash between the two leaves latest-entry keys
//! that name entries the journal never got; an open finds them (the batch's recorded
//! end is past the journal's) and sets them back to the entry each had before the
//! batch, which every such key keeps beside its latest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use idauth_core::StorageKey;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry, AuditRecord, Head, journal_error};
use crate::error::{Result, StoreError};
use crate::journal::{Frame, Journal, Link, Synced};

/// The meta tree's key of the last staged batch.
const STAGE_KEY: &[u8] = b"stage";

/// What the last staged batch recorded.
#[derive(Debug, Serialize, Deserialize)]
struct Stage {
    /// Everything before this was synced when the batch was staged.
    synced: Synced,
    /// The sequence number after the batch's last entry.
    staged_end: u64,
}

/// A resident's latest entry, and the latest before the batch that wrote it.
pub(crate) fn encode_latest(latest: Link, before: Option<Link>) -> [u8; 48] {
    let mut value = [0u8; 48];
    value[..24].copy_from_slice(&Link::encode(Some(latest)));
    value[24..].copy_from_slice(&Link::encode(before));
    value
}

fn decode_latest(value: &[u8]) -> Result<(Link, Option<Link>)> {
    let broken = || StoreError::Journal(format!("a {}-byte latest-entry key", value.len()));
    if value.len() != 48 {
        return Err(broken());
    }
    let latest = Link::decode(&value[..24]).ok_or_else(broken)?;
    Ok((latest, Link::decode(&value[24..])))
}

/// The journal directory of the store under `prefix` of the engine in `engine_dir`.
pub(crate) fn journal_dir(engine_dir: &Path, prefix: &str) -> PathBuf {
    store_dir(engine_dir, "journal", prefix)
}

/// The directory `kind/<store>` of the store under `prefix` of the engine in
/// `engine_dir`, for its files beside sled's.
pub(crate) fn store_dir(engine_dir: &Path, kind: &str, prefix: &str) -> PathBuf {
    let name = prefix.trim_end_matches('/');
    let name: String = if name.is_empty() {
        "store".into()
    } else {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    engine_dir.join(kind).join(name)
}

/// How far the journal of the store under `prefix` was recorded as synced.
pub(crate) fn synced(db: &sled::Db, prefix: &str) -> Result<Synced> {
    let meta = db.open_tree(format!("{prefix}audit_meta"))?;
    Ok(match meta.get(STAGE_KEY)? {
        Some(bytes) => postcard::from_bytes::<Stage>(&bytes)?.synced,
        None => Synced::EMPTY,
    })
}

/// Records that the journal of the store under `prefix` stands synced at `synced`,
/// with no batch staged past it.
pub(crate) fn record_stage(db: &sled::Db, prefix: &str, synced: Synced) -> Result<()> {
    let meta = db.open_tree(format!("{prefix}audit_meta"))?;
    write_stage(&meta, synced, synced.next_seq)
}

/// Records in `meta` where the journal stands synced and where the batch staged
/// last ends.
fn write_stage(meta: &sled::Tree, synced: Synced, staged_end: u64) -> Result<()> {
    let stage = Stage { synced, staged_end };
    meta.insert(STAGE_KEY, postcard::to_stdvec(&stage)?)?;
    Ok(())
}

/// The replay (txn index) entries of the store under `prefix` of the engine in
/// `engine_dir`.
pub fn replay_entries(engine_dir: &Path, prefix: &str) -> Result<u64> {
    Ok(crate::txns::pairs(&store_dir(engine_dir, "txns", prefix))?.len() as u64)
}

/// The audit entries of the store under `prefix` (after [`upgrade_store`], exact).
pub fn audit_entries(db: &sled::Db, prefix: &str) -> Result<u64> {
    Ok(synced(db, prefix)?.next_seq)
}

/// Opens the audit log and transaction index of the store under `prefix` of the
/// engine in `engine_dir` once, for tools that read a stopped service's files:
/// converts what earlier versions kept in sled trees, recovers the journal after a
/// crash, and records where it stands. The service does the same when it opens the
/// store.
pub fn upgrade_store(engine_dir: &Path, db: &sled::Db, prefix: &str) -> Result<()> {
    AuditLog::open(engine_dir, db, prefix)?;
    let retention = crate::StoreOptions::default().txn_retention_ms;
    crate::txns::open_converting(engine_dir, db, prefix, retention).map(drop)
}

/// Replaces audit entry `seq`'s stored bytes in the journal of the store under
/// `prefix` (the engine closed), or removes the entry (`None`), as someone with access
/// to the files could; for tests of what `verify_chain` finds, never called by the
/// service.
#[doc(hidden)]
pub fn rewrite_audit_entry(
    engine_dir: &Path,
    prefix: &str,
    seq: u64,
    bytes: Option<Vec<u8>>,
) -> Result<()> {
    crate::journal::rewrite_entry(&journal_dir(engine_dir, prefix), seq, bytes)
        .map_err(journal_error)
}

/// The log of one store.
#[derive(Debug)]
pub(crate) struct AuditLog {
    journal: Journal,
    latest: sled::Tree,
    meta: sled::Tree,
}

impl AuditLog {
    /// Opens the log of the store under `prefix`, converting a log kept in sled trees
    /// by earlier versions.
    pub(crate) fn open(engine_dir: &Path, db: &sled::Db, prefix: &str) -> Result<Self> {
        let dir = journal_dir(engine_dir, prefix);
        let latest = db.open_tree(format!("{prefix}audit_latest"))?;
        let meta = db.open_tree(format!("{prefix}audit_meta"))?;
        if meta.get(STAGE_KEY)?.is_none() {
            crate::audit_convert::convert(db, prefix, &dir, &latest)?;
        }
        let stage = match meta.get(STAGE_KEY)? {
            Some(bytes) => postcard::from_bytes::<Stage>(&bytes)?,
            None => Stage {
                synced: Synced::EMPTY,
                staged_end: 0,
            },
        };
        let journal = Journal::open(&dir, stage.synced).map_err(journal_error)?;
        let log = Self {
            journal,
            latest,
            meta,
        };
        let (next_seq, _) = log.journal.head();
        if stage.staged_end > next_seq {
            log.restore_latest(next_seq)?;
        }
        record_stage(db, prefix, log.journal.synced())?;
        Ok(log)
    }

    /// Sets every latest-entry key naming an entry at or past `end` (never written)
    /// back to the entry it had before.
    fn restore_latest(&self, end: u64) -> Result<()> {
        let mut restored = 0u64;
        for item in self.latest.iter() {
            let (key, value) = item?;
            let (latest, before) = decode_latest(&value)?;
            if latest.seq < end {
                continue;
            }
            match before.filter(|before| before.seq < end) {
                Some(before) => self.latest.insert(key, &encode_latest(before, None)[..])?,
                None => self.latest.remove(key)?,
            };
            restored += 1;
        }
        tracing::warn!(
            restored,
            entries = end,
            "audit log: a batch was cut off by a crash before its entries were written (never acknowledged); history index restored"
        );
        Ok(())
    }

    /// The subject's latest entry that is written: a batch's keys reach sled before
    /// its frames reach the journal, and until then the entry before the batch is
    /// the latest.
    fn latest_of(&self, subject: &[u8; 32]) -> Result<Option<Link>> {
        match self.latest.get(subject)? {
            Some(value) => {
                let (latest, before) = decode_latest(&value)?;
                Ok(if self.journal.visible(latest) {
                    Some(latest)
                } else {
                    before
                })
            }
            None => Ok(None),
        }
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
        let mut entries = Vec::with_capacity(limit.min(256));
        let mut next = self.latest_of(&subject.0)?;
        while let Some(link) = next {
            let seq = link.seq;
            let frame = self
                .journal
                .read(link)
                .map_err(journal_error)?
                .filter(|frame| frame.subject == Some(subject.0))
                .ok_or(StoreError::IndexBroken(seq))?;
            next = frame.prev;
            if before.is_some_and(|before| seq >= before) {
                continue;
            }
            let entry: AuditEntry = postcard::from_bytes(&frame.entry)?;
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

/// One log's batch, linked and indexed in sled, its frames not yet written.
pub(crate) struct Staged {
    log: Arc<AuditLog>,
    frames: Vec<Frame>,
    links: Vec<Link>,
}

/// Links each log's records after its journal's head, sets their residents' latest
/// entries in sled and records the batch (not flushed: the caller flushes sled next,
/// then calls [`write`]). The group-commit thread is the only caller, so no head can
/// move in between.
pub(crate) fn stage(batch: Vec<(Arc<AuditLog>, Vec<AuditRecord>)>) -> Result<Vec<Staged>> {
    let mut staged = Vec::with_capacity(batch.len());
    for (log, records) in batch {
        let (next_seq, last_hash) = log.journal.head();
        let prepared = audit::prepare(
            &Head {
                next_seq,
                last_hash,
            },
            records,
        )?;
        let mut frames: Vec<Frame> = prepared
            .entries
            .into_iter()
            .map(|(seq, entry, subject)| Frame {
                seq,
                prev: None,
                subject: subject.map(|subject| subject.0),
                entry,
            })
            .collect();
        let links = log.journal.plan(frames.iter().map(Frame::size));
        // Per subject: its latest entry in this batch, and the one before the batch.
        let mut latest: HashMap<[u8; 32], (Link, Option<Link>)> = HashMap::new();
        for (frame, link) in frames.iter_mut().zip(&links) {
            let Some(subject) = frame.subject else {
                continue;
            };
            frame.prev = match latest.get_mut(&subject) {
                Some((last, _)) => Some(std::mem::replace(last, *link)),
                None => {
                    let before = log.latest_of(&subject)?;
                    latest.insert(subject, (*link, before));
                    before
                }
            };
        }
        // The record of the batch first: sled recovers a prefix of its writes, so a
        // latest-entry key that survives a crash has its batch's end beside it.
        write_stage(&log.meta, log.journal.synced(), prepared.head.next_seq)?;
        let mut keys = sled::Batch::default();
        for (subject, (link, before)) in latest {
            keys.insert(&subject[..], &encode_latest(link, before)[..]);
        }
        log.latest.apply_batch(keys)?;
        staged.push(Staged { log, frames, links });
    }
    Ok(staged)
}

/// Writes and syncs each staged batch's frames; their sequence numbers, log by log.
pub(crate) fn write(staged: Vec<Staged>) -> Result<Vec<Vec<u64>>> {
    let mut seqs = Vec::with_capacity(staged.len());
    for Staged { log, frames, links } in staged {
        log.journal.append(&frames, &links).map_err(journal_error)?;
        // Reaches disk with the next flush: until then the batch staged before says
        // where the journal stood, and an open recovers the rest from the files.
        let synced = log.journal.synced();
        write_stage(&log.meta, synced, synced.next_seq)?;
        seqs.push(frames.iter().map(|frame| frame.seq).collect());
    }
    Ok(seqs)
}

#[cfg(test)]
mod tests;
