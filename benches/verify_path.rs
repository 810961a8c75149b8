//! The whole server-side verify, in process: the public API's `Auth.Verify` (credential
//! check, envelope, validation, routing, storage-key and record-key derivation, the
//! shard's record read, template match, audit entry made durable, signed receipt) over
//! four shards, without the network. Encrypted and plain probes in the same run give
//! the envelope's cost per verify; the envelope, the receipt and the credential check
//! are also timed alone.
//!
//! Residents come from the synthetic population (seed 1); probes are genuine
//! 1-finger captures of the right index finger, position known.
//! Run: `cargo bench --bench verify_path`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use idauth_client::EnvelopeKey;
use idauth_client::envelope::{Binding, seal};
use idauth_core::IdentifierType;
use idauth_gateway::auth::{CallerKind, CredentialFile, Guard, Operation, Policy, Presented};
use idauth_gateway::envelope::EnvelopeKeys;
use idauth_gateway::receipt::ReceiptSigner;
use idauth_gateway::service::PublicApi;
use idauth_gateway::{ClusterBuilder, MasterKeys, ShardSettings, StorageKeySecret};
use idauth_match::synthetic::population::{Population, SyntheticResident};
use idauth_proto::convert;
use idauth_proto::v1;
use idauth_proto::v1::auth_server::Auth;
use idauth_proto::v1::enrolment_server::Enrolment;
use idauth_shard::{CpuPermits, Engine, EngineOptions, Threshold};

const RESIDENTS: u64 = 200;
const PEPPER: [u8; 32] = [5; 32];

struct Service {
    api: PublicApi,
    envelopes: Arc<EnvelopeKeys>,
    receipts: Arc<ReceiptSigner>,
    guard: Arc<Guard>,
    api_key: String,
    residents: Vec<SyntheticResident>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn now() -> prost_types::Timestamp {
    convert::timestamp(idauth_gateway::now_ms())
}

fn identifier(id: &str) -> Option<v1::Identifier> {
    Some(convert::resident_id_to_wire(
        &idauth_core::ResidentId::new(IdentifierType::NationalId, id).unwrap(),
    ))
}

fn with_key<T>(message: T, api_key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {api_key}").parse().unwrap(),
    );
    request
}

fn service() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // One set of CPU permits and one storage engine for the four shards, as
    // `idauth serve` gives them.
    let engine = Engine::open(&dir.path().join("shards"), EngineOptions::default()).unwrap();
    let settings = ShardSettings {
        cache_records: 10_000,
        cache_templates: 10_000,
        cpu: CpuPermits::new(2),
        ..ShardSettings::new(Threshold::built_in(0.001).unwrap())
    };
    let master_keys = MasterKeys::from_json(&MasterKeys::generate_json().unwrap()).unwrap();
    let gateway = ClusterBuilder::new(StorageKeySecret::new([42; 32]), master_keys)
        .verify_budget(Duration::from_secs(5))
        .write_budget(Duration::from_secs(30))
        .local_shards(4, &engine, &settings)
        .unwrap()
        .gateway();
    let credentials = dir.path().join("credentials.json");
    let mut file = CredentialFile::default();
    let policy = Policy {
        operations: vec![Operation::Enrol, Operation::Verify],
        factors: idauth_core::Factor::ALL.to_vec(),
        quota_per_second: u32::MAX,
        expires_ms: None,
        plain_probes: true,
    };
    let api_key = file
        .issue(&PEPPER, "bench", CallerKind::Agency, policy, 0)
        .unwrap()
        .api_key;
    file.save(&credentials).unwrap();
    let guard = Arc::new(Guard::new(credentials, PEPPER).unwrap());
    let envelopes =
        Arc::new(EnvelopeKeys::from_json(&EnvelopeKeys::generate_json().unwrap()).unwrap());
    let receipts = Arc::new(ReceiptSigner::from_seed(&[3; 32]));
    let api = PublicApi::new(
        gateway,
        Arc::clone(&guard),
        Arc::clone(&envelopes),
        Arc::clone(&receipts),
    );
    let population = Population::new(1);
    let residents: Vec<SyntheticResident> =
        (0..RESIDENTS).map(|i| population.resident(i)).collect();
    runtime.block_on(async {
        for (n, resident) in residents.iter().enumerate() {
            let fingers = (0..10)
                .map(|f| v1::Finger {
                    position: f as u32 + 1,
                    format: v1::TemplateFormat::Iso1979422005.into(),
                    template: resident.enrolment_record(f),
                })
                .collect();
            let request = v1::EnrolRequest {
                context: Some(v1::EnrolmentContext {
                    centre_id: "bench".into(),
                    request_id: format!("enrol-{n}"),
                    timestamp: Some(now()),
                    consent: true,
                }),
                resident: identifier(&resident.id),
                fingers,
                demographics: Some((&resident.demographics).into()),
                envelope: None,
            };
            api.enrol(with_key(request, &api_key)).await.unwrap();
        }
    });
    Service {
        api,
        envelopes,
        receipts,
        guard,
        api_key,
        residents,
        runtime,
        _dir: dir,
    }
}

