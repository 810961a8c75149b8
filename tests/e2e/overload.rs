//! Past the gateway's in-flight bound a verify is refused at once with OVERLOADED
//! (RESOURCE_EXHAUSTED and a `grpc-retry-pushback-ms` hint), not left to time out;
//! the admitted ones are answered as usual.

use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;

use crate::common::service::{
    Running, connect, fresh_txn, now, scratch, serve_over, walkthrough_enrolment,
    walkthrough_finger, walkthrough_verify,
};

/// `idauth serve` holding at most two requests at once: its scratch directory, the
/// process, its URL and the development API key.
fn bounded_to_two() -> (tempfile::TempDir, Running, String, String) {
    let dir = scratch();
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let server = serve_over(
        dir.path(),
        &data,
        &secrets,
        &[("IDAUTH_MAX_IN_FLIGHT", "2")],
    );
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    (dir, server, url, key.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_bound_is_refused_at_once_with_a_retry_hint() {
    let (_dir, _server, url, key) = bounded_to_two();
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

/// The client SDK's adaptive throttling against the same bound: once the service has
/// refused calls as OVERLOADED, the client refuses a share of later ones itself, at
/// once and unsent, with the service's retry hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_refuses_calls_itself_once_the_service_sheds() {
    use idauth_client::{Client, ClientError, Credential, ThrottleSettings};

    let (_dir, _server, url, key) = bounded_to_two();
    let client = Client::connect(&url, &Credential::ApiKey(key), None)
        .await
        .unwrap()
        .with_throttle(Some(ThrottleSettings {
            k: 1.1,
            ..ThrottleSettings::default()
        }));
    let id = Some(idauth_proto::convert::resident_id_to_wire(
        &idauth_core::ResidentId::new(idauth_core::IdentifierType::NationalId, "4243").unwrap(),
    ));
    let context = v1::EnrolmentContext {
        centre_id: "c".into(),
        request_id: "r-1".into(),
        timestamp: Some(now()),
        consent: true,
    };
    client
        .enrol(walkthrough_enrolment(id.clone(), context, "Asha".into()))
        .await
        .unwrap();
    let (mut served, mut shed, mut throttled) = (0, 0, 0);
    for _round in 0..8 {
        let calls = (0..32).map(|_| {
            let (client, request) = (client.clone(), walkthrough_verify(id.clone(), "t"));
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                (client.verify(request).await, started.elapsed())
            })
        });
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                (Ok(_), _) => served += 1,
                (Err(ClientError::Throttled { retry_after }), took) => {
                    assert_eq!(retry_after, std::time::Duration::from_millis(100));
                    assert!(took < std::time::Duration::from_millis(50), "{took:?}");
                    throttled += 1;
                }
                (Err(error), _) => {
                    assert_eq!(
                        error.code(),
                        Some(idauth_core::ErrorCode::Overloaded),
                        "{error}"
                    );
                    assert!(error.retry_after().is_some());
                    shed += 1;
                }
            }
        }
    }
    eprintln!(
        "8 rounds of 32 verifies past a bound of 2 through the SDK: {served} served, {shed} shed by the service, {throttled} refused by the client"
    );
    assert!(served >= 2 && shed > 0, "served {served}, shed {shed}");
    assert!(throttled > 0, "the client never refused a call itself");
}
