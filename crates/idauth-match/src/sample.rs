//! A finger as a request carries it (position, declared format, record bytes) turned
//! into the minutiae the matcher uses, with every inconsistency reported.

use idauth_core::{FingerPosition, FingerSample};

use crate::error::{MatchError, Result};
use crate::format::{FingerMinutiae, parse};
use crate::mcc::{FingerTemplate, MccParams};

/// Fewest usable cylinders for a finger to be enrolled or used as a probe: with fewer,
/// LSS-R has too few pairs to relax and scores are noise.
pub const MIN_CYLINDERS: usize = 4;

/// Decodes one request finger: the record must be of the declared format, hold exactly
/// one view, and name the same finger as the request (when both name one).
pub fn decode_sample(sample: &FingerSample) -> Result<FingerMinutiae> {
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

/// Decodes a request finger and builds its template, refusing one too sparse to
/// compare.
pub fn template_of(sample: &FingerSample, params: &MccParams) -> Result<FingerTemplate> {
    let template = FingerTemplate::new(&decode_sample(sample)?, params);
    template.ensure_usable(MIN_CYLINDERS)?;
    Ok(template)
}
