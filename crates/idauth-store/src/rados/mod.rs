//! The Ceph RADOS engine (cargo feature `rados`): an in-repo binding of the few
//! librados calls it needs, and the [`ShardStore`](crate::ShardStore) on a pool.
//! Layout and trade-offs: `docs/decisions/0009-rados-layout.md`.

mod audit;
mod client;
mod copy;
mod fence;
mod ffi;
mod history;
mod ops;
mod store;
mod txns;

pub use audit::verify_chain;
pub use client::{Cluster, Pool, RadosError, ReadOp, ReadResult, WriteOp};
pub use client::{
    EBLOCKLISTED, ECANCELED, EDQUOT, EEXIST, ENOENT, ENOSPC, EOVERFLOW, ERANGE, ETIMEDOUT,
};
pub use copy::{CopyCounts, Progress, copy_shard};
pub use fence::{TakeOver, take_over};
pub use store::{RadosOptions, RadosStore};
