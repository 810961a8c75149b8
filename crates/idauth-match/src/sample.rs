//! A finger as a request carries it (position, declared format, record bytes) turned
//! into the minutiae the matcher uses, with every inconsistency reported.
//!
//! The gateway decodes each request finger once, here, into a [`CheckedFinger`]; the
//! shard builds its template from the minutiae that carries. [`decodes`] counts the
//! records decoded by this process so that a test can hold the service to that.

use std::sync::atomic::{AtomicU64, Ordering};

use idauth_core::{CheckedFinger, FingerPosition, FingerSample};

use crate::error::{MatchError, Result};
use crate::format::{FingerMinutiae, parse};
use crate::mcc::{FingerTemplate, MccParams};

/// Fewest usable cylinders for a finger to be enrolled or used as a probe: with fewer,
/// LSS-R has too few pairs to relax and scores are noise.
pub const MIN_CYLINDERS: usize = 4;

/// Request-finger records decoded by this process (one relaxed add per decode, next
/// to microseconds of parsing).
static DECODES: AtomicU64 = AtomicU64::new(0);

/// How many request-finger records this process has decoded so far.
pub fn decodes() -> u64 {
    DECODES.load(Ordering::Relaxed)
}

/// Decodes one request finger: the record must be of the declared format, hold exactly
/// one view, and name the same finger as the request (when both name one).
pub fn decode_sample(sample: &FingerSample) -> Result<FingerMinutiae> {
    DECODES.fetch_add(1, Ordering::Relaxed);
    let record = parse(&sample.template)?;
    if record.format != sample.format {
        return Err(MatchError::FormatMismatch {
            declared: sample.format.name(),
            found: record.format.name(),
        });
    }
    if record.views.len() != 1 {
        return Err(MatchError::ViewCount {
            count: record.views.len(),
        });
    }
    let mut finger = record
        .fingers()
        .pop()
        .expect("exactly one view was checked above");
    let recorded = finger.position;
    match (sample.position, recorded) {
        (declared, FingerPosition::Unknown) => finger.position = declared,
        (FingerPosition::Unknown, _) => {}
        (declared, recorded) if declared == recorded => {}
        (declared, recorded) => {
            return Err(MatchError::PositionMismatch {
                declared: declared.code(),
                recorded: recorded.code(),
            });
        }
    }
    Ok(finger)
}

/// Decodes a request finger into its checked form, which carries the minutiae on.
pub fn check_finger(sample: FingerSample) -> Result<CheckedFinger> {
    let minutiae = decode_sample(&sample)?;
    Ok(CheckedFinger::new(sample, minutiae)
        .expect("decode_sample gives the declared position or the record's own"))
}

/// Builds a checked finger's template, refusing one too sparse to compare.
pub fn template_of(finger: &CheckedFinger, params: &MccParams) -> Result<FingerTemplate> {
    usable_template(finger.minutiae(), params)
}

/// Builds a template from decoded minutiae, refusing one too sparse to compare.
pub fn usable_template(minutiae: &FingerMinutiae, params: &MccParams) -> Result<FingerTemplate> {
    let template = FingerTemplate::new(minutiae, params);
    template.ensure_usable(MIN_CYLINDERS)?;
    Ok(template)
}

/// Decodes a request finger and builds its template (tools and tests that hold a
/// sample, not a checked finger).
pub fn sample_template(sample: &FingerSample, params: &MccParams) -> Result<FingerTemplate> {
    usable_template(&decode_sample(sample)?, params)
}
