//! The shards' stores on a Ceph pool (`store = "rados"`, a build with `--features
//! rados`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use idauth_shard::ShardStorage;
use idauth_store::rados::{Cluster, EEXIST, ETIMEDOUT, RadosOptions, RadosStore, ReadOp, WriteOp};

use crate::config::Config;

/// The store options of shard `shard_id`: its objects under `<namespace>.<shard id>`,
/// its audit chain named after it.
pub fn options(config: &Config, shard_id: &str) -> RadosOptions {
    RadosOptions {
        conf: config.rados_conf.clone(),
        pool: config.rados_pool.clone(),
        namespace: format!("{}.{shard_id}", config.rados_namespace),
        chain: shard_id.to_owned(),
        op_timeout: Duration::from_millis(config.rados_op_timeout_ms),
        txn_retention_ms: idauth_store::StoreOptions::default().txn_retention_ms,
        cache_records: config.cache_records,
    }
}

/// Connects to the cluster of `config` (blocking, at start-up).
pub fn connect(config: &Config) -> anyhow::Result<Arc<Cluster>> {
    // librados takes whole seconds here; the store's own per-operation timeout
    // (rados_op_timeout_ms) is the one a caller waits on.
    let timeout = config.rados_op_timeout_ms.div_ceil(1000).max(1).to_string();
    Cluster::connect(
        &config.rados_conf,
        &[
            ("rados_osd_op_timeout", timeout.as_str()),
            ("rados_mon_op_timeout", "10"),
            ("client_mount_timeout", "10"),
        ],
    )
    .with_context(|| {
        format!(
            "connecting to the Ceph cluster of {} (is it running? deploy/ceph/dev-cluster.sh start)",
            config.rados_conf.display()
        )
    })
}

/// The object, in the deployment's own namespace, that names its shards.
const SHARDS_OID: &str = "shards";

/// Checks `ids` against the shards the deployment was created with, recording them
/// when it is new. Residents are placed on shards by rendezvous hashing over the shard
/// ids, each shard's residents in a namespace of its own: served with another set of
/// shards, residents would be looked for where they are not and answered as never
/// enrolled. There is no re-homing between shard sets, so a different set is refused.
pub async fn check_shards(
    config: &Config,
    cluster: &Arc<Cluster>,
    ids: &[String],
) -> anyhow::Result<()> {
    let pool = cluster.pool(&config.rados_pool, &config.rados_namespace)?;
    let timeout = Duration::from_millis(config.rados_op_timeout_ms).max(Duration::from_secs(5));
    let mut sorted = ids.to_vec();
    sorted.sort();
    let ours = sorted.join(",");
    let create = WriteOp::default()
        .create_exclusive()
        .write_full(ours.clone().into_bytes());
    // A cluster still peering after a restart times out: wait for it, as opening the
    // stores does, rather than exit.
    let started = std::time::Instant::now();
    let recorded = loop {
        let attempt = match pool.write(SHARDS_OID, create.clone(), timeout).await {
            Ok(_) => return Ok(()),
            Err(e) if e.errno == EEXIST => {
                pool.read(SHARDS_OID, ReadOp::default().data(), timeout)
                    .await
            }
            Err(e) => Err(e),
        };
        match attempt {
            Ok(read) => break read,
            Err(e) if e.errno == ETIMEDOUT && started.elapsed() < Duration::from_secs(90) => {
                tracing::warn!(
                    "the Ceph cluster does not answer yet; waiting to check the deployment's shards"
                );
            }
            Err(e) => return Err(e).context("checking the deployment's shards in the pool"),
        }
    };
    let recorded = String::from_utf8_lossy(&recorded.data).into_owned();
    anyhow::ensure!(
        recorded == ours,
        "pool {} namespace {} holds a deployment of {} shard(s) ({recorded}); this configuration \
         has {} ({ours}): set shards = {} (residents are placed by shard, and there is no \
         moving them to another set of shards)",
        config.rados_pool,
        config.rados_namespace,
        recorded.split(',').count(),
        ids.len(),
        recorded.split(',').count()
    );
    Ok(())
}

/// Opens the stores of `ids` on one connection. `whole`: `ids` are every shard of
/// the deployment (`idauth serve`), checked against the set it was created with; a
/// shard process (`idauth shard`) opens one of a set its gateway's map names.
pub async fn storages(
    config: &Config,
    ids: &[String],
    whole: bool,
) -> anyhow::Result<Vec<ShardStorage>> {
    let cluster = connect(config)?;
    if whole {
        check_shards(config, &cluster, ids).await?;
    }
    let mut storages = Vec::with_capacity(ids.len());
    for id in ids {
        let store = RadosStore::open(&options(config, id), Some(Arc::clone(&cluster)))
            .await
            .with_context(|| format!("opening shard {id} in pool {}", config.rados_pool))?;
        storages.push(ShardStorage::Opened(Arc::new(store)));
    }
    Ok(storages)
}
