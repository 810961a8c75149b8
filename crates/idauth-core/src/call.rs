//! The public API's calls as the gateway receives them: converted from the wire (types,
//! enums and required fields checked) but not yet validated. The gateway turns each
//! into a [`crate::command`] for the owning shard, whose values are checked types.

use crate::command::WriteCommand;
use crate::resident::{DemographicQuery, FingerSample, ResidentId};

/// The common part of an enrolment-side call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentContext {
    /// The enrolment centre.
    pub centre_id: String,
    /// The centre's request id.
    pub request_id: String,
    /// Request time, Unix milliseconds (`None` when absent).
    pub timestamp_ms: Option<i64>,
    /// Whether the resident consented.
    pub consent: bool,
}

/// What an enrolment-side call asks, with its fingers as sent.
pub type EnrolmentAction = WriteCommand<Vec<FingerSample>>;

/// An enrolment-side call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCall {
    /// Idempotency context.
    pub context: EnrolmentContext,
    /// The resident.
    pub resident: ResidentId,
    /// The operation.
    pub action: EnrolmentAction,
}

/// A `Verify` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyCall {
    /// The agency's transaction id as sent.
    pub txn: String,
    /// Request time, Unix milliseconds (`None` when absent).
    pub timestamp_ms: Option<i64>,
    /// Whether the resident consented.
    pub consent: bool,
    /// The claimed resident.
    pub resident: ResidentId,
    /// Probe fingers as sent (opened from their envelope).
    pub fingers: Vec<FingerSample>,
    /// Demographic attributes to check.
    pub demographics: DemographicQuery,
    /// The capture device.
    pub device_id: String,
}

/// An `AuthHistory` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHistoryCall {
    /// The resident.
    pub resident: ResidentId,
    /// Entries per page as asked (0 = the default; the gateway checks the range).
    pub page_size: u32,
    /// The cursor from the previous page; `None` for the newest page.
    pub before: Option<u64>,
    /// Only entries under this token.
    pub only_token: Option<String>,
}
