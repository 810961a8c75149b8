//! Error codes on the wire: the one exhaustive mapping from [`ErrorCode`] to a gRPC
//! status code, and the `idauth.v1.Error` detail every failed call carries so that
//! clients read the stable code rather than parse a message.

use idauth_core::ErrorCode;
use prost::Message;
use tonic::{Code, Status};

use crate::v1;

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
        ErrorCode::ShardUnavailable | ErrorCode::StorageFailure => Code::Unavailable,
        ErrorCode::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorCode::Internal | ErrorCode::RecordUndecryptable => Code::Internal,
        ErrorCode::CredentialMissing
        | ErrorCode::CredentialUnknown
        | ErrorCode::CredentialExpired
        | ErrorCode::CredentialRevoked => Code::Unauthenticated,
        ErrorCode::OperationNotAllowed
        | ErrorCode::FactorNotAllowed
        | ErrorCode::PlainProbeNotAllowed => Code::PermissionDenied,
        ErrorCode::EnvelopeInvalid | ErrorCode::EnvelopeKeyUnknown => Code::InvalidArgument,
        ErrorCode::QuotaExceeded => Code::ResourceExhausted,
    }
}

/// The wire form of an error code.
pub fn error_message(code: ErrorCode) -> v1::Error {
    v1::Error {
        code: u32::from(code.number()),
        name: code.name().to_owned(),
        family: code.family().name().to_owned(),
        action_hint: code.action_hint().to_owned(),
    }
}

/// The code an `idauth.v1.Error` names, if it is in this build's catalogue.
pub fn code_of(error: &v1::Error) -> Option<ErrorCode> {
    u16::try_from(error.code)
        .ok()
        .and_then(ErrorCode::from_number)
}

/// A failed call: the mapped status code, a fixed message (the catalogue name, never
/// request data) and the error as a binary detail.
pub fn to_status(code: ErrorCode) -> Status {
    Status::with_details(
        grpc_code(code),
        format!("{} {}: {}", code.number(), code.name(), code.action_hint()),
        error_message(code).encode_to_vec().into(),
    )
}

/// The error code a status carries; statuses without an idauth detail (transport
/// failures, tonic's own limits) are classified by their gRPC code.
pub fn from_status(status: &Status) -> ErrorCode {
    if let Some(code) = v1::Error::decode(status.details())
        .ok()
        .as_ref()
        .and_then(code_of)
    {
        return code;
    }
    match status.code() {
        Code::DeadlineExceeded | Code::Cancelled => ErrorCode::DeadlineExceeded,
        Code::Unavailable => ErrorCode::ShardUnavailable,
        Code::ResourceExhausted => ErrorCode::MessageTooLarge,
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
        }
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
            from_status(&Status::resource_exhausted("too big")),
            ErrorCode::MessageTooLarge
        );
    }
}
