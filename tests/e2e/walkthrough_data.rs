//! The README walk-through's sample fingers (`testdata/fingers/*.iso`): synthetic
//! records the project generates itself, so the walk-through works on a clone without
//! `../shared/data`. The test checks the checked-in files equal what the generator
//! writes (`IDAUTH_WRITE_GOLDEN=1` rewrites them) and that they behave as the
//! walk-through says: each resident's second capture matches the first, the other
//! resident's does not.

use std::path::PathBuf;

use idauth_core::{FingerPosition, FingerSample, TemplateFormat};
use idauth_match::fusion::compare_fingers;
use idauth_match::sample::sample_template;
use idauth_match::synthetic::{SeededRng, SyntheticFinger, iso_record};
use idauth_match::{Matcher, MccParams};
use idauth_shard::Threshold;

const RESIDENTS: [(&str, u64); 2] = [("asha", 2024), ("bala", 7)];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/fingers")
}

fn generate() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (name, seed) in RESIDENTS {
        let mut rng = SeededRng::new(seed);
        let finger = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 42);
        for capture in 1..=2u64 {
            let record = iso_record(&finger.impression(seed * 10 + capture));
            files.push((format!("{name}-{capture}.iso"), record));
        }
    }
    files
}

fn score(a: &[u8], b: &[u8]) -> f32 {
    let params = MccParams::default();
    let sample = |bytes: &[u8]| FingerSample {
        position: FingerPosition::RightIndex,
        format: TemplateFormat::Iso19794_2_2005,
        template: bytes.to_vec(),
    };
    let a = sample_template(&sample(a), &params).unwrap();
    let b = sample_template(&sample(b), &params).unwrap();
    compare_fingers(&mut Matcher::new(params), &[a], &[b]).fused
}

#[test]
fn walkthrough_fingers_are_current_and_behave_as_documented() {
    let files = generate();
    if std::env::var_os("IDAUTH_WRITE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dir().join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &files {
        let on_disk = std::fs::read(dir().join(name)).unwrap();
        assert_eq!(&on_disk, bytes, "testdata/fingers/{name} is stale");
    }
    let threshold = Threshold::built_in(0.001).unwrap().score;
    let file = |name: &str| &files.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(score(file("asha-2.iso"), file("asha-1.iso")) >= threshold);
    assert!(score(file("bala-2.iso"), file("bala-1.iso")) >= threshold);
    assert!(score(file("bala-2.iso"), file("asha-1.iso")) < threshold);
    assert!(score(file("asha-2.iso"), file("bala-1.iso")) < threshold);
}
