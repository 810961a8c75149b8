//! The store's unit tests: idempotency, versions, the audit chain, durability.

use super::*;
use crate::Durability;
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
    async fn append(store: &Store, from: u64, to: u64) {
        for i in from..to {
            let seq = store
                .audit(AuditRecord {
                    time_ms: i as i64,
                    caller: "agency".into(),
                    operation: "verify".into(),
                    reference: format!("ref-{i}"),
                    ..AuditRecord::default()
                })
                .await
                .unwrap();
            assert_eq!(seq, i);
        }
    }
    {
        let store = open(dir.path());
        append(&store, 0, 3).await;
    }
    {
        // The chain continues across a reopen.
        let store = open(dir.path());
        append(&store, 3, 5).await;
        assert_eq!(crate::verify_chain(store.engine.db(), "").unwrap(), Ok(5));
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
        crate::verify_chain(&db, "").unwrap().unwrap_err()
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
            store.engine.commit(None).await.unwrap().batch
        }));
    }
    let mut largest_batch = 0;
    for task in tasks {
        largest_batch = largest_batch.max(task.await.unwrap());
    }
    assert_eq!(store.residents(), 64);
    assert!(largest_batch > 1, "no fsync was shared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_entries_form_one_unbroken_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    let tasks: Vec<_> = (0..64u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .audit(AuditRecord {
                        reference: format!("r{i}"),
                        subject: Some(StorageKey([i % 4; 32])),
                        ..AuditRecord::default()
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..64).collect::<Vec<u64>>());
    assert_eq!(crate::verify_chain(store.engine.db(), "").unwrap(), Ok(64));
    let (page, _) = store
        .history(&StorageKey([1; 32]), None, None, 100)
        .unwrap();
    assert_eq!(page.len(), 16);
}

#[tokio::test]
async fn flush_each_never_shares_an_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        engine: EngineOptions {
            durability: Durability::FlushEach,
            ..EngineOptions::default()
        },
        ..StoreOptions::default()
    };
    let store = std::sync::Arc::new(Store::open(dir.path(), options).unwrap());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.engine.commit(None).await.unwrap().batch })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 1);
    }
}

#[tokio::test]
async fn history_pages_one_residents_entries_newest_first() {
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
            .await
            .unwrap();
    }
    // An entry about no resident joins no history.
    store.audit(AuditRecord::default()).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_one_engine_keep_apart_and_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let stores: Vec<_> = ["a/", "b/"]
        .into_iter()
        .map(|prefix| {
            std::sync::Arc::new(
                Store::open_in(engine.clone(), prefix, StoreOptions::default()).unwrap(),
            )
        })
        .collect();
    let key = StorageKey([5; 32]);
    stores[0]
        .apply(&context("e"), key, &keys(), &enrol("A"), "r", 1)
        .unwrap();
    assert!(stores[1].get(&key, &keys()).unwrap().is_none());
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let store = stores[usize::from(i % 2)].clone();
        tasks.push(tokio::spawn(async move {
            store
                .audit(AuditRecord {
                    reference: format!("r{i}"),
                    ..AuditRecord::default()
                })
                .await
                .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    // Each store numbers its own chain from 0.
    let expected: Vec<u64> = (0..16).flat_map(|n| [n, n]).collect();
    assert_eq!(seqs, expected);
    for prefix in ["a/", "b/"] {
        assert_eq!(crate::verify_chain(engine.db(), prefix).unwrap(), Ok(16));
    }
    assert_eq!(crate::verify_chain(engine.db(), "").unwrap(), Ok(0));
    assert_eq!(stores[0].residents(), 1);
    assert_eq!(stores[1].residents(), 0);
}
