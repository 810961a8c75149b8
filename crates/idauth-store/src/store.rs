//! The shard's records on sled.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use idauth_core::command::{WriteContext, WriteOutcome};
use idauth_core::{Demographics, ErrorCode, RecordKey, RecordKeys, StorageKey};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::cache::HotCache;
use crate::commit::{Durability, GroupCommit};
use crate::error::{Result, StoreError};
use crate::record::{EnrolledFinger, ResidentRecord, ResidentStatus};
use crate::seal;
use crate::txns::TxnIndex;

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How writes become durable.
    pub durability: Durability,
    /// Decoded records kept in memory.
    pub cache_records: usize,
    /// How long a (caller, txn) pair is remembered, milliseconds; must cover the
    /// gateway's whole timestamp window.
    pub txn_retention_ms: i64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::GroupCommit,
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
#[derive(Debug, Serialize, Deserialize)]
struct RequestEntry {
    /// Hash of the storage key and the change, to tell a resend from a reuse.
    fingerprint: [u8; 32],
    reference: String,
    version: u64,
}

/// One shard's store.
#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    residents: sled::Tree,
    requests: sled::Tree,
    commit: GroupCommit,
    durability: Durability,
    /// Decoded records with the check value of the key that opened them, so that a
    /// cached record is only served to a request carrying that key.
    cache: HotCache<StorageKey, (ResidentRecord, u32, [u8; 16])>,
    count: AtomicU64,
    txns: TxnIndex,
    audit: AuditLog,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self> {
        let db = sled::Config::new().path(dir).open()?;
        let residents = db.open_tree("residents")?;
        let requests = db.open_tree("requests")?;
        let txns = TxnIndex::new(db.open_tree("txns")?, options.txn_retention_ms);
        let audit = AuditLog::open(db.open_tree("audit")?, db.open_tree("history")?)?;
        let count = AtomicU64::new(residents.len() as u64);
        let commit = GroupCommit::start(db.clone())
            .map_err(|error| StoreError::Flush(format!("cannot start flush thread: {error}")))?;
        Ok(Self {
            db,
            residents,
            requests,
            commit,
            durability: options.durability,
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
        self.cache
            .insert(*key, (record.clone(), key_id, key_check(opener)));
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
            self.cache
                .insert(key, (record, current.id, key_check(current)));
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
        self.txns.record(caller, txn, timestamp_ms, now_ms)
    }

    /// Appends an audit entry; durable with the next [`Store::durable`].
    pub fn audit(&self, record: AuditRecord) -> Result<u64> {
        self.audit.append(record)
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
        match self.durability {
            Durability::GroupCommit => self.commit.durable().await.map(|_| ()),
            Durability::FlushEach => {
                let db = self.db.clone();
                tokio::task::spawn_blocking(move || db.flush())
                    .await
                    .map_err(|error| StoreError::Flush(error.to_string()))??;
                Ok(())
            }
        }
    }

    /// Residents stored.
    pub fn residents(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Records held in the hot cache.
    pub fn cached_records(&self) -> usize {
        self.cache.len()
    }
}

/// A short check value of a record key (not the key: a hash of it).
fn key_check(record_key: &RecordKey) -> [u8; 16] {
    let digest = blake3::keyed_hash(&record_key.key, b"idauth record key check v1");
    digest.as_bytes()[..16].try_into().expect("16 bytes")
}

fn refuse<T>(code: ErrorCode) -> std::result::Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(StoreError::Refused(
        code,
    )))
}

/// The record after `change`, or the code that refuses it.
fn next_record(
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

fn request_key(context: &WriteContext) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"idauth request v1\0");
    hasher.update(&(context.centre_id.len() as u64).to_le_bytes());
    hasher.update(context.centre_id.as_bytes());
    hasher.update(context.request_id.as_bytes());
    *hasher.finalize().as_bytes()
}

