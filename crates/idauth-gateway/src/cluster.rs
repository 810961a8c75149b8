//! Assembling a cluster: the shards (opened here, or reached over the shard API) and
//! the gateway in front of them. `idauth serve`, `idauth gateway`, the tests and the
//! benches all build theirs with [`ClusterBuilder`], so there is one way to do it.

use std::sync::Arc;
use std::time::Duration;

use idauth_match::MccParams;
use idauth_shard::{
    CpuPermits, Engine, LockoutPolicy, Shard, ShardError, ShardOptions, ShardStorage, Threshold,
};

use crate::client::{LocalShard, ShardClient};
use crate::gateway::{Gateway, GatewayOptions};
use crate::master_keys::MasterKeys;
use crate::routing::StorageKeySecret;
use crate::validate::Limits;

/// What every shard of one process is opened with.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    /// Decoded records kept in memory, per shard.
    pub cache_records: usize,
    /// Built enrolled templates kept in memory, per shard.
    pub cache_templates: usize,
    /// The decision threshold.
    pub threshold: Threshold,
    /// Matcher parameters.
    pub params: MccParams,
    /// Failed-attempt limit.
    pub lockout: LockoutPolicy,
    /// CPU permits shared by all the shards of the process.
    pub cpu: CpuPermits,
}

impl ShardSettings {
    /// The built-in threshold for `target_fmr`, default caches and matcher, and one CPU
    /// permit per core.
    pub fn new(threshold: Threshold) -> Self {
        Self {
            cache_records: 100_000,
            cache_templates: 100_000,
            threshold,
            params: MccParams::default(),
            lockout: LockoutPolicy::default(),
            cpu: CpuPermits::per_core(),
        }
    }

    /// Opens shard `id` on `storage`.
    pub fn open(&self, id: &str, storage: ShardStorage) -> Result<Arc<Shard>, ShardError> {
        Shard::open(ShardOptions {
            shard_id: id.to_owned(),
            storage,
            cache_records: self.cache_records,
            cache_templates: self.cache_templates,
            threshold: self.threshold.clone(),
            params: self.params.clone(),
            cpu: self.cpu.clone(),
            lockout: self.lockout,
        })
        .map(Arc::new)
    }
}

/// The id of the `index`th in-process shard.
pub fn local_shard_id(index: usize) -> String {
    format!("shard-{index}")
}

/// Builds a gateway over its shards.
#[derive(Debug)]
pub struct ClusterBuilder {
    secret: StorageKeySecret,
    master_keys: MasterKeys,
    verify_budget: Duration,
    write_budget: Duration,
    limits: Limits,
    shards: Vec<(String, Arc<dyn ShardClient>)>,
    local: Vec<Arc<Shard>>,
}

impl ClusterBuilder {
    /// A cluster keyed by `secret` (storage keys) and `master_keys` (record keys), with
    /// the default budgets (200 ms a verify, as Aadhaar's; 5 s a write) and limits.
    pub fn new(secret: StorageKeySecret, master_keys: MasterKeys) -> Self {
        Self {
            secret,
            master_keys,
            verify_budget: Duration::from_millis(200),
            write_budget: Duration::from_secs(5),
            limits: Limits::default(),
            shards: Vec::new(),
            local: Vec::new(),
        }
    }

    /// The latency budget of a verify, from arrival to answer.
    pub fn verify_budget(mut self, budget: Duration) -> Self {
        self.verify_budget = budget;
        self
    }

    /// The budget of an enrolment-side write.
    pub fn write_budget(mut self, budget: Duration) -> Self {
        self.write_budget = budget;
        self
    }

    /// The request limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Opens `count` shards in this process, `shard-0` .. `shard-{count-1}`, on one
    /// shared storage engine (one fsync serves them all; see
    /// `docs/decisions/0002-one-engine-for-serve.md`).
    pub fn local_shards(
        self,
        count: usize,
        engine: &Arc<Engine>,
        settings: &ShardSettings,
    ) -> Result<Self, ShardError> {
        let storages = (0..count)
            .map(|_| ShardStorage::Shared(Arc::clone(engine)))
            .collect();
        self.local_shards_on(storages, settings)
    }

    /// Opens one in-process shard per storage, `shard-0` .. in order (the RADOS
    /// engine's stores, opened beforehand).
    pub fn local_shards_on(
        mut self,
        storages: Vec<ShardStorage>,
        settings: &ShardSettings,
    ) -> Result<Self, ShardError> {
        for (index, storage) in storages.into_iter().enumerate() {
            let id = local_shard_id(index);
            let shard = settings.open(&id, storage)?;
            self.local.push(Arc::clone(&shard));
            self.shards.push((id, Arc::new(LocalShard(shard))));
        }
        Ok(self)
    }

    /// Adds a shard however it is reached (a [`crate::RemoteShard`], say).
    pub fn shard(mut self, id: impl Into<String>, client: Arc<dyn ShardClient>) -> Self {
        self.shards.push((id.into(), client));
        self
    }

    /// The shards opened in this process, in id order.
    pub fn opened(&self) -> &[Arc<Shard>] {
        &self.local
    }

    /// The gateway over the shards added so far (at least one).
    pub fn gateway(self) -> Arc<Gateway> {
        debug_assert!(!self.shards.is_empty(), "a cluster needs a shard");
        Arc::new(Gateway::new(GatewayOptions {
            secret: self.secret,
            master_keys: self.master_keys,
            shards: self.shards,
            verify_budget: self.verify_budget,
            write_budget: self.write_budget,
            limits: self.limits,
        }))
    }
}
