//! A resident's life through the public API: enrol, replayed enrol, demographic and
//! biometric updates (record version goes up, verifies follow the new data), then
//! deactivation.

use crate::common::service::{loopback_cluster, now, scratch};
use idauth_core::{IdentifierType, ResidentId};
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;

fn fingers(name: &str) -> Vec<v1::Finger> {
    vec![crate::common::service::walkthrough_finger(name)]
}

fn context(request_id: &str) -> Option<v1::EnrolmentContext> {
    Some(v1::EnrolmentContext {
        centre_id: "centre-1".into(),
        request_id: request_id.into(),
        timestamp: Some(now()),
        consent: true,
    })
}

fn resident() -> Option<v1::Identifier> {
    Some(resident_id_to_wire(
        &ResidentId::new(IdentifierType::NationalId, "555000111").unwrap(),
    ))
}

fn verify(probe: &str, name: &str) -> v1::VerifyRequest {
    v1::VerifyRequest {
        txn: crate::common::service::fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: resident(),
        fingers: fingers(probe),
        demographics: Some(v1::DemographicQuery {
            name: name.into(),
            ..v1::DemographicQuery::default()
        }),
        device_id: String::new(),
        envelope: None,
    }
}

fn outcome(response: &v1::VerifyResponse) -> (bool, Option<String>) {
    (
        response.decision == i32::from(v1::Decision::Match),
        response.error.as_ref().map(|e| e.name.clone()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_update_and_deactivate_through_the_api() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    let channel = cluster.connect().await;
    let mut enrolment = EnrolmentClient::new(channel.clone());
    let mut auth = AuthClient::new(channel);

    let enrol = v1::EnrolRequest {
        context: context("e1"),
        resident: resident(),
        fingers: fingers("asha-1.iso"),
        demographics: Some(v1::Demographics {
            name: "Asha Devi".into(),
            ..v1::Demographics::default()
        }),
        envelope: None,
    };
    let first = enrolment.enrol(enrol.clone()).await.unwrap().into_inner();
    let receipt_key = AuthClient::new(cluster.connect().await)
        .service_keys(v1::ServiceKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .receipt_public_key;
    let bytes = idauth_client::receipt::write_bytes((&first).into());
    assert!(idauth_client::receipt::is_signed(
        &receipt_key,
        &bytes,
        &first.receipt
    ));
    assert_eq!((first.version, first.replayed), (1, false));
    let again = enrolment.enrol(enrol).await.unwrap().into_inner();
    assert_eq!(
        (again.version, again.replayed, again.reference),
        (1, true, first.reference)
    );

    let answer = auth
        .verify(verify("asha-2.iso", "Asha Devi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&answer), (true, None));

    let renamed = enrolment
        .update_demographics(v1::UpdateDemographicsRequest {
            context: context("u1"),
            resident: resident(),
            demographics: Some(v1::Demographics {
                name: "Asha Devi Rao".into(),
                ..v1::Demographics::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.version, 2);
    let answer = auth
        .verify(verify("asha-2.iso", "Asha Devi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        outcome(&answer),
        (false, Some("DEMOGRAPHIC_MISMATCH".into()))
    );
    assert_eq!(answer.factors.len(), 2);

    // New fingers: Bala's finger now belongs to this record (a recapture stand-in).
    let recaptured = enrolment
        .update_biometrics(v1::UpdateBiometricsRequest {
            context: context("u2"),
            resident: resident(),
            fingers: fingers("bala-1.iso"),
            envelope: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recaptured.version, 3);
    let answer = auth
        .verify(verify("bala-2.iso", "Asha Devi Rao"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&answer), (true, None));
    let answer = auth
        .verify(verify("asha-2.iso", "Asha Devi Rao"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&answer), (false, Some("BIOMETRIC_MISMATCH".into())));

    let retired = enrolment
        .deactivate(v1::DeactivateRequest {
            context: context("d1"),
            resident: resident(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retired.version, 4);
    let answer = auth
        .verify(verify("bala-2.iso", "Asha Devi Rao"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        outcome(&answer),
        (false, Some("RESIDENT_DEACTIVATED".into()))
    );
    let refused = enrolment
        .update_demographics(v1::UpdateDemographicsRequest {
            context: context("u3"),
            resident: resident(),
            demographics: Some(v1::Demographics {
                name: "X".into(),
                ..v1::Demographics::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(from_status(&refused).name(), "RESIDENT_DEACTIVATED");
}
