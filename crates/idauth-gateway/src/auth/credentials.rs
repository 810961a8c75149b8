//! The credential file: who may call, with what policy.
//!
//! API keys are shown once when issued and stored only as a keyed BLAKE3 hash (the key
//! of that hash, the pepper, lives with the other secrets, outside the data directory),
//! so a copy of the file lets nobody call the service. The file is rewritten atomically
//! (temporary file, fsync, rename) and gateways reload it when it changes, so a
//! revocation takes effect without a restart.
//!
//! A credential may instead name a client certificate (by its SHA-256 fingerprint):
//! where the gateway serves TLS with a client CA, a caller presenting that certificate
//! is that caller, with no API key at all.

use std::path::{Path, PathBuf};

use idauth_core::Factor;
use serde::{Deserialize, Serialize};

/// What kind of organisation a caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallerKind {
    /// Pays subsidies, wages or pensions; verifies residents.
    Agency,
    /// Registers and updates residents.
    EnrolmentCentre,
    /// Runs the service.
    Operator,
    /// The local development credential `idauth serve` creates.
    Development,
}

/// A group of RPCs a policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Enrol, UpdateBiometrics, UpdateDemographics, Deactivate.
    Enrol,
    /// Verify, VerifyBatch.
    Verify,
    /// A resident's authentication history and locks.
    History,
    /// ShardStatus, ClusterMap.
    Operator,
}

impl Operation {
    /// The name used in policies and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enrol => "enrol",
            Self::Verify => "verify",
            Self::History => "history",
            Self::Operator => "operator",
        }
    }
}

/// What a caller may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Allowed operations.
    pub operations: Vec<Operation>,
    /// Allowed verify factors.
    pub factors: Vec<Factor>,
    /// Requests per second (burst of the same size).
    pub quota_per_second: u32,
    /// Unix milliseconds after which the credential is refused; `None` = no expiry.
    pub expires_ms: Option<i64>,
    /// Whether fingers may be sent in clear rather than in an envelope.
    #[serde(default)]
    pub plain_probes: bool,
}

/// One issued credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The caller's id, unique in the file (appears in logs and the audit trail).
    pub caller_id: String,
    /// The caller's kind.
    pub kind: CallerKind,
    /// Keyed BLAKE3 of the API key, hex; empty for a certificate credential.
    pub key_hash: String,
    /// SHA-256 of the client certificate (DER), hex, for a caller identified by mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    /// What the caller may do.
    pub policy: Policy,
    /// When it was issued, Unix milliseconds.
    pub issued_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// SHA-256 of a certificate's DER bytes, hex: how a credential names a certificate.
pub fn cert_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// A freshly issued key: shown once, never stored.
#[derive(Debug)]
pub struct IssuedKey {
    /// The credential as stored.
    pub credential: Credential,
    /// The API key to hand to the caller.
    pub api_key: String,
}

/// The credential file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFile {
    /// Every credential ever issued (revoked ones stay, for the audit trail).
    pub credentials: Vec<Credential>,
}

/// Keyed hash of an API key, hex.
pub(crate) fn key_hash(pepper: &[u8; 32], api_key: &str) -> String {
    hex::encode(blake3::keyed_hash(pepper, api_key.as_bytes()).as_bytes())
}

impl CredentialFile {
    /// Reads the file; a missing file is an empty one.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = PathBuf::from(format!("{}.tmp", path.display()));
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&json)?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, path)
    }

    /// Issues a credential for a new caller id.
    pub fn issue(
        &mut self,
        pepper: &[u8; 32],
        caller_id: &str,
        kind: CallerKind,
        policy: Policy,
        now_ms: i64,
    ) -> Result<IssuedKey, String> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| format!("no system randomness: {e}"))?;
        let api_key = format!("idk_{}", hex::encode(secret));
        self.register(pepper, caller_id, kind, policy, api_key, now_ms)
    }

    /// The credential an API key belongs to, revoked or not.
    pub fn holder_of(&self, pepper: &[u8; 32], api_key: &str) -> Option<&Credential> {
        let hash = key_hash(pepper, api_key);
        self.credentials.iter().find(|c| c.key_hash == hash)
    }

    /// Records an API key that already exists (the development key kept in the
    /// secrets directory, met by a new data directory) for a new caller id.
    pub fn register(
        &mut self,
        pepper: &[u8; 32],
        caller_id: &str,
        kind: CallerKind,
        policy: Policy,
        api_key: String,
        now_ms: i64,
    ) -> Result<IssuedKey, String> {
        self.check_new(caller_id)?;
        if self.holder_of(pepper, &api_key).is_some() {
            return Err("this API key already belongs to a caller".into());
        }
        let credential = Credential {
            caller_id: caller_id.to_owned(),
            kind,
            key_hash: key_hash(pepper, &api_key),
            cert_sha256: None,
            policy,
            issued_ms: now_ms,
            revoked_ms: None,
        };
        self.credentials.push(credential.clone());
        Ok(IssuedKey {
            credential,
            api_key,
        })
    }

    /// Issues a credential for a caller identified by its client certificate (DER);
    /// no API key exists for it.
    pub fn issue_for_certificate(
        &mut self,
        caller_id: &str,
        kind: CallerKind,
        policy: Policy,
        certificate_der: &[u8],
        now_ms: i64,
    ) -> Result<Credential, String> {
        self.check_new(caller_id)?;
        let fingerprint = cert_fingerprint(certificate_der);
        if self
            .credentials
            .iter()
            .any(|c| c.cert_sha256.as_deref() == Some(fingerprint.as_str()))
        {
            return Err("this certificate already identifies another caller".into());
        }
        let credential = Credential {
            caller_id: caller_id.to_owned(),
            kind,
            key_hash: String::new(),
            cert_sha256: Some(fingerprint),
            policy,
            issued_ms: now_ms,
            revoked_ms: None,
        };
        self.credentials.push(credential.clone());
        Ok(credential)
    }

    fn check_new(&self, caller_id: &str) -> Result<(), String> {
        let valid = !caller_id.is_empty()
            && caller_id.len() <= 64
            && caller_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err("caller id must be 1 to 64 letters, digits, '-' or '.'".into());
        }
        if self.credentials.iter().any(|c| c.caller_id == caller_id) {
            return Err(format!("caller id {caller_id} already has a credential"));
        }
        Ok(())
    }

    /// Revokes a caller's credential.
    pub fn revoke(&mut self, caller_id: &str, now_ms: i64) -> Result<(), String> {
        let credential = self
            .credentials
            .iter_mut()
            .find(|c| c.caller_id == caller_id)
            .ok_or_else(|| format!("no credential for caller {caller_id}"))?;
        if credential.revoked_ms.is_some() {
            return Err(format!("the credential of {caller_id} is already revoked"));
        }
        credential.revoked_ms = Some(now_ms);
        Ok(())
    }
}
