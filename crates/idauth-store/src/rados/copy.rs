//! `idauth store copy`: one shard's sled store streamed into its RADOS namespace, the
//! migration from one machine to a cluster. Idempotent and resumable: records, request
//! guards and replay entries are exclusive creates (one already there is counted, not
//! rewritten); the audit chain, read from the store's journal, continues from the
//! pool's head after checking that the pool's chain is a prefix of this one, each
//! entry's history index entry written with it in the segment that holds it; replay
//! entries are set in the chain's newest segment where missing.

use std::path::Path;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use super::audit::{SEGMENT, cluster, hex, history_key, read_head, segment_oid, write_segment};
use super::client::{EEXIST, Pool, ReadOp, WriteOp};
use super::store::{record_oid, request_oid};
use crate::audit::{Head, journal_error};
use crate::audit_log::{journal_dir, store_dir};
use crate::error::{Result, StoreError};
use crate::journal::Scan;
use crate::store::RequestEntry;
use idauth_core::StorageKey;

/// Writes in flight at once.
const CONCURRENCY: usize = 32;

/// Audit entries per chain write.
const AUDIT_BATCH: u64 = 512;

/// Replay entries checked against the pool per round of writes.
const INDEX_CHUNK: usize = 4096;

/// What one shard's copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Resident records in the sled store.
    pub residents: u64,
    /// Of those, copied now (the rest were in the pool already).
    pub residents_copied: u64,
    /// Idempotency entries in the sled store, and copied now.
    pub requests: (u64, u64),
    /// Replay entries in the sled store, and copied now.
    pub txns: (u64, u64),
    /// Audit entries in the sled store, and copied now.
    pub audit_entries: (u64, u64),
    /// History index entries set with the audit entries copied now.
    pub history: u64,
}

impl CopyCounts {
    /// Whether this run wrote nothing new (everything was in the pool already).
    pub fn nothing_copied(&self) -> bool {
        self.residents_copied == 0
            && self.requests.1 == 0
            && self.txns.1 == 0
            && self.audit_entries.1 == 0
    }
}

