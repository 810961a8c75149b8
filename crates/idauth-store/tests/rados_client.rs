//! The librados binding against a real cluster (`deploy/ceph/dev-cluster.sh start`).
//! Without one these tests skip with the reason; under CI=true they fail instead.
#![cfg(feature = "rados")]

use std::sync::Arc;
use std::time::Duration;

use idauth_store::rados::{
    Cluster, ECANCELED, EEXIST, ENOENT, EOVERFLOW, ERANGE, Pool, ReadOp, WriteOp,
};

mod common;

const T: Duration = Duration::from_secs(20);

fn pool() -> Option<Pool> {
    let conf = common::ceph_conf()?;
    let cluster: Arc<Cluster> = Cluster::connect(&conf, &[("rados_osd_op_timeout", "20")])
        .expect("connect to the test cluster");
    Some(
        cluster
            .pool("idauth", &common::fresh_namespace())
            .expect("the idauth pool"),
    )
}

#[tokio::test]
async fn an_omap_comparison_guards_the_whole_write() {
    let Some(pool) = pool() else { return };
    let set = |key: &str, value: &str| {
        WriteOp::default().omap_set(key.as_bytes().to_vec(), value.as_bytes().to_vec())
    };
    pool.write("cmp", set("head", "h1"), T).await.unwrap();
    // Holds: the entry and the new head go in together.
    let op = set("e1", "x").omap_set(b"head".to_vec(), b"h2".to_vec());
    pool.write("cmp", op.omap_equals(b"head".to_vec(), b"h1".to_vec()), T)
        .await
        .unwrap();
    // Does not hold (the head moved on): nothing of the write lands.
    let op = set("e2", "y").omap_set(b"head".to_vec(), b"h3".to_vec());
    let refused = pool
        .write("cmp", op.omap_equals(b"head".to_vec(), b"h1".to_vec()), T)
        .await
        .unwrap_err();
    assert_eq!(refused.errno, ECANCELED, "{refused}");
    // A key that is not there does not compare equal to a value either.
    let op = set("e3", "z").omap_equals(b"missing".to_vec(), b"h2".to_vec());
    assert!(pool.write("cmp", op, T).await.is_err());
    let read = pool
        .read("cmp", ReadOp::default().omap_after("", "", 16), T)
        .await
        .unwrap();
    let stored: Vec<String> = read
        .omap
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    assert_eq!(stored, ["e1=x", "head=h2"]);
}

#[tokio::test]
async fn exclusive_create_compare_and_swap_and_reads() {
    let Some(pool) = pool() else { return };
    let v1 = pool
        .write(
            "obj",
            WriteOp::default()
                .create_exclusive()
                .write_full(b"one".to_vec()),
            T,
        )
        .await
        .unwrap();
    let again = pool
        .write(
            "obj",
            WriteOp::default()
                .create_exclusive()
                .write_full(b"two".to_vec()),
            T,
        )
        .await
        .unwrap_err();
    assert_eq!(again.errno, EEXIST, "{again}");
    let read = pool.read("obj", ReadOp::default().data(), T).await.unwrap();
    assert_eq!((read.data.as_slice(), read.version), (&b"one"[..], v1));

    let v2 = pool
        .write(
            "obj",
            WriteOp::default()
                .assert_version(v1)
                .write_full(b"two".to_vec()),
            T,
        )
        .await
        .unwrap();
    assert!(v2 > v1);
    let stale = pool
        .write(
            "obj",
            WriteOp::default()
                .assert_version(v1)
                .write_full(b"three".to_vec()),
            T,
        )
        .await
        .unwrap_err();
    assert!([ERANGE, EOVERFLOW].contains(&stale.errno), "{stale}");
    let read = pool.read("obj", ReadOp::default().data(), T).await.unwrap();
    assert_eq!((read.data.as_slice(), read.version), (&b"two"[..], v2));

    let missing = pool
        .read("nothing", ReadOp::default().data(), T)
        .await
        .unwrap_err();
    assert_eq!(missing.errno, ENOENT);
}

#[tokio::test]
async fn objects_larger_than_the_first_read_and_omap_pages() {
    let Some(pool) = pool() else { return };
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut op = WriteOp::default().write_full(big.clone());
    for i in 0..30u32 {
        op = op.omap_set(format!("k.{i:04}").into_bytes(), i.to_le_bytes().to_vec());
    }
    op = op.omap_set(b"other".to_vec(), b"x".to_vec());
    pool.write("big", op, T).await.unwrap();
    let read = pool.read("big", ReadOp::default().data(), T).await.unwrap();
    assert_eq!(read.data, big);

    let page = pool
        .read("big", ReadOp::default().omap_after("k.0009", "k.", 10), T)
        .await
        .unwrap();
    let keys: Vec<String> = page
        .omap
        .iter()
        .map(|(k, _)| String::from_utf8(k.clone()).unwrap())
        .collect();
    assert_eq!(keys.first().map(String::as_str), Some("k.0010"));
    assert_eq!((keys.len(), page.more), (10, true));
    assert_eq!(page.omap[0].1, 10u32.to_le_bytes().to_vec());

    let some = pool
        .read(
            "big",
            ReadOp::default().omap_keys(vec![b"k.0003".to_vec(), b"absent".to_vec()]),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        some.omap,
        vec![(b"k.0003".to_vec(), 3u32.to_le_bytes().to_vec())]
    );
    assert!(pool.list("b").unwrap().contains(&"big".to_owned()));
}

#[tokio::test]
async fn an_abandoned_operation_completes_safely() {
    let Some(pool) = pool() else { return };
    // A timeout far shorter than a round trip: the future gives up, librados still
    // writes, and its callback frees the buffers.
    for i in 0..50 {
        let _ = pool
            .write(
                &format!("abandoned.{i}"),
                WriteOp::default().write_full(vec![7; 4096]),
                Duration::from_nanos(1),
            )
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let read = pool
        .read("abandoned.49", ReadOp::default().data(), T)
        .await
        .unwrap();
    assert_eq!(read.data, vec![7; 4096]);
}