/// Keyed with the record key, so the index reveals nothing about the change to anyone
/// without it (demographics have little entropy and could be guessed from a plain hash).
fn fingerprint(record_key: &RecordKey, key: &StorageKey, change: &Change) -> Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new_keyed(&record_key.key);
    hasher.update(&key.0);
    hasher.update(&postcard::to_stdvec(change)?);
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_core::{FingerPosition, TemplateFormat};

    fn context(request: &str) -> WriteContext {
        WriteContext {
            caller_id: "centre-key".into(),
            token: "tok".into(),
            centre_id: "c1".into(),
            request_id: request.into(),
            timestamp_ms: 0,
        }
    }

    fn enrol(name: &str) -> Change {
        Change::Enrol {
            fingers: vec![EnrolledFinger {
                position: FingerPosition::RightThumb,
                format: TemplateFormat::Iso19794_2_2005,
                template: vec![1, 2, 3],
                minutiae_used: 3,
            }],
            demographics: Demographics {
                name: name.into(),
                ..Demographics::default()
            },
        }
    }

    fn open(dir: &Path) -> Store {
        Store::open(dir, StoreOptions::default()).unwrap()
    }

    fn keys() -> RecordKeys {
        RecordKeys(vec![RecordKey {
            id: 1,
            key: [8; 32],
        }])
    }

    #[tokio::test]
    async fn enrol_is_idempotent_by_request_and_refuses_a_second_enrolment() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let key = StorageKey([1; 32]);
        let first = store
            .apply(&context("r1"), key, &keys(), &enrol("A"), "ref-1", 5)
            .unwrap();
        store.durable().await.unwrap();
        assert_eq!(first.outcome.version, 1);
        assert!(!first.replayed);
        let again = store
            .apply(&context("r1"), key, &keys(), &enrol("A"), "ref-2", 6)
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.outcome.reference, "ref-1");
        let reused = store.apply(&context("r1"), key, &keys(), &enrol("B"), "ref-3", 6);
        assert_eq!(reused.unwrap_err().code(), ErrorCode::RequestIdReused);
        let second = store.apply(&context("r2"), key, &keys(), &enrol("B"), "ref-4", 6);
        assert_eq!(
            second.unwrap_err().code(),
            ErrorCode::ResidentAlreadyEnrolled
        );
        assert_eq!(store.residents(), 1);
        assert_eq!(
            store.get(&key, &keys()).unwrap().unwrap().demographics.name,
            "A"
        );
    }

    #[tokio::test]
    async fn updates_bump_the_version_and_deactivation_blocks_further_updates() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let key = StorageKey([2; 32]);
        let unknown = store.apply(&context("u0"), key, &keys(), &Change::Deactivate, "r", 1);
        assert_eq!(unknown.unwrap_err().code(), ErrorCode::ResidentUnknown);
        store
            .apply(&context("e"), key, &keys(), &enrol("A"), "r", 1)
            .unwrap();
        let renamed = Change::ReplaceDemographics(Demographics {
            name: "C".into(),
            ..Demographics::default()
        });
        let applied = store
            .apply(&context("u1"), key, &keys(), &renamed, "r", 2)
            .unwrap();
        assert_eq!(applied.outcome.version, 2);
        store
            .apply(&context("u2"), key, &keys(), &Change::Deactivate, "r", 3)
            .unwrap();
        let after = store.apply(&context("u3"), key, &keys(), &renamed, "r", 4);
        assert_eq!(after.unwrap_err().code(), ErrorCode::ResidentDeactivated);
        let record = store.get(&key, &keys()).unwrap().unwrap();
        assert_eq!(record.status, ResidentStatus::Deactivated);
        assert_eq!(record.version, 3);
    }

    #[tokio::test]
    async fn the_audit_chain_detects_edits_removals_and_reorders() {
        let dir = tempfile::tempdir().unwrap();
        let append = |store: &Store, n: u64| {
            for i in 0..n {
                store
                    .audit(AuditRecord {
                        time_ms: i as i64,
                        caller: "agency".into(),
                        operation: "verify".into(),
                        reference: format!("ref-{i}"),
                        ..AuditRecord::default()
                    })
                    .unwrap();
            }
        };
        {
            let store = open(dir.path());
            append(&store, 3);
        }
        {
            // The chain continues across a reopen.
            let store = open(dir.path());
            append(&store, 2);
            assert_eq!(crate::verify_chain(&store.db).unwrap(), Ok(5));
        }
        let tamper = |edit: &dyn Fn(&sled::Tree)| {
            let copy = tempfile::tempdir().unwrap();
            for file in std::fs::read_dir(dir.path()).unwrap() {
                let file = file.unwrap();
                if file.path().is_file() {
                    std::fs::copy(file.path(), copy.path().join(file.file_name())).unwrap();
                } else {
                    let to = copy.path().join(file.file_name());
                    std::fs::create_dir_all(&to).unwrap();
                    for inner in std::fs::read_dir(file.path()).unwrap() {
                        let inner = inner.unwrap();
                        std::fs::copy(inner.path(), to.join(inner.file_name())).unwrap();
                    }
                }
            }
            let db = sled::open(copy.path()).unwrap();
            edit(&db.open_tree("audit").unwrap());
            db.flush().unwrap();
            crate::verify_chain(&db).unwrap().unwrap_err()
        };
        let key = |seq: u64| seq.to_be_bytes();
        let edited = tamper(&|tree| {
            let bytes = tree.get(key(2)).unwrap().unwrap().to_vec();
            let at = bytes.windows(5).position(|w| w == b"ref-2").unwrap();
            let mut edited = bytes.clone();
            edited[at + 4] = b'9';
            tree.insert(key(2), edited).unwrap();
        });
        assert_eq!(edited.seq, 2, "{edited:?}");
        let removed = tamper(&|tree| {
            tree.remove(key(1)).unwrap();
        });
        assert_eq!(removed.seq, 1, "{removed:?}");
        let swapped = tamper(&|tree| {
            let (a, b) = (
                tree.get(key(1)).unwrap().unwrap(),
                tree.get(key(2)).unwrap().unwrap(),
            );
            tree.insert(key(1), b).unwrap();
            tree.insert(key(2), a).unwrap();
        });
        assert_eq!(swapped.seq, 1, "{swapped:?}");
        let last_edited = tamper(&|tree| {
            let mut bytes = tree.get(key(4)).unwrap().unwrap().to_vec();
            bytes[2] ^= 1;
            tree.insert(key(4), bytes).unwrap();
        });
        assert_eq!(last_edited.seq, 4, "{last_edited:?}");
        let truncated = tamper(&|tree| {
            tree.remove(key(4)).unwrap();
        });
        assert_eq!(truncated.seq, 4, "{truncated:?}");
    }

    #[tokio::test]
    async fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            for i in 0..50u8 {
                store
                    .apply(
                        &context(&format!("r{i}")),
                        StorageKey([i; 32]),
                        &keys(),
                        &enrol("A"),
                        "r",
                        1,
                    )
                    .unwrap();
            }
            store.durable().await.unwrap();
        }
        let store = open(dir.path());
        assert_eq!(store.residents(), 50);
        assert!(store.get(&StorageKey([49; 32]), &keys()).unwrap().is_some());
        // A fresh store (no cache) cannot open a record with another master key.
        let wrong = RecordKeys(vec![RecordKey {
            id: 1,
            key: [9; 32],
        }]);
        let error = store.get(&StorageKey([48; 32]), &wrong).unwrap_err();
        assert_eq!(error.code(), ErrorCode::RecordUndecryptable);
    }

    #[tokio::test]
    async fn concurrent_writers_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(open(dir.path()));
        let mut tasks = Vec::new();
        for i in 0..64u8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .apply(
                        &context(&format!("c{i}")),
                        StorageKey([i; 32]),
                        &keys(),
                        &enrol("A"),
                        "r",
                        1,
                    )
                    .unwrap();
                store.commit.durable().await.unwrap()
            }));
        }
        let mut largest_batch = 0;
        for task in tasks {
            largest_batch = largest_batch.max(task.await.unwrap());
        }
        assert_eq!(store.residents(), 64);
        assert!(largest_batch > 1, "no fsync was shared");
    }

    #[test]
    fn history_pages_one_residents_entries_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let (a, b) = (StorageKey([1; 32]), StorageKey([2; 32]));
        for (n, subject) in [a, b, a, a, b, a, a].into_iter().enumerate() {
            store
                .audit(AuditRecord {
                    reference: format!("r{n}"),
                    token: format!("t{}", n % 3),
                    subject: Some(subject),
                    ..AuditRecord::default()
                })
                .unwrap();
        }
        // An entry about no resident joins no history.
        store.audit(AuditRecord::default()).unwrap();
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let (page, next) = store.history(&a, before, None, 2).unwrap();
            seen.extend(page.into_iter().map(|entry| entry.reference));
            match next {
                Some(cursor) => before = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, ["r6", "r5", "r3", "r2", "r0"]);
        let (page, next) = store.history(&b, None, None, 10).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(next, None);
        let (page, _) = store.history(&StorageKey([3; 32]), None, None, 10).unwrap();
        assert!(page.is_empty());
        // Only the entries under one token; the cursor skips the others.
        let (page, next) = store.history(&a, None, Some("t2"), 1).unwrap();
        assert_eq!(page[0].reference, "r5");
        let (page, next) = store.history(&a, next, Some("t2"), 1).unwrap();
        assert_eq!((page[0].reference.as_str(), next), ("r2", None));
    }
}
