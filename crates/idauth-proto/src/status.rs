//! Error codes on the wire: the one exhaustive mapping from [`ErrorCode`] to a gRPC
//! status code, and the `idauth.v1.Error` detail every failed call carries so that
//! clients read the stable code rather than parse a message.

use idauth_core::ErrorCode;
use prost::Message;
use tonic::{Code, Status};

use crate::{internal, v1};

/// The gRPC status code for an error code. Exhaustive on purpose: a new catalogue
/// entry does not compile until it is placed here.
pub fn grpc_code(code: ErrorCode) -> Code {
    match code {
        ErrorCode::BiometricMismatch | ErrorCode::DemographicMismatch => Code::PermissionDenied,
        ErrorCode::BadRequest
        | ErrorCode::InvalidTxn
        | ErrorCode::ConsentMissing
        | ErrorCode::TimestampStale
        | ErrorCode::TimestampFuture
        | ErrorCode::NoFingers
        | ErrorCode::TooManyFingers
        | ErrorCode::DuplicateFinger
        | ErrorCode::InvalidIdentifier
        | ErrorCode::MalformedTemplate
        | ErrorCode::UnsupportedTemplateFormat
        | ErrorCode::TemplateTooSparse
        | ErrorCode::InvalidDemographics
        | ErrorCode::InvalidFingerPosition => Code::InvalidArgument,
        ErrorCode::MessageTooLarge => Code::ResourceExhausted,
        ErrorCode::RequestIdReused
        | ErrorCode::ResidentAlreadyEnrolled
        | ErrorCode::DuplicateTxn => Code::AlreadyExists,
        ErrorCode::ResidentUnknown => Code::NotFound,
        ErrorCode::ResidentDeactivated
        | ErrorCode::FingerNotEnrolled
        | ErrorCode::BiometricsLocked
        | ErrorCode::TemporarilyLockedOut => Code::FailedPrecondition,
        ErrorCode::ShardUnavailable | ErrorCode::StorageFailure | ErrorCode::StorageFull => {
            Code::Unavailable
        }
        ErrorCode::DeadlineExceeded | ErrorCode::StreamIdle => Code::DeadlineExceeded,
        ErrorCode::Internal | ErrorCode::RecordUndecryptable => Code::Internal,
        ErrorCode::CredentialMissing
        | ErrorCode::CredentialUnknown
        | ErrorCode::CredentialExpired
        | ErrorCode::CredentialRevoked => Code::Unauthenticated,
        ErrorCode::OperationNotAllowed
        | ErrorCode::FactorNotAllowed
        | ErrorCode::PlainProbeNotAllowed => Code::PermissionDenied,
        ErrorCode::EnvelopeInvalid | ErrorCode::EnvelopeKeyUnknown => Code::InvalidArgument,
        ErrorCode::QuotaExceeded | ErrorCode::Overloaded => Code::ResourceExhausted,
    }
}

/// The `idauth.v1.Error` detail of a code.
pub fn error_message(code: ErrorCode) -> v1::Error {
    code.into()
}

/// The code an `idauth.v1.Error` names, if it is in this build's catalogue.
pub fn code_of(error: &v1::Error) -> Option<ErrorCode> {
    ErrorCode::try_from(error).ok()
}

/// A failed public call: the mapped status code, a fixed message (the catalogue name,
/// never request data) and the error as an `idauth.v1.Error` detail.
pub fn to_status(code: ErrorCode) -> Status {
    with_detail(code, error_message(code).encode_to_vec())
}

/// A failed shard-API call, like [`to_status`] with the shard API's own `Error`.
pub fn to_shard_status(code: ErrorCode) -> Status {
    with_detail(code, internal::Error::from(code).encode_to_vec())
}

/// How long a caller refused with OVERLOADED is told to wait before retrying
/// (`grpc-retry-pushback-ms`, which gRPC clients with retry policies honour).
pub const OVERLOAD_PUSHBACK_MS: u64 = 100;

/// The metadata key of the retry hint.
pub const RETRY_PUSHBACK: &str = "grpc-retry-pushback-ms";

