//! The service's published keys, and what a client does with them.

use idauth_proto::v1;
use x25519_dalek::PublicKey;

use crate::ClientError;
use crate::envelope::{self, Binding};
use crate::receipt;

/// The envelope key a client seals to: its id and X25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeKey {
    /// The key id the envelope names.
    pub key_id: u32,
    /// The service's X25519 public key.
    pub public: PublicKey,
}

impl TryFrom<&v1::EnvelopeKey> for EnvelopeKey {
    type Error = ClientError;

    fn try_from(key: &v1::EnvelopeKey) -> Result<Self, ClientError> {
        let v1::EnvelopeKey {
            key_id,
            public_key,
            not_after_ms: _,
        } = key;
        let public =
            <[u8; 32]>::try_from(public_key.as_slice()).map_err(|_| ClientError::NoEnvelopeKey)?;
        Ok(Self {
            key_id: *key_id,
            public: PublicKey::from(public),
        })
    }
}

/// The service's current envelope key and the key that signs its receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceKeys {
    /// The envelope key to seal new requests to (the service publishes the current
    /// one first).
    pub envelope: EnvelopeKey,
    /// The Ed25519 public key of the gateway's receipts.
    pub receipt_key: Vec<u8>,
}

impl TryFrom<v1::ServiceKeysResponse> for ServiceKeys {
    type Error = ClientError;

    fn try_from(response: v1::ServiceKeysResponse) -> Result<Self, ClientError> {
        let v1::ServiceKeysResponse {
            envelope_keys,
            receipt_public_key,
        } = response;
        let current = envelope_keys.first().ok_or(ClientError::NoEnvelopeKey)?;
        Ok(Self {
            envelope: EnvelopeKey::try_from(current)?,
            receipt_key: receipt_public_key,
        })
    }
}

impl ServiceKeys {
    /// Encrypts `fingers` to the current envelope key, bound to the request's `txn`
    /// (or enrolment request id) and `timestamp`; `None` when there are no fingers.
    pub fn seal(
        &self,
        fingers: Vec<v1::Finger>,
        txn: &str,
        timestamp: &prost_types::Timestamp,
    ) -> Result<Option<v1::Envelope>, ClientError> {
        if fingers.is_empty() {
            return Ok(None);
        }
        let binding = Binding::new(txn, timestamp);
        envelope::seal(
            self.envelope.key_id,
            &self.envelope.public,
            fingers,
            binding,
        )
        .map(Some)
    }

    /// Whether a verify answer carries the gateway's valid receipt.
    pub fn verify_receipt(&self, response: &v1::VerifyResponse) -> bool {
        let bytes = receipt::verify_bytes(response);
        receipt::is_signed(&self.receipt_key, &bytes, &response.receipt)
    }

    /// Whether an enrolment answer carries the gateway's valid receipt.
    pub fn enrol_receipt(&self, response: &v1::EnrolResponse) -> bool {
        let bytes = receipt::write_bytes(response.into());
        receipt::is_signed(&self.receipt_key, &bytes, &response.receipt)
    }

    /// Whether an update, deactivation or lock answer carries the gateway's valid
    /// receipt.
    pub fn update_receipt(&self, response: &v1::UpdateResponse) -> bool {
        let bytes = receipt::write_bytes(response.into());
        receipt::is_signed(&self.receipt_key, &bytes, &response.receipt)
    }
}
