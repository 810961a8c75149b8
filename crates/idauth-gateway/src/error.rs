//! The gateway's errors.

use idauth_core::ErrorCode;
use idauth_match::MatchError;

/// What can make the gateway refuse or fail a request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request breaks a rule of the API.
    #[error("request refused: {reason}")]
    Invalid {
        /// The catalogue code.
        code: ErrorCode,
        /// Which rule, in words (never request data).
        reason: &'static str,
    },
    /// A template in the request cannot be used.
    #[error("template refused: {0}")]
    Template(#[from] MatchError),
    /// The shard refused or failed the request.
    #[error("shard {shard} answered {code}")]
    Shard {
        /// Which shard.
        shard: String,
        /// What it said.
        code: ErrorCode,
    },
    /// The gateway already holds as many requests as it can answer in time (or this
    /// caller its fair share of them): refused before any work.
    #[error("over capacity: {in_flight} requests in flight")]
    Overloaded {
        /// Requests in flight when this one was refused.
        in_flight: usize,
    },
    /// The shard did not answer within the latency budget.
    #[error("shard {shard} did not answer within the budget")]
    Deadline {
        /// Which shard.
        shard: String,
    },
}

impl GatewayError {
    /// The catalogue code a caller sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. } => *code,
            Self::Template(error) => error.code(),
            Self::Shard { code, .. } => *code,
            Self::Deadline { .. } => ErrorCode::DeadlineExceeded,
            Self::Overloaded { .. } => ErrorCode::Overloaded,
        }
    }
}

impl From<idauth_core::CoreError> for GatewayError {
    fn from(error: idauth_core::CoreError) -> Self {
        match error {
            idauth_core::CoreError::Invalid { code, reason } => Self::Invalid { code, reason },
        }
    }
}

impl From<idauth_proto::convert::ConvertError> for GatewayError {
    fn from(error: idauth_proto::convert::ConvertError) -> Self {
        match error {
            idauth_proto::convert::ConvertError::Invalid { code, reason } => {
                Self::Invalid { code, reason }
            }
        }
    }
}
