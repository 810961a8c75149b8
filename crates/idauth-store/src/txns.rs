//! The transaction index: which (caller, txn) pairs this shard has seen recently, so a
//! replayed verify is refused.
//!
//! One table file per hour of the request timestamp ([`crate::txn_table`]), in the
//! store's `txns/` directory, named `{hour}.tbl`. A check looks the pair's hash up in
//! every table of the retention window (one read of 256 bytes each) and purging
//! deletes whole hours' files, so the index never scans live entries. A replay reuses
//! the request's own timestamp and so always lands in the same hour as the original.
//! An hour's table is first sized for twice the busiest hour stored; when it is half
//! full it is rebuilt four times larger, under the insert lock (a 100,000-pair table
//! takes some milliseconds), so an hour's cost stays one file and one read.
//!
//! Inserts are durable once [`TxnIndex::sync`] returns: the group commit calls it
//! before answering any verify of its batch, so a replay is refused after a crash
//! too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Result, StoreError};
use crate::txn_table::{HourTable, Insert, WINDOW, nonzero};

/// Tables by hour.
type Tables = BTreeMap<u64, Arc<HourTable>>;

const HOUR_MS: i64 = 3_600_000;

/// The smallest table: 4,096 slots, 64 KiB.
const MIN_SLOTS: u64 = 4096;

/// The transaction index of one store.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    dir: PathBuf,
    retention_hours: i64,
    tables: RwLock<Tables>,
    /// Held from an insert's last check to its write, so that a pair is never
    /// inserted twice.
    insert: Mutex<()>,
    purged_below: AtomicU64,
}

fn hour(timestamp_ms: i64) -> u64 {
    timestamp_ms.div_euclid(HOUR_MS).max(0) as u64
}

/// The last millisecond of `hour`: the timestamp `store copy` gives the pairs of a
/// table (the index keeps only the hour), so they are kept no shorter than asked.
#[cfg_attr(not(feature = "rados"), allow(dead_code))]
pub(crate) fn hour_end_ms(hour: u64) -> i64 {
    (hour as i64 + 1) * HOUR_MS - 1
}

pub(crate) fn txn_hash(caller: &str, txn: &str) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"idauth txn v1\0");
    hasher.update(&(caller.len() as u64).to_le_bytes());
    hasher.update(caller.as_bytes());
    hasher.update(txn.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    out
}

fn table_path(dir: &Path, hour: u64) -> PathBuf {
    dir.join(format!("{hour:010}.tbl"))
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Journal(format!("transaction index: {error}"))
}

/// The tables in `dir`, by hour.
fn list(dir: &Path) -> Result<Tables> {
    let mut tables = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(tables);
    }
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".new") {
            // A table a crash interrupted before it was named: it held nothing yet.
            std::fs::remove_file(entry.path()).map_err(io_error)?;
            continue;
        }
        let Some(hour) = name.strip_suffix(".tbl").and_then(|h| h.parse().ok()) else {
            continue;
        };
        let table = HourTable::open(&entry.path()).map_err(io_error)?;
        tables.insert(hour, Arc::new(table));
    }
    Ok(tables)
}

/// Every (hour, hash) stored in the index in `dir`, for `store copy`.
pub(crate) fn pairs(dir: &Path) -> Result<Vec<(u64, [u8; 16])>> {
    let mut out = Vec::new();
    for (hour, table) in list(dir)? {
        out.extend(
            table
                .hashes()
                .map_err(io_error)?
                .into_iter()
                .map(|h| (hour, h)),
        );
    }
    Ok(out)
}

/// Opens the transaction index of the store under `prefix` of the engine in
/// `engine_dir`, moving the pairs of an index kept in a sled tree by earlier versions
/// (`{prefix}txns`: hour, then hash) into it first.
pub(crate) fn open_converting(
    engine_dir: &Path,
    db: &sled::Db,
    prefix: &str,
    retention_ms: i64,
) -> Result<TxnIndex> {
    let index = TxnIndex::open(
        &crate::audit_log::store_dir(engine_dir, "txns", prefix),
        retention_ms,
    )?;
    let old_name = format!("{prefix}txns");
    if db
        .tree_names()
        .iter()
        .any(|name| name == old_name.as_bytes())
    {
        let old = db.open_tree(&old_name)?;
        let mut moved = 0u64;
        {
            let _one_at_a_time = index.insert.lock().expect("txn index lock poisoned");
            for item in old.iter() {
                let (key, _) = item?;
                if let (Ok(hour), Ok(hash)) = (
                    <[u8; 8]>::try_from(&key[..8.min(key.len())]),
                    <[u8; 16]>::try_from(&key[8.min(key.len())..]),
                ) {
                    moved += u64::from(index.insert_at(u64::from_be_bytes(hour), &nonzero(hash))?);
                }
            }
        }
        index.sync()?;
        db.drop_tree(old_name.as_bytes())?;
        db.flush()?;
        tracing::info!(
            pairs = moved,
            "transaction index converted from a sled tree to table files"
        );
    }
    Ok(index)
}

