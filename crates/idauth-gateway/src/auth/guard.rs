//! The check at the door of every RPC: who is calling, is the credential good, may it
//! do this, is it within its quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use idauth_core::{ErrorCode, Factor};
use tonic::metadata::MetadataMap;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::credentials::{Credential, CredentialFile, Operation, cert_fingerprint, key_hash};
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

/// What a call presents to identify its caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presented {
    /// The API key of an `authorization: Bearer <key>` header.
    pub api_key: Option<String>,
    /// SHA-256 of the client certificate (hex) the TLS handshake verified against the
    /// client CA, when the call came over mTLS.
    pub cert_sha256: Option<String>,
}

impl Presented {
    /// What a request's headers and connection present.
    pub fn from_parts(metadata: &MetadataMap, extensions: &tonic::Extensions) -> Self {
        let api_key = metadata
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(str::to_owned);
        // The leaf certificate comes first; tonic only records certificates the
        // handshake verified.
        let cert_sha256 = extensions
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.peer_certs())
            .and_then(|chain| chain.first().map(|leaf| cert_fingerprint(leaf)));
        Self {
            api_key,
            cert_sha256,
        }
    }

    /// What `request` presents.
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        Self::from_parts(request.metadata(), request.extensions())
    }
}

#[derive(Debug, Default)]
struct Loaded {
    modified: Option<SystemTime>,
    by_hash: HashMap<String, Arc<Credential>>,
    by_cert: HashMap<String, Arc<Credential>>,
}

/// What the watcher thread and the calls share.
#[derive(Debug)]
struct Credentials {
    path: PathBuf,
    loaded: RwLock<Loaded>,
    limiters: DashMap<String, Arc<DefaultDirectRateLimiter>>,
    loads: AtomicU64,
}

