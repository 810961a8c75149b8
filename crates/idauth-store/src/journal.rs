//! The audit journal of one store on the embedded engine: append-only segment files
//! beside sled's, not sled trees.
//!
//! sled keeps state in memory for every key it has ever stored (about 20 bytes per
//! sequential key, 45 per random one, whatever its page cache: docs/reliability.md,
//! "Soak"), so an audit chain and a history index in sled trees grew the service's
//! memory with every verify. Here an entry costs memory nowhere: the entries live in
//! segment files (`{first seq}.log`, a new one begun once the last holds
//! [`SEGMENT_BYTES`]), and each frame carries the position ([`Link`]: sequence number,
//! segment, byte offset) of the same resident's previous entry, so a history is a
//! walk back from the resident's latest entry, whose position sled keeps (one key per
//! resident, overwritten in place: flat). Positions are known before a batch is
//! written ([`Journal::plan`]), so the latest-entry keys go to sled in the flush
//! before the frames are written.
//!
//! A frame is `u32` payload length, the payload, then the first 8 bytes of the
//! payload's BLAKE3 hash (a torn or damaged frame does not pass). The payload is the
//! sequence number, the link to the same subject's previous entry (24 bytes, all ones
//! for none), a subject flag and the 32-byte storage key when set, then the entry's
//! bytes as the chain hashes them.
//!
//! Durability: the group commit writes and syncs a batch's frames after sled's flush,
//! and records in sled how far the journal was synced ([`Synced`]). On open,
//! everything before that point is taken as written; frames past it (the last batch
//! when its record had not reached sled's disk, or the batch a crash interrupted,
//! never acknowledged) are kept while they pass their checks and the rest is cut off.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A segment is closed and a new one begun once it holds this many bytes.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// No previous entry of the subject (all three fields of the link).
const NONE: u64 = u64::MAX;

/// Frame overhead: length, check value.
const FRAME_EXTRA: u64 = 4 + 8;

/// Payload bytes before the entry: sequence number, link, subject flag.
const PAYLOAD_FIXED: usize = 8 + 24 + 1;

/// A payload longer than this is a damaged length field, not an entry.
const MAX_PAYLOAD: u32 = 1 << 20;

/// Where an entry is: its sequence number, its segment (the segment's first
/// sequence number) and its frame's byte offset there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Link {
    /// The entry's sequence number.
    pub(crate) seq: u64,
    /// The first sequence number of its segment.
    pub(crate) segment: u64,
    /// The frame's offset in the segment file.
    pub(crate) offset: u64,
}

impl Link {
    /// The link as 24 bytes; `None` as all ones.
    pub(crate) fn encode(link: Option<Self>) -> [u8; 24] {
        let link = link.unwrap_or(Self {
            seq: NONE,
            segment: NONE,
            offset: NONE,
        });
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&link.seq.to_le_bytes());
        out[8..16].copy_from_slice(&link.segment.to_le_bytes());
        out[16..].copy_from_slice(&link.offset.to_le_bytes());
        out
    }

    /// The link in 24 bytes (`None`: all ones, or fewer than 24 bytes).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let word = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        let (seq, segment, offset) = (word(0)?, word(1)?, word(2)?);
        (seq != NONE).then_some(Self {
            seq,
            segment,
            offset,
        })
    }
}

/// One entry as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Position in the chain.
    pub(crate) seq: u64,
    /// Where the same subject's previous entry is.
    pub(crate) prev: Option<Link>,
    /// The resident the entry concerns, if any.
    pub(crate) subject: Option<[u8; 32]>,
    /// The entry's bytes, as the chain hashes them.
    pub(crate) entry: Vec<u8>,
}

impl Frame {
    /// Bytes the frame takes in a segment.
    pub(crate) fn size(&self) -> u64 {
        (PAYLOAD_FIXED + self.subject.map_or(0, |s| s.len()) + self.entry.len()) as u64
            + FRAME_EXTRA
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&Link::encode(self.prev));
        match &self.subject {
            Some(subject) => {
                out.push(1);
                out.extend_from_slice(subject);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.entry);
        let payload_len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
        let check = blake3::hash(&out[start + 4..]);
        out.extend_from_slice(&check.as_bytes()[..8]);
    }

