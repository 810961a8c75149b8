//! The replay index on RADOS: (caller, txn) pairs in hour buckets, as on sled
//! (`crate::txns`), with the pairs of the retention window also held in memory.
//!
//! `{chain}.t.{hour:08x}` holds omap `{txn hash hex}` -> the request's timestamp for
//! the pairs whose timestamp falls in that hour. A verify checks and records its pair in
//! memory, at once, and the chain's writer puts it in the next batch ahead of the
//! verify's own audit entry, so the pair is on every replica before the verify is
//! answered, at the cost of a share of a batch instead of a write per verify. Memory
//! answers because one process writes a shard's chain (the same rule the chain's head
//! relies on); a start reads the window's buckets back. Buckets past the window are
//! removed whole, hour by hour, so the index does not grow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::audit::{cluster, hex};
use super::client::{ENOENT, Pool, ReadOp, WriteOp};
use crate::error::Result;

const HOUR_MS: i64 = 3_600_000;

/// Hours of buckets removed behind the window when a start finds them.
const SWEEP_BEHIND: i64 = 48;

/// One pair, as the writer stores it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnEntry {
    pub(crate) hash: [u8; 16],
    pub(crate) timestamp_ms: i64,
}

fn hour(timestamp_ms: i64) -> i64 {
    timestamp_ms.div_euclid(HOUR_MS).max(0)
}

pub(crate) fn bucket_oid(chain: &str, hour: i64) -> String {
    format!("{chain}.t.{hour:08x}")
}

/// The pairs seen within the retention window.
#[derive(Debug)]
pub(crate) struct Seen {
    pairs: Mutex<HashMap<[u8; 16], i64>>,
    retention_ms: i64,
    /// The hour the last sweep of memory and buckets ran in.
    swept_hour: AtomicI64,
}

impl Seen {
    /// Reads the buckets of the window around `now_ms` and removes older ones.
    pub(crate) async fn load(
        pool: &Pool,
        chain: &str,
        retention_ms: i64,
        now_ms: i64,
        timeout: Duration,
    ) -> Result<Self> {
        let now = hour(now_ms);
        let window = retention_ms.div_euclid(HOUR_MS) + 1;
        let mut pairs = HashMap::new();
        for h in (now - window).max(0)..=now + 1 {
            let mut after = String::new();
            loop {
                let op = ReadOp::default().omap_after(&after, "", 4096);
                let read = match pool.read(&bucket_oid(chain, h), op, timeout).await {
                    Ok(read) => read,
                    Err(e) if e.errno == ENOENT => break,
                    Err(e) => return Err(cluster(e)),
                };
                for (key, value) in &read.omap {
                    let (Some(hash), Some(stamp)) = (unhex(key), stamp(value)) else {
                        continue;
                    };
                    pairs.insert(hash, stamp);
                }
                match read.omap.last() {
                    Some((key, _)) if read.more => {
                        after = String::from_utf8_lossy(key).into_owned()
                    }
                    _ => break,
                }
            }
        }
        sweep(
            pool,
            chain,
            (now - window - SWEEP_BEHIND).max(0)..now - window,
            timeout,
        )
        .await?;
        Ok(Self {
            pairs: Mutex::new(pairs),
            retention_ms,
            swept_hour: AtomicI64::new(now),
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
        let now = hour(now_ms);
        if self.swept_hour.swap(now, Ordering::Relaxed) != now {
            pairs.retain(|_, seen| *seen >= oldest);
        }
        Some(TxnEntry { hash, timestamp_ms })
    }
}

/// Writes a batch's pairs, one operation per hour bucket.
pub(crate) async fn write(
    pool: &Pool,
    chain: &str,
    timeout: Duration,
    entries: &[TxnEntry],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut buckets: HashMap<i64, WriteOp> = HashMap::new();
    for entry in entries {
        let op = buckets
            .remove(&hour(entry.timestamp_ms))
            .unwrap_or_default();
        buckets.insert(
            hour(entry.timestamp_ms),
            op.omap_set(
                hex(&entry.hash).into_bytes(),
                entry.timestamp_ms.to_le_bytes().to_vec(),
            ),
        );
    }
    let writes = buckets
        .into_iter()
        .map(|(h, op)| async move { pool.write(&bucket_oid(chain, h), op, timeout).await });
    for written in futures_util::future::join_all(writes).await {
        written.map_err(cluster)?;
    }
    Ok(())
}

/// The hours of buckets that have left the window of `retention_ms` since `swept`
/// (an hour number; `None` at first), by the clock at `now_ms`.
pub(crate) fn left_window(
    swept: Option<i64>,
    retention_ms: i64,
    now_ms: i64,
) -> std::ops::Range<i64> {
    let window = retention_ms.div_euclid(HOUR_MS) + 1;
    let end = (hour(now_ms) - window).max(0);
    swept.map_or(end..end, |swept| (swept - window).max(0)..end)
}

/// This machine's clock, Unix milliseconds.
pub(crate) fn clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The hour of `now_ms`.
pub(crate) fn hour_of(now_ms: i64) -> i64 {
    hour(now_ms)
}

/// Removes the buckets of `hours` (absent ones are fine).
pub(crate) async fn sweep(
    pool: &Pool,
    chain: &str,
    hours: std::ops::Range<i64>,
    timeout: Duration,
) -> Result<()> {
    let removes = hours.map(|h| async move {
        match pool
            .write(&bucket_oid(chain, h), WriteOp::default().remove(), timeout)
            .await
        {
            Err(e) if e.errno != ENOENT => Err(cluster(e)),
            _ => Ok(()),
        }
    });
    for removed in futures_util::future::join_all(removes).await {
        removed?;
    }
    Ok(())
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
