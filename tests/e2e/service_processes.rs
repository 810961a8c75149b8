//! The service as separate processes: `idauth shard` x4 behind `idauth gateway`.
//! Decisions through the API equal the matcher's; acknowledged enrolments survive a
//! SIGKILL of every shard process; a shard killed under load costs its own residents a
//! retryable SHARD_UNAVAILABLE (in-flight calls included) and nobody else anything.

use std::path::Path;

use crate::common::corpus::corpus;
use idauth_proto::status::from_status;
use idauth_proto::v1::auth_client::AuthClient;

use crate::common::service::{
    Running, check_decisions, connect, envelope_key, fresh_txn, import, open_corpus, probes,
    residents_per_shard, scratch, sealed, spawn, spawn_with, verify_request,
};

/// Issues a credential allowed everything with `idauth keys issue`; returns its key.
pub(crate) fn issue_key(dir: &Path) -> String {
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
pub(crate) fn cluster(dir: &Path) -> (Vec<Running>, Running) {
    // These tests check decisions and durability, not failure detection: two cores
    // running the whole suite can leave a healthy shard silent for the 30 ms default.
    cluster_taking_shards_down_after(dir, "2000")
}

/// [`cluster`] whose gateway takes a silent shard as down after `down_after_ms`.
pub(crate) fn cluster_taking_shards_down_after(
    dir: &Path,
    down_after_ms: &str,
) -> (Vec<Running>, Running) {
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
    let gateway = spawn_with(&args, dir, &[("IDAUTH_SHARD_DOWN_AFTER_MS", down_after_ms)]);
    (shards, gateway)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
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

#[test]
fn a_shard_killed_mid_call_answers_unavailable_and_spares_the_others() {
    let dir = scratch();
    let corpus_path = corpus(dir.path());
    let corpus = open_corpus(&corpus_path);
    let key = issue_key(dir.path());
    let (mut shards, gateway) = cluster(dir.path());
    let url = format!("http://{}", gateway.addr);
    let summary = import(&url, &key, &corpus_path, &[]);
    assert!(summary["enrolled"].as_u64().unwrap() > 0, "{summary}");
    let probes = std::sync::Arc::new(probes(&corpus, &[], 0));
    let answers = runtime().block_on(async {
        let envelope = envelope_key(&url, &key).await;
        let stop = std::time::Instant::now() + std::time::Duration::from_millis(2500);
        let mut workers = Vec::new();
        for worker in 0..8 {
            let (url, key, envelope) = (url.clone(), key.clone(), envelope.clone());
            let probes = std::sync::Arc::clone(&probes);
            workers.push(tokio::spawn(async move {
                let mut client = AuthClient::new(connect(&url, &key).await);
                let mut answers = Vec::new();
                let mut n = 0;
                while std::time::Instant::now() < stop {
                    let probe = &probes[(worker + 8 * n) % probes.len()];
                    let txn = format!("{}-{worker}-{n}", fresh_txn());
                    let request = sealed(verify_request(probe, &txn), &envelope);
                    let answer = match client.verify(request).await {
                        Ok(_) => Ok(probe.claimed.clone()),
                        Err(status) => {
                            Err((status.code(), from_status(&status), probe.claimed.clone()))
                        }
                    };
                    answers.push((std::time::Instant::now(), answer));
                    n += 1;
                }
                answers
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let killed_at = std::time::Instant::now();
        shards[0].child.kill().unwrap();
        shards[0].child.wait().unwrap();
        let mut answers = Vec::new();
        for worker in workers {
            answers.extend(worker.await.unwrap());
        }
        (killed_at, answers)
    });
    let (killed_at, answers) = answers;
    // The residents whose verifies failed after the kill are shard-0's; none of theirs
    // may have been answered before it only to fail for another reason, and nobody
    // else's verify may fail at all.
    let mut refused = 0;
    let mut refused_ids = std::collections::HashSet::new();
    for (at, answer) in &answers {
        if let Err((code, error, claimed)) = answer {
            assert!(
                *at >= killed_at,
                "a verify failed before the kill: {code:?} {error:?}"
            );
            assert_eq!(
                (*code, *error),
                (
                    tonic::Code::Unavailable,
                    idauth_core::ErrorCode::ShardUnavailable
                ),
                "a call to the killed shard must be a retryable UNAVAILABLE"
            );
            refused += 1;
            refused_ids.insert((claimed.set.clone(), claimed.finger.clone()));
        }
    }
    let after: Vec<_> = answers.iter().filter(|(at, _)| *at >= killed_at).collect();
    let served_after = after
        .iter()
        .filter(|(_, answer)| match answer {
            Ok(claimed) => !refused_ids.contains(&(claimed.set.clone(), claimed.finger.clone())),
            Err(_) => false,
        })
        .count();
    eprintln!(
        "{} verifies, {} after the kill: {refused} SHARD_UNAVAILABLE, {served_after} served by the other shards",
        answers.len(),
        after.len()
    );
    assert!(refused > 0, "no verify reached the killed shard");
    assert!(served_after > 0, "the other shards stopped serving");
}

#[test]
fn a_shard_without_client_certificates_refuses_a_non_loopback_address() {
    let dir = scratch();
    let output = crate::common::service::idauth()
        .args(["shard", "--id", "shard-0", "--listen", "0.0.0.0:0"])
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .env("IDAUTH_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it started: {stderr}");
    assert!(
        stderr.contains("refusing to serve the shard API on 0.0.0.0:0 without client certificates")
            && stderr.contains("--insecure-shard-api"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening on"),
        "it bound the address before refusing"
    );
}
