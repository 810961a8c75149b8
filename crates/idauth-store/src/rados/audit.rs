//! The audit chain on RADOS: the same entries, links and head as on sled
//! (`crate::audit`), in omap segments of one shard's chain, which also hold the
//! residents' history index and the replay index.
//!
//! - `{chain}.a.{segment:08x}`: omap `{seq:016x}` -> entry bytes, `head` -> the head
//!   after that segment's last entry, `h.{storage key hex}.{u64::MAX - seq:016x}` ->
//!   the same entry bytes for each entry about a resident (the history index: a
//!   resident's entries in a segment list newest first under one prefix), and
//!   `t.{txn hash hex}` -> the request's timestamp for each (caller, txn) pair recorded
//!   (the replay index, `txns.rs`). `SEGMENT` entries a segment: with their history and
//!   replay keys, under Ceph's large-omap warning of 200,000 keys.
//! - `{chain}.a.tail`: the number of the segment being written.
//!
//! One task per chain writes (the chain's only writer): it takes every record and
//! replay entry queued while its last write was in flight and writes them in one
//! operation, like the sled engine's group commit, so a verify costs the
//! cluster a share of a batch rather than writes of its own. No lock is held across an
//! await.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use idauth_core::StorageKey;
use tokio::sync::{mpsc, oneshot};

use super::client::{ENOENT, Pool, RadosError, ReadOp, WriteOp};
use super::txns::TxnEntry;
use crate::audit::{AuditRecord, ChainBreak, ChainWalk, Head};
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

/// The prefix of `subject`'s history keys in a segment.
pub(crate) fn history_prefix(subject: &StorageKey) -> String {
    format!("h.{}.", hex(&subject.0))
}

/// `subject`'s history key for entry `seq` (newer entries sort first).
pub(crate) fn history_key(subject: &StorageKey, seq: u64) -> Vec<u8> {
    format!("{}{:016x}", history_prefix(subject), u64::MAX - seq).into_bytes()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Reply = oneshot::Sender<Result<u64>>;

/// What the writer is asked to write.
enum Queued {
    /// An audit record, answered with its sequence number once written.
    Audit(AuditRecord, Reply),
    /// A replay-index entry: written with the next batch of audit entries, answered by
    /// nothing. The verify that made it is answered only after its own audit entry,
    /// queued after it, so the entry is durable before any answer that relied on it.
    Txn(TxnEntry),
}

/// The handle the store appends through.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    queue: mpsc::UnboundedSender<Queued>,
    /// The segment being written (history reads start there).
    newest: std::sync::Arc<AtomicU64>,
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
        let newest = std::sync::Arc::new(AtomicU64::new(segment));
        let writing = Writing {
            pool,
            chain,
            timeout,
            newest: std::sync::Arc::clone(&newest),
        };
        tokio::spawn(writer(writing, head, segment, incoming));
        Ok(Self { queue, newest })
    }

    /// Appends `record`; its sequence number once the chain segment (entry and
    /// history index) is on every replica.
    pub(crate) async fn append(&self, record: AuditRecord) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Queued::Audit(record, reply))
            .map_err(|_| StoreError::Flush("the audit writer stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Flush("the audit writer stopped".into()))?
    }

    /// The segment being written.
    pub(crate) fn newest_segment(&self) -> u64 {
        self.newest.load(Ordering::Acquire)
    }

    /// Queues a replay-index entry for the next batch.
    pub(crate) fn note_txn(&self, entry: TxnEntry) -> Result<()> {
        self.queue
            .send(Queued::Txn(entry))
            .map_err(|_| StoreError::Flush("the audit writer stopped".into()))
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

/// What the writer writes to.
struct Writing {
    pool: std::sync::Arc<Pool>,
    chain: String,
    timeout: Duration,
    newest: std::sync::Arc<AtomicU64>,
}

/// Batches in flight at once. The next batch's segment write goes out while the last
/// one is still being replicated, asserting the head that one leaves (an omap
/// comparison), so a verify waits for about one write rather than up to two, and a
/// batch can never land without the one before it.
const DEPTH: usize = 2;

/// What a batch in flight answers: its sequence numbers, or why not.
type Landing<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u64>>> + Send + 'a>>;

/// A batch in flight, with the callers to answer and its segment.
type Flight<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Result<Vec<u64>>, Vec<Reply>, u64)> + Send + 'a>,
>;

async fn writer(
    writing: Writing,
    mut head: Head,
    mut tail: u64,
    mut incoming: mpsc::UnboundedReceiver<Queued>,
) {
    let Writing {
        pool,
        chain,
        timeout,
        newest,
    } = writing;
    // Replay entries wait for the next batch of audit entries (their verifies' own
    // entries follow them), so that every write is a chain write.
    let mut txns = Vec::new();
    let mut in_flight: futures_util::stream::FuturesOrdered<Flight<'_>> =
        futures_util::stream::FuturesOrdered::new();
    // After a failed batch its write may still land (a timed-out operation is not
    // withdrawn): nothing more is sent until every batch in flight has answered, then
    // the head is read back from the cluster, so no sequence number is given twice.
    let mut uncertain = false;
    let mut closed = false;
    loop {
        // A batch that opens a segment cannot assert the previous batch's head (that is
        // in the segment before), so it waits until nothing is in flight.
        let opens_segment = head.next_seq.is_multiple_of(SEGMENT);
        let room = !closed
            && !uncertain
            && in_flight.len() < DEPTH
            && (!opens_segment || in_flight.is_empty());
        tokio::select! {
            Some((landed, replies, segment)) = in_flight.next(), if !in_flight.is_empty() => {
                match landed {
                    Ok(seqs) => {
                        newest.fetch_max(segment, Ordering::AcqRel);
                        for (reply, seq) in replies.into_iter().zip(seqs) {
                            let _ = reply.send(Ok(seq));
                        }
                    }
                    Err(error) => {
                        uncertain = true;
                        tracing::error!(%error, "audit or replay entries not written to the RADOS pool");
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Flush(error.to_string())));
                        }
                    }
                }
            }
            queued = incoming.recv(), if room => {
                let Some(first) = queued else {
                    closed = true;
                    continue;
                };
                let (records, replies) = gather(first, &mut incoming, &head, &mut txns);
                if records.is_empty() {
                    continue;
                }
                let at = Place { pool: &pool, chain: &chain, timeout };
                match issue(at, &head, tail, records, std::mem::take(&mut txns)) {
                    Ok((next, segment, landing)) => {
                        (head, tail) = (next, segment);
                        in_flight.push_back(Box::pin(async move {
                            (landing.await, replies, segment)
                        }));
                    }
                    Err(error) => {
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Flush(error.to_string())));
                        }
                    }
                }
            }
            else => {}
        }
        if uncertain && in_flight.is_empty() {
            match read_head(&pool, &chain, timeout).await {
                Ok((read, segment)) => (head, tail, uncertain) = (read, segment, false),
                Err(error) => {
                    tracing::error!(%error, "the RADOS audit chain's head cannot be read");
                    // Refuse what is queued rather than wait blind; try again on the next.
                    match incoming.recv().await {
                        Some(Queued::Audit(_, reply)) => {
                            let _ = reply.send(Err(error));
                        }
                        Some(Queued::Txn(_)) => {}
                        None => closed = true,
                    }
                }
            }
        }
        if closed && in_flight.is_empty() {
            return;
        }
    }
}

