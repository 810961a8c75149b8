//! The shards' stores on a Ceph pool (`store = "rados"`, a build with `--features
//! rados`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use idauth_shard::ShardStorage;
use idauth_store::rados::{Cluster, RadosOptions, RadosStore};

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

/// Opens the stores of `ids` on one connection.
pub async fn storages(config: &Config, ids: &[String]) -> anyhow::Result<Vec<ShardStorage>> {
    let cluster = connect(config)?;
    let mut storages = Vec::with_capacity(ids.len());
    for id in ids {
        let store = RadosStore::open(&options(config, id), Some(Arc::clone(&cluster)))
            .await
            .with_context(|| format!("opening shard {id} in pool {}", config.rados_pool))?;
        storages.push(ShardStorage::Opened(Arc::new(store)));
    }
    Ok(storages)
}
