//! Corpora for end-to-end tests: the shared FVC2002 one when present, else a synthetic
//! one the test writes itself (same layout: manifest.csv + ISO records).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use idauth_core::FingerPosition;
use idauth_match::synthetic::{SeededRng, SyntheticFinger, iso_record};

/// Writes `sets` x `fingers` x `impressions` synthetic records and their manifest.
pub fn write_synthetic_corpus(dir: &Path, sets: &[&str], fingers: usize, impressions: usize) {
    let mut manifest = String::from("db,finger,impression,iso\n");
    let mut rng = SeededRng::new(11);
    for set in sets {
        std::fs::create_dir_all(dir.join(set)).unwrap();
        for finger in 0..fingers {
            let synthetic = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, 40);
            for impression in 1..=impressions {
                let capture = synthetic.impression(rng.next_u64());
                let name = format!("{set}/{}_{impression}.iso", 101 + finger);
                std::fs::write(dir.join(&name), iso_record(&capture)).unwrap();
                writeln!(manifest, "{set},{},{impression},{name}", 101 + finger).unwrap();
            }
        }
    }
    std::fs::write(dir.join("manifest.csv"), manifest).unwrap();
}

/// The shared FVC2002 corpus, or a synthetic one in `scratch` (with a note on the
/// real stderr saying which).
pub fn corpus(scratch: &Path) -> PathBuf {
    let shared = std::env::var_os("IDAUTH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
        .join("fvc2002-mindtct");
    if shared.join("manifest.csv").exists() {
        return shared;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} not found, and CI=true: CI must run these tests on the shared corpus",
        shared.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "note: {} not found, using a synthetic corpus (set IDAUTH_SHARED_DATA for the real one)",
        shared.display()
    );
    let dir = scratch.join("synthetic-corpus");
    write_synthetic_corpus(&dir, &["S1", "S2"], 8, 4);
    dir
}
