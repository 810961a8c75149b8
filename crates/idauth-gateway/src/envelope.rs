//! Encrypted probes: the service's X25519 keys, opening envelopes, and sealing them
//! (for the client commands and tests).
//!
//! Sender: fresh ephemeral X25519 key, shared secret with the service key `key_id`,
//! HKDF-SHA256 (salt = ephemeral public key || service public key, info = a fixed
//! label) to a ChaCha20-Poly1305 key, random 12-byte nonce, ciphertext of an encoded
//! `ProbeSet`. The associated data binds the envelope to its request: the key id, the
//! txn (or enrolment request id) and the request timestamp, so an envelope lifted from
//! one request fails to open in any other. Keys rotate with an overlap window: an old
//! key keeps opening envelopes until its `not_after_ms`.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hkdf::Hkdf;
use idauth_core::ErrorCode;
use idauth_proto::v1;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::GatewayError;

const INFO: &[u8] = b"idauth probe envelope v1";

/// What an envelope is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The txn (verify) or request id (enrolment).
    pub txn: &'a str,
    /// The request timestamp, Unix seconds and nanoseconds as sent.
    pub timestamp: (i64, i32),
}

fn associated_data(key_id: u32, binding: Binding<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(48 + binding.txn.len());
    aad.extend_from_slice(INFO);
    aad.extend_from_slice(&key_id.to_le_bytes());
    aad.extend_from_slice(&(binding.txn.len() as u64).to_le_bytes());
    aad.extend_from_slice(binding.txn.as_bytes());
    aad.extend_from_slice(&binding.timestamp.0.to_le_bytes());
    aad.extend_from_slice(&binding.timestamp.1.to_le_bytes());
    aad
}

fn cipher(shared: &[u8; 32], ephemeral: &PublicKey, service: &PublicKey) -> ChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral.as_bytes());
    salt[32..].copy_from_slice(service.as_bytes());
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut key = [0u8; 32];
    hkdf.expand(INFO, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    ChaCha20Poly1305::new(&key.into())
}

/// Encrypts `fingers` to the service key `(key_id, public_key)`.
pub fn seal(
    key_id: u32,
    public_key: &[u8],
    fingers: Vec<v1::Finger>,
    binding: Binding<'_>,
) -> Result<v1::Envelope, String> {
    let service = PublicKey::from(
        <[u8; 32]>::try_from(public_key).map_err(|_| "service public key must be 32 bytes")?,
    );
    let ephemeral = StaticSecret::random();
    let ephemeral_public = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(&service);
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| format!("no system randomness: {e}"))?;
    let plaintext = v1::ProbeSet { fingers }.encode_to_vec();
    let aad = associated_data(key_id, binding);
    let ciphertext = cipher(shared.as_bytes(), &ephemeral_public, &service)
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| "encryption failed".to_owned())?;
    Ok(v1::Envelope {
        key_id,
        ephemeral_public_key: ephemeral_public.as_bytes().to_vec(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// One service key as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    secret: String,
    /// Unix milliseconds after which the key no longer opens envelopes.
    not_after_ms: Option<i64>,
}

/// The key file: `{"current": 1, "keys": {"1": {"secret": "<hex>", "not_after_ms": null}}}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    current: u32,
    keys: BTreeMap<u32, StoredKey>,
}

struct ServiceKey {
    id: u32,
    secret: StaticSecret,
    public: PublicKey,
    not_after_ms: Option<i64>,
}

/// The service's envelope keys, current first.
pub struct EnvelopeKeys {
    keys: Vec<ServiceKey>,
}

impl std::fmt::Debug for EnvelopeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|k| k.id).collect();
        write!(f, "EnvelopeKeys(ids {ids:?}, <redacted>)")
    }
}

fn refuse(code: ErrorCode, reason: &'static str) -> GatewayError {
    GatewayError::Invalid { code, reason }
}

