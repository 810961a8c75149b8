//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the decoders of
//! what the store reads back from its data file, which a corrupted disk or a copied-in
//! file reaches. Each either refuses the bytes or decodes a value that encodes back to
//! itself; a panic or a value that does not round-trip is the fuzzer's finding.

use idauth_core::{RecordKey, RecordKeys, StorageKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{AuditEntry, Head};
use crate::record::ResidentRecord;
use crate::seal;
use crate::store::RequestEntry;

const STORAGE_KEY: StorageKey = StorageKey([7; 32]);

fn keys() -> RecordKeys {
    RecordKeys(vec![RecordKey {
        id: 1,
        key: [9; 32],
    }])
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(value) = postcard::from_bytes::<T>(bytes) {
        let encoded = postcard::to_stdvec(&value).expect("a decoded value encodes");
        let again: T = postcard::from_bytes(&encoded).expect("its own encoding decodes");
        assert_eq!(again, value, "decode(encode(value)) != value");
    }
}

/// `bytes` as a sealed record read from disk (header, key id, nonce, ciphertext), then
/// as the plaintext inside one (sealed here so the decoder behind the AEAD is reached).
pub fn sealed_record(bytes: &[u8]) {
    let keys = keys();
    if let Ok(plain) = seal::open(bytes, &STORAGE_KEY, &keys) {
        round_trip::<ResidentRecord>(&plain);
    }
    let _ = seal::key_id(bytes);
    let sealed = seal::seal(bytes, &STORAGE_KEY, &keys.0[0]).expect("sealing never fails");
    let opened = seal::open(&sealed, &STORAGE_KEY, &keys).expect("what was sealed opens");
    assert_eq!(opened, bytes);
    round_trip::<ResidentRecord>(&opened);
}

/// `bytes` as each of the audit log's stored values, as an idempotency entry, and as
/// a frame of the audit journal (payload, then its 8-byte check).
pub fn audit_entry(bytes: &[u8]) {
    round_trip::<AuditEntry>(bytes);
    round_trip::<Head>(bytes);
    round_trip::<RequestEntry>(bytes);
    crate::journal::frame_round_trip(bytes);
}