fn with_detail(code: ErrorCode, detail: Vec<u8>) -> Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    if code == ErrorCode::Overloaded {
        metadata.insert(RETRY_PUSHBACK, OVERLOAD_PUSHBACK_MS.into());
    }
    Status::with_details_and_metadata(
        grpc_code(code),
        format!("{} {}: {}", code.number(), code.name(), code.action_hint()),
        detail.into(),
        metadata,
    )
}

/// The error code a public call's status carries; statuses without an idauth detail
/// (transport failures, tonic's own limits) are classified by their gRPC code.
pub fn from_status(status: &Status) -> ErrorCode {
    let detail = v1::Error::decode(status.details()).ok();
    classify(status, detail.as_ref().and_then(code_of))
}

/// The error code a shard-API call's status carries. Every answer a shard's handlers
/// give carries an `idauth.internal.v1.Error`; a status without one was made by the
/// transport (the shard process died mid-call, reset the stream, was never reached),
/// so the caller is told SHARD_UNAVAILABLE, which says retry, whatever gRPC code the
/// broken connection surfaced as (UNKNOWN, INTERNAL, CANCELLED...). Only the
/// transport's own deadline stays DEADLINE_EXCEEDED.
pub fn from_shard_status(status: &Status) -> ErrorCode {
    let detail = internal::Error::decode(status.details()).ok();
    if let Some(code) = detail.and_then(|e| ErrorCode::try_from(&e).ok()) {
        return code;
    }
    match status.code() {
        Code::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        _ => ErrorCode::ShardUnavailable,
    }
}

fn classify(status: &Status, detail: Option<ErrorCode>) -> ErrorCode {
    if let Some(code) = detail {
        return code;
    }
    match status.code() {
        Code::DeadlineExceeded | Code::Cancelled => ErrorCode::DeadlineExceeded,
        Code::Unavailable => ErrorCode::ShardUnavailable,
        // A bare RESOURCE_EXHAUSTED comes from a transport limit, not from a message
        // this service judged too large (that one carries its detail).
        Code::ResourceExhausted => ErrorCode::Overloaded,
        Code::InvalidArgument => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_a_status_round_trip() {
        for &code in ErrorCode::ALL {
            let status = to_status(code);
            assert_eq!(status.code(), grpc_code(code));
            assert_eq!(from_status(&status), code);
            let status = to_shard_status(code);
            assert_eq!(status.code(), grpc_code(code));
            assert_eq!(from_shard_status(&status), code);
        }
    }

    #[test]
    fn a_shard_call_broken_by_the_transport_is_unavailable() {
        for status in [
            Status::unknown("transport error"),
            Status::internal("h2 protocol error: error reading a body from connection"),
            Status::cancelled("operation was canceled"),
            Status::unavailable("connection refused"),
        ] {
            assert_eq!(
                from_shard_status(&status),
                ErrorCode::ShardUnavailable,
                "{status:?}"
            );
        }
        assert_eq!(
            from_shard_status(&Status::deadline_exceeded("timeout expired")),
            ErrorCode::DeadlineExceeded
        );
        assert_eq!(
            from_shard_status(&to_shard_status(ErrorCode::Internal)),
            ErrorCode::Internal
        );
    }

    #[test]
    fn bare_statuses_are_classified_by_grpc_code() {
        assert_eq!(
            from_status(&Status::unavailable("connection refused")),
            ErrorCode::ShardUnavailable
        );
        assert_eq!(
            from_status(&Status::deadline_exceeded("late")),
            ErrorCode::DeadlineExceeded
        );
        assert_eq!(
            from_status(&Status::resource_exhausted("too many streams")),
            ErrorCode::Overloaded
        );
    }

    #[test]
    fn an_overload_refusal_carries_the_retry_hint() {
        let status = to_status(ErrorCode::Overloaded);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status
                .metadata()
                .get(RETRY_PUSHBACK)
                .unwrap()
                .to_str()
                .unwrap(),
            OVERLOAD_PUSHBACK_MS.to_string()
        );
        assert!(
            to_status(ErrorCode::QuotaExceeded)
                .metadata()
                .get(RETRY_PUSHBACK)
                .is_none()
        );
    }
}
