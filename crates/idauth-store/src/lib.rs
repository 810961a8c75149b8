//! One shard's durable state on sled.
//!
//! Resident records live under their storage key (a keyed hash of the identifier; the
//! identifier itself is never stored). A write is applied in one sled transaction
//! together with its idempotency entry, then made durable by [`GroupCommit`]: the
//! caller is acknowledged only after an fsync that began after its write, and every
//! write waiting at that moment shares the same fsync.

mod audit;
mod cache;
mod commit;
mod error;
mod record;
mod seal;
mod store;
mod txns;

pub use audit::{AuditEntry, AuditRecord, ChainBreak, verify_chain};
pub use cache::HotCache;
pub use commit::{Durability, GroupCommit};
pub use error::{Result, StoreError};
pub use record::{EnrolledFinger, ResidentRecord, ResidentStatus};
pub use store::{Applied, Change, Store, StoreOptions};
