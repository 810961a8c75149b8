//! The stable error-code catalogue.
//!
//! Every error a caller can see has a number that never changes meaning, a family that
//! tells which side must act, and an action hint. Numbers are grouped by family
//! (the hundreds digit) so that logs and dashboards can bucket them without a table.
//! New codes are only ever appended; a retired code keeps its number forever.
//! The human-readable catalogue is `docs/error-codes.md`; a test keeps the two in step.

use serde::{Deserialize, Serialize};

/// Who has to act on an error, following the Aadhaar / MOSIP family split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorFamily {
    /// The fingerprints did not match the enrolled ones.
    BiometricMismatch,
    /// The demographic attributes did not match.
    DemographicMismatch,
    /// The resident's state forbids the operation (unknown, deactivated, locked).
    ResidentStatus,
    /// The request itself is malformed or not acceptable.
    Caller,
    /// The caller's credential or policy forbids the operation.
    CredentialPolicy,
    /// The encrypted envelope could not be opened.
    Crypto,
    /// The service failed; the request may be retried.
    Server,
}

impl ErrorFamily {
    /// The stable upper-snake name used in JSON and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::BiometricMismatch => "BIOMETRIC_MISMATCH",
            Self::DemographicMismatch => "DEMOGRAPHIC_MISMATCH",
            Self::ResidentStatus => "RESIDENT_STATUS",
            Self::Caller => "CALLER",
            Self::CredentialPolicy => "CREDENTIAL_POLICY",
            Self::Crypto => "CRYPTO",
            Self::Server => "SERVER",
        }
    }
}

/// A stable, caller-visible error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A fingerprint template could not be decoded (truncated, inconsistent, out of range).
    MalformedTemplate,
    /// A fingerprint template is in a format or version the service does not accept.
    UnsupportedTemplateFormat,
    /// A template decoded but holds too little to compare (no usable minutiae).
    TemplateTooSparse,
}

impl ErrorCode {
    /// Every code, in catalogue order.
    pub const ALL: [ErrorCode; 3] = [
        Self::MalformedTemplate,
        Self::UnsupportedTemplateFormat,
        Self::TemplateTooSparse,
    ];

    /// The stable number; the hundreds digit names the family.
    pub fn number(self) -> u16 {
        match self {
            Self::MalformedTemplate => 310,
            Self::UnsupportedTemplateFormat => 311,
            Self::TemplateTooSparse => 312,
        }
    }

    /// The stable upper-snake name.
    pub fn name(self) -> &'static str {
        match self {
            Self::MalformedTemplate => "MALFORMED_TEMPLATE",
            Self::UnsupportedTemplateFormat => "UNSUPPORTED_TEMPLATE_FORMAT",
            Self::TemplateTooSparse => "TEMPLATE_TOO_SPARSE",
        }
    }

    /// Which side must act.
    pub fn family(self) -> ErrorFamily {
        match self {
            Self::MalformedTemplate | Self::UnsupportedTemplateFormat | Self::TemplateTooSparse => {
                ErrorFamily::Caller
            }
        }
    }

    /// What the caller should do next, in one sentence fit for an operator's screen.
    pub fn action_hint(self) -> &'static str {
        match self {
            Self::MalformedTemplate => {
                "re-extract the template with a certified extractor and resend; do not retry the same bytes"
            }
            Self::UnsupportedTemplateFormat => {
                "send ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 finger minutiae records"
            }
            Self::TemplateTooSparse => {
                "recapture the finger: the image yielded too few usable minutiae"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn numbers_and_names_are_unique_and_family_matches_hundreds() {
        let numbers: HashSet<u16> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(numbers.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let hundreds = code.number() / 100;
            let expected = match code.family() {
                ErrorFamily::BiometricMismatch => 1,
                ErrorFamily::DemographicMismatch => 2,
                ErrorFamily::Caller => 3,
                ErrorFamily::ResidentStatus => 4,
                ErrorFamily::CredentialPolicy => 5,
                ErrorFamily::Crypto => 6,
                ErrorFamily::Server => 7,
            };
            assert_eq!(
                hundreds,
                expected,
                "{} is numbered outside its family",
                code.name()
            );
            assert!(!code.action_hint().is_empty());
        }
    }

    #[test]
    fn catalogue_document_lists_every_code_exactly() {
        let doc = include_str!("../../../docs/error-codes.md");
        let rows: Vec<&str> = doc
            .lines()
            .filter(|line| {
                line.split('|').nth(1).is_some_and(|cell| {
                    cell.trim().len() == 3 && cell.trim().chars().all(|c| c.is_ascii_digit())
                })
            })
            .collect();
        assert_eq!(
            rows.len(),
            ErrorCode::ALL.len(),
            "docs/error-codes.md rows: {rows:?}"
        );
        for code in ErrorCode::ALL {
            let expected = format!(
                "| {} | `{}` | `{}` | {} |",
                code.number(),
                code.name(),
                code.family().name(),
                code.action_hint()
            );
            assert!(
                rows.contains(&expected.as_str()),
                "docs/error-codes.md lacks or differs on: {expected}"
            );
        }
    }
}
