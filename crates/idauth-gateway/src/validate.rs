//! The rules a request must meet before it is routed. Each rule refuses with its own
//! catalogue code, so a caller can tell what to fix; nothing is stored for a refused
//! request.

use std::time::Duration;

use idauth_core::call::{EnrolmentAction, EnrolmentContext};
use idauth_core::checked::{check_finger_set, printable};
use idauth_core::command::WriteCommand;
use idauth_core::{
    CheckedFingers, DemographicQuery, Demographics, ErrorCode, FingerSample, FingerUse, Txn,
};
use idauth_match::sample::check_finger;

use crate::error::GatewayError;

/// Limits on requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded request accepted, in bytes.
    pub max_request_bytes: usize,
    /// How far in the past a request timestamp may be.
    pub timestamp_past: Duration,
    /// How far in the future a request timestamp may be (clock skew).
    pub timestamp_future: Duration,
    /// How long a VerifyBatch stream may send nothing before it is ended (STREAM_IDLE).
    pub batch_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Ten fingers of 200 minutiae with extended data stay under 20 KB.
            max_request_bytes: 64 * 1024,
            timestamp_past: Duration::from_secs(24 * 3600),
            timestamp_future: Duration::from_secs(5 * 60),
            batch_idle: Duration::from_secs(30),
        }
    }
}

pub use idauth_core::checked::{MAX_FINGERS, MAX_TXN_LEN};

/// Longest centre or request id.
pub const MAX_CONTEXT_ID_LEN: usize = 64;
/// Longest demographic field, in characters.
pub const MAX_TEXT_FIELD: usize = 200;

fn refuse(code: ErrorCode, reason: &'static str) -> GatewayError {
    GatewayError::Invalid { code, reason }
}

/// The encoded size of the request.
pub fn check_size(encoded_len: usize, limits: &Limits) -> Result<(), GatewayError> {
    if encoded_len > limits.max_request_bytes {
        return Err(refuse(
            ErrorCode::MessageTooLarge,
            "request larger than the limit",
        ));
    }
    Ok(())
}

/// A transaction id: 1 to 50 printable ASCII characters.
pub fn check_txn(txn: String) -> Result<Txn, GatewayError> {
    Ok(Txn::new(txn)?)
}

/// An enrolment centre id and request id: 1 to 64 printable ASCII characters each.
pub fn check_context_ids(centre_id: &str, request_id: &str) -> Result<(), GatewayError> {
    for id in [centre_id, request_id] {
        if id.is_empty() || id.len() > MAX_CONTEXT_ID_LEN || !printable(id) {
            return Err(refuse(
                ErrorCode::BadRequest,
                "centre id and request id must be 1 to 64 printable ASCII characters",
            ));
        }
    }
    Ok(())
}

/// The resident's consent.
pub fn check_consent(consent: bool) -> Result<(), GatewayError> {
    if !consent {
        return Err(refuse(ErrorCode::ConsentMissing, "consent flag not set"));
    }
    Ok(())
}

/// The request time against the service clock.
pub fn check_timestamp(
    timestamp_ms: Option<i64>,
    now_ms: i64,
    limits: &Limits,
) -> Result<(), GatewayError> {
    let Some(timestamp_ms) = timestamp_ms else {
        return Err(refuse(ErrorCode::TimestampStale, "timestamp missing"));
    };
    let past = limits.timestamp_past.as_millis() as i64;
    let future = limits.timestamp_future.as_millis() as i64;
    if timestamp_ms < now_ms.saturating_sub(past) {
        return Err(refuse(ErrorCode::TimestampStale, "timestamp too old"));
    }
    if timestamp_ms > now_ms.saturating_add(future) {
        return Err(refuse(
            ErrorCode::TimestampFuture,
            "timestamp in the future",
        ));
    }
    Ok(())
}

/// Fingers: count, distinct positions and known positions where `usage` requires
/// (all before any record is decoded), then each record decoded as declared, once:
/// the checked fingers carry their minutiae to the shard.
pub fn check_fingers(
    fingers: Vec<FingerSample>,
    usage: FingerUse,
) -> Result<CheckedFingers, GatewayError> {
    check_finger_set(fingers.iter().map(|f| f.position), usage)?;
    let checked = fingers
        .into_iter()
        .map(check_finger)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CheckedFingers::new(checked, usage)?)
}

