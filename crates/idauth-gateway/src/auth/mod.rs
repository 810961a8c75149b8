//! Callers: credentials, their policies, and the check every call goes through.

mod credentials;
mod guard;

pub use credentials::{CallerKind, Credential, CredentialFile, IssuedKey, Operation, Policy};
pub use guard::{Caller, Guard};
