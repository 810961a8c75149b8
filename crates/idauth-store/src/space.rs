//! Free space on the data filesystem, kept above a reserve.
//!
//! sled stops writing for good at the first write the filesystem refuses: it keeps
//! the error and fails every later write until the process restarts. A full disk
//! must therefore be seen before sled reaches it. Writes first look at the
//! filesystem's free space (statvfs, read again at most every [`RECHECK`]): below
//! the reserve, enrolments and updates are refused with STORAGE_FULL before anything
//! is written; verifies and history reads, whose audit entries are small, go on until
//! a quarter of the reserve is left, so that authentications outlast enrolments.
//! Writes resume by themselves once space is freed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Result, StoreError};

/// How stale a free-space reading may be. Between readings a busy shard writes at
/// most a few hundred kilobytes, far less than any useful reserve.
const RECHECK: Duration = Duration::from_millis(20);

/// What a write is about to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// A record (enrolment, update, lock): refused below the whole reserve.
    Record,
    /// Only index and audit entries (a verify): refused below a quarter of it.
    Audit,
}

/// The free-space check of one engine's directory.
#[derive(Debug)]
pub(crate) struct SpaceGuard {
    dir: PathBuf,
    reserve: u64,
    started: Instant,
    /// Milliseconds after `started` of the last reading, plus one (0: none yet).
    read_at_ms: AtomicU64,
    free: AtomicU64,
    /// Whether the last reading was below the reserve (to log the change once).
    short: AtomicBool,
}

impl SpaceGuard {
    /// Guards `dir`, keeping `reserve` bytes free (0: no check).
    pub(crate) fn new(dir: PathBuf, reserve: u64) -> Self {
        let guard = Self {
            dir,
            reserve,
            started: Instant::now(),
            read_at_ms: AtomicU64::new(0),
            free: AtomicU64::new(u64::MAX),
            short: AtomicBool::new(false),
        };
        if reserve > 0 {
            guard.read();
        }
        guard
    }

    /// Refuses with [`StoreError::Full`] when writing `need` would eat into the reserve.
    pub(crate) fn check(&self, need: Need) -> Result<()> {
        if self.reserve == 0 {
            return Ok(());
        }
        let floor = match need {
            Need::Record => self.reserve,
            Need::Audit => self.reserve / 4,
        };
        let free = self.free_bytes();
        if free < floor {
            return Err(StoreError::Full { free, floor });
        }
        Ok(())
    }

    /// The last reading, taken again by one caller when it is older than [`RECHECK`].
    fn free_bytes(&self) -> u64 {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.read_at_ms.load(Ordering::Relaxed);
        let fresh = now.saturating_sub(last) < RECHECK.as_millis() as u64;
        if fresh
            || self
                .read_at_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return self.free.load(Ordering::Relaxed);
        }
        self.read()
    }

    /// Reads the free space now and logs a crossing of the reserve.
    fn read(&self) -> u64 {
        let free = match fs2::available_space(&self.dir) {
            Ok(free) => free,
            Err(error) => {
                // Keep the last reading: a failing statvfs says nothing about space.
                tracing::warn!(dir = %self.dir.display(), %error, "cannot read the data filesystem's free space");
                return self.free.load(Ordering::Relaxed);
            }
        };
        self.free.store(free, Ordering::Relaxed);
        let short = free < self.reserve;
        if self.short.swap(short, Ordering::Relaxed) != short {
            let (free_mb, reserve_mb) = (free >> 20, self.reserve >> 20);
            if short {
                tracing::error!(
                    dir = %self.dir.display(),
                    free_mb,
                    reserve_mb,
                    "data filesystem below its free-space reserve: enrolments and updates are refused (STORAGE_FULL) until space is freed; verifies stop at a quarter of the reserve"
                );
            } else {
                tracing::warn!(
                    dir = %self.dir.display(),
                    free_mb,
                    reserve_mb,
                    "data filesystem above its free-space reserve again: writes accepted"
                );
            }
        }
        free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stop_at_the_reserve_and_audits_at_a_quarter_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let free = fs2::available_space(dir.path()).unwrap();
        let ample = SpaceGuard::new(dir.path().to_path_buf(), 1 << 20);
        assert!(ample.check(Need::Record).is_ok());
        assert!(ample.check(Need::Audit).is_ok());

        // A reserve between the free space and four times it: records refused, audits not.
        let between = SpaceGuard::new(dir.path().to_path_buf(), free + free / 2);
        assert!(matches!(
            between.check(Need::Record),
            Err(StoreError::Full { floor, .. }) if floor == free + free / 2
        ));
        assert!(between.check(Need::Audit).is_ok());

        let beyond = SpaceGuard::new(dir.path().to_path_buf(), u64::MAX);
        assert!(beyond.check(Need::Audit).is_err());
        assert!(
            SpaceGuard::new(dir.path().to_path_buf(), 0)
                .check(Need::Record)
                .is_ok(),
            "a reserve of 0 checks nothing"
        );
    }
}
