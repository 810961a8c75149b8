//! The store's errors.

use idauth_core::ErrorCode;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write is refused by the record's state (unknown, already enrolled,
    /// deactivated) or by the idempotency index (request id reused).
    #[error("write refused: {0}")]
    Refused(ErrorCode),
    /// sled failed (I/O, corruption it detected).
    #[error("storage engine failure: {0}")]
    Engine(#[from] sled::Error),
    /// A stored value does not decode.
    #[error("stored value does not decode: {0}")]
    Corrupt(#[from] postcard::Error),
    /// The group-commit thread is gone or its fsync failed.
    #[error("durable flush failed: {0}")]
    Flush(String),
    /// An earlier flush or sync failed, and the engine writes nothing more until the
    /// process restarts; nothing was written.
    #[error("storage engine stopped after a failed flush: {0}")]
    Stopped(String),
    /// The data filesystem is below its free-space reserve; nothing was written.
    #[error("data filesystem below its reserve: {free} bytes free, {floor} needed")]
    Full {
        /// Bytes free at the last reading.
        free: u64,
        /// Bytes that must stay free for this write.
        floor: u64,
    },
    /// A call to the Ceph cluster failed (the `rados` engine): the call and the
    /// error number librados returned (ETIMEDOUT when the cluster did not answer in
    /// time, as when a placement group is below `min_size`).
    #[error("Ceph cluster: {op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Cluster {
        /// The operation.
        op: &'static str,
        /// The positive error number.
        errno: i32,
    },
    /// The audit journal's files failed (I/O) or hold what they must not.
    #[error("audit journal: {0}")]
    Journal(String),
    /// The history index names an audit entry the log does not hold.
    #[error("audit entry {0} is indexed but missing from the log")]
    IndexBroken(u64),
}

impl StoreError {
    /// The catalogue code a caller sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Refused(code) => *code,
            Self::Full { .. } => ErrorCode::StorageFull,
            // ENOSPC, EDQUOT: the cluster or the pool's quota is full.
            Self::Cluster {
                errno: 28 | 122, ..
            } => ErrorCode::StorageFull,
            Self::Cluster { .. } => ErrorCode::StorageFailure,
            Self::Engine(_)
            | Self::Corrupt(_)
            | Self::Flush(_)
            | Self::Stopped(_)
            | Self::Journal(_)
            | Self::IndexBroken(_) => ErrorCode::StorageFailure,
        }
    }
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;
