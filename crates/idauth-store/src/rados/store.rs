//! [`ShardStore`] on a RADOS pool. Object names (all in the store's namespace; the
//! resident appears only as its storage key, a keyed hash, never its identifier):
//!
//! - `r.{key}`: the sealed record (the same bytes as on sled); its omap holds the
//!   idempotency entry `q.{request}` of every write applied to it, so a write and its
//!   entry are one atomic operation. Enrolment is an exclusive create; every other
//!   change asserts the version it read (compare-and-swap), and a lost race reads
//!   again.
//! - `q.{request}`: the (centre, request id) guard, created exclusively before the
//!   record is written and holding the write's fingerprint, so that a request id
//!   reused for another resident is refused as on sled.
//! - the audit chain's segments, which also hold the history index and the replay
//!   index (`audit.rs`, `history.rs`, `txns.rs`), written in batches by the chain's one
//!   writer.
//!
//! A write is acknowledged by RADOS once every replica of the acting set has it, so
//! [`ShardStore::durable`] has nothing to wait for.
//!
//! Records are cached in memory: opening the store fences every other client that
//! held the shard (`fence.rs`), so only this process's own writes change them. Of
//! those, a write whose outcome is unknown (a timeout: the OSD may still apply it
//! later) marks its record uncertain, and an uncertain record is read from the pool
//! on every call for the rest of the process's life.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashSet;

use idauth_core::command::WriteOutcome;
use idauth_core::{ErrorCode, RecordKeys, StorageKey};

use super::Cluster;
use super::audit::{Chain, cluster, hex};
use super::client::{EEXIST, ENOENT, EOVERFLOW, ERANGE, Pool, ReadOp, ReadResult, WriteOp};
use super::history::{Place, history};
use super::txns::{Seen, clock_ms};
use crate::audit::{AuditEntry, AuditRecord};
use crate::cache::HotCache;
use crate::error::{Result, StoreError};
use crate::record::ResidentRecord;
use crate::shard_store::{ShardStore, Write};
use crate::store::{Applied, RequestEntry, fingerprint, next_record, request_key};
use crate::{seal, txns};

/// Where and how a RADOS store is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadosOptions {
    /// The cluster's ceph.conf.
    pub conf: PathBuf,
    /// The pool.
    pub pool: String,
    /// The namespace every object of this deployment lives in.
    pub namespace: String,
    /// The name of this store's audit chain (the shard id).
    pub chain: String,
    /// How long one RADOS operation may take before the call fails with ETIMEDOUT
    /// (a placement group below `min_size` blocks writes until then).
    pub op_timeout: Duration,
    /// How long a (caller, txn) pair is remembered, milliseconds.
    pub txn_retention_ms: i64,
    /// Sealed records held in memory (0: none).
    pub cache_records: usize,
}

impl RadosOptions {
    /// Defaults for `conf` and `pool`: namespace `idauth`, chain `shard-0`, a 2 s
    /// operation timeout, the sled store's txn retention and record cache.
    pub fn new(conf: PathBuf, pool: &str) -> Self {
        Self {
            conf,
            pool: pool.to_owned(),
            namespace: "idauth".into(),
            chain: "shard-0".into(),
            op_timeout: Duration::from_secs(2),
            txn_retention_ms: crate::StoreOptions::default().txn_retention_ms,
            cache_records: crate::StoreOptions::default().cache_records,
        }
    }
}

/// One shard's store on a RADOS pool.
#[derive(Debug)]
pub struct RadosStore {
    pool: Arc<Pool>,
    chain: Chain,
    chain_name: String,
    seen: Seen,
    /// Sealed records by storage key, with their version; sealed, so a cached record
    /// opens only for a caller holding its key, as a read from the pool would.
    cache: HotCache<StorageKey, (Arc<Vec<u8>>, u64)>,
    /// Records a write of unknown outcome may still change: never cached.
    uncertain: DashSet<StorageKey>,
    /// Acknowledged record writes, counted per stripe of storage keys: a read from the
    /// pool is cached only if no write of its stripe was acknowledged meanwhile.
    generations: Box<[AtomicU64]>,
    timeout: Duration,
    /// The timeout of a record's write: `timeout`, a field of its own so that the
    /// crate's tests can make a write give up before the cluster answers, the late
    /// landing the uncertain set is for.
    record_write_timeout: Duration,
    residents: AtomicU64,
}

/// The most times a write re-reads a record that another writer changed first.
const CAS_TRIES: usize = 16;

/// Stripes of [`RadosStore::generations`].
const STRIPES: usize = 1024;

