//! `Shard::decide`, the verify decision table, against a shard on a temporary store:
//! each row is one state of the resident or the request and the answer it must get.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idauth_core::command::{
    VerifyOutcome, VerifyRequest, WriteCommand, WriteContext, WriteRequest,
};
use idauth_core::{
    CheckedFinger, CheckedFingers, DemographicQuery, ErrorCode, Factor, FactorResult,
    FingerPosition, FingerSample, FingerUse, RecordKey, RecordKeys, StorageKey, TemplateFormat,
    Txn,
};
use idauth_match::MccParams;
use idauth_match::sample::check_finger;
use idauth_match::synthetic::population::{Population, SyntheticResident};
use idauth_store::EngineOptions;

use crate::shard::Waiting;
use crate::{CpuPermits, LockoutPolicy, Shard, ShardOptions, ShardStorage, Threshold};

const FAILURES_BEFORE_LOCKOUT: usize = 3;

struct Fixture {
    shard: Arc<Shard>,
    resident: SyntheticResident,
    other: SyntheticResident,
    writes: u32,
    _dir: tempfile::TempDir,
}

fn keys() -> RecordKeys {
    RecordKeys(vec![RecordKey {
        id: 1,
        key: [4; 32],
    }])
}

fn finger(position: FingerPosition, template: Vec<u8>) -> CheckedFinger {
    check_finger(FingerSample {
        position,
        format: TemplateFormat::Iso19794_2_2005,
        template,
    })
    .unwrap()
}

/// The right thumb of `resident`, a later capture.
fn probe_of(resident: &SyntheticResident, attempt: u64) -> CheckedFingers {
    let probe = finger(
        FingerPosition::RightThumb,
        resident.probe_record(0, attempt),
    );
    CheckedFingers::new(vec![probe], FingerUse::Probe).unwrap()
}

impl Fixture {
    /// A shard holding one resident (storage key 1) enrolled with the right thumb.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shard = Shard::open(ShardOptions {
            shard_id: "shard-t".into(),
            storage: ShardStorage::Own {
                dir: dir.path().join("shard-t"),
                engine: EngineOptions::default(),
            },
            cache_records: 16,
            cache_templates: 16,
            threshold: Threshold::built_in(0.001).unwrap(),
            params: MccParams::default(),
            cpu: CpuPermits::new(1),
            lockout: LockoutPolicy {
                max_failures: FAILURES_BEFORE_LOCKOUT,
                ..LockoutPolicy::default()
            },
        })
        .unwrap();
        let population = Population::new(3);
        let mut fixture = Self {
            shard: Arc::new(shard),
            resident: population.resident(0),
            other: population.resident(1),
            writes: 0,
            _dir: dir,
        };
        let enrolled = finger(
            FingerPosition::RightThumb,
            fixture.resident.enrolment_record(0),
        );
        let demographics = fixture.resident.demographics.clone();
        fixture
            .write(WriteCommand::Enrol {
                fingers: CheckedFingers::new(vec![enrolled], FingerUse::Enrolment).unwrap(),
                demographics,
            })
            .await;
        fixture
    }

    async fn write(&mut self, command: WriteCommand) {
        self.writes += 1;
        let request = WriteRequest {
            context: WriteContext {
                caller_id: "centre".into(),
                token: "tok".into(),
                centre_id: "centre".into(),
                request_id: format!("r-{}", self.writes),
                timestamp_ms: crate::shard::now_ms(),
            },
            key: StorageKey([1; 32]),
            keys: keys(),
            command,
        };
        self.shard.write(request).await.unwrap();
    }

    fn request(
        &self,
        txn: &str,
        fingers: CheckedFingers,
        query: DemographicQuery,
    ) -> VerifyRequest {
        VerifyRequest {
            caller_id: "agency".into(),
            token: "tok".into(),
            txn: Txn::new(txn).unwrap(),
            timestamp_ms: crate::shard::now_ms(),
            key: StorageKey([1; 32]),
            keys: keys(),
            fingers,
            demographics: query,
        }
    }

    /// The whole verify path (replay check, read, decision, audit entry).
    async fn decide(&self, request: &VerifyRequest) -> Result<VerifyOutcome, ErrorCode> {
        self.shard
            .verify(request.clone(), None)
            .await
            .map_err(|error| error.code())
    }

    fn genuine(&self, txn: &str) -> VerifyRequest {
        self.request(
            txn,
            probe_of(&self.resident, 1),
            DemographicQuery::default(),
        )
    }

    fn impostor(&self, txn: &str) -> VerifyRequest {
        self.request(txn, probe_of(&self.other, 1), DemographicQuery::default())
    }
}

