//! Every conversion between wire messages and domain types, in one place.
//!
//! Messages are destructured without `..`, so a field added to a proto fails to compile
//! here until it is handled.
//!
//! One naming rule: a single value (a finger, demographics, a factor, an error, stage
//! times, a shard's figures) converts through `From` (always succeeds) or `TryFrom`
//! (the message may not make a domain value), in both directions and for both APIs
//! ([`values`]). What needs more than one message to build (a request with its
//! envelope taken out, an answer with its txn, token and clock, a shard's state with
//! its id) is a function named for what it makes: `verify_call`, `enrol_call`, ...
//! from the wire, `<what>_to_wire` or the answer's own name (`verify_response`) to it.
//! Two values are functions by the same rule: the resident identifier
//! (`resident_id` takes the optional field, whose absence is its own error) and
//! timestamps (neither `prost_types::Timestamp` nor milliseconds is ours to implement
//! `From` for). Inbound conversions check shape only (types, enums,
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