pub(crate) fn record_oid(key: &StorageKey) -> String {
    format!("r.{}", hex(&key.0))
}

pub(crate) fn request_oid(request: &[u8; 32]) -> String {
    format!("q.{}", hex(request))
}

impl RadosStore {
    /// Connects (blocking: call it from start-up, not the request path), takes the
    /// shard over (fencing the process that held it), counts the residents stored,
    /// reads the chain's head and starts its writer. Needs a tokio runtime.
    pub async fn open(options: &RadosOptions, cluster: Option<Arc<Cluster>>) -> Result<Self> {
        let cluster = match cluster {
            Some(cluster) => cluster,
            None => Cluster::connect(&options.conf, &[]).map_err(cluster_error)?,
        };
        let pool = Arc::new(
            cluster
                .pool(&options.pool, &options.namespace)
                .map_err(cluster_error)?,
        );
        patiently("taking the shard over", || {
            let (pool, chain) = (Arc::clone(&pool), options.chain.clone());
            async move {
                let taken = tokio::task::spawn_blocking(move || super::take_over(&pool, &chain))
                    .await
                    .map_err(|e| StoreError::Flush(e.to_string()))?;
                taken.map_err(cluster_error)
            }
        })
        .await?;
        let residents = patiently("counting the residents", || {
            let pool = Arc::clone(&pool);
            async move {
                let listed = tokio::task::spawn_blocking(move || pool.list("r."))
                    .await
                    .map_err(|e| StoreError::Flush(e.to_string()))?;
                Ok(listed.map_err(cluster_error)?.len() as u64)
            }
        })
        .await?;
        let seen = patiently("reading the replay index", || {
            Seen::load(
                &pool,
                &options.chain,
                options.txn_retention_ms,
                clock_ms(),
                options.op_timeout,
            )
        })
        .await?;
        let chain = patiently("reading the audit chain's head", || {
            Chain::open(Arc::clone(&pool), options.chain.clone(), options.op_timeout)
        })
        .await?;
        Ok(Self {
            pool,
            chain,
            chain_name: options.chain.clone(),
            seen,
            cache: HotCache::new(options.cache_records),
            uncertain: DashSet::new(),
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            timeout: options.op_timeout,
            record_write_timeout: options.op_timeout,
            residents: AtomicU64::new(residents),
        })
    }

    /// The pool this store is on (tools: `audit verify`, `store copy`).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Caches `sealed` (record `version`) unless a newer version is cached (of two
    /// racing inserts the newer wins whatever their order) or the record is
    /// uncertain. The second look at `uncertain` catches a write that timed out
    /// between the first and the insert: it marks before it evicts, so either it
    /// evicts this insert or this look sees its mark.
    fn remember(&self, key: &StorageKey, sealed: Arc<Vec<u8>>, version: u64) {
        if self.uncertain.contains(key) {
            return;
        }
        self.cache
            .insert_if(*key, (sealed, version), |(_, cached)| *cached < version);
        if self.uncertain.contains(key) {
            self.cache.remove(key);
        }
    }

    fn generation(&self, key: &StorageKey) -> &AtomicU64 {
        let stripe = usize::from(u16::from_le_bytes([key.0[0], key.0[1]])) % STRIPES;
        &self.generations[stripe]
    }

    /// Caches a record read from the pool when the read began at generation
    /// `before`. A write acknowledged since may have cached its newer version first
    /// (then this older one is not inserted) and seen it evicted again (then this one
    /// would be): so if the generation moved, the key is dropped instead, a miss.
    fn fill(&self, key: &StorageKey, sealed: Arc<Vec<u8>>, version: u64, before: u64) {
        self.remember(key, sealed, version);
        if self.generation(key).load(Ordering::SeqCst) != before {
            self.cache.remove(key);
        }
    }

    /// A write of `key` whose outcome is unknown: it may land at any later time.
    fn unsure(&self, key: &StorageKey) {
        self.uncertain.insert(*key);
        self.cache.remove(key);
    }

    /// The record's sealed bytes, version and the idempotency entry of `request`.
    async fn read_record(
        &self,
        key: &StorageKey,
        request: Option<&[u8; 32]>,
    ) -> Result<Option<(Vec<u8>, u64, Option<RequestEntry>)>> {
        let mut op = ReadOp::default().data();
        if let Some(request) = request {
            op = op.omap_keys(vec![request_oid(request).into_bytes()]);
        }
        match self.pool.read(&record_oid(key), op, self.timeout).await {
            Ok(read) => {
                let entry = match read.omap.first() {
                    Some((_, bytes)) => Some(postcard::from_bytes(bytes)?),
                    None => None,
                };
                Ok(Some((read.data, read.version, entry)))
            }
            Err(e) if e.errno == ENOENT => Ok(None),
            Err(e) => Err(cluster(e)),
        }
    }

