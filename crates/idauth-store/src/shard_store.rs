//! The one storage trait a shard keeps its state behind: sled ([`Store`](crate::Store))
//! on one machine, Ceph RADOS at scale (the `rados` feature).

use idauth_core::command::WriteContext;
use idauth_core::{RecordKeys, StorageKey};

use crate::audit::{AuditEntry, AuditRecord};
use crate::error::Result;
use crate::record::ResidentRecord;
use crate::store::{Applied, Change};

/// A write as the shard has prepared it.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// Who asked, and the (centre, request id) pair that makes it idempotent.
    pub context: &'a WriteContext,
    /// The resident's storage key (a keyed hash of the identifier).
    pub key: StorageKey,
    /// The record keys: the current one seals, any opens.
    pub keys: &'a RecordKeys,
    /// The change.
    pub change: &'a Change,
    /// The reference code the write is acknowledged with.
    pub reference: &'a str,
    /// The service's clock, milliseconds since the epoch.
    pub now_ms: i64,
}

/// One shard's persistence: resident records with versions, the idempotency index,
/// the replay (txn) index, and the audit chain with its per-resident history index.
///
/// Every engine gives the same answers to the same calls: the conformance suite in
/// `tests/conformance.rs` runs against each.
#[async_trait::async_trait]
pub trait ShardStore: Send + Sync + std::fmt::Debug {
    /// The record under `key`, opened with `keys`; `None` when none is stored.
    async fn get(&self, key: &StorageKey, keys: &RecordKeys) -> Result<Option<ResidentRecord>>;

    /// Whether a record (active or not) is stored under `key`; no key is needed.
    async fn contains(&self, key: &StorageKey) -> Result<bool>;

    /// Applies a change atomically with its idempotency entry: an enrolment creates
    /// (refused if a record exists), other changes replace the version they read
    /// (compare-and-swap). A resend of the same (centre, request id) with the same
    /// change answers `replayed`; with another change, REQUEST_ID_REUSED. Durable only
    /// once [`ShardStore::durable`] or [`ShardStore::audit`] returns after it.
    async fn apply(&self, write: Write<'_>) -> Result<Applied>;

    /// Waits until every write applied before this call is durable.
    async fn durable(&self) -> Result<()>;

    /// Records a (caller, txn) pair; `false` when the pair was already seen within the
    /// retention window (a replay).
    async fn record_txn(
        &self,
        caller: &str,
        txn: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<bool>;

    /// Appends an audit entry to the chain; returns its sequence number once it, and
    /// every write applied before this call, is durable.
    async fn audit(&self, record: AuditRecord) -> Result<u64>;

    /// A page of `key`'s audit history: up to `limit` entries older than `before`
    /// (only those under `token`, when given), newest first, and the cursor of the
    /// next page when older entries remain.
    async fn history(
        &self,
        key: &StorageKey,
        before: Option<u64>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<u64>)>;

    /// Residents stored.
    fn residents(&self) -> u64;

    /// Bytes the store occupies (on this machine's disk, or in the pool before
    /// replication).
    fn size_bytes(&self) -> u64;

    /// The engine's name, for logs and reports ("sled", "rados").
    fn engine(&self) -> &'static str;
}

/// Runs a sled call where it cannot stall the async reactor: sled is in memory most
/// of the time but may wait on a page read or its IO buffer, and a worker thread of a
/// multi-threaded runtime that waits also delays the tasks queued on it (a shard's
/// health answers, with a 30 ms deadline). On a current-thread runtime (tests) it runs
/// in place.
///
/// Calls take a slot first: each call blocked in place hands its worker's queue to
/// another thread of tokio's blocking pool, so the number blocked at once is what
/// sizes that pool (`idauth serve` caps it to match; the soak saw it at 35 threads
/// uncapped), and threads waiting on sled's own IO lock are threads not serving.
async fn off_reactor<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            // The semaphore is never closed, so the permit always comes.
            let _slot = blocking_slots().acquire().await.ok();
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

/// Two sled calls blocked in place per core: enough to keep the cores busy while one
/// waits on a page read.
fn blocking_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(2 * cores)
    })
}

#[async_trait::async_trait]
impl ShardStore for crate::Store {
    async fn get(&self, key: &StorageKey, keys: &RecordKeys) -> Result<Option<ResidentRecord>> {
        off_reactor(|| crate::Store::get(self, key, keys)).await
    }

    async fn contains(&self, key: &StorageKey) -> Result<bool> {
        off_reactor(|| crate::Store::contains(self, key)).await
    }

    async fn apply(&self, write: Write<'_>) -> Result<Applied> {
        let Write {
            context,
            key,
            keys,
            change,
            reference,
            now_ms,
        } = write;
        off_reactor(|| crate::Store::apply(self, context, key, keys, change, reference, now_ms))
            .await
    }

    async fn durable(&self) -> Result<()> {
        crate::Store::durable(self).await
    }

    async fn record_txn(
        &self,
        caller: &str,
        txn: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        off_reactor(|| crate::Store::record_txn(self, caller, txn, timestamp_ms, now_ms)).await
    }

    async fn audit(&self, record: AuditRecord) -> Result<u64> {
        crate::Store::audit(self, record).await
    }

    async fn history(
        &self,
        key: &StorageKey,
        before: Option<u64>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<u64>)> {
        off_reactor(|| crate::Store::history(self, key, before, token, limit)).await
    }

    fn residents(&self) -> u64 {
        crate::Store::residents(self)
    }

    fn size_bytes(&self) -> u64 {
        crate::Store::size_on_disk(self)
    }

    fn engine(&self) -> &'static str {
        "sled"
    }
}
