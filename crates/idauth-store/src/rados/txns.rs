//! The replay index on RADOS: (caller, txn) pairs as keys of the audit chain's
//! segments, with the pairs of the retention window also held in memory.
//!
//! A segment holds `t.{txn hash hex}` -> the request's timestamp for each pair recorded
//! while it was being written. A verify checks and records its pair in memory, at once,
//! and the chain's writer puts the pair in the same write as the next audit entries
//! (the verify's own entry is queued after it), so the pair is on every replica before
//! the verify is answered, and costs no write of its own. Memory answers because one
//! process writes a shard's chain; a start reads the pairs back from the segments that
//! can hold pairs of the window. Pairs stay in their segments after the window (about
//! 60 bytes a verify, beside the entry and its history copy); memory keeps the window
//! only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::audit::{SEGMENT, cluster, hex, read_head, segment_oid};
use super::client::{ENOENT, Pool, ReadOp};
use crate::audit::AuditEntry;
use crate::error::Result;

const HOUR_MS: i64 = 3_600_000;

/// One pair, as the writer stores it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnEntry {
    pub(crate) hash: [u8; 16],
    pub(crate) timestamp_ms: i64,
}

/// The omap key and value of `entry` in a segment.
pub(crate) fn omap_pair(entry: &TxnEntry) -> (Vec<u8>, Vec<u8>) {
    (
        format!("t.{}", hex(&entry.hash)).into_bytes(),
        entry.timestamp_ms.to_le_bytes().to_vec(),
    )
}

/// The pairs seen within the retention window.
#[derive(Debug)]
pub(crate) struct Seen {
    pairs: Mutex<HashMap<[u8; 16], i64>>,
    retention_ms: i64,
    /// The hour the last sweep of memory ran in.
    swept_hour: AtomicI64,
}

impl Seen {
    /// Reads the pairs back from the chain's segments, newest first, down to the first
    /// segment that began before the window around `now_ms` (an hour's margin for
    /// clocks): a pair of the window was recorded at most minutes before its
    /// timestamp, so no older segment can hold one.
    pub(crate) async fn load(
        pool: &Pool,
        chain: &str,
        retention_ms: i64,
        now_ms: i64,
        timeout: Duration,
    ) -> Result<Self> {
        let (_, newest) = read_head(pool, chain, timeout).await?;
        let oldest = now_ms - retention_ms;
        let mut pairs = HashMap::new();
        for segment in (0..=newest).rev() {
            let oid = segment_oid(chain, segment);
            let first = format!("{:016x}", segment * SEGMENT).into_bytes();
            let began = match pool
                .read(&oid, ReadOp::default().omap_keys(vec![first]), timeout)
                .await
            {
                Ok(read) => match read.omap.first() {
                    Some((_, bytes)) => postcard::from_bytes::<AuditEntry>(bytes)?.time_ms,
                    None => i64::MAX,
                },
                Err(e) if e.errno == ENOENT => continue,
                Err(e) => return Err(cluster(e)),
            };
            let mut after = String::new();
            loop {
                let op = ReadOp::default().omap_after(&after, "t.", 4096);
                let read = pool.read(&oid, op, timeout).await.map_err(cluster)?;
                for (key, value) in &read.omap {
                    let (Some(hash), Some(stamp)) =
                        (unhex(key.get(2..).unwrap_or_default()), stamp(value))
                    else {
                        continue;
                    };
                    if stamp >= oldest {
                        pairs.insert(hash, stamp);
                    }
                }
                match read.omap.last() {
                    Some((key, _)) if read.more => {
                        after = String::from_utf8_lossy(key).into_owned()
                    }
                    _ => break,
                }
            }
            if began < oldest - HOUR_MS {
                break;
            }
        }
        Ok(Self {
            pairs: Mutex::new(pairs),
            retention_ms,
            swept_hour: AtomicI64::new(now_ms.div_euclid(HOUR_MS)),
        })
    }

    /// Records the pair `hash` at `timestamp_ms`: `Some(entry)` to store when it is new
    /// within the window around `now_ms`, `None` for a repeat.
    pub(crate) fn record(
        &self,
        hash: [u8; 16],
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Option<TxnEntry> {
        let oldest = now_ms - self.retention_ms;
        let mut pairs = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        if pairs.get(&hash).is_some_and(|&seen| seen >= oldest) {
            return None;
        }
        pairs.insert(hash, timestamp_ms);
        let now = now_ms.div_euclid(HOUR_MS);
        if self.swept_hour.swap(now, Ordering::Relaxed) != now {
            pairs.retain(|_, seen| *seen >= oldest);
        }
        Some(TxnEntry { hash, timestamp_ms })
    }
}

/// This machine's clock, Unix milliseconds.
pub(crate) fn clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn unhex(key: &[u8]) -> Option<[u8; 16]> {
    let text = std::str::from_utf8(key).ok()?;
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn stamp(value: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(value.get(..8)?.try_into().ok()?))
}
