//! The stored form of a resident.

use idauth_core::{Demographics, FingerPosition, TemplateFormat};
use serde::{Deserialize, Serialize};

/// Whether a resident can authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidentStatus {
    /// Verifies are answered.
    Active,
    /// Retired; verifies fail with RESIDENT_DEACTIVATED.
    Deactivated,
}

/// One enrolled finger: the minutiae record as captured, which is what the matcher
/// derives its cylinders from (about 250 bytes, against ~9 KB of cylinders).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledFinger {
    /// Which finger.
    pub position: FingerPosition,
    /// The record format.
    pub format: TemplateFormat,
    /// The record bytes.
    pub template: Vec<u8>,
    /// Minutiae the matcher used when it was enrolled (the enrolment quality figure).
    pub minutiae_used: u16,
}

impl std::fmt::Debug for EnrolledFinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolledFinger")
            .field("position", &self.position)
            .field("format", &self.format)
            .field("template_bytes", &self.template.len())
            .field("minutiae_used", &self.minutiae_used)
            .finish()
    }
}

/// A resident's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentRecord {
    /// Whether the resident can authenticate.
    pub status: ResidentStatus,
    /// 1 after enrolment, +1 per update.
    pub version: u64,
    /// Enrolment time, Unix milliseconds.
    pub enrolled_ms: i64,
    /// Last change, Unix milliseconds.
    pub updated_ms: i64,
    /// Demographic attributes.
    pub demographics: Demographics,
    /// Enrolled fingers, at most one per position.
    pub fingers: Vec<EnrolledFinger>,
    /// Whether the resident locked biometric authentication.
    pub biometrics_locked: bool,
    /// A temporary unlock lasts until this time (Unix milliseconds).
    pub unlocked_until_ms: Option<i64>,
}

impl ResidentRecord {
    /// Whether biometric authentication is locked at `now_ms`: locked, and not inside
    /// a temporary unlock.
    pub fn biometrics_locked_at(&self, now_ms: i64) -> bool {
        self.biometrics_locked && self.unlocked_until_ms.is_none_or(|until| now_ms >= until)
    }

    /// The enrolled finger at `position`.
    pub fn finger(&self, position: FingerPosition) -> Option<&EnrolledFinger> {
        self.fingers.iter().find(|f| f.position == position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_unlock_lapses_by_itself() {
        let mut record = ResidentRecord {
            status: ResidentStatus::Active,
            version: 1,
            enrolled_ms: 0,
            updated_ms: 0,
            demographics: Demographics::default(),
            fingers: Vec::new(),
            biometrics_locked: false,
            unlocked_until_ms: None,
        };
        assert!(!record.biometrics_locked_at(5));
        record.biometrics_locked = true;
        assert!(record.biometrics_locked_at(5));
        record.unlocked_until_ms = Some(100);
        assert!(!record.biometrics_locked_at(99));
        assert!(record.biometrics_locked_at(100));
    }
}
