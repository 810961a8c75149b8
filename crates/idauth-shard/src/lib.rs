//! The idauth shard: enrol, update, deactivate and verify on the records this shard
//! owns. A shard is addressed by storage key (it never sees resident identifiers), is
//! called in-process by a local gateway or over the shard gRPC API ([`server`]), and
//! runs all CPU-heavy work (template building, matching) on the blocking pool, bounded
//! to the number of cores for all the shards of a process together.

#[cfg(test)]
mod decide_tests;
mod demographic;
mod error;
mod lockout;
mod reference;
pub mod server;
mod shard;
mod threshold;

pub use demographic::{match_demographics, normalise};
pub use error::ShardError;
/// The storage engine and how it is opened.
pub use idauth_store::{Durability, Engine, EngineOptions};
pub use lockout::LockoutPolicy;
pub use shard::{CpuPermits, MAX_HISTORY_PAGE, Shard, ShardOptions, ShardStorage};
pub use threshold::{Threshold, ThresholdError};
