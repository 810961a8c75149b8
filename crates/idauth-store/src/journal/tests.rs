use super::*;

fn frame(seq: u64) -> Frame {
    Frame {
        seq,
        prev: None,
        subject: Some([(seq % 3) as u8; 32]),
        entry: format!("entry {seq}").into_bytes(),
    }
}

/// Appends entries `range`, each linked to the last of its subject; their links.
fn append(journal: &Journal, range: std::ops::Range<u64>, last: &mut [Option<Link>]) -> Vec<Link> {
    journal
        .append_linked(range.map(frame).collect(), |frame, link| {
            let subject = usize::from(frame.subject.unwrap()[0]);
            frame.prev = last[subject].replace(link);
        })
        .unwrap()
}

fn scanned(dir: &Path) -> Vec<std::result::Result<Frame, String>> {
    Scan::new(dir).unwrap().collect()
}

#[test]
fn frames_round_trip_across_segments_reopens_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open_sized(dir.path(), Synced::EMPTY, 200).unwrap();
    let mut last = [None; 3];
    let mut links = Vec::new();
    for chunk in [0..3, 3..4, 4..10, 10..13, 13..25] {
        links.extend(append(&journal, chunk, &mut last));
    }
    assert!(
        list_segments(dir.path()).unwrap().len() > 3,
        "small segments roll"
    );
    for (seq, link) in links.iter().enumerate() {
        let read = journal.read(*link).unwrap().unwrap();
        assert_eq!(
            (read.seq, read.entry.clone()),
            (seq as u64, frame(seq as u64).entry)
        );
        let back = seq.checked_sub(3).map(|seq| links[seq]);
        assert_eq!(
            read.prev, back,
            "linked to the same subject's previous entry"
        );
    }
    let ahead = journal.plan(std::iter::once(100))[0];
    assert_eq!(journal.read(ahead).unwrap(), None, "not written yet");
    let wrong = Link { seq: 5, ..links[6] };
    assert!(
        journal.read(wrong).is_err(),
        "a link to another entry's frame"
    );
    let synced = journal.synced();
    drop(journal);
    let reopened = Journal::open_sized(dir.path(), synced, 200).unwrap();
    assert_eq!(reopened.head().0, 25);
    assert_eq!(reopened.read(links[24]).unwrap().unwrap().seq, 24);
    append(&reopened, 25..26, &mut last);
    let all: Vec<_> = scanned(dir.path())
        .into_iter()
        .map(|f| f.unwrap().seq)
        .collect();
    assert_eq!(all, (0..26).collect::<Vec<_>>());
}

#[test]
fn a_reopen_keeps_whole_frames_past_the_synced_point_and_cuts_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Synced::EMPTY).unwrap();
    let mut last = [None; 3];
    append(&journal, 0..4, &mut last);
    let synced = journal.synced();
    let links = append(&journal, 4..8, &mut last);
    drop(journal);
    // A crash in the middle of the next batch: half a frame at the end.
    let log = segment_path(dir.path(), 0, "log");
    let mut torn = Vec::new();
    frame(8).encode(&mut torn);
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
    assert_eq!(journal.read(links[3]).unwrap().unwrap().seq, 7);
    append(&journal, 8..9, &mut last);
    assert_eq!(scanned(dir.path()).len(), 9);
}

#[test]
fn a_damaged_frame_is_an_error_to_its_reader_and_ends_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), Synced::EMPTY).unwrap();
    let links = append(&journal, 0..5, &mut [None; 3]);
    let log = segment_path(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[links[2].offset as usize + 12] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    assert!(journal.read(links[2]).is_err(), "entry 2 fails its check");
    assert!(
        journal.read(links[3]).unwrap().is_some(),
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
    append(&journal, 0..5, &mut [None; 3]);
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

proptest::proptest! {
    #[test]
    fn any_frame_decodes_to_itself_and_any_flipped_bit_is_refused(
        seq in proptest::prelude::any::<u64>(),
        prev in proptest::option::of((0u64..u64::MAX, proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>())),
        subject in proptest::option::of(proptest::prelude::any::<[u8; 32]>()),
        entry in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        flip in proptest::prelude::any::<usize>(),
    ) {
        let prev = prev.map(|(seq, segment, offset)| Link { seq, segment, offset });
        let frame = Frame { seq, prev, subject, entry };
        proptest::prop_assert_eq!(frame.size(), {
            let mut bytes = Vec::new();
            frame.encode(&mut bytes);
            bytes.len() as u64
        });
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        frame_round_trip(&bytes[4..]);
        let (payload, check) = bytes[4..].split_at(bytes.len() - 12);
        proptest::prop_assert_eq!(Frame::decode(payload, check), Some(frame));
        let mut damaged = bytes[4..].to_vec();
        let bit = flip % (damaged.len() * 8);
        damaged[bit / 8] ^= 1 << (bit % 8);
        let (payload, check) = damaged.split_at(damaged.len() - 8);
        proptest::prop_assert_eq!(Frame::decode(payload, check), None);
    }
}
