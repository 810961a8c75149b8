//! `idauth eval` end to end on a corpus the test writes itself (synthetic fingers as
//! ISO 19794-2 records plus a manifest), so it runs on any fresh clone.

use std::process::Command;

use crate::common::corpus::write_synthetic_corpus;

const SETS: [&str; 2] = ["S1", "S2"];
const FINGERS: usize = 4;
const IMPRESSIONS: usize = 3;

fn write_corpus(dir: &std::path::Path) {
    write_synthetic_corpus(dir, &SETS, FINGERS, IMPRESSIONS);
}

#[test]
fn eval_writes_report_scores_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path());
    let (json, csv, svg) = (
        dir.path().join("r.json"),
        dir.path().join("s.csv"),
        dir.path().join("det.svg"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_idauth"))
        .args(["eval", "--corpus"])
        .arg(dir.path())
        .arg("--json")
        .arg(&json)
        .arg("--scores")
        .arg(&csv)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("mean EER"), "{stdout}");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let pairs_per_set = FINGERS * IMPRESSIONS * (FINGERS * IMPRESSIONS - 1) / 2;
    let genuine_per_set = FINGERS * IMPRESSIONS * (IMPRESSIONS - 1) / 2;
    let sets = report["sets"].as_array().unwrap();
    assert_eq!(sets.len(), SETS.len());
    for set in sets {
        assert_eq!(set["genuine"].as_u64().unwrap() as usize, genuine_per_set);
        assert_eq!(
            set["impostor"].as_u64().unwrap() as usize,
            pairs_per_set - genuine_per_set
        );
        for key in ["0.01", "0.001"] {
            assert!(
                set["fnmr_at_fmr"][key].is_number() && set["threshold_at_fmr"][key].is_number(),
                "{set}"
            );
        }
        let eer = set["eer"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&eer));
        assert!(set["compare_us_median"].as_f64().unwrap() > 0.0);
    }
    assert!(report["mean_eer"].is_number());

    let scores = std::fs::read_to_string(&csv).unwrap();
    let mut lines = scores.lines();
    assert_eq!(lines.next(), Some("db,a,b,genuine,score"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), SETS.len() * pairs_per_set);
    assert!(rows[0].starts_with("S1,101_1,101_2,1,"), "{}", rows[0]);
    assert_eq!(
        rows.iter()
            .filter(|r| r.split(',').nth(3) == Some("1"))
            .count(),
        SETS.len() * genuine_per_set
    );

    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.starts_with("<svg") && picture.contains("S1") && picture.contains("polyline"),
        "svg content"
    );
}

#[test]
fn eval_reports_a_missing_corpus_plainly() {
    let output = Command::new(env!("CARGO_BIN_EXE_idauth"))
        .args(["eval", "--corpus", "/nonexistent/corpus"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("manifest.csv"), "{stderr}");
}
