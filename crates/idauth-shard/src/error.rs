//! The shard's errors.

use idauth_core::ErrorCode;
use idauth_match::MatchError;
use idauth_store::StoreError;

/// What can go wrong in a shard operation.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A template in the request cannot be used.
    #[error("template refused: {0}")]
    Template(#[from] MatchError),
    /// The store refused or failed the operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An enrolled template no longer decodes (the record is damaged).
    #[error("enrolled template does not decode: {0}")]
    DamagedRecord(MatchError),
    /// A request reached the shard in a shape the gateway should have refused.
    #[error("request refused: {0}")]
    Refused(ErrorCode),
    /// No worker could finish the work within its deadline: refused before queueing.
    #[error("over capacity: the work could not finish within its deadline")]
    Overloaded,
    /// The work's deadline passed while it waited for a worker: dropped unrun.
    #[error("deadline passed while queued")]
    Late,
    /// A worker task failed.
    #[error("worker failed: {0}")]
    Worker(String),
    /// The operating system gave no random bytes (for the reference-code key).
    #[error("no system randomness: {0}")]
    Randomness(getrandom::Error),
}

impl ShardError {
    /// The catalogue code a caller sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Template(error) => error.code(),
            Self::Store(error) => error.code(),
            Self::DamagedRecord(_) => ErrorCode::StorageFailure,
            Self::Refused(code) => *code,
            Self::Overloaded => ErrorCode::Overloaded,
            Self::Late => ErrorCode::DeadlineExceeded,
            Self::Worker(_) | Self::Randomness(_) => ErrorCode::Internal,
        }
    }

    /// Whether the operation was shed before it touched the resident's record
    /// (over capacity, too late, no disk space to write in, a store stopped by a
    /// failed flush, a Ceph cluster that timed out or is full): nothing to audit, and such a refusal must cost, and write,
    /// next to nothing.
    pub fn shed(&self) -> bool {
        matches!(
            self,
            Self::Overloaded
                | Self::Late
                | Self::Store(
                    StoreError::Full { .. }
                        | StoreError::Stopped(_)
                        // A cluster that timed out or is full would fail (or hang on)
                        // the audit entry too.
                        | StoreError::Cluster {
                            errno: 28 | 110 | 122,
                            ..
                        }
                )
        )
    }
}
