//! What the group commit syncs after sled's flush: its data file, and the blob files
//! sled writes but never syncs.
//!
//! sled's flush ends with `sync_file_range`, which neither flushes the disk's write
//! cache nor a grown file's size, so the data file gets an `fdatasync` of its own
//! (docs/reliability.md, "Durability"). A node too large for the log (over a quarter
//! of a segment, 128 KiB: about 17 records of 8 KB) goes to a file of its own under
//! `blobs/`, named by its log sequence number, which sled writes without any sync:
//! the log, once synced, would point at a file that a power cut can lose. So every
//! blob file that appeared since the last commit is synced too, with the directory
//! that names it. A blob whose write was still under way when it was listed (its
//! write began after the flush did) is synced once more at the next commit, after the
//! flush that makes its pointer durable, which waits for that write to finish.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::commit::DataSync;

/// A directory changed this recently is listed again even if its modification time
/// looks unchanged: some filesystems keep that time in whole seconds.
const MTIME_GRAIN: Duration = Duration::from_secs(2);

/// sled's data file and blob directory.
#[derive(Debug)]
pub(crate) struct SledFiles {
    data: File,
    blobs: PathBuf,
    /// The blob directory's modification time when it was last listed.
    listed_at: Option<SystemTime>,
    /// Blob files seen at the last listing.
    known: HashSet<OsString>,
    /// Blob files that were new at the last listing, to sync once more.
    settling: Vec<PathBuf>,
}

impl SledFiles {
    /// sled's files in `dir` (the database must be open: it creates them).
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            data: File::open(dir.join("db"))?,
            blobs: dir.join("blobs"),
            listed_at: None,
            known: HashSet::new(),
            settling: Vec::new(),
        })
    }

    /// Syncs the blob files that appeared since the last call (and those that were
    /// new then), then the directory when it holds new names; how many were new.
    pub(crate) fn sync_blobs(&mut self) -> io::Result<usize> {
        let mtime = std::fs::metadata(&self.blobs)?.modified()?;
        let recent = SystemTime::now()
            .duration_since(mtime)
            .map_or(true, |age| age < MTIME_GRAIN);
        let mut new = Vec::new();
        if recent || self.listed_at != Some(mtime) {
            let mut names = HashSet::with_capacity(self.known.len());
            for entry in std::fs::read_dir(&self.blobs)? {
                let name = entry?.file_name();
                if !self.known.contains(&name) {
                    new.push(self.blobs.join(&name));
                }
                names.insert(name);
            }
            self.known = names;
            self.listed_at = Some(mtime);
        }
        for path in self.settling.iter().chain(&new) {
            match File::open(path) {
                Ok(file) => file.sync_data()?,
                // sled removed it (its blob collection): nothing left to make durable.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        if !new.is_empty() {
            File::open(&self.blobs)?.sync_all()?;
        }
        let count = new.len();
        self.settling = new;
        Ok(count)
    }
}

impl DataSync for SledFiles {
    fn sync_data(&mut self) -> io::Result<()> {
        self.data.sync_data()?;
        self.sync_blobs().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_new_blob_file_is_synced_and_named_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"").unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let mut files = SledFiles::open(dir.path()).unwrap();
        assert_eq!(files.sync_blobs().unwrap(), 0);
        for lsn in ["4096", "8192"] {
            std::fs::write(dir.path().join("blobs").join(lsn), b"node").unwrap();
        }
        assert_eq!(files.sync_blobs().unwrap(), 2);
        assert_eq!(
            files.settling.len(),
            2,
            "synced once more at the next commit"
        );
        assert_eq!(files.sync_blobs().unwrap(), 0);
        assert!(files.settling.is_empty());
        std::fs::remove_file(dir.path().join("blobs").join("4096")).unwrap();
        std::fs::write(dir.path().join("blobs").join("12288"), b"node").unwrap();
        assert_eq!(files.sync_blobs().unwrap(), 1);
        assert_eq!(files.known.len(), 2, "a removed blob is forgotten");
    }

    #[test]
    fn a_value_sled_puts_in_a_blob_file_is_found_after_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let mut files = SledFiles::open(dir.path()).unwrap();
        db.insert(b"large", vec![7u8; 300 << 10]).unwrap();
        db.flush().unwrap();
        assert!(
            files.sync_blobs().unwrap() >= 1,
            "sled wrote no blob file for a 300 KiB value"
        );
    }
}
