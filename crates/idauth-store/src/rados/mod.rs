//! The Ceph RADOS engine (cargo feature `rados`): an in-repo binding of the few
//! librados calls it needs, and the [`ShardStore`](crate::ShardStore) on a pool.
//! Layout and trade-offs: `docs/adr/0004-rados-layout.md`.

mod client;
#[allow(unsafe_code)]
mod ffi;

pub use client::{Cluster, Pool, RadosError, ReadOp, ReadResult, WriteOp};
pub use client::{EDQUOT, EEXIST, ENOENT, ENOSPC, EOVERFLOW, ERANGE, ETIMEDOUT};