static TXN: AtomicU64 = AtomicU64::new(0);

/// A genuine 1-finger verify of a resident, encrypted to the service key or not.
fn verify_request(service: &Service, encrypted: bool) -> v1::VerifyRequest {
    let n = TXN.fetch_add(1, Ordering::Relaxed);
    let resident = &service.residents[(n % RESIDENTS) as usize];
    let finger = v1::Finger {
        position: 2,
        format: v1::TemplateFormat::Iso1979422005.into(),
        template: resident.probe_record(1, n),
    };
    let txn = format!("bench-{n}");
    let timestamp = now();
    let (fingers, envelope) = if encrypted {
        let published = &service.envelopes.public_keys(idauth_gateway::now_ms())[0];
        let key = EnvelopeKey::try_from(published).unwrap();
        let binding = Binding::new(&txn, &timestamp);
        let sealed = seal(key.key_id, &key.public, vec![finger], binding).unwrap();
        (Vec::new(), Some(sealed))
    } else {
        (vec![finger], None)
    };
    v1::VerifyRequest {
        txn,
        timestamp: Some(timestamp),
        consent: true,
        resident: identifier(&resident.id),
        fingers,
        demographics: None,
        device_id: String::new(),
        envelope,
    }
}

fn bench_verify(c: &mut Criterion) {
    let service = service();
    // Every probe is genuine; make sure the path really decides before timing it.
    let matched = (0..20)
        .filter(|_| {
            let request = with_key(verify_request(&service, true), &service.api_key);
            let response = service
                .runtime
                .block_on(service.api.verify(request))
                .unwrap();
            response.into_inner().decision == i32::from(v1::Decision::Match)
        })
        .count();
    eprintln!("verify_path: {matched}/20 genuine warm-up probes matched");
    let mut group = c.benchmark_group("verify_1_finger");
    group.throughput(Throughput::Elements(1));
    group.sample_size(40);
    group.measurement_time(Duration::from_secs(8));
    for (name, encrypted) in [("envelope", true), ("plain", false)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || with_key(verify_request(&service, encrypted), &service.api_key),
                |request| {
                    service
                        .runtime
                        .block_on(service.api.verify(request))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    let mut parts = c.benchmark_group("verify_parts");
    let sealed = verify_request(&service, true);
    let now_ms = idauth_gateway::now_ms();
    let timestamp = sealed.timestamp.unwrap();
    let binding = Binding::new(&sealed.txn, &timestamp);
    let envelope = sealed.envelope.clone().unwrap();
    parts.bench_function("envelope_open", |b| {
        b.iter(|| {
            service
                .envelopes
                .open(black_box(&envelope), binding, now_ms)
                .unwrap()
        })
    });
    let mut response = service
        .runtime
        .block_on(
            service
                .api
                .verify(with_key(sealed.clone(), &service.api_key)),
        )
        .unwrap()
        .into_inner();
    parts.bench_function("receipt_sign", |b| {
        b.iter(|| service.receipts.sign(black_box(&mut response)))
    });
    let presented = Presented::of(&with_key((), &service.api_key));
    parts.bench_function("credential_check", |b| {
        b.iter(|| {
            service
                .guard
                .authorize(black_box(&presented), Operation::Verify, now_ms)
                .unwrap()
        })
    });
    parts.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
