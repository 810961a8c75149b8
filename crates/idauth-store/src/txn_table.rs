//! One hour's table of the transaction index: an open-addressing hash table of
//! 16-byte (caller, txn) hashes in a file of its own, read and written in place.
//!
//! The index used to be a sled tree, and sled keeps memory for every key it has ever
//! stored (docs/reliability.md, "Soak"): a verify each. A table in a file costs no
//! memory per entry; a lookup reads one window of slots ([`WINDOW`] of them, 256
//! bytes) from the page cache. A table holds at most half its capacity: past that the
//! index rebuilds it four times larger ([`HourTable::build`]), so an hour keeps one
//! file and a lookup one read per hour.
//!
//! The file is a 64-byte header (magic, capacity, an entry count written at each
//! sync and used only to size tables) and then the slots. A slot is empty while all
//! zeros; hashes are never zero ([`nonzero`]). A slot torn by a crash is a phantom
//! entry of random bytes, which no request's hash will meet.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const MAGIC: &[u8; 8] = b"idauthT1";
const HEADER: u64 = 64;
const SLOT: u64 = 16;

/// Slots read per probe step.
pub(crate) const WINDOW: u64 = 16;

/// `hash`, made nonzero (all zeros marks an empty slot).
pub(crate) fn nonzero(mut hash: [u8; 16]) -> [u8; 16] {
    if hash == [0; 16] {
        hash[15] = 1;
    }
    hash
}

/// What an insert found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    /// The hash is new and now stored.
    Added,
    /// The hash was already there.
    Present,
    /// No empty slot (the index begins a larger table before this can happen).
    Full,
}

/// One table file.
#[derive(Debug)]
pub(crate) struct HourTable {
    file: File,
    capacity: u64,
    count: AtomicU64,
    dirty: AtomicBool,
}

