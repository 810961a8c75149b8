//! Encrypted probes through the public API: a sealed probe is decided; a tampered
//! envelope, one sealed to an unknown key, or one lifted into another request is
//! refused with its own code; plain fingers are refused unless the policy allows them.

use crate::common::service::{envelope_key, fresh_txn, loopback_cluster, now, scratch, sealed};
use idauth_core::{Factor, IdentifierType, ResidentId};
use idauth_gateway::auth::{Operation, Policy};
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;

fn finger(file: &str) -> v1::Finger {
    crate::common::service::walkthrough_finger(file)
}

fn resident() -> Option<v1::Identifier> {
    Some(resident_id_to_wire(
        &ResidentId::new(IdentifierType::NationalId, "88001").unwrap(),
    ))
}

fn plain(file: &str) -> v1::VerifyRequest {
    v1::VerifyRequest {
        txn: fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: resident(),
        fingers: vec![finger(file)],
        demographics: None,
        device_id: String::new(),
        envelope: None,
    }
}

async fn code(
    client: &mut AuthClient<crate::common::service::Authenticated>,
    request: v1::VerifyRequest,
) -> String {
    match client.verify(request).await {
        Ok(response) => {
            let response = response.into_inner();
            response.error.map_or("MATCH".into(), |e| e.name)
        }
        Err(status) => from_status(&status).name().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_are_checked_and_plain_probes_need_policy() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    EnrolmentClient::new(cluster.connect().await)
        .enrol(v1::EnrolRequest {
            context: Some(v1::EnrolmentContext {
                centre_id: "c".into(),
                request_id: "r".into(),
                timestamp: Some(now()),
                consent: true,
            }),
            resident: resident(),
            fingers: vec![finger("asha-1.iso")],
            demographics: Some(v1::Demographics {
                name: "N".into(),
                ..v1::Demographics::default()
            }),
            envelope: None,
        })
        .await
        .unwrap();
    let strict = cluster.issue(
        "strict",
        Policy {
            operations: vec![Operation::Verify],
            factors: vec![Factor::Fingerprint],
            quota_per_second: 1000,
            expires_ms: None,
            plain_probes: false,
        },
    );
    let mut client = AuthClient::new(cluster.connect_as(&strict).await);
    let key = envelope_key(&cluster.url, &strict).await;

    assert_eq!(
        code(&mut client, plain("asha-2.iso")).await,
        "PLAIN_PROBE_NOT_ALLOWED"
    );
    assert_eq!(
        code(&mut client, sealed(plain("asha-2.iso"), &key)).await,
        "MATCH"
    );
    assert_eq!(
        code(&mut client, sealed(plain("bala-2.iso"), &key)).await,
        "BIOMETRIC_MISMATCH"
    );

    let mut tampered = sealed(plain("asha-2.iso"), &key);
    let envelope = tampered.envelope.as_mut().unwrap();
    let middle = envelope.ciphertext.len() / 2;
    envelope.ciphertext[middle] ^= 0x01;
    assert_eq!(code(&mut client, tampered).await, "ENVELOPE_INVALID");

    let mut unknown = sealed(plain("asha-2.iso"), &key);
    unknown.envelope.as_mut().unwrap().key_id = 999;
    assert_eq!(code(&mut client, unknown).await, "ENVELOPE_KEY_UNKNOWN");

    // Lifted into another request (new txn): the associated data no longer matches.
    let original = sealed(plain("asha-2.iso"), &key);
    let lifted = v1::VerifyRequest {
        txn: fresh_txn(),
        ..original.clone()
    };
    assert_eq!(code(&mut client, lifted).await, "ENVELOPE_INVALID");

    let mut both = sealed(plain("asha-2.iso"), &key);
    both.fingers = vec![finger("asha-2.iso")];
    assert_eq!(code(&mut client, both).await, "BAD_REQUEST");
}
