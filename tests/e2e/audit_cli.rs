//! `idauth audit verify` on a real service's data: intact after enrolments and
//! verifies, and naming the first bad entry after an entry is edited or deleted on disk.

use std::path::Path;

use crate::common::service::{idauth, scratch, spawn};

fn run(args: &[&str]) -> (bool, String) {
    let output = idauth().args(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

fn audit(data: &str) -> (bool, String) {
    run(&["audit", "verify", "--data-dir", data])
}

/// The shard whose log holds entries, and how many.
fn busy_shard(report: &str) -> (String, u64) {
    report
        .lines()
        .filter_map(|line| {
            let (shard, rest) = line.split_once(": audit chain intact, ")?;
            let entries: u64 = rest.split(' ').next()?.parse().ok()?;
            (entries > 0).then(|| (shard.to_owned(), entries))
        })
        .next()
        .unwrap_or_else(|| panic!("no shard with entries in {report}"))
}

/// Entry `seq` of one shard's audit journal in `idauth serve`'s shared engine.
fn audit_entry(data: &Path, shard: &str, seq: u64) -> Vec<u8> {
    let log = data
        .join("shards/journal")
        .join(shard)
        .join("00000000000000000000.log");
    // The frame layout (crates/idauth-store/src/journal.rs): length, sequence number,
    // link to the subject's previous entry (24 bytes), subject flag and key, the
    // entry, an 8-byte check.
    let bytes = std::fs::read(log).unwrap();
    let mut at = 0;
    loop {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let payload = &bytes[at + 4..at + 4 + len];
        if u64::from_le_bytes(payload[..8].try_into().unwrap()) == seq {
            let start = if payload[32] == 1 { 65 } else { 33 };
            return payload[start..].to_vec();
        }
        at += 4 + len + 8;
    }
}

/// Replaces (or with `None` removes) entry `seq` of one shard's audit journal in
/// `idauth serve`'s shared engine, frames written back well formed.
fn edit_audit(data: &Path, shard: &str, seq: u64, bytes: Option<Vec<u8>>) {
    idauth_store::rewrite_audit_entry(&data.join("shards"), &format!("{shard}/"), seq, bytes)
        .unwrap();
}

#[test]
fn audit_verify_finds_edits_and_deletions() {
    let dir = scratch();
    let data = dir.path().join("data");
    let secrets = dir.path().join("secrets");
    let (data_arg, secrets_arg) = (data.to_str().unwrap(), secrets.to_str().unwrap());
    let server = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_arg,
            "--secrets-dir",
            secrets_arg,
        ],
        dir.path(),
    );
    let url = format!("http://{}", server.addr);
    let key_file = secrets.join("dev-credential.key");
    let fingers = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fingers");
    let finger = |name: &str| format!("2={}", fingers.join(name).display());
    let client = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend([
            "--server",
            &url,
            "--api-key-file",
            key_file.to_str().unwrap(),
        ]);
        run(&args)
    };
    let (ok, text) = client(&[
        "enrol",
        "--id",
        "5150",
        "--finger",
        &finger("asha-1.iso"),
        "--name",
        "Asha",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = client(&["verify", "--id", "5150", "--finger", &finger("asha-2.iso")]);
    assert!(ok, "{text}");
    let (ok, text) = client(&[
        "verify",
        "--id",
        "5150",
        "--finger",
        &finger("bala-2.iso"),
        "--json",
    ]);
    assert!(!ok && text.contains("BIOMETRIC_MISMATCH"), "{text}");
    drop(server);

    let (ok, report) = audit(data_arg);
    assert!(ok, "{report}");
    let (shard, entries) = busy_shard(&report);
    assert_eq!(entries, 3, "{report}");

    let mut bytes = audit_entry(&data, &shard, 1);
    let at = bytes.windows(6).position(|w| w == b"verify").unwrap();
    bytes[at] = b'V';
    edit_audit(&data, &shard, 1, Some(bytes));
    let (ok, report) = audit(data_arg);
    assert!(!ok);
    assert!(
        report.contains(&format!("{shard}: audit chain BROKEN at entry 1")),
        "{report}"
    );

    edit_audit(&data, &shard, 0, None);
    let (ok, report) = audit(data_arg);
    assert!(!ok);
    assert!(
        report.contains(&format!("{shard}: audit chain BROKEN at entry 0: missing")),
        "{report}"
    );
}
