//! `idauth store copy`: one shard's sled store streamed into its RADOS namespace, the
//! migration from one machine to a cluster. Idempotent and resumable: records, request
//! guards and replay entries are exclusive creates (one already there is counted, not
//! rewritten); the audit chain continues from the pool's head after checking that the
//! pool's chain is a prefix of this one; history index entries are set again unchanged
//! in the segments that hold their entries; replay entries are set in the chain's
//! newest segment where missing.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use std::collections::BTreeMap;

use super::audit::{SEGMENT, cluster, hex, history_key, read_head, segment_oid, write_segment};
use super::client::{EEXIST, Pool, ReadOp, WriteOp};
use super::store::{record_oid, request_oid};
use crate::audit::Head;
use crate::error::{Result, StoreError};
use crate::store::RequestEntry;
use idauth_core::StorageKey;

/// Writes in flight at once.
const CONCURRENCY: usize = 32;

/// Audit entries per chain write.
const AUDIT_BATCH: u64 = 512;

/// Index entries (replay, history) read from sled per round of writes.
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
    /// History index entries set.
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

/// Copies the sled store under tree prefix `prefix` of `db` into `pool` (the shard's
/// namespace), its audit chain as `chain`.
pub async fn copy_shard(
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

    counts.audit_entries = copy_chain(&tree("audit")?, pool, chain, timeout, progress).await?;
    counts.history = copy_history(
        &tree("history")?,
        &tree("audit")?,
        pool,
        chain,
        timeout,
        progress,
    )
    .await?;
    counts.txns = copy_txns(&tree("txns")?, pool, chain, timeout, progress).await?;
    Ok(counts)
}

/// The chain's entries after the pool's head, in batches within a segment; (entries
/// in sled, copied now).
async fn copy_chain(
    audit: &sled::Tree,
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<(u64, u64)> {
    let total = audit.len().saturating_sub(1) as u64; // less the head record
    let (mut head, mut tail) = read_head(pool, chain, timeout).await?;
    if head.next_seq > 0 {
        // The pool's chain must be this one's prefix: its last hash is this log's.
        let last = audit
            .get((head.next_seq - 1).to_be_bytes())?
            .ok_or_else(|| StoreError::Flush(format!(
                "the pool's chain {chain} has {} entries, more than this store's {total}: not this store's chain",
                head.next_seq
            )))?;
        if *blake3::hash(&last).as_bytes() != head.last_hash {
            return Err(StoreError::Flush(format!(
                "the pool's chain {chain} is not a copy of this store's (entry {} differs)",
                head.next_seq - 1
            )));
        }
    }
    let mut copied = 0;
    let mut entries = audit
        .range(head.next_seq.to_be_bytes().to_vec()..vec![0xff; 9])
        .peekable();
    while entries.peek().is_some() {
        let segment = head.next_seq / SEGMENT;
        let room = SEGMENT - head.next_seq % SEGMENT;
        let mut op = WriteOp::default();
        let mut next = Head {
            next_seq: head.next_seq,
            last_hash: head.last_hash,
        };
        for _ in 0..AUDIT_BATCH.min(room) {
            let Some(item) = entries.next() else { break };
            let (key, bytes) = item?;
            let seq = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Flush("a foreign key in the audit log".into()))?,
            );
            if seq != next.next_seq {
                return Err(StoreError::Flush(format!(
                    "the audit log jumps from {} to {seq}: run `idauth audit verify` on the source",
                    next.next_seq
                )));
            }
            op = op.omap_set(format!("{seq:016x}").into_bytes(), bytes.to_vec());
            next = Head {
                next_seq: seq + 1,
                last_hash: *blake3::hash(&bytes).as_bytes(),
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
    Ok((total, copied))
}

/// The replay entries, each set in the chain's newest segment unless there already
/// (a start reads the window's pairs from the newest segments); (entries in sled, set
/// now). sled's key is the timestamp's hour, then the pair's hash. With no chain in the
/// pool there is no segment to hold them, and none is set: a segment made for them
/// alone would stand where the chain's first write must create its first segment.
async fn copy_txns(
    txns: &sled::Tree,
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
    let mut items = txns.iter().peekable();
    while items.peek().is_some() {
        let mut pairs = Vec::new();
        for item in items.by_ref().take(INDEX_CHUNK) {
            let (key, stamp) = item?;
            let hash = key
                .get(8..24)
                .ok_or_else(|| StoreError::Flush("a short txn key".into()))?;
            pairs.push((format!("t.{}", hex(hash)).into_bytes(), stamp.to_vec()));
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

/// Each history index entry set in the segment that holds its entry (idempotent);
/// the number set.
async fn copy_history(
    history: &sled::Tree,
    audit: &sled::Tree,
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<u64> {
    let mut set = 0;
    let mut items = history.iter().peekable();
    while items.peek().is_some() {
        let mut segments: BTreeMap<u64, WriteOp> = BTreeMap::new();
        let mut chunk = 0;
        for item in items.by_ref().take(INDEX_CHUNK) {
            let (key, _) = item?;
            let subject = StorageKey(key32(key.get(..32).unwrap_or_default())?);
            let seq = u64::from_be_bytes(
                key.get(32..40)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Flush("a short history key".into()))?,
            );
            let bytes = audit
                .get(seq.to_be_bytes())?
                .ok_or(StoreError::IndexBroken(seq))?;
            let op = segments.remove(&(seq / SEGMENT)).unwrap_or_default();
            segments.insert(
                seq / SEGMENT,
                op.omap_set(history_key(&subject, seq), bytes.to_vec()),
            );
            chunk += 1;
        }
        let writes = segments.into_iter().map(|(segment, op)| async move {
            pool.write(&segment_oid(chain, segment), op, timeout)
                .await
                .map_err(cluster)
        });
        for written in futures_util::future::join_all(writes).await {
            written?;
        }
        set += chunk;
        progress("history", chunk);
    }
    Ok(set)
}