impl Credentials {
    /// Re-reads the file when its modification time changed.
    fn reload_if_changed(&self) -> std::io::Result<()> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let current = self
            .loaded
            .read()
            .expect("credential lock poisoned")
            .modified;
        if current == modified && modified.is_some() {
            return Ok(());
        }
        self.reload(modified)
    }

    fn reload(&self, modified: Option<SystemTime>) -> std::io::Result<()> {
        let file = CredentialFile::load(&self.path)?;
        let mut next = Loaded {
            modified,
            ..Loaded::default()
        };
        for credential in file.credentials.into_iter().map(Arc::new) {
            if let Some(fingerprint) = &credential.cert_sha256 {
                next.by_cert
                    .insert(fingerprint.clone(), Arc::clone(&credential));
            }
            if !credential.key_hash.is_empty() {
                next.by_hash.insert(credential.key_hash.clone(), credential);
            }
        }
        *self.loaded.write().expect("credential lock poisoned") = next;
        // Policies may have changed: quotas are rebuilt on next use.
        self.limiters.clear();
        self.loads.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether a file-system event concerns the credential file itself (the atomic
    /// save writes a temporary file beside it, then renames it over).
    fn concerns(&self, event: &notify::Event) -> bool {
        !matches!(event.kind, notify::EventKind::Access(_))
            && event
                .paths
                .iter()
                .any(|p| p.file_name() == self.path.file_name())
    }
}

/// Authenticates calls against the credential file. A watcher on the file's directory
/// reloads it when it changes, so a call costs no file-system access; where no
/// watcher can be set up, each call compares the file's modification time instead.
#[derive(Debug)]
pub struct Guard {
    pepper: [u8; 32],
    credentials: Arc<Credentials>,
    /// `None`: no watcher (each call checks the modification time).
    watcher: Option<notify::RecommendedWatcher>,
}

fn refuse(code: ErrorCode, reason: &'static str) -> GatewayError {
    GatewayError::Invalid { code, reason }
}

fn watch(credentials: &Arc<Credentials>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let shared = Arc::clone(credentials);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if shared.concerns(&event) => {
                let modified = std::fs::metadata(&shared.path)
                    .and_then(|m| m.modified())
                    .ok();
                // Reload even at an unchanged modification time: two saves can fall
                // in one clock tick, and the event says the file changed.
                if let Err(error) = shared.reload(modified) {
                    tracing::error!(%error, "credential file unreadable; keeping the last good copy");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "credential file watcher"),
        }
    })?;
    let directory = credentials
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    watcher.watch(directory, notify::RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

impl Guard {
    /// A guard over the credential file at `path`, whose key hashes use `pepper`.
    pub fn new(path: PathBuf, pepper: [u8; 32]) -> std::io::Result<Self> {
        let credentials = Arc::new(Credentials {
            path,
            loaded: RwLock::new(Loaded::default()),
            limiters: DashMap::new(),
            loads: AtomicU64::new(0),
        });
        credentials.reload_if_changed()?;
        let watcher = match watch(&credentials) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(%error, "no watcher on the credential file: each call checks its modification time");
                None
            }
        };
        Ok(Self {
            pepper,
            credentials,
            watcher,
        })
    }

    /// How many times the credential file has been read: tools and tests that change
    /// the file wait with [`Guard::wait_for_load`] until the guard has seen it.
    pub fn loads(&self) -> u64 {
        self.credentials.loads.load(Ordering::Acquire)
    }

    /// Waits until the file has been read more than `seen` times, or `timeout`
    /// passes; whether it was.
    pub fn wait_for_load(&self, seen: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.loads() <= seen {
            if self.watcher.is_none() || Instant::now() >= deadline {
                return self.loads() > seen;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Authenticates the call and checks that its policy allows `operation`.
    pub fn authorize(
        &self,
        presented: &Presented,
        operation: Operation,
        now_ms: i64,
    ) -> Result<Caller, GatewayError> {
        let caller = self.authenticate(presented, now_ms)?;
        if !caller.credential.policy.operations.contains(&operation) {
            return Err(refuse(
                ErrorCode::OperationNotAllowed,
                "operation not in the caller's policy",
            ));
        }
        Ok(caller)
    }

    /// The credential `presented` names: a certificate bound to a credential decides;
    /// an unbound one (any client of the CA) leaves the decision to the API key.
    fn find(&self, presented: &Presented) -> Option<Arc<Credential>> {
        let loaded = self
            .credentials
            .loaded
            .read()
            .expect("credential lock poisoned");
        let by_cert = presented
            .cert_sha256
            .as_ref()
            .and_then(|fingerprint| loaded.by_cert.get(fingerprint));
        let by_key = || {
            let api_key = presented.api_key.as_deref()?;
            loaded.by_hash.get(&key_hash(&self.pepper, api_key))
        };
        by_cert.or_else(by_key).cloned()
    }

    /// Authenticates the call (valid, unexpired, unrevoked credential within its
    /// quota), whatever the operation.
    pub fn authenticate(&self, presented: &Presented, now_ms: i64) -> Result<Caller, GatewayError> {
        if presented.api_key.is_none() && presented.cert_sha256.is_none() {
            return Err(refuse(ErrorCode::CredentialMissing, "no credential"));
        }
        if self.watcher.is_none()
            && let Err(error) = self.credentials.reload_if_changed()
        {
            tracing::error!(%error, "credential file unreadable; keeping the last good copy");
        }
        let credential = match self.find(presented) {
            Some(credential) => credential,
            None => {
                // A key issued a moment ago may not have reached the watcher yet: an
                // unknown credential (only) is worth one look at the file.
                if let Err(error) = self.credentials.reload_if_changed() {
                    tracing::error!(%error, "credential file unreadable; keeping the last good copy");
                }
                self.find(presented)
                    .ok_or(refuse(ErrorCode::CredentialUnknown, "unknown credential"))?
            }
        };
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
            .credentials
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

    fn metadata(key: &str) -> Presented {
        let mut map = MetadataMap::new();
        map.insert("authorization", format!("Bearer {key}").parse().unwrap());
        Presented::from_parts(&map, &tonic::Extensions::new())
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
            |presented: &Presented, op| guard.authorize(presented, op, 2000).unwrap_err().code();
        assert_eq!(
            guard
                .authorize(&metadata(&verifier.api_key), Operation::Verify, 2000)
                .unwrap()
                .id(),
            "agency-a"
        );
        assert_eq!(
            code(&Presented::default(), Operation::Verify),
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

    #[test]
    fn a_bound_certificate_identifies_its_caller_and_an_unbound_one_defers_to_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let mut file = CredentialFile::default();
        let bound = file
            .issue_for_certificate(
                "agency-cert",
                CallerKind::Agency,
                policy(vec![Operation::Verify], None),
                b"certificate one",
                0,
            )
            .unwrap();
        assert!(bound.key_hash.is_empty());
        let keyed = file
            .issue(
                &[2; 32],
                "agency-key",
                CallerKind::Agency,
                policy(vec![Operation::Verify], None),
                0,
            )
            .unwrap();
        file.save(&path).unwrap();
        let guard = Guard::new(path.clone(), [2; 32]).unwrap();
        let presenting = |cert: &[u8], key: Option<&str>| Presented {
            api_key: key.map(str::to_owned),
            cert_sha256: Some(cert_fingerprint(cert)),
        };
        let id = |presented: &Presented| {
            guard
                .authorize(presented, Operation::Verify, 0)
                .map(|caller| caller.id().to_owned())
                .map_err(|error| error.code())
        };
        assert_eq!(
            id(&presenting(b"certificate one", None)),
            Ok("agency-cert".into())
        );
        // The certificate decides over a key presented beside it.
        assert_eq!(
            id(&presenting(b"certificate one", Some(&keyed.api_key))),
            Ok("agency-cert".into())
        );
        assert_eq!(
            id(&presenting(b"certificate two", Some(&keyed.api_key))),
            Ok("agency-key".into())
        );
        assert_eq!(
            id(&presenting(b"certificate two", None)),
            Err(ErrorCode::CredentialUnknown)
        );
        // An empty key hash matches no key.
        assert_eq!(id(&metadata("")), Err(ErrorCode::CredentialMissing));
        let mut file = CredentialFile::load(&path).unwrap();
        file.revoke("agency-cert", 1).unwrap();
        let seen = guard.loads();
        file.save(&path).unwrap();
        assert!(
            guard.wait_for_load(seen, Duration::from_secs(5)),
            "the watcher saw the new file"
        );
        assert_eq!(
            id(&presenting(b"certificate one", None)),
            Err(ErrorCode::CredentialRevoked)
        );
    }
}
