//! The check at the door of every RPC: who is calling, is the credential good, may it
//! do this, is it within its quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use idauth_core::{ErrorCode, Factor};
use tonic::metadata::MetadataMap;

use super::credentials::{Credential, CredentialFile, Operation, key_hash};
use crate::error::GatewayError;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's credential.
    pub credential: Arc<Credential>,
}

impl Caller {
    /// The caller id.
    pub fn id(&self) -> &str {
        &self.credential.caller_id
    }

    /// Refuses a factor the policy does not allow.
    pub fn check_factor(&self, factor: Factor) -> Result<(), GatewayError> {
        if !self.credential.policy.factors.contains(&factor) {
            return Err(GatewayError::Invalid {
                code: ErrorCode::FactorNotAllowed,
                reason: "factor not in the caller's policy",
            });
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Loaded {
    modified: Option<SystemTime>,
    by_hash: HashMap<String, Arc<Credential>>,
}

/// Authenticates calls against the credential file.
#[derive(Debug)]
pub struct Guard {
    path: PathBuf,
    pepper: [u8; 32],
    loaded: RwLock<Loaded>,
    limiters: DashMap<String, Arc<DefaultDirectRateLimiter>>,
}

fn refuse(code: ErrorCode, reason: &'static str) -> GatewayError {
    GatewayError::Invalid { code, reason }
}

impl Guard {
    /// A guard over the credential file at `path`, whose key hashes use `pepper`.
    pub fn new(path: PathBuf, pepper: [u8; 32]) -> std::io::Result<Self> {
        let guard = Self {
            path,
            pepper,
            loaded: RwLock::new(Loaded::default()),
            limiters: DashMap::new(),
        };
        guard.reload_if_changed()?;
        Ok(guard)
    }

    /// Re-reads the file when its modification time changed (one `stat` per call).
    fn reload_if_changed(&self) -> std::io::Result<()> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if self
            .loaded
            .read()
            .expect("credential lock poisoned")
            .modified
            == modified
            && modified.is_some()
        {
            return Ok(());
        }
        let file = CredentialFile::load(&self.path)?;
        let by_hash = file
            .credentials
            .into_iter()
            .map(|c| (c.key_hash.clone(), Arc::new(c)))
            .collect();
        let mut loaded = self.loaded.write().expect("credential lock poisoned");
        *loaded = Loaded { modified, by_hash };
        // Policies may have changed: quotas are rebuilt on next use.
        self.limiters.clear();
        Ok(())
    }

    /// Authenticates the call and checks that its policy allows `operation`.
    pub fn authorize(
        &self,
        metadata: &MetadataMap,
        operation: Operation,
        now_ms: i64,
    ) -> Result<Caller, GatewayError> {
        let caller = self.authenticate(metadata, now_ms)?;
        if !caller.credential.policy.operations.contains(&operation) {
            return Err(refuse(
                ErrorCode::OperationNotAllowed,
                "operation not in the caller's policy",
            ));
        }
        Ok(caller)
    }

    /// Authenticates the call (valid, unexpired, unrevoked credential within its
    /// quota), whatever the operation.
    pub fn authenticate(
        &self,
        metadata: &MetadataMap,
        now_ms: i64,
    ) -> Result<Caller, GatewayError> {
        let Some(api_key) = api_key(metadata) else {
            return Err(refuse(ErrorCode::CredentialMissing, "no credential"));
        };
        if let Err(error) = self.reload_if_changed() {
            tracing::error!(%error, "credential file unreadable; keeping the last good copy");
        }
        let hash = key_hash(&self.pepper, api_key);
        let credential = self
            .loaded
            .read()
            .expect("credential lock poisoned")
            .by_hash
            .get(&hash)
            .cloned()
            .ok_or(refuse(ErrorCode::CredentialUnknown, "unknown credential"))?;
        if credential.revoked_ms.is_some() {
            return Err(refuse(ErrorCode::CredentialRevoked, "credential revoked"));
        }
        if credential
            .policy
            .expires_ms
            .is_some_and(|expiry| now_ms >= expiry)
        {
            return Err(refuse(ErrorCode::CredentialExpired, "credential expired"));
        }
        let limiter = self
            .limiters
            .entry(credential.caller_id.clone())
            .or_insert_with(|| {
                let rate =
                    NonZeroU32::new(credential.policy.quota_per_second).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(Quota::per_second(rate)))
            })
            .clone();
        if limiter.check().is_err() {
            return Err(refuse(ErrorCode::QuotaExceeded, "quota exceeded"));
        }
        Ok(Caller { credential })
    }
}

/// The API key of a call: `authorization: Bearer <key>`.
fn api_key(metadata: &MetadataMap) -> Option<&str> {
    metadata
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{CallerKind, Policy};

    fn policy(operations: Vec<Operation>, expires_ms: Option<i64>) -> Policy {
        Policy {
            operations,
            factors: vec![Factor::Fingerprint],
            quota_per_second: 1000,
            expires_ms,
            plain_probes: false,
        }
    }

    fn metadata(key: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", format!("Bearer {key}").parse().unwrap());
        map
    }

    #[test]
    fn each_credential_failure_has_its_own_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let pepper = [9; 32];
        let mut file = CredentialFile::default();
        let verifier = file
            .issue(
                &pepper,
                "agency-a",
                CallerKind::Agency,
                policy(vec![Operation::Verify], None),
                0,
            )
            .unwrap();
        let expired = file
            .issue(
                &pepper,
                "agency-b",
                CallerKind::Agency,
                policy(vec![Operation::Verify], Some(1000)),
                0,
            )
            .unwrap();
        let revoked = file
            .issue(
                &pepper,
                "agency-c",
                CallerKind::Agency,
                policy(vec![Operation::Verify], None),
                0,
            )
            .unwrap();
        file.revoke("agency-c", 5).unwrap();
        file.save(&path).unwrap();
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(
            !stored.contains(&verifier.api_key),
            "a key was stored in clear"
        );

        let guard = Guard::new(path, pepper).unwrap();
        let code =
            |metadata: &MetadataMap, op| guard.authorize(metadata, op, 2000).unwrap_err().code();
        assert_eq!(
            guard
                .authorize(&metadata(&verifier.api_key), Operation::Verify, 2000)
                .unwrap()
                .id(),
            "agency-a"
        );
        assert_eq!(
            code(&MetadataMap::new(), Operation::Verify),
            ErrorCode::CredentialMissing
        );
        assert_eq!(
            code(&metadata("idk_nope"), Operation::Verify),
            ErrorCode::CredentialUnknown
        );
        assert_eq!(
            code(&metadata(&expired.api_key), Operation::Verify),
            ErrorCode::CredentialExpired
        );
        assert_eq!(
            code(&metadata(&revoked.api_key), Operation::Verify),
            ErrorCode::CredentialRevoked
        );
        assert_eq!(
            code(&metadata(&verifier.api_key), Operation::Enrol),
            ErrorCode::OperationNotAllowed
        );
    }

    #[test]
    fn quota_refuses_bursts_beyond_the_rate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let mut file = CredentialFile::default();
        let mut slow = policy(vec![Operation::Verify], None);
        slow.quota_per_second = 3;
        let issued = file
            .issue(&[1; 32], "slow", CallerKind::Agency, slow, 0)
            .unwrap();
        file.save(&path).unwrap();
        let guard = Guard::new(path, [1; 32]).unwrap();
        let results: Vec<bool> = (0..10)
            .map(|_| {
                guard
                    .authorize(&metadata(&issued.api_key), Operation::Verify, 0)
                    .is_ok()
            })
            .collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 3, "{results:?}");
    }
}