impl EnvelopeKeys {
    /// Reads the key file's JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| format!("envelope key file: {e}"))?;
        let mut keys = Vec::new();
        for (id, stored) in file.keys {
            let bytes = hex::decode(stored.secret.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("envelope key {id} is not 64 hex digits"))?;
            let secret = StaticSecret::from(bytes);
            keys.push(ServiceKey {
                id,
                public: PublicKey::from(&secret),
                secret,
                not_after_ms: stored.not_after_ms,
            });
        }
        let position = keys
            .iter()
            .position(|k| k.id == file.current)
            .ok_or_else(|| format!("current envelope key {} is not in the file", file.current))?;
        let current = keys.remove(position);
        keys.insert(0, current);
        Ok(Self { keys })
    }

    /// A new key file with one random key, id 1, as JSON.
    pub fn generate_json() -> Result<String, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
        let file = KeyFile {
            current: 1,
            keys: BTreeMap::from([(
                1,
                StoredKey {
                    secret: hex::encode(bytes),
                    not_after_ms: None,
                },
            )]),
        };
        serde_json::to_string_pretty(&file).map_err(|e| e.to_string())
    }

    /// The public keys still accepted at `now_ms`, current first.
    pub fn public_keys(&self, now_ms: i64) -> Vec<v1::EnvelopeKey> {
        self.keys
            .iter()
            .filter(|k| k.not_after_ms.is_none_or(|end| now_ms < end))
            .map(|k| v1::EnvelopeKey {
                key_id: k.id,
                public_key: k.public.as_bytes().to_vec(),
                not_after_ms: k.not_after_ms.unwrap_or(0),
            })
            .collect()
    }

    /// Opens an envelope bound to `binding`; its fingers.
    pub fn open(
        &self,
        envelope: &v1::Envelope,
        binding: Binding<'_>,
        now_ms: i64,
    ) -> Result<Vec<v1::Finger>, GatewayError> {
        let v1::Envelope {
            key_id,
            ephemeral_public_key,
            nonce,
            ciphertext,
        } = envelope;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == *key_id)
            .filter(|k| k.not_after_ms.is_none_or(|end| now_ms < end))
            .ok_or(refuse(
                ErrorCode::EnvelopeKeyUnknown,
                "envelope key unknown or retired",
            ))?;
        let invalid = || refuse(ErrorCode::EnvelopeInvalid, "envelope does not open");
        let ephemeral = PublicKey::from(
            <[u8; 32]>::try_from(ephemeral_public_key.as_slice()).map_err(|_| invalid())?,
        );
        let nonce = <[u8; 12]>::try_from(nonce.as_slice()).map_err(|_| invalid())?;
        let shared = key.secret.diffie_hellman(&ephemeral);
        if !shared.was_contributory() {
            return Err(invalid());
        }
        let aad = associated_data(*key_id, binding);
        let plaintext = cipher(shared.as_bytes(), &ephemeral, &key.public)
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| invalid())?;
        let v1::ProbeSet { fingers } =
            v1::ProbeSet::decode(plaintext.as_slice()).map_err(|_| invalid())?;
        Ok(fingers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finger() -> v1::Finger {
        v1::Finger {
            position: 2,
            format: 1,
            template: vec![1, 2, 3, 4],
        }
    }

    #[test]
    fn sealed_envelopes_open_only_for_their_request_and_untampered() {
        let keys = EnvelopeKeys::from_json(&EnvelopeKeys::generate_json().unwrap()).unwrap();
        let public = keys.public_keys(0);
        let binding = Binding {
            txn: "t-1",
            timestamp: (1_800_000_000, 5),
        };
        let envelope = seal(1, &public[0].public_key, vec![finger()], binding).unwrap();
        assert_eq!(keys.open(&envelope, binding, 0).unwrap(), vec![finger()]);

        let other_txn = Binding {
            txn: "t-2",
            ..binding
        };
        let code = |e: Result<_, GatewayError>| e.unwrap_err().code();
        assert_eq!(
            code(keys.open(&envelope, other_txn, 0)),
            ErrorCode::EnvelopeInvalid
        );
        let later = Binding {
            timestamp: (1_800_000_001, 5),
            ..binding
        };
        assert_eq!(
            code(keys.open(&envelope, later, 0)),
            ErrorCode::EnvelopeInvalid
        );
        for byte in 0..envelope.ciphertext.len() {
            let mut flipped = envelope.clone();
            flipped.ciphertext[byte] ^= 0x10;
            assert_eq!(
                code(keys.open(&flipped, binding, 0)),
                ErrorCode::EnvelopeInvalid
            );
        }
        let mut flipped = envelope.clone();
        flipped.ephemeral_public_key[3] ^= 1;
        assert_eq!(
            code(keys.open(&flipped, binding, 0)),
            ErrorCode::EnvelopeInvalid
        );
        let unknown = v1::Envelope {
            key_id: 7,
            ..envelope.clone()
        };
        assert_eq!(
            code(keys.open(&unknown, binding, 0)),
            ErrorCode::EnvelopeKeyUnknown
        );
    }

    #[test]
    fn a_retired_key_stops_opening_after_its_overlap_window() {
        let json = format!(
            r#"{{"current": 2, "keys": {{"1": {{"secret": "{}", "not_after_ms": 1000}}, "2": {{"secret": "{}", "not_after_ms": null}}}}}}"#,
            "01".repeat(32),
            "02".repeat(32)
        );
        let keys = EnvelopeKeys::from_json(&json).unwrap();
        assert_eq!(keys.public_keys(0).len(), 2);
        assert_eq!(keys.public_keys(0)[0].key_id, 2, "current first");
        assert_eq!(keys.public_keys(2000).len(), 1);
        let binding = Binding {
            txn: "t",
            timestamp: (1, 0),
        };
        let old = seal(
            1,
            &keys.public_keys(0)[1].public_key,
            vec![finger()],
            binding,
        )
        .unwrap();
        assert!(keys.open(&old, binding, 999).is_ok());
        assert_eq!(
            keys.open(&old, binding, 1000).unwrap_err().code(),
            ErrorCode::EnvelopeKeyUnknown
        );
    }
}
