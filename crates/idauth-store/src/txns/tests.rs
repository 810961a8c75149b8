use super::*;

#[test]
fn repeats_are_caught_across_hours_and_old_hours_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let index = TxnIndex::open(dir.path(), 25 * HOUR_MS).unwrap();
    let now = 1_800_000_000_000;
    assert!(index.record("a", "t1", now, now).unwrap());
    assert!(!index.record("a", "t1", now, now).unwrap(), "exact replay");
    assert!(
        !index
            .record("a", "t1", now + 2 * HOUR_MS, now + 2 * HOUR_MS)
            .unwrap(),
        "same txn, new timestamp"
    );
    assert!(
        index.record("b", "t1", now, now).unwrap(),
        "another caller's txn"
    );
    let later = now + 30 * HOUR_MS;
    assert!(
        index.record("a", "t1", later, later).unwrap(),
        "outside the window"
    );
    assert_eq!(index.len(), 1, "old hours purged");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "their files deleted");
}

#[test]
fn a_table_is_rebuilt_larger_past_half_full_and_everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_800_000_000_000;
    let pairs = 3 * MIN_SLOTS;
    {
        let index = TxnIndex::open(dir.path(), 25 * HOUR_MS).unwrap();
        for i in 0..pairs {
            assert!(index.record("c", &format!("t{i}"), now, now).unwrap());
        }
        let tables = index.tables(0, u64::MAX);
        assert_eq!(tables.len(), 1, "one table for the hour");
        let (slots, _) = tables[0].1.load();
        assert!(slots >= 4 * MIN_SLOTS, "rebuilt larger: {slots} slots");
        index.sync().unwrap();
    }
    let index = TxnIndex::open(dir.path(), 25 * HOUR_MS).unwrap();
    assert_eq!(index.len(), pairs);
    for i in (0..pairs).step_by(97) {
        assert!(
            !index.record("c", &format!("t{i}"), now, now).unwrap(),
            "t{i}"
        );
    }
    assert!(index.record("c", "fresh", now, now).unwrap());
    // The next hour's first table is sized for the busiest hour seen.
    index
        .record("c", "next hour", now + HOUR_MS, now + HOUR_MS)
        .unwrap();
    let next = index.tables(hour(now + HOUR_MS), hour(now + HOUR_MS));
    assert!(next[0].1.load().0 >= 2 * pairs, "{:?}", next[0].1.load());
    let hashes: Vec<_> = pairs_in(dir.path());
    assert_eq!(hashes.len() as u64, pairs + 2);
}

fn pairs_in(dir: &Path) -> Vec<(u64, [u8; 16])> {
    pairs(dir).unwrap()
}

#[test]
fn a_half_built_table_left_by_a_crash_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0000500000.new"), b"idauthT1").unwrap();
    let index = TxnIndex::open(dir.path(), 25 * HOUR_MS).unwrap();
    assert_eq!(index.len(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "removed");
}
