//! What a gateway asks of a shard, and what the shard answers, independent of the wire.

use crate::checked::{CheckedFingers, Txn};
use crate::error_code::ErrorCode;
use crate::resident::{DemographicQuery, Demographics, FactorResult, RecordKeys, StorageKey};

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

/// A write to one resident's record. `F` is how its fingers are held: checked and
/// decoded ([`CheckedFingers`], what a shard is given), or as sent
/// ([`crate::call::EnrolmentAction`], what the gateway receives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCommand<F = CheckedFingers> {
    /// A new resident.
    Enrol {
        /// The fingers.
        fingers: F,
        /// Demographics, validated by the gateway.
        demographics: Demographics,
    },
    /// New fingers for an enrolled resident.
    UpdateBiometrics {
        /// The fingers.
        fingers: F,
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

impl<F> WriteCommand<F> {
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyRequest {
    /// The calling agency.
    pub caller_id: String,
    /// The resident's token for that agency (for the audit trail).
    pub token: String,
    /// The agency's transaction id; a repeat within the replay window is refused.
    pub txn: Txn,
    /// Request time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The resident's storage key.
    pub key: StorageKey,
    /// The keys that open the resident's record.
    pub keys: RecordKeys,
    /// Probe fingers, checked and decoded by the gateway.
    pub fingers: CheckedFingers,
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
    /// Bytes on disk (an even share of the storage engine when shards share one).
    pub store_bytes: u64,
    /// The similarity kernel in use.
    pub kernel: String,
    /// The decision threshold in use.
    pub threshold: f64,
    /// Templates held in the hot cache.
    pub cache_entries: u64,
    /// Resident set size of the process serving the shard, bytes.
    pub rss_bytes: u64,
    /// Operating figures.
    pub metrics: ShardMetricsSnapshot,
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
    /// Only entries under this token (one caller's dealings with the resident);
    /// `None` for all.
    pub only_token: Option<String>,
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

/// Counts of a latency histogram with fixed bucket bounds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyBuckets {
    /// Upper bound of each bucket but the last, microseconds.
    pub bounds_us: Vec<u64>,
    /// Observations per bucket; one more than `bounds_us` (the last is unbounded).
    pub counts: Vec<u64>,
    /// Sum of all observations, microseconds.
    pub sum_us: u64,
}

impl LatencyBuckets {
    /// Observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bound of the bucket holding quantile `q`: an upper estimate (the last,
    /// unbounded bucket reports the largest bound).
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return self
                    .bounds_us
                    .get(i)
                    .or(self.bounds_us.last())
                    .copied()
                    .unwrap_or(0);
            }
        }
        self.bounds_us.last().copied().unwrap_or(0)
    }
}

/// Time spent in one stage of a verify, summed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageTime {
    /// The stage (queue, parse, fetch, match, audit; decrypt at the gateway).
    pub stage: String,
    /// Total time, nanoseconds.
    pub total_ns: u64,
    /// How many times it ran.
    pub count: u64,
}

/// Requests of one operation that ended with one code (0 = success).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutcomeCount {
    /// The operation (enrol, verify, ...).
    pub operation: String,
    /// The error code number, 0 for success.
    pub code: u16,
    /// How many.
    pub count: u64,
}

/// A shard's operating figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardMetricsSnapshot {
    /// Whole verifies at the shard.
    pub verify_latency: LatencyBuckets,
    /// Time per stage.
    pub stages: Vec<StageTime>,
    /// Requests by operation and outcome.
    pub outcomes: Vec<OutcomeCount>,
    /// Requests waiting for a CPU worker now.
    pub queue_depth: u64,
    /// Enrolled-template lookups served from the cache.
    pub cache_hits: u64,
    /// Enrolled-template lookups that had to build the template.
    pub cache_misses: u64,
}