/// Where a batch goes.
#[derive(Clone, Copy)]
struct Place<'a> {
    pool: &'a Pool,
    chain: &'a str,
    timeout: Duration,
}

/// `first` and whatever else is queued: records only as many as fit in the current
/// segment, so one write holds them; replay entries onto `txns`.
fn gather(
    first: Queued,
    incoming: &mut mpsc::UnboundedReceiver<Queued>,
    head: &Head,
    txns: &mut Vec<TxnEntry>,
) -> (Vec<AuditRecord>, Vec<Reply>) {
    let (mut records, mut replies) = (Vec::new(), Vec::new());
    let room = (SEGMENT - head.next_seq % SEGMENT) as usize;
    let mut queued = Some(first);
    while let Some(next) = queued.take() {
        match next {
            Queued::Audit(record, reply) => {
                records.push(record);
                replies.push(reply);
            }
            Queued::Txn(entry) => txns.push(entry),
        }
        if records.len() < BATCH.min(room) && txns.len() < BATCH {
            queued = incoming.try_recv().ok();
        }
    }
    (records, replies)
}

/// Sends one batch: the chain segment (entries, their history index, the replay
/// entries and the head, one atomic operation that asserts the head it follows, or
/// creates the segment), then the tail when the segment is new. Returns the head after
/// the batch, its segment and what answers once everything landed.
fn issue<'a>(
    at: Place<'a>,
    head: &Head,
    tail: u64,
    records: Vec<AuditRecord>,
    txns: Vec<TxnEntry>,
) -> Result<(Head, u64, Landing<'a>)> {
    let Place {
        pool,
        chain,
        timeout,
    } = at;
    let segment = head.next_seq / SEGMENT;
    let prepared = crate::audit::prepare(head, records)?;
    let mut op = if head.next_seq.is_multiple_of(SEGMENT) {
        WriteOp::default().create_exclusive()
    } else {
        WriteOp::default().omap_equals(b"head".to_vec(), postcard::to_stdvec(head)?)
    };
    for (seq, bytes, subject) in &prepared.entries {
        op = op.omap_set(format!("{seq:016x}").into_bytes(), bytes.clone());
        if let Some(subject) = subject {
            op = op.omap_set(history_key(subject, *seq), bytes.clone());
        }
    }
    for entry in &txns {
        let (key, value) = super::txns::omap_pair(entry);
        op = op.omap_set(key, value);
    }
    op = op.omap_set(b"head".to_vec(), prepared.head_bytes.clone());
    let seqs: Vec<u64> = prepared.entries.iter().map(|(seq, _, _)| *seq).collect();
    let landing = async move {
        write_segment(pool, chain, segment, op, tail, timeout).await?;
        Ok(seqs)
    };
    Ok((prepared.head, segment, Box::pin(landing)))
}

/// Applies `op` to segment `segment` of `chain`, then names it in the tail when it is
/// not `tail` (the segment the tail already names).
pub(crate) async fn write_segment(
    pool: &Pool,
    chain: &str,
    segment: u64,
    op: WriteOp,
    tail: u64,
    timeout: Duration,
) -> Result<()> {
    pool.write(&segment_oid(chain, segment), op, timeout)
        .await
        .map_err(cluster)?;
    if segment != tail {
        let op = WriteOp::default().write_full(segment.to_le_bytes().to_vec());
        pool.write(&tail_oid(chain), op, timeout)
            .await
            .map_err(cluster)?;
    }
    Ok(())
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
                if key.starts_with(b"h.") || key.starts_with(b"t.") {
                    // The history index (copies of entries walked by their own keys)
                    // and the replay index.
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