impl TxnIndex {
    /// Opens (or creates) the index in `dir`.
    pub(crate) fn open(dir: &Path, retention_ms: i64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            retention_hours: retention_ms.div_euclid(HOUR_MS) + 1,
            tables: RwLock::new(list(dir)?),
            insert: Mutex::new(()),
            purged_below: AtomicU64::new(0),
        })
    }

    /// The tables of hours `from..=to`.
    fn tables(&self, from: u64, to: u64) -> Vec<(u64, Arc<HourTable>)> {
        self.tables
            .read()
            .expect("txn index lock poisoned")
            .range(from..=to)
            .map(|(hour, table)| (*hour, Arc::clone(table)))
            .collect()
    }

    /// Records (caller, txn) at `timestamp_ms`; `false` when it was already seen
    /// within the retention window around `now_ms`.
    pub(crate) fn record(
        &self,
        caller: &str,
        txn: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let hash = nonzero(txn_hash(caller, txn));
        let now = hour(now_ms) as i64;
        let (from, to) = ((now - self.retention_hours).max(0) as u64, (now + 1) as u64);
        let at = hour(timestamp_ms);
        for (table_hour, table) in self.tables(from, to) {
            if table_hour != at && table.contains(&hash).map_err(io_error)? {
                return Ok(false);
            }
        }
        let fresh = {
            let _one_at_a_time = self.insert.lock().expect("txn index lock poisoned");
            self.insert_at(at, &hash)?
        };
        self.purge(now)?;
        Ok(fresh)
    }

    /// Inserts `hash` into hour `at`'s table unless it holds it, making or
    /// enlarging the table first where needed. The caller holds the insert lock.
    fn insert_at(&self, at: u64, hash: &[u8; 16]) -> Result<bool> {
        let table = match self.tables(at, at).pop() {
            Some((_, table)) if table.load().1 * 2 < table.load().0 => table,
            Some((_, table)) => {
                if table.contains(hash).map_err(io_error)? {
                    return Ok(false);
                }
                self.install(at, table.load().0 * 4, Some(&table))?
            }
            None => self.install(at, self.first_table_slots(), None)?,
        };
        match table.insert(hash).map_err(io_error)? {
            Insert::Added => Ok(true),
            Insert::Present => Ok(false),
            Insert::Full => Err(StoreError::Journal(
                "transaction index: a table filled past its growth point".into(),
            )),
        }
    }

    /// Builds hour `at`'s table with `slots` slots holding the hashes of `source`,
    /// in its place.
    fn install(&self, at: u64, slots: u64, source: Option<&HourTable>) -> Result<Arc<HourTable>> {
        let table = Arc::new(
            HourTable::build(&table_path(&self.dir, at), slots, source).map_err(io_error)?,
        );
        self.tables
            .write()
            .expect("txn index lock poisoned")
            .insert(at, Arc::clone(&table));
        Ok(table)
    }

    /// Slots for an hour's first table: twice the busiest hour stored, rounded up.
    fn first_table_slots(&self) -> u64 {
        let tables = self.tables.read().expect("txn index lock poisoned");
        let busiest = tables
            .values()
            .map(|table| table.load().1)
            .max()
            .unwrap_or(0);
        (busiest * 2).next_power_of_two().max(MIN_SLOTS).max(WINDOW)
    }

    /// Makes every insert so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        let tables: Vec<Arc<HourTable>> = self
            .tables
            .read()
            .expect("txn index lock poisoned")
            .values()
            .cloned()
            .collect();
        for table in tables {
            table.sync().map_err(io_error)?;
        }
        Ok(())
    }

    /// Drops hours older than the retention window, at most once per hour.
    fn purge(&self, now_hour: i64) -> Result<()> {
        let below = (now_hour - self.retention_hours - 1).max(0) as u64;
        if self.purged_below.swap(below, Ordering::Relaxed) >= below {
            return Ok(());
        }
        let old: Vec<u64> = {
            let mut tables = self.tables.write().expect("txn index lock poisoned");
            let keep = tables.split_off(&below);
            std::mem::replace(&mut *tables, keep).into_keys().collect()
        };
        for hour in old {
            std::fs::remove_file(table_path(&self.dir, hour)).map_err(io_error)?;
        }
        Ok(())
    }

    /// Hashes stored, over all tables (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        let tables = self.tables.read().expect("txn index lock poisoned");
        tables.values().map(|table| table.load().1).sum()
    }
}

#[cfg(test)]
mod tests;
