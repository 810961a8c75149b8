//! Records at rest: ChaCha20-Poly1305 under a key the gateway derived from a master
//! key and the resident's identifier, so a copy of the database opens nothing without
//! both, and not in bulk even with the master key (each record needs its identifier).
//!
//! Layout: format byte (1), master-key id (u32 LE), nonce (12 random bytes), then the
//! ciphertext with its tag. The storage key and the master-key id are associated
//! data, so a sealed record cannot be moved under another resident's key.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use idauth_core::{ErrorCode, RecordKey, RecordKeys, StorageKey};

use crate::error::{Result, StoreError};

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

fn associated_data(key: &StorageKey, key_id: u32) -> [u8; 36] {
    let mut aad = [0u8; 36];
    aad[..32].copy_from_slice(&key.0);
    aad[32..].copy_from_slice(&key_id.to_le_bytes());
    aad
}

/// Seals `plaintext` for the record under `key` with `record_key`.
pub(crate) fn seal(plaintext: &[u8], key: &StorageKey, record_key: &RecordKey) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce)
        .map_err(|e| StoreError::Flush(format!("no system randomness: {e}")))?;
    let cipher = ChaCha20Poly1305::new(&record_key.key.into());
    let aad = associated_data(key, record_key.id);
    let sealed = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| StoreError::Refused(ErrorCode::Internal))?;
    let mut out = Vec::with_capacity(HEADER + sealed.len());
    out.push(FORMAT);
    out.extend_from_slice(&record_key.id.to_le_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The master-key id a sealed record names.
pub(crate) fn key_id(sealed: &[u8]) -> Option<u32> {
    (sealed.len() >= HEADER && sealed[0] == FORMAT)
        .then(|| u32::from_le_bytes(sealed[1..5].try_into().expect("4 bytes")))
}

/// Opens a sealed record with whichever of `keys` it was sealed with.
pub(crate) fn open(sealed: &[u8], key: &StorageKey, keys: &RecordKeys) -> Result<Vec<u8>> {
    let undecryptable = || StoreError::Refused(ErrorCode::RecordUndecryptable);
    if sealed.len() < HEADER || sealed[0] != FORMAT {
        return Err(undecryptable());
    }
    let key_id = u32::from_le_bytes(sealed[1..5].try_into().expect("4 bytes"));
    let record_key = keys.by_id(key_id).ok_or_else(undecryptable)?;
    let nonce: [u8; 12] = sealed[5..HEADER].try_into().expect("12 bytes");
    let cipher = ChaCha20Poly1305::new(&record_key.key.into());
    let aad = associated_data(key, key_id);
    cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &sealed[HEADER..],
                aad: &aad,
            },
        )
        .map_err(|_| undecryptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ids: &[(u32, u8)]) -> RecordKeys {
        RecordKeys(
            ids.iter()
                .map(|&(id, b)| RecordKey { id, key: [b; 32] })
                .collect(),
        )
    }

    #[test]
    fn opens_with_the_right_key_only_and_not_under_another_storage_key() {
        let (a, b) = (StorageKey([1; 32]), StorageKey([2; 32]));
        let current = keys(&[(2, 20), (1, 10)]);
        let sealed = seal(b"record", &a, current.current().unwrap()).unwrap();
        assert_eq!(open(&sealed, &a, &current).unwrap(), b"record");
        // An older configuration that still has key 2 opens it; one without cannot.
        assert_eq!(open(&sealed, &a, &keys(&[(2, 20)])).unwrap(), b"record");
        assert!(open(&sealed, &a, &keys(&[(1, 10)])).is_err());
        assert!(
            open(&sealed, &a, &keys(&[(2, 21)])).is_err(),
            "wrong key bytes"
        );
        assert!(
            open(&sealed, &b, &current).is_err(),
            "moved under another resident"
        );
        let mut flipped = sealed.clone();
        flipped[HEADER + 2] ^= 1;
        assert!(open(&flipped, &a, &current).is_err());
    }
}
