//! Values that have passed the gateway's checks. Each is built only by a constructor
//! that is the check, so a layer below the gateway (the shard, the store, the matcher)
//! cannot be handed an unchecked one and does not check again.

use std::collections::HashSet;

use crate::error::CoreError;
use crate::error_code::ErrorCode;
use crate::finger::FingerPosition;
use crate::minutiae::FingerMinutiae;
use crate::resident::FingerSample;

/// Longest transaction id (Aadhaar's limit).
pub const MAX_TXN_LEN: usize = 50;
/// Most fingers in one request.
pub const MAX_FINGERS: usize = 10;

/// Whether every byte is printable ASCII.
pub fn printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// An agency's transaction id: 1 to 50 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Txn(String);

impl Txn {
    /// Checks a transaction id.
    pub fn new(txn: impl Into<String>) -> Result<Self, CoreError> {
        let txn = txn.into();
        if txn.is_empty() || txn.len() > MAX_TXN_LEN || !printable(&txn) {
            return Err(CoreError::invalid(
                ErrorCode::InvalidTxn,
                "txn must be 1 to 50 printable ASCII characters",
            ));
        }
        Ok(Self(txn))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as sent, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// What a set of fingers is for: the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerUse {
    /// Enrolled fingers: at least one, each at a known position.
    Enrolment,
    /// Probe fingers: none (a demographic-only verify) or more, at unknown positions
    /// too.
    Probe,
}

/// The rules on a set of fingers that need no decoding: count, known positions where
/// required, no position twice. Checked before any record is decoded, so that a
/// request with both kinds of fault is refused for the cheap one.
pub fn check_finger_set(
    positions: impl ExactSizeIterator<Item = FingerPosition>,
    usage: FingerUse,
) -> Result<(), CoreError> {
    if positions.len() == 0 && usage == FingerUse::Enrolment {
        return Err(CoreError::invalid(
            ErrorCode::NoFingers,
            "no finger in the request",
        ));
    }
    if positions.len() > MAX_FINGERS {
        return Err(CoreError::invalid(
            ErrorCode::TooManyFingers,
            "more than 10 fingers",
        ));
    }
    let mut seen = HashSet::new();
    for position in positions {
        if position == FingerPosition::Unknown && usage == FingerUse::Enrolment {
            return Err(CoreError::invalid(
                ErrorCode::InvalidFingerPosition,
                "enrolled fingers need a known position",
            ));
        }
        if !seen.insert(position) {
            return Err(CoreError::invalid(
                ErrorCode::DuplicateFinger,
                "finger position repeated",
            ));
        }
    }
    Ok(())
}

/// One finger whose record decoded as declared: the bytes as sent (what is stored)
/// and the minutiae read from them (what is matched). `idauth_match::sample` builds
/// it; every layer after the gateway takes the minutiae from here and never parses
/// the record again.
#[derive(Clone, PartialEq)]
pub struct CheckedFinger {
    sample: FingerSample,
    minutiae: FingerMinutiae,
}

impl std::fmt::Debug for CheckedFinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedFinger")
            .field("sample", &self.sample)
            .field("minutiae", &self.minutiae.minutiae.len())
            .finish()
    }
}

impl CheckedFinger {
    /// Pairs a finger with the minutiae decoded from its record. The decoded finger
    /// must name the same position as the request (the decoder copies the declared one
    /// over a record that names none).
    pub fn new(sample: FingerSample, minutiae: FingerMinutiae) -> Result<Self, CoreError> {
        if sample.position != FingerPosition::Unknown && minutiae.position != sample.position {
            return Err(CoreError::invalid(
                ErrorCode::InvalidFingerPosition,
                "decoded finger names another position than the request",
            ));
        }
        Ok(Self { sample, minutiae })
    }

    /// The finger's position (the request's, or the record's when the request named
    /// none).
    pub fn position(&self) -> FingerPosition {
        self.minutiae.position
    }

    /// The finger as sent.
    pub fn sample(&self) -> &FingerSample {
        &self.sample
    }

    /// The decoded minutiae.
    pub fn minutiae(&self) -> &FingerMinutiae {
        &self.minutiae
    }
}

