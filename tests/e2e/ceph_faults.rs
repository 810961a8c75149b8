//! Faults of the Ceph cluster under `idauth serve --store rados`: a lost disk (an
//! OSD killed and its data deleted under enrolment load) and placement groups below
//! `min_size` (two of four OSDs stopped). These change the test cluster, so they run
//! only when `IDAUTH_CEPH_FAULTS=1` (`.ci/run` sets it and runs them one at a time,
//! after the other RADOS tests); elsewhere they skip with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::ceph::{
    all_verify, ceph_conf, client, enrol_all, enrolment, fresh_namespace, lock, retryable,
    verify_code,
};
use crate::common::service::{Running, scratch, serve_over};
use idauth_core::ErrorCode;

/// The cluster to break, or `None` (reason printed) when these tests are not asked for.
pub fn faults_cluster() -> Option<PathBuf> {
    let conf = ceph_conf()?;
    if std::env::var("IDAUTH_CEPH_FAULTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: the Ceph fault tests kill and delete OSDs of the test cluster; run them alone with IDAUTH_CEPH_FAULTS=1"
        );
        return None;
    }
    Some(conf)
}

/// Runs `deploy/ceph/dev-cluster.sh <args>` on the cluster of `conf`.
pub fn cluster_script(conf: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ceph/dev-cluster.sh");
    let output = Command::new(script)
        .args(args)
        .env("IDAUTH_CEPH_DIR", conf.parent().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "dev-cluster.sh {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `ceph <args>` on the cluster of `conf`. A monitor busy with an OSD that just came
/// back can refuse a command once ("problem getting command descriptions"), so a
/// failure is tried again, five times in all, before the test fails with its output.
fn ceph(conf: &Path, args: &[&str]) -> String {
    let mut last = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        let output = Command::new("ceph")
            .arg("-c")
            .arg(conf)
            .args(["--connect-timeout", "20"])
            .args(args)
            .output()
            .unwrap();
        if output.status.success() {
            return String::from_utf8_lossy(&output.stdout).into_owned();
        }
        last = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!("ceph {args:?} failed (attempt {}): {last}", attempt + 1);
    }
    panic!("ceph {args:?}: {last}")
}

/// The OSD ids in the cluster map.
pub fn osd_ids(conf: &Path) -> Vec<u32> {
    let tree: serde_json::Value =
        serde_json::from_str(&ceph(conf, &["osd", "ls", "-f", "json"])).unwrap();
    tree.as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

fn serve_on(dir: &Path, conf: &Path, namespace: &str) -> (Running, String, String) {
    let (data, secrets) = (dir.join("data"), dir.join("secrets"));
    let server = serve_over(
        dir,
        &data,
        &secrets,
        &[
            ("IDAUTH_STORE", "rados"),
            ("IDAUTH_RADOS_CONF", conf.to_str().unwrap()),
            ("IDAUTH_RADOS_NAMESPACE", namespace),
            ("IDAUTH_RADOS_OP_TIMEOUT_MS", "1500"),
            ("IDAUTH_VERIFY_BUDGET_MS", "5000"),
            ("IDAUTH_WRITE_BUDGET_MS", "4000"),
        ],
    );
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    (server, url, key.trim().to_owned())
}

#[test]
fn a_lost_disk_under_enrolment_load_loses_no_acknowledged_enrolment() {
    let Some(conf) = faults_cluster() else { return };
    const RESIDENTS: usize = 2_400;
    let dir = scratch();
    let (_server, url, key) = serve_on(dir.path(), &conf, &fresh_namespace());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let victim = *osd_ids(&conf).last().unwrap();
    let started = Instant::now();
    let acknowledged = runtime.block_on(async {
        let client = client(&url, &key).await;
        let load = {
            let client = client.clone();
            tokio::spawn(async move { enrol_all(&client, 0, RESIDENTS, 32).await })
        };
        // Under load: the OSD's daemon killed, its data directory and block file
        // deleted, and it removed from the cluster.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let conf = conf.clone();
        tokio::task::spawn_blocking(move || {
            cluster_script(&conf, &["osd-destroy", &victim.to_string()])
        })
        .await
        .unwrap();
        load.await.unwrap()
    });
    eprintln!(
        "ceph lost disk: osd.{victim} destroyed under load; {acknowledged} enrolments acknowledged in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(acknowledged, RESIDENTS);
    cluster_script(&conf, &["wait-clean", "300"]);
    let osds = osd_ids(&conf);
    assert!(
        !osds.contains(&victim),
        "osd.{victim} still in the map: {osds:?}"
    );
    runtime.block_on(async { all_verify(&client(&url, &key).await, RESIDENTS).await });
    eprintln!(
        "ceph lost disk: active+clean on {} OSDs; all {RESIDENTS} verify",
        osds.len()
    );

    // A fresh OSD joins; data rebalances onto it; everything still verifies.
    let added = cluster_script(&conf, &["osd-add"]);
    cluster_script(&conf, &["wait-clean", "300"]);
    runtime.block_on(async { all_verify(&client(&url, &key).await, RESIDENTS).await });
    eprintln!(
        "ceph lost disk: osd.{} added, active+clean on {} OSDs; all {RESIDENTS} verify again",
        added.trim(),
        osd_ids(&conf).len()
    );
}

/// Residents locked while writes are below min_size.
const LOCKED: usize = 20;

#[test]
fn below_min_size_writes_fail_fast_and_retryably_then_succeed() {
    let Some(conf) = faults_cluster() else { return };
    let dir = scratch();
    let (_server, url, key) = serve_on(dir.path(), &conf, &fresh_namespace());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(client(&url, &key));
    runtime.block_on(async {
        enrol_all(&client, 0, 50, 8).await;
        // Every record read once, so the service holds it in its cache.
        all_verify(&client, 50).await;
    });
    let osds = osd_ids(&conf);
    let stopped = [osds[0], osds[1]];
    // Down but not out: otherwise the monitor would map their placement groups to
    // the two OSDs left after 10 s, and writes would resume without them.
    ceph(&conf, &["osd", "set", "noout"]);
    for osd in stopped {
        cluster_script(&conf, &["osd-kill", &osd.to_string()]);
        ceph(&conf, &["osd", "down", &osd.to_string()]);
    }
    // Half the placement groups now hold one live replica of three: below min_size 2.
    let (mut refused, mut acknowledged, mut slowest) = (Vec::new(), 0, Duration::ZERO);
    runtime.block_on(async {
        for n in 50..90 {
            let started = Instant::now();
            let answer = client.enrol(enrolment(n)).await;
            slowest = slowest.max(started.elapsed());
            match answer {
                Ok(_) => acknowledged += 1,
                Err(error) => {
                    assert!(retryable(&error), "enrolment {n}: {error}");
                    refused.push(n);
                }
            }
        }
    });
    eprintln!(
        "ceph below min_size: {acknowledged} of 40 enrolments acknowledged, {} refused (retryable), slowest answer {:.2} s",
        refused.len(),
        slowest.as_secs_f64()
    );
    assert!(
        !refused.is_empty(),
        "no write met a placement group below min_size"
    );
    assert!(
        slowest < Duration::from_secs(6),
        "an answer took {slowest:?}, past the write budget"
    );
    // Locks of cached records while writes time out: a lock whose caller was told to
    // retry may still land later, and the cache must not go on serving the record
    // from before it.
    let mut locks_refused = 0;
    runtime.block_on(async {
        for n in 0..LOCKED {
            if let Err(error) = client.lock_biometrics(lock(n)).await {
                assert!(retryable(&error), "lock {n}: {error}");
                locks_refused += 1;
            }
        }
    });
    eprintln!("ceph below min_size: {locks_refused} of {LOCKED} locks refused (retryable)");

    // One OSD back: every refused enrolment succeeds when resent unchanged, and every
    // acknowledged one is there.
    cluster_script(&conf, &["osd-start", &stopped[0].to_string()]);
    runtime.block_on(async {
        for n in refused {
            let mut tries = 0;
            loop {
                match client.enrol(enrolment(n)).await {
                    Ok(_) => break,
                    Err(error) if retryable(&error) && tries < 300 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(error) => panic!("enrolment {n} after an OSD returned: {error}"),
                }
            }
        }
        // Every lock resent until acknowledged (a replay where it had landed), then
        // every locked resident refused and every other one matching.
        for n in 0..LOCKED {
            let mut tries = 0;
            while let Err(error) = client.lock_biometrics(lock(n)).await {
                assert!(retryable(&error) && tries < 300, "lock {n}: {error}");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert_eq!(
                verify_code(&client, n).await,
                u32::from(ErrorCode::BiometricsLocked.number()),
                "resident {n}: its acknowledged lock does not hold"
            );
        }
        for n in LOCKED..90 {
            assert_eq!(verify_code(&client, n).await, 0, "resident {n}");
        }
    });
    cluster_script(&conf, &["osd-start", &stopped[1].to_string()]);
    ceph(&conf, &["osd", "unset", "noout"]);
    cluster_script(&conf, &["wait-clean", "300"]);
    eprintln!(
        "ceph below min_size: once OSDs returned, all {LOCKED} locks hold and the other {} verify; active+clean again",
        90 - LOCKED
    );
}