    /// The frame in `payload` whose check value is `check`; `None` when damaged.
    fn decode(payload: &[u8], check: &[u8]) -> Option<Self> {
        if blake3::hash(payload).as_bytes()[..8] != *check || payload.len() < PAYLOAD_FIXED {
            return None;
        }
        let seq = u64::from_le_bytes(payload[..8].try_into().ok()?);
        let prev = Link::decode(&payload[8..32]);
        if prev.is_none() && payload[8..32] != [0xff; 24] {
            return None;
        }
        let (subject, rest) = match payload[32] {
            0 => (None, &payload[PAYLOAD_FIXED..]),
            1 if payload.len() >= PAYLOAD_FIXED + 32 => (
                Some(payload[PAYLOAD_FIXED..PAYLOAD_FIXED + 32].try_into().ok()?),
                &payload[PAYLOAD_FIXED + 32..],
            ),
            _ => return None,
        };
        Some(Self {
            seq,
            prev,
            subject,
            entry: rest.to_vec(),
        })
    }
}

/// How far the journal was synced: kept in sled, so that an open knows which
/// entries were acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Synced {
    /// The next sequence number: every entry below it is on disk.
    pub(crate) next_seq: u64,
    /// The hash of the entry before `next_seq` (zeros for none).
    pub(crate) last_hash: [u8; 32],
    /// The segment written last (its first sequence number), and its length.
    pub(crate) segment: u64,
    /// Bytes of that segment on disk.
    pub(crate) len: u64,
}

impl Synced {
    /// An empty journal's.
    pub(crate) const EMPTY: Self = Self {
        next_seq: 0,
        last_hash: [0; 32],
        segment: 0,
        len: 0,
    };
}

/// The segment being written.
#[derive(Debug)]
struct Tail {
    first: u64,
    log: File,
    len: u64,
    next_seq: u64,
    last_hash: [u8; 32],
}

/// The journal of one store.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    tail: Mutex<Tail>,
    /// Entries below this are written and synced: readers see only these.
    visible: AtomicU64,
    segment_bytes: u64,
}

fn segment_path(dir: &Path, first: u64, ext: &str) -> PathBuf {
    dir.join(format!("{first:020}.{ext}"))
}

