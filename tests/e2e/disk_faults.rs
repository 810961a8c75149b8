//! Faults of the disk under `idauth serve`: a resident record corrupted on disk is
//! refused for that resident alone with 704 RECORD_UNDECRYPTABLE (never decoded into
//! something else), while every other resident is still served; audit entries damaged
//! on disk make those residents' histories a STORAGE_FAILURE while verifies go
//! on and `audit verify` names the entry; a data filesystem
//! that fills refuses writes with 706 STORAGE_FULL before sled reaches the end of it,
//! keeps verifying, and takes writes again once space is freed; one that fills past
//! the reserve loses no acknowledged write; a read-only one is refused at start.
//!
//! The full and read-only disks are small tmpfs mounts made by the test, which needs
//! root (CI runs as root); elsewhere those tests print why they skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use idauth_core::ErrorCode;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::resident_client::ResidentClient;

use crate::common::service::{
    Authenticated, Running, connect, idauth, now, scratch, serve_over, walkthrough_enrolment,
    walkthrough_verify,
};

fn resident(n: usize) -> Option<v1::Identifier> {
    let id = idauth_core::ResidentId::new(
        idauth_core::IdentifierType::NationalId,
        &format!("disk-{n}"),
    )
    .unwrap();
    Some(idauth_proto::convert::resident_id_to_wire(&id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_records_and_audit_entries_are_refused_alone_and_the_rest_are_served() {
    let dir = scratch();
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let server = serve_over(dir.path(), &data, &secrets, &[]);
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let key = key.trim().to_owned();
    let mut enrolment = EnrolmentClient::new(connect(&url, &key).await);
    const RESIDENTS: usize = 12;
    for n in 0..RESIDENTS {
        enrol(&mut enrolment, n).await.unwrap();
    }
    drop(enrolment);
    drop(server);

    // One bit of every record in one shard's tree flipped, as a bad sector would.
    let db = sled::open(data.join("shards")).unwrap();
    let tree_name = db
        .tree_names()
        .into_iter()
        .find(|name| name.ends_with(b"residents") && !db.open_tree(name).unwrap().is_empty())
        .expect("a shard holds records");
    let tree = db.open_tree(&tree_name).unwrap();
    let mut corrupted = 0;
    for entry in tree.iter() {
        let (k, v) = entry.unwrap();
        let mut bytes = v.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        tree.insert(k, bytes).unwrap();
        corrupted += 1;
    }
    // The same shard's audit journal damaged: a bit flipped every 64 bytes, so that
    // every entry (each well over 64 bytes) fails its check.
    let prefix = String::from_utf8_lossy(&tree_name[..tree_name.len() - b"residents".len()]);
    let log = data
        .join("shards/journal")
        .join(prefix.trim_end_matches('/'))
        .join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let cut = bytes.len().div_ceil(64);
    for at in (0..bytes.len()).step_by(64) {
        bytes[at] ^= 0x10;
    }
    std::fs::write(&log, bytes).unwrap();
    db.flush().unwrap();
    drop(tree);
    drop(db);

    let server = serve_over(
        dir.path(),
        &data,
        &secrets,
        &[("IDAUTH_VERIFY_BUDGET_MS", "20000")],
    );
    let url = format!("http://{}", server.addr);
    let mut auth = AuthClient::new(connect(&url, &key).await);
    let (mut served, mut refused) = (0, 0);
    for n in 0..RESIDENTS {
        match verify(&mut auth, n).await {
            Ok(()) => served += 1,
            Err(code) => {
                assert_eq!(code, ErrorCode::RecordUndecryptable);
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused, corrupted,
        "exactly the corrupted records are refused"
    );
    assert!(served > 0, "the other shards' residents are still served");

    let mut residents = ResidentClient::new(connect(&url, &key).await);
    let (mut histories, mut unreadable) = (0, 0);
    for n in 0..RESIDENTS {
        let page = residents
            .auth_history(v1::AuthHistoryRequest {
                resident: resident(n),
                page_size: 20,
                page_token: String::new(),
                token: String::new(),
            })
            .await;
        match page {
            Ok(_) => histories += 1,
            Err(status) => {
                assert_eq!(
                    from_status(&status),
                    ErrorCode::StorageFailure,
                    "{status:?}"
                );
                unreadable += 1;
            }
        }
    }
    assert_eq!(
        unreadable, corrupted,
        "exactly that shard's histories are unreadable"
    );
    drop((auth, residents, server));
    let output = idauth()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(report.contains("damaged on disk"), "{report}");
    eprintln!(
        "disk faults: {corrupted} records corrupted on disk, {refused} refused with \
         RECORD_UNDECRYPTABLE, {served} served; {cut} bytes of the audit journal flipped, \
         {unreadable} histories refused with STORAGE_FAILURE, {histories} served, \
         audit verify names the entry"
    );
}

/// A tmpfs mounted by the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts `mb` MiB on `dir`; `None`, with the reason printed, where this process
    /// may not mount (not root). Under CI=true that is a failure, not a skip.
    fn mount(dir: &Path, mb: u64) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = mount(&["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"], dir);
        if let Err(why) = mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true must run the disk-fault tests, but a tmpfs cannot be mounted: {why}"
            );
            eprintln!("skipped: a tmpfs cannot be mounted here (needs root): {why}");
            return None;
        }
        Some(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Remounts with `options` (`ro`, `rw`).
    fn remount(&self, options: &str) {
        mount(&["-o", &format!("remount,{options}")], &self.dir).unwrap();
    }

    /// Bytes free now.
    fn free(&self) -> u64 {
        fs2::available_space(&self.dir).unwrap()
    }

    /// Fills the filesystem with a ballast file until `left` bytes stay free (all of it
    /// with `left` 0, until the filesystem says it is full).
    fn fill_to(&self, left: u64) -> PathBuf {
        use std::io::Write as _;
        let path = self.dir.join("ballast");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let chunk = vec![0xa5u8; 64 << 10];
        while self.free() > left {
            let n = (self.free() - left).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn mount(args: &[&str], dir: &Path) -> Result<(), String> {
    let output = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

async fn enrol(enrolment: &mut EnrolmentClient<Authenticated>, n: usize) -> Result<(), ErrorCode> {
    let context = v1::EnrolmentContext {
        centre_id: "c".into(),
        request_id: format!("disk-{n}"),
        timestamp: Some(now()),
        consent: true,
    };
    enrolment
        .enrol(walkthrough_enrolment(
            resident(n),
            context,
            format!("Disk {n}"),
        ))
        .await
        .map(|_| ())
        .map_err(|status| from_status(&status))
}

/// A verify of resident `n` with the genuine probe: `Ok` when it matched.
async fn verify(auth: &mut AuthClient<Authenticated>, n: usize) -> Result<(), ErrorCode> {
    let answer = auth
        .verify(walkthrough_verify(resident(n), "disk"))
        .await
        .map_err(|status| from_status(&status))?
        .into_inner();
    assert_eq!(
        answer.decision,
        v1::Decision::Match as i32,
        "{:?}",
        answer.error
    );
    Ok(())
}

/// The service on a data directory inside `disk`, with `reserve_mb` kept free.
async fn serve_on(
    dir: &Path,
    disk: &Tmpfs,
    reserve_mb: &str,
) -> (
    Running,
    EnrolmentClient<Authenticated>,
    AuthClient<Authenticated>,
) {
    let secrets = dir.join("secrets");
    let server = serve_over(
        dir,
        &disk.dir.join("data"),
        &secrets,
        // About storage, not latency: a busy machine must not turn a verify into
        // DEADLINE_EXCEEDED (the first verify after a restart builds its template).
        &[
            ("IDAUTH_STORAGE_RESERVE_MB", reserve_mb),
            ("IDAUTH_VERIFY_BUDGET_MS", "20000"),
        ],
    );
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let channel = connect(&format!("http://{}", server.addr), key.trim()).await;
    (
        server,
        EnrolmentClient::new(channel.clone()),
        AuthClient::new(channel),
    )
}

/// Long enough for the free-space reading (taken at most every 20 ms) to be new.
const SPACE_RECHECK: Duration = Duration::from_millis(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_disk_refuses_writes_keeps_verifying_and_recovers_without_a_restart() {
    let dir = scratch();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), 64) else {
        return;
    };
    let (_server, mut enrolment, mut auth) = serve_on(dir.path(), &disk, "16").await;
    const ENROLLED: usize = 8;
    for n in 0..ENROLLED {
        enrol(&mut enrolment, n).await.unwrap();
    }

    // Below the 16 MiB reserve, above a quarter of it: writes refused, verifies served.
    let ballast = disk.fill_to(10 << 20);
    tokio::time::sleep(SPACE_RECHECK).await;
    for n in ENROLLED..2 * ENROLLED {
        assert_eq!(enrol(&mut enrolment, n).await, Err(ErrorCode::StorageFull));
    }
    for n in 0..ENROLLED {
        verify(&mut auth, n).await.unwrap();
    }
    // Below a quarter of the reserve: verifies refused too (their audit entry could
    // not be written), before sled is ever refused a write.
    disk.fill_to(3 << 20);
    tokio::time::sleep(SPACE_RECHECK).await;
    for n in 0..ENROLLED {
        assert_eq!(verify(&mut auth, n).await, Err(ErrorCode::StorageFull));
    }
    let free_when_full = disk.free();

    // Space freed: the same process takes writes and verifies again.
    std::fs::remove_file(ballast).unwrap();
    tokio::time::sleep(SPACE_RECHECK).await;
    for n in ENROLLED..2 * ENROLLED {
        enrol(&mut enrolment, n).await.unwrap();
    }
    for n in 0..2 * ENROLLED {
        verify(&mut auth, n).await.unwrap();
    }
    eprintln!(
        "disk full: {ENROLLED} enrolments and {ENROLLED} verifies refused with STORAGE_FULL \
         (down to {} KiB free), {ENROLLED} verifies served below the reserve, all served \
         again once space was freed, no restart",
        free_when_full >> 10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filled_past_the_reserve_loses_no_acknowledged_write_and_read_only_is_refused() {
    let dir = scratch();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), 32) else {
        return;
    };
    // No reserve: sled itself meets the end of the filesystem.
    let (server, mut enrolment, mut auth) = serve_on(dir.path(), &disk, "0").await;
    let ballast = disk.fill_to(1 << 20);
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 0..2_000 {
        match enrol(&mut enrolment, n).await {
            Ok(()) => acknowledged.push(n),
            Err(code) => {
                assert_eq!(code, ErrorCode::StorageFailure, "enrolment {n}");
                refused += 1;
                if refused == 20 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused, 20, "the filesystem never filled");
    assert!(!acknowledged.is_empty());
    // Still answering, with the retryable storage failure, not crashing.
    assert_eq!(
        verify(&mut auth, acknowledged[0]).await,
        Err(ErrorCode::StorageFailure)
    );
    drop((server, enrolment, auth));

    // A full data filesystem: the service refuses to start and says why.
    let output = idauth()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(disk.dir.join("data"))
        .arg("--secrets-dir")
        .arg(dir.path().join("secrets"))
        .env("IDAUTH_STORAGE_RESERVE_MB", "0")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains("No space left on device") && said.contains("storage engine"),
        "{said}"
    );

    // Space freed and the service restarted: every acknowledged enrolment is there.
    std::fs::remove_file(ballast).unwrap();
    let (server, _, mut auth) = serve_on(dir.path(), &disk, "0").await;
    for &n in &acknowledged {
        verify(&mut auth, n).await.unwrap();
    }
    drop((server, auth));
    let audit = idauth()
        .args(["audit", "verify", "--data-dir"])
        .arg(disk.dir.join("data"))
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );

    // A read-only data filesystem: refused at start, with the reason.
    disk.remount("ro");
    let output = idauth()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(disk.dir.join("data"))
        .arg("--secrets-dir")
        .arg(dir.path().join("secrets"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    disk.remount("rw");
    assert!(!output.status.success());
    assert!(said.contains("Read-only file system"), "{said}");
    eprintln!(
        "disk filled past the reserve: {} enrolments acknowledged, 20 refused with \
         STORAGE_FAILURE, a start on the full disk refused, all {} verified after space \
         was freed, audit chains intact; a start on a read-only disk refused",
        acknowledged.len(),
        acknowledged.len()
    );
}