fn name(name: &str) -> DemographicQuery {
    DemographicQuery {
        name: name.into(),
        ..DemographicQuery::default()
    }
}

fn refused(outcome: &VerifyOutcome) -> Option<ErrorCode> {
    assert!(!outcome.matched || outcome.error.is_none());
    assert!(outcome.reference.starts_with("shard-t-"));
    outcome.error
}

#[tokio::test]
async fn a_genuine_probe_matches_and_an_impostor_does_not() {
    let fixture = Fixture::new().await;
    let outcome = fixture.decide(&fixture.genuine("t-1")).await.unwrap();
    assert!(outcome.matched);
    assert_eq!(refused(&outcome), None);
    let fingerprint = |matched| FactorResult {
        factor: Factor::Fingerprint,
        matched,
    };
    assert_eq!(outcome.factors, vec![fingerprint(true)]);
    let outcome = fixture.decide(&fixture.impostor("t-2")).await.unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::BiometricMismatch));
    assert_eq!(outcome.factors, vec![fingerprint(false)]);
}

#[tokio::test]
async fn a_txn_is_decided_once() {
    let fixture = Fixture::new().await;
    assert!(
        fixture
            .decide(&fixture.genuine("t-1"))
            .await
            .unwrap()
            .matched
    );
    assert_eq!(
        fixture.decide(&fixture.genuine("t-1")).await.unwrap_err(),
        ErrorCode::DuplicateTxn
    );
}

#[tokio::test]
async fn an_unknown_resident_is_a_no_match_with_its_code() {
    let fixture = Fixture::new().await;
    let mut request = fixture.genuine("t-1");
    request.key = StorageKey([2; 32]);
    let outcome = fixture.decide(&request).await.unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::ResidentUnknown));
    assert!(outcome.factors.is_empty());
}

#[tokio::test]
async fn a_finger_not_enrolled_is_refused_and_an_unknown_position_is_tried() {
    let fixture = Fixture::new().await;
    let index = finger(
        FingerPosition::RightIndex,
        fixture.resident.probe_record(1, 1),
    );
    let probe = CheckedFingers::new(vec![index], FingerUse::Probe).unwrap();
    let outcome = fixture
        .decide(&fixture.request("t-1", probe, DemographicQuery::default()))
        .await
        .unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::FingerNotEnrolled));
    // A capture device that does not know the finger: compared with every enrolled one.
    let unknown = finger(FingerPosition::Unknown, fixture.resident.probe_record(0, 2));
    let probe = CheckedFingers::new(vec![unknown], FingerUse::Probe).unwrap();
    let outcome = fixture
        .decide(&fixture.request("t-2", probe, DemographicQuery::default()))
        .await
        .unwrap();
    assert!(outcome.matched, "{outcome:?}");
}

#[tokio::test]
async fn demographics_decide_alone_and_any_factor_failing_fails_the_verify() {
    let fixture = Fixture::new().await;
    let enrolled_name = fixture.resident.demographics.name.clone();
    let alone = fixture.request("t-1", CheckedFingers::no_probe(), name(&enrolled_name));
    let outcome = fixture.decide(&alone).await.unwrap();
    assert!(outcome.matched);
    assert_eq!(outcome.factors.len(), 1);
    assert_eq!(outcome.factors[0].factor, Factor::Name);
    let both = fixture.request("t-2", probe_of(&fixture.resident, 1), name("Someone Else"));
    let outcome = fixture.decide(&both).await.unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::DemographicMismatch));
    assert_eq!(outcome.factors.len(), 2);
    assert!(outcome.factors[0].matched && !outcome.factors[1].matched);
    let nothing = fixture.request(
        "t-3",
        CheckedFingers::no_probe(),
        DemographicQuery::default(),
    );
    assert_eq!(
        fixture.decide(&nothing).await.unwrap_err(),
        ErrorCode::NoFingers
    );
}

