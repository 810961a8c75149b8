//! Resident controls through the public API: a locked resident's biometrics are
//! refused, a temporary unlock lapses by itself, repeated failures lock a resident
//! out for a while, and the resident's authentication history is served in pages.

use std::time::Duration;

use crate::common::service::{
    Authenticated, fresh_txn, loopback_cluster, loopback_cluster_with, now, scratch,
};
use idauth_core::{Factor, IdentifierType, ResidentId};
use idauth_gateway::auth::{Operation, Policy};
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::resident_client::ResidentClient;
use idauth_shard::LockoutPolicy;

fn finger(file: &str) -> v1::Finger {
    crate::common::service::walkthrough_finger(file)
}

fn resident() -> Option<v1::Identifier> {
    Some(resident_id_to_wire(
        &ResidentId::new(IdentifierType::NationalId, "4242").unwrap(),
    ))
}

fn context(request_id: &str) -> Option<v1::EnrolmentContext> {
    Some(v1::EnrolmentContext {
        centre_id: "portal".into(),
        request_id: request_id.into(),
        timestamp: Some(now()),
        consent: true,
    })
}

async fn enrol(channel: Authenticated) {
    EnrolmentClient::new(channel)
        .enrol(v1::EnrolRequest {
            context: context("enrol"),
            resident: resident(),
            fingers: vec![finger("asha-1.iso")],
            demographics: Some(v1::Demographics {
                name: "Asha".into(),
                ..v1::Demographics::default()
            }),
            envelope: None,
        })
        .await
        .unwrap();
}

