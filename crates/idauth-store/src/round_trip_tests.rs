//! Property tests of what the store writes and reads back: a resident record through
//! postcard and its seal, an audit entry through postcard; any change to a sealed
//! record's bytes is refused, never decoded.

use idauth_core::{
    Address, DateOfBirth, Demographics, FingerPosition, Gender, RecordKey, RecordKeys, StorageKey,
    TemplateFormat,
};
use proptest::prelude::*;

use crate::audit::AuditEntry;
use crate::record::{EnrolledFinger, ResidentRecord, ResidentStatus};
use crate::seal;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn demographics() -> impl Strategy<Value = Demographics> {
    (
        text(),
        (1900u32..2100, 1u32..13, 1u32..32, any::<bool>()),
        prop::sample::select(vec!["", "M", "F", "T", "f"]),
        prop::collection::vec(text(), 5),
    )
        .prop_map(|(name, (y, m, d, dated), gender, address)| Demographics {
            name,
            date_of_birth: DateOfBirth::new(if dated {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                String::new()
            })
            .unwrap(),
            gender: Gender::new(gender).unwrap(),
            address: Address {
                line: address[0].clone(),
                locality: address[1].clone(),
                district: address[2].clone(),
                state: address[3].clone(),
                postal_code: address[4].clone(),
            },
        })
}

fn finger() -> impl Strategy<Value = EnrolledFinger> {
    (
        prop::sample::select(FingerPosition::ALL.to_vec()),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..600),
        any::<u16>(),
    )
        .prop_map(|(position, iso, template, minutiae_used)| EnrolledFinger {
            position,
            format: if iso {
                TemplateFormat::Iso19794_2_2005
            } else {
                TemplateFormat::Ansi378_2004
            },
            template,
            minutiae_used,
        })
}

fn record() -> impl Strategy<Value = ResidentRecord> {
    (
        any::<bool>(),
        any::<u64>(),
        (any::<i64>(), any::<i64>()),
        demographics(),
        prop::collection::vec(finger(), 0..4),
        any::<bool>(),
        any::<Option<i64>>(),
    )
        .prop_map(
            |(active, version, (enrolled_ms, updated_ms), demographics, fingers, locked, until)| {
                ResidentRecord {
                    status: if active {
                        ResidentStatus::Active
                    } else {
                        ResidentStatus::Deactivated
                    },
                    version,
                    enrolled_ms,
                    updated_ms,
                    demographics,
                    fingers,
                    biometrics_locked: locked,
                    unlocked_until_ms: until,
                }
            },
        )
}

fn entry() -> impl Strategy<Value = AuditEntry> {
    (
        (any::<u64>(), any::<i64>()),
        (text(), text(), text(), text()),
        prop::collection::vec((text(), any::<bool>()), 0..6),
        (any::<Option<bool>>(), any::<Option<u16>>()),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(
                (seq, time_ms),
                (caller, token, operation, reference),
                factors,
                (decision, error_code),
                prev_hash,
            )| {
                AuditEntry {
                    seq,
                    time_ms,
                    caller,
                    token,
                    operation,
                    factors,
                    decision,
                    error_code,
                    reference,
                    prev_hash,
                }
            },
        )
}

fn keys(id: u32, key: [u8; 32]) -> RecordKeys {
    RecordKeys(vec![RecordKey { id, key }])
}

proptest! {
    #[test]
    fn a_record_sealed_opens_and_decodes_to_itself(
        record in record(),
        storage in any::<[u8; 32]>(),
        id in any::<u32>(),
        key in any::<[u8; 32]>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let storage = StorageKey(storage);
        let keys = keys(id, key);
        let plain = postcard::to_stdvec(&record).unwrap();
        let sealed = seal::seal(&plain, &storage, &keys.0[0]).unwrap();
        prop_assert_eq!(seal::key_id(&sealed), Some(id));
        let opened = seal::open(&sealed, &storage, &keys).unwrap();
        let decoded: ResidentRecord = postcard::from_bytes(&opened).unwrap();
        prop_assert_eq!(&decoded, &record);
        let mut tampered = sealed.clone();
        let at = flip.index(tampered.len());
        tampered[at] ^= 1;
        prop_assert!(seal::open(&tampered, &storage, &keys).is_err());
    }

    #[test]
    fn an_audit_entry_decodes_to_itself(entry in entry()) {
        let bytes = postcard::to_stdvec(&entry).unwrap();
        let decoded: AuditEntry = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(decoded, entry);
    }
}
