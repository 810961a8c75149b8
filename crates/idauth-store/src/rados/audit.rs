//! The audit chain on RADOS: the same entries, links and head as on sled
//! (`crate::audit`), in omap segments of one shard's chain, with a per-resident
//! history object.
//!
//! - `{chain}.a.{segment:08x}`: omap `{seq:016x}` -> entry bytes, and `head` -> the
//!   head after that segment's last entry; `SEGMENT` entries a segment, so no omap grows
//!   past what RADOS recovers comfortably.
//! - `{chain}.a.tail`: the number of the segment being written.
//! - `h.{storage key hex}`: omap `{u64::MAX - seq:016x}.{chain}` -> entry bytes, so a
//!   resident's history reads newest first from one object.
//!
//! One task per chain appends (the chain's only writer): it takes every record queued
//! while its last write was in flight and writes them in one operation, like the
//! sled engine's group commit; no lock is held across an await.

use std::time::Duration;

use idauth_core::StorageKey;
use tokio::sync::{mpsc, oneshot};

use super::client::{ENOENT, Pool, RadosError, ReadOp, WriteOp};
use crate::audit::{AuditEntry, AuditLog, AuditRecord, ChainBreak, ChainWalk, Head};
use crate::error::{Result, StoreError};

/// Entries in one chain segment.
pub(crate) const SEGMENT: u64 = 65_536;

/// The most records one append writes.
const BATCH: usize = 512;

pub(crate) fn cluster(error: RadosError) -> StoreError {
    StoreError::Cluster {
        op: error.op,
        errno: error.errno,
    }
}

pub(crate) fn segment_oid(chain: &str, segment: u64) -> String {
    format!("{chain}.a.{segment:08x}")
}

pub(crate) fn tail_oid(chain: &str) -> String {
    format!("{chain}.a.tail")
}

pub(crate) fn history_oid(key: &StorageKey) -> String {
    format!("h.{}", hex(&key.0))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Reply = oneshot::Sender<Result<u64>>;

/// The handle the store appends through.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    queue: mpsc::UnboundedSender<(AuditRecord, Reply)>,
}

impl Chain {
    /// Reads the chain's head and starts its writer.
    pub(crate) async fn open(
        pool: std::sync::Arc<Pool>,
        chain: String,
        timeout: Duration,
    ) -> Result<Self> {
        let (head, segment) = read_head(&pool, &chain, timeout).await?;
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, chain, timeout, head, segment, incoming));
        Ok(Self { queue })
    }

    /// Appends `record`; its sequence number once the chain and the resident's
    /// history hold it on every replica.
    pub(crate) async fn append(&self, record: AuditRecord) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((record, reply))
            .map_err(|_| StoreError::Flush("the audit writer stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Flush("the audit writer stopped".into()))?
    }
}

/// The head to continue from, and its segment. The tail names the segment being
/// written; a crash after a new segment's first write and before the tail's update
/// leaves the tail one behind, so the next segment is looked at too.
pub(crate) async fn read_head(pool: &Pool, chain: &str, timeout: Duration) -> Result<(Head, u64)> {
    let tail = match pool
        .read(&tail_oid(chain), ReadOp::default().data(), timeout)
        .await
    {
        Ok(read) => u64::from_le_bytes(
            read.data
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 8]),
        ),
        Err(e) if e.errno == ENOENT => 0,
        Err(e) => return Err(cluster(e)),
    };
    let mut found = None;
    for segment in [tail + 1, tail] {
        let read = pool
            .read(
                &segment_oid(chain, segment),
                ReadOp::default().omap_keys(vec![b"head".to_vec()]),
                timeout,
            )
            .await;
        match read {
            Ok(read) => {
                if let Some((_, bytes)) = read.omap.first() {
                    found = Some((postcard::from_bytes::<Head>(bytes)?, segment));
                    break;
                }
            }
            Err(e) if e.errno == ENOENT => {}
            Err(e) => return Err(cluster(e)),
        }
    }
    Ok(found.unwrap_or((
        Head {
            next_seq: 0,
            last_hash: [0; 32],
        },
        0,
    )))
}

async fn writer(
    pool: std::sync::Arc<Pool>,
    chain: String,
    timeout: Duration,
    mut head: Head,
    mut tail: u64,
    mut incoming: mpsc::UnboundedReceiver<(AuditRecord, Reply)>,
) {
    // After a failed append the segment write may still land (a timed-out operation
    // is not withdrawn): the head is read back from the cluster before the next one,
    // so no sequence number is given twice.
    let mut uncertain = false;
    while let Some(first) = incoming.recv().await {
        if uncertain {
            match read_head(&pool, &chain, timeout).await {
                Ok((read, segment)) => {
                    (head, tail, uncertain) = (read, segment, false);
                }
                Err(error) => {
                    tracing::error!(%error, "the RADOS audit chain's head cannot be read");
                    let _ = first.1.send(Err(error));
                    continue;
                }
            }
        }
        let mut batch = vec![first];
        // Only as many as fit in the current segment, so one write holds the batch.
        let room = (SEGMENT - head.next_seq % SEGMENT) as usize;
        while batch.len() < BATCH.min(room) {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match append(&pool, &chain, timeout, &head, &mut tail, records).await {
            Ok((next, seqs)) => {
                head = next;
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(error) => {
                uncertain = true;
                tracing::error!(%error, "audit entries not appended to the RADOS chain");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Flush(error.to_string())));
                }
            }
        }
    }
}

