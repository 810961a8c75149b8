//! Converts an audit log kept in sled trees (versions before the journal: the chain in
//! `{prefix}audit`, the history index in `{prefix}history`) into the store's journal,
//! once, when the store opens.
//!
//! The entries keep their bytes, so the chain and its hashes are unchanged. The old
//! trees are dropped only after the journal and the latest-entry keys are on disk; a
//! crash before that leaves the old trees in place and the conversion starts over.

use std::collections::HashMap;
use std::path::Path;

use crate::audit::journal_error;
use crate::error::{Result, StoreError};
use crate::journal::{Frame, Journal, Link, Synced};

/// The old head record's key: it sorted after every eight-byte entry key.
const OLD_HEAD_KEY: [u8; 9] = [0xff; 9];

/// Entries written to the journal per append.
const CHUNK: usize = 10_000;

/// Appends a chunk, each entry linked to its subject's last.
fn append(journal: &Journal, frames: Vec<Frame>, last: &mut HashMap<[u8; 32], Link>) -> Result<()> {
    journal
        .append_linked(frames, |frame, link| {
            if let Some(subject) = frame.subject {
                frame.prev = last.insert(subject, link);
            }
        })
        .map_err(journal_error)?;
    Ok(())
}

/// Moves the old trees' entries, if any, into a new journal in `dir`, sets the
/// residents' latest entries in `latest`, and records the journal's state.
pub(crate) fn convert(db: &sled::Db, prefix: &str, dir: &Path, latest: &sled::Tree) -> Result<()> {
    // No record of a staged batch: whatever is in `dir` is a conversion a crash cut
    // short (a journal's first batch records itself before writing a frame).
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(journal_error)?;
    }
    let old_name = format!("{prefix}audit");
    let history_name = format!("{prefix}history");
    let names = db.tree_names();
    if !names.iter().any(|name| name == old_name.as_bytes()) {
        return Ok(());
    }
    let old = db.open_tree(&old_name)?;
    let history = db.open_tree(&history_name)?;
    // The subject of each entry, from the old history index (storage key, then seq).
    let mut subjects: HashMap<u64, [u8; 32]> = HashMap::new();
    for item in history.iter() {
        let (key, _) = item?;
        if let (Ok(subject), Ok(seq)) = (
            <[u8; 32]>::try_from(&key[..32.min(key.len())]),
            <[u8; 8]>::try_from(&key[32.min(key.len())..]),
        ) {
            subjects.insert(u64::from_be_bytes(seq), subject);
        }
    }
    let journal = Journal::open(dir, Synced::EMPTY).map_err(journal_error)?;
    let mut last: HashMap<[u8; 32], Link> = HashMap::new();
    let mut frames = Vec::with_capacity(CHUNK);
    let mut expected = 0u64;
    for item in old.range(..OLD_HEAD_KEY.to_vec()) {
        let (key, bytes) = item?;
        let seq = <[u8; 8]>::try_from(key.as_ref())
            .ok()
            .map(u64::from_be_bytes)
            .filter(|&seq| seq == expected)
            .ok_or_else(|| {
                StoreError::Journal(format!(
                    "cannot convert the audit log of store {prefix:?}: it is broken at entry {expected} (run `idauth audit verify` with the version that wrote it)"
                ))
            })?;
        expected += 1;
        frames.push(Frame {
            seq,
            prev: None,
            subject: subjects.get(&seq).copied(),
            entry: bytes.to_vec(),
        });
        if frames.len() == CHUNK {
            append(&journal, std::mem::take(&mut frames), &mut last)?;
        }
    }
    append(&journal, frames, &mut last)?;
    let mut keys = sled::Batch::default();
    for (subject, link) in &last {
        keys.insert(
            &subject[..],
            &crate::audit_log::encode_latest(*link, None)[..],
        );
    }
    latest.apply_batch(keys)?;
    crate::audit_log::record_stage(db, prefix, journal.synced())?;
    db.flush()?;
    drop(journal);
    db.drop_tree(old_name.as_bytes())?;
    db.drop_tree(history_name.as_bytes())?;
    db.flush()?;
    tracing::info!(
        entries = expected,
        residents = last.len(),
        "audit log converted from sled trees to the store's journal"
    );
    Ok(())
}
