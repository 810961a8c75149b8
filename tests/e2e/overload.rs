//! Past the gateway's in-flight bound a verify is refused at once with OVERLOADED
//! (RESOURCE_EXHAUSTED and a `grpc-retry-pushback-ms` hint), not left to time out;
//! the admitted ones are answered as usual.

use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;

use crate::common::service::{connect, fresh_txn, now, scratch, serve_over, walkthrough_finger};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_bound_is_refused_at_once_with_a_retry_hint() {
    let dir = scratch();
    let data = dir.path().join("data");
    let secrets = dir.path().join("secrets");
    let server = serve_over(
        dir.path(),
        &data,
        &secrets,
        &[("IDAUTH_MAX_IN_FLIGHT", "2")],
    );
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let key = key.trim().to_owned();
    let id = Some(idauth_proto::convert::resident_id_to_wire(
        &idauth_core::ResidentId::new(idauth_core::IdentifierType::NationalId, "4242").unwrap(),
    ));
    let mut enrolment = v1::enrolment_client::EnrolmentClient::new(connect(&url, &key).await);
    enrolment
        .enrol(v1::EnrolRequest {
            context: Some(v1::EnrolmentContext {
                centre_id: "c".into(),
                request_id: "r-1".into(),
                timestamp: Some(now()),
                consent: true,
            }),
            resident: id.clone(),
            fingers: vec![walkthrough_finger("asha-1.iso")],
            demographics: Some(v1::Demographics {
                name: "Asha".into(),
                ..v1::Demographics::default()
            }),
            envelope: None,
        })
        .await
        .unwrap();

    let channel = connect(&url, &key).await;
    let calls = (0..64).map(|_| {
        let mut client = AuthClient::new(channel.clone());
        let request = v1::VerifyRequest {
            txn: fresh_txn(),
            timestamp: Some(now()),
            consent: true,
            resident: id.clone(),
            fingers: vec![walkthrough_finger("asha-2.iso")],
            demographics: None,
            device_id: "t".into(),
            envelope: None,
        };
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            (client.verify(request).await, started.elapsed())
        })
    });
    let (mut matched, mut shed) = (0, 0);
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            (Ok(response), _) => {
                assert_eq!(response.into_inner().decision, v1::Decision::Match as i32);
                matched += 1;
            }
            (Err(status), took) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                assert_eq!(
                    idauth_proto::status::from_status(&status),
                    idauth_core::ErrorCode::Overloaded
                );
                let hint = status.metadata().get("grpc-retry-pushback-ms");
                assert!(hint.is_some_and(|h| h.to_str().unwrap().parse::<u64>().is_ok()));
                assert!(
                    took < std::time::Duration::from_secs(2),
                    "refused late: {took:?}"
                );
                shed += 1;
            }
        }
    }
    eprintln!("64 verifies at once past a bound of 2: {matched} matched, {shed} shed with a hint");
    assert!(matched >= 2, "the bound admitted nothing");
    assert!(shed > 0, "nothing was shed past the bound");
}
