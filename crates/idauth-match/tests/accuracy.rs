//! Accuracy on the shared FVC2002 corpus (all pairs within each set) must stay ahead of
//! NIST bozorth3 on every set, for both EER and FNMR at FMR 0.1 %, with a mean EER of at
//! most 3 %. Skipped with a note when the shared data is absent.

mod support;

use idauth_match::eval::{Corpus, evaluate_set};
use idauth_match::{Matcher, MccParams};

/// bozorth3 on the same records: (set, EER, FNMR at FMR 0.1 %), from the shared data
/// README and its `bozorth3_scores.csv`.
const BOZORTH3: [(&str, f64, f64); 4] = [
    ("DB1_B", 0.043, 0.114),
    ("DB2_B", 0.026, 0.061),
    ("DB3_B", 0.087, 0.296),
    ("DB4_B", 0.053, 0.189),
];

#[test]
fn beats_bozorth3_on_every_set() {
    let Some(dir) = support::shared_data("fvc2002-mindtct") else {
        return;
    };
    let corpus = Corpus::open(&dir).unwrap();
    let mut matcher = Matcher::new(MccParams::default());
    let mut eers = Vec::new();
    for (set, bozorth_eer, bozorth_fnmr) in BOZORTH3 {
        let evaluation = evaluate_set(set, &corpus.sets[set], &mut matcher, &mut || {}).unwrap();
        assert_eq!(
            (
                evaluation.rates.genuine_count(),
                evaluation.rates.impostor_count()
            ),
            (280, 2880),
            "{set}"
        );
        let eer = evaluation.rates.eer();
        let fnmr = evaluation.rates.at_fmr(0.001).fnmr;
        eprintln!(
            "{set}: EER {:.2} % (bozorth3 {:.1} %), FNMR@0.1% {:.2} % (bozorth3 {:.1} %)",
            100.0 * eer,
            100.0 * bozorth_eer,
            100.0 * fnmr,
            100.0 * bozorth_fnmr
        );
        assert!(
            eer < bozorth_eer,
            "{set}: EER {eer} not below bozorth3 {bozorth_eer}"
        );
        assert!(
            fnmr < bozorth_fnmr,
            "{set}: FNMR@0.1% {fnmr} not below bozorth3 {bozorth_fnmr}"
        );
        eers.push(eer);
    }
    let mean = eers.iter().sum::<f64>() / eers.len() as f64;
    assert!(mean <= 0.030, "mean EER {mean} above 3 %");
}