async fn verify(client: &mut AuthClient<Authenticated>, probe: Option<&str>, name: &str) -> String {
    let request = v1::VerifyRequest {
        txn: fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: resident(),
        fingers: probe.map(finger).into_iter().collect(),
        demographics: Some(v1::DemographicQuery {
            name: name.into(),
            ..v1::DemographicQuery::default()
        }),
        device_id: String::new(),
        envelope: None,
    };
    match client.verify(request).await {
        Ok(response) => response
            .into_inner()
            .error
            .map_or("MATCH".into(), |e| e.name),
        Err(status) => from_status(&status).name().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_refuses_biometrics_and_a_temporary_unlock_lapses() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    enrol(cluster.connect().await).await;
    let mut auth = AuthClient::new(cluster.connect().await);
    let mut portal = ResidentClient::new(cluster.connect().await);
    assert_eq!(verify(&mut auth, Some("asha-2.iso"), "").await, "MATCH");

    let locked = portal
        .lock_biometrics(v1::LockRequest {
            context: context("lock-1"),
            resident: resident(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(locked.version, 2);
    assert_eq!(
        verify(&mut auth, Some("asha-2.iso"), "").await,
        "BIOMETRICS_LOCKED"
    );
    // Other factors still work while biometrics are locked.
    assert_eq!(verify(&mut auth, None, "Asha").await, "MATCH");

    portal
        .unlock_biometrics(v1::UnlockRequest {
            context: context("unlock-1"),
            resident: resident(),
            unlock_seconds: 2,
        })
        .await
        .unwrap();
    assert_eq!(verify(&mut auth, Some("asha-2.iso"), "").await, "MATCH");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        verify(&mut auth, Some("asha-2.iso"), "").await,
        "BIOMETRICS_LOCKED",
        "the unlock did not lapse"
    );

    portal
        .unlock_biometrics(v1::UnlockRequest {
            context: context("unlock-2"),
            resident: resident(),
            unlock_seconds: 0,
        })
        .await
        .unwrap();
    assert_eq!(verify(&mut auth, Some("asha-2.iso"), "").await, "MATCH");

    // Locks belong to the resident portal's policy, not to a verifying agency.
    let agency = cluster.issue(
        "agency",
        Policy {
            operations: vec![Operation::Verify],
            factors: vec![Factor::Fingerprint],
            quota_per_second: 100,
            expires_ms: None,
            plain_probes: true,
        },
    );
    let status = ResidentClient::new(cluster.connect_as(&agency).await)
        .lock_biometrics(v1::LockRequest {
            context: context("lock-2"),
            resident: resident(),
        })
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "OPERATION_NOT_ALLOWED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_a_resident_out() {
    let dir = scratch();
    let lockout = LockoutPolicy {
        max_failures: 3,
        window_ms: 60_000,
        duration_ms: 60_000,
    };
    let cluster = loopback_cluster_with(dir.path(), lockout).await;
    enrol(cluster.connect().await).await;
    let mut auth = AuthClient::new(cluster.connect().await);
    assert_eq!(verify(&mut auth, Some("asha-2.iso"), "").await, "MATCH");
    for _ in 0..3 {
        assert_eq!(
            verify(&mut auth, Some("bala-2.iso"), "").await,
            "BIOMETRIC_MISMATCH"
        );
    }
    // Even the genuine finger is refused now.
    assert_eq!(
        verify(&mut auth, Some("asha-2.iso"), "").await,
        "TEMPORARILY_LOCKED_OUT"
    );
}

fn verify_only() -> Policy {
    Policy {
        operations: vec![Operation::Verify],
        factors: Factor::ALL.to_vec(),
        quota_per_second: 100,
        expires_ms: None,
        plain_probes: true,
    }
}

/// Every page of the resident's history, `page_size` at a time.
async fn full_history(
    portal: &mut ResidentClient<Authenticated>,
    page_size: u32,
) -> Vec<v1::HistoryEntry> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = portal
            .auth_history(v1::AuthHistoryRequest {
                resident: resident(),
                page_size,
                page_token,
                token: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= page_size as usize);
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_served_by_page_with_each_agencys_token() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    enrol(cluster.connect().await).await;
    let agency_a = AuthClient::new(
        cluster
            .connect_as(&cluster.issue("agency-a", verify_only()))
            .await,
    );
    let agency_b = AuthClient::new(
        cluster
            .connect_as(&cluster.issue("agency-b", verify_only()))
            .await,
    );
    let mut portal = ResidentClient::new(cluster.connect().await);
    let mut tokens = Vec::new();
    for (client, probe) in [
        (&agency_a, "asha-2.iso"),
        (&agency_a, "bala-2.iso"),
        (&agency_b, "asha-2.iso"),
    ] {
        let request = v1::VerifyRequest {
            txn: fresh_txn(),
            timestamp: Some(now()),
            consent: true,
            resident: resident(),
            fingers: vec![finger(probe)],
            demographics: None,
            device_id: String::new(),
            envelope: None,
        };
        let response = client.clone().verify(request).await.unwrap().into_inner();
        tokens.push((
            response.token,
            response.reference,
            response.error.map(|e| e.name),
        ));
    }
    portal
        .lock_biometrics(v1::LockRequest {
            context: context("lock-h"),
            resident: resident(),
        })
        .await
        .unwrap();

    // Newest first, every operation once, across pages of two.
    let history = full_history(&mut portal, 2).await;
    let operations: Vec<&str> = history.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(
        operations,
        ["lock_biometrics", "verify", "verify", "verify", "enrol"]
    );
    let times: Vec<i64> = history.iter().map(|e| e.time.unwrap().seconds).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "not newest first");
    // Each verify names the agency and the token that agency was given, and its
    // outcome; the two agencies' tokens differ.
    for (entry, (token, reference, error)) in history[1..4].iter().rev().zip(&tokens) {
        assert_eq!(&entry.token, token);
        assert_eq!(&entry.reference, reference);
        assert_eq!(entry.error.as_ref().map(|e| e.name.clone()), *error);
        assert_eq!(entry.matched, error.is_none());
    }
    assert_eq!(history[3].caller_id, "agency-a");
    assert_eq!(history[1].caller_id, "agency-b");
    assert_ne!(history[1].token, history[3].token);
    assert_eq!(
        history[2].error.as_ref().unwrap().name,
        "BIOMETRIC_MISMATCH"
    );
    assert_eq!(history[2].factors.len(), 1);

    // Reading the history is itself in the history: three pages were read.
    let again = full_history(&mut portal, 100).await;
    assert_eq!(again.len(), history.len() + 3);
    assert!(again[..3].iter().all(|e| e.operation == "history"));

    // Served by token: only agency-a's dealings with the resident, as agency-a knows
    // them (by the token it was given).
    let by_token = portal
        .auth_history(v1::AuthHistoryRequest {
            resident: resident(),
            page_size: 1,
            page_token: String::new(),
            token: tokens[0].0.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_token.entries.len(), 1);
    assert_eq!(by_token.entries[0].caller_id, "agency-a");
    let rest = portal
        .auth_history(v1::AuthHistoryRequest {
            resident: resident(),
            page_size: 10,
            page_token: by_token.next_page_token,
            token: tokens[0].0.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.entries.len(), 1);
    assert!(rest.next_page_token.is_empty());
    assert_eq!(rest.entries[0].reference, tokens[0].1);

    // Refusals, each with its own code.
    let refused = |status: tonic::Status| from_status(&status).name().to_owned();
    let ask = |resident, page_size, page_token: &str| v1::AuthHistoryRequest {
        resident,
        page_size,
        page_token: page_token.into(),
        token: String::new(),
    };
    let mut agency_portal = ResidentClient::new(
        cluster
            .connect_as(&cluster.issue("agency-c", verify_only()))
            .await,
    );
    let status = agency_portal
        .auth_history(ask(resident(), 0, ""))
        .await
        .unwrap_err();
    assert_eq!(refused(status), "OPERATION_NOT_ALLOWED");
    let stranger = Some(resident_id_to_wire(
        &ResidentId::new(IdentifierType::NationalId, "999").unwrap(),
    ));
    let status = portal.auth_history(ask(stranger, 0, "")).await.unwrap_err();
    assert_eq!(refused(status), "RESIDENT_UNKNOWN");
    let status = portal
        .auth_history(ask(resident(), 101, ""))
        .await
        .unwrap_err();
    assert_eq!(refused(status), "BAD_REQUEST");
    let status = portal
        .auth_history(ask(resident(), 0, "x1"))
        .await
        .unwrap_err();
    assert_eq!(refused(status), "BAD_REQUEST");
}