    /// Creates the (centre, request id) guard; `Ok(Guard::Created)` when this call
    /// created it, `Ok(Guard::Resend(_))` for a resend of the same write (with its
    /// entry when the guard holds one: a write copied from sled by `store copy`),
    /// REQUEST_ID_REUSED for another.
    async fn guard(&self, request: &[u8; 32], fingerprint: &[u8; 32]) -> Result<Guard> {
        let Some(read) = self
            .create_or_read(&request_oid(request), fingerprint.to_vec())
            .await?
        else {
            return Ok(Guard::Created);
        };
        if read.data.get(..32) != Some(&fingerprint[..]) {
            return Err(StoreError::Refused(ErrorCode::RequestIdReused));
        }
        let copied = match read.data.get(32..) {
            Some(entry) if !entry.is_empty() => Some(postcard::from_bytes(entry)?),
            _ => None,
        };
        Ok(Guard::Resend(copied))
    }

    /// Creates `oid` holding `data` (`None`), or reads it when it exists already.
    async fn create_or_read(&self, oid: &str, data: Vec<u8>) -> Result<Option<ReadResult>> {
        let op = WriteOp::default().create_exclusive().write_full(data);
        match self.pool.write(oid, op, self.timeout).await {
            Ok(_) => Ok(None),
            Err(e) if e.errno == EEXIST => self
                .pool
                .read(oid, ReadOp::default().data(), self.timeout)
                .await
                .map(Some)
                .map_err(cluster),
            Err(e) => Err(cluster(e)),
        }
    }

    async fn apply_once(&self, write: &Write<'_>, request: &[u8; 32]) -> Result<Option<Applied>> {
        let current = write
            .keys
            .current()
            .ok_or(StoreError::Refused(ErrorCode::RecordUndecryptable))?;
        let stored = self.read_record(&write.key, Some(request)).await?;
        let (existing, version) = match stored {
            Some((_, _, Some(entry))) => return Ok(Some(replayed(entry))),
            Some((sealed, version, None)) => {
                let plain = seal::open(&sealed, &write.key, write.keys)?;
                (
                    Some(postcard::from_bytes::<ResidentRecord>(&plain)?),
                    Some(version),
                )
            }
            None => (None, None),
        };
        let record =
            next_record(existing, write.change, write.now_ms).map_err(StoreError::Refused)?;
        let sealed = seal::seal(&postcard::to_stdvec(&record)?, &write.key, current)?;
        let entry = RequestEntry {
            fingerprint: fingerprint(current, &write.key, write.change)?,
            reference: write.reference.to_owned(),
            version: record.version,
        };
        let mut op = match version {
            None => WriteOp::default().create_exclusive(),
            Some(version) => WriteOp::default().assert_version(version),
        };
        let sealed = Arc::new(sealed);
        op = op.write_full(sealed.to_vec()).omap_set(
            request_oid(request).into_bytes(),
            postcard::to_stdvec(&entry)?,
        );
        match self
            .pool
            .write(&record_oid(&write.key), op, self.record_write_timeout)
            .await
        {
            Ok(_) => {
                if record.version == 1 {
                    self.residents.fetch_add(1, Ordering::Relaxed);
                }
                self.generation(&write.key).fetch_add(1, Ordering::SeqCst);
                self.remember(&write.key, sealed, record.version);
                Ok(Some(Applied {
                    outcome: WriteOutcome {
                        reference: write.reference.to_owned(),
                        version: record.version,
                        replayed: false,
                    },
                    replayed: false,
                }))
            }
            // Another write of this process got there first (and cached its version):
            // read again, from the pool.
            Err(e) if [EEXIST, ERANGE, EOVERFLOW].contains(&e.errno) => Ok(None),
            Err(e) => {
                self.unsure(&write.key);
                Err(cluster(e))
            }
        }
    }
}

/// How long a start waits for a cluster that times out (placement groups peering
/// after an OSD restart, say) before it gives up.
const START_PATIENCE: Duration = Duration::from_secs(90);