fn damaged(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// The segments in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(first) = name.strip_suffix(".log").and_then(|n| n.parse().ok()) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn open_rw(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Reads the frame at `offset` of `log`: the frame and its stored length, `None` at
/// the end of the file, an error when damaged.
fn read_frame(log: &File, offset: u64) -> io::Result<Option<(Frame, u64)>> {
    let mut head = [0u8; 4];
    match log.read_exact_at(&mut head, offset) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let payload_len = u32::from_le_bytes(head);
    if payload_len > MAX_PAYLOAD {
        return Err(damaged(format!(
            "frame at byte {offset}: length {payload_len}"
        )));
    }
    let mut rest = vec![0u8; payload_len as usize + 8];
    log.read_exact_at(&mut rest, offset + 4)?;
    let (payload, check) = rest.split_at(payload_len as usize);
    let frame = Frame::decode(payload, check)
        .ok_or_else(|| damaged(format!("frame at byte {offset} fails its check")))?;
    Ok(Some((frame, u64::from(payload_len) + FRAME_EXTRA)))
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, synced at least to `synced`, and
    /// recovers the frames written after it that pass their checks.
    pub(crate) fn open(dir: &Path, synced: Synced) -> io::Result<Self> {
        Self::open_sized(dir, synced, SEGMENT_BYTES)
    }

    /// [`Journal::open`], with segments closed at `segment_bytes` (small in tests).
    pub(crate) fn open_sized(dir: &Path, synced: Synced, segment_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        if segments.is_empty() && synced.next_seq > 0 {
            return Err(damaged(format!(
                "{} is empty, but {} audit entries were written to it",
                dir.display(),
                synced.next_seq
            )));
        }
        let first = segments.last().copied().unwrap_or(0);
        if first < synced.segment {
            return Err(damaged(format!(
                "{}: segment {} is missing",
                dir.display(),
                synced.segment
            )));
        }
        let log = open_rw(&segment_path(dir, first, "log"))?;
        let (mut len, mut next_seq, mut last_hash) = if first == synced.segment {
            (synced.len, synced.next_seq, synced.last_hash)
        } else if synced.next_seq == first {
            // A segment begun after the synced point: everything in it is recovered.
            (0, first, synced.last_hash)
        } else {
            return Err(damaged(format!(
                "{}: segment {first} does not follow entry {}, the last synced",
                dir.display(),
                synced.next_seq
            )));
        };
        if log.metadata()?.len() < len {
            return Err(damaged(format!(
                "{}: segment {first} is shorter than its synced length {len}",
                dir.display()
            )));
        }
        // Past the synced point: frames kept while whole and in sequence.
        while let Ok(Some((frame, size))) = read_frame(&log, len) {
            if frame.seq != next_seq {
                break;
            }
            last_hash = *blake3::hash(&frame.entry).as_bytes();
            len += size;
            next_seq += 1;
        }
        let cut = log.metadata()?.len() - len;
        if cut > 0 {
            tracing::warn!(
                bytes = cut,
                entries = next_seq,
                "audit journal: cutting off an unfinished write (never acknowledged)"
            );
            log.set_len(len)?;
            log.sync_data()?;
        }
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            tail: Mutex::new(Tail {
                first,
                log,
                len,
                next_seq,
                last_hash,
            }),
            visible: AtomicU64::new(next_seq),
            segment_bytes,
        })
    }

    /// The next sequence number and the last entry's hash.
    pub(crate) fn head(&self) -> (u64, [u8; 32]) {
        let tail = self.tail.lock().expect("journal lock poisoned");
        (tail.next_seq, tail.last_hash)
    }

    /// Where the journal stands, all of it synced.
    pub(crate) fn synced(&self) -> Synced {
        let tail = self.tail.lock().expect("journal lock poisoned");
        Synced {
            next_seq: tail.next_seq,
            last_hash: tail.last_hash,
            segment: tail.first,
            len: tail.len,
        }
    }

    /// Where the next frames, of these sizes, will be written: a batch goes whole to
    /// the tail segment, or to a new one when the tail is full. The group-commit
    /// thread plans and appends one batch at a time.
    pub(crate) fn plan(&self, sizes: impl Iterator<Item = u64>) -> Vec<Link> {
        let tail = self.tail.lock().expect("journal lock poisoned");
        let (segment, mut offset) = if tail.len >= self.segment_bytes {
            (tail.next_seq, 0)
        } else {
            (tail.first, tail.len)
        };
        sizes
            .enumerate()
            .map(|(i, size)| {
                let link = Link {
                    seq: tail.next_seq + i as u64,
                    segment,
                    offset,
                };
                offset += size;
                link
            })
            .collect()
    }

    /// Writes `frames` where [`Journal::plan`] placed them and syncs them; they are
    /// readable once this returns.
    pub(crate) fn append(&self, frames: &[Frame], links: &[Link]) -> io::Result<()> {
        let (Some(last), Some(at)) = (frames.last(), links.first()) else {
            return Ok(());
        };
        let mut tail = self.tail.lock().expect("journal lock poisoned");
        if at.segment != tail.first {
            let log = open_rw(&segment_path(&self.dir, at.segment, "log"))?;
            sync_dir(&self.dir)?;
            (tail.first, tail.log, tail.len) = (at.segment, log, 0);
        }
        if (at.seq, at.offset) != (tail.next_seq, tail.len) || frames[0].seq != at.seq {
            return Err(damaged(format!(
                "appending entry {} at byte {} where entry {} at byte {} is next",
                at.seq, at.offset, tail.next_seq, tail.len
            )));
        }
        let mut bytes = Vec::with_capacity(frames.len() * 256);
        for frame in frames {
            frame.encode(&mut bytes);
        }
        tail.log.write_all_at(&bytes, tail.len)?;
        tail.log.sync_data()?;
        tail.len += bytes.len() as u64;
        tail.next_seq = last.seq + 1;
        tail.last_hash = *blake3::hash(&last.entry).as_bytes();
        self.visible.store(tail.next_seq, Ordering::Release);
        Ok(())
    }

    /// Plans and appends `frames` (numbered from the head), their links set by
    /// `link` from the positions planned; for tools and tests that write whole
    /// chunks.
    pub(crate) fn append_linked(
        &self,
        mut frames: Vec<Frame>,
        mut link: impl FnMut(&mut Frame, Link),
    ) -> io::Result<Vec<Link>> {
        let links = self.plan(frames.iter().map(Frame::size));
        for (frame, at) in frames.iter_mut().zip(&links) {
            link(frame, *at);
        }
        self.append(&frames, &links)?;
        Ok(links)
    }

    /// Whether the entry at `link` is written and synced.
    pub(crate) fn visible(&self, link: Link) -> bool {
        link.seq < self.visible.load(Ordering::Acquire)
    }

    /// The entry at `link`, if written; an error when its frame is damaged or is
    /// not the one the link names.
    pub(crate) fn read(&self, link: Link) -> io::Result<Option<Frame>> {
        if !self.visible(link) {
            return Ok(None);
        }
        let log = File::open(segment_path(&self.dir, link.segment, "log"))?;
        match read_frame(&log, link.offset)? {
            Some((frame, _)) if frame.seq == link.seq => Ok(Some(frame)),
            _ => Err(damaged(format!(
                "audit entry {}: not at byte {} of segment {}",
                link.seq, link.offset, link.segment
            ))),
        }
    }
}

