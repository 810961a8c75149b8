//! Master keys for encryption at rest.
//!
//! Each record is sealed by its shard with a key derived here, per request, from a
//! master key and the resident's identifier: HKDF-SHA256 with the master key as input
//! key material and the identifier (type tag and value) as info. Shards never hold a
//! master key and never store a record key, so a copy of a shard's files opens
//! nothing, and even the master key opens only the records whose identifiers are
//! known, one at a time.
//!
//! Rotation: add a key with a higher id to the key file and make it `current`; keep the
//! old one. Records are re-sealed with the current key whenever they are written; the
//! old key may be removed only once no record names it (a bulk re-sealing command does
//! not exist yet).

use std::collections::BTreeMap;

use hkdf::Hkdf;
use idauth_core::{RecordKey, RecordKeys, ResidentId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroize;

/// The key file's form: `{"current": 2, "keys": {"1": "<64 hex>", "2": "<64 hex>"}}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    current: u32,
    keys: BTreeMap<u32, String>,
}

/// The configured master keys, current first.
#[derive(Clone)]
pub struct MasterKeys {
    keys: Vec<(u32, [u8; 32])>,
}

impl Drop for MasterKeys {
    fn drop(&mut self) {
        for (_, key) in &mut self.keys {
            key.zeroize();
        }
    }
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        write!(f, "MasterKeys(ids {ids:?}, <redacted>)")
    }
}

impl MasterKeys {
    /// Reads the key file's JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| format!("master key file: {e}"))?;
        let mut keys = Vec::new();
        for (id, hex_key) in &file.keys {
            let bytes = hex::decode(hex_key.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("master key {id} is not 64 hex digits"))?;
            keys.push((*id, bytes));
        }
        let position = keys
            .iter()
            .position(|(id, _)| *id == file.current)
            .ok_or_else(|| format!("current master key {} is not in the file", file.current))?;
        let current = keys.remove(position);
        keys.insert(0, current);
        // Newest first after the current one: the likeliest to be needed.
        keys[1..].sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        Ok(Self { keys })
    }

    /// A new key file holding one random key, id 1, as JSON.
    pub fn generate_json() -> Result<String, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("no system randomness: {e}"))?;
        let file = KeyFile {
            current: 1,
            keys: BTreeMap::from([(1, hex::encode(key))]),
        };
        key.zeroize();
        serde_json::to_string_pretty(&file).map_err(|e| e.to_string())
    }

    /// The record keys of one resident, current first.
    pub fn derive(&self, id: &ResidentId) -> RecordKeys {
        let mut info = Vec::with_capacity(16 + id.value().len());
        info.extend_from_slice(id.kind().tag().as_bytes());
        info.push(0);
        info.extend_from_slice(id.value().as_bytes());
        RecordKeys(
            self.keys
                .iter()
                .map(|(key_id, master)| {
                    let hkdf = Hkdf::<Sha256>::new(Some(b"idauth record key v1"), master);
                    let mut key = [0u8; 32];
                    hkdf.expand(&info, &mut key)
                        .expect("32 bytes is a valid HKDF-SHA256 output length");
                    RecordKey { id: *key_id, key }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_core::IdentifierType;

    #[test]
    fn keys_differ_per_resident_and_per_master_key_and_current_comes_first() {
        let keys = MasterKeys::from_json(&format!(
            r#"{{"current": 2, "keys": {{"1": "{}", "2": "{}", "3": "{}"}}}}"#,
            "11".repeat(32),
            "22".repeat(32),
            "33".repeat(32)
        ))
        .unwrap();
        let a = ResidentId::new(IdentifierType::NationalId, "1").unwrap();
        let b = ResidentId::new(IdentifierType::NationalId, "2").unwrap();
        let (ka, kb) = (keys.derive(&a), keys.derive(&b));
        let ids: Vec<u32> = ka.0.iter().map(|k| k.id).collect();
        assert_eq!(ids, vec![2, 3, 1]);
        assert_ne!(ka.0[0].key, kb.0[0].key);
        assert_ne!(ka.0[0].key, ka.0[1].key);
        assert_eq!(keys.derive(&a), ka, "derivation is deterministic");
        assert!(MasterKeys::from_json(r#"{"current": 9, "keys": {}}"#).is_err());
        assert!(MasterKeys::from_json(&MasterKeys::generate_json().unwrap()).is_ok());
    }
}