/// Writes one batch: the chain segment (entries and head, one atomic operation), then
/// each resident's history object, then the tail when the segment is new. The head
/// advances only if the segment write succeeded; the batch is acknowledged only if
/// every write did.
async fn append(
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    head: &Head,
    tail: &mut u64,
    records: Vec<AuditRecord>,
) -> Result<(Head, Vec<u64>)> {
    let prepared = AuditLog::prepare(head, records)?;
    let segment = head.next_seq / SEGMENT;
    let mut op = WriteOp::default();
    for (seq, bytes, _) in &prepared.entries {
        op = op.omap_set(format!("{seq:016x}").into_bytes(), bytes.clone());
    }
    op = op.omap_set(b"head".to_vec(), prepared.head_bytes.clone());
    pool.write(&segment_oid(chain, segment), op, timeout)
        .await
        .map_err(cluster)?;
    let history = prepared
        .entries
        .iter()
        .filter_map(|(seq, bytes, subject)| {
            let subject = subject.as_ref()?;
            let key = format!("{:016x}.{chain}", u64::MAX - seq).into_bytes();
            Some((history_oid(subject), key, bytes.clone()))
        })
        .collect::<Vec<_>>();
    let writes = history.into_iter().map(|(oid, key, bytes)| async move {
        pool.write(&oid, WriteOp::default().omap_set(key, bytes), timeout)
            .await
    });
    let results = futures_util::future::join_all(writes).await;
    let head_after = prepared.head;
    let seqs = prepared.entries.iter().map(|(seq, _, _)| *seq).collect();
    if segment != *tail {
        pool.write(
            &tail_oid(chain),
            WriteOp::default().write_full(segment.to_le_bytes().to_vec()),
            timeout,
        )
        .await
        .map_err(cluster)?;
        *tail = segment;
    }
    if let Some(error) = results.into_iter().find_map(|r| r.err()) {
        // The chain holds the entries (evidence); the index missed one: refuse the
        // acknowledgement, as sled would refuse a failed transaction.
        return Err(cluster(error));
    }
    Ok((head_after, seqs))
}

/// A page of `subject`'s history from its history object: newest first, older than
/// `before`, only `token`'s when given; and whether more remain.
pub(crate) async fn history(
    pool: &Pool,
    subject: &StorageKey,
    before: Option<u64>,
    token: Option<&str>,
    limit: usize,
    timeout: Duration,
) -> Result<(Vec<AuditEntry>, bool)> {
    let mut after = match before {
        // Keys of entries older than `before` sort after every key of `before` itself.
        Some(before) => format!("{:016x}.\u{7f}", u64::MAX - before),
        None => String::new(),
    };
    let mut entries = Vec::with_capacity(limit.min(256));
    loop {
        let read = pool
            .read(
                &history_oid(subject),
                ReadOp::default().omap_after(&after, "", (limit as u64 + 1).max(16)),
                timeout,
            )
            .await;
        let read = match read {
            Ok(read) => read,
            Err(e) if e.errno == ENOENT => return Ok((entries, false)),
            Err(e) => return Err(cluster(e)),
        };
        for (key, bytes) in &read.omap {
            let entry: AuditEntry = postcard::from_bytes(bytes)?;
            if token.is_some_and(|token| entry.token != token) {
                continue;
            }
            if entries.len() == limit {
                return Ok((entries, true));
            }
            entries.push(entry);
            let _ = key;
        }
        match read.omap.last() {
            Some((key, _)) if read.more => after = String::from_utf8_lossy(key).into_owned(),
            _ => return Ok((entries, false)),
        }
    }
}

/// Walks the chain `chain` in `pool`: the number of entries, or the first break (the
/// same rules as [`crate::verify_chain`] on sled: `ChainWalk`).
pub async fn verify_chain(
    pool: &Pool,
    chain: &str,
    timeout: Duration,
) -> Result<std::result::Result<u64, ChainBreak>> {
    let mut walk = ChainWalk::new();
    let mut last_head: Option<Head> = None;
    for segment in 0u64.. {
        let oid = segment_oid(chain, segment);
        let mut after = String::new();
        let mut found = false;
        loop {
            let op = ReadOp::default().omap_after(&after, "", 1024);
            let read = match pool.read(&oid, op, timeout).await {
                Ok(read) => read,
                Err(e) if e.errno == ENOENT => break,
                Err(e) => return Err(cluster(e)),
            };
            found = true;
            for (key, bytes) in &read.omap {
                if key == b"head" {
                    last_head = Some(postcard::from_bytes(bytes)?);
                    continue;
                }
                let key_seq = std::str::from_utf8(key)
                    .ok()
                    .and_then(|k| u64::from_str_radix(k, 16).ok());
                if let Err(chain_break) = walk.entry(key_seq, bytes) {
                    return Ok(Err(chain_break));
                }
            }
            match read.omap.last() {
                Some((key, _)) if read.more => after = String::from_utf8_lossy(key).into_owned(),
                _ => break,
            }
        }
        if !found {
            break;
        }
    }
    Ok(walk.finish(last_head))
}
