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

/// Edits one shard's audit tree in `idauth serve`'s shared engine.
fn edit_audit(data: &Path, shard: &str, edit: impl Fn(&sled::Tree)) {
    let db = sled::open(data.join("shards")).unwrap();
    edit(&db.open_tree(format!("{shard}/audit")).unwrap());
    db.flush().unwrap();
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

    edit_audit(&data, &shard, |tree| {
        let mut bytes = tree.get(1u64.to_be_bytes()).unwrap().unwrap().to_vec();
        let at = bytes.windows(6).position(|w| w == b"verify").unwrap();
        bytes[at] = b'V';
        tree.insert(1u64.to_be_bytes(), bytes).unwrap();
    });
    let (ok, report) = audit(data_arg);
    assert!(!ok);
    assert!(
        report.contains(&format!("{shard}: audit chain BROKEN at entry 1")),
        "{report}"
    );

    edit_audit(&data, &shard, |tree| {
        tree.remove(0u64.to_be_bytes()).unwrap();
    });
    let (ok, report) = audit(data_arg);
    assert!(!ok);
    assert!(
        report.contains(&format!("{shard}: audit chain BROKEN at entry 0: missing")),
        "{report}"
    );
}
