//! A hung shard process (SIGSTOP: its sockets stay open and nothing answers) costs its
//! residents a fast retryable SHARD_UNAVAILABLE, never a wait for the deadline, while
//! the other shards' residents are served as before; after SIGCONT its residents are
//! served again within moments.

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use idauth_core::ErrorCode;
use idauth_gateway::shard_health::{DOWN_AFTER, PROBE_EVERY};
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;

use crate::common::corpus::corpus;
use crate::common::service::{
    Probe, connect, envelope_key, fresh_txn, import, open_corpus, probes, scratch, sealed,
    verify_request,
};
use crate::service_processes::{cluster_taking_shards_down_after, issue_key, runtime};

/// One verify: when it left, how long it took, and its refusal if any.
struct Call {
    claimed: (String, String),
    left: Instant,
    took: Duration,
    refused: Option<(tonic::Code, ErrorCode)>,
}

async fn call(
    client: &mut AuthClient<crate::common::service::Authenticated>,
    probe: &Probe,
    envelope: &v1::EnvelopeKey,
) -> Call {
    let request = sealed(verify_request(probe, &fresh_txn()), envelope);
    let left = Instant::now();
    let answer = client.verify(request).await;
    Call {
        claimed: (probe.claimed.set.clone(), probe.claimed.finger.clone()),
        left,
        took: left.elapsed(),
        refused: answer
            .err()
            .map(|status| (status.code(), from_status(&status))),
    }
}

fn p99(calls: &[&Call]) -> Duration {
    let mut took: Vec<Duration> = calls.iter().map(|c| c.took).collect();
    took.sort();
    took.get((took.len() * 99 / 100).min(took.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn a_hung_shard_costs_its_residents_a_fast_unavailable_and_recovers() {
    let dir = scratch();
    let corpus_path = corpus(dir.path());
    let corpus = open_corpus(&corpus_path);
    let key = issue_key(dir.path());
    let down_after = DOWN_AFTER.as_millis().to_string();
    let (shards, gateway) = cluster_taking_shards_down_after(dir.path(), &down_after);
    let url = format!("http://{}", gateway.addr);
    let summary = import(&url, &key, &corpus_path, &[]);
    assert!(summary["enrolled"].as_u64().unwrap() > 0, "{summary}");
    let probes = Arc::new(probes(&corpus, &[], 0));
    let hung = shards[0].child.id();
    runtime().block_on(async {
        let envelope = envelope_key(&url, &key).await;
        let mut client = AuthClient::new(connect(&url, &key).await);
        let mut before = Vec::new();
        for probe in probes.iter() {
            before.push(call(&mut client, probe, &envelope).await);
        }
        let refused_before: Vec<_> = before
            .iter()
            .filter_map(|c| c.refused.map(|r| (r, c.took)))
            .collect();
        assert!(
            refused_before.is_empty(),
            "refusals before the hang: {refused_before:?}"
        );

        // Four callers keep verifying across the hang.
        let until = Instant::now() + Duration::from_millis(900);
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let (url, key, envelope) = (url.clone(), key.clone(), envelope.clone());
                let probes = Arc::clone(&probes);
                tokio::spawn(async move {
                    let mut client = AuthClient::new(connect(&url, &key).await);
                    let mut calls = Vec::new();
                    let mut n = worker;
                    while Instant::now() < until {
                        calls.push(call(&mut client, &probes[n % probes.len()], &envelope).await);
                        n += 4;
                    }
                    calls
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stopped_at = Instant::now();
        signal(hung, "-STOP");
        let mut during = Vec::new();
        for worker in workers {
            during.extend(worker.await.unwrap());
        }

        // Every refusal is the retryable SHARD_UNAVAILABLE, none a deadline; the refused
        // residents are the hung shard's.
        let mut theirs = HashSet::new();
        for refused in during.iter().filter(|c| c.refused.is_some()) {
            assert_eq!(
                refused.refused,
                Some((tonic::Code::Unavailable, ErrorCode::ShardUnavailable)),
                "a call to the hung shard must fail fast and retryably"
            );
            assert!(refused.left + refused.took >= stopped_at);
            theirs.insert(refused.claimed.clone());
        }
        assert!(!theirs.is_empty(), "no verify reached the hung shard");
        // Once the hang is detected, its residents are refused at once; a call already
        // waiting is answered at detection, not at its deadline.
        let detected = stopped_at + DOWN_AFTER + PROBE_EVERY * 3;
        let theirs_after: Vec<&Call> = during
            .iter()
            .filter(|c| c.left >= detected && theirs.contains(&c.claimed))
            .collect();
        let slowest_refusal = theirs_after
            .iter()
            .map(|c| c.took)
            .max()
            .unwrap_or_default();
        assert!(
            theirs_after.iter().all(|c| c.refused.is_some()),
            "a hung shard's resident was served"
        );
        assert!(
            slowest_refusal < Duration::from_millis(50),
            "a refusal took {slowest_refusal:?}"
        );
        let waiting_longest = during
            .iter()
            .filter(|c| c.left < detected && c.refused.is_some())
            .map(|c| c.left + c.took - stopped_at)
            .max();
        // Everyone else is served as before.
        let others_before: Vec<&Call> = before
            .iter()
            .filter(|c| !theirs.contains(&c.claimed))
            .collect();
        let others_during: Vec<&Call> = during
            .iter()
            .filter(|c| c.left >= stopped_at && !theirs.contains(&c.claimed))
            .collect();
        assert!(
            others_during.iter().all(|c| c.refused.is_none()),
            "a resident of a healthy shard was refused"
        );
        assert!(!others_during.is_empty());

        // SIGCONT: the hung shard's residents are served again.
        let resumed_at = Instant::now();
        signal(hung, "-CONT");
        let theirs_probe = probes
            .iter()
            .find(|p| theirs.contains(&(p.claimed.set.clone(), p.claimed.finger.clone())))
            .unwrap();
        loop {
            if call(&mut client, theirs_probe, &envelope)
                .await
                .refused
                .is_none()
            {
                break;
            }
            assert!(resumed_at.elapsed() < Duration::from_secs(5), "no recovery");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let recovered = resumed_at.elapsed();
        eprintln!(
            "hung shard: {} calls during the hang; its residents' refusals after detection \
             at most {slowest_refusal:?} ({} calls); calls waiting at the hang answered by \
             {waiting_longest:?} after it; other residents p99 {:?} before, {:?} during \
             ({} calls, none refused); served again {recovered:?} after SIGCONT",
            during.len(),
            theirs_after.len(),
            p99(&others_before),
            p99(&others_during),
            others_during.len(),
        );
        let waiting_longest = waiting_longest.unwrap_or_default();
        assert!(
            waiting_longest < Duration::from_millis(150),
            "a call waited {waiting_longest:?} on the hung shard"
        );
    });
}
