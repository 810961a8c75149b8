//! The store's unit tests: idempotency, versions, the audit chain, durability.

use super::*;
use crate::Durability;
use crate::journal::{Frame, Scan};
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
        assert_eq!(
            crate::verify_chain(store.engine.dir(), store.engine.db(), "").unwrap(),
            Ok(5)
        );
    }
    let tamper = |edit: &dyn Fn(&mut Vec<Frame>)| {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let journal = crate::audit_log::journal_dir(copy.path(), "");
        let mut frames: Vec<Frame> = Scan::new(&journal).unwrap().map(|f| f.unwrap()).collect();
        edit(&mut frames);
        // Written back as someone with the files would: each frame well formed.
        crate::journal::write_raw(&journal, &frames).unwrap();
        let db = sled::open(copy.path()).unwrap();
        crate::verify_chain(copy.path(), &db, "")
            .unwrap()
            .unwrap_err()
    };
    let edited = tamper(&|frames| {
        let bytes = &mut frames[2].entry;
        let at = bytes.windows(5).position(|w| w == b"ref-2").unwrap();
        bytes[at + 4] = b'9';
    });
    assert_eq!(edited.seq, 2, "{edited:?}");
    let removed = tamper(&|frames| {
        frames.remove(1);
    });
    assert_eq!(removed.seq, 1, "{removed:?}");
    let swapped = tamper(&|frames| frames.swap(1, 2));
    assert_eq!(swapped.seq, 1, "{swapped:?}");
    let last_edited = tamper(&|frames| frames[4].entry[2] ^= 1);
    assert_eq!(last_edited.seq, 4, "{last_edited:?}");
    let truncated = tamper(&|frames| {
        frames.pop();
    });
    assert_eq!(truncated.seq, 4, "{truncated:?}");
}

/// Copies the directory tree `from` into `to`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        if file.path().is_dir() {
            copy_dir(&file.path(), &to.join(file.file_name()));
        } else {
            std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
        }
    }
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
    assert_eq!(
        crate::verify_chain(store.engine.dir(), store.engine.db(), "").unwrap(),
        Ok(64)
    );
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
        assert_eq!(
            crate::verify_chain(engine.dir(), engine.db(), prefix).unwrap(),
            Ok(16)
        );
    }
    assert_eq!(
        crate::verify_chain(engine.dir(), engine.db(), "").unwrap(),
        Ok(0)
    );
    assert_eq!(stores[0].residents(), 1);
    assert_eq!(stores[1].residents(), 0);
}