fn invalid(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

impl HourTable {
    /// Creates the table at `path` with `capacity` slots (a power of two) holding
    /// the hashes of `source`, if any, replacing any table there: made whole and
    /// synced under a temporary name, then renamed, so a crash leaves the old table or
    /// the new one, never half of either. The new table is filled through a mapping
    /// of its file, not a buffer on the heap: a heap buffer of some megabytes,
    /// once freed, stays in the process's resident memory (glibc serves the next one
    /// from its arenas), which the soak saw as growth with every rebuild.
    pub(crate) fn build(path: &Path, capacity: u64, source: Option<&Self>) -> io::Result<Self> {
        debug_assert!(capacity.is_power_of_two() && capacity >= WINDOW);
        let building = path.with_extension("new");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&building)?;
        let count = source.map_or(0, |source| source.count.load(Ordering::Relaxed));
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8] = capacity.trailing_zeros() as u8;
        header[16..24].copy_from_slice(&count.to_le_bytes());
        file.write_all_at(&header, 0)?;
        // Sparse: disk blocks are taken as slots are written.
        file.set_len(HEADER + capacity * SLOT)?;
        if let Some(source) = source {
            // SAFETY: the file was created above under a name no one else opens, and
            // its length does not change while it is mapped.
            let mut map = unsafe { memmap2::MmapMut::map_mut(&file)? };
            let slots = &mut map[HEADER as usize..];
            let mask = capacity - 1;
            source.each_hash(|hash| {
                let mut slot = u64::from_le_bytes(hash[..8].try_into().expect("8 bytes")) & mask;
                loop {
                    let at = &mut slots[(slot * SLOT) as usize..][..SLOT as usize];
                    if *at == [0; SLOT as usize] {
                        at.copy_from_slice(hash);
                        break;
                    }
                    slot = (slot + 1) & mask;
                }
            })?;
            map.flush()?;
        }
        file.sync_all()?;
        std::fs::rename(&building, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(Self {
            file,
            capacity,
            count: AtomicU64::new(count),
            dirty: AtomicBool::new(false),
        })
    }

    /// Opens the table at `path`.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header, 0)?;
        if &header[..8] != MAGIC || !(4..48).contains(&header[8]) {
            return Err(invalid(path, "not a transaction table"));
        }
        let capacity = 1u64 << header[8];
        if file.metadata()?.len() != HEADER + capacity * SLOT {
            return Err(invalid(path, "its length is not its capacity's"));
        }
        let count = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
        Ok(Self {
            file,
            capacity,
            count: AtomicU64::new(count),
            dirty: AtomicBool::new(false),
        })
    }

    /// Slots, and entries stored (as of the last sync after a restart).
    pub(crate) fn load(&self) -> (u64, u64) {
        (self.capacity, self.count.load(Ordering::Relaxed))
    }

    /// Whether `hash` is stored, and else the first empty slot of its probe run.
    fn probe(&self, hash: &[u8; 16]) -> io::Result<(bool, Option<u64>)> {
        let mask = self.capacity - 1;
        let mut slot = u64::from_le_bytes(hash[..8].try_into().expect("8 bytes")) & mask;
        let mut window = [0u8; (WINDOW * SLOT) as usize];
        let mut scanned = 0;
        while scanned < self.capacity {
            let n = WINDOW.min(self.capacity - slot);
            let bytes = &mut window[..(n * SLOT) as usize];
            self.file.read_exact_at(bytes, HEADER + slot * SLOT)?;
            for (i, stored) in bytes.chunks_exact(SLOT as usize).enumerate() {
                if stored == hash {
                    return Ok((true, None));
                }
                if stored == [0; SLOT as usize] {
                    return Ok((false, Some(slot + i as u64)));
                }
            }
            slot = (slot + n) & mask;
            scanned += n;
        }
        Ok((false, None))
    }

    /// Whether `hash` is stored.
    pub(crate) fn contains(&self, hash: &[u8; 16]) -> io::Result<bool> {
        Ok(self.probe(hash)?.0)
    }

    /// Stores `hash` unless present. Callers serialise inserts into one table.
    pub(crate) fn insert(&self, hash: &[u8; 16]) -> io::Result<Insert> {
        match self.probe(hash)? {
            (true, _) => Ok(Insert::Present),
            (false, None) => Ok(Insert::Full),
            (false, Some(slot)) => {
                self.file.write_all_at(hash, HEADER + slot * SLOT)?;
                self.count.fetch_add(1, Ordering::Relaxed);
                self.dirty.store(true, Ordering::Release);
                Ok(Insert::Added)
            }
        }
    }

    /// Makes the inserts since the last sync durable, with the count.
    pub(crate) fn sync(&self) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let count = self.count.load(Ordering::Relaxed);
        let synced = self
            .file
            .write_all_at(&count.to_le_bytes(), 16)
            .and_then(|()| self.file.sync_data());
        if synced.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        synced
    }

    /// Calls `each` with every stored hash, in slot order, reading 64 KiB at a time.
    pub(crate) fn each_hash(&self, mut each: impl FnMut(&[u8; 16])) -> io::Result<()> {
        const CHUNK: u64 = 4096;
        let mut chunk = vec![0u8; (CHUNK * SLOT) as usize];
        let mut slot = 0;
        while slot < self.capacity {
            let n = CHUNK.min(self.capacity - slot);
            let bytes = &mut chunk[..(n * SLOT) as usize];
            self.file.read_exact_at(bytes, HEADER + slot * SLOT)?;
            for stored in bytes.chunks_exact(SLOT as usize) {
                if stored != [0; SLOT as usize] {
                    each(stored.try_into().expect("16 bytes"));
                }
            }
            slot += n;
        }
        Ok(())
    }

    /// Every stored hash, in slot order (for `store copy`).
    pub(crate) fn hashes(&self) -> io::Result<Vec<[u8; 16]>> {
        let mut out = Vec::with_capacity(self.count.load(Ordering::Relaxed) as usize);
        self.each_hash(|hash| out.push(*hash))?;
        Ok(out)
    }
}
