//! The service's X25519 envelope keys: the key file, rotation with an overlap window
//! (an old key keeps opening envelopes until its `not_after_ms`), and opening a
//! probe's envelope into domain fingers. The envelope format itself is defined once,
//! in [`idauth_client::envelope`], which agencies seal with.

use std::collections::BTreeMap;

use idauth_client::envelope::{self, Binding};
use idauth_core::{ErrorCode, FingerSample};
use idauth_proto::{convert, v1};
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::GatewayError;

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

    /// Opens an envelope bound to `binding`; its fingers, as domain values.
    pub fn open(
        &self,
        sealed: &v1::Envelope,
        binding: Binding<'_>,
        now_ms: i64,
    ) -> Result<Vec<FingerSample>, GatewayError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .filter(|k| k.not_after_ms.is_none_or(|end| now_ms < end))
            .ok_or(refuse(
                ErrorCode::EnvelopeKeyUnknown,
                "envelope key unknown or retired",
            ))?;
        let fingers = envelope::open(&key.secret, &key.public, sealed, binding)
            .map_err(|_| refuse(ErrorCode::EnvelopeInvalid, "envelope does not open"))?;
        Ok(convert::fingers(fingers)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(
        key_id: u32,
        public: &[u8],
        fingers: Vec<v1::Finger>,
        binding: Binding<'_>,
    ) -> Result<v1::Envelope, idauth_client::ClientError> {
        let public = PublicKey::from(<[u8; 32]>::try_from(public).unwrap());
        envelope::seal(key_id, &public, fingers, binding)
    }

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
        assert_eq!(
            keys.open(&envelope, binding, 0).unwrap(),
            convert::fingers(vec![finger()]).unwrap()
        );

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
