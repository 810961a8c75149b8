//! Writes the starting corpora of the fuzz targets into `fuzz/corpus/<target>/`: the
//! minutiae records of `testdata/` and `../shared/data`, and valid requests, records and
//! audit entries built from them, so that each target starts past its first checks.
//! Run by `scripts/fuzz.sh`; the corpora themselves are not committed.

use std::fs;
use std::path::{Path, PathBuf};

use idauth_client::envelope::{self, Binding};
use idauth_core::command::{WriteContext, WriteRequest};
use idauth_core::{RecordKey, RecordKeys, StorageKey};
use idauth_gateway::validate::{self, Limits};
use idauth_proto::convert::{self, ShardWrite};
use idauth_proto::{internal, v1};
use idauth_store::{AuditEntry, EnrolledFinger, ResidentRecord, ResidentStatus};
use prost::Message;
use x25519_dalek::{PublicKey, StaticSecret};

const NOW_MS: i64 = 1_700_000_000_000;

fn templates(root: &Path) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| {
                ["iso", "dat", "ansi2004", "iso2005", "ansi2007"]
                    .contains(&e.to_str().unwrap_or(""))
            }) {
                found.push(fs::read(&path).expect("readable"));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn position_of(template: &[u8]) -> idauth_core::FingerPosition {
    idauth_match::format::parse(template)
        .expect("a seed template parses")
        .views[0]
        .position
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus folder");
    fs::write(dir.join(name), bytes).expect("seed written");
}

fn context(n: usize) -> Option<v1::EnrolmentContext> {
    Some(v1::EnrolmentContext {
        centre_id: "centre-1".into(),
        request_id: format!("request-{n}"),
        timestamp: Some(convert::timestamp(NOW_MS)),
        consent: true,
    })
}

fn resident() -> Option<v1::Identifier> {
    Some(v1::Identifier {
        r#type: v1::IdentifierType::NationalId.into(),
        value: "234567890123".into(),
    })
}

fn demographics() -> v1::Demographics {
    v1::Demographics {
        name: "Asha Devi".into(),
        date_of_birth: "1980-02-29".into(),
        gender: "F".into(),
        address: Some(v1::Address {
            line: "12 Temple Road".into(),
            locality: "Ward 4".into(),
            district: "Pune".into(),
            state: "MH".into(),
            postal_code: "411001".into(),
        }),
    }
}

fn main() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = fuzz.join("corpus");
    let mut records = templates(&fuzz.join("../testdata"));
    records.extend(templates(&fuzz.join("../../shared/data/conformance")));
    let iso: Vec<Vec<u8>> = templates(&fuzz.join("../testdata/fingers"));
    assert!(!iso.is_empty(), "testdata/fingers holds the seed templates");
    for (n, record) in records.iter().take(200).enumerate() {
        write(&corpus.join("template"), &format!("record-{n}"), record);
    }

    let fingers: Vec<v1::Finger> = iso
        .iter()
        .take(1)
        .map(|template| v1::Finger {
            position: u32::from(position_of(template).code()),
            format: v1::TemplateFormat::Iso1979422005.into(),
            template: template.clone(),
        })
        .collect();
    let requests: Vec<(u8, Vec<u8>)> = vec![
        (
            0,
            v1::EnrolRequest {
                context: context(0),
                resident: resident(),
                fingers: fingers.clone(),
                demographics: Some(demographics()),
                envelope: None,
            }
            .encode_to_vec(),
        ),
        (
            1,
            v1::UpdateBiometricsRequest {
                context: context(1),
                resident: resident(),
                fingers: fingers.clone(),
                envelope: None,
            }
            .encode_to_vec(),
        ),
        (
            2,
            v1::UpdateDemographicsRequest {
                context: context(2),
                resident: resident(),
                demographics: Some(demographics()),
            }
            .encode_to_vec(),
        ),
        (
            3,
            v1::DeactivateRequest {
                context: context(3),
                resident: resident(),
            }
            .encode_to_vec(),
        ),
        (
            4,
            v1::LockRequest {
                context: context(4),
                resident: resident(),
            }
            .encode_to_vec(),
        ),
        (
            5,
            v1::UnlockRequest {
                context: context(5),
                resident: resident(),
                unlock_seconds: 600,
            }
            .encode_to_vec(),
        ),
        (
            6,
            v1::VerifyRequest {
                txn: "txn-1".into(),
                timestamp: Some(convert::timestamp(NOW_MS)),
                consent: true,
                resident: resident(),
                fingers: fingers.clone(),
                demographics: Some(v1::DemographicQuery {
                    name: "Asha".into(),
                    name_match: v1::NameMatch::Partial.into(),
                    date_of_birth: "1980-02-29".into(),
                    ..Default::default()
                }),
                device_id: "device-1".into(),
                envelope: None,
            }
            .encode_to_vec(),
        ),
        (
            7,
            v1::AuthHistoryRequest {
                resident: resident(),
                page_size: 20,
                page_token: "12".into(),
                token: String::new(),
            }
            .encode_to_vec(),
        ),
        (8, v1::ServiceKeysRequest::default().encode_to_vec()),
    ];
    for (which, bytes) in &requests {
        let mut seed = vec![*which];
        seed.extend_from_slice(bytes);
        write(
            &corpus.join("public_request"),
            &format!("rpc-{which}"),
            &seed,
        );
    }

    // The shard API's commands, as a gateway converts the checked public calls.
    let keys = RecordKeys(vec![RecordKey {
        id: 1,
        key: [9; 32],
    }]);
    for (which, bytes) in requests.iter().take(6) {
        let call = match which {
            0 => convert::enrol_call(v1::EnrolRequest::decode(bytes.as_slice()).unwrap()),
            1 => convert::update_biometrics_call(Message::decode(bytes.as_slice()).unwrap()),
            2 => convert::update_demographics_call(Message::decode(bytes.as_slice()).unwrap()),
            3 => convert::deactivate_call(Message::decode(bytes.as_slice()).unwrap()),
            4 => convert::lock_call(Message::decode(bytes.as_slice()).unwrap()),
            _ => convert::unlock_call(Message::decode(bytes.as_slice()).unwrap()),
        }
        .expect("a seed request converts");
        let command = validate::check_write(&call.context, call.action, NOW_MS, &Limits::default())
            .expect("a seed request is valid");
        let request = WriteRequest {
            context: WriteContext {
                caller_id: "agency-1".into(),
                token: "token".into(),
                centre_id: call.context.centre_id,
                request_id: call.context.request_id,
                timestamp_ms: NOW_MS,
            },
            key: StorageKey([3; 32]),
            keys: keys.clone(),
            command,
        };
        let (kind, bytes) = match convert::shard_write(&request) {
            ShardWrite::Enrol(m) => (0u8, m.encode_to_vec()),
            ShardWrite::UpdateBiometrics(m) => (1, m.encode_to_vec()),
            ShardWrite::UpdateDemographics(m) => (2, m.encode_to_vec()),
            ShardWrite::Deactivate(m) => (3, m.encode_to_vec()),
            ShardWrite::SetLock(m) => (4, m.encode_to_vec()),
        };
        let mut seed = vec![kind];
        seed.extend_from_slice(&bytes);
        write(
            &corpus.join("shard_request"),
            &format!("write-{which}"),
            &seed,
        );
    }
    let verify = convert::verify_call(v1::VerifyRequest::decode(requests[6].1.as_slice()).unwrap())
        .expect("the seed verify converts");
    let (txn, probe) = validate::check_verify(
        verify.txn,
        verify.timestamp_ms,
        verify.consent,
        verify.fingers,
        &verify.demographics,
        NOW_MS,
        &Limits::default(),
    )
    .expect("the seed verify is valid");
    let command = convert::verify_command(&idauth_core::command::VerifyRequest {
        caller_id: "agency-1".into(),
        token: "token".into(),
        txn,
        timestamp_ms: NOW_MS,
        key: StorageKey([3; 32]),
        keys,
        fingers: probe,
        demographics: verify.demographics,
    });
    let mut seed = vec![5];
    seed.extend_from_slice(&command.encode_to_vec());
    write(&corpus.join("shard_request"), "verify", &seed);
    let mut seed = vec![6];
    seed.extend_from_slice(
        &internal::HistoryQuery {
            key: vec![3; 32],
            limit: 10,
            ..Default::default()
        }
        .encode_to_vec(),
    );
    write(&corpus.join("shard_request"), "history", &seed);

    // Envelopes: a probe set in clear (path 1) and one sealed to some key (path 0).
    let probe = v1::ProbeSet {
        fingers: fingers.clone(),
    };
    let mut seed = vec![1];
    seed.extend_from_slice(&probe.encode_to_vec());
    write(&corpus.join("envelope"), "probe-set", &seed);
    let service = PublicKey::from(&StaticSecret::random());
    let binding = Binding {
        txn: "fuzz",
        timestamp: (1_700_000_000, 0),
    };
    let sealed = envelope::seal(1, &service, fingers.clone(), binding).expect("seals");
    let mut seed = vec![0];
    seed.extend_from_slice(&sealed.encode_to_vec());
    write(&corpus.join("envelope"), "sealed", &seed);

    // A stored record's plaintext and an audit entry, as the store encodes them.
    let record = ResidentRecord {
        status: ResidentStatus::Active,
        version: 3,
        enrolled_ms: NOW_MS,
        updated_ms: NOW_MS + 5,
        demographics: convert::enrol_call(
            v1::EnrolRequest::decode(requests[0].1.as_slice()).unwrap(),
        )
        .map(|call| match call.action {
            idauth_core::call::EnrolmentAction::Enrol { demographics, .. } => demographics,
            _ => unreachable!("an enrol call"),
        })
        .expect("converts"),
        fingers: iso
            .iter()
            .take(1)
            .map(|template| EnrolledFinger {
                position: position_of(template),
                format: idauth_core::TemplateFormat::Iso19794_2_2005,
                template: template.clone(),
                minutiae_used: 40,
            })
            .collect(),
        biometrics_locked: true,
        unlocked_until_ms: Some(NOW_MS + 600_000),
    };
    write(
        &corpus.join("sealed_record"),
        "record",
        &postcard::to_stdvec(&record).expect("encodes"),
    );
    let entry = AuditEntry {
        seq: 7,
        time_ms: NOW_MS,
        caller: "agency-1".into(),
        token: "token".into(),
        operation: "verify".into(),
        factors: vec![("fingerprint".into(), true), ("name".into(), false)],
        decision: Some(true),
        error_code: Some(301),
        reference: "R-1".into(),
        prev_hash: [5; 32],
    };
    write(
        &corpus.join("audit_entry"),
        "entry",
        &postcard::to_stdvec(&entry).expect("encodes"),
    );

    // Config files: a few settings of each kind.
    let configs = vec![
        "shards = 4\nverify_budget_ms = 150\ntarget_fmr = 0.0001\nlisten = \"127.0.0.1:50051\"\n"
            .to_string(),
        "durability = \"group-commit\"\nmax_in_flight = 96\n".to_string(),
    ];
    for (n, text) in configs.iter().enumerate() {
        write(
            &corpus.join("config"),
            &format!("config-{n}"),
            text.as_bytes(),
        );
    }
    println!("seeds written under {}", corpus.display());
}
