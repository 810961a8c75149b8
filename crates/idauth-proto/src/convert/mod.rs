//! Every conversion between wire messages and domain types, in one place.
//!
//! Messages are destructured without `..`, so a field added to a proto fails to compile
//! here until it is handled. Inbound conversions check shape only (types, enums,
//! required fields); limits and policy belong to the gateway's validation.

use idauth_core::call::{
    AuthHistoryCall, EnrolmentAction, EnrolmentCall, EnrolmentContext, VerifyCall,
};
use idauth_core::command::{
    VerifyOutcome, VerifyRequest, WriteCommand, WriteContext, WriteOutcome, WriteRequest,
};
use idauth_core::{
    CoreError, ErrorCode, FingerUse, IdentifierType, RecordKey, RecordKeys, ResidentId, StorageKey,
    Txn,
};
use prost_types::Timestamp;

use crate::{internal, v1};

/// A message that cannot become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A field is missing or holds a value the domain does not have.
    #[error("{reason}")]
    Invalid {
        /// The catalogue code the caller sees.
        code: ErrorCode,
        /// Which field, in words (never the field's value).
        reason: &'static str,
    },
}

impl ConvertError {
    /// The catalogue code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { code, .. } => *code,
        }
    }
}

fn invalid(code: ErrorCode, reason: &'static str) -> ConvertError {
    ConvertError::Invalid { code, reason }
}

fn core_invalid(error: CoreError) -> ConvertError {
    match error {
        CoreError::Invalid { code, reason } => invalid(code, reason),
    }
}

type Result<T> = std::result::Result<T, ConvertError>;

mod history;
mod metrics;
mod public;
mod shard;
mod shared;
#[cfg(test)]
mod tests;
pub mod values;

pub use history::*;
pub use metrics::*;
pub use public::*;
pub use shard::*;
pub use shared::*;
pub use values::public_values::*;
pub use values::{public_values, shard_values};
