//! Envelope opening. The first byte picks the path: the bytes as an `Envelope` message
//! opened with the service key (what a hostile caller controls before the AEAD), or as
//! the `ProbeSet` plaintext sealed here with a real key and opened, so the decode into
//! domain fingers behind the AEAD is reached too.
#![no_main]

use std::sync::LazyLock;

use idauth_client::envelope::{self, Binding};
use idauth_gateway::envelope::EnvelopeKeys;
use idauth_proto::v1;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use x25519_dalek::PublicKey;

const NOW_MS: i64 = 1_700_000_000_000;

static KEYS: LazyLock<(EnvelopeKeys, u32, PublicKey)> = LazyLock::new(|| {
    let keys = EnvelopeKeys::from_json(&EnvelopeKeys::generate_json().expect("a key file"))
        .expect("a generated key file reads back");
    let current = keys.public_keys(NOW_MS).remove(0);
    let public = <[u8; 32]>::try_from(current.public_key.as_slice()).expect("32 bytes");
    (keys, current.key_id, PublicKey::from(public))
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let (keys, key_id, public) = &*KEYS;
    let binding = Binding {
        txn: "fuzz",
        timestamp: (1_700_000_000, 0),
    };
    if which % 2 == 0 {
        if let Ok(sealed) = v1::Envelope::decode(bytes) {
            let _ = keys.open(&sealed, binding, NOW_MS);
        }
        return;
    }
    let Ok(v1::ProbeSet { fingers }) = v1::ProbeSet::decode(bytes) else {
        return;
    };
    let sealed = envelope::seal(*key_id, public, fingers.clone(), binding).expect("seals");
    let other = Binding {
        txn: "other",
        timestamp: (1_700_000_000, 0),
    };
    assert!(
        keys.open(&sealed, other, NOW_MS).is_err(),
        "opened under another binding"
    );
    if let Ok(opened) = keys.open(&sealed, binding, NOW_MS) {
        assert_eq!(opened.len(), fingers.len());
    }
});
