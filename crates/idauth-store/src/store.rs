//! The shard's records on sled.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use idauth_core::command::{WriteContext, WriteOutcome};
use idauth_core::{Demographics, ErrorCode, RecordKey, RecordKeys, StorageKey};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::audit::{AuditEntry, AuditRecord};
use crate::audit_log::AuditLog;
use crate::cache::HotCache;
use crate::commit::Committed;
use crate::engine::{Engine, EngineOptions};
use crate::error::{Result, StoreError};
use crate::record::{EnrolledFinger, ResidentRecord, ResidentStatus};
use crate::seal;
use crate::space::Need;
use crate::txns::TxnIndex;

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The engine [`Store::open`] opens (a shared engine has its own).
    pub engine: EngineOptions,
    /// Decoded records kept in memory.
    pub cache_records: usize,
    /// How long a (caller, txn) pair is remembered, milliseconds; must cover the
    /// gateway's whole timestamp window.
    pub txn_retention_ms: i64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            engine: EngineOptions::default(),
            cache_records: 100_000,
            txn_retention_ms: 25 * 3_600_000,
        }
    }
}

/// A change to one record, as the shard has prepared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Change {
    /// A new resident.
    Enrol {
        /// The fingers.
        fingers: Vec<EnrolledFinger>,
        /// The demographics.
        demographics: Demographics,
    },
    /// New fingers.
    ReplaceFingers(Vec<EnrolledFinger>),
    /// New demographics.
    ReplaceDemographics(Demographics),
    /// Retire the record.
    Deactivate,
    /// Lock biometrics (`locked`), or unlock them, until a time or for good.
    SetLock {
        /// Locked after the change.
        locked: bool,
        /// For an unlock of a locked record: when the lock holds again.
        unlocked_until_ms: Option<i64>,
    },
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The outcome to acknowledge once durable.
    pub outcome: WriteOutcome,
    /// Whether this replays an earlier identical request (nothing was written).
    pub replayed: bool,
}

/// The idempotency entry of one (centre, request id).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestEntry {
    /// Hash of the storage key and the change, to tell a resend from a reuse.
    pub(crate) fingerprint: [u8; 32],
    pub(crate) reference: String,
    pub(crate) version: u64,
}

/// One shard's store.
#[derive(Debug)]
pub struct Store {
    engine: Arc<Engine>,
    residents: sled::Tree,
    requests: sled::Tree,
    /// Decoded records with the check value of the key that opened them, so that a
    /// cached record is only served to a request carrying that key.
    cache: HotCache<StorageKey, (ResidentRecord, u32, [u8; 16])>,
    count: AtomicU64,
    txns: Arc<TxnIndex>,
    audit: Arc<AuditLog>,
}

