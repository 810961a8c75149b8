//! Caller credentials and policies through the public API: every refusal has its own
//! code, and nothing is served without a credential.

use crate::common::service::{full_policy, loopback_cluster, now, scratch};
use idauth_core::{Factor, IdentifierType, ResidentId};
use idauth_gateway::auth::{Operation, Policy};
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::operator_client::OperatorClient;

fn finger() -> v1::Finger {
    crate::common::service::walkthrough_finger("asha-1.iso")
}

fn resident() -> Option<v1::Identifier> {
    Some(resident_id_to_wire(
        &ResidentId::new(IdentifierType::NationalId, "31337").unwrap(),
    ))
}

fn enrol(request_id: &str) -> v1::EnrolRequest {
    v1::EnrolRequest {
        context: Some(v1::EnrolmentContext {
            centre_id: "c".into(),
            request_id: request_id.into(),
            timestamp: Some(now()),
            consent: true,
        }),
        resident: resident(),
        fingers: vec![finger()],
        demographics: Some(v1::Demographics {
            name: "Kavya".into(),
            ..v1::Demographics::default()
        }),
        envelope: None,
    }
}

fn verify(name: &str) -> v1::VerifyRequest {
    v1::VerifyRequest {
        txn: crate::common::service::fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: resident(),
        fingers: vec![finger()],
        demographics: Some(v1::DemographicQuery {
            name: name.into(),
            ..v1::DemographicQuery::default()
        }),
        device_id: String::new(),
        envelope: None,
    }
}

fn agency(operations: Vec<Operation>, factors: Vec<Factor>, expires_ms: Option<i64>) -> Policy {
    Policy {
        operations,
        factors,
        quota_per_second: 1000,
        expires_ms,
        plain_probes: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credential_refusal_has_its_own_code() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    EnrolmentClient::new(cluster.connect().await)
        .enrol(enrol("e1"))
        .await
        .expect("the full credential enrols");

    // No credential at all: refused, and nothing is served.
    let bare = tonic::transport::Endpoint::from_shared(cluster.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = AuthClient::new(bare.clone())
        .verify(verify(""))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "CREDENTIAL_MISSING");
    let status = OperatorClient::new(bare.clone())
        .shard_status(v1::ShardStatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "CREDENTIAL_MISSING");
    let status = EnrolmentClient::new(bare)
        .enrol(enrol("e2"))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "CREDENTIAL_MISSING");

    let unknown = cluster.connect_as("idk_0000").await;
    let status = AuthClient::new(unknown)
        .verify(verify(""))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "CREDENTIAL_UNKNOWN");

    // A verify-only agency allowed fingerprints only.
    let key = cluster.issue(
        "pds",
        agency(vec![Operation::Verify], vec![Factor::Fingerprint], None),
    );
    let channel = cluster.connect_as(&key).await;
    let answer = AuthClient::new(channel.clone())
        .verify(verify(""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.decision, i32::from(v1::Decision::Match));
    let status = EnrolmentClient::new(channel.clone())
        .enrol(enrol("e3"))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "OPERATION_NOT_ALLOWED");
    let status = OperatorClient::new(channel.clone())
        .cluster_map(v1::ClusterMapRequest {})
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "OPERATION_NOT_ALLOWED");
    let status = AuthClient::new(channel.clone())
        .verify(verify("Kavya"))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "FACTOR_NOT_ALLOWED");

    // Revoked while in use: the next call is refused.
    cluster.revoke("pds");
    let status = AuthClient::new(channel)
        .verify(verify(""))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "CREDENTIAL_REVOKED");

    let expired_key = cluster.issue(
        "old",
        agency(vec![Operation::Verify], vec![Factor::Fingerprint], Some(1)),
    );
    let status = AuthClient::new(cluster.connect_as(&expired_key).await)
        .verify(verify(""))
        .await
        .unwrap_err();
    assert_eq!(from_status(&status).name(), "CREDENTIAL_EXPIRED");

    let operator_key = cluster.issue(
        "ops",
        Policy {
            operations: vec![Operation::Operator],
            ..full_policy()
        },
    );
    let map = OperatorClient::new(cluster.connect_as(&operator_key).await)
        .cluster_map(v1::ClusterMapRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(map.shards.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_transaction_is_refused() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    let mut full = AuthClient::new(cluster.connect().await);
    EnrolmentClient::new(cluster.connect().await)
        .enrol(enrol("e1"))
        .await
        .unwrap();
    let request = verify("");
    let first = full.verify(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.decision, i32::from(v1::Decision::Match));
    let replay = full.verify(request.clone()).await.unwrap_err();
    assert_eq!(from_status(&replay).name(), "DUPLICATE_TXN");
    // The same txn with a fresh timestamp is still the same transaction.
    let refreshed = v1::VerifyRequest {
        timestamp: Some(now()),
        ..request.clone()
    };
    let status = full.verify(refreshed).await.unwrap_err();
    assert_eq!(from_status(&status).name(), "DUPLICATE_TXN");
    // Transaction ids are per caller: another agency may use the same one.
    let key = cluster.issue(
        "other",
        agency(vec![Operation::Verify], vec![Factor::Fingerprint], None),
    );
    let other = AuthClient::new(cluster.connect_as(&key).await)
        .verify(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.decision, i32::from(v1::Decision::Match));

    // Tokens: stable for one agency, different for another.
    let again = full.verify(verify("")).await.unwrap().into_inner();
    assert_eq!(again.token, first.token);
    assert_eq!(first.token.len(), 32);
    assert_ne!(other.token, first.token);
}
