//! One conformance suite of the storage trait, run against every engine: sled always,
//! RADOS with the `rados` feature and a test cluster (`deploy/ceph/dev-cluster.sh
//! start`; without one the RADOS cases skip with the reason, and fail under CI=true).

use std::sync::Arc;

use idauth_core::command::WriteContext;
use idauth_core::{
    Demographics, ErrorCode, FingerPosition, RecordKey, RecordKeys, StorageKey, TemplateFormat,
};
use idauth_store::{
    AuditRecord, ChainBreak, Change, EnrolledFinger, ShardStore, StoreError, StoreOptions, Write,
};

mod common;

/// Where one engine keeps a store, so that it can be opened again (a restart).
enum Place {
    Sled(tempfile::TempDir),
    #[cfg(feature = "rados")]
    Rados(idauth_store::rados::RadosOptions),
}

impl Place {
    fn sled() -> Option<Self> {
        Some(Self::Sled(tempfile::tempdir().unwrap()))
    }

    #[cfg(feature = "rados")]
    fn rados() -> Option<Self> {
        let conf = common::ceph_conf()?;
        let mut options = idauth_store::rados::RadosOptions::new(conf, "idauth");
        options.namespace = common::fresh_namespace();
        options.chain = "shard-c".into();
        Some(Self::Rados(options))
    }

