//! A probe's record is decoded once per verify on the in-process path: by the gateway,
//! which checks it, and never again by the shard, which matches the minutiae the
//! gateway decoded. Its own test binary, because the decode counter is process-wide
//! and tests in one binary run side by side.

use std::time::{Duration, Instant};

use idauth_core::call::{EnrolmentAction, EnrolmentCall, EnrolmentContext, VerifyCall};
use idauth_core::{
    DemographicQuery, FingerPosition, FingerSample, IdentifierType, ResidentId, TemplateFormat,
};
use idauth_gateway::{ClusterBuilder, MasterKeys, ShardSettings, StorageKeySecret, now_ms};
use idauth_match::sample::decodes;
use idauth_match::synthetic::population::Population;
use idauth_shard::{Engine, EngineOptions, Threshold};

fn finger(position: FingerPosition, template: Vec<u8>) -> FingerSample {
    FingerSample {
        position,
        format: TemplateFormat::Iso19794_2_2005,
        template,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_in_process_decodes_its_probe_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&dir.path().join("shards"), EngineOptions::default()).unwrap();
    let master_keys = MasterKeys::from_json(&MasterKeys::generate_json().unwrap()).unwrap();
    let gateway = ClusterBuilder::new(StorageKeySecret::new([9; 32]), master_keys)
        .verify_budget(Duration::from_secs(20))
        .write_budget(Duration::from_secs(20))
        .local_shards(
            2,
            &engine,
            &ShardSettings::new(Threshold::built_in(0.001).unwrap()),
        )
        .unwrap()
        .gateway();
    let resident = Population::new(1).resident(0);
    let id = ResidentId::new(IdentifierType::NationalId, &resident.id).unwrap();
    let positions = [FingerPosition::RightThumb, FingerPosition::RightIndex];

    let before = decodes();
    let enrol = EnrolmentCall {
        context: EnrolmentContext {
            centre_id: "centre".into(),
            request_id: "r-1".into(),
            timestamp_ms: Some(now_ms()),
            consent: true,
        },
        resident: id.clone(),
        action: EnrolmentAction::Enrol {
            fingers: (0..2)
                .map(|f| finger(positions[f], resident.enrolment_record(f)))
                .collect(),
            demographics: resident.demographics.clone(),
        },
    };
    gateway
        .write(enrol, "centre", Instant::now())
        .await
        .unwrap();
    assert_eq!(
        decodes() - before,
        2,
        "an enrolment decodes each finger once"
    );

    for (attempt, probe_fingers) in [vec![1], vec![0, 1]].into_iter().enumerate() {
        let verify = VerifyCall {
            txn: format!("t-{attempt}"),
            timestamp_ms: Some(now_ms()),
            consent: true,
            resident: id.clone(),
            fingers: probe_fingers
                .iter()
                .map(|&f| finger(positions[f], resident.probe_record(f, attempt as u64)))
                .collect(),
            demographics: DemographicQuery::default(),
            device_id: String::new(),
        };
        let before = decodes();
        let (outcome, _) = gateway
            .verify(verify, "agency", Instant::now())
            .await
            .unwrap();
        assert!(outcome.matched, "a genuine probe matches: {outcome:?}");
        // The enrolled templates are in the shard's cache since the enrolment, so the
        // only records read are the probe's.
        assert_eq!(
            decodes() - before,
            probe_fingers.len() as u64,
            "each probe record is decoded exactly once"
        );
    }
}
