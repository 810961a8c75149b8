//! The Ceph test cluster (`deploy/ceph/dev-cluster.sh start`) for the RADOS tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use idauth_client::{Client, ClientError, Credential, ThrottleSettings};
use idauth_core::ErrorCode;
use idauth_proto::v1;

use crate::common::service::{now, walkthrough_enrolment, walkthrough_verify};

/// The test cluster's ceph.conf: `IDAUTH_CEPH_CONF`, else the dev cluster's default
/// place. `None` (with the reason printed) where there is none, unless CI=true: there
/// a missing cluster fails the test.
pub fn ceph_conf() -> Option<PathBuf> {
    let conf = std::env::var_os("IDAUTH_CEPH_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/idauth-ceph/ceph.conf"));
    if conf.exists() {
        return Some(conf);
    }
    let reason = format!(
        "no Ceph test cluster ({} is missing): start one with deploy/ceph/dev-cluster.sh start",
        conf.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
    eprintln!("skipped: {reason}");
    None
}

/// A namespace no other run uses, so runs never see each other's residents.
pub fn fresh_namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("e2e-{}-{nanos}", std::process::id())
}

/// A client of `url` without the SDK's throttle (the tests count every refusal).
pub async fn client(url: &str, key: &str) -> Client {
    Client::connect(url, &Credential::ApiKey(key.to_owned()), None)
        .await
        .unwrap()
        .with_throttle(None::<ThrottleSettings>)
}

/// Test resident `n`'s identifier.
pub fn id(n: usize) -> Option<v1::Identifier> {
    Some(idauth_proto::convert::resident_id_to_wire(
        &idauth_core::ResidentId::new(
            idauth_core::IdentifierType::NationalId,
            &format!("77{n:08}"),
        )
        .unwrap(),
    ))
}

/// Test resident `n`'s enrolment (Asha's first walk-through capture, in clear), its
/// request id fixed so that a resend is a replay.
pub fn enrolment(n: usize) -> v1::EnrolRequest {
    walkthrough_enrolment(
        id(n),
        v1::EnrolmentContext {
            centre_id: "ceph-faults".into(),
            request_id: format!("e-{n}"),
            timestamp: Some(now()),
            consent: true,
        },
        format!("Resident {n}"),
    )
}

/// A lock of test resident `n`'s biometrics, its request id fixed so that a resend
/// is a replay.
pub fn lock(n: usize) -> v1::LockRequest {
    v1::LockRequest {
        context: Some(v1::EnrolmentContext {
            centre_id: "ceph-faults".into(),
            request_id: format!("l-{n}"),
            timestamp: Some(now()),
            consent: true,
        }),
        resident: id(n),
    }
}

/// The error code a verify of resident `n` answers (0 for none), resending while the
/// service says retry.
pub async fn verify_code(client: &Client, n: usize) -> u32 {
    for _ in 0..50 {
        match client.verify(walkthrough_verify(id(n), "ceph")).await {
            Ok(response) => return response.error.map_or(0, |error| error.code),
            Err(error) if retryable(&error) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("verify of resident {n}: {error}"),
        }
    }
    panic!("verify of resident {n}: still refused after 50 tries")
}

/// Enrols `from..to` with `concurrency` in flight, resending each refusal that says
/// retry (the same request id) until it is acknowledged; the count acknowledged.
pub async fn enrol_all(client: &Client, from: usize, to: usize, concurrency: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(from));
    let workers = (0..concurrency).map(|_| {
        let (client, next) = (client.clone(), Arc::clone(&next));
        tokio::spawn(async move {
            let mut acknowledged = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= to {
                    return acknowledged;
                }
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    match client.enrol(enrolment(n)).await {
                        Ok(_) => break,
                        Err(error) if retryable(&error) && Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(error) => panic!("enrolment {n}: {error:?}"),
                    }
                }
                acknowledged += 1;
            }
        })
    });
    let mut total = 0;
    for worker in workers.collect::<Vec<_>>() {
        total += worker.await.unwrap();
    }
    total
}

/// Whether a refusal's hint says to retry.
pub fn retryable(error: &ClientError) -> bool {
    matches!(
        error.code(),
        Some(
            ErrorCode::StorageFailure
                | ErrorCode::ShardUnavailable
                | ErrorCode::DeadlineExceeded
                | ErrorCode::Overloaded
        )
    )
}

/// Every resident of `0..count` verifies (its record present, decrypting, matching).
pub async fn all_verify(client: &Client, count: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers = (0..16).map(|_| {
        let (client, next) = (client.clone(), Arc::clone(&next));
        tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let mut tries = 0;
                let response = loop {
                    match client.verify(walkthrough_verify(id(n), "ceph")).await {
                        Ok(response) => break response,
                        Err(error) if retryable(&error) && tries < 50 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(error) => panic!("verify of resident {n}: {error}"),
                    }
                };
                assert_eq!(
                    response.decision,
                    v1::Decision::Match as i32,
                    "resident {n}: {:?}",
                    response.error
                );
            }
        })
    });
    for worker in workers.collect::<Vec<_>>() {
        worker.await.unwrap();
    }
}
