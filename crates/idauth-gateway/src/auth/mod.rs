//! Callers: credentials, their policies, and the check every call goes through.

mod credentials;
mod guard;

pub use credentials::{
    CallerKind, Credential, CredentialFile, IssuedKey, Operation, Policy, cert_fingerprint,
};
pub use guard::{Caller, Guard, Presented};
