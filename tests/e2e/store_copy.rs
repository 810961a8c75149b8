//! `idauth store copy`: a 10,000-resident sled data directory moved into a RADOS pool;
//! every resident verifies from the pool, a second run copies nothing and says so, and
//! `audit verify` is clean on both. Built with `--features rados`; skips without a
//! cluster, fails under CI=true.

use std::process::Output;

use crate::common::ceph::{all_verify, ceph_conf, client, enrol_all, enrolment, fresh_namespace};
use crate::common::service::{idauth, scratch, serve_over};

const RESIDENTS: usize = 10_000;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = idauth()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    eprintln!(
        "idauth {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn a_sled_directory_copied_into_the_pool_verifies_from_it() {
    let Some(conf) = ceph_conf() else { return };
    let dir = scratch();
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = {
        let server = serve_over(dir.path(), &data, &secrets, &[]);
        let url = format!("http://{}", server.addr);
        let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
        let key = key.trim().to_owned();
        let enrolled = runtime
            .block_on(async { enrol_all(&client(&url, &key).await, 0, RESIDENTS, 32).await });
        assert_eq!(enrolled, RESIDENTS);
        key
    };
    let (data_arg, secrets_arg) = (data.to_str().unwrap(), secrets.to_str().unwrap());
    let namespace = fresh_namespace();
    let rados = [
        ("IDAUTH_RADOS_CONF", conf.to_str().unwrap()),
        ("IDAUTH_RADOS_NAMESPACE", namespace.as_str()),
    ];
    let copy = [
        "store",
        "copy",
        "--data-dir",
        data_arg,
        "--secrets-dir",
        secrets_arg,
    ];
    let first = run(&copy, &rados);
    assert!(first.status.success());
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains(&format!("copied {RESIDENTS} of {RESIDENTS} residents")),
        "{stdout}"
    );
    let second = run(&copy, &rados);
    assert!(second.status.success());
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("nothing to copy"), "{stdout}");

    let sled_audit = run(
        &[
            "audit",
            "verify",
            "--data-dir",
            data_arg,
            "--secrets-dir",
            secrets_arg,
        ],
        &[],
    );
    assert!(sled_audit.status.success());
    let mut on_rados = rados.to_vec();
    on_rados.push(("IDAUTH_STORE", "rados"));
    let rados_audit = run(
        &[
            "audit",
            "verify",
            "--data-dir",
            data_arg,
            "--secrets-dir",
            secrets_arg,
        ],
        &on_rados,
    );
    assert!(rados_audit.status.success());
    // The same chains, entry for entry.
    let counts = |output: &Output| -> Vec<String> {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.replace(" (RADOS)", ""))
            .collect()
    };
    assert_eq!(counts(&sled_audit), counts(&rados_audit));

    // Served from the pool: every resident verifies, and a resent enrolment replays
    // the outcome acknowledged before the move.
    let server = serve_over(dir.path(), &data, &secrets, &on_rados);
    let url = format!("http://{}", server.addr);
    runtime.block_on(async {
        let client = client(&url, &key).await;
        let started = std::time::Instant::now();
        all_verify(&client, RESIDENTS).await;
        eprintln!(
            "store copy: all {RESIDENTS} residents verify from the pool ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        let again = client.enrol(enrolment(17)).await.unwrap();
        assert!(again.replayed, "a resend after the move is a replay");
    });
}
