//! The service as separate processes: `idauth shard` x4 behind `idauth gateway`.
//! Decisions through the API equal the matcher's; acknowledged enrolments survive a
//! SIGKILL of every shard process.

use std::path::Path;

use crate::common::corpus::corpus;
use crate::common::service::{
    Running, check_decisions, import, open_corpus, probes, residents_per_shard, scratch, spawn,
};

/// Issues a credential allowed everything with `idauth keys issue`; returns its key.
fn issue_key(dir: &Path) -> String {
    let output = crate::common::service::idauth()
        .args(["keys", "issue", "--caller", "tester", "--kind", "operator"])
        .args([
            "--operations",
            "enrol,verify,history,operator",
            "--quota",
            "100000",
            "--json",
        ])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--secrets-dir", dir.join("secrets").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let issued: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    issued["api_key"].as_str().unwrap().to_owned()
}

/// Starts four shard processes and a gateway over them, all on free loopback ports.
fn cluster(dir: &Path) -> (Vec<Running>, Running) {
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let secrets = dir.join("secrets");
    let secrets = secrets.to_str().unwrap();
    let shards: Vec<Running> = (0..4)
        .map(|i| {
            let id = format!("shard-{i}");
            spawn(
                &[
                    "shard",
                    "--id",
                    &id,
                    "--listen",
                    "127.0.0.1:0",
                    "--data-dir",
                    data,
                ],
                dir,
            )
        })
        .collect();
    let mut args = vec![
        "gateway".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data.into(),
        "--secrets-dir".into(),
        secrets.into(),
    ];
    for (i, shard) in shards.iter().enumerate() {
        args.push("--shard".into());
        args.push(format!("shard-{i}=http://{}", shard.addr));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gateway = spawn(&args, dir);
    (shards, gateway)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn separate_processes_give_the_matchers_decisions() {
    let dir = scratch();
    let corpus_path = corpus(dir.path());
    let corpus = open_corpus(&corpus_path);
    let key = issue_key(dir.path());
    let (_shards, gateway) = cluster(dir.path());
    let url = format!("http://{}", gateway.addr);
    let summary = import(&url, &key, &corpus_path, &[]);
    assert!(summary["enrolled"].as_u64().unwrap() > 0, "{summary}");
    let probes = probes(&corpus, &[], 30);
    runtime().block_on(async {
        let per_shard = residents_per_shard(&url, &key).await;
        assert_eq!(
            per_shard.iter().sum::<u64>(),
            summary["enrolled"].as_u64().unwrap()
        );
        assert!(per_shard.iter().all(|&n| n > 0), "residents per shard {per_shard:?}");
        let (matches, genuine) = check_decisions(&url, &key, &probes).await;
        eprintln!(
            "{} probes checked; {matches} of {genuine} genuine probes matched; residents per shard {per_shard:?}",
            probes.len()
        );
    });
}

#[test]
fn acknowledged_enrolments_survive_sigkill_of_the_shards() {
    let dir = scratch();
    let corpus_path = corpus(dir.path());
    let corpus = open_corpus(&corpus_path);
    let key = issue_key(dir.path());
    let (shards, gateway) = cluster(dir.path());
    let url = format!("http://{}", gateway.addr);
    let summary = import(&url, &key, &corpus_path, &[]);
    let enrolled = summary["enrolled"].as_u64().unwrap();
    assert!(enrolled > 0, "{summary}");
    // Right after the last acknowledgement: SIGKILL (Child::kill) every shard.
    for mut shard in shards {
        shard.child.kill().unwrap();
        shard.child.wait().unwrap();
    }
    drop(gateway);

    let (_shards, gateway) = cluster(dir.path());
    let url = format!("http://{}", gateway.addr);
    let probes = probes(&corpus, &[], 10);
    runtime().block_on(async {
        let per_shard = residents_per_shard(&url, &key).await;
        assert_eq!(
            per_shard.iter().sum::<u64>(),
            enrolled,
            "residents after restart {per_shard:?}"
        );
        // Every acknowledged resident answers exactly as before the kill.
        check_decisions(&url, &key, &probes).await;
    });
    // And a second import finds every resident already there.
    let again = import(&url, &key, &corpus_path, &[]);
    assert_eq!(again["replayed"].as_u64().unwrap(), enrolled, "{again}");
}
