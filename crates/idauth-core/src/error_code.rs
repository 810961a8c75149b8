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

/// Defines [`ErrorCode`] and its tables from one list, so that a code's number, name,
/// family and hint cannot drift apart.
macro_rules! catalogue {
    ($($variant:ident = $number:literal, $name:literal, $family:ident, $hint:literal, $doc:literal;)*) => {
        /// A stable, caller-visible error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),*];

            /// The stable number; the hundreds digit names the family.
            pub fn number(self) -> u16 {
                match self { $(Self::$variant => $number,)* }
            }

            /// The stable upper-snake name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// Which side must act.
            pub fn family(self) -> ErrorFamily {
                match self { $(Self::$variant => ErrorFamily::$family,)* }
            }

            /// What the caller should do next, in one sentence fit for an operator's screen.
            pub fn action_hint(self) -> &'static str {
                match self { $(Self::$variant => $hint,)* }
            }
        }
    };
}

catalogue! {
    BiometricMismatch = 100, "BIOMETRIC_MISMATCH", BiometricMismatch, "recapture the fingers and retry once, then use another factor or the fallback procedure", "The probe fingers did not match the enrolled fingers.";
    DemographicMismatch = 200, "DEMOGRAPHIC_MISMATCH", DemographicMismatch, "check the attributes against the resident's documents and resend", "A demographic attribute did not match the enrolled one.";
    BadRequest = 300, "BAD_REQUEST", Caller, "fix the request: a required field is missing or out of range", "A required field is missing or a field is out of range.";
    InvalidTxn = 301, "INVALID_TXN", Caller, "send a transaction id of 1 to 50 printable ASCII characters", "The transaction id is empty, too long or not printable ASCII.";
    ConsentMissing = 302, "CONSENT_MISSING", Caller, "obtain the resident's consent and set the consent flag", "The resident's consent flag is not set.";
    TimestampStale = 303, "TIMESTAMP_STALE", Caller, "send the request at capture time with a correct clock", "The request timestamp is missing or older than the accepted window.";
    TimestampFuture = 304, "TIMESTAMP_FUTURE", Caller, "correct the client clock", "The request timestamp is ahead of the service clock by more than the allowed skew.";
    NoFingers = 305, "NO_FINGERS", Caller, "send at least one finger (or, for a verify, a demographic attribute)", "The request carries no finger and no other factor.";
    TooManyFingers = 306, "TOO_MANY_FINGERS", Caller, "send at most 10 fingers", "More than ten fingers in one request.";
    DuplicateFinger = 307, "DUPLICATE_FINGER", Caller, "send each finger position at most once", "The same finger position appears twice.";
    MessageTooLarge = 308, "MESSAGE_TOO_LARGE", Caller, "send one minutiae record per finger and no extra data", "The request is larger than the service accepts.";
    InvalidIdentifier = 309, "INVALID_IDENTIFIER", Caller, "send the identifier type and a value of 1 to 64 letters, digits or '-'", "The resident identifier is missing, of unknown type or badly formed.";
    MalformedTemplate = 310, "MALFORMED_TEMPLATE", Caller, "re-extract the template with a certified extractor and resend; do not retry the same bytes", "A fingerprint template could not be decoded (truncated, inconsistent, out of range).";
    UnsupportedTemplateFormat = 311, "UNSUPPORTED_TEMPLATE_FORMAT", Caller, "send ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 finger minutiae records", "A fingerprint template is in a format or version the service does not accept.";
    TemplateTooSparse = 312, "TEMPLATE_TOO_SPARSE", Caller, "recapture the finger: the image yielded too few usable minutiae", "A template decoded but holds too little to compare (no usable minutiae).";
    InvalidDemographics = 313, "INVALID_DEMOGRAPHICS", Caller, "send a name of at most 200 characters, a date as YYYY-MM-DD and gender M, F or T", "A demographic attribute is badly formed.";
    InvalidFingerPosition = 314, "INVALID_FINGER_POSITION", Caller, "send finger positions 1 to 10 as ISO/IEC 19794-2 numbers them (0 only in probes) and matching the template", "A finger position is outside 0..=10, unknown where a known one is required, or differs from the template's.";
    RequestIdReused = 315, "REQUEST_ID_REUSED", Caller, "use a new request id for a new request", "The (centre, request id) pair was already used for a different request.";
    DuplicateTxn = 316, "DUPLICATE_TXN", Caller, "use a new transaction id for every authentication; do not resend a request", "The caller already sent this transaction id within the replay window.";
    StreamIdle = 317, "STREAM_IDLE", Caller, "send a VerifyBatch's next request within its idle limit (30 s by default), or close the stream", "A VerifyBatch stream sent nothing for longer than the idle limit and was ended; the answers sent before stand.";
    ResidentUnknown = 400, "RESIDENT_UNKNOWN", ResidentStatus, "check the identifier; the resident may need to enrol", "No resident is enrolled under the identifier.";
    ResidentDeactivated = 401, "RESIDENT_DEACTIVATED", ResidentStatus, "direct the resident to an enrolment centre", "The resident's record is deactivated.";
    ResidentAlreadyEnrolled = 402, "RESIDENT_ALREADY_ENROLLED", ResidentStatus, "use UpdateBiometrics or UpdateDemographics for an enrolled resident", "A resident is already enrolled under the identifier.";
    FingerNotEnrolled = 403, "FINGER_NOT_ENROLLED", ResidentStatus, "capture a finger the resident enrolled", "A probe finger position was not enrolled for the resident.";
    BiometricsLocked = 404, "BIOMETRICS_LOCKED", ResidentStatus, "the resident has locked biometric authentication: ask them to unlock it, or use another factor", "The resident locked biometric authentication.";
    TemporarilyLockedOut = 405, "TEMPORARILY_LOCKED_OUT", ResidentStatus, "too many failed attempts: wait before trying again or use another factor", "Too many failed biometric attempts in a short time; biometrics are refused for a while.";
    CredentialMissing = 500, "CREDENTIAL_MISSING", CredentialPolicy, "send the API key as 'authorization: Bearer <key>' (or connect with a client certificate)", "The call carries no credential.";
    CredentialUnknown = 501, "CREDENTIAL_UNKNOWN", CredentialPolicy, "check the API key; ask the operator to issue one with 'idauth keys issue'", "The credential is not one the service issued.";
    CredentialExpired = 502, "CREDENTIAL_EXPIRED", CredentialPolicy, "ask the operator for a new credential: this one has expired", "The credential is past its expiry.";
    CredentialRevoked = 503, "CREDENTIAL_REVOKED", CredentialPolicy, "stop using this credential: it was revoked; contact the operator", "The credential was revoked.";
    OperationNotAllowed = 504, "OPERATION_NOT_ALLOWED", CredentialPolicy, "use a credential whose policy allows this operation", "The caller's policy does not allow this operation.";
    FactorNotAllowed = 505, "FACTOR_NOT_ALLOWED", CredentialPolicy, "send only the factors the caller's policy allows", "The caller's policy does not allow a factor in the request.";
    QuotaExceeded = 506, "QUOTA_EXCEEDED", CredentialPolicy, "slow down: the caller's requests per second exceed its quota", "The caller exceeded its request quota.";
    PlainProbeNotAllowed = 507, "PLAIN_PROBE_NOT_ALLOWED", CredentialPolicy, "encrypt the fingers to the service key (Envelope) instead of sending them in clear", "The caller sent fingers in clear and its policy requires an envelope.";
    EnvelopeInvalid = 600, "ENVELOPE_INVALID", Crypto, "encrypt again with a fresh ephemeral key, the current service key, and this request's txn and timestamp", "The encrypted envelope does not open: tampered, bound to another request, or malformed.";
    EnvelopeKeyUnknown = 601, "ENVELOPE_KEY_UNKNOWN", Crypto, "fetch the service keys again (Auth.ServiceKeys) and encrypt to the current one", "The envelope names a service key that is unknown or past its overlap window.";
    ShardUnavailable = 700, "SHARD_UNAVAILABLE", Server, "retry after a short wait; the resident's shard is unreachable", "The shard that owns the resident could not be reached.";
    DeadlineExceeded = 701, "DEADLINE_EXCEEDED", Server, "retry; the service did not answer within the latency budget", "The request did not complete within its latency budget.";
    Internal = 702, "INTERNAL", Server, "retry later and report the reference code if it persists", "The service failed unexpectedly.";
    StorageFailure = 703, "STORAGE_FAILURE", Server, "retry later; nothing was stored", "The shard could not read or durably write its store.";
    RecordUndecryptable = 704, "RECORD_UNDECRYPTABLE", Server, "report the reference code to the operator: the master key this record was sealed with is not configured", "A stored record cannot be opened with the configured master keys.";
    Overloaded = 705, "OVERLOADED", Server, "retry after the delay in the answer's grpc-retry-pushback-ms (nothing was done); the service is over capacity", "The service refused the request at once because it could not answer it within its budget; nothing was done.";
    StorageFull = 706, "STORAGE_FULL", Server, "retry later (nothing was stored); the resident's shard is out of disk space and its operator must free or add space", "The shard's data filesystem is below its free-space reserve: enrolments and updates are refused, and verifies too once a quarter of the reserve is left; nothing was written.";
}

impl ErrorCode {
    /// The code with this number, if it is in the catalogue.
    pub fn from_number(number: u16) -> Option<ErrorCode> {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.number() == number)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.number(), self.name())
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
        for &code in ErrorCode::ALL {
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
        for &code in ErrorCode::ALL {
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
