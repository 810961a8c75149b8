//! One shard's durable state, behind one trait ([`ShardStore`]): sled on one machine
//! ([`Store`]), Ceph RADOS at scale (the `rados` feature).
//!
//! Resident records live under their storage key (a keyed hash of the identifier; the
//! identifier itself is never stored). A write is applied in one sled transaction
//! together with its idempotency entry, then made durable by the engine's group
//! commit: the caller is acknowledged only after an fsync that began after its write,
//! and every write waiting at that moment shares the same fsync. Several stores can
//! share one [`Engine`] (one sled database, one group commit), each under its own tree
//! prefix.

mod audit;
mod audit_convert;
mod audit_log;
mod cache;
mod commit;
mod engine;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod journal;
#[cfg(feature = "rados")]
pub mod rados;
mod record;
#[cfg(test)]
mod round_trip_tests;
mod seal;
mod shard_store;
mod sled_files;
mod space;
mod store;
mod txn_table;
mod txns;

pub use audit::{AuditEntry, AuditRecord, ChainBreak, verify_chain};
pub use audit_log::{audit_entries, replay_entries, rewrite_audit_entry, upgrade_store};
pub use cache::HotCache;
pub use commit::Durability;
pub use engine::{DEFAULT_PAGE_CACHE_BYTES, DEFAULT_RESERVE_BYTES, Engine, EngineOptions};
pub use error::{Result, StoreError};
pub use record::{EnrolledFinger, ResidentRecord, ResidentStatus};
pub use shard_store::{ShardStore, Write};
pub use store::{Applied, Change, Store, StoreOptions};