impl Store {
    /// Opens (or creates) the store in `dir`, on an engine of its own.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self> {
        Self::open_in(Engine::open(dir, options.engine)?, "", options)
    }

    /// Opens (or creates) the store whose trees are named with `prefix` on a shared
    /// engine. Distinct stores of one engine need distinct prefixes.
    pub fn open_in(engine: Arc<Engine>, prefix: &str, options: StoreOptions) -> Result<Self> {
        let residents = engine.tree(prefix, "residents")?;
        let requests = engine.tree(prefix, "requests")?;
        let txns = Arc::new(crate::txns::open_converting(
            engine.dir(),
            engine.db(),
            prefix,
            options.txn_retention_ms,
        )?);
        let audit = Arc::new(AuditLog::open(engine.dir(), engine.db(), prefix)?);
        let count = AtomicU64::new(residents.len() as u64);
        engine.attach(&txns);
        Ok(Self {
            engine,
            residents,
            requests,
            cache: HotCache::new(options.cache_records),
            count,
            txns,
            audit,
        })
    }

    /// The record under `key`, from the cache or the engine (opened with `keys`).
    pub fn get(&self, key: &StorageKey, keys: &RecordKeys) -> Result<Option<ResidentRecord>> {
        if let Some((record, key_id, check)) = self.cache.get(key) {
            if keys.by_id(key_id).is_some_and(|k| key_check(k) == check) {
                return Ok(Some(record));
            }
            return Err(StoreError::Refused(ErrorCode::RecordUndecryptable));
        }
        let Some(sealed) = self.residents.get(key.0)? else {
            return Ok(None);
        };
        let record: ResidentRecord = postcard::from_bytes(&seal::open(&sealed, key, keys)?)?;
        let key_id = seal::key_id(&sealed).expect("opened above");
        let opener = keys.by_id(key_id).expect("opened above");
        let version = record.version;
        self.cache.insert_if(
            *key,
            (record.clone(), key_id, key_check(opener)),
            |(cached, _, _)| cached.version < version,
        );
        Ok(Some(record))
    }

    /// Applies a change atomically with its idempotency entry. Not yet durable: call
    /// [`Store::durable`] before acknowledging.
    pub fn apply(
        &self,
        context: &WriteContext,
        key: StorageKey,
        keys: &RecordKeys,
        change: &Change,
        reference: &str,
        now_ms: i64,
    ) -> Result<Applied> {
        self.engine.check_space(Need::Record)?;
        let request_key = request_key(context);
        let current = keys
            .current()
            .ok_or(StoreError::Refused(ErrorCode::RecordUndecryptable))?;
        let fingerprint = fingerprint(current, &key, change)?;
        let result = (&self.residents, &self.requests).transaction(|(residents, requests)| {
            if let Some(bytes) = requests.get(request_key)? {
                let entry: RequestEntry = postcard::from_bytes(&bytes)
                    .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e)))?;
                if entry.fingerprint != fingerprint {
                    return refuse(ErrorCode::RequestIdReused);
                }
                return Ok((
                    Applied {
                        outcome: WriteOutcome {
                            reference: entry.reference,
                            version: entry.version,
                            replayed: true,
                        },
                        replayed: true,
                    },
                    None,
                ));
            }
            let existing =
                match residents.get(key.0)? {
                    Some(sealed) => {
                        let plain = seal::open(&sealed, &key, keys)
                            .map_err(ConflictableTransactionError::Abort)?;
                        Some(postcard::from_bytes::<ResidentRecord>(&plain).map_err(|e| {
                            ConflictableTransactionError::Abort(StoreError::Corrupt(e))
                        })?)
                    }
                    None => None,
                };
            let record = match next_record(existing, change, now_ms) {
                Ok(record) => record,
                Err(code) => return refuse(code),
            };
            let encoded = postcard::to_stdvec(&record)
                .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e)))?;
            let sealed =
                seal::seal(&encoded, &key, current).map_err(ConflictableTransactionError::Abort)?;
            residents.insert(&key.0, sealed)?;
            let entry = RequestEntry {
                fingerprint,
                reference: reference.to_owned(),
                version: record.version,
            };
            let encoded = postcard::to_stdvec(&entry)
                .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e)))?;
            requests.insert(&request_key, encoded)?;
            Ok((
                Applied {
                    outcome: WriteOutcome {
                        reference: reference.to_owned(),
                        version: record.version,
                        replayed: false,
                    },
                    replayed: false,
                },
                Some(record),
            ))
        });
        let (applied, record) = match result {
            Ok(done) => done,
            Err(TransactionError::Abort(error)) => return Err(error),
            Err(TransactionError::Storage(error)) => return Err(StoreError::Engine(error)),
        };
        if let Some(record) = record {
            if record.version == 1 {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            // Two writes of one record can finish their transactions in one order and
            // reach this line in the other: the cache keeps the newer version.
            let version = record.version;
            self.cache.insert_if(
                key,
                (record, current.id, key_check(current)),
                |(cached, _, _)| cached.version < version,
            );
        }
        Ok(applied)
    }

    /// Records a (caller, txn) pair; `false` when the pair was already seen within the
    /// retention window (a replay). Not flushed on its own: it reaches disk with the
    /// next group commit or sled's periodic flush.
    pub fn record_txn(
        &self,
        caller: &str,
        txn: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        self.engine.check_space(Need::Audit)?;
        self.txns.record(caller, txn, timestamp_ms, now_ms)
    }

    /// Appends an audit entry to the chain and returns its sequence number once it,
    /// and every write applied before this call, is on disk.
    pub async fn audit(&self, record: AuditRecord) -> Result<u64> {
        let entry = (Arc::clone(&self.audit), record);
        let Committed { seq, .. } = self.engine.commit(Some(entry)).await?;
        seq.ok_or_else(|| StoreError::Flush("audit entry not appended".into()))
    }

    /// A page of `key`'s audit history: up to `limit` entries older than `before`
    /// (only those under `token`, when given), newest first, and the cursor of the
    /// next page when older entries remain.
    pub fn history(
        &self,
        key: &StorageKey,
        before: Option<u64>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<u64>)> {
        // Reading a history is audited afterwards: refused where that entry could not be written.
        self.engine.check_space(Need::Audit)?;
        let (entries, more) = self.audit.history(key, before, token, limit)?;
        let next = if more {
            entries.last().map(|entry| entry.seq)
        } else {
            None
        };
        Ok((entries, next))
    }

    /// Whether a record (active or not) is stored under `key`; no key is needed.
    pub fn contains(&self, key: &StorageKey) -> Result<bool> {
        Ok(self.residents.contains_key(key.0)?)
    }

    /// Waits until every write applied before this call is on disk.
    pub async fn durable(&self) -> Result<()> {
        self.engine.commit(None).await.map(|_| ())
    }

    /// Residents stored.
    pub fn residents(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Bytes the store occupies on disk: the engine's size, shared evenly among the
    /// stores opened on it (sled cannot tell one tree's size), so that the sum over
    /// an engine's stores is its disk use.
    pub fn size_on_disk(&self) -> u64 {
        self.engine.size_on_disk() / self.engine.stores()
    }

    /// Records held in the hot cache.
    pub fn cached_records(&self) -> usize {
        self.cache.len()
    }
}

