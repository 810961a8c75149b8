//! Hostile callers at the transport: VerifyBatch streams opened and never finished are
//! ended with STREAM_IDLE after the idle limit, many of them on one connection do not
//! stop the server serving others, and a batch far over the caller's quota is answered
//! item by item (QUOTA_EXCEEDED in-band) to its end.

use std::time::{Duration, Instant};

use idauth_core::ErrorCode;
use idauth_proto::status::{code_of, from_status};
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use tokio_stream::wrappers::ReceiverStream;

use crate::common::service::{
    connect, fresh_txn, idauth, now, scratch, serve_over, walkthrough_finger,
};

fn verify(resident: &Option<v1::Identifier>) -> v1::VerifyRequest {
    v1::VerifyRequest {
        txn: fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: resident.clone(),
        fingers: vec![walkthrough_finger("asha-2.iso")],
        demographics: None,
        device_id: "slow".into(),
        envelope: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_batches_end_and_a_batch_over_quota_is_answered_to_its_end() {
    let dir = scratch();
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    let server = serve_over(dir.path(), &data, &secrets, &[("IDAUTH_BATCH_IDLE_S", "1")]);
    let url = format!("http://{}", server.addr);
    let key = std::fs::read_to_string(secrets.join("dev-credential.key")).unwrap();
    let key = key.trim().to_owned();
    let resident = Some(idauth_proto::convert::resident_id_to_wire(
        &idauth_core::ResidentId::new(idauth_core::IdentifierType::NationalId, "slow-1").unwrap(),
    ));
    v1::enrolment_client::EnrolmentClient::new(connect(&url, &key).await)
        .enrol(v1::EnrolRequest {
            context: Some(v1::EnrolmentContext {
                centre_id: "c".into(),
                request_id: "slow-enrol".into(),
                timestamp: Some(now()),
                consent: true,
            }),
            resident: resident.clone(),
            fingers: vec![walkthrough_finger("asha-1.iso")],
            demographics: Some(v1::Demographics {
                name: "Slow".into(),
                ..v1::Demographics::default()
            }),
            envelope: None,
        })
        .await
        .unwrap();

    // 100 batches on one connection (past its 64 concurrent streams), each sending one
    // request and then nothing, its sender held open.
    let stuck = connect(&url, &key).await;
    let opened = Instant::now();
    let mut batches = Vec::new();
    for _ in 0..100 {
        let (send, receive) = tokio::sync::mpsc::channel(4);
        send.send(verify(&resident)).await.unwrap();
        let mut client = AuthClient::new(stuck.clone());
        batches.push(tokio::spawn(async move {
            let _held = send;
            // A stream past the connection's 64 may be refused outright (REFUSED_STREAM,
            // a retryable UNAVAILABLE) when opened before the client has the server's
            // settings; otherwise it waits for a free slot on the connection.
            let mut answers = match client.verify_batch(ReceiverStream::new(receive)).await {
                Ok(answers) => answers.into_inner(),
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    return None;
                }
            };
            let first = answers.message().await.unwrap().expect("the first answer");
            let end = answers.message().await;
            Some((first, end, opened.elapsed()))
        }));
    }
    // Meanwhile another caller is served as usual.
    let mut other = AuthClient::new(connect(&url, &key).await);
    for _ in 0..20 {
        let started = Instant::now();
        let answer = other.verify(verify(&resident)).await.unwrap().into_inner();
        assert_eq!(answer.decision, v1::Decision::Match as i32);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let (mut longest, mut refused_streams) = (Duration::ZERO, 0);
    for batch in batches {
        let Some((first, end, took)) = batch.await.unwrap() else {
            refused_streams += 1;
            continue;
        };
        assert_eq!(
            first.decision,
            v1::Decision::Match as i32,
            "{:?}",
            first.error
        );
        let status = end.expect_err("an idle batch must end with an error");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert_eq!(from_status(&status), ErrorCode::StreamIdle);
        longest = longest.max(took);
    }
    // One second of idling each; the streams past 64 wait their turn on the connection.
    assert!(
        longest < Duration::from_secs(10),
        "idle batches took {longest:?}"
    );

    // A batch far over a caller's quota: every item answered, the excess in-band.
    let output = idauth()
        .args(["keys", "issue", "--caller", "small", "--kind", "agency"])
        .args([
            "--operations",
            "verify",
            "--quota",
            "5",
            "--plain-probes",
            "--json",
        ])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--secrets-dir", secrets.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let issued: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let small = issued["api_key"].as_str().unwrap().to_owned();
    let requests: Vec<v1::VerifyRequest> = (0..300).map(|_| verify(&resident)).collect();
    let mut answers = loop {
        // The running gateway picks the new credential up from its file.
        let mut client = AuthClient::new(connect(&url, &small).await);
        match client
            .verify_batch(tokio_stream::iter(requests.clone()))
            .await
        {
            Ok(answers) => break answers.into_inner(),
            Err(status) if from_status(&status) == ErrorCode::CredentialUnknown => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    };
    let (mut matched, mut over_quota) = (0, 0);
    while let Some(answer) = answers.message().await.unwrap() {
        match answer.error.as_ref().and_then(code_of) {
            None => matched += 1,
            Some(ErrorCode::QuotaExceeded) => over_quota += 1,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(matched + over_quota, 300, "every item answered");
    assert!(over_quota > 200, "{over_quota} over quota of 300 at 5/s");
    assert!(matched > 0);
    eprintln!(
        "slow clients: of 100 idle batches on one connection {refused_streams} refused at \
         open (past 64 streams), the rest ended with STREAM_IDLE within {longest:?}; a \
         300-item batch at quota 5/s: {matched} matched, {over_quota} QUOTA_EXCEEDED in-band"
    );
}
