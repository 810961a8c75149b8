//! The probe envelope format, both ends of it.
//!
//! Sender: fresh ephemeral X25519 key, shared secret with the service key `key_id`,
//! HKDF-SHA256 (salt = ephemeral public key || service public key, info = a fixed
//! label) to a ChaCha20-Poly1305 key, random 12-byte nonce, ciphertext of an encoded
//! `ProbeSet`. The associated data binds the envelope to its request: the key id, the
//! txn (or enrolment request id) and the request timestamp, so an envelope lifted from
//! one request fails to open in any other (ADR 0007).

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hkdf::Hkdf;
use idauth_proto::v1;
use prost::Message;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::ClientError;

const INFO: &[u8] = b"idauth probe envelope v1";

/// What an envelope is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The txn (verify) or request id (enrolment).
    pub txn: &'a str,
    /// The request timestamp, Unix seconds and nanoseconds as sent.
    pub timestamp: (i64, i32),
}

impl<'a> Binding<'a> {
    /// The binding of a request with this txn (or request id) and timestamp.
    pub fn new(txn: &'a str, timestamp: &prost_types::Timestamp) -> Self {
        Self {
            txn,
            timestamp: (timestamp.seconds, timestamp.nanos),
        }
    }
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

/// Encrypts `fingers` to the service key `key_id` (X25519 public key `service`).
pub fn seal(
    key_id: u32,
    service: &PublicKey,
    fingers: Vec<v1::Finger>,
    binding: Binding<'_>,
) -> Result<v1::Envelope, ClientError> {
    let ephemeral = StaticSecret::random();
    let ephemeral_public = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(service);
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(ClientError::Randomness)?;
    let plaintext = v1::ProbeSet { fingers }.encode_to_vec();
    let aad = associated_data(key_id, binding);
    let ciphertext = cipher(shared.as_bytes(), &ephemeral_public, service)
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .expect("ChaCha20-Poly1305 encrypts any message of a probe's size");
    Ok(v1::Envelope {
        key_id,
        ephemeral_public_key: ephemeral_public.as_bytes().to_vec(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// An envelope that does not open: wrong key, tampered, bound to another request, or
/// not a probe set inside. The reasons are not told apart, so a caller learns nothing
/// from which one it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("envelope does not open")]
pub struct Unopened;

/// Opens an envelope sealed to the service key (`secret`, `public`) and bound to
/// `binding`; its fingers. The caller has already chosen the key by `key_id`.
pub fn open(
    secret: &StaticSecret,
    public: &PublicKey,
    envelope: &v1::Envelope,
    binding: Binding<'_>,
) -> Result<Vec<v1::Finger>, Unopened> {
    let v1::Envelope {
        key_id,
        ephemeral_public_key,
        nonce,
        ciphertext,
    } = envelope;
    let ephemeral = PublicKey::from(
        <[u8; 32]>::try_from(ephemeral_public_key.as_slice()).map_err(|_| Unopened)?,
    );
    let nonce = <[u8; 12]>::try_from(nonce.as_slice()).map_err(|_| Unopened)?;
    let shared = secret.diffie_hellman(&ephemeral);
    if !shared.was_contributory() {
        return Err(Unopened);
    }
    let aad = associated_data(*key_id, binding);
    let plaintext = cipher(shared.as_bytes(), &ephemeral, public)
        .decrypt(
            &nonce.into(),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| Unopened)?;
    let v1::ProbeSet { fingers } =
        v1::ProbeSet::decode(plaintext.as_slice()).map_err(|_| Unopened)?;
    Ok(fingers)
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
    fn an_envelope_opens_only_for_its_request_and_untampered() {
        let secret = StaticSecret::from([9; 32]);
        let public = PublicKey::from(&secret);
        let binding = Binding {
            txn: "t-1",
            timestamp: (1_800_000_000, 5),
        };
        let envelope = seal(3, &public, vec![finger()], binding).unwrap();
        assert_eq!(
            open(&secret, &public, &envelope, binding),
            Ok(vec![finger()])
        );
        let other_txn = Binding {
            txn: "t-2",
            ..binding
        };
        assert_eq!(open(&secret, &public, &envelope, other_txn), Err(Unopened));
        let later = Binding {
            timestamp: (1_800_000_000, 6),
            ..binding
        };
        assert_eq!(open(&secret, &public, &envelope, later), Err(Unopened));
        let relabelled = v1::Envelope {
            key_id: 4,
            ..envelope.clone()
        };
        assert_eq!(open(&secret, &public, &relabelled, binding), Err(Unopened));
        let other = StaticSecret::from([8; 32]);
        assert_eq!(
            open(&other, &PublicKey::from(&other), &envelope, binding),
            Err(Unopened)
        );
        let mut short_nonce = envelope.clone();
        short_nonce.nonce.pop();
        assert_eq!(open(&secret, &public, &short_nonce, binding), Err(Unopened));
    }

    proptest::proptest! {
        /// Any probe set sealed to a key opens to itself with that key and binding.
        #[test]
        fn any_probe_set_opens_to_itself(
            fingers in proptest::collection::vec(
                (0u32..11, 0i32..3, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)),
                0..11,
            ),
            secret in proptest::prelude::any::<[u8; 32]>(),
            key_id in proptest::prelude::any::<u32>(),
            txn in "[a-z0-9-]{1,50}",
            seconds in proptest::prelude::any::<i64>(),
            nanos in 0i32..1_000_000_000,
        ) {
            let fingers: Vec<v1::Finger> = fingers
                .into_iter()
                .map(|(position, format, template)| v1::Finger { position, format, template })
                .collect();
            let secret = StaticSecret::from(secret);
            let public = PublicKey::from(&secret);
            let binding = Binding { txn: &txn, timestamp: (seconds, nanos) };
            let envelope = seal(key_id, &public, fingers.clone(), binding).unwrap();
            proptest::prop_assert_eq!(envelope.key_id, key_id);
            proptest::prop_assert_eq!(open(&secret, &public, &envelope, binding), Ok(fingers));
        }
    }
}