/// Fingers that passed [`check_finger_set`] for their use, each decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedFingers {
    usage: FingerUse,
    fingers: Vec<CheckedFinger>,
}

impl CheckedFingers {
    /// Checks the set: the same rules as [`check_finger_set`], over the positions the
    /// requests declared.
    pub fn new(fingers: Vec<CheckedFinger>, usage: FingerUse) -> Result<Self, CoreError> {
        check_finger_set(fingers.iter().map(|f| f.sample.position), usage)?;
        Ok(Self { usage, fingers })
    }

    /// No fingers: a demographic-only verify.
    pub fn no_probe() -> Self {
        Self {
            usage: FingerUse::Probe,
            fingers: Vec::new(),
        }
    }

    /// What the set was checked for.
    pub fn usage(&self) -> FingerUse {
        self.usage
    }

    /// The fingers, in request order.
    pub fn as_slice(&self) -> &[CheckedFinger] {
        &self.fingers
    }

    /// Number of fingers.
    pub fn len(&self) -> usize {
        self.fingers.len()
    }

    /// Whether the set holds no finger.
    pub fn is_empty(&self) -> bool {
        self.fingers.is_empty()
    }

    /// Each finger as sent.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = &FingerSample> {
        self.fingers.iter().map(CheckedFinger::sample)
    }
}

impl<'a> IntoIterator for &'a CheckedFingers {
    type Item = &'a CheckedFinger;
    type IntoIter = std::slice::Iter<'a, CheckedFinger>;

    fn into_iter(self) -> Self::IntoIter {
        self.fingers.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template_format::TemplateFormat;

    fn finger(position: FingerPosition) -> CheckedFinger {
        let sample = FingerSample {
            position,
            format: TemplateFormat::Iso19794_2_2005,
            template: vec![1, 2, 3],
        };
        let minutiae = FingerMinutiae {
            position: if position == FingerPosition::Unknown {
                FingerPosition::RightIndex
            } else {
                position
            },
            width: 1,
            height: 1,
            x_ppi: 500.0,
            y_ppi: 500.0,
            minutiae: Vec::new(),
        };
        CheckedFinger::new(sample, minutiae).unwrap()
    }

    #[test]
    fn txn_ids_are_bounded_and_printable() {
        assert_eq!(Txn::new("t-1").unwrap().as_str(), "t-1");
        assert!(Txn::new("x".repeat(50)).is_ok());
        for bad in ["", &"x".repeat(51), "tab\there", "é"] {
            assert_eq!(Txn::new(bad).unwrap_err().code(), ErrorCode::InvalidTxn);
        }
    }

    #[test]
    fn finger_sets_follow_the_rules_of_their_use() {
        use FingerPosition::*;
        let code = |fingers: Vec<CheckedFinger>, usage| {
            CheckedFingers::new(fingers, usage).err().map(|e| e.code())
        };
        assert_eq!(
            code(vec![], FingerUse::Enrolment),
            Some(ErrorCode::NoFingers)
        );
        assert_eq!(code(vec![], FingerUse::Probe), None);
        assert_eq!(
            code(vec![finger(Unknown)], FingerUse::Enrolment),
            Some(ErrorCode::InvalidFingerPosition)
        );
        assert_eq!(code(vec![finger(Unknown)], FingerUse::Probe), None);
        assert_eq!(
            code(vec![finger(LeftThumb), finger(LeftThumb)], FingerUse::Probe),
            Some(ErrorCode::DuplicateFinger)
        );
        let eleven: Vec<_> = FingerPosition::ALL.iter().map(|p| finger(*p)).collect();
        assert_eq!(
            code(eleven, FingerUse::Probe),
            Some(ErrorCode::TooManyFingers)
        );
    }

    #[test]
    fn a_decoded_finger_must_name_the_declared_position() {
        let sample = FingerSample {
            position: FingerPosition::LeftThumb,
            format: TemplateFormat::Iso19794_2_2005,
            template: vec![],
        };
        let mut minutiae = finger(FingerPosition::RightIndex).minutiae().clone();
        assert!(CheckedFinger::new(sample.clone(), minutiae.clone()).is_err());
        minutiae.position = FingerPosition::LeftThumb;
        assert!(CheckedFinger::new(sample, minutiae).is_ok());
    }
}
