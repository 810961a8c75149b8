//! The SDK's one error type.

use idauth_core::ErrorCode;

/// Why a call did not get an answer from the service, or was refused by it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server address is not a URI.
    #[error("server address {server:?} is not valid: {source}")]
    Address {
        /// The address as given.
        server: String,
        /// What is wrong with it.
        source: tonic::transport::Error,
    },
    /// The TLS settings were refused (a certificate or key that does not parse).
    #[error("TLS settings: {0}")]
    Tls(tonic::transport::Error),
    /// No connection could be made.
    #[error("connecting to {server}: {source}")]
    Connect {
        /// The address tried.
        server: String,
        /// The transport's reason.
        source: tonic::transport::Error,
    },
    /// The API key holds characters an HTTP header cannot carry.
    #[error("the API key holds characters a header cannot carry")]
    ApiKey,
    /// The service refused the call. A transport failure mid-call arrives here too,
    /// as the code its gRPC status maps to (SHARD_UNAVAILABLE, DEADLINE_EXCEEDED,
    /// INTERNAL).
    #[error("{} {}: {}", code.number(), code.name(), code.action_hint())]
    Refused {
        /// The service's error code.
        code: ErrorCode,
        /// The status message the service sent with it.
        message: String,
        /// How long the service asked the caller to wait before retrying
        /// (`grpc-retry-pushback-ms`, sent with OVERLOADED).
        retry_after: Option<std::time::Duration>,
    },
    /// The client refused the call itself, without sending it: the service has been
    /// refusing calls as OVERLOADED (adaptive throttling, see
    /// [`ThrottleSettings`](crate::ThrottleSettings)). Nothing was done; retry after
    /// the delay, as for OVERLOADED.
    #[error("705 OVERLOADED (refused by this client's throttle, not sent): {}", ErrorCode::Overloaded.action_hint())]
    Throttled {
        /// The retry delay the service last asked for.
        retry_after: std::time::Duration,
    },
    /// The service published no envelope key, or one that is not an X25519 key.
    #[error("the service published no usable envelope key")]
    NoEnvelopeKey,
    /// The operating system's random source failed, so nothing can be sealed.
    #[error("no system randomness: {0}")]
    Randomness(getrandom::Error),
}

impl ClientError {
    /// The service's error code, when the service refused the call.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::Throttled { .. } => Some(ErrorCode::Overloaded),
            _ => None,
        }
    }

    /// The retry delay the service asked for, when it gave one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Refused { retry_after, .. } => *retry_after,
            Self::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        let retry_after = status
            .metadata()
            .get(idauth_proto::status::RETRY_PUSHBACK)
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .map(std::time::Duration::from_millis);
        Self::Refused {
            code: idauth_proto::status::from_status(&status),
            message: status.message().to_owned(),
            retry_after,
        }
    }
}
