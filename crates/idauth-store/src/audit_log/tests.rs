use super::*;

/// A scratch directory and a sled database in it.
fn scratch() -> (tempfile::TempDir, sled::Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .open()
        .unwrap();
    (dir, db)
}

fn open(dir: &Path, db: &sled::Db, prefix: &str) -> Arc<AuditLog> {
    Arc::new(AuditLog::open(dir, db, prefix).unwrap())
}

fn records(subject: u8, references: &[&str]) -> Vec<AuditRecord> {
    references
        .iter()
        .map(|reference| AuditRecord {
            reference: (*reference).into(),
            subject: Some(StorageKey([subject; 32])),
            ..AuditRecord::default()
        })
        .collect()
}

fn append(batch: Vec<(&Arc<AuditLog>, Vec<AuditRecord>)>) -> Vec<Vec<u64>> {
    let staged = stage(
        batch
            .into_iter()
            .map(|(log, r)| (Arc::clone(log), r))
            .collect(),
    )
    .unwrap();
    write(staged).unwrap()
}

fn references(log: &AuditLog, subject: u8) -> Vec<String> {
    let (page, _) = log
        .history(&StorageKey([subject; 32]), None, None, 100)
        .unwrap();
    page.into_iter().map(|entry| entry.reference).collect()
}

#[test]
fn one_batch_keeps_each_logs_order_chain_and_histories() {
    let (dir, db) = scratch();
    let (a, b) = (open(dir.path(), &db, "a/"), open(dir.path(), &db, "b/"));
    let mut mixed = records(1, &["a0", "a1"]);
    mixed.extend(records(3, &["a2"]));
    let first = append(vec![(&a, mixed), (&b, records(2, &["b0", "b1"]))]);
    assert_eq!(first, vec![vec![0, 1, 2], vec![0, 1]]);
    let second = append(vec![(&b, records(2, &["b2"])), (&a, records(1, &["a3"]))]);
    assert_eq!(second, vec![vec![2], vec![3]]);
    assert_eq!(crate::verify_chain(dir.path(), &db, "a/").unwrap(), Ok(4));
    assert_eq!(crate::verify_chain(dir.path(), &db, "b/").unwrap(), Ok(3));
    assert_eq!(references(&a, 1), ["a3", "a1", "a0"]);
    assert_eq!(references(&a, 3), ["a2"]);
    assert!(references(&b, 1).is_empty());
    let (page, more) = a.history(&StorageKey([1; 32]), Some(3), None, 1).unwrap();
    assert_eq!((page[0].reference.as_str(), more), ("a1", true));
}

#[test]
fn a_crash_between_staging_and_writing_leaves_histories_as_before_the_batch() {
    let (dir, db) = scratch();
    let log = open(dir.path(), &db, "");
    append(vec![(&log, records(1, &["kept-0", "kept-1"]))]);
    append(vec![(&log, records(2, &["kept-2"]))]);
    // Staged (latest-entry keys set in sled, flushed), frames never written.
    let mut lost = records(1, &["lost-3"]);
    lost.extend(records(4, &["lost-4"]));
    drop(stage(vec![(Arc::clone(&log), lost)]).unwrap());
    db.flush().unwrap();
    drop(log);

    let log = open(dir.path(), &db, "");
    assert_eq!(references(&log, 1), ["kept-1", "kept-0"]);
    assert!(references(&log, 4).is_empty());
    // The lost numbers are used again, by other residents: no history leaks.
    assert_eq!(
        append(vec![(&log, records(2, &["new-3", "new-4"]))]),
        vec![vec![3, 4]]
    );
    assert_eq!(references(&log, 1), ["kept-1", "kept-0"]);
    assert_eq!(references(&log, 2), ["new-4", "new-3", "kept-2"]);
    assert!(references(&log, 4).is_empty());
    assert_eq!(crate::verify_chain(dir.path(), &db, "").unwrap(), Ok(5));
}

#[test]
fn an_old_log_in_sled_trees_is_converted_with_its_histories() {
    let (dir, db) = scratch();
    // The layout of earlier versions: entries under their big-endian number, the
    // head after them, the history index as (subject, seq).
    let old = db.open_tree("s/audit").unwrap();
    let history = db.open_tree("s/history").unwrap();
    let mut head = Head {
        next_seq: 0,
        last_hash: [0; 32],
    };
    for (i, subject) in [1u8, 2, 1, 1, 2].into_iter().enumerate() {
        let prepared = audit::prepare(&head, records(subject, &[&format!("old-{i}")])).unwrap();
        let (seq, bytes, _) = &prepared.entries[0];
        old.insert(seq.to_be_bytes(), bytes.as_slice()).unwrap();
        let mut key = vec![subject; 32];
        key.extend_from_slice(&seq.to_be_bytes());
        history.insert(key, &[][..]).unwrap();
        head = prepared.head;
    }
    old.insert([0xff; 9], postcard::to_stdvec(&head).unwrap())
        .unwrap();

    let log = open(dir.path(), &db, "s/");
    assert_eq!(references(&log, 1), ["old-3", "old-2", "old-0"]);
    assert_eq!(references(&log, 2), ["old-4", "old-1"]);
    assert!(
        !db.tree_names()
            .iter()
            .any(|name| name.as_ref() == b"s/audit"),
        "old tree dropped"
    );
    append(vec![(&log, records(2, &["new-5"]))]);
    assert_eq!(references(&log, 2), ["new-5", "old-4", "old-1"]);
    assert_eq!(crate::verify_chain(dir.path(), &db, "s/").unwrap(), Ok(6));
}