/// Runs `step` again while the cluster times out, up to [`START_PATIENCE`], saying so
/// once: a service started while the cluster recovers waits for it instead of exiting.
async fn patiently<T, F: std::future::Future<Output = Result<T>>>(
    what: &'static str,
    mut step: impl FnMut() -> F,
) -> Result<T> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        match step().await {
            Err(StoreError::Cluster { errno, .. })
                if errno == super::ETIMEDOUT && started.elapsed() < START_PATIENCE =>
            {
                if !said {
                    tracing::warn!(step = what, "the Ceph cluster does not answer yet; waiting");
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// What the request-id guard says of a write.
enum Guard {
    /// New: this call created the guard.
    Created,
    /// A resend of the same write; with its outcome when the guard holds it.
    Resend(Option<RequestEntry>),
}

fn replayed(entry: RequestEntry) -> Applied {
    Applied {
        outcome: WriteOutcome {
            reference: entry.reference,
            version: entry.version,
            replayed: true,
        },
        replayed: true,
    }
}

fn cluster_error(error: super::RadosError) -> StoreError {
    cluster(error)
}

#[async_trait::async_trait]
impl ShardStore for RadosStore {
    /// From the cache unless the record is uncertain (see the module's notes: the
    /// crash harness once caught a cache serving the fingers of before an update that
    /// had timed out, landed late and was then acknowledged to its resend).
    async fn get(&self, key: &StorageKey, keys: &RecordKeys) -> Result<Option<ResidentRecord>> {
        if let Some((sealed, _)) = self.cache.get(key) {
            return Ok(Some(postcard::from_bytes(&seal::open(
                &sealed, key, keys,
            )?)?));
        }
        let before = self.generation(key).load(Ordering::SeqCst);
        let Some((sealed, _, _)) = self.read_record(key, None).await? else {
            return Ok(None);
        };
        let record: ResidentRecord = postcard::from_bytes(&seal::open(&sealed, key, keys)?)?;
        self.fill(key, Arc::new(sealed), record.version, before);
        Ok(Some(record))
    }

    async fn contains(&self, key: &StorageKey) -> Result<bool> {
        if self.cache.get(key).is_some() {
            return Ok(true);
        }
        match self
            .pool
            .read(&record_oid(key), ReadOp::default(), self.timeout)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.errno == ENOENT => Ok(false),
            Err(e) => Err(cluster(e)),
        }
    }

    async fn apply(&self, write: Write<'_>) -> Result<Applied> {
        let current = write
            .keys
            .current()
            .ok_or(StoreError::Refused(ErrorCode::RecordUndecryptable))?;
        let request = request_key(write.context);
        let print = fingerprint(current, &write.key, write.change)?;
        let created = match self.guard(&request, &print).await? {
            Guard::Created => true,
            Guard::Resend(Some(entry)) => return Ok(replayed(entry)),
            Guard::Resend(None) => false,
        };
        for _ in 0..CAS_TRIES {
            match self.apply_once(&write, &request).await {
                Ok(Some(applied)) => return Ok(applied),
                Ok(None) => continue,
                Err(StoreError::Refused(code)) => {
                    if created {
                        // Refused, so nothing was written: free the request id, as sled
                        // (which writes nothing on a refusal) leaves it free.
                        let _ = self
                            .pool
                            .write(
                                &request_oid(&request),
                                WriteOp::default().remove(),
                                self.timeout,
                            )
                            .await;
                    }
                    return Err(StoreError::Refused(code));
                }
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Cluster {
            op: "compare-and-swap: the record kept changing",
            errno: super::ETIMEDOUT,
        })
    }

    async fn durable(&self) -> Result<()> {
        Ok(())
    }

    async fn record_txn(
        &self,
        caller: &str,
        txn: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let Some(entry) = self
            .seen
            .record(txns::txn_hash(caller, txn), timestamp_ms, now_ms)
        else {
            return Ok(false);
        };
        self.chain.note_txn(entry)?;
        Ok(true)
    }

    async fn audit(&self, record: AuditRecord) -> Result<u64> {
        self.chain.append(record).await
    }

    async fn history(
        &self,
        key: &StorageKey,
        before: Option<u64>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<u64>)> {
        let place = Place {
            pool: &self.pool,
            chain: &self.chain_name,
            newest: self.chain.newest_segment(),
            timeout: self.timeout,
        };
        let (entries, more) = history(&place, key, before, token, limit).await?;
        let next = if more {
            entries.last().map(|entry| entry.seq)
        } else {
            None
        };
        Ok((entries, next))
    }

    fn residents(&self) -> u64 {
        self.residents.load(Ordering::Relaxed)
    }

    fn size_bytes(&self) -> u64 {
        self.pool.stat().map_or(0, |stat| stat.num_bytes)
    }

    fn engine(&self) -> &'static str {
        "rados"
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