#[tokio::test]
async fn a_lock_refuses_fingers_but_not_demographics_until_unlocked() {
    let mut fixture = Fixture::new().await;
    fixture.write(WriteCommand::LockBiometrics).await;
    let outcome = fixture.decide(&fixture.genuine("t-1")).await.unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::BiometricsLocked));
    let enrolled_name = fixture.resident.demographics.name.clone();
    let alone = fixture.request("t-2", CheckedFingers::no_probe(), name(&enrolled_name));
    assert!(fixture.decide(&alone).await.unwrap().matched);
    fixture
        .write(WriteCommand::UnlockBiometrics { until_ms: None })
        .await;
    assert!(
        fixture
            .decide(&fixture.genuine("t-3"))
            .await
            .unwrap()
            .matched
    );
}

#[tokio::test]
async fn repeated_mismatches_lock_the_resident_out_for_a_while() {
    let fixture = Fixture::new().await;
    for attempt in 0..FAILURES_BEFORE_LOCKOUT {
        let outcome = fixture
            .decide(&fixture.impostor(&format!("f-{attempt}")))
            .await
            .unwrap();
        assert_eq!(refused(&outcome), Some(ErrorCode::BiometricMismatch));
    }
    let outcome = fixture.decide(&fixture.genuine("t-1")).await.unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::TemporarilyLockedOut));
}

#[tokio::test]
async fn a_deactivated_resident_is_refused_before_any_factor() {
    let mut fixture = Fixture::new().await;
    fixture.write(WriteCommand::Deactivate).await;
    let outcome = fixture.decide(&fixture.genuine("t-1")).await.unwrap();
    assert_eq!(refused(&outcome), Some(ErrorCode::ResidentDeactivated));
    assert!(outcome.factors.is_empty());
}

#[tokio::test]
async fn a_verify_that_cannot_finish_in_time_is_refused_unrun() {
    let fixture = Fixture::new().await;
    let far = Some(Instant::now() + Duration::from_secs(60));
    let shard = &fixture.shard;
    assert!(
        shard
            .verify(fixture.genuine("t-1"), far)
            .await
            .unwrap()
            .matched
    );
    // The mean task time is known now: a deadline it cannot meet is refused at once.
    let error = shard
        .verify(fixture.genuine("t-2"), Some(Instant::now()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Overloaded);
    // Nothing was done: the same txn is still fresh, and it matches.
    assert!(
        shard
            .verify(fixture.genuine("t-2"), far)
            .await
            .unwrap()
            .matched
    );
}

#[test]
fn the_queue_estimate_counts_waiting_tasks_per_worker() {
    let permits = CpuPermits::new(2);
    let metrics = idauth_core::metrics::Metrics::default();
    let now = Instant::now();
    assert_eq!(permits.expected_finish(now), now, "nothing measured yet");
    permits.task_took(Duration::from_millis(10));
    assert_eq!(
        permits.expected_finish(now),
        now + Duration::from_millis(10)
    );
    let waiting: Vec<_> = (0..4).map(|_| Waiting::new(&permits, &metrics)).collect();
    // Four waiting on two workers: two rounds of 10 ms, then this task's own.
    assert_eq!(
        permits.expected_finish(now),
        now + Duration::from_millis(30)
    );
    assert!(permits.cannot_finish(now, now + Duration::from_millis(29)));
    assert!(!permits.cannot_finish(now, now + Duration::from_millis(31)));
    drop(waiting);
    // A queue shorter than the workers is tried whatever the estimate, unless the
    // deadline has already passed.
    let one = Waiting::new(&permits, &metrics);
    assert!(!permits.cannot_finish(now, now + Duration::from_millis(1)));
    assert!(permits.cannot_finish(now, now));
    drop(one);
    assert_eq!(
        permits.expected_finish(now),
        now + Duration::from_millis(10)
    );
}

#[tokio::test]
async fn new_record_versions_replace_their_cached_templates_instead_of_adding() {
    let mut fixture = Fixture::new().await;
    for round in 0..20 {
        fixture.write(WriteCommand::LockBiometrics).await;
        fixture
            .write(WriteCommand::UnlockBiometrics { until_ms: None })
            .await;
        let txn = format!("t-{round}");
        assert!(
            fixture
                .decide(&fixture.genuine(&txn))
                .await
                .unwrap()
                .matched
        );
    }
    // One enrolled finger: one entry, whatever the number of versions it went through.
    assert_eq!(fixture.shard.report().cache_entries, 1);
}
