//! Domain types shared by every idauth crate, and the stable error-code catalogue.
//!
//! This crate does no I/O. Everything here is plain data that the matcher, the store,
//! the shards and the gateway agree on, so that a value means the same thing at every hop.

pub mod attributes;
pub mod call;
pub mod checked;
pub mod command;
mod error;
pub mod error_code;
pub mod finger;
pub mod metrics;
pub mod minutiae;
pub mod resident;
pub mod template_format;

pub use attributes::{DateOfBirth, Gender};
pub use checked::{CheckedFinger, CheckedFingers, FingerUse, Txn};
pub use error::CoreError;
pub use error_code::{ErrorCode, ErrorFamily};
pub use finger::{FingerPosition, ImpressionType, MinutiaKind};
pub use resident::{
    Address, DemographicQuery, Demographics, Factor, FactorResult, FingerSample, IdentifierType,
    NameMatch, RecordKey, RecordKeys, ResidentId, StorageKey,
};
pub use template_format::TemplateFormat;