    async fn open(&self) -> Arc<dyn ShardStore> {
        match self {
            Self::Sled(dir) => Arc::new(
                idauth_store::Store::open(&dir.path().join("store"), StoreOptions::default())
                    .unwrap(),
            ),
            #[cfg(feature = "rados")]
            Self::Rados(options) => Arc::new(
                idauth_store::rados::RadosStore::open(options, None)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// The audit chain checked end to end (the store must be closed for sled).
    async fn verify_chain(&self) -> Result<u64, ChainBreak> {
        match self {
            Self::Sled(dir) => {
                let engine = idauth_store::Engine::open(
                    &dir.path().join("store"),
                    idauth_store::EngineOptions::default(),
                )
                .unwrap();
                idauth_store::verify_chain(engine.dir(), engine.db(), "").unwrap()
            }
            #[cfg(feature = "rados")]
            Self::Rados(options) => {
                let store = idauth_store::rados::RadosStore::open(options, None)
                    .await
                    .unwrap();
                idauth_store::rados::verify_chain(store.pool(), &options.chain, options.op_timeout)
                    .await
                    .unwrap()
            }
        }
    }

    /// Replaces audit entry `seq`'s stored bytes with `bytes`, as someone with
    /// access to the engine's storage could (the store must be closed for sled).
    async fn tamper(&self, seq: u64, bytes: Vec<u8>) {
        match self {
            Self::Sled(dir) => {
                idauth_store::rewrite_audit_entry(&dir.path().join("store"), "", seq, Some(bytes))
                    .unwrap();
            }
            #[cfg(feature = "rados")]
            Self::Rados(options) => {
                let store = idauth_store::rados::RadosStore::open(options, None)
                    .await
                    .unwrap();
                let op = idauth_store::rados::WriteOp::default()
                    .omap_set(format!("{seq:016x}").into_bytes(), bytes);
                store
                    .pool()
                    .write(
                        &format!("{}.a.00000000", options.chain),
                        op,
                        options.op_timeout,
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

fn keys() -> RecordKeys {
    RecordKeys(vec![RecordKey {
        id: 1,
        key: [9; 32],
    }])
}

fn context(request_id: &str) -> WriteContext {
    WriteContext {
        caller_id: "centre-1".into(),
        token: "tok".into(),
        centre_id: "centre-1".into(),
        request_id: request_id.into(),
        timestamp_ms: 1_800_000_000_000,
    }
}

fn fingers(count: usize, bytes: usize) -> Vec<EnrolledFinger> {
    FingerPosition::ALL
        .iter()
        .filter(|p| **p != FingerPosition::Unknown)
        .take(count)
        .enumerate()
        .map(|(i, position)| EnrolledFinger {
            position: *position,
            format: TemplateFormat::Iso19794_2_2005,
            template: (0..bytes).map(|b| (b * 7 + i) as u8).collect(),
            minutiae_used: 40,
        })
        .collect()
}

fn enrol(name: &str) -> Change {
    Change::Enrol {
        fingers: fingers(2, 600),
        demographics: Demographics {
            name: name.into(),
            ..Demographics::default()
        },
    }
}

fn rename(name: &str) -> Change {
    Change::ReplaceDemographics(Demographics {
        name: name.into(),
        ..Demographics::default()
    })
}

async fn apply(
    store: &dyn ShardStore,
    key: u8,
    request_id: &str,
    change: &Change,
) -> Result<idauth_store::Applied, StoreError> {
    let (context, keys) = (context(request_id), keys());
    store
        .apply(Write {
            context: &context,
            key: StorageKey([key; 32]),
            keys: &keys,
            change,
            reference: &format!("ref-{request_id}"),
            now_ms: 1_800_000_000_000,
        })
        .await
}

fn refused(result: Result<idauth_store::Applied, StoreError>) -> ErrorCode {
    match result {
        Err(StoreError::Refused(code)) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn writes_reads_replays_and_refusals(place: Place) {
    let store = place.open().await;
    let first = apply(&*store, 1, "r-1", &enrol("Asha")).await.unwrap();
    assert_eq!((first.outcome.version, first.replayed), (1, false));
    // Read after an acknowledged write.
    store.durable().await.unwrap();
    let record = store
        .get(&StorageKey([1; 32]), &keys())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.version, record.demographics.name.as_str()),
        (1, "Asha")
    );
    assert!(store.contains(&StorageKey([1; 32])).await.unwrap());
    assert!(!store.contains(&StorageKey([2; 32])).await.unwrap());
    assert!(
        store
            .get(&StorageKey([2; 32]), &keys())
            .await
            .unwrap()
            .is_none()
    );
    // Create twice is refused; a resend replays; a reused request id is refused.
    assert_eq!(
        refused(apply(&*store, 1, "r-2", &enrol("Asha")).await),
        ErrorCode::ResidentAlreadyEnrolled
    );
    let again = apply(&*store, 1, "r-1", &enrol("Asha")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.outcome.version, again.outcome.reference.as_str()),
        (1, "ref-r-1")
    );
    assert_eq!(
        refused(apply(&*store, 1, "r-1", &rename("Other")).await),
        ErrorCode::RequestIdReused
    );
    // A refused request leaves its id free, as nothing was written.
    assert_eq!(
        refused(apply(&*store, 3, "r-3", &rename("Nobody")).await),
        ErrorCode::ResidentUnknown
    );
    assert_eq!(
        apply(&*store, 3, "r-3", &enrol("Ravi"))
            .await
            .unwrap()
            .outcome
            .version,
        1
    );
    // Updates move the version on; a deactivated record refuses changes.
    assert_eq!(
        apply(&*store, 1, "r-4", &rename("Asha K"))
            .await
            .unwrap()
            .outcome
            .version,
        2
    );
    assert_eq!(
        apply(&*store, 1, "r-5", &Change::Deactivate)
            .await
            .unwrap()
            .outcome
            .version,
        3
    );
    assert_eq!(
        refused(apply(&*store, 1, "r-6", &rename("Late")).await),
        ErrorCode::ResidentDeactivated
    );
    assert_eq!(store.residents(), 2);
    // A record opened with a key it was not sealed with is refused, not decoded.
    let wrong = RecordKeys(vec![RecordKey {
        id: 1,
        key: [8; 32],
    }]);
    assert!(store.get(&StorageKey([3; 32]), &wrong).await.is_err());
}

async fn concurrent_updates_lose_nothing(place: Place) {
    let store = place.open().await;
    apply(&*store, 5, "e", &enrol("Asha")).await.unwrap();
    // Eight writers race on one record: each compare-and-swap that loses reads again,
    // so every update lands once, each on its own version.
    let writers = (0..8).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            apply(&*store, 5, &format!("u-{i}"), &rename(&format!("n{i}")))
                .await
                .unwrap()
                .outcome
                .version
        })
    });
    let mut versions = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        versions.push(writer.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=9).collect::<Vec<u64>>());
    let record = store
        .get(&StorageKey([5; 32]), &keys())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.version, 9);
}

async fn records_up_to_the_maximum_size(place: Place) {
    let store = place.open().await;
    // Ten fingers of 6.4 KB: the 64 KiB request limit's worth of templates.
    let change = Change::Enrol {
        fingers: fingers(10, 6_400),
        demographics: Demographics {
            name: "N".repeat(200),
            ..Demographics::default()
        },
    };
    apply(&*store, 7, "big", &change).await.unwrap();
    let record = store
        .get(&StorageKey([7; 32]), &keys())
        .await
        .unwrap()
        .unwrap();
    let Change::Enrol { fingers, .. } = change else {
        unreachable!()
    };
    assert_eq!(record.fingers, fingers);
}

async fn replay_index(place: Place) {
    let store = place.open().await;
    let now = 1_800_000_000_000;
    assert!(store.record_txn("agency", "t-1", now, now).await.unwrap());
    assert!(
        !store.record_txn("agency", "t-1", now, now).await.unwrap(),
        "replay"
    );
    assert!(
        store.record_txn("other", "t-1", now, now).await.unwrap(),
        "another caller"
    );
    let later = now + 30 * 3_600_000;
    assert!(
        store
            .record_txn("agency", "t-1", later, later)
            .await
            .unwrap(),
        "outside the retention window"
    );

    // A restart in between, at this machine's time: a pair recorded by a verify that
    // was answered (its audit entry written) is still a replay after the restart.
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(store.record_txn("agency", "t-2", real, real).await.unwrap());
    store
        .audit(audit_record(9, "tok-r", "ref-r"))
        .await
        .unwrap();
    drop(store);
    let store = place.open().await;
    assert!(
        !store
            .record_txn("agency", "t-2", real, real + 1)
            .await
            .unwrap(),
        "a replay after a restart"
    );
    assert!(
        store.record_txn("agency", "t-3", real, real).await.unwrap(),
        "a new pair after a restart"
    );
}

fn audit_record(subject: u8, token: &str, reference: &str) -> AuditRecord {
    AuditRecord {
        time_ms: 1_800_000_000_000,
        caller: "agency".into(),
        token: token.into(),
        operation: "verify".into(),
        decision: Some(true),
        reference: reference.into(),
        subject: Some(StorageKey([subject; 32])),
        ..AuditRecord::default()
    }
}

async fn audit_chain_history_restart_and_tamper(place: Place) {
    {
        let store = place.open().await;
        apply(&*store, 1, "e-1", &enrol("Asha")).await.unwrap();
        apply(&*store, 2, "e-2", &enrol("Ravi")).await.unwrap();
        let appends = (0..12).map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (subject, token) = if i % 3 == 0 {
                    (2, "tok-b")
                } else {
                    (1, "tok-a")
                };
                let token = if i == 4 { "tok-x" } else { token };
                store
                    .audit(audit_record(subject, token, &format!("a{i}")))
                    .await
                    .unwrap()
            })
        });
        let mut seqs = Vec::new();
        for append in appends.collect::<Vec<_>>() {
            seqs.push(append.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..12).collect::<Vec<u64>>());
        // Resident 1 has eight entries: pages of three, newest first, then by token.
        let (page, next) = store
            .history(&StorageKey([1; 32]), None, None, 3)
            .await
            .unwrap();
        assert_eq!(page.len(), 3);
        assert!(page.windows(2).all(|w| w[0].seq > w[1].seq));
        let next = next.expect("more pages");
        let (rest, last) = store
            .history(&StorageKey([1; 32]), Some(next), None, 10)
            .await
            .unwrap();
        assert_eq!((rest.len(), last), (5, None));
        assert!(rest.iter().all(|e| e.seq < next));
        let (only, _) = store
            .history(&StorageKey([1; 32]), None, Some("tok-x"), 10)
            .await
            .unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].reference, "a4");
        let (none, _) = store
            .history(&StorageKey([9; 32]), None, None, 10)
            .await
            .unwrap();
        assert!(none.is_empty());
    }
    // A restart: the records and the chain continue where they were.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    {
        let store = place.open().await;
        assert_eq!(store.residents(), 2);
        let record = store
            .get(&StorageKey([2; 32]), &keys())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.demographics.name, "Ravi");
        assert_eq!(
            store
                .audit(audit_record(1, "tok-a", "after"))
                .await
                .unwrap(),
            12
        );
        let replay = apply(&*store, 1, "e-1", &enrol("Asha")).await.unwrap();
        assert!(
            replay.replayed,
            "the idempotency index survives the restart"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(place.verify_chain().await, Ok(13));
    // An edited entry is named.
    place.tamper(5, b"edited".to_vec()).await;
    let broken = place.verify_chain().await.unwrap_err();
    assert_eq!(broken.seq, 5, "{broken:?}");
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sled_engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(place) = super::Place::sled() {
                        super::$case(place).await;
                    }
                }
            )*
        }
        #[cfg(feature = "rados")]
        mod rados_engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(place) = super::Place::rados() {
                        super::$case(place).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    writes_reads_replays_and_refusals,
    concurrent_updates_lose_nothing,
    records_up_to_the_maximum_size,
    replay_index,
    audit_chain_history_restart_and_tamper,
);

