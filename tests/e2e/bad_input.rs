//! Bad requests through the public API: each is refused with its own typed error, and
//! nothing is stored.

use crate::common::service::{Authenticated, loopback_cluster, now, residents_per_shard, scratch};
use idauth_core::{FingerPosition, IdentifierType, ResidentId};
use idauth_match::synthetic::{SeededRng, SyntheticFinger, iso_record};
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;

/// A valid ISO record of a synthetic finger.
fn record(seed: u64, position: FingerPosition) -> Vec<u8> {
    let mut rng = SeededRng::new(seed);
    let finger = SyntheticFinger::new(&mut rng, position, 40);
    iso_record(&finger.impression(seed))
}

fn finger(position: u32, template: Vec<u8>) -> v1::Finger {
    v1::Finger {
        position,
        format: v1::TemplateFormat::Iso1979422005.into(),
        template,
    }
}

fn id(value: &str) -> Option<v1::Identifier> {
    Some(resident_id_to_wire(
        &ResidentId::new(IdentifierType::NationalId, value).unwrap(),
    ))
}

fn enrol_request(resident: &str, request_id: &str, fingers: Vec<v1::Finger>) -> v1::EnrolRequest {
    v1::EnrolRequest {
        context: Some(v1::EnrolmentContext {
            centre_id: "centre-7".into(),
            request_id: request_id.into(),
            timestamp: Some(now()),
            consent: true,
        }),
        resident: id(resident),
        fingers,
        demographics: Some(v1::Demographics {
            name: "Meera Nair".into(),
            ..v1::Demographics::default()
        }),
        envelope: None,
    }
}

fn verify_request(resident: &str, fingers: Vec<v1::Finger>) -> v1::VerifyRequest {
    v1::VerifyRequest {
        txn: crate::common::service::fresh_txn(),
        timestamp: Some(now()),
        consent: true,
        resident: id(resident),
        fingers,
        demographics: None,
        device_id: "test".into(),
        envelope: None,
    }
}

async fn enrol_code(
    client: &mut EnrolmentClient<Authenticated>,
    request: v1::EnrolRequest,
) -> String {
    let status = client.enrol(request).await.expect_err("enrol was accepted");
    from_status(&status).name().to_owned()
}

async fn verify_code(client: &mut AuthClient<Authenticated>, request: v1::VerifyRequest) -> String {
    match client.verify(request).await {
        Ok(response) => response
            .into_inner()
            .error
            .map(|e| e.name)
            .unwrap_or_else(|| "MATCH".into()),
        Err(status) => from_status(&status).name().to_owned(),
    }
}

