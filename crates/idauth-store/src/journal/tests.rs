use super::*;

fn frame(seq: u64, subject: Option<u8>, prev: Option<u64>) -> Frame {
    Frame {
        seq,
        prev,
        subject: subject.map(|s| [s; 32]),
        entry: format!("entry {seq}").into_bytes(),
    }
}

fn frames(range: std::ops::Range<u64>) -> Vec<Frame> {
    range
        .map(|seq| frame(seq, Some((seq % 3) as u8), seq.checked_sub(3)))
        .collect()
}

fn scanned(dir: &Path) -> Vec<std::result::Result<Frame, String>> {
    Scan::new(dir).unwrap().collect()
}

#[test]
fn frames_round_trip_across_segments_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open_sized(dir.path(), Synced::EMPTY, 200).unwrap();
    for chunk in [0..3, 3..4, 4..10, 10..13, 13..25] {
        journal.append(&frames(chunk)).unwrap();
    }
    assert!(
        list_segments(dir.path()).unwrap().len() > 3,
        "small segments roll"
    );
    for seq in 0..25 {
        assert_eq!(
            journal.read(seq).unwrap(),
            Some(frames(seq..seq + 1).remove(0))
        );
    }
    assert_eq!(journal.read(25).unwrap(), None, "not written yet");
    let synced = journal.synced();
    drop(journal);
    let reopened = Journal::open_sized(dir.path(), synced, 200).unwrap();
    assert_eq!(reopened.head().0, 25);
    assert_eq!(reopened.read(24).unwrap(), Some(frames(24..25).remove(0)));
    reopened.append(&frames(25..26)).unwrap();
    let all: Vec<_> = scanned(dir.path())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(all, frames(0..26));
}

#[test]
fn a_reopen_keeps_whole_frames_past_the_synced_point_and_cuts_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Synced::EMPTY).unwrap();
    journal.append(&frames(0..4)).unwrap();
    let synced = journal.synced();
    journal.append(&frames(4..8)).unwrap();
    drop(journal);
    // A crash in the middle of the next batch: half a frame at the end.
    let log = segment_path(dir.path(), 0, "log");
    let mut torn = Vec::new();
    frames(8..9)[0].encode(&mut torn);
    let mut bytes = std::fs::read(&log).unwrap();
    let whole = bytes.len() as u64;
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&log, &bytes).unwrap();

    let journal = Journal::open(dir.path(), synced).unwrap();
    assert_eq!(journal.head().0, 8, "entries 4..8 were whole: kept");
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        whole,
        "the torn frame is cut off"
    );
    assert_eq!(journal.read(7).unwrap(), Some(frames(7..8).remove(0)));
    journal.append(&frames(8..9)).unwrap();
    assert_eq!(scanned(dir.path()).len(), 9);
}

#[test]
fn a_damaged_frame_is_an_error_to_its_reader_and_ends_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Synced::EMPTY).unwrap();
    journal.append(&frames(0..5)).unwrap();
    let log = segment_path(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&log).unwrap();
    let mut offset = [0u8; 8];
    File::open(segment_path(dir.path(), 0, "idx"))
        .unwrap()
        .read_exact_at(&mut offset, 2 * 8)
        .unwrap();
    bytes[u64::from_le_bytes(offset) as usize + 12] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    assert!(journal.read(2).is_err(), "entry 2 fails its check");
    assert!(
        journal.read(3).unwrap().is_some(),
        "the others are still read"
    );
    let scan = scanned(dir.path());
    assert_eq!(scan.len(), 3);
    assert!(
        scan[2].as_ref().is_err_and(|why| why.contains("check")),
        "{:?}",
        scan[2]
    );
}

#[test]
fn a_journal_shorter_than_recorded_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Synced::EMPTY).unwrap();
    journal.append(&frames(0..5)).unwrap();
    let synced = journal.synced();
    drop(journal);
    let log = segment_path(dir.path(), 0, "log");
    let len = std::fs::metadata(&log).unwrap().len();
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let error = Journal::open(dir.path(), synced).unwrap_err();
    assert!(error.to_string().contains("shorter"), "{error}");
    let empty = tempfile::tempdir().unwrap();
    assert!(Journal::open(empty.path(), synced).is_err(), "files gone");
}