/// Progress: a step's name and the items done since the last call.
pub type Progress<'a> = &'a (dyn Fn(&'static str, u64) + Sync);

/// Creates `oid` with `data` unless it exists; whether this call created it.
async fn create(pool: &Pool, oid: String, data: Vec<u8>, timeout: Duration) -> Result<bool> {
    let op = WriteOp::default().create_exclusive().write_full(data);
    match pool.write(&oid, op, timeout).await {
        Ok(_) => Ok(true),
        Err(e) if e.errno == EEXIST => Ok(false),
        Err(e) => Err(cluster(e)),
    }
}

/// Creates one object per item, `CONCURRENCY` at a time; (items, created).
async fn create_all(
    pool: &Pool,
    items: impl Iterator<Item = Result<(String, Vec<u8>)>>,
    timeout: Duration,
    step: &'static str,
    progress: Progress<'_>,
) -> Result<(u64, u64)> {
    let results = stream::iter(items)
        .map(|item| async move {
            let (oid, data) = item?;
            let created = create(pool, oid, data, timeout).await?;
            progress(step, 1);
            Ok::<bool, StoreError>(created)
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut counts = (0, 0);
    for created in results {
        counts.0 += 1;
        counts.1 += u64::from(created?);
    }
    Ok(counts)
}

fn key32(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        StoreError::Flush(format!("a {}-byte key where 32 were expected", bytes.len()))
    })
}

/// Copies the sled store under tree prefix `prefix` of `db` (the engine in `dir`,
/// opened once by [`crate::upgrade_store`]) into `pool` (the shard's namespace), its
/// audit chain as `chain`.
pub async fn copy_shard(
    dir: &Path,
    db: &sled::Db,
    prefix: &str,
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<CopyCounts> {
    let tree = |name: &str| {
        db.open_tree(format!("{prefix}{name}"))
            .map_err(StoreError::from)
    };
    let mut counts = CopyCounts::default();

    let residents = tree("residents")?;
    let records = residents.iter().map(|item| {
        let (key, sealed) = item?;
        Ok((record_oid(&StorageKey(key32(&key)?)), sealed.to_vec()))
    });
    let (total, copied) = create_all(pool, records, timeout, "residents", progress).await?;
    (counts.residents, counts.residents_copied) = (total, copied);

    let requests = tree("requests")?.iter().map(|item| {
        let (key, entry) = item?;
        let parsed: RequestEntry = postcard::from_bytes(&entry)?;
        // The guard holds the write's outcome too: a resend after the move replays it.
        let mut data = parsed.fingerprint.to_vec();
        data.extend_from_slice(&entry);
        Ok((request_oid(&key32(&key)?), data))
    });
    counts.requests = create_all(pool, requests, timeout, "requests", progress).await?;

    let journal = journal_dir(dir, prefix);
    let total = crate::audit_log::synced(db, prefix)?.next_seq;
    let (copied, history) = copy_chain(&journal, total, pool, chain, timeout, progress).await?;
    (counts.audit_entries, counts.history) = ((total, copied), history);
    let txns = crate::txns::pairs(&store_dir(dir, "txns", prefix))?;
    counts.txns = copy_txns(txns, pool, chain, timeout, progress).await?;
    Ok(counts)
}

/// The journal's entries after the pool's head, in batches within a segment, each
/// with its history index entry; (entries copied now, history entries set).
async fn copy_chain(
    journal: &Path,
    total: u64,
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<(u64, u64)> {
    let (mut head, mut tail) = read_head(pool, chain, timeout).await?;
    let mut frames = Scan::new(journal).map_err(journal_error)?.peekable();
    let damaged = |why: String| {
        StoreError::Journal(format!("{why}: run `idauth audit verify` on the source"))
    };
    if head.next_seq > 0 {
        // The pool's chain must be this one's prefix: its last hash is this log's.
        let mut last = None;
        for frame in frames.by_ref() {
            let frame = frame.map_err(damaged)?;
            if frame.seq + 1 == head.next_seq {
                last = Some(frame);
                break;
            }
        }
        let last = last.ok_or_else(|| StoreError::Flush(format!(
            "the pool's chain {chain} has {} entries, more than this store's {total}: not this store's chain",
            head.next_seq
        )))?;
        if *blake3::hash(&last.entry).as_bytes() != head.last_hash {
            return Err(StoreError::Flush(format!(
                "the pool's chain {chain} is not a copy of this store's (entry {} differs)",
                head.next_seq - 1
            )));
        }
    }
    let (mut copied, mut history) = (0, 0);
    while frames.peek().is_some() {
        let segment = head.next_seq / SEGMENT;
        let room = SEGMENT - head.next_seq % SEGMENT;
        let mut op = WriteOp::default();
        let mut next = Head {
            next_seq: head.next_seq,
            last_hash: head.last_hash,
        };
        for _ in 0..AUDIT_BATCH.min(room) {
            let Some(frame) = frames.next() else { break };
            let frame = frame.map_err(damaged)?;
            if frame.seq != next.next_seq {
                return Err(damaged(format!(
                    "the audit journal jumps from {} to {}",
                    next.next_seq, frame.seq
                )));
            }
            op = op.omap_set(
                format!("{:016x}", frame.seq).into_bytes(),
                frame.entry.clone(),
            );
            if let Some(subject) = frame.subject {
                op = op.omap_set(
                    history_key(&StorageKey(subject), frame.seq),
                    frame.entry.clone(),
                );
                history += 1;
            }
            next = Head {
                next_seq: frame.seq + 1,
                last_hash: *blake3::hash(&frame.entry).as_bytes(),
            };
        }
        let batch = next.next_seq - head.next_seq;
        op = op.omap_set(b"head".to_vec(), postcard::to_stdvec(&next)?);
        write_segment(pool, chain, segment, op, tail, timeout).await?;
        tail = segment;
        progress("audit", batch);
        copied += batch;
        head = next;
    }
    Ok((copied, history))
}

/// The replay entries, each set in the chain's newest segment unless there already
/// (a start reads the window's pairs from the newest segments); (entries in the
/// store's index, set now). The index keeps each pair's hour, not its timestamp, so
/// the pool gets the hour's last millisecond: a pair is kept no shorter than asked.
/// With no chain in the pool there is no segment to hold them, and none is set: a
/// segment made for them alone would stand where the chain's first write must create
/// its first segment.
async fn copy_txns(
    txns: Vec<(u64, [u8; 16])>,
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<(u64, u64)> {
    let (head, segment) = read_head(pool, chain, timeout).await?;
    let total = txns.len() as u64;
    if head.next_seq == 0 {
        return Ok((total, 0));
    }
    let oid = segment_oid(chain, segment);
    let mut counts = (0, 0);
    let mut items = txns.into_iter().peekable();
    while items.peek().is_some() {
        let mut pairs = Vec::new();
        for (hour, hash) in items.by_ref().take(INDEX_CHUNK) {
            let stamp = crate::txns::hour_end_ms(hour).to_le_bytes().to_vec();
            pairs.push((format!("t.{}", hex(&hash)).into_bytes(), stamp));
        }
        let keys = pairs.iter().map(|(key, _)| key.clone()).collect();
        let present: Vec<Vec<u8>> = pool
            .read(&oid, ReadOp::default().omap_keys(keys), timeout)
            .await
            .map_err(cluster)?
            .omap
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let read = pairs.len() as u64;
        let missing: Vec<_> = pairs
            .into_iter()
            .filter(|(key, _)| !present.contains(key))
            .collect();
        counts.0 += read;
        counts.1 += missing.len() as u64;
        if !missing.is_empty() {
            let op = missing
                .into_iter()
                .fold(WriteOp::default(), |op, (key, stamp)| {
                    op.omap_set(key, stamp)
                });
            pool.write(&oid, op, timeout).await.map_err(cluster)?;
        }
        progress("txns", read);
    }
    Ok(counts)
}
