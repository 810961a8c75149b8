//! `idauth serve --store rados` on the Ceph test cluster: the corpus imported through
//! the API, every decision equal to the matcher's (as the embedded default's are, in
//! `service_loopback.rs`), then again after a SIGKILL and a restart on the same pool.
//! Built with `--features rados`; skips without a cluster, fails under CI=true.

use std::io::Read;
use std::process::Stdio;

use crate::common::ceph::{ceph_conf, fresh_namespace};
use crate::common::corpus::corpus;
use crate::common::service::{
    check_decisions, idauth, import, open_corpus, probes, residents_per_shard, scratch, serve_over,
};

#[test]
fn serve_on_rados_gives_the_matchers_decisions_across_a_restart() {
    let Some(conf) = ceph_conf() else { return };
    let dir = scratch();
    let corpus_path = corpus(dir.path());
    let corpus = open_corpus(&corpus_path);
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let namespace = fresh_namespace();
    let env = [
        ("IDAUTH_STORE", "rados"),
        ("IDAUTH_RADOS_CONF", conf.to_str().unwrap()),
        ("IDAUTH_RADOS_NAMESPACE", namespace.as_str()),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = serve_over(dir.path(), &data, &secrets, &env);
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let key = key.trim().to_owned();
    let started = std::time::Instant::now();
    let summary = import(&url, &key, &corpus_path, &[]);
    let enrolled = summary["enrolled"].as_u64().unwrap();
    eprintln!(
        "rados: {enrolled} residents imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(enrolled > 0, "{summary}");
    let probes = probes(&corpus, &[], 30);
    runtime.block_on(async {
        let per_shard = residents_per_shard(&url, &key).await;
        assert_eq!(per_shard.iter().sum::<u64>(), enrolled, "{per_shard:?}");
        let (matches, genuine) = check_decisions(&url, &key, &probes).await;
        eprintln!(
            "rados: {} probes checked, each decision the matcher's; {matches} of {genuine} genuine matched",
            probes.len()
        );
    });

    // SIGKILL (Running's drop) and a restart on the same namespace: nothing
    // acknowledged is lost, and the decisions are the same.
    drop(server);
    let server = serve_over(dir.path(), &data, &secrets, &env);
    let url = format!("http://{}", server.addr);
    runtime.block_on(async {
        let per_shard = residents_per_shard(&url, &key).await;
        assert_eq!(
            per_shard.iter().sum::<u64>(),
            enrolled,
            "after the restart: {per_shard:?}"
        );
        check_decisions(&url, &key, &probes).await;
    });
    let again = import(&url, &key, &corpus_path, &[]);
    assert_eq!(
        again["enrolled"].as_u64(),
        Some(0),
        "a re-import enrols nothing new: {again}"
    );

    // The same namespace served with another number of shards would look for
    // residents where they are not: refused at start, naming the number to set.
    drop(server);
    let mut other = idauth()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--secrets-dir")
        .arg(&secrets)
        .envs(env)
        .env("IDAUTH_SHARDS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = other.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            other.kill().unwrap();
            other.wait().unwrap();
            panic!("serve with 2 shards on a 4-shard namespace did not refuse to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut stderr = String::new();
    other
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("set shards = 4"), "{stderr}");
}
