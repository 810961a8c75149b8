//! What a gateway asks of a shard, and what the shard answers, independent of the wire.

use crate::error_code::ErrorCode;
use crate::resident::{
    DemographicQuery, Demographics, FactorResult, FingerSample, RecordKeys, StorageKey,
};

/// Who sent a write, for idempotency and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteContext {
    /// The authenticated caller.
    pub caller_id: String,
    /// The resident's token for that caller (the audit trail names residents by it).
    pub token: String,
    /// The enrolment centre.
    pub centre_id: String,
    /// The centre's request id; a resend with the same id replays the first outcome.
    pub request_id: String,
    /// Request time, Unix milliseconds.
    pub timestamp_ms: i64,
}

/// A write to one resident's record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum WriteCommand {
    /// A new resident.
    Enrol {
        /// Fingers, validated by the gateway.
        fingers: Vec<FingerSample>,
        /// Demographics, validated by the gateway.
        demographics: Demographics,
    },
    /// New fingers for an enrolled resident.
    UpdateBiometrics {
        /// Fingers, validated by the gateway.
        fingers: Vec<FingerSample>,
    },
    /// New demographics for an enrolled resident.
    UpdateDemographics {
        /// Demographics, validated by the gateway.
        demographics: Demographics,
    },
    /// Retire the record.
    Deactivate,
    /// Lock biometric authentication.
    LockBiometrics,
    /// Unlock biometric authentication until `until_ms` (Unix milliseconds), or for
    /// good when `None`.
    UnlockBiometrics {
        /// When the unlock lapses and the lock holds again.
        until_ms: Option<i64>,
    },
}

impl WriteCommand {
    /// The operation's name for logs and the audit trail.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Enrol { .. } => "enrol",
            Self::UpdateBiometrics { .. } => "update_biometrics",
            Self::UpdateDemographics { .. } => "update_demographics",
            Self::Deactivate => "deactivate",
            Self::LockBiometrics => "lock_biometrics",
            Self::UnlockBiometrics { .. } => "unlock_biometrics",
        }
    }
}

/// A write addressed to the owning shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// Idempotency and audit context.
    pub context: WriteContext,
    /// The resident's storage key.
    pub key: StorageKey,
    /// The keys that seal and open the resident's record.
    pub keys: RecordKeys,
    /// What to do.
    pub command: WriteCommand,
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Audit reference code.
    pub reference: String,
    /// Record version after the write.
    pub version: u64,
    /// Whether this replays an earlier identical request.
    pub replayed: bool,
}

/// A verify addressed to the owning shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The calling agency.
    pub caller_id: String,
    /// The resident's token for that agency (for the audit trail).
    pub token: String,
    /// The agency's transaction id; a repeat within the replay window is refused.
    pub txn: String,
    /// Request time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The resident's storage key.
    pub key: StorageKey,
    /// The keys that open the resident's record.
    pub keys: RecordKeys,
    /// Probe fingers, validated by the gateway.
    pub fingers: Vec<FingerSample>,
    /// Demographic attributes to check.
    pub demographics: DemographicQuery,
}

/// A shard's verify decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// Whether every used factor matched.
    pub matched: bool,
    /// Audit reference code.
    pub reference: String,
    /// The factors used and whether each matched.
    pub factors: Vec<FactorResult>,
    /// Why it did not match (mismatch or resident status); `None` on a match.
    pub error: Option<ErrorCode>,
}

/// A shard's state for operators.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardReport {
    /// The shard id.
    pub shard_id: String,
    /// Records stored.
    pub residents: u64,
    /// Bytes on disk.
    pub store_bytes: u64,
    /// The similarity kernel in use.
    pub kernel: String,
    /// The decision threshold in use.
    pub threshold: f64,
    /// Templates held in the hot cache.
    pub cache_entries: u64,
}

/// A page of one resident's audit history, asked of the owning shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The authenticated caller (recorded: reading a history is itself audited).
    pub caller_id: String,
    /// The resident's token for that caller.
    pub token: String,
    /// The resident's storage key.
    pub key: StorageKey,
    /// Only entries older than this audit sequence number (the previous page's
    /// cursor); `None` for the newest page.
    pub before: Option<u64>,
    /// At most this many entries.
    pub limit: u32,
}

/// One operation in a resident's history, as the audit log holds it: the resident
/// appears only as the acting caller's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Position in the shard's audit log.
    pub seq: u64,
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// The caller that acted.
    pub caller_id: String,
    /// The resident's token for that caller.
    pub token: String,
    /// What was done (enrol, verify, lock_biometrics, ...).
    pub operation: String,
    /// Factors used and whether each matched (verifies).
    pub factors: Vec<FactorResult>,
    /// The decision of a verify.
    pub decision: Option<bool>,
    /// The error, if the operation failed or did not match.
    pub error: Option<ErrorCode>,
    /// The reference code the caller was given.
    pub reference: String,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPage {
    /// The entries, newest first.
    pub entries: Vec<HistoryEntry>,
    /// The cursor for the next (older) page; `None` when this page is the last.
    pub next_before: Option<u64>,
}