fn check_text(text: &str) -> Result<(), GatewayError> {
    if text.chars().count() > MAX_TEXT_FIELD || text.chars().any(char::is_control) {
        return Err(refuse(
            ErrorCode::InvalidDemographics,
            "demographic field too long or holds control characters",
        ));
    }
    Ok(())
}

/// Enrolled demographics: a name is required, other fields optional but well formed.
pub fn check_demographics(demographics: &Demographics) -> Result<(), GatewayError> {
    if demographics.name.trim().is_empty() {
        return Err(refuse(ErrorCode::InvalidDemographics, "name missing"));
    }
    check_text(&demographics.name)?;
    demographics
        .address
        .fields()
        .iter()
        .try_for_each(|f| check_text(f))
}

/// A demographic query: every set field well formed.
pub fn check_query(query: &DemographicQuery) -> Result<(), GatewayError> {
    check_text(&query.name)?;
    query
        .address
        .fields()
        .iter()
        .try_for_each(|f| check_text(f))
}

/// Every rule of an enrolment-side write, before it is routed: the command the owning
/// shard applies. Pure (the clock is `now_ms`), so the fuzz targets run it too.
pub fn check_write(
    context: &EnrolmentContext,
    action: EnrolmentAction,
    now_ms: i64,
    limits: &Limits,
) -> Result<WriteCommand, GatewayError> {
    check_context_ids(&context.centre_id, &context.request_id)?;
    check_consent(context.consent)?;
    check_timestamp(context.timestamp_ms, now_ms, limits)?;
    Ok(match action {
        EnrolmentAction::Enrol {
            fingers,
            demographics,
        } => {
            let fingers = check_fingers(fingers, FingerUse::Enrolment)?;
            check_demographics(&demographics)?;
            WriteCommand::Enrol {
                fingers,
                demographics,
            }
        }
        EnrolmentAction::UpdateBiometrics { fingers } => WriteCommand::UpdateBiometrics {
            fingers: check_fingers(fingers, FingerUse::Enrolment)?,
        },
        EnrolmentAction::UpdateDemographics { demographics } => {
            check_demographics(&demographics)?;
            WriteCommand::UpdateDemographics { demographics }
        }
        EnrolmentAction::Deactivate => WriteCommand::Deactivate,
        EnrolmentAction::LockBiometrics => WriteCommand::LockBiometrics,
        EnrolmentAction::UnlockBiometrics { until_ms } => {
            WriteCommand::UnlockBiometrics { until_ms }
        }
    })
}

/// Every rule of a verify before it is routed: its checked txn and probe. Pure, like
/// [`check_write`].
pub fn check_verify(
    txn: String,
    timestamp_ms: Option<i64>,
    consent: bool,
    fingers: Vec<FingerSample>,
    demographics: &DemographicQuery,
    now_ms: i64,
    limits: &Limits,
) -> Result<(Txn, CheckedFingers), GatewayError> {
    let txn = check_txn(txn)?;
    check_consent(consent)?;
    check_timestamp(timestamp_ms, now_ms, limits)?;
    let fingers = if fingers.is_empty() {
        CheckedFingers::no_probe()
    } else {
        check_fingers(fingers, FingerUse::Probe)?
    };
    check_query(demographics)?;
    if fingers.is_empty() && demographics.is_empty() {
        return Err(refuse(
            ErrorCode::NoFingers,
            "no finger and no demographic attribute to verify",
        ));
    }
    Ok((txn, fingers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_window_are_refused_with_their_own_codes() {
        let limits = Limits::default();
        let now = 1_800_000_000_000;
        assert!(check_timestamp(Some(now), now, &limits).is_ok());
        let stale = check_timestamp(Some(now - 25 * 3600 * 1000), now, &limits).unwrap_err();
        assert_eq!(stale.code(), ErrorCode::TimestampStale);
        let future = check_timestamp(Some(now + 6 * 60 * 1000), now, &limits).unwrap_err();
        assert_eq!(future.code(), ErrorCode::TimestampFuture);
        let missing = check_timestamp(None, now, &limits).unwrap_err();
        assert_eq!(missing.code(), ErrorCode::TimestampStale);
    }

    #[test]
    fn txn_ids_are_bounded_and_printable() {
        assert!(check_txn("t-1".into()).is_ok());
        assert!(check_txn("x".repeat(50)).is_ok());
        for bad in [String::new(), "x".repeat(51), "tab\there".into()] {
            assert_eq!(check_txn(bad).unwrap_err().code(), ErrorCode::InvalidTxn);
        }
    }
}
