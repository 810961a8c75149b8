//! Why a value could not be built.

use crate::error_code::ErrorCode;

/// A value refused by its constructor: the catalogue code the caller sees, and which
/// rule it broke, in words that never repeat the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The value breaks a rule of its type.
    #[error("{reason}")]
    Invalid {
        /// The catalogue code the caller sees.
        code: ErrorCode,
        /// The rule, in words.
        reason: &'static str,
    },
}

impl CoreError {
    /// The catalogue code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. } => *code,
        }
    }

    pub(crate) fn invalid(code: ErrorCode, reason: &'static str) -> Self {
        Self::Invalid { code, reason }
    }
}
