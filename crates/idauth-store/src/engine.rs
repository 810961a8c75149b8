//! The storage engine: one sled database and its group commit, which one or several
//! stores write to.
//!
//! `idauth serve` runs all its shards on one engine, each shard's trees under its own
//! name prefix, so that a single fsync makes every shard's waiting writes durable.
//! With an engine per shard, four shards on one disk paid four fsyncs for what one
//! can do; each sled flush costs about 0.3 ms of CPU on a small VM, most of it in the
//! kernel, and a verify's audit entry needs one. A shard process has an engine of its
//! own.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::audit::AuditRecord;
use crate::audit_log::AuditLog;
use crate::commit::{Committed, DataSync, Durability, GroupCommit};
use crate::error::{Result, StoreError};
use crate::sled_files::SledFiles;
use crate::space::{Need, SpaceGuard};
use crate::txns::TxnIndex;

/// The transaction indexes of an engine's stores, synced by its group commit.
type TxnIndexes = Arc<Mutex<Vec<Weak<TxnIndex>>>>;

/// What the group commit syncs after sled's flush: sled's files, then every store's
/// transaction index, so that a verify is answered only once its pair is on disk.
struct EngineFiles {
    sled: SledFiles,
    txns: TxnIndexes,
}

impl DataSync for EngineFiles {
    fn sync_data(&mut self) -> std::io::Result<()> {
        self.sled.sync_data()?;
        let indexes: Vec<Arc<TxnIndex>> = self
            .txns
            .lock()
            .expect("txn index list poisoned")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for index in indexes {
            index
                .sync()
                .map_err(|error| std::io::Error::other(error.to_string()))?;
        }
        Ok(())
    }
}

/// How an engine is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// How writes become durable.
    pub durability: Durability,
    /// Bytes kept free on the data filesystem: below this, enrolments and updates
    /// are refused (STORAGE_FULL), and verifies below a quarter of it; 0 checks nothing.
    pub reserve_bytes: u64,
    /// sled's page cache, in bytes as stored on disk.
    pub page_cache_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            durability: Durability::GroupCommit,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            page_cache_bytes: DEFAULT_PAGE_CACHE_BYTES,
        }
    }
}

/// The default free-space reserve: room for sled to finish the segments it has
/// begun and for the audit entries of verifies after enrolments stop.
pub const DEFAULT_RESERVE_BYTES: u64 = 256 << 20;

/// The default of sled's page cache. sled counts its cache in bytes as stored on
/// disk, and holds each cached page as separately allocated nodes and values several
/// times larger: with 64 MiB the service's memory grew by about 600 bytes per verify
/// for minutes on end (every verify's audit, history and transaction-index entries
/// pass through the cache, and none is read again soon), with 8 MiB it levels off
/// (docs/reliability.md, "Soak"). Hot resident records have their own cache above the
/// store ([`crate::HotCache`]), so a small page cache costs verifies nothing.
pub const DEFAULT_PAGE_CACHE_BYTES: u64 = 8 << 20;

/// One sled database and the thread that makes its writes durable.
#[derive(Debug)]
pub struct Engine {
    dir: std::path::PathBuf,
    db: sled::Db,
    commit: GroupCommit,
    durability: Durability,
    space: SpaceGuard,
    stores: AtomicU64,
    txns: TxnIndexes,
}

impl Engine {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, options: EngineOptions) -> Result<Arc<Self>> {
        let EngineOptions {
            durability,
            reserve_bytes,
            page_cache_bytes,
        } = options;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(page_cache_bytes)
            .open()?;
        // sled's flush is not durable on its own: the group commit syncs its files
        // after each flush (`SledFiles`; docs/reliability.md, "Durability").
        let sled_files = SledFiles::open(dir)
            .map_err(|error| StoreError::Flush(format!("cannot open sled's files: {error}")))?;
        let txns = TxnIndexes::default();
        let files = EngineFiles {
            sled: sled_files,
            txns: Arc::clone(&txns),
        };
        let commit = GroupCommit::start(db.clone(), files, durability)
            .map_err(|error| StoreError::Flush(format!("cannot start flush thread: {error}")))?;
        Ok(Arc::new(Self {
            dir: dir.to_path_buf(),
            db,
            commit,
            durability,
            space: SpaceGuard::new(dir.to_path_buf(), reserve_bytes),
            stores: AtomicU64::new(0),
            txns,
        }))
    }

    /// How writes become durable.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// The directory the engine's files are in (sled's, and each store's audit
    /// journal under `journal/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database, for tools that read it directly (`verify_chain`).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Refuses with [`StoreError::Full`] when writing `need` would eat into the
    /// free-space reserve, and with
    /// [`StoreError::Stopped`] once a flush has failed.
    pub(crate) fn check_space(&self, need: Need) -> Result<()> {
        self.commit.check_writable()?;
        self.space.check(need)
    }

    /// Stores opened on this engine.
    pub(crate) fn stores(&self) -> u64 {
        self.stores.load(Ordering::Relaxed).max(1)
    }

    /// Counts a store opened on this engine, whose transaction index the group
    /// commit syncs from now on.
    pub(crate) fn attach(&self, txns: &Arc<TxnIndex>) {
        self.stores.fetch_add(1, Ordering::Relaxed);
        let mut indexes = self.txns.lock().expect("txn index list poisoned");
        indexes.retain(|index| index.strong_count() > 0);
        indexes.push(Arc::downgrade(txns));
    }

    /// Opens the tree `name` of the store under `prefix`.
    pub(crate) fn tree(&self, prefix: &str, name: &str) -> Result<sled::Tree> {
        Ok(self.db.open_tree(format!("{prefix}{name}"))?)
    }

    /// Appends `audit` (if any) to its log and waits until it and every write
    /// applied before this call are on disk.
    pub(crate) async fn commit(
        &self,
        audit: Option<(Arc<AuditLog>, AuditRecord)>,
    ) -> Result<Committed> {
        self.commit.commit(audit).await
    }
}
