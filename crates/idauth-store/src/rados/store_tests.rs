//! The record cache against the test cluster (`deploy/ceph/dev-cluster.sh start`;
//! without one these skip with the reason, and fail under CI=true).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use idauth_core::command::WriteContext;
use idauth_core::{Demographics, RecordKey, RecordKeys, StorageKey};

use super::{RadosOptions, RadosStore};
use crate::shard_store::{ShardStore, Write};
use crate::store::Change;

fn ceph_conf() -> Option<PathBuf> {
    let conf = std::env::var_os("IDAUTH_CEPH_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/idauth-ceph/ceph.conf"));
    if conf.exists() {
        return Some(conf);
    }
    let reason = format!("no Ceph test cluster ({} is missing)", conf.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
    eprintln!("skipped: {reason}");
    None
}

fn keys() -> RecordKeys {
    RecordKeys(vec![RecordKey {
        id: 1,
        key: [5; 32],
    }])
}

fn named(name: &str) -> Demographics {
    Demographics {
        name: name.into(),
        ..Demographics::default()
    }
}

async fn apply(store: &RadosStore, request_id: &str, change: &Change) -> crate::Result<u64> {
    let context = WriteContext {
        caller_id: "centre-1".into(),
        token: "tok".into(),
        centre_id: "centre-1".into(),
        request_id: request_id.into(),
        timestamp_ms: 1_800_000_000_000,
    };
    let keys = keys();
    let applied = store
        .apply(Write {
            context: &context,
            key: StorageKey([3; 32]),
            keys: &keys,
            change,
            reference: request_id,
            now_ms: 1_800_000_000_000,
        })
        .await?;
    Ok(applied.outcome.version)
}

async fn name(store: &RadosStore) -> (u64, String) {
    let record = store
        .get(&StorageKey([3; 32]), &keys())
        .await
        .unwrap()
        .unwrap();
    (record.version, record.demographics.name)
}

/// A write this process gave up on lands afterwards; the cached record from before it
/// must not be served, neither before nor after the write's resend is acknowledged as
/// a replay (the sequence CI's crash harness once caught).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_write_that_lands_after_its_timeout_is_never_hidden_by_the_cache() {
    let Some(conf) = ceph_conf() else { return };
    let mut options = RadosOptions::new(conf, "idauth");
    options.namespace = format!("unit-cache-{}-{:?}", std::process::id(), Instant::now());
    let mut store = RadosStore::open(&options, None).await.unwrap();
    let enrol = Change::Enrol {
        fingers: Vec::new(),
        demographics: named("Asha"),
    };
    assert_eq!(apply(&store, "r-1", &enrol).await.unwrap(), 1);
    assert_eq!(name(&store).await, (1, "Asha".into()), "cached");

    // The rename's record write is given no time: the client stops waiting at once,
    // and the operation, already sent, lands in the pool a moment later.
    store.record_write_timeout = Duration::ZERO;
    let rename = Change::ReplaceDemographics(named("Bela"));
    assert!(apply(&store, "r-2", &rename).await.is_err(), "gave up");
    store.record_write_timeout = options.op_timeout;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (sealed, _, _) = store
            .read_record(&StorageKey([3; 32]), None)
            .await
            .unwrap()
            .unwrap();
        let plain = crate::seal::open(&sealed, &StorageKey([3; 32]), &keys()).unwrap();
        let stored: crate::record::ResidentRecord = postcard::from_bytes(&plain).unwrap();
        if stored.version == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the rename never landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        name(&store).await,
        (2, "Bela".into()),
        "after the late landing"
    );
    // The resend is a replay of what landed, and the record stays as it left it.
    assert_eq!(apply(&store, "r-2", &rename).await.unwrap(), 2);
    assert_eq!(name(&store).await, (2, "Bela".into()), "after the resend");
}
