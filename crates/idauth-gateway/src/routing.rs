//! Storage keys and shard choice.
//!
//! The storage key is BLAKE3 keyed with the deployment's secret over the identifier
//! type and value: stable, so a resident always lands on the same record, and useless
//! to anyone without the secret. The owning shard is chosen by rendezvous (highest
//! random weight) hashing of the storage key with each shard id, so adding a shard
//! moves only the residents that now score highest on it (about 1/N of them).

use idauth_core::{ResidentId, StorageKey};

/// The secret that keys storage-key hashing (32 bytes). Not `Debug`-printable.
#[derive(Clone)]
pub struct StorageKeySecret([u8; 32]);

impl std::fmt::Debug for StorageKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKeySecret(<redacted>)")
    }
}

impl StorageKeySecret {
    /// Wraps 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads the secret from its hex form (64 hex digits, surrounding space ignored).
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The hex form, for writing the secret file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The storage key of a resident.
    pub fn storage_key(&self, id: &ResidentId) -> StorageKey {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(id.kind().tag().as_bytes());
        hasher.update(&[0]);
        hasher.update(id.value().as_bytes());
        StorageKey(*hasher.finalize().as_bytes())
    }
}

impl StorageKeySecret {
    /// The resident's token for one caller: BLAKE3 keyed with a key derived from this
    /// secret, over the caller id and the storage key. Stable for a caller (the secret
    /// never rotates, since routing depends on it), unlinkable across callers without
    /// the secret, and revealing nothing about the identifier.
    pub fn agency_token(&self, caller_id: &str, key: &StorageKey) -> String {
        let token_key = blake3::derive_key("idauth agency token v1", &self.0);
        let mut hasher = blake3::Hasher::new_keyed(&token_key);
        hasher.update(&(caller_id.len() as u64).to_le_bytes());
        hasher.update(caller_id.as_bytes());
        hasher.update(&key.0);
        hex::encode(&hasher.finalize().as_bytes()[..16])
    }
}

/// Rendezvous routing over a fixed list of shard ids.
#[derive(Debug, Clone)]
pub struct Router {
    shards: Vec<String>,
}

impl Router {
    /// A router over `shards` (at least one; ids must be distinct).
    pub fn new(shards: Vec<String>) -> Self {
        debug_assert!(!shards.is_empty());
        Self { shards }
    }

    /// The shard ids, in configuration order.
    pub fn shards(&self) -> &[String] {
        &self.shards
    }

    /// The index (into [`Router::shards`]) of the shard that owns `key`.
    pub fn owner(&self, key: &StorageKey) -> usize {
        let mut best = (0u64, 0usize);
        for (index, shard) in self.shards.iter().enumerate() {
            let weight = rendezvous_weight(key, shard);
            // Ties (astronomically unlikely) go to the first shard in the list.
            if index == 0 || weight > best.0 {
                best = (weight, index);
            }
        }
        best.1
    }
}

/// The rendezvous weight of one shard for one key: the first eight bytes of
/// BLAKE3(key || shard id), little-endian.
pub fn rendezvous_weight(key: &StorageKey, shard: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&key.0);
    hasher.update(shard.as_bytes());
    let digest = hasher.finalize();
    u64::from_le_bytes(digest.as_bytes()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_core::IdentifierType;

    #[test]
    fn equal_values_of_different_types_get_different_keys() {
        let secret = StorageKeySecret::new([3; 32]);
        let national = ResidentId::new(IdentifierType::NationalId, "1234").unwrap();
        let virtual_id = ResidentId::new(IdentifierType::VirtualId, "1234").unwrap();
        assert_ne!(
            secret.storage_key(&national),
            secret.storage_key(&virtual_id)
        );
        let other_secret = StorageKeySecret::new([4; 32]);
        assert_ne!(
            secret.storage_key(&national),
            other_secret.storage_key(&national)
        );
    }

    #[test]
    fn adding_a_shard_moves_only_residents_to_the_new_shard() {
        let secret = StorageKeySecret::new([5; 32]);
        let four = Router::new((0..4).map(|i| format!("shard-{i}")).collect());
        let five = Router::new((0..5).map(|i| format!("shard-{i}")).collect());
        let mut moved = 0;
        let mut per_shard = [0usize; 4];
        for i in 0..10_000 {
            let id = ResidentId::new(IdentifierType::NationalId, &format!("{i}")).unwrap();
            let key = secret.storage_key(&id);
            let (before, after) = (four.owner(&key), five.owner(&key));
            per_shard[before] += 1;
            if before != after {
                assert_eq!(after, 4, "a resident moved between old shards");
                moved += 1;
            }
        }
        assert!((1500..2500).contains(&moved), "moved {moved} of 10000");
        assert!(
            per_shard.iter().all(|&n| (2200..2800).contains(&n)),
            "{per_shard:?}"
        );
    }

    #[test]
    fn tokens_are_stable_per_agency_and_differ_across_agencies_and_residents() {
        let secret = StorageKeySecret::new([6; 32]);
        let (a, b) = (StorageKey([1; 32]), StorageKey([2; 32]));
        assert_eq!(
            secret.agency_token("pds", &a),
            secret.agency_token("pds", &a)
        );
        assert_ne!(
            secret.agency_token("pds", &a),
            secret.agency_token("pension", &a)
        );
        assert_ne!(
            secret.agency_token("pds", &a),
            secret.agency_token("pds", &b)
        );
        assert_eq!(secret.agency_token("pds", &a).len(), 32);
    }

    #[test]
    fn secrets_round_trip_through_hex() {
        let secret = StorageKeySecret::new([0xab; 32]);
        let back = StorageKeySecret::from_hex(&format!(" {}\n", secret.to_hex())).unwrap();
        assert_eq!(back.0, secret.0);
        assert!(StorageKeySecret::from_hex("abcd").is_none());
    }
}
