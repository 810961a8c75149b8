//! Accuracy evaluation (ISO/IEC 19795-1 terms): score every pair inside each set of a
//! corpus and report EER, FNMR at fixed FMR, thresholds and DET points.

pub mod corpus;
pub mod metrics;
pub mod run;

pub use corpus::{Corpus, CorpusEntry};
pub use metrics::{ErrorRates, OperatingPoint};
pub use run::{PairScore, SetEvaluation, evaluate_set};