/// A short check value of a record key (not the key: a hash of it).
pub(crate) fn key_check(record_key: &RecordKey) -> [u8; 16] {
    let digest = blake3::keyed_hash(&record_key.key, b"idauth record key check v1");
    digest.as_bytes()[..16].try_into().expect("16 bytes")
}

fn refuse<T>(code: ErrorCode) -> std::result::Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(StoreError::Refused(
        code,
    )))
}

/// The record after `change`, or the code that refuses it.
pub(crate) fn next_record(
    existing: Option<ResidentRecord>,
    change: &Change,
    now_ms: i64,
) -> std::result::Result<ResidentRecord, ErrorCode> {
    let mut record = match (existing, change) {
        (
            None,
            Change::Enrol {
                fingers,
                demographics,
            },
        ) => {
            return Ok(ResidentRecord {
                status: ResidentStatus::Active,
                version: 1,
                enrolled_ms: now_ms,
                updated_ms: now_ms,
                demographics: demographics.clone(),
                fingers: fingers.clone(),
                biometrics_locked: false,
                unlocked_until_ms: None,
            });
        }
        (Some(_), Change::Enrol { .. }) => return Err(ErrorCode::ResidentAlreadyEnrolled),
        (None, _) => return Err(ErrorCode::ResidentUnknown),
        (Some(record), _) if record.status == ResidentStatus::Deactivated => {
            return Err(ErrorCode::ResidentDeactivated);
        }
        (Some(record), _) => record,
    };
    match change {
        Change::Enrol { .. } => unreachable!("handled above"),
        Change::ReplaceFingers(fingers) => record.fingers = fingers.clone(),
        Change::ReplaceDemographics(demographics) => record.demographics = demographics.clone(),
        Change::Deactivate => record.status = ResidentStatus::Deactivated,
        Change::SetLock {
            locked,
            unlocked_until_ms,
        } => {
            // A temporary unlock keeps the lock set and lifts it for a while; a lock
            // cancels any unlock in progress.
            let temporary = !*locked && unlocked_until_ms.is_some();
            record.biometrics_locked = *locked || temporary;
            record.unlocked_until_ms = if temporary { *unlocked_until_ms } else { None };
        }
    }
    record.version += 1;
    record.updated_ms = now_ms;
    Ok(record)
}

pub(crate) fn request_key(context: &WriteContext) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"idauth request v1\0");
    hasher.update(&(context.centre_id.len() as u64).to_le_bytes());
    hasher.update(context.centre_id.as_bytes());
    hasher.update(context.request_id.as_bytes());
    *hasher.finalize().as_bytes()
}

/// Keyed with the record key, so the index reveals nothing about the change to anyone
/// without it (demographics have little entropy and could be guessed from a plain hash).
pub(crate) fn fingerprint(
    record_key: &RecordKey,
    key: &StorageKey,
    change: &Change,
) -> Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new_keyed(&record_key.key);
    hasher.update(&key.0);
    hasher.update(&postcard::to_stdvec(change)?);
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests;