/// Every frame of the journal in `dir`, in order, for tools that read it whole
/// (`verify_chain`, `store copy`): each frame, or where it is damaged (the last item
/// then). A missing directory is an empty journal.
pub(crate) struct Scan {
    dir: PathBuf,
    segments: std::vec::IntoIter<u64>,
    current: Option<(u64, io::BufReader<File>, u64)>,
    done: bool,
}

impl Scan {
    /// The frames in `dir`.
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        let segments = if dir.is_dir() {
            list_segments(dir)?
        } else {
            Vec::new()
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            segments: segments.into_iter(),
            current: None,
            done: false,
        })
    }

    fn next_frame(&mut self) -> Option<std::result::Result<Frame, String>> {
        loop {
            if self.current.is_none() {
                let first = self.segments.next()?;
                let path = segment_path(&self.dir, first, "log");
                match File::open(&path) {
                    Ok(file) => self.current = Some((first, io::BufReader::new(file), 0)),
                    Err(error) => return Some(Err(format!("{}: {error}", path.display()))),
                }
            }
            let (first, reader, at) = self.current.as_mut().expect("set above");
            let mut head = [0u8; 4];
            match read_full(reader, &mut head) {
                Ok(0) => {
                    self.current = None;
                    continue;
                }
                Ok(4) => {}
                Ok(_) => return Some(Err(format!("segment {first}, byte {at}: a cut-off frame"))),
                Err(error) => return Some(Err(format!("segment {first}: {error}"))),
            }
            let len = u32::from_le_bytes(head);
            if len > MAX_PAYLOAD {
                return Some(Err(format!("segment {first}, byte {at}: a damaged length")));
            }
            let mut rest = vec![0u8; len as usize + 8];
            if !matches!(read_full(reader, &mut rest), Ok(n) if n == rest.len()) {
                return Some(Err(format!("segment {first}, byte {at}: a cut-off frame")));
            }
            let (payload, check) = rest.split_at(len as usize);
            let Some(frame) = Frame::decode(payload, check) else {
                return Some(Err(format!("segment {first}, byte {at}: fails its check")));
            };
            *at += u64::from(len) + FRAME_EXTRA;
            return Some(Ok(frame));
        }
    }
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

impl Iterator for Scan {
    type Item = std::result::Result<Frame, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_frame();
        self.done = matches!(item, None | Some(Err(_)));
        item
    }
}

/// Decodes `bytes` as a frame's payload and check value; one that decodes must encode
/// back to the same bytes (the fuzz target's and the property test's check).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn frame_round_trip(bytes: &[u8]) {
    let Some(split) = bytes.len().checked_sub(8) else {
        return;
    };
    let (payload, check) = bytes.split_at(split);
    if let Some(frame) = Frame::decode(payload, check) {
        let mut encoded = Vec::new();
        frame.encode(&mut encoded);
        assert_eq!(&encoded[4..], bytes, "a frame re-encodes to other bytes");
    }
}

/// Replaces entry `seq`'s bytes in the journal in `dir` (closed), or removes the entry
/// (`None`), each frame written back well formed into one segment, as someone with
/// access to the files could: for tests of what the chain check finds.
pub(crate) fn rewrite_entry(dir: &Path, seq: u64, entry: Option<Vec<u8>>) -> io::Result<()> {
    let mut frames = Scan::new(dir)?
        .collect::<std::result::Result<Vec<Frame>, String>>()
        .map_err(damaged)?;
    let at = frames
        .iter()
        .position(|frame| frame.seq == seq)
        .ok_or_else(|| damaged(format!("no entry {seq}")))?;
    match entry {
        Some(entry) => frames[at].entry = entry,
        None => drop(frames.remove(at)),
    }
    write_raw(dir, &frames)
}

/// Replaces the journal in `dir` with one segment holding `frames` as they are
/// (numbers and links unchecked): for tests of what the chain check finds.
pub(crate) fn write_raw(dir: &Path, frames: &[Frame]) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut log = Vec::new();
    for frame in frames {
        frame.encode(&mut log);
    }
    std::fs::write(segment_path(dir, 0, "log"), log)
}

#[cfg(test)]
mod tests;