fn seconds_ago(seconds: i64) -> Option<prost_types::Timestamp> {
    let mut t = now();
    t.seconds -= seconds;
    Some(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_typed_errors_and_store_nothing() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    let channel = cluster.connect().await;
    let mut enrolment = EnrolmentClient::new(channel.clone());
    let mut auth = AuthClient::new(channel);

    let good = record(1, FingerPosition::RightIndex);
    enrolment
        .enrol(enrol_request("100", "r-100", vec![finger(2, good.clone())]))
        .await
        .expect("a valid enrolment");
    assert_eq!(
        verify_code(
            &mut auth,
            verify_request("100", vec![finger(2, good.clone())])
        )
        .await,
        "MATCH"
    );

    let mut truncated = good.clone();
    truncated.truncate(good.len() - 7);
    let mut malformed = good.clone();
    malformed[0] = b'X';
    // The view's minutiae count (byte 27 of a one-view ISO 19794-2:2005 record) says
    // more than the record holds.
    let mut overclaimed = good.clone();
    overclaimed[27] = 255;
    let mut version_2011 = good.clone();
    version_2011[4..8].copy_from_slice(b"030\0");
    let eleven: Vec<v1::Finger> = (0..11)
        .map(|i| {
            finger(
                1 + i % 10,
                record(10 + u64::from(i), FingerPosition::Unknown),
            )
        })
        .collect();

    let cases: Vec<(&str, v1::EnrolRequest)> = vec![
        (
            "MALFORMED_TEMPLATE",
            enrol_request("201", "r-201", vec![finger(2, truncated.clone())]),
        ),
        (
            "MALFORMED_TEMPLATE",
            enrol_request("202", "r-202", vec![finger(2, malformed.clone())]),
        ),
        (
            "MALFORMED_TEMPLATE",
            enrol_request("216", "r-216", vec![finger(2, overclaimed.clone())]),
        ),
        (
            "UNSUPPORTED_TEMPLATE_FORMAT",
            enrol_request("203", "r-203", vec![finger(2, version_2011.clone())]),
        ),
        (
            "UNSUPPORTED_TEMPLATE_FORMAT",
            enrol_request(
                "204",
                "r-204",
                vec![v1::Finger {
                    format: 0,
                    ..finger(2, good.clone())
                }],
            ),
        ),
        ("NO_FINGERS", enrol_request("205", "r-205", vec![])),
        ("TOO_MANY_FINGERS", enrol_request("206", "r-206", eleven)),
        (
            "DUPLICATE_FINGER",
            enrol_request(
                "207",
                "r-207",
                vec![
                    finger(2, good.clone()),
                    finger(2, record(3, FingerPosition::Unknown)),
                ],
            ),
        ),
        (
            "INVALID_FINGER_POSITION",
            enrol_request("208", "r-208", vec![finger(11, good.clone())]),
        ),
        (
            "RESIDENT_ALREADY_ENROLLED",
            enrol_request("100", "r-other", vec![finger(2, good.clone())]),
        ),
        (
            "REQUEST_ID_REUSED",
            enrol_request("209", "r-100", vec![finger(2, good.clone())]),
        ),
        (
            "MESSAGE_TOO_LARGE",
            enrol_request("210", "r-210", vec![finger(2, vec![0u8; 70_000])]),
        ),
        ("CONSENT_MISSING", {
            let mut r = enrol_request("211", "r-211", vec![finger(2, good.clone())]);
            r.context.as_mut().unwrap().consent = false;
            r
        }),
        ("TIMESTAMP_STALE", {
            let mut r = enrol_request("212", "r-212", vec![finger(2, good.clone())]);
            r.context.as_mut().unwrap().timestamp = seconds_ago(25 * 3600);
            r
        }),
        ("TIMESTAMP_FUTURE", {
            let mut r = enrol_request("213", "r-213", vec![finger(2, good.clone())]);
            r.context.as_mut().unwrap().timestamp = seconds_ago(-600);
            r
        }),
        ("INVALID_IDENTIFIER", {
            let mut r = enrol_request("214", "r-214", vec![finger(2, good.clone())]);
            r.resident = Some(v1::Identifier {
                r#type: 1,
                value: "has space".into(),
            });
            r
        }),
        ("INVALID_DEMOGRAPHICS", {
            let mut r = enrol_request("215", "r-215", vec![finger(2, good.clone())]);
            r.demographics.as_mut().unwrap().date_of_birth = "1990-13-45".into();
            r
        }),
    ];
    for (expected, request) in cases {
        assert_eq!(enrol_code(&mut enrolment, request).await, expected);
    }

    let verify_cases: Vec<(&str, v1::VerifyRequest)> = vec![
        (
            "RESIDENT_UNKNOWN",
            verify_request("999", vec![finger(2, good.clone())]),
        ),
        (
            "MALFORMED_TEMPLATE",
            verify_request("100", vec![finger(2, truncated)]),
        ),
        (
            "UNSUPPORTED_TEMPLATE_FORMAT",
            verify_request("100", vec![finger(2, version_2011)]),
        ),
        ("NO_FINGERS", verify_request("100", vec![])),
        (
            "DUPLICATE_FINGER",
            verify_request(
                "100",
                vec![finger(2, good.clone()), finger(2, good.clone())],
            ),
        ),
        (
            "FINGER_NOT_ENROLLED",
            verify_request("100", vec![finger(3, record(4, FingerPosition::Unknown))]),
        ),
        (
            "CONSENT_MISSING",
            v1::VerifyRequest {
                consent: false,
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
        (
            "INVALID_TXN",
            v1::VerifyRequest {
                txn: "t".repeat(51),
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
        (
            "INVALID_TXN",
            v1::VerifyRequest {
                txn: String::new(),
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
        (
            "TIMESTAMP_STALE",
            v1::VerifyRequest {
                timestamp: seconds_ago(90_000),
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
        (
            "TIMESTAMP_FUTURE",
            v1::VerifyRequest {
                timestamp: seconds_ago(-3600),
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
        (
            "MESSAGE_TOO_LARGE",
            verify_request("100", vec![finger(2, vec![7u8; 100_000])]),
        ),
        (
            "MALFORMED_TEMPLATE",
            verify_request("100", vec![finger(2, overclaimed)]),
        ),
        (
            "TIMESTAMP_FUTURE",
            v1::VerifyRequest {
                timestamp: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 999_999_999,
                }),
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
        (
            "TIMESTAMP_STALE",
            v1::VerifyRequest {
                timestamp: Some(prost_types::Timestamp {
                    seconds: i64::MIN,
                    nanos: -999_999_999,
                }),
                ..verify_request("100", vec![finger(2, good.clone())])
            },
        ),
    ];
    for (expected, request) in verify_cases {
        assert_eq!(verify_code(&mut auth, request).await, expected);
    }

    // Nothing from the refused enrolments was stored.
    let per_shard = residents_per_shard(&cluster.url, &cluster.api_key).await;
    assert_eq!(per_shard.iter().sum::<u64>(), 1, "{per_shard:?}");
    for resident in ["201", "205", "209", "211", "215"] {
        assert_eq!(
            verify_code(
                &mut auth,
                verify_request(resident, vec![finger(2, good.clone())])
            )
            .await,
            "RESIDENT_UNKNOWN"
        );
    }
}
