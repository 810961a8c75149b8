//! Round trips and refusals of the conversions.

use super::*;
use idauth_core::{
    Address, CheckedFinger, CheckedFingers, DemographicQuery, Demographics, Factor, FactorResult,
    FingerPosition, FingerSample, NameMatch, TemplateFormat,
};
use idauth_match::synthetic::{SeededRng, SyntheticFinger, iso_record};

/// A record that decodes: the shard API decodes every finger it is sent.
fn checked(position: FingerPosition, seed: u64) -> CheckedFinger {
    let finger = SyntheticFinger::new(&mut SeededRng::new(seed), position, 30);
    let sample = FingerSample {
        position,
        format: TemplateFormat::Iso19794_2_2005,
        template: iso_record(&finger.impression(seed)),
    };
    idauth_match::sample::check_finger(sample).unwrap()
}

fn fingers_for(usage: FingerUse, positions: &[FingerPosition]) -> CheckedFingers {
    let fingers = positions
        .iter()
        .enumerate()
        .map(|(i, p)| checked(*p, i as u64 + 1))
        .collect();
    CheckedFingers::new(fingers, usage).unwrap()
}

fn sample_write() -> WriteRequest {
    WriteRequest {
        context: WriteContext {
            caller_id: "centre-1-key".into(),
            token: "tok".into(),
            centre_id: "centre-1".into(),
            request_id: "r-1".into(),
            timestamp_ms: 1_700_000_000_123,
        },
        key: StorageKey([7; 32]),
        keys: RecordKeys(vec![
            RecordKey {
                id: 2,
                key: [5; 32],
            },
            RecordKey {
                id: 1,
                key: [6; 32],
            },
        ]),
        command: WriteCommand::Enrol {
            fingers: fingers_for(
                FingerUse::Enrolment,
                &[FingerPosition::RightIndex, FingerPosition::LeftThumb],
            ),
            demographics: Demographics {
                name: "A B".into(),
                date_of_birth: idauth_core::DateOfBirth::new("1990-01-02").unwrap(),
                gender: idauth_core::Gender::new("F").unwrap(),
                address: Address {
                    locality: "Pune".into(),
                    ..Address::default()
                },
            },
        },
    }
}

#[test]
fn writes_round_trip_through_the_shard_api() {
    let write = sample_write();
    assert_eq!(write_request(shard_write(&write)).unwrap(), write);
    for command in [
        WriteCommand::Deactivate,
        WriteCommand::LockBiometrics,
        WriteCommand::UnlockBiometrics { until_ms: None },
        WriteCommand::UnlockBiometrics { until_ms: Some(77) },
        WriteCommand::UpdateDemographics {
            demographics: Demographics::default(),
        },
        WriteCommand::UpdateBiometrics {
            fingers: fingers_for(FingerUse::Enrolment, &[FingerPosition::LeftLittle]),
        },
    ] {
        let write = WriteRequest {
            command,
            ..sample_write()
        };
        assert_eq!(write_request(shard_write(&write)).unwrap(), write);
    }
}

#[test]
fn verifies_and_outcomes_round_trip() {
    let request = VerifyRequest {
        caller_id: "agency".into(),
        token: "tok".into(),
        txn: Txn::new("t-1").unwrap(),
        timestamp_ms: 123,
        key: StorageKey([9; 32]),
        keys: RecordKeys(vec![RecordKey {
            id: 1,
            key: [3; 32],
        }]),
        fingers: fingers_for(FingerUse::Probe, &[FingerPosition::Unknown]),
        demographics: DemographicQuery {
            name: "x".into(),
            name_match: NameMatch::Partial,
            ..DemographicQuery::default()
        },
    };
    assert_eq!(verify_request(verify_command(&request)).unwrap(), request);
    let outcome = VerifyOutcome {
        matched: false,
        reference: "ref".into(),
        factors: vec![FactorResult {
            factor: Factor::Name,
            matched: false,
        }],
        error: Some(ErrorCode::DemographicMismatch),
    };
    assert_eq!(verify_outcome(verify_outcome_to_wire(&outcome)), outcome);
}

#[test]
fn timestamps_round_trip_including_before_1970() {
    for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
        assert_eq!(timestamp_ms(Some(timestamp(ms))), Some(ms));
    }
}

#[test]
fn bad_shapes_name_their_code() {
    let err = resident_id(None).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidIdentifier);
    let err = FingerSample::try_from(v1::Finger {
        position: 11,
        format: 1,
        template: vec![],
    })
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidFingerPosition);
    let err = FingerSample::try_from(v1::Finger {
        position: 1,
        format: 0,
        template: vec![],
    })
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnsupportedTemplateFormat);
}

#[test]
fn a_shard_command_with_a_bad_record_or_set_is_refused_with_its_code() {
    let good = v1::Finger::from(checked(FingerPosition::RightIndex, 1).sample());
    let garbage = v1::Finger {
        template: vec![0; 40],
        ..good.clone()
    };
    let err = checked_fingers(vec![garbage], FingerUse::Probe).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MalformedTemplate);
    let err = checked_fingers(vec![good.clone(), good], FingerUse::Probe).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DuplicateFinger);
    let err = checked_fingers(vec![], FingerUse::Enrolment).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NoFingers);
}

proptest::proptest! {
    /// Any Unix millisecond time survives the wire's seconds and nanoseconds.
    #[test]
    fn any_timestamp_round_trips(ms in -62_135_596_800_000i64..253_402_300_799_999) {
        proptest::prop_assert_eq!(timestamp_ms(Some(timestamp(ms))), Some(ms));
    }

    /// Any history query survives the shard API.
    #[test]
    fn any_history_query_round_trips(
        caller_id in "\\PC{0,20}",
        token in "[0-9a-f]{0,64}",
        key in proptest::prelude::any::<[u8; 32]>(),
        before in proptest::prelude::any::<Option<u64>>(),
        only_token in proptest::option::of("[0-9a-f]{1,64}"),
        limit in proptest::prelude::any::<u32>(),
    ) {
        let query = idauth_core::command::HistoryQuery { caller_id, token, key: StorageKey(key), before, only_token, limit };
        proptest::prop_assert_eq!(history_query(history_query_to_wire(&query)).unwrap(), query);
    }
}
