//! Resident controls through the public API: a locked resident's biometrics are
//! refused, a temporary unlock lapses by itself, and repeated failures lock a resident
//! out for a while.

mod common;

use std::time::Duration;

use common::service::{
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
    common::service::walkthrough_finger(file)
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
