//! Fingerprint matching for idauth.
//!
//! - [`format`]: ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 minutiae records, parsed
//!   into one normalised type and written back.
//! - [`mcc`]: Minutia Cylinder-Code bit cylinders and finger templates.
//! - [`kernel`]: the SIMD similarity kernel with runtime dispatch.
//! - [`compare`] and [`consolidate`]: one finger score (LSS, LSS-R); [`fusion`]: several
//!   fingers.
//! - [`eval`]: accuracy evaluation on a corpus (EER, FNMR at FMR, DET curve points).
//! - [`synthetic`]: deterministic synthetic fingers for benches and tests.

pub mod compare;
pub mod consolidate;
pub mod error;
pub mod eval;
mod fastmath;
pub mod format;
pub mod fusion;
pub mod kernel;
pub mod mcc;
mod relaxation;
pub mod sample;
pub mod synthetic;

pub use compare::Matcher;
pub use consolidate::Consolidation;
pub use error::{MatchError, Result};
pub use format::{FingerMinutiae, MinutiaeRecord, TemplateFormat, encode, parse};
pub use kernel::Kernel;
pub use mcc::{FingerTemplate, MccParams};