/// RADOS only (sled locks its directory against a second process): a second process
/// opening a shard fences the first. Its record cache and replay window are then the
/// only view of the namespace, so the first can change nothing more: its writes,
/// record and chain alike, are refused by the cluster, and the chain holds exactly
/// what was acknowledged.
#[cfg(feature = "rados")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_opening_a_rados_shard_fences_the_first() {
    let Some(place) = Place::rados() else { return };
    let first = place.open().await;
    apply(&*first, 1, "r-1", &enrol("Asha")).await.unwrap();
    first
        .audit(audit_record(1, "tok-a", "ref-1"))
        .await
        .unwrap();
    let second = place.open().await;
    apply(&*second, 1, "r-2", &rename("Bela")).await.unwrap();
    second
        .audit(audit_record(1, "tok-b", "ref-2"))
        .await
        .unwrap();
    let write = apply(&*first, 1, "r-3", &rename("Chen")).await;
    assert!(write.is_err(), "a fenced process wrote a record: {write:?}");
    let audit = first.audit(audit_record(1, "tok-a", "ref-3")).await;
    assert!(audit.is_err(), "a fenced process appended: {audit:?}");
    // Nothing more goes out from the fenced client, reads included.
    let read = first.get(&StorageKey([2; 32]), &keys()).await;
    assert!(read.is_err(), "a fenced process read the pool: {read:?}");
    let record = second
        .get(&StorageKey([1; 32]), &keys())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.version, record.demographics.name.as_str()),
        (2, "Bela")
    );
    drop((first, second));
    assert_eq!(place.verify_chain().await, Ok(2));
}
