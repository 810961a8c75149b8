//! Store benches: a point read (from the hot cache and from sled), and 64 durable
//! enrolments with group commit against one flush per enrolment, in the same run.
//!
//! Records are the size of a ten-finger enrolment (ten 300-byte minutiae records and
//! demographics), sealed as in the service. Run: `cargo bench --bench store`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idauth_core::command::WriteContext;
use idauth_core::{
    Demographics, FingerPosition, RecordKey, RecordKeys, StorageKey, TemplateFormat,
};
use idauth_store::{Change, Durability, EngineOptions, EnrolledFinger, Store, StoreOptions};

const WRITERS: u64 = 64;

fn keys() -> RecordKeys {
    RecordKeys(vec![RecordKey {
        id: 1,
        key: [8; 32],
    }])
}

fn storage_key(n: u64) -> StorageKey {
    StorageKey(*blake3::hash(&n.to_le_bytes()).as_bytes())
}

fn enrolment(n: u64) -> Change {
    Change::Enrol {
        fingers: (1..=10u8)
            .map(|p| EnrolledFinger {
                position: FingerPosition::from_code(p).unwrap(),
                format: TemplateFormat::Iso19794_2_2005,
                template: vec![(n as u8).wrapping_add(p); 300],
                minutiae_used: 40,
            })
            .collect(),
        demographics: Demographics {
            name: format!("Resident {n}"),
            date_of_birth: idauth_core::DateOfBirth::new("1980-01-01").unwrap(),
            gender: idauth_core::Gender::new("F").unwrap(),
            ..Demographics::default()
        },
    }
}

fn context(n: u64) -> WriteContext {
    WriteContext {
        caller_id: "bench".into(),
        token: "t".into(),
        centre_id: "bench".into(),
        request_id: format!("r{n}"),
        timestamp_ms: 0,
    }
}

fn open(dir: &std::path::Path, durability: Durability, cache_records: usize) -> Arc<Store> {
    Arc::new(
        Store::open(
            dir,
            StoreOptions {
                engine: EngineOptions {
                    durability,
                    ..EngineOptions::default()
                },
                cache_records,
                ..StoreOptions::default()
            },
        )
        .unwrap(),
    )
}

fn bench_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_point_read");
    for (name, cache) in [("hot_cache", 100_000), ("sled_and_open", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), Durability::GroupCommit, cache);
        for n in 0..10_000 {
            store
                .apply(&context(n), storage_key(n), &keys(), &enrolment(n), "r", 0)
                .unwrap();
        }
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                n = (n + 7919) % 10_000;
                black_box(store.get(&storage_key(n), &keys()).unwrap())
            })
        });
    }
    group.finish();
}

fn bench_durable_enrol(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("store_durable_enrol");
    group.throughput(Throughput::Elements(WRITERS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    // The same 64 enrolments: shared fsyncs (group commit), 64 concurrent writers
    // whose flushes the commit thread runs one after another (one fsync each), and one
    // writer flushing after every enrolment before the next (one fsync per enrolment,
    // nothing to overlap with).
    for (name, durability, writers) in [
        ("group_commit", Durability::GroupCommit, WRITERS),
        ("flush_each_concurrent", Durability::FlushEach, WRITERS),
        ("flush_each_sequential", Durability::FlushEach, 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), durability, 1000);
        let next = Arc::new(AtomicU64::new(0));
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    for _ in 0..WRITERS / writers {
                        let writers: Vec<_> = (0..writers)
                            .map(|_| {
                                let (store, next) = (Arc::clone(&store), Arc::clone(&next));
                                tokio::spawn(async move {
                                    let n = next.fetch_add(1, Ordering::Relaxed);
                                    let writer = Arc::clone(&store);
                                    tokio::task::spawn_blocking(move || {
                                        writer.apply(
                                            &context(n),
                                            storage_key(n),
                                            &keys(),
                                            &enrolment(n),
                                            "r",
                                            0,
                                        )
                                    })
                                    .await
                                    .unwrap()
                                    .unwrap();
                                    store.durable().await.unwrap();
                                })
                            })
                            .collect();
                        for writer in writers {
                            writer.await.unwrap();
                        }
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_reads, bench_durable_enrol);
criterion_main!(benches);
